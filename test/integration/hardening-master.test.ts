import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { request, unixGet } from '../helpers/http.js';
import { errorLines, fixture, type LogLine, ROOT, runCli, startServer, stopAll } from '../helpers/server.js';
import { isAlive, waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'unicorn-hardening-'));
after(async () => {
  await stopAll();
  if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
});

describe('the pidfile', () => {
  test('a pidfile planted as a symbolic link to a file is refused: exit 1 naming the path, the file untouched', async () => {
    const victim = join(dir, 'victim.conf');
    writeFileSync(victim, 'precious\n');
    const pidfile = join(dir, 'planted.pid');
    symlinkSync(victim, pidfile);
    const result = await runCli([
      fixture('pid.mjs'),
      '-p',
      pidfile,
      '-b',
      '127.0.0.1:0',
      '--log-format',
      'json',
    ]);
    assert.equal(result.code, 1);
    const halt = result.logs.find((l) => l.event === 'master.halt');
    assert.ok(halt, result.stderr);
    assert.match(String(halt.msg), new RegExp(`refusing pidfile ${pidfile}: .* is a symbolic link`));
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
    assert.equal(result.logs.filter((l) => l.event === 'worker.booting').length, 0, 'no worker was started');
  });

  test('a lock left by a master killed with -9 does not block the next start on the same --pid', async () => {
    const pidfile = join(dir, 'killed.pid');
    const first = await startServer([fixture('pid.mjs'), '-w', '1', '-p', pidfile]);
    const [worker] = first.liveWorkerPids();
    process.kill(first.pid, 'SIGKILL');
    await first.waitForExit();
    // Its worker notices the master is gone and leaves on its own.
    await waitFor('orphaned worker exit', () => !isAlive(worker!));
    assert.equal(
      readFileSync(pidfile, 'utf8').trim(),
      String(first.pid),
      'the killed master left its pidfile',
    );
    assert.ok(existsSync(`${pidfile}.lock`), 'and its lock');

    const second = await startServer([fixture('pid.mjs'), '-w', '1', '-p', pidfile]);
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(second.pid));
    assert.equal((await request(`${second.url}/`)).status, 200);
    second.signal('SIGTERM');
    assert.equal((await second.waitForExit()).code, 0);
    assert.equal(existsSync(pidfile), false);
    assert.equal(existsSync(`${pidfile}.lock`), false);
  });
});

/** The JSON lines of a log file written with --error-logfile. */
function logLines(path: string): LogLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

describe('USR1 while a worker boots', () => {
  test("reaches the worker once it has said hello, so it cannot open Node's debugger", async () => {
    // The worker spends its first 3 s in this preload, with no listener for USR1 of its own yet.
    const preload = pathToFileURL(join(ROOT, 'test/fixtures/slow-worker-start.mjs')).href;
    const server = await startServer([fixture('inspector-url.mjs'), '-w', '1'], {
      waitFor: null,
      env: { NODE_OPTIONS: `--import ${preload}` },
    });
    const booting = await server.waitForEvent('worker.booting');
    server.signal('SIGUSR1');
    const ready = await server.waitForEvent('master.ready', undefined, { timeoutMs: 20_000 });
    assert.deepEqual(ready.workerPids, [booting.workerPid], 'the first worker is the one serving');
    assert.deepEqual(server.events('worker.exited'), []);
    // Node's own USR1 handling, before the worker's listener, starts a debugger on 127.0.0.1:9229.
    const seen = JSON.parse((await request(`${server.url}/`)).body) as { pid: number; url: string | null };
    assert.deepEqual(seen, { pid: booting.workerPid, url: null });
    await server.stop();
  });
});

describe('signals while the master starts', () => {
  test("are held until the master's listeners, not left to Node's defaults, and then handled: USR1 and TTIN", async () => {
    // The config file keeps the master in its loading, before its own signal listeners, until `go`.
    const hold = join(dir, 'master-start');
    mkdirSync(hold);
    const server = await startServer(
      [fixture('pid.mjs'), '-w', '1', '-c', join(ROOT, 'test/fixtures/config-held.mjs')],
      { waitFor: null, env: { HOLD_DIR: hold } },
    );
    await waitFor('the master loading its config file', () => existsSync(join(hold, 'loading')));
    // Left to Node: USR1 starts its debugger on 127.0.0.1:9229; TTIN suspends a master started from a
    // shell, and is dropped here (the test's server leads its own session, an orphaned group).
    server.signal('SIGUSR1');
    server.signal('SIGTTIN');
    writeFileSync(join(hold, 'go'), '');
    const ready = await server.waitForEvent('master.ready', undefined, { timeoutMs: 20_000 });
    // Each is handled once the master runs, as if sent then: the logs reopened, one more worker.
    const reopened = await server.waitForEvent('logs.reopened');
    assert.equal(reopened.role, 'master');
    const first = (ready.workerPids as number[])[0];
    const second = await server.waitForEvent('worker.ready', (l) => l.pid !== first, { timeoutMs: 20_000 });
    assert.notEqual(second.pid, first);
    assert.doesNotMatch(server.stderrText, /debugger|inspector/i);
    assert.equal((await request(`${server.url}/`)).status, 200);
    await server.stop();
    const handled = server.events('signal.received').map((l) => l.signal);
    assert.deepEqual(handled.filter((s) => s !== 'term').sort(), ['ttin', 'usr1']);
    assert.equal(server.events('logs.reopened').length, 1);
  });
});

