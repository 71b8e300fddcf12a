import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { startLoad } from '../helpers/load.js';
import { bootedSince, expectQuietRollback } from '../helpers/rollback.js';
import { fixture, type Server, startServer, stopAll } from '../helpers/server.js';
import { isAlive, observeFor, waitFor } from '../helpers/wait.js';

after(stopAll);
const dir = mkdtempSync(join(tmpdir(), 'unicorn-restarts-'));

function versionedApp(name: string, version: string): string {
  const file = join(dir, name);
  writeFileSync(file, `export default () => new Response('${version} ' + process.pid);\n`);
  return file;
}

/**
 * After a rolled-back reload, the old workers are ordinary serving workers: once the app is fixed, a
 * HUP replaces exactly them, one by one.
 */
async function reloadFixedApp(server: Server, app: string, oldPids: number[]): Promise<void> {
  writeFileSync(app, "export default () => new Response('v3 ' + process.pid);\n");
  const mark = server.logs.length;
  server.signal('SIGHUP');
  const started = await server.waitForEvent('reload.started', (l) => l.replacing !== undefined, {
    after: mark,
  });
  assert.equal(started.replacing, oldPids.length);
  const done = await server.waitForEvent('reload.done', () => true, { after: mark });
  const retired = server.logs
    .slice(mark)
    .filter((l) => l.event === 'worker.retire')
    .map((l) => l.workerPid as number);
  assert.deepEqual(retired.sort(), [...oldPids].sort(), 'the old workers retire for the reload');
  assert.equal((done.workerPids as number[]).length, oldPids.length);
  assert.match((await request(`${server.url}/`)).body, /^v3 \d+$/);
}

