import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import http from '../../src/node-http.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = `${dir}/${name}`;
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

describe('node:http is loaded in one place (src/node-http.ts)', () => {
  test('no other module of src/ or workers/ imports it as a value (a type import is erased)', () => {
    const offenders = [...sources('src'), ...sources('workers')].filter((path) => {
      if (path === 'src/node-http.ts') return false;
      const text = readFileSync(join(ROOT, path), 'utf8');
      const valueImport = /^import\s+(?!type\b)[^;]*?from\s+'node:http'/m.test(text);
      return valueImport || /import\(\s*'node:http'\s*\)/.test(text);
    });
    assert.deepEqual(offenders, []);
  });

  test('it is node:http itself', async () => {
    assert.equal(http.STATUS_CODES[404], 'Not Found');
    assert.equal(typeof http.createServer, 'function');
    assert.equal(http, (await import('node:http')).default);
  });
});
