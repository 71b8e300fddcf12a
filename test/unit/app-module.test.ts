import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadApp, parseAppSpec, resolveAppFile } from '../../src/app-module.js';
import { compileSources, runInPlainNode } from './support/plain-node.js';

const fixtures = new URL('../fixtures/apps/', import.meta.url).pathname.replace(/\/$/, '');
const fixture = (name: string) => join(fixtures, name);

const root = mkdtempSync(join(tmpdir(), 'unicorn-app-module-'));
after(() => rmSync(root, { recursive: true, force: true }));

let dirs = 0;
/** A fresh directory under the temp root, with the given files (paths may have folders) in it. */
function dirWith(files: Record<string, string>): string {
  const dir = join(root, `d${++dirs}`);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** Asserts that `promise` rejects with `code` and a message matching every pattern. */
async function rejectsWith(promise: Promise<unknown>, code: string, ...patterns: (string | RegExp)[]) {
  await assert.rejects(promise, (err: Error & { code?: string }) => {
    assert.equal(err.code, code, err.message);
    for (const p of patterns) {
      if (typeof p === 'string') assert.ok(err.message.includes(p), `"${err.message}" includes "${p}"`);
      else assert.match(err.message, p);
    }
    return true;
  });
}

describe('parseAppSpec', () => {
  test('a bare path means the default export', () => {
    assert.deepEqual(parseAppSpec('app'), { path: 'app', exportName: null, factory: false });
  });

  test('PATH:NAME names an export', () => {
    assert.deepEqual(parseAppSpec('app:handler'), { path: 'app', exportName: 'handler', factory: false });
  });

  test('PATH:NAME() names a factory to call', () => {
    assert.deepEqual(parseAppSpec('app:createApp()'), {
      path: 'app',
      exportName: 'createApp',
      factory: true,
    });
  });

  test('the path may have folders and an extension', () => {
    assert.deepEqual(parseAppSpec('dir/app.ts:x'), { path: 'dir/app.ts', exportName: 'x', factory: false });
    assert.deepEqual(parseAppSpec('./dist/server.js'), {
      path: './dist/server.js',
      exportName: null,
      factory: false,
    });
  });

  test('export names may use $ and _ like any JavaScript identifier', () => {
    assert.equal(parseAppSpec('app:$handler_2').exportName, '$handler_2');
    assert.equal(parseAppSpec('app:_make()').exportName, '_make');
  });

  test('surrounding whitespace is ignored', () => {
    assert.deepEqual(parseAppSpec('  app:handler \n'), {
      path: 'app',
      exportName: 'handler',
      factory: false,
    });
  });

  test('a one-letter module name before the colon is a path, not a drive letter', () => {
    assert.deepEqual(parseAppSpec('a:handler'), { path: 'a', exportName: 'handler', factory: false });
  });

  test('a Windows drive letter is part of the path', () => {
    assert.deepEqual(parseAppSpec('C:\\srv\\app.js'), {
      path: 'C:\\srv\\app.js',
      exportName: null,
      factory: false,
    });
    assert.deepEqual(parseAppSpec('C:/srv/app.js:handler'), {
      path: 'C:/srv/app.js',
      exportName: 'handler',
      factory: false,
    });
  });

  for (const bad of [
    '',
    '   ',
    'app:',
    'app:()',
    'app:1x',
    'app:h(x)',
    'app: handler',
    'app:a-b',
    'app:a.b',
  ]) {
    test(`${JSON.stringify(bad)} is not a valid APP_MODULE: UNICORN_APP_SPEC, quoting it`, () => {
      assert.throws(() => parseAppSpec(bad), {
        code: 'UNICORN_APP_SPEC',
        message: `invalid APP_MODULE "${bad}"`,
      });
    });
  }

  test('":handler" (an export with no module path) is not a valid APP_MODULE', {}, () => {
    assert.throws(() => parseAppSpec(':handler'), { code: 'UNICORN_APP_SPEC' });
  });
});

describe('resolveAppFile', () => {
  test('a path with its extension resolves to that file', () => {
    const dir = dirWith({ 'server.mjs': '' });
    assert.equal(resolveAppFile('server.mjs', dir), join(dir, 'server.mjs'));
  });

  test('an existing file without an extension resolves to itself', () => {
    const dir = dirWith({ server: '' });
    assert.equal(resolveAppFile('server', dir), join(dir, 'server'));
  });

  for (const ext of ['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts']) {
    test(`a path without an extension finds the ${ext} file`, () => {
      const dir = dirWith({ [`app${ext}`]: '' });
      assert.equal(resolveAppFile('app', dir), join(dir, `app${ext}`));
    });
  }

  test('.js is preferred to .mjs, .cjs and .ts when several exist', () => {
    const dir = dirWith({ 'app.ts': '', 'app.cjs': '', 'app.js': '', 'app.mjs': '' });
    assert.equal(resolveAppFile('app', dir), join(dir, 'app.js'));
  });

  test('a directory resolves to its index file', () => {
    const dir = dirWith({ 'lib/index.ts': '' });
    assert.equal(resolveAppFile('lib', dir), join(dir, 'lib/index.ts'));
  });

  test('a file next to a directory of the same name wins over the directory index', () => {
    const dir = dirWith({ 'app/index.js': '', 'app.mjs': '' });
    assert.equal(resolveAppFile('app', dir), join(dir, 'app.mjs'));
  });

  test('the path is resolved from the directory given, folders included', () => {
    const dir = dirWith({ 'src/server.ts': '' });
    assert.equal(resolveAppFile('src/server', dir), join(dir, 'src/server.ts'));
    assert.equal(resolveAppFile('../server.ts', join(dir, 'src/x')), join(dir, 'src/server.ts'));
  });

  test('no match is UNICORN_APP_NOT_FOUND, naming the path, the directory and what was tried', () => {
    const dir = dirWith({ 'other.js': '' });
    assert.throws(
      () => resolveAppFile('missing/app', dir),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'UNICORN_APP_NOT_FOUND');
        assert.ok(err.message.includes('"missing/app"'), err.message);
        assert.ok(err.message.includes(dir), err.message);
        assert.ok(err.message.includes('.js .mjs .cjs .ts'), err.message);
        assert.ok(err.message.includes('missing/app/index.*'), err.message);
        return true;
      },
    );
  });

  test('a directory without an index is not found', () => {
    const dir = dirWith({ 'lib/util.js': '' });
    assert.throws(() => resolveAppFile('lib', dir), { code: 'UNICORN_APP_NOT_FOUND' });
  });
});