describe('restarts never drop a request', () => {
  test('HUP under load: every worker is replaced with a freshly imported app, and no request fails', async () => {
    const app = versionedApp('hup-app.mjs', 'v1');
    const server = await startServer([app, '-w', '2']);
    const oldPids = server.liveWorkerPids();
    const load = startLoad(server.url);
    await waitFor('some load', () => load.result.ok >= 200);
    writeFileSync(app, "export default () => new Response('v2 ' + process.pid);\n");
    server.signal('SIGHUP');
    const done = await server.waitForEvent('reload.done', () => true, { timeoutMs: 60_000 });
    await waitFor(
      'load after the reload',
      () => [...load.result.bodies.keys()].filter((b) => b.startsWith('v2')).length >= 2,
    );
    const result = await load.stop();
    assert.equal(result.failed, 0, `failed requests: ${result.errors.slice(0, 5).join('; ')}`);
    const newPids = done.workerPids as number[];
    assert.equal(newPids.length, 2);
    for (const pid of oldPids) assert.ok(!newPids.includes(pid), 'every old worker was replaced');
    const reply = await request(`${server.url}/`);
    assert.match(reply.body, /^v2 \d+$/);
    // Rolling: each old worker was told to stop only after a new one was ready.
    const firstRetire = server.logs.findIndex((l) => l.event === 'worker.retire');
    const firstNewReady = server.logs.findIndex(
      (l) => l.event === 'worker.ready' && !oldPids.includes(l.pid as number),
    );
    assert.ok(firstNewReady !== -1 && firstNewReady < firstRetire);
  });

  test('HUP with an app that no longer loads: the reload is rolled back and the old workers keep serving', async () => {
    const app = versionedApp('broken-on-hup.mjs', 'v1');
    const server = await startServer([app, '-w', '2']);
    const oldPids = server.liveWorkerPids();
    writeFileSync(app, "throw new Error('broken deploy');\n");
    const load = startLoad(server.url, { keepAlive: 2, fresh: 1 });
    const mark = server.logs.length;
    server.signal('SIGHUP');
    const failed = await server.waitForEvent('reload.failed', () => true, { after: mark });
    assert.match(String(failed.msg), /broken deploy/);
    await waitFor('load after the failed reload', () => load.result.ok >= 100);
    const result = await load.stop();
    assert.equal(result.failed, 0, result.errors.slice(0, 5).join('; '));
    assert.deepEqual(
      [...result.bodies.keys()].map((b) => b.split(' ')[0]).filter((v) => v !== 'v1'),
      [],
    );
    assert.deepEqual(server.liveWorkerPids().sort(), oldPids.sort());
    // The old workers are serving workers again, not retiring ones waiting for a replacement: the
    // master boots nothing more (a retiring pair would have it boot the broken app over and over).
    const newPids = bootedSince(server, mark);
    for (const pid of newPids) await server.waitForEvent('worker.exited', (l) => l.workerPid === pid);
    const quiet = server.logs.length;
    await observeFor(3000);
    assert.deepEqual(bootedSince(server, quiet), [], 'no worker boots after the rollback');
    assert.equal(server.events('worker.backoff').length, 0, 'no crash loop');
    assert.deepEqual(server.liveWorkerPids().sort(), oldPids.sort());
    assert.equal(server.exited, false, 'the master stays up');
    await reloadFixedApp(server, app, oldPids);
  });

  test('a rolled-back reload stops the new workers that were still booting', async () => {
    // The first new worker to import v2 fails; the others hang in their import (until
    // --boot-timeout, 60 s): only the rollback can stop them.
    const app = versionedApp('fails-then-hangs.mjs', 'v1');
    const marker = join(dir, 'fails-then-hangs.marker');
    const server = await startServer([app, '-w', '3']);
    const oldPids = server.liveWorkerPids();
    writeFileSync(
      app,
      `import { openSync } from 'node:fs';
let first = true;
try { openSync(${JSON.stringify(marker)}, 'wx'); } catch { first = false; }
if (first) throw new Error('broken deploy');
await new Promise(() => setInterval(() => {}, 1000));
export default () => new Response('v2');
`,
    );
    const mark = server.logs.length;
    server.signal('SIGHUP');
    const failed = await server.waitForEvent('reload.failed', () => true, { after: mark });
    const newPids = bootedSince(server, mark);
    assert.equal(newPids.length, 3, 'three new workers were booting');
    const failedPid = server.logs
      .slice(mark)
      .find((l) => l.event === 'worker.exited' && l.reason !== 'reload rolled back')?.workerPid;
    for (const pid of newPids.filter((p) => p !== failedPid)) {
      const exited = await server.waitForEvent('worker.exited', (l) => l.workerPid === pid, {
        timeoutMs: 15_000,
        after: server.logs.indexOf(failed),
      });
      assert.equal(exited.reason, 'reload rolled back');
    }
    const quiet = server.logs.length;
    await observeFor(3000);
    assert.deepEqual(bootedSince(server, quiet), [], 'no worker boots after the rollback');
    assert.deepEqual(server.liveWorkerPids().sort(), oldPids.sort());
    for (const pid of oldPids) assert.ok(isAlive(pid));
    const bodies = new Set<string>();
    for (let i = 0; i < 20; i++) bodies.add((await request(`${server.url}/`)).body.split(' ')[0]!);
    assert.deepEqual([...bodies], ['v1']);
    await reloadFixedApp(server, app, oldPids);
  });

  test('a rolled-back reload that also raised the worker count goes back to the old count: no boot loop', async () => {
    const app = versionedApp('broken-with-more-workers.mjs', 'v1');
    const config = join(dir, 'more-workers.config.mjs');
    writeFileSync(config, 'export default { workers: 2 };\n');
    const server = await startServer([app, '-c', config]);
    const oldPids = server.liveWorkerPids();
    assert.equal(oldPids.length, 2);
    writeFileSync(config, 'export default { workers: 3 };\n');
    writeFileSync(app, "throw new Error('broken deploy');\n");
    const mark = server.logs.length;
    server.signal('SIGHUP');
    await expectQuietRollback(server, mark);
    const counts = server.logs
      .slice(mark)
      .filter((l) => l.event === 'workers.count')
      .map((l) => [l.from, l.to]);
    assert.deepEqual(counts, [
      [2, 3],
      [3, 2],
    ]);
    assert.deepEqual(server.liveWorkerPids().sort(), oldPids.sort());
  });

  test('HUP re-reads the config file', async () => {
    const config = join(dir, 'reload.config.mjs');
    writeFileSync(config, 'export default { workers: 1 };\n');
    const server = await startServer([fixture('pid.mjs'), '-c', config]);
    assert.equal(server.liveWorkerPids().length, 1);
    writeFileSync(config, 'export default { workers: 3 };\n');
    server.signal('SIGHUP');
    const done = await server.waitForEvent('reload.done');
    assert.equal((done.workerPids as number[]).length, 3);
  });

  test('TTOU under load: the retiring worker drains and no request fails', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '3']);
    const load = startLoad(server.url);
    await waitFor('some load', () => load.result.ok >= 200);
    const [oldest] = server.liveWorkerPids();
    server.signal('SIGTTOU');
    await server.waitForEvent('worker.exited', (l) => l.workerPid === oldest);
    const before = load.result.ok;
    await waitFor('load after TTOU', () => load.result.ok >= before + 200);
    const result = await load.stop();
    assert.equal(result.failed, 0, result.errors.slice(0, 5).join('; '));
  });

  test('--max-requests recycling under load: no request fails', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '2', '--max-requests', '300']);
    const load = startLoad(server.url);
    await waitFor('three recycles', () => server.events('worker.retire').length >= 3, { timeoutMs: 90_000 });
    const result = await load.stop();
    assert.equal(result.failed, 0, result.errors.slice(0, 5).join('; '));
  });

  test('WINCH stops every worker but keeps the socket: a request waits and is served after TTIN', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '2']);
    const pids = server.liveWorkerPids();
    server.signal('SIGWINCH');
    for (const pid of pids) await server.waitForEvent('worker.exited', (l) => l.workerPid === pid);
    const pending = request(`${server.url}/`);
    server.signal('SIGTTIN');
    const reply = await pending;
    assert.equal(reply.status, 200);
    assert.ok(!pids.includes(Number(reply.body)));
  });

  test('USR1 with logs on standard error and output (the default) changes nothing and keeps serving', async () => {
    const server = await startServer([fixture('pid.mjs'), '--access-logfile', '-']);
    const pids = server.liveWorkerPids();
    server.signal('SIGUSR1');
    await server.waitForEvent('logs.reopened');
    assert.equal((await request(`${server.url}/`)).status, 200);
    assert.deepEqual(server.liveWorkerPids(), pids);
    assert.equal(server.exited, false);
  });

  test('USR1 reopens the log files after logrotate moved them', async () => {
    const errorLog = join(dir, 'error.log');
    const accessLog = join(dir, 'access.log');
    const server = await startServer(
      [
        fixture('pid.mjs'),
        '--error-logfile',
        errorLog,
        '--access-logfile',
        accessLog,
        '--log-format',
        'json',
      ],
      { waitFor: null },
    );
    const url = await waitFor('listening line', () => {
      const m = /"url":"(http:[^"]+)"/.exec(existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '');
      return m?.[1];
    });
    await waitFor('a worker answering', async () => (await request(`${url}/`)).status === 200);
    renameSync(errorLog, `${errorLog}.1`);
    renameSync(accessLog, `${accessLog}.1`);
    server.signal('SIGUSR1');
    await waitFor(
      'new error log with the reopen line',
      () => existsSync(errorLog) && readFileSync(errorLog, 'utf8').includes('"logs.reopened"'),
    );
    await waitFor('new access log', async () => {
      await request(`${url}/after-rotate`);
      return existsSync(accessLog) && readFileSync(accessLog, 'utf8').includes('/after-rotate');
    });
  });
});
