import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { ROOT, runCli, startServer, stopAll } from '../helpers/server.js';

// Where Node strips types itself (22.18 and later), a .ts app needs no tsx; elsewhere, and for syntax
// stripping cannot erase, tsx is loaded, and without it the error names it. Each test states what
// this Node must do, chosen by process.features.typescript: CI runs the suite on Node 20 and 24.
const strips = typeof (process.features as { typescript?: unknown }).typescript === 'string';

let dir = '';
/** unicorn-ts installed as a package without its optional peer tsx: dist/ and every dependency but tsx. */
let cliWithoutTsx = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'unicorn-ts-typescript-'));
  const install = join(dir, 'install');
  mkdirSync(join(install, 'node_modules'), { recursive: true });
  cpSync(join(ROOT, 'dist'), join(install, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(install, 'package.json'));
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (name !== 'tsx' && name !== '.bin') {
      symlinkSync(join(ROOT, 'node_modules', name), join(install, 'node_modules', name));
    }
  }
  cliWithoutTsx = join(install, 'dist/src/bin.js');
  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), '{ "type": "module" }\n');
  writeFileSync(
    join(app, 'erasable.ts'),
    "const greeting: string = 'types stripped';\nexport default (_req: Request): Response => new Response(greeting);\n",
  );
  writeFileSync(
    join(app, 'enum.ts'),
    "enum Reply { Text = 'an enum' }\nexport default (): Response => new Response(Reply.Text);\n",
  );
  writeFileSync(join(app, 'unicorn.config.ts'), 'const workers: number = 1;\nexport default { workers };\n');
  // What `npm init -y` makes: a package whose .ts files Node loads as CommonJS.
  const cjs = join(dir, 'cjs-project');
  mkdirSync(cjs);
  writeFileSync(join(cjs, 'package.json'), '{ "type": "commonjs" }\n');
  writeFileSync(
    join(cjs, 'app.ts'),
    "const text: string = 'esm syntax, commonjs package';\nexport default (): Response => new Response(text);\n",
  );
});

after(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

const app = (name: string) => join(dir, 'app', name);

describe('TypeScript without tsx installed', () => {
  test('import/export in a .ts file of a "type": "commonjs" package: UNICORN_TSX_REQUIRED, saying why', async () => {
    const file = join(dir, 'cjs-project', 'app.ts');
    const result = await runCli(['--check-config', file], { cli: cliWithoutTsx });
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      strips
        ? /package\.json makes it CommonJS .*tsx is not installed/
        : /cannot load TypeScript .*tsx is not installed/,
    );
    assert.match(result.stderr, /\[UNICORN_TSX_REQUIRED\]/);
  });

  test(`an app and a config file with erasable types ${strips ? 'load by Node alone' : 'need tsx: UNICORN_TSX_REQUIRED'}`, async () => {
    const args = ['-c', app('unicorn.config.ts'), app('erasable.ts'), '--log-format', 'json'];
    if (strips) {
      const server = await startServer(args, { cli: cliWithoutTsx, cwd: join(dir, 'app') });
      assert.equal(server.liveWorkerPids().length, 1, 'the config file set workers = 1');
      assert.equal((await request(`${server.url}/`)).body, 'types stripped');
    } else {
      const result = await runCli([...args, '-b', '127.0.0.1:0'], { cli: cliWithoutTsx });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /cannot load TypeScript .*unicorn\.config\.ts.*tsx is not installed/);
      assert.match(result.stderr, /\[UNICORN_TSX_REQUIRED\] Install tsx/);
    }
  });

  test('an enum, which type stripping cannot erase: the worker fails to boot with UNICORN_TSX_REQUIRED', async () => {
    const result = await runCli([app('enum.ts'), '-b', '127.0.0.1:0', '--log-format', 'json'], {
      cli: cliWithoutTsx,
    });
    assert.equal(result.code, 3, result.stderr);
    const failed = result.logs.find((l) => l.event === 'worker.boot_failed');
    assert.equal(failed?.code, 'UNICORN_TSX_REQUIRED');
    assert.match(String(failed?.hint), /npm install tsx/);
    assert.match(
      String(failed?.msg),
      strips ? /type stripping does not support this TypeScript syntax.*enum/ : /cannot load TypeScript/,
    );
  });
});

describe('TypeScript with tsx installed', () => {
  test('import/export in a .ts file of a "type": "commonjs" package is served (tsx compiles it)', async () => {
    const server = await startServer([join(dir, 'cjs-project', 'app.ts')]);
    assert.equal((await request(`${server.url}/`)).body, 'esm syntax, commonjs package');
  });

  test(`an enum is served: ${strips ? "Node's stripping refuses it, tsx loads it" : 'tsx loads every .ts file'}`, async () => {
    const server = await startServer([app('enum.ts')]);
    assert.equal((await request(`${server.url}/`)).body, 'an enum');
  });
});
