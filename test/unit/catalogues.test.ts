import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ERRORS } from '../../src/errors.js';
import { LOG_EVENTS } from '../../src/log-events.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? sources(full) : full.endsWith('.ts') ? [full] : [];
  });
}

const code = [...sources(join(root, 'src')), ...sources(join(root, 'workers'))]
  .filter((f) => !f.endsWith('log-events.ts') && !f.endsWith('errors.ts'))
  .map((f) => readFileSync(f, 'utf8'))
  .join('\n');

test('every log event in the contract is written somewhere (docs/logging.md lists nothing that never happens)', () => {
  const unused = Object.keys(LOG_EVENTS).filter((event) => !code.includes(`'${event}'`));
  assert.deepEqual(unused, []);
});

test('every error code in the catalogue is raised somewhere', () => {
  const unused = Object.keys(ERRORS).filter((code_) => !code.includes(`'${code_}'`));
  assert.deepEqual(unused, []);
});