describe('loadApp: finding the export', () => {
  test('loads a named export', async () => {
    const loaded = await loadApp('echo.mjs:handler', fixtures);
    assert.equal(loaded.file, fixture('echo.mjs'));
    assert.equal(typeof loaded.app, 'function');
    assert.equal((loaded.app as { name: string }).name, 'handler');
  });

  test('loads the default export when no export is named', async () => {
    const loaded = await loadApp('pid.mjs', fixtures);
    assert.equal((loaded.app as { name: string }).name, 'pid');
  });

  test('loads an object with a fetch() method, found without an extension', async () => {
    const loaded = await loadApp('object-fetch', fixtures);
    assert.equal(loaded.file, fixture('object-fetch.mjs'));
    assert.equal(typeof (loaded.app as { fetch: unknown }).fetch, 'function');
  });

  test('loads a TypeScript app', async () => {
    const loaded = await loadApp('app.ts:handler', fixtures);
    const response = (loaded.app as (r: Request) => Response)(new Request('http://x/ts'));
    assert.equal((await response.json()).text, 'hello from typescript');
  });

  test("loads a CommonJS module's module.exports as the default export", async () => {
    const loaded = await loadApp('express-like.cjs', fixtures);
    assert.equal(typeof loaded.app, 'function');
    assert.equal(typeof (loaded.app as { use: unknown }).use, 'function');
  });

  test('finds a named export in a CommonJS module.exports object', async () => {
    const dir = dirWith({ 'app.cjs': 'const handler = () => 1;\nmodule.exports = { handler };\n' });
    assert.equal(typeof (await loadApp('app.cjs:handler', dir)).app, 'function');
  });

  test('a missing default export lists the exports the module has', async () => {
    await rejectsWith(
      loadApp('no-default.mjs', fixtures),
      'UNICORN_APP_EXPORT_MISSING',
      fixture('no-default.mjs'),
      'has no default export',
      /it exports: (other, something|something, other)\)/,
    );
  });

  test('a missing named export names it and lists the exports the module has', async () => {
    await rejectsWith(
      loadApp('pid.mjs:handler', fixtures),
      'UNICORN_APP_EXPORT_MISSING',
      'has no export named "handler"',
      '(it exports: default)',
    );
  });

  test('a module with no exports at all says so', async () => {
    const dir = dirWith({ 'empty.mjs': '' });
    await rejectsWith(loadApp('empty.mjs', dir), 'UNICORN_APP_EXPORT_MISSING', '(it exports: nothing)');
  });

  test('an export that is not a handler is UNICORN_APP_NOT_HANDLER, naming the export and its type', async () => {
    await rejectsWith(
      loadApp('not-handler.mjs', fixtures),
      'UNICORN_APP_NOT_HANDLER',
      fixture('not-handler.mjs'),
      '"default" is a number',
    );
  });

  test('an object without fetch() is not a handler', async () => {
    const dir = dirWith({ 'app.mjs': 'export const app = { get() {} };\nexport const list = [1];\n' });
    await rejectsWith(loadApp('app.mjs:app', dir), 'UNICORN_APP_NOT_HANDLER', '"app" is');
    await rejectsWith(loadApp('app.mjs:list', dir), 'UNICORN_APP_NOT_HANDLER', '"list" is an array');
  });

  test('an object export is described as "an object"', {}, async () => {
    const dir = dirWith({ 'app.mjs': 'export default { get() {} };\n' });
    await rejectsWith(loadApp('app.mjs', dir), 'UNICORN_APP_NOT_HANDLER', '"default" is an object');
  });

  test('the hint of an unrecognised object names the fix for Fastify, Koa and NestJS', async () => {
    const dir = dirWith({ 'app.mjs': 'export default { get() {} };\n' });
    await assert.rejects(loadApp('app.mjs', dir), (err: Error & { hint?: string }) => {
      assert.match(
        err.message,
        /not a handler function, an object with fetch\(\), or a Fastify, Koa, NestJS or Next\.js app$/,
      );
      assert.match(err.hint ?? '', /for Fastify export the instance \(`export default fastify\(\)`\)/);
      assert.match(err.hint ?? '', /for Koa the app \(`export default new Koa\(\)`\)/);
      assert.match(err.hint ?? '', /for NestJS an async factory .* `dist\/main\.js:createApp\(\)`/);
      return true;
    });
  });

  test('an exported Promise (`export default NestFactory.create(...)`) is told to export a factory', async () => {
    const dir = dirWith({ 'main.mjs': 'export default Promise.resolve({});\n' });
    await rejectsWith(
      loadApp('main.mjs', dir),
      'UNICORN_APP_NOT_HANDLER',
      '"default" is a Promise',
      'export a function that returns it',
      '`main.mjs:createApp()`',
    );
  });
});