describe('log files', () => {
  test('USR1 when the log directory was removed: master and workers keep the files open before, log why, and serve on', async () => {
    const logs = join(dir, 'logs');
    const rotated = join(dir, 'logs.rotated');
    mkdirSync(logs);
    const errorLog = join(logs, 'error.log');
    const accessLog = join(logs, 'access.log');
    const server = await startServer(
      [fixture('pid.mjs'), '-w', '2', '--error-logfile', errorLog, '--access-logfile', accessLog],
      { waitFor: null },
    );
    const ready = await waitFor('master.ready in the error log', () =>
      logLines(errorLog).find((l) => l.event === 'master.ready'),
    );
    const workers = ready.workerPids as number[];
    await waitFor('every worker ready', () => {
      const lines = logLines(errorLog);
      return workers.every((pid) => lines.some((l) => l.event === 'worker.ready' && l.pid === pid));
    });
    const url = logLines(errorLog).find((l) => l.event === 'master.listening')!.url as string;
    assert.equal((await request(`${url}/`)).status, 200);

    // The directory goes away (moved, as a careless rotation would): the old descriptors still write
    // into the moved files, and nothing can be opened at the old paths.
    renameSync(logs, rotated);
    server.signal('SIGUSR1');
    const moved = join(rotated, 'error.log');
    const failed = await waitFor('logs.failed from the master and every worker', () => {
      const lines = logLines(moved).filter((l) => l.event === 'logs.failed');
      const master = lines.some((l) => l.role === 'master' && l.file === errorLog && l.during === 'reopen');
      const errorLogs = workers.every((pid) =>
        lines.some((l) => l.pid === pid && l.file === errorLog && l.during === 'reopen'),
      );
      const accessLogs = workers.every((pid) =>
        lines.some((l) => l.pid === pid && l.file === accessLog && l.during === 'reopen'),
      );
      return master && errorLogs && accessLogs ? lines : undefined;
    });
    assert.ok(failed.every((l) => l.level === 'error'));
    assert.ok(isAlive(server.pid), 'the master is alive');
    assert.equal(server.exited, false);
    for (const pid of workers) assert.ok(isAlive(pid), `worker ${pid} is alive`);
    const lines = logLines(moved);
    assert.equal(lines.filter((l) => l.event === 'worker.exited' || l.event === 'worker.uncaught').length, 0);
    assert.equal(lines.filter((l) => l.event === 'logs.reopened').length, 0, 'no reopen is claimed');

    // Serving and logging go on, into the files open before.
    const before = readFileSync(join(rotated, 'access.log'), 'utf8').split('\n').length;
    for (let i = 0; i < 4; i++) assert.equal((await request(`${url}/after-usr1-${i}`)).status, 200);
    await waitFor('access lines in the moved access log', () =>
      readFileSync(join(rotated, 'access.log'), 'utf8').includes('/after-usr1-'),
    );
    assert.ok(readFileSync(join(rotated, 'access.log'), 'utf8').split('\n').length > before);

    // Once the directory is back, the next USR1 reopens as usual.
    mkdirSync(logs);
    server.signal('SIGUSR1');
    await waitFor('logs.reopened in the new error log', () =>
      logLines(errorLog).find((l) => l.event === 'logs.reopened' && l.role === 'master'),
    );
    const stopping = Date.now();
    server.signal('SIGTERM');
    // Longer than the default --graceful-timeout (30 s): a stop that hangs ends with the master's
    // kill line naming what the worker still held, and the failure shows the log's last lines.
    const tail = () =>
      JSON.stringify(
        logLines(errorLog)
          .slice(-15)
          .map((l) => [l.role, l.pid, l.event, l.msg]),
        null,
        1,
      );
    const exit = await server.waitForExit(45_000).catch((err: Error) => {
      throw new Error(`${err.message}; the error log ends with: ${tail()}`);
    });
    assert.equal(exit.code, 0, `the error log ends with: ${tail()}`);
    const took = Date.now() - stopping;
    assert.ok(took < 20_000, `the stop took ${took} ms; the error log ends with: ${tail()}`);
  });

  for (const [flag, what] of [
    ['--access-logfile', 'access log'],
    ['--error-logfile', 'error log'],
  ] as const) {
    test(`${flag} that cannot be opened stops the start with exit 1 naming the path, before any worker`, async () => {
      const path = join(dir, 'no-such-dir', `${flag.slice(2)}.log`);
      const result = await runCli([
        fixture('pid.mjs'),
        flag,
        path,
        '-b',
        '127.0.0.1:0',
        '--log-format',
        'json',
      ]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, new RegExp(`cannot open ${what} ${path}: `));
      assert.match(result.stderr, /UNICORN_LOGFILE/);
      assert.equal(result.logs.filter((l) => l.event === 'worker.booting').length, 0);
    });
  }
});

