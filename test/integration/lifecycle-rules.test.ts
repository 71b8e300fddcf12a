/**
 * The master's rules that only show over time: what it does with signals while stopping, after
 * WINCH, during a crash loop, on a quick stop, and when a worker's app throws.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { killGroup, track } from '../helpers/processes.js';
import { bootedSince, expectQuietRollback } from '../helpers/rollback.js';
import { CLI, fixture, type LogLine, startServer, stopAll } from '../helpers/server.js';
import { isAlive, observeFor, waitFor } from '../helpers/wait.js';

after(stopAll);
const dir = mkdtempSync(join(tmpdir(), 'unicorn-rules-'));

/** With one worker, connections are accepted in order: once a later one is answered, ours is in flight. */
async function acceptedBefore(url: string): Promise<void> {
  assert.equal((await request(`${url}/`)).status, 200);
}

describe('master rules', () => {
  test('while stopping gracefully, HUP and TTIN are logged as ignored, nothing boots, and the stop completes', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '1']);
    const [pid] = server.liveWorkerPids();
    const slow = request(`${server.url}/?ms=2500`);
    await acceptedBefore(server.url);
    server.signal('SIGTERM');
    const stopping = await server.waitForEvent('master.stopping');
    const mark = server.logs.indexOf(stopping);
    server.signal('SIGHUP');
    await server.waitForEvent('signal.ignored', (l) => l.signal === 'hup', { after: mark });
    server.signal('SIGTTIN');
    await server.waitForEvent('signal.ignored', (l) => l.signal === 'ttin', { after: mark });
    const reply = await slow;
    assert.equal(reply.status, 200);
    assert.equal(reply.body, String(pid), 'the in-flight request finished on its worker');
    assert.equal((await server.waitForExit()).code, 0);
    const after = server.logs.slice(mark);
    assert.deepEqual(
      after.filter((l) => ['reload.started', 'workers.count', 'worker.booting'].includes(String(l.event))),
      [],
      'neither signal was acted on',
    );
    assert.equal(server.events('master.stopped').length, 1);
  });

  test('TTOU after WINCH keeps the master empty (as Gunicorn: never below one, but zero stays zero); TTIN brings one back', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '2']);
    const pids = server.liveWorkerPids();
    server.signal('SIGWINCH');
    for (const pid of pids) await server.waitForEvent('worker.exited', (l) => l.workerPid === pid);
    const mark = server.logs.length;
    server.signal('SIGTTOU');
    await server.waitForEvent('signal.received', (l) => l.signal === 'ttou', { after: mark });
    await observeFor(2000);
    assert.deepEqual(bootedSince(server, mark), [], 'no worker boots after TTOU');
    assert.equal(
      server.logs.slice(mark).filter((l) => l.event === 'workers.count').length,
      0,
      'the count stays 0',
    );
    server.signal('SIGTTIN');
    const count = await server.waitForEvent('workers.count', () => true, { after: mark });
    assert.deepEqual([count.from, count.to], [0, 1]);
    const reply = await request(`${server.url}/`);
    assert.equal(reply.status, 200);
    assert.ok(!pids.includes(Number(reply.body)));
    assert.equal(bootedSince(server, mark).length, 1);
  });

  test('in a terminal, WINCH (sent at every resize of its window) is ignored: the workers serve on', async () => {
    // script(1) runs the master on a pseudo-terminal, as an interactive shell would.
    const logfile = join(dir, 'terminal.log');
    const command = [process.execPath, CLI, fixture('pid.mjs'), '-w', '1', '-b', '127.0.0.1:0']
      .concat(['--log-format', 'json', '--error-logfile', logfile])
      .map((word) => `'${word}'`)
      .join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: 'pipe', detached: true });
    track(child);
    // script(1) starts the command in a session of its own: the master leads its own process group.
    let masterPid: number | undefined;
    try {
      const logs = () =>
        readFileSyncOrEmpty(logfile)
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as LogLine);
      const ready = await waitFor('master.ready', () => logs().find((l) => l.event === 'master.ready'), {
        timeoutMs: 60_000,
      });
      const url = String(logs().find((l) => l.event === 'master.listening')?.url);
      const [workerPid] = ready.workerPids as number[];
      masterPid = ready.pid as number;
      process.kill(masterPid, 'SIGWINCH');
      const ignored = await waitFor('winch ignored', () =>
        logs().find((l) => l.event === 'signal.ignored' && l.signal === 'winch'),
      );
      assert.equal(ignored.reason, 'terminal');
      const reply = await request(`${url}/`);
      assert.equal(reply.body, String(workerPid), 'the same worker serves after the WINCH');
      assert.deepEqual(
        logs().filter((l) => l.event === 'workers.count' || l.event === 'worker.exited'),
        [],
        'no worker was stopped',
      );
    } finally {
      if (masterPid !== undefined) killGroup(masterPid);
      killGroup(child.pid!);
    }
  });

  test('HUP resets the crash-loop backoff: the fixed app boots at once, not after the pending delay', async () => {
    const crashFile = join(dir, 'crash');
    const server = await startServer([fixture('crash-when-file.mjs'), '-w', '1'], {
      env: { CRASH_FILE: crashFile },
    });
    const [first] = server.liveWorkerPids();
    writeFileSync(crashFile, '');
    process.kill(first!, 'SIGKILL');
    const long = await server.waitForEvent('worker.backoff', (l) => (l.delayMs as number) >= 6400, {
      level: 'warning',
      timeoutMs: 90_000,
    });
    // The deploy is fixed and the operator reloads, at the start of a 6.4 s wait.
    rmSync(crashFile);
    const mark = server.logs.length;
    server.signal('SIGHUP');
    const booting = await server.waitForEvent('worker.booting', () => true, { after: mark });
    const waited = Date.parse(String(booting.time)) - Date.parse(String(long.time));
    assert.ok(waited < 4000, `the new worker booted ${waited} ms into a 6400 ms backoff, not at once`);
    const ready = await server.waitForEvent('worker.ready', (l) => l.pid === booting.workerPid, {
      after: mark,
    });
    assert.equal((await request(`${server.url}/`)).body, String(ready.pid));
  });

  for (const signal of ['SIGINT', 'SIGQUIT'] as const) {
    test(`a quick stop (${signal}) sends QUIT to the workers: they leave at once, without shutdown()`, async () => {
      const lifecycleLog = join(dir, `quick-${signal}.log`);
      const server = await startServer([fixture('lifecycle.mjs'), '-w', '2'], {
        env: { LIFECYCLE_LOG: lifecycleLog },
      });
      const pids = server.liveWorkerPids();
      server.signal(signal);
      assert.equal((await server.waitForExit()).code, 0);
      for (const pid of pids) {
        const exiting = server.events('worker.exiting').filter((l) => l.pid === pid);
        assert.deepEqual(
          exiting.map((l) => [l.reason, l.quick]),
          [['SIGQUIT', true]],
        );
      }
      const lifecycle = readFileSync(lifecycleLog, 'utf8').trim().split('\n');
      assert.ok(!lifecycle.some((l) => l.startsWith('shutdown')), lifecycle.join('; '));
    });
  }

  test('an error escaping the app retires the worker: its replacement boots before it exits, and serves', async () => {
    const server = await startServer([fixture('uncaught.mjs'), '-w', '1']);
    const [pid] = server.liveWorkerPids();
    const slow = request(`${server.url}/slow?ms=3000`);
    await acceptedBefore(server.url);
    const mark = server.logs.length;
    assert.equal((await request(`${server.url}/escape`)).status, 200);
    await server.waitForEvent('worker.uncaught', (l) => l.pid === pid, { level: 'error' });
    const booting = await server.waitForEvent('worker.booting', () => true, { after: mark });
    assert.ok(isAlive(pid!), 'the old worker is still finishing its request');
    assert.equal(
      server.logs.slice(mark).filter((l) => l.event === 'worker.exited').length,
      0,
      'the replacement was asked for before the old worker exited',
    );
    const replacement = booting.workerPid as number;
    assert.equal((await slow).body, `ok ${pid}`);
    const exited = await server.waitForEvent('worker.exited', (l) => l.workerPid === pid);
    assert.equal(exited.reason, 'uncaught exception');
    assert.equal(exited.code, 0);
    await waitFor('the replacement to serve', () => server.liveWorkerPids().includes(replacement));
    assert.equal((await request(`${server.url}/slow`)).body, `ok ${replacement}`);
    assert.equal(server.events('worker.backoff').length, 0, 'a retirement is not a crash');
  });

  test('a rolled-back reload with --standby keeps the old spare: nothing boots after the rollback', async () => {
    const app = join(dir, 'standby-app.mjs');
    writeFileSync(app, "export default () => new Response('v1 ' + process.pid);\n");
    const server = await startServer([app, '-w', '1', '--standby', '1']);
    await server.waitForEvent('worker.standby');
    writeFileSync(app, "throw new Error('broken deploy');\n");
    const mark = server.logs.length;
    server.signal('SIGHUP');
    await expectQuietRollback(server, mark);
    assert.match((await request(`${server.url}/`)).body, /^v1 /);
  });
});

function readFileSyncOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