describe('loadApp: import failures', () => {
  test('a module that throws is UNICORN_APP_IMPORT, naming the file and the original message', async () => {
    await assert.rejects(loadApp('import-throws.mjs', fixtures), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'UNICORN_APP_IMPORT');
      assert.equal(
        err.message,
        `failed to import app module ${fixture('import-throws.mjs')}: this module refuses to load`,
      );
      assert.equal((err.cause as Error).message, 'this module refuses to load');
      return true;
    });
  });

  test('a module with a syntax error is UNICORN_APP_IMPORT', async () => {
    await rejectsWith(
      loadApp('syntax-error.mjs', fixtures),
      'UNICORN_APP_IMPORT',
      fixture('syntax-error.mjs'),
    );
  });

  test('a module that cannot be found is UNICORN_APP_NOT_FOUND before anything is imported', async () => {
    await rejectsWith(loadApp('no-such-app', fixtures), 'UNICORN_APP_NOT_FOUND', '"no-such-app"');
  });

  test('a malformed spec is UNICORN_APP_SPEC', async () => {
    await rejectsWith(loadApp('pid.mjs:1()', fixtures), 'UNICORN_APP_SPEC');
  });
});

describe('loadApp: factories', () => {
  test('an async factory is awaited and its app used', async () => {
    const loaded = await loadApp('factory.mjs:createApp()', fixtures);
    const app = loaded.app as { fetch: () => Response };
    assert.match(await app.fetch().text(), /^made in \d+, factory calls \d+$/);
  });

  test('a sync factory is called and its app used', async () => {
    const dir = dirWith({ 'app.mjs': 'export function make() { return { fetch: () => "made" }; }\n' });
    const app = (await loadApp('app.mjs:make()', dir)).app as { fetch: () => string };
    assert.equal(app.fetch(), 'made');
  });

  test('a factory that throws is UNICORN_APP_FACTORY, with its message', async () => {
    const dir = dirWith({ 'app.mjs': 'export function make() { throw new Error("no database"); }\n' });
    await rejectsWith(
      loadApp('app.mjs:make()', dir),
      'UNICORN_APP_FACTORY',
      `app factory make() in ${join(dir, 'app.mjs')} failed: no database`,
    );
  });

  test('a factory that rejects is UNICORN_APP_FACTORY, with its message', async () => {
    const dir = dirWith({ 'app.mjs': 'export async function make() { throw new Error("later"); }\n' });
    await rejectsWith(loadApp('app.mjs:make()', dir), 'UNICORN_APP_FACTORY', 'failed: later');
  });

  test('a factory that returns undefined or null is UNICORN_APP_FACTORY, saying what it returned', async () => {
    const dir = dirWith({
      'app.mjs': 'export function none() {}\nexport async function nil() { return null; }\n',
    });
    await rejectsWith(loadApp('app.mjs:none()', dir), 'UNICORN_APP_FACTORY', 'returned undefined');
    await rejectsWith(loadApp('app.mjs:nil()', dir), 'UNICORN_APP_FACTORY', 'returned null');
  });

  test('a factory that returns something other than a handler is UNICORN_APP_NOT_HANDLER', async () => {
    const dir = dirWith({ 'app.mjs': 'export const make = () => 5;\n' });
    await rejectsWith(loadApp('app.mjs:make()', dir), 'UNICORN_APP_NOT_HANDLER', '"make()" is a number');
  });

  test('calling an export that is not a function is UNICORN_APP_FACTORY', async () => {
    await rejectsWith(
      loadApp('not-handler.mjs:default()', fixtures),
      'UNICORN_APP_FACTORY',
      '"default" is not a function, so "default()" cannot be called',
    );
  });
});