describe('an app that calls process.exit() while it loads', () => {
  for (const [app, during] of [
    ['exit-at-import.mjs', 'its import'],
    ['exit-in-startup.mjs', 'startup()'],
  ] as const) {
    test(`in ${during}: an app load error, the master stops with exit 4 instead of respawning forever`, async () => {
      const result = await runCli([fixture(app), '-w', '2', '-b', '127.0.0.1:0', '--log-format', 'json'], {
        timeoutMs: 30_000,
      });
      assert.equal(result.code, 4, result.stderr.slice(-2000));
      const failed = result.logs.filter((l) => l.event === 'worker.boot_failed');
      assert.equal(failed.length, 1, 'one worker tried, once');
      assert.equal(failed[0]!.code, 'UNICORN_APP_EXIT');
      assert.equal(failed[0]!.msg, `Worker failed to boot: the app called process.exit(0) during ${during}`);
      const halt = result.logs.find((l) => l.event === 'master.halt');
      assert.ok(halt);
      assert.equal(halt.exitCode, 4);
      assert.equal(result.logs.filter((l) => l.event === 'worker.booting').length, 1);
    });
  }

  test('with --preload: the master says so and exits 4, not 0', async () => {
    const result = await runCli(
      [fixture('exit-at-import.mjs'), '--preload', '-b', '127.0.0.1:0', '--log-format', 'json'],
      { timeoutMs: 30_000 },
    );
    assert.equal(result.code, 4, result.stderr);
    const halt = result.logs.find((l) => l.event === 'master.halt');
    assert.ok(halt, result.stderr);
    assert.equal(halt.code, 'UNICORN_APP_EXIT');
    assert.equal(
      halt.msg,
      'App failed to load: the app called process.exit(0) during its import (--preload)',
    );
  });

  test('with --check-config: exit 1 and the reason on standard error', async () => {
    const result = await runCli([fixture('exit-at-import.mjs'), '--check-config'], { timeoutMs: 30_000 });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /the app called process\.exit\(0\) during its import\n {2}\[UNICORN_APP_EXIT\]/,
    );
  });
});

describe('a unix socket path over the limit', () => {
  test('is a config error naming the path and the limit, and no file is created', async () => {
    const sockDir = join(dir, 'long');
    mkdirSync(sockDir);
    const path = join(sockDir, `${'s'.repeat(130 - sockDir.length)}.sock`);
    const bytes = Buffer.byteLength(path);
    const result = await runCli([fixture('pid.mjs'), '-b', `unix:${path}`, '--log-format', 'json']);
    assert.equal(result.code, 1, result.stderr);
    const halt = result.logs.find((l) => l.event === 'master.halt');
    assert.ok(halt, result.stderr);
    assert.equal(
      halt.msg,
      `Cannot start: cannot bind unix:${path}: the path is ${bytes} bytes, over the limit of 107 bytes for a unix socket path on linux`,
    );
    assert.deepEqual(readdirSync(sockDir), [], 'no stray socket file');
    assert.equal(result.logs.filter((l) => l.event === 'worker.booting').length, 0);

    // Nothing blocks a start at a path that fits.
    const short = join(sockDir, 'ok.sock');
    const server = await startServer([fixture('pid.mjs'), '-w', '1', '-b', `unix:${short}`], { bind: false });
    assert.match(await unixGet(short), /^\d+$/);
    server.signal('SIGTERM');
    assert.equal((await server.waitForExit()).code, 0);
    assert.deepEqual(readdirSync(sockDir), []);
  });
});

