import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CONFIG_FILE_NAMES, findConfigFile, loadConfigFile } from '../../src/config-file.js';
import { compileSources, runInPlainNode } from './support/plain-node.js';

const root = mkdtempSync(join(tmpdir(), 'unicorn-config-file-'));
after(() => rmSync(root, { recursive: true, force: true }));

let dirs = 0;
/** A fresh directory under the temp root, with the given files in it. */
function dirWith(files: Record<string, string> = {}): string {
  const dir = join(root, `d${++dirs}`);
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** Writes one file in a fresh directory and returns its path. */
function fileWith(name: string, text: string): string {
  return join(dirWith({ [name]: text }), name);
}

describe('findConfigFile', () => {
  test('finds nothing in a directory without a config file', () => {
    assert.equal(findConfigFile(null, dirWith({ 'other.config.mjs': '' })), null);
  });

  test('looks for unicorn.config.ts, .mts, .mjs, .js and .cjs, and finds whichever one is there', () => {
    assert.deepEqual(CONFIG_FILE_NAMES, [
      'unicorn.config.ts',
      'unicorn.config.mts',
      'unicorn.config.mjs',
      'unicorn.config.js',
      'unicorn.config.cjs',
    ]);
    for (const name of CONFIG_FILE_NAMES) {
      const dir = dirWith({ [name]: '' });
      assert.equal(findConfigFile(null, dir), join(dir, name), name);
    }
  });

  test('two default names present is an error naming both and asking for -c, not a silent choice', () => {
    const dir = dirWith({ 'unicorn.config.ts': '', 'unicorn.config.js': '', 'other.mjs': '' });
    assert.throws(() => findConfigFile(null, dir), {
      code: 'UNICORN_CONFIG_FILE_AMBIGUOUS',
      message: `more than one config file in ${dir}: ${join(dir, 'unicorn.config.ts')} and ${join(dir, 'unicorn.config.js')}; pass -c FILE to say which one to load`,
    });
    assert.equal(findConfigFile('unicorn.config.js', dir), join(dir, 'unicorn.config.js'), '-c settles it');
  });

  test('a named file is used even when a default name is present', () => {
    const dir = dirWith({ 'unicorn.config.ts': '', 'prod.mjs': '' });
    assert.equal(findConfigFile('prod.mjs', dir), join(dir, 'prod.mjs'));
  });

  test('a named file is resolved from the directory, and an absolute path is kept', () => {
    const dir = dirWith({ 'cfg.mjs': '' });
    mkdirSync(join(dir, 'sub'));
    assert.equal(findConfigFile('../cfg.mjs', join(dir, 'sub')), join(dir, 'cfg.mjs'));
    assert.equal(findConfigFile(join(dir, 'cfg.mjs'), root), join(dir, 'cfg.mjs'));
  });

  test('a named file that does not exist is an error naming its full path', () => {
    const dir = dirWith();
    assert.throws(() => findConfigFile('missing.mjs', dir), {
      code: 'UNICORN_CONFIG_FILE_LOAD',
      message: `config file not found: ${join(dir, 'missing.mjs')}`,
    });
  });
});

describe('loadConfigFile', () => {
  test('reads a default-exported object of settings', async () => {
    const file = fileWith('unicorn.config.mjs', 'export default { workers: 4, bind: ["127.0.0.1:9000"] };\n');
    assert.deepEqual(await loadConfigFile(file), { workers: 4, bind: ['127.0.0.1:9000'] });
  });

  test('reads named exports, hooks included', async () => {
    const file = fileWith(
      'unicorn.config.mjs',
      'export const workers = 2;\nexport const timeout = 5;\nexport function onStarting() {}\n',
    );
    const values = await loadConfigFile(file);
    assert.deepEqual(Object.keys(values).sort(), ['onStarting', 'timeout', 'workers']);
    assert.equal(values.workers, 2);
    assert.equal(typeof values.onStarting, 'function');
  });

  test('reads a CommonJS module.exports object', async () => {
    const file = fileWith('unicorn.config.cjs', 'module.exports = { workers: 3, preload: true };\n');
    assert.deepEqual(await loadConfigFile(file), { workers: 3, preload: true });
  });

  test('reads CommonJS exports.x assignments', async () => {
    const file = fileWith('unicorn.config.cjs', 'exports.workers = 3;\nexports.maxRequests = 100;\n');
    assert.deepEqual(await loadConfigFile(file), { workers: 3, maxRequests: 100 });
  });

  test('reads a TypeScript config file, types and all', async () => {
    const file = fileWith(
      'unicorn.config.ts',
      'interface Partial { workers: number }\nconst c: Partial = { workers: 6 };\nexport default c;\n',
    );
    assert.deepEqual(await loadConfigFile(file), { workers: 6 });
  });

  test('reads a TypeScript config file with named exports', async () => {
    const file = fileWith('unicorn.config.mts', 'export const workers: number = 7;\n');
    assert.deepEqual(await loadConfigFile(file), { workers: 7 });
  });

  test('a CommonJS file that sets exports.__esModule as a plain property (older compilers) gives only its settings', async () => {
    const file = fileWith(
      'unicorn.config.cjs',
      'exports.__esModule = true;\nexports.default = { workers: 3 };\n',
    );
    assert.deepEqual(await loadConfigFile(file), { workers: 3 });
  });

  test('a second load gives the module already loaded; { fresh: true } reads the file as it is now', async () => {
    const file = fileWith('unicorn.config.mjs', 'export default { workers: 1 };\n');
    assert.deepEqual(await loadConfigFile(file), { workers: 1 });
    writeFileSync(file, 'export default { workers: 2 };\n');
    assert.deepEqual(await loadConfigFile(file), { workers: 1 });
    assert.deepEqual(await loadConfigFile(file, { fresh: true }), { workers: 2 });
  });

  test('an empty module gives no settings', async () => {
    assert.deepEqual(await loadConfigFile(fileWith('unicorn.config.mjs', '')), {});
  });

  test('gives a copy: changing it does not change the module', async () => {
    const file = fileWith('unicorn.config.mjs', 'export default { workers: 1 };\n');
    const first = await loadConfigFile(file);
    first.workers = 99;
    assert.deepEqual(await loadConfigFile(file), { workers: 1 });
  });

  for (const [what, text] of [
    ['a number', 'export default 42;'],
    ['a function', 'export default () => ({ workers: 2 });'],
    ['an array', 'export default [1, 2];'],
    ['null', 'export default null;'],
    ['a string', 'export default "workers=2";'],
  ] as const) {
    test(`a default export that is ${what} is an error: UNICORN_CONFIG_FILE_SHAPE, naming the file`, async () => {
      const file = fileWith('unicorn.config.mjs', `${text}\n`);
      await assert.rejects(loadConfigFile(file), {
        code: 'UNICORN_CONFIG_FILE_SHAPE',
        message: `config file ${file}: the default export must be an object of settings`,
      });
    });
  }

  test('a file that throws is UNICORN_CONFIG_FILE_LOAD, with the file and the original message', async () => {
    const file = fileWith('unicorn.config.mjs', 'throw new Error("no config for you");\n');
    await assert.rejects(loadConfigFile(file), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'UNICORN_CONFIG_FILE_LOAD');
      assert.equal(err.message, `cannot load config file ${file}: no config for you`);
      assert.equal((err.cause as Error).message, 'no config for you');
      return true;
    });
  });

  test('a file with a syntax error is UNICORN_CONFIG_FILE_LOAD', async () => {
    const file = fileWith('unicorn.config.mjs', 'export default { workers: ;\n');
    await assert.rejects(loadConfigFile(file), {
      code: 'UNICORN_CONFIG_FILE_LOAD',
      message: new RegExp(file),
    });
  });

  test('a file that does not exist is UNICORN_CONFIG_FILE_LOAD', async () => {
    await assert.rejects(loadConfigFile(join(root, 'nowhere.mjs')), { code: 'UNICORN_CONFIG_FILE_LOAD' });
  });

  test('a hook exported by name next to a default export is not silently dropped', {}, async () => {
    const file = fileWith(
      'unicorn.config.mjs',
      'export default { workers: 2 };\nexport function onStarting() {}\n',
    );
    const values = await loadConfigFile(file);
    assert.equal(typeof values.onStarting, 'function');
  });
});

