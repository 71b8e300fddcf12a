import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
// The built module, as the bin runs it: src/version.ts reads package.json relative to dist/src/.
import { main } from '../../dist/src/cli.js';

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Runs `main` in this process with standard output captured. */
async function run(...args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    const code = await main(['node', 'unicorn-ts', ...args]);
    return { code, out };
  } finally {
    process.stdout.write = write;
  }
}

describe('src/cli.ts main(argv), in-process', () => {
  test('--version prints the version and returns 0', async () => {
    const { code, out } = await run('--version');
    assert.equal(code, 0);
    assert.equal(out.trim(), VERSION);
  });

  test('--help prints the usage and the settings, and returns 0', async () => {
    const { code, out } = await run('--help');
    assert.equal(code, 0);
    assert.match(out, /^Usage: unicorn-ts \[options\] \[APP_MODULE\]/);
    assert.match(out, /-w, --workers <INT\|auto>/);
    assert.match(out, /--graceful-timeout/);
  });

  test('importing it started nothing: the process exit code is untouched', () => {
    assert.equal(process.exitCode, undefined);
  });
});
