import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { type Server, startServer, stopAll } from '../helpers/server.js';

after(stopAll);

/** An app in a fresh directory that answers `body`. */
function appIn(body: string): { dir: string; app: string } {
  const dir = mkdtempSync(join(tmpdir(), 'unicorn-reload-'));
  const app = join(dir, 'app.mjs');
  writeFileSync(app, `export default () => new Response('${body}');\n`);
  return { dir, app };
}

/** Starts with --reload and waits until the watcher is ready, so no change made after it is missed. */
async function startReloading(app: string, extra: string[] = []): Promise<Server> {
  const server = await startServer([app, '--reload', '-w', '1', ...extra]);
  await server.waitForEvent('reload.started', (l) => Array.isArray(l.paths));
  return server;
}

/** The files named by each change-triggered reload logged from `after` on. */
function changedFiles(server: Server, after = 0): string[][] {
  return server.logs
    .slice(after)
    .filter((l) => l.event === 'reload.started' && typeof l.file === 'string')
    .map((l) => (l.files as string[] | undefined) ?? [l.file as string]);
}

/** `sed -i` writes a new file and renames it over the old one: the save style fs.watch lost. */
function sedInPlace(file: string, from: string, to: string): void {
  execFileSync('sed', ['-i', `s/${from}/${to}/`, file]);
}

/** Waits for the reload a change to `file` starts, and for it to finish. */
async function reloadedFor(server: Server, file: string, mark: number): Promise<void> {
  await server.waitForEvent('reload.started', (l) => l.file === file, { after: mark });
  await server.waitForEvent('reload.done', () => true, { after: mark });
}

describe('--reload', () => {
  test('reloads after each of three rename-style saves (sed -i) of the app file, then a JetBrains safe write', async () => {
    const { app } = appIn('v1');
    const server = await startReloading(app);
    assert.equal((await request(`${server.url}/`)).body, 'v1');
    for (const [from, to] of [
      ['v1', 'v2'],
      ['v2', 'v3'],
      ['v3', 'v4'],
    ] as const) {
      const mark = server.logs.length;
      sedInPlace(app, from, to);
      await reloadedFor(server, app, mark);
      assert.equal((await request(`${server.url}/`)).body, to, `serving ${to} after the save`);
    }

    // JetBrains' safe write: a temp file, the original moved aside, the temp renamed in, the old one
    // deleted. Neither side file matches the default globs, so the reload names only the app.
    const mark = server.logs.length;
    writeFileSync(`${app}___jb_tmp___`, "export default () => new Response('v5');\n");
    renameSync(app, `${app}___jb_old___`);
    renameSync(`${app}___jb_tmp___`, app);
    unlinkSync(`${app}___jb_old___`);
    await reloadedFor(server, app, mark);
    assert.equal((await request(`${server.url}/`)).body, 'v5');
    assert.deepEqual(new Set(changedFiles(server, mark).flat()), new Set([app]));
  });

  test('a new file matching --reload-include reloads; excluded and non-matching files do not', async () => {
    const { dir, app } = appIn('v1');
    mkdirSync(join(dir, 'generated'));
    mkdirSync(join(dir, 'node_modules'));
    const server = await startReloading(app, [
      '--reload-include',
      '*.mjs',
      '--reload-include',
      '*.hbs',
      '--reload-exclude',
      'node_modules',
      '--reload-exclude',
      'generated',
      '--reload-exclude',
      '*.skip.mjs',
    ]);

    const mark = server.logs.length;
    const template = join(dir, 'page.hbs');
    writeFileSync(template, '<p>new</p>\n');
    await reloadedFor(server, template, mark);

    // Files the settings leave out, written before two saves of the app: had any of them been
    // watched, its event would have come in before the second save's reload was over.
    const ignored = [
      join(dir, 'generated', 'out.mjs'),
      join(dir, 'node_modules', 'dep.mjs'),
      join(dir, 'draft.skip.mjs'),
      join(dir, 'notes.txt'),
      join(dir, 'helper.js'),
    ];
    const before = server.logs.length;
    for (const file of ignored) writeFileSync(file, 'export {};\n');
    sedInPlace(app, 'v1', 'v2');
    await reloadedFor(server, app, before);
    const second = server.logs.length;
    sedInPlace(app, 'v2', 'v3');
    await reloadedFor(server, app, second);
    assert.equal((await request(`${server.url}/`)).body, 'v3');

    const seen = changedFiles(server, before).flat();
    for (const file of ignored)
      assert.ok(!seen.includes(file), `${file} did not reload (saw ${seen.join(', ')})`);
    assert.deepEqual(new Set(seen), new Set([app]));
  });

  test('by default, node_modules and dot-directories are left out and new .ts/.json files reload', async () => {
    const { dir, app } = appIn('v1');
    mkdirSync(join(dir, 'node_modules'));
    mkdirSync(join(dir, '.cache'));
    const server = await startReloading(app);
    const ready = server.logs.find((l) => l.event === 'reload.started' && Array.isArray(l.paths))!;
    assert.deepEqual(ready.paths, [dir]);
    assert.deepEqual(ready.include, [
      '*.ts',
      '*.mts',
      '*.cts',
      '*.tsx',
      '*.js',
      '*.mjs',
      '*.cjs',
      '*.jsx',
      '*.json',
    ]);
    assert.deepEqual(ready.exclude, ['node_modules', '.*']);

    const before = server.logs.length;
    const data = join(dir, 'data.json');
    writeFileSync(data, '{}\n');
    const ignored = [
      join(dir, 'node_modules', 'dep.js'),
      join(dir, '.cache', 'x.json'),
      join(dir, 'notes.txt'),
    ];
    for (const file of ignored) writeFileSync(file, '{}\n');
    await server.waitForEvent(
      'reload.started',
      (l) => (l.files as string[] | undefined)?.includes(data) === true,
      {
        after: before,
      },
    );
    await server.waitForEvent('reload.done', () => true, { after: before });
    const second = server.logs.length;
    const lib = join(dir, 'lib.ts');
    writeFileSync(lib, 'export const x: number = 1;\n');
    await reloadedFor(server, lib, second);

    const seen = changedFiles(server, before).flat();
    for (const file of ignored)
      assert.ok(!seen.includes(file), `${file} did not reload (saw ${seen.join(', ')})`);
  });

  test("--reload-extra-file: a file reloads whatever its name; a directory is filtered like the app's", async () => {
    const { app } = appIn('v1');
    const other = mkdtempSync(join(tmpdir(), 'unicorn-reload-extra-'));
    const envFile = join(other, 'settings.env');
    writeFileSync(envFile, 'A=1\n');
    const shared = join(other, 'shared');
    mkdirSync(shared);
    const server = await startReloading(app, ['--reload-extra-file', envFile, '--reload-extra-file', shared]);

    const mark = server.logs.length;
    sedInPlace(envFile, 'A=1', 'A=2');
    await reloadedFor(server, envFile, mark);

    const second = server.logs.length;
    const ignored = join(shared, 'notes.txt');
    writeFileSync(ignored, 'x\n');
    const lib = join(shared, 'lib.mjs');
    writeFileSync(lib, 'export {};\n');
    await reloadedFor(server, lib, second);
    const third = server.logs.length;
    sedInPlace(app, 'v1', 'v2');
    await reloadedFor(server, app, third);
    const seen = changedFiles(server, second).flat();
    assert.ok(!seen.includes(ignored), `${ignored} did not reload (saw ${seen.join(', ')})`);
  });
});
