import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { fixture, startServer, stopAll } from '../helpers/server.js';
import { isAlive, waitFor } from '../helpers/wait.js';

after(stopAll);

/**
 * With one worker, the kernel hands out connections in the order they arrived: once a request sent
 * later has been answered, every request sent before it has been accepted and is in flight.
 */
async function acceptedBefore(url: string): Promise<void> {
  assert.equal((await request(`${url}/`)).status, 200);
}

describe('supervision', () => {
  test('a worker killed with SIGKILL is logged with a hint and replaced, and the new one serves', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '2']);
    const [victim] = server.liveWorkerPids();
    process.kill(victim!, 'SIGKILL');
    const exited = await server.waitForEvent('worker.exited', (l) => l.workerPid === victim);
    assert.equal(exited.signal, 'SIGKILL');
    assert.match(String(exited.hint), /out of memory/);
    const replacement = await server.waitForEvent(
      'worker.ready',
      (l) =>
        l.pid !== victim &&
        !server
          .events('worker.ready')
          .slice(0, 2)
          .some((r) => r.pid === l.pid),
    );
    assert.ok(isAlive(replacement.pid as number));
    assert.equal(server.liveWorkerPids().length, 2);
    assert.equal((await request(`${server.url}/`)).status, 200);
  });

  test('at first boot one worker starts alone; the others are forked once it is ready', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '3']);
    const firstReady = server.logs.findIndex((l) => l.event === 'worker.ready');
    const bootings = server.logs.map((l, i) => (l.event === 'worker.booting' ? i : -1)).filter((i) => i >= 0);
    assert.equal(bootings.length, 3);
    assert.ok(bootings[0]! < firstReady && bootings[1]! > firstReady && bootings[2]! > firstReady);
  });

  test('with -w 1, a request sent right after SIGKILL of the worker is served by its replacement, not refused', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '1']);
    const [victim] = server.liveWorkerPids();
    process.kill(victim!, 'SIGKILL');
    await waitFor('worker to die', () => !isAlive(victim!));
    const reply = await request(`${server.url}/`);
    assert.equal(reply.status, 200);
    assert.notEqual(Number(reply.body), victim);
  });

  test('SIGTERM with a slow request in flight: the request completes, then the master exits 0', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '1']);
    const pending = request(`${server.url}/?ms=1500`);
    await acceptedBefore(server.url);
    server.signal('SIGTERM');
    const reply = await pending;
    assert.equal(reply.status, 200);
    const { code } = await server.waitForExit();
    assert.equal(code, 0);
    assert.ok(server.events('master.stopped').length === 1);
  });

  test('SIGTERM: a worker that does not finish within --graceful-timeout is killed, and the master still exits 0', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '1', '--graceful-timeout', '1']);
    const pending = request(`${server.url}/?ms=20000`).catch((err: Error) => err);
    await acceptedBefore(server.url);
    server.signal('SIGTERM');
    const { code } = await server.waitForExit(20_000);
    assert.equal(code, 0);
    assert.ok(server.logs.some((l) => /did not stop in time/.test(String(l.msg))));
    const killed = server.events('worker.exited').find((l) => l.signal === 'SIGKILL');
    assert.match(String(killed?.hint), /--graceful-timeout/, 'not blamed on memory');
    assert.ok((await pending) instanceof Error);
  });

  test('SIGINT is a quick stop: the master exits 0 without waiting for slow requests, which are cut', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '1']);
    const slow = request(`${server.url}/?ms=30000`).then(
      () => 'answered',
      () => 'cut',
    );
    await acceptedBefore(server.url);
    server.signal('SIGINT');
    const started = Date.now();
    const { code } = await server.waitForExit(15_000);
    assert.equal(code, 0);
    assert.ok(Date.now() - started < 10_000);
    assert.equal(await slow, 'cut');
  });

  test('SIGQUIT is a quick stop too', async () => {
    const server = await startServer([fixture('pid.mjs')]);
    server.signal('SIGQUIT');
    assert.equal((await server.waitForExit()).code, 0);
  });

  test('SIGTTIN adds a worker and SIGTTOU retires the oldest, never going below one', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '1']);
    const [first] = server.liveWorkerPids();
    server.signal('SIGTTIN');
    await waitFor('two workers', () => server.liveWorkerPids().length === 2);
    server.signal('SIGTTOU');
    await server.waitForEvent('worker.exited', (l) => l.workerPid === first);
    server.signal('SIGTTOU');
    await server.waitForEvent('workers.count', (l) => l.to === 1);
    assert.equal(server.liveWorkerPids().length, 1);
    assert.equal((await request(`${server.url}/`)).status, 200);
  });

  test('a handler error gives that request a 500 without a stack, logs the stack, and the worker keeps serving', async () => {
    const server = await startServer([fixture('throws.mjs')]);
    const [pid] = server.liveWorkerPids();
    for (const path of ['/throw', '/reject']) {
      const reply = await request(`${server.url}${path}`);
      assert.equal(reply.status, 500);
      assert.doesNotMatch(reply.body, /boom|at /);
    }
    const logged = await server.waitForEvent('request.error', (l) =>
      /thrown by the handler/.test(String(l.msg)),
    );
    assert.match(JSON.stringify(logged.err), /throws\.mjs/);
    assert.equal((await request(`${server.url}/ok`)).body, `ok ${pid}`);
    assert.deepEqual(server.liveWorkerPids(), [pid]);
  });

  test('an error escaping the handler retires the worker gracefully: in-flight requests finish, a replacement serves', async () => {
    const server = await startServer([fixture('uncaught.mjs'), '-w', '1']);
    const [pid] = server.liveWorkerPids();
    const slow = request(`${server.url}/slow?ms=800`);
    await acceptedBefore(server.url);
    assert.equal((await request(`${server.url}/escape`)).status, 200);
    await server.waitForEvent('worker.uncaught', (l) => l.pid === pid);
    assert.equal((await slow).body, `ok ${pid}`);
    await server.waitForEvent('worker.exited', (l) => l.workerPid === pid);
    const next = await request(`${server.url}/slow`);
    assert.match(next.body, /^ok \d+$/);
    assert.notEqual(next.body, `ok ${pid}`);
  });

  test('startup() runs before a worker accepts and shutdown() after it drained', async () => {
    const { mkdtempSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const file = `${mkdtempSync(`${tmpdir()}/unicorn-lifecycle-`)}/log`;
    const server = await startServer([fixture('lifecycle.mjs'), '-w', '2'], { env: { LIFECYCLE_LOG: file } });
    assert.equal((await request(`${server.url}/`)).body, 'lifecycle');
    const pids = server.liveWorkerPids();
    assert.deepEqual(
      readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[0]),
      ['startup', 'startup'],
    );
    await server.stop();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    for (const pid of pids) {
      assert.ok(lines.indexOf(`startup ${pid}`) < lines.indexOf(`shutdown ${pid}`), lines.join('\n'));
    }
  });

  test('a worker that dies soon after boot is respawned with growing backoff, and the master stays up', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '1']);
    for (let i = 0; i < 3; i++) {
      const [pid] = server.liveWorkerPids();
      process.kill(pid!, 'SIGKILL');
      await server.waitForEvent('worker.exited', (l) => l.workerPid === pid);
      await waitFor('replacement', () => server.liveWorkerPids().length === 1);
    }
    const delays = server.events('worker.backoff').map((l) => l.delayMs as number);
    assert.ok(delays.length >= 2, 'backoff was logged');
    assert.ok(delays[1]! > delays[0]!, `delays grow: ${delays.join(', ')}`);
    assert.equal((await request(`${server.url}/`)).status, 200);
  });
});