describe('loadApp: startup and shutdown', () => {
  test('are picked up from named exports', async () => {
    const loaded = await loadApp('lifecycle.mjs', fixtures);
    assert.equal(loaded.startup?.name, 'startup');
    assert.equal(loaded.shutdown?.name, 'shutdown');
  });

  test('are null when the module has none', async () => {
    const loaded = await loadApp('pid.mjs', fixtures);
    assert.equal(loaded.startup, null);
    assert.equal(loaded.shutdown, null);
  });

  test('are picked up from a CommonJS module.exports object', async () => {
    const dir = dirWith({
      'app.cjs': 'module.exports = { fetch() {}, startup() { return "up"; }, shutdown() {} };\n',
    });
    const loaded = await loadApp('app.cjs', dir);
    assert.equal(loaded.startup?.(), 'up');
    assert.equal(typeof loaded.shutdown, 'function');
  });

  test('an export named startup that is not a function is ignored', async () => {
    const dir = dirWith({ 'app.mjs': 'export const startup = true;\nexport default () => 1;\n' });
    assert.equal((await loadApp('app.mjs', dir)).startup, null);
  });
});

describe('loadApp as the built package runs it (tsc output, plain node)', () => {
  let plain: ReturnType<typeof compileSources>;
  before(() => {
    plain = compileSources(['errors', 'frameworks', 'typescript', 'app-module']);
  });
  after(() => plain.cleanup());

  const load = (spec: string, dir: string) =>
    runInPlainNode(
      plain.dir,
      `const app = await (await src('app-module')).loadApp(${JSON.stringify(spec)}, ${JSON.stringify(dir)});
       return typeof app.app;`,
    );

  test('loads a CommonJS module.exports handler', () => {
    const dir = dirWith({ 'app.cjs': 'module.exports = function handler(request) { return 1; };\n' });
    assert.deepEqual(load('app.cjs', dir), { result: 'function' });
  });

  test('loads an app compiled to CommonJS by tsc or Babel (exports.default with __esModule)', {}, () => {
    const dir = dirWith({
      'app.cjs':
        '"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\nexports.default = function handler() {};\n',
    });
    assert.deepEqual(load('app.cjs', dir), { result: 'function' });
  });

  test('loads app.ts with `export default` in a project without "type": "module"', {}, () => {
    const dir = dirWith({ 'app.ts': 'export default (request: Request): Response => new Response("ok");\n' });
    assert.deepEqual(load('app.ts', dir), { result: 'function' });
  });
});