describe('a worker out of file descriptors', () => {
  test("its heartbeat trouble is logged as the worker's own (warn, worker.heartbeat_failed), never as an app error", async () => {
    const server = await startServer([fixture('fd-hog.mjs'), '-w', '1', '--timeout', '30'], {
      command: ['prlimit', '--nofile=128', process.execPath],
    });
    const [worker] = server.liveWorkerPids();
    const hog = await request(`${server.url}/hog?ms=4000`);
    assert.equal(hog.status, 200);
    assert.match(hog.body, /^\d+ EMFILE$/, 'the app ran the worker out of descriptors');
    const trouble = await server.waitForEvent('worker.heartbeat_failed', (l) => l.pid === worker);
    assert.equal(trouble.level, 'warn');
    assert.equal(trouble.errorCode, 'EMFILE');
    assert.match(String(trouble.msg), /cannot measure its memory: .*out of file descriptors/);

    // Once the app lets go, the same worker serves on; nothing was blamed on the app.
    const after = await waitFor('the worker serving again', async () => {
      const reply = await request(`${server.url}/`).catch(() => null);
      return reply?.status === 200 ? reply : null;
    });
    assert.equal(after.body, String(worker));
    for (const event of ['worker.uncaught', 'request.error', 'worker.exited', 'worker.exiting']) {
      assert.deepEqual(server.events(event), [], `no ${event}`);
    }
  });
});