describe('loadConfigFile as the built package runs it (tsc output, plain node)', () => {
  let plain: ReturnType<typeof compileSources>;
  before(() => {
    plain = compileSources(['errors', 'typescript', 'config-file']);
  });
  after(() => plain.cleanup());

  const load = (file: string) =>
    runInPlainNode(plain.dir, `return (await src('config-file')).loadConfigFile(${JSON.stringify(file)});`);

  test('reads a CommonJS module.exports object', () => {
    const file = fileWith('unicorn.config.cjs', 'module.exports = { workers: 3 };\n');
    assert.deepEqual(load(file), { result: { workers: 3 } });
  });

  test('reads an ES module default export', () => {
    const file = fileWith('unicorn.config.mjs', 'export default { workers: 3 };\n');
    assert.deepEqual(load(file), { result: { workers: 3 } });
  });

  test('reads a config compiled to CommonJS by tsc or Babel (exports.default with __esModule)', {}, () => {
    const file = fileWith(
      'unicorn.config.cjs',
      '"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\nexports.default = { workers: 3 };\n',
    );
    assert.deepEqual(load(file), { result: { workers: 3 } });
  });

  test('reads unicorn.config.ts with `export default` in a project without "type": "module"', {}, () => {
    const file = fileWith('unicorn.config.ts', 'const workers: number = 3;\nexport default { workers };\n');
    assert.deepEqual(load(file), { result: { workers: 3 } });
  });
});
