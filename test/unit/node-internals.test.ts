/**
 * The Node internals unicorn-ts relies on (src/node-internals.ts) are where it expects them on the
 * running Node. This fails by name on a release that moves one, before any user meets it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { missingInternals } from '../../src/node-internals.js';

test(`every Node internal in use is present on Node ${process.version}`, async () => {
  assert.deepEqual(await missingInternals(), []);
});

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? sources(full) : name.endsWith('.ts') ? [full] : [];
  });
}

test('no other module reaches into a private field or function of Node', () => {
  const privateUse =
    /\._(handle|httpMessage|listen2|createServerHandle)\b|exitedAfterDisconnect|description === '(state|http\.server\.connections)'/;
  const offenders = [...sources(join(ROOT, 'src')), ...sources(join(ROOT, 'workers'))]
    .filter((file) => !file.endsWith('node-internals.ts'))
    .filter((file) => privateUse.test(readFileSync(file, 'utf8')));
  assert.deepEqual(
    offenders.map((f) => f.slice(ROOT.length)),
    [],
  );
});
