/**
 * systemd's Type=notify protocol (docs/deploy.md, "systemd"): the master tells the manager when it is
 * ready, reloading, handing over to a new master and stopping. The test owns the notification socket
 * (test/helpers/notify-socket.ts) and reads what systemd would read.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { NotifySocket } from '../helpers/notify-socket.js';
import { fixture, startServer, stopAll } from '../helpers/server.js';
import { isAlive, waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'unicorn-notify-'));
const receivers: NotifySocket[] = [];
after(async () => {
  await stopAll();
  for (const receiver of receivers) receiver.close();
  rmSync(dir, { recursive: true, force: true });
});

async function openNotifySocket(name: string): Promise<NotifySocket> {
  const receiver = await NotifySocket.open(join(dir, name));
  receivers.push(receiver);
  return receiver;
}

/** A message's protocol verbs, STATUS= left out: `READY`, `RELOADING`, `MAINPID+READY`, `STOPPING`. */
function verbs(fields: Readonly<Record<string, string>>): string {
  return Object.keys(fields)
    .filter((key) => key !== 'STATUS' && key !== 'MONOTONIC_USEC')
    .join('+');
}

describe('systemd readiness notification (NOTIFY_SOCKET)', () => {
  test('READY=1 once the workers are ready, RELOADING=1 then READY=1 around a HUP, MAINPID= from the new master after USR2, STOPPING=1 from the last one', async () => {
    const notify = await openNotifySocket('notify.sock');
    const old = await startServer([fixture('notify-env.mjs'), '-w', '2', '--graceful-timeout', '10'], {
      env: { NOTIFY_SOCKET: notify.path, STARTUP_MS: '800' },
    });

    // Start: the workers take 800 ms in startup(); a READY=1 sent before they were ready says so.
    const ready = await notify.waitForField('READY', '1');
    assert.equal(notify.messages.indexOf(ready), 0, 'READY=1 is the first message');
    assert.equal(ready.fields.STATUS, '2 of 2 workers ready');
    assert.equal(ready.fields.MAINPID, undefined, 'the first master is the main pid systemd started');
    assert.equal(old.events('worker.ready').length, 2);
    // Workers never see the socket: only the master speaks for the service.
    assert.equal((await request(`${old.url}/`)).body, 'none');

    // HUP: RELOADING=1 stamped with CLOCK_MONOTONIC now, then READY=1 once the reload is done.
    let mark = notify.messages.length;
    const logMark = old.logs.length;
    const before = process.hrtime.bigint() / 1000n;
    old.signal('SIGHUP');
    const reloading = await notify.waitForField('RELOADING', '1', mark);
    const afterSignal = process.hrtime.bigint() / 1000n;
    const stamp = BigInt(reloading.fields.MONOTONIC_USEC ?? '0');
    assert.ok(
      stamp >= before && stamp <= afterSignal,
      `MONOTONIC_USEC ${stamp} is between ${before} and ${afterSignal}`,
    );
    const reloaded = await notify.waitForField('READY', '1', mark);
    assert.ok(
      old.logs.slice(logMark).some((l) => l.event === 'reload.done'),
      'READY=1 comes after the reload is done',
    );
    assert.equal(reloaded.fields.STATUS, '2 of 2 workers ready (reloaded)');

    // USR2: the new master, once its workers are ready, names itself the main pid.
    mark = notify.messages.length;
    old.signal('SIGUSR2');
    const newPid = Number((await old.waitForEvent('master.reexec', (l) => l.pid === old.pid)).newMasterPid);
    const handover = await notify.waitForField('MAINPID', String(newPid), mark);
    assert.equal(handover.fields.READY, '1');
    assert.equal(handover.fields.STATUS, '2 of 2 workers ready');

    // The old master goes as the operator stops it (WINCH, TERM): no STOPPING=1, or systemd would
    // stop the service the new master now runs.
    old.signal('SIGWINCH');
    old.signal('SIGTERM');
    assert.equal((await old.waitForExit()).code, 0);
    assert.deepEqual(
      notify.messages.filter((m) => 'STOPPING' in m.fields),
      [],
      'the old master sent no STOPPING=1',
    );

    // TERM to the new master: STOPPING=1, sent before it exits.
    process.kill(newPid, 'SIGTERM');
    await waitFor('the new master to exit', () => !isAlive(newPid), { timeoutMs: 30_000 });
    const last = notify.messages.at(-1)!;
    assert.equal(last.fields.STOPPING, '1');

    assert.deepEqual(
      notify.messages.map((m) => verbs(m.fields)).filter((verb) => verb !== ''),
      ['READY', 'RELOADING', 'READY', 'MAINPID+READY', 'STOPPING'],
    );
  });

  test('a reload that is rolled back still ends with READY=1, or systemd would wait in "reloading"', async () => {
    const notify = await openNotifySocket('rollback.sock');
    const failFile = join(dir, 'fail-startup');
    const server = await startServer([fixture('startup-fails-when-file.mjs'), '-w', '1'], {
      env: { NOTIFY_SOCKET: notify.path, FAIL_FILE: failFile },
    });
    await notify.waitForField('READY', '1');
    writeFileSync(failFile, '');
    const mark = notify.messages.length;
    server.signal('SIGHUP');
    await server.waitForEvent('reload.failed', () => true, { level: 'error' });
    const ready = await notify.waitForField('READY', '1', mark);
    assert.equal(ready.fields.STATUS, '1 of 1 workers ready (reload failed, the old workers serve)');
    assert.deepEqual(
      notify.messages.map((m) => verbs(m.fields)).filter((verb) => verb !== ''),
      ['READY', 'RELOADING', 'READY'],
    );
  });

  test('without systemd-notify on the PATH the master says so once, and serves', async () => {
    const notify = await openNotifySocket('missing.sock');
    const emptyBin = mkdtempSync(join(dir, 'bin-'));
    const server = await startServer([fixture('notify-env.mjs'), '-w', '1'], {
      env: { NOTIFY_SOCKET: notify.path, STARTUP_MS: '0', PATH: emptyBin },
    });
    const warning = await server.waitForEvent('systemd.notify_failed', () => true, { level: 'warning' });
    assert.equal(warning.errorCode, 'ENOENT');
    assert.match(String(warning.msg), /systemd-notify is not installed/);
    assert.equal((await request(`${server.url}/`)).status, 200);
    server.signal('SIGHUP');
    await server.waitForEvent('reload.done');
    assert.equal(server.events('systemd.notify_failed').length, 1, 'said once, not at every message');
    assert.deepEqual(notify.messages, []);
  });
});