/** Sets the soft and hard RLIMIT_NOFILE of a running process (util-linux prlimit). */
function setNofile(pid: number, soft: number | string, hard: number | string): void {
  execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${soft}:${hard}`], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** The soft and hard RLIMIT_NOFILE of a running process, as /proc shows them. */
function nofile(pid: number): [string, string] {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const [, soft, hard] = /^Max open files\s+(\S+)\s+(\S+)/.exec(line ?? '') ?? [];
  assert.ok(soft && hard, `no open-files limit for ${pid}`);
  return [soft, hard];
}

describe('a master that cannot fork', () => {
  test('out of file descriptors: logs worker.spawn_failed with EMFILE, serves on, backs off, and replaces the worker once it can', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '2']);
    const [first, second] = server.liveWorkerPids();
    const [soft, hard] = nofile(server.pid);
    // No new descriptor for the master: the next fork cannot make its IPC channel or pipes.
    setNofile(server.pid, 3, hard);
    try {
      process.kill(first!, 'SIGKILL');
      const failed = await server.waitForEvent('worker.spawn_failed', () => true, { level: 'error' });
      assert.equal(failed.level, 'error');
      assert.equal(failed.errorCode, 'EMFILE');
      assert.match(
        String(failed.msg),
        new RegExp(
          `^Cannot start a worker: .*EMFILE: out of processes or file descriptors .*; next try in ${failed.delayMs} ms$`,
        ),
      );
      // It tries again, later each time (the worker killed just after boot counts as a crash in a
      // row too), and the worker it still has serves meanwhile.
      const failures = failed.failures as number;
      const again = await server.waitForEvent('worker.spawn_failed', (l) => l.failures === failures + 1, {
        level: 'error',
      });
      assert.equal(again.delayMs, 2 * (failed.delayMs as number));
      assert.equal((await request(`${server.url}/`)).body, String(second));
      assert.ok(isAlive(server.pid), 'the master is up');
    } finally {
      // (A master that crashed has no limit to restore: the failure above says why it is gone.)
      if (isAlive(server.pid)) setNofile(server.pid, soft, hard);
    }
    const booted = await server.waitForEvent('worker.ready', (l) => l.pid !== first && l.pid !== second);
    const pids = await waitFor('two workers serving', () => {
      const live = server.liveWorkerPids();
      return live.length === 2 ? live : null;
    });
    assert.ok(pids.includes(second!) && pids.includes(booted.pid as number), pids.join(' '));
    assert.deepEqual(
      server.events('worker.booting').filter((l) => l.workerPid === undefined),
      [],
    );
    server.signal('SIGTERM');
    assert.equal((await server.waitForExit()).code, 0);
  });
});

/** libfaketime, which moves a process's wall clock (and only it) while the process runs. */
const LIBFAKETIME = ['x86_64-linux-gnu', 'aarch64-linux-gnu', '.']
  .map((arch) => join('/usr/lib', arch, 'faketime', 'libfaketime.so.1'))
  .find((path) => existsSync(path));

describe('a wall clock stepped forward', () => {
  test('past --timeout (NTP, a resumed VM): no worker is taken for silent, and /healthz stays 200', {
    skip: LIBFAKETIME === undefined ? 'libfaketime not installed: apt-get install faketime' : false,
  }, async () => {
    const clock = join(dir, 'faketime');
    writeFileSync(clock, '+0\n');
    const server = await startServer(
      [fixture('pid.mjs'), '-w', '2', '--timeout', '5', '--metrics-bind', '127.0.0.1:0'],
      {
        env: {
          LD_PRELOAD: LIBFAKETIME,
          FAKETIME_TIMESTAMP_FILE: clock,
          FAKETIME_NO_CACHE: '1',
          // The monotonic clock runs on: only the wall clock steps, as under NTP.
          FAKETIME_DONT_FAKE_MONOTONIC: '1',
        },
      },
    );
    const metrics = server.events('metrics.listening').find((l) => typeof l.url === 'string')?.url;
    assert.ok(typeof metrics === 'string');
    const workers = server.liveWorkerPids();
    // Ten minutes ahead, for the master and its workers alike.
    writeFileSync(clock, '+600\n');
    // One more worker: by the time it is ready the master has gone round its loop (and checked
    // every worker's heartbeat against --timeout) after the step.
    server.signal('SIGTTIN');
    const third = await server.waitForEvent('worker.ready', (l) => !workers.includes(l.pid as number));
    assert.equal((await request(`${metrics}/healthz`)).status, 200);
    for (const event of ['worker.timeout', 'worker.exited', 'worker.killed']) {
      assert.deepEqual(server.events(event), [], `no ${event}`);
    }
    assert.deepEqual(
      server.liveWorkerPids().sort(),
      [...workers, third.pid as number].sort(),
      'the workers from before the step still serve',
    );
    server.signal('SIGTERM');
    assert.equal((await server.waitForExit()).code, 0);
  });
});

describe('a stop signal sent to a worker, not to the master', () => {
  test('TERM and INT: the worker stops, the master replaces it at warn level, no crash is counted, no error line', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '2']);
    const [first, second] = server.liveWorkerPids();
    for (const [pid, signal] of [
      [first!, 'SIGTERM'],
      [second!, 'SIGINT'],
    ] as const) {
      process.kill(pid, signal);
      const exited = await server.waitForEvent('worker.exited', (l) => l.workerPid === pid, {
        level: 'warning',
      });
      assert.equal(exited.level, 'warn');
      assert.equal(
        exited.msg,
        `Worker (pid: ${pid}) exited on ${signal} sent to it from outside the master; replaced`,
      );
      assert.equal(exited.code, 0);
    }
    const pids = await waitFor('two new workers serving', () => {
      const live = server.liveWorkerPids();
      return live.length === 2 && !live.includes(first!) && !live.includes(second!) ? live : null;
    });
    await server.waitForEvent('worker.ready', (l) => l.pid === pids[0]);
    await server.waitForEvent('worker.ready', (l) => l.pid === pids[1]);
    assert.deepEqual(server.events('worker.backoff'), [], 'not counted as crashes');
    assert.deepEqual(errorLines(server), []);
    server.signal('SIGTERM');
    assert.equal((await server.waitForExit()).code, 0);
  });

  test('INT to the whole process group (Ctrl-C in a terminal): a quick stop with no error line', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '2']);
    process.kill(-server.pid, 'SIGINT');
    assert.equal((await server.waitForExit()).code, 0);
    assert.deepEqual(errorLines(server), []);
  });
});

describe('a worker stopped with SIGSTOP', () => {
  test('is killed at --timeout and replaced; the master survives the probe pipe reset by the kill', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '1', '--timeout', '2']);
    const [stopped] = server.liveWorkerPids();
    // Stopped, every thread of it: the probe thread cannot read the master's question either.
    process.kill(stopped!, 'SIGSTOP');
    try {
      const timeout = await server.waitForEvent('worker.timeout', (l) => l.workerPid === stopped, {
        level: 'critical',
      });
      assert.match(String(timeout.msg), /no stack: no answer within \d+ ms/);
      await server.waitForEvent('worker.exited', (l) => l.workerPid === stopped, { level: 'error' });
      const next = await server.waitForEvent('worker.ready', (l) => l.pid !== stopped);
      assert.equal((await request(`${server.url}/`)).body, String(next.pid));
      assert.ok(isAlive(server.pid), 'the master is up');
    } finally {
      if (isAlive(stopped!)) process.kill(stopped!, 'SIGKILL');
    }
    server.signal('SIGTERM');
    assert.equal((await server.waitForExit()).code, 0);
  });
});
