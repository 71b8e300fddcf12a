import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { fixture, startServer, stopAll } from '../helpers/server.js';
import { isAlive, waitFor } from '../helpers/wait.js';

after(stopAll);

/** One serving worker and one spare, on the app that answers with its pid. */
const startWithSpare = (...extra: string[]) =>
  startServer([fixture('pid.mjs'), '-w', '1', '--standby', '1', ...extra]);

describe('--standby', () => {
  test('a spare serves nothing until kill -9 of the only worker, then takes its place; a new spare boots', async () => {
    // --boot-timeout 3 with a spare that waits longer than that: promotion restarts the boot clock.
    // (Long enough for the next spare to boot on a loaded machine.)
    const server = await startWithSpare('--boot-timeout', '3');
    const spareLine = await server.waitForEvent('worker.standby');
    const spare = spareLine.workerPid as number;
    const [serving] = server.liveWorkerPids();
    assert.notEqual(spare, serving);
    for (let i = 0; i < 10; i++) {
      assert.equal((await request(`${server.url}/`)).body, String(serving), 'the spare holds no socket');
    }
    const since = Date.parse(String(spareLine.time));
    await waitFor('the spare to have waited longer than --boot-timeout', () => Date.now() - since > 3500, {
      timeoutMs: 10_000,
    });

    process.kill(serving!, 'SIGKILL');
    assert.equal((await request(`${server.url}/`)).body, String(spare), 'the spare answers');
    const promoted = await server.waitForEvent('worker.promoted');
    assert.equal(promoted.workerPid, spare);
    const next = await server.waitForEvent('worker.standby', (l) => l.workerPid !== spare);
    assert.ok(isAlive(next.workerPid as number));
    assert.deepEqual(
      server.events('worker.boot_timeout').filter((l) => l.workerPid === spare),
      [],
      'the promoted spare was not timed out',
    );
    assert.equal((await request(`${server.url}/`)).body, String(spare));
  });

  test('TTIN promotes the spare; HUP replaces the spare along with the workers', async () => {
    const server = await startWithSpare();
    const first = (await server.waitForEvent('worker.standby')).workerPid as number;

    server.signal('SIGTTIN');
    const promoted = await server.waitForEvent('worker.promoted');
    assert.equal(promoted.workerPid, first);
    await waitFor('two workers serving', () => server.liveWorkerPids().length === 2);
    const second = (await server.waitForEvent('worker.standby', (l) => l.workerPid !== first))
      .workerPid as number;

    const mark = server.logs.length;
    server.signal('SIGHUP');
    await server.waitForEvent('reload.done', () => true, { after: mark });
    await server.waitForEvent('worker.exited', (l) => l.workerPid === second, { after: mark });
    const third = (await server.waitForEvent('worker.standby', () => true, { after: mark }))
      .workerPid as number;
    assert.ok(![first, second].includes(third), 'the spare after a reload is a new process');
    // HUP re-reads the configuration, so the count is -w 1 again (as in Gunicorn, TTIN does not stick).
    await waitFor('one worker serving', () => server.liveWorkerPids().length === 1);
  });

  test('a worker recycled by --max-requests is replaced by the spare', async () => {
    const server = await startWithSpare('--max-requests', '3');
    const spare = (await server.waitForEvent('worker.standby')).workerPid as number;
    const [first] = server.liveWorkerPids();
    for (let i = 0; i < 3; i++) assert.equal((await request(`${server.url}/`)).body, String(first));
    assert.equal((await server.waitForEvent('worker.promoted')).workerPid, spare);
    await server.waitForEvent('worker.exited', (l) => l.workerPid === first);
    assert.equal((await request(`${server.url}/`)).body, String(spare));
  });

  test('WINCH stops the spare too; the master keeps its sockets', async () => {
    const server = await startWithSpare();
    const spare = (await server.waitForEvent('worker.standby')).workerPid as number;
    const [serving] = server.liveWorkerPids();
    server.signal('SIGWINCH');
    await server.waitForEvent('worker.exited', (l) => l.workerPid === spare);
    await server.waitForEvent('worker.exited', (l) => l.workerPid === serving);
    await waitFor('both processes gone', () => !isAlive(spare) && !isAlive(serving!));
    assert.ok(!server.exited, 'the master stays');
  });
});
