import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { StatusResult } from '../../src/control-protocol.js';
import { request } from '../helpers/http.js';
import { killGroup } from '../helpers/processes.js';
import { expectQuietRollback } from '../helpers/rollback.js';
import { fixture, ROOT, runCli, type StartOptions, startServer, stopAll } from '../helpers/server.js';
import { isAlive, waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'unicorn-control-'));
// Other users reach the sockets in here only through the sockets' own mode (the permission test).
chmodSync(dir, 0o755);
after(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Runs `unicorn-ts <args>` (a control command) to completion. */
function control(args: string[], opts: StartOptions = {}) {
  return runCli(args, { timeoutMs: 90_000, ...opts });
}

async function statusOf(pidfile: string): Promise<StatusResult> {
  const result = await control(['status', '--pid', pidfile, '--json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as StatusResult;
}

/** The master's child processes, from the kernel's own record. */
function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .sort((a, b) => a - b);
}

const sorted = (pids: number[]) => [...pids].sort((a, b) => a - b);

/** Exited, or a zombie its parent has yet to reap: either way no longer running. */
function isGone(pid: number): boolean {
  if (!isAlive(pid)) return true;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
}

/** Whichever of setpriv and runuser exists, to run a command as `nobody`. */
function asNobody(): string[] {
  for (const [tool, ...args] of [
    ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'],
    ['runuser', '-u', 'nobody', '--'],
  ] as const) {
    try {
      execFileSync('which', [tool], { stdio: 'ignore' });
      return [tool, ...args];
    } catch {
      // Not installed: try the next.
    }
  }
  throw new Error('neither setpriv nor runuser is installed');
}

describe('unicorn-ts status', () => {
  test('prints the master and a row per worker; --json carries the same, pids as in the process tree', async () => {
    const pidfile = join(dir, 'status.pid');
    const server = await startServer([fixture('pid.mjs'), '-w', '2', '-p', pidfile]);
    const socket = join(dir, 'status.ctl');
    assert.equal(lstatSync(socket).mode & 0o777, 0o600, 'the socket is mode 0600');
    assert.equal(server.events('control.listening')[0]?.path, socket);

    // Each answer names the worker that served it: the counts status reports are known.
    const served = new Map<number, number>();
    for (let i = 0; i < 6; i++) {
      const pid = Number((await request(`${server.url}/`)).body);
      served.set(pid, (served.get(pid) ?? 0) + 1);
    }
    const status = await waitFor('every request counted in status', async () => {
      const s = await statusOf(pidfile);
      return s.workers.reduce((n, w) => n + w.requests, 0) === 6 ? s : null;
    });

    const pids = sorted(status.workers.map((w) => w.pid));
    assert.deepEqual(pids, childrenOf(server.pid), 'the workers are the master’s children');
    assert.deepEqual(pids, sorted(server.liveWorkerPids()));
    assert.equal(status.master.pid, server.pid);
    assert.equal(status.master.version, VERSION);
    assert.equal(status.master.protocol, 1);
    assert.equal(status.master.state, 'running');
    assert.deepEqual(status.master.workers, { desired: 2, ready: 2, spare: 0 });
    assert.deepEqual(status.master.reloads, { done: 0, failed: 0 });
    assert.equal(status.master.controlSocket, socket);
    assert.deepEqual(status.master.listening, [server.url]);
    for (const worker of status.workers) {
      assert.equal(worker.requests, served.get(worker.pid) ?? 0, `requests served by ${worker.pid}`);
      assert.equal(worker.inflight, 0);
      assert.equal(worker.state, 'ready');
      assert.equal(worker.startReason, 'boot');
      assert.ok(worker.rss > 10 * 1048576, `rss of ${worker.pid}: ${worker.rss}`);
      const booted = server.events('worker.booting').find((l) => l.workerPid === worker.pid);
      assert.equal(worker.id, booted?.age, 'the id is the age in the logs');
    }

    const table = await control(['status', '--pid', pidfile]);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(
      lines[0]!,
      new RegExp(`^master  pid ${server.pid}  unicorn-ts ${VERSION}  up \\d+s  running$`),
    );
    assert.match(table.stdout, /^workers 2 desired, 2 ready, 0 spare; {2}reloads 0 done, 0 failed$/m);
    assert.match(table.stdout, /^PID +ID +STATE +UPTIME +REQUESTS +IN FLIGHT +RSS +STARTED FOR$/m);
    for (const worker of status.workers) {
      const row = lines.find((l) => l.startsWith(`${worker.pid} `));
      assert.ok(row, `a row for ${worker.pid}:\n${table.stdout}`);
      const cells = row.split(/ {2,}/);
      assert.deepEqual(
        [cells[0], cells[1], cells[2], cells[4], cells[5], cells[7]],
        [String(worker.pid), String(worker.id), 'ready', String(served.get(worker.pid) ?? 0), '0', 'boot'],
      );
      assert.match(cells[6]!, /^\d+\.\d MiB$/);
    }
  });

  test('without --pid or --control-socket: the one master in the default directory', async () => {
    const runtime = join(dir, 'xdg');
    mkdirSync(runtime, { mode: 0o700 });
    const env = { XDG_RUNTIME_DIR: runtime };
    // A socket left by a master killed with -9 (its process is gone, nobody answers on it).
    mkdirSync(join(runtime, 'unicorn-ts'), { mode: 0o700 });
    const stale = join(runtime, 'unicorn-ts', '4194304.ctl');
    spawnSync(process.execPath, [
      '-e',
      "require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))",
      stale,
    ]);
    assert.ok(lstatSync(stale).isSocket());
    const server = await startServer([fixture('pid.mjs'), '-w', '1'], { env });
    await waitFor('the stale socket to be swept away', () => !existsSync(stale));
    assert.equal(
      server.events('control.listening')[0]?.path,
      join(runtime, 'unicorn-ts', `${server.pid}.ctl`),
    );
    const result = await control(['status', '--json'], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as StatusResult).master.pid, server.pid);

    server.signal('SIGTERM');
    assert.equal((await server.waitForExit()).code, 0);
    assert.equal(existsSync(join(runtime, 'unicorn-ts', `${server.pid}.ctl`)), false, 'removed at exit');
    const none = await control(['status'], { env });
    assert.equal(none.code, 1);
    assert.match(
      none.stderr,
      /no running master answers in .*; name one with --pid FILE or --control-socket PATH/,
    );
  });

  test('an app file named like a command still runs as ./status, and APP:handler forms are untouched', async () => {
    const appDir = join(dir, 'named');
    mkdirSync(appDir);
    writeFileSync(join(appDir, 'status'), "export default () => new Response('app named status');\n");
    writeFileSync(join(appDir, 'package.json'), '{"type":"module"}\n');
    const server = await startServer(['./status', '-w', '1'], { cwd: appDir });
    assert.equal((await request(`${server.url}/`)).body, 'app named status');
    const check = await control(['status:handler', '--check-config'], { cwd: appDir });
    assert.notEqual(check.code, 0);
    assert.doesNotMatch(check.stderr, /control socket|UNICORN_CONTROL/, 'status:handler is an APP_MODULE');
  });
});

describe('finding the master', () => {
  test('through the config file (-c) and UNICORN_TS_CMD_ARGS, as the server; `none` turns the socket off', async () => {
    const config = join(dir, 'found.config.mjs');
    const pidfile = join(dir, 'found.pid');
    writeFileSync(config, `export default { pidfile: ${JSON.stringify(pidfile)}, workers: 1 };\n`);
    const server = await startServer(['-c', config, fixture('pid.mjs')]);
    const viaConfig = await control(['status', '-c', config, '--json']);
    assert.equal(viaConfig.code, 0, viaConfig.stderr);
    assert.equal((JSON.parse(viaConfig.stdout) as StatusResult).master.pid, server.pid);
    const viaEnv = await control(['status', '--json'], { env: { UNICORN_TS_CMD_ARGS: `--pid ${pidfile}` } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.equal((JSON.parse(viaEnv.stdout) as StatusResult).master.pid, server.pid);

    const offPid = join(dir, 'off.pid');
    const off = await startServer([fixture('pid.mjs'), '-w', '1', '-p', offPid, '--control-socket', 'none']);
    assert.equal(off.events('control.listening').length, 0);
    assert.equal(existsSync(join(dir, 'off.ctl')), false);
    const refused = await control(['status', '--control-socket', 'none']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /the control socket is turned off \(--control-socket none\)/);
  });

  test('--timeout: a command gives up, exit 1, when what it waits for does not come', async () => {
    const pidfile = join(dir, 'never.pid');
    // startup() never finishes: no worker ever becomes ready.
    await startServer([fixture('slow-boot.mjs'), '-w', '1', '-p', pidfile], { waitFor: 'control.listening' });
    const started = Date.now();
    const result = await control(['scale', '2', '--timeout', '2', '--pid', pidfile]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^unicorn-ts: error: gave up after --timeout 2 s waiting for 2 worker\(s\) to be ready$/m,
    );
    assert.ok(Date.now() - started < 30_000);
  });
});

describe('unicorn-ts reload', () => {
  test('returns once the new workers are ready: new pids, exit 0', async () => {
    const pidfile = join(dir, 'reload.pid');
    const server = await startServer([fixture('pid.mjs'), '-w', '2', '-p', pidfile]);
    const before = sorted(server.liveWorkerPids());
    const result = await control(['reload', '--pid', pidfile]);
    assert.equal(result.code, 0, result.stderr);
    // When the command returns, the reload is over: the new workers serve, the old ones are gone.
    const status = await statusOf(pidfile);
    const after_ = sorted(status.workers.map((w) => w.pid));
    assert.equal(after_.length, 2);
    for (const pid of after_) assert.ok(!before.includes(pid), `worker ${pid} is new`);
    for (const pid of before) assert.ok(isGone(pid), `old worker ${pid} has exited`);
    assert.deepEqual(after_, childrenOf(server.pid));
    assert.ok(status.workers.every((w) => w.state === 'ready' && w.startReason === 'reload'));
    assert.deepEqual(status.master.reloads, { done: 1, failed: 0 });
    assert.equal(result.stdout, `Reloaded: 2 worker(s) ready (pids ${after_.join(', ')})\n`);
    assert.ok(server.events('reload.done').length === 1, 'the master logged reload.done');
  });

  test('a reload that is rolled back exits 2 and says why; the old workers serve on', async () => {
    const app = join(dir, 'rollback-app.mjs');
    writeFileSync(app, "export default () => new Response('v1 ' + process.pid);\n");
    const pidfile = join(dir, 'rollback.pid');
    const server = await startServer([app, '-w', '1', '-p', pidfile]);
    const before = server.liveWorkerPids();
    writeFileSync(app, "throw new Error('broken deploy');\n");
    const mark = server.logs.length;
    const result = await control(['reload', '--pid', pidfile]);
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(result.stderr, /^unicorn-ts: reload failed, the old workers serve on: .*broken deploy/);
    await expectQuietRollback(server, mark);
    const status = await statusOf(pidfile);
    assert.deepEqual(
      status.workers.map((w) => w.pid),
      before,
    );
    assert.deepEqual(status.master.reloads, { done: 0, failed: 1 });
    assert.equal((await request(`${server.url}/`)).body, `v1 ${before[0]}`);
  });
});

describe('unicorn-ts scale', () => {
  test('scale 3 returns with three ready workers, scale 1 with one', async () => {
    const pidfile = join(dir, 'scale.pid');
    const server = await startServer([fixture('pid.mjs'), '-w', '1', '-p', pidfile]);
    const up = await control(['scale', '3', '--pid', pidfile]);
    assert.equal(up.code, 0, up.stderr);
    let status = await statusOf(pidfile);
    assert.deepEqual(status.master.workers, { desired: 3, ready: 3, spare: 0 });
    assert.equal(status.workers.length, 3);
    assert.deepEqual(sorted(status.workers.map((w) => w.pid)), childrenOf(server.pid));
    assert.deepEqual(
      status.workers.map((w) => w.startReason),
      ['boot', 'scale', 'scale'],
    );

    const down = await control(['scale', '1', '--pid', pidfile]);
    assert.equal(down.code, 0, down.stderr);
    status = await statusOf(pidfile);
    assert.deepEqual(status.master.workers, { desired: 1, ready: 1, spare: 0 });
    assert.equal(status.workers.length, 1);
    // The command returned only once the two that went had exited.
    assert.deepEqual(childrenOf(server.pid), [status.workers[0]!.pid]);
    assert.match(
      down.stdout,
      new RegExp(`^Scaled to 1 worker\\(s\\) \\(pids ${status.workers[0]!.pid}\\)\\n$`),
    );

    const bad = await control(['scale', 'many', '--pid', pidfile]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid value for N: "many"/);
  });
});

describe('unicorn-ts reopen-logs', () => {
  test('a log file moved away (logrotate) is reopened: new lines go to a new file at the path', async () => {
    const pidfile = join(dir, 'logs.pid');
    const access = join(dir, 'access.log');
    const server = await startServer([
      fixture('pid.mjs'),
      '-w',
      '1',
      '-p',
      pidfile,
      '--access-logfile',
      access,
    ]);
    await request(`${server.url}/before`);
    await waitFor('the first access line', () => readFileSync(access, 'utf8').includes('/before'));
    renameSync(access, `${access}.1`);
    const result = await control(['reopen-logs', '--pid', pidfile]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `Reopened the logs (master pid ${server.pid})\n`);
    assert.equal(server.events('logs.reopened').length, 1, 'the master reopened its own logs');
    await request(`${server.url}/after`);
    await waitFor(
      'the access line in the new file',
      () => existsSync(access) && readFileSync(access, 'utf8').includes('/after'),
    );
    assert.doesNotMatch(readFileSync(`${access}.1`, 'utf8'), /\/after/);
  });
});

describe('unicorn-ts stop', () => {
  test('stop returns once the master has exited after a graceful stop; the socket is removed', async () => {
    const pidfile = join(dir, 'stop.pid');
    const server = await startServer([fixture('pid.mjs'), '-w', '2', '-p', pidfile]);
    const workers = server.liveWorkerPids();
    const result = await control(['stop', '--pid', pidfile]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(isGone(server.pid), 'the master has exited when stop returns');
    for (const pid of workers) assert.ok(isGone(pid), `worker ${pid} has exited`);
    assert.equal(result.stdout, `Stopped (master pid ${server.pid})\n`);
    assert.equal((await server.waitForExit()).code, 0);
    assert.equal(server.events('master.stopping')[0]?.graceful, true);
    assert.equal(existsSync(join(dir, 'stop.ctl')), false);
  });

  test('stop --quick stops quickly (QUIT): a request in flight does not hold it for --graceful-timeout', async () => {
    const pidfile = join(dir, 'quick.pid');
    const server = await startServer([
      fixture('drain-cases.mjs'),
      '-w',
      '1',
      '-p',
      pidfile,
      '--graceful-timeout',
      '120',
    ]);
    const slow = request(`${server.url}/slow?ms=100000`).catch((err: Error) => err);
    await waitFor('the request in flight', async () => (await statusOf(pidfile)).workers[0]?.inflight === 1);
    const started = Date.now();
    const result = await control(['stop', '--quick', '--pid', pidfile]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(isGone(server.pid), 'the master has exited when stop returns');
    assert.equal(server.events('master.stopping')[0]?.graceful, false);
    // A graceful stop would wait for the request, up to --graceful-timeout (120 s).
    assert.ok(Date.now() - started < 60_000, `stopped in ${Date.now() - started} ms`);
    assert.ok((await slow) instanceof Error, 'the request in flight was cut');
  });
});

describe('after a USR2 upgrade', () => {
  test('the new master takes the socket over, and keeps it when the old master exits', async () => {
    const pidfile = join(dir, 'usr2.pid');
    const old = await startServer([fixture('pid.mjs'), '-w', '1', '-p', pidfile]);
    const mark = old.logs.length;
    old.signal('SIGUSR2');
    const reexec = await old.waitForEvent('master.reexec', (l) => l.pid === old.pid, { after: mark });
    const newPid = reexec.newMasterPid as number;
    await old.waitForEvent('master.ready', (l) => l.pid === newPid, { after: mark });

    let status = await statusOf(pidfile);
    assert.equal(status.master.pid, newPid, 'the socket answers for the new master');
    old.signal('SIGTERM');
    assert.equal((await old.waitForExit()).code, 0);
    // The old master must not have removed the new master's socket on its way out.
    status = await statusOf(pidfile);
    assert.equal(status.master.pid, newPid);
    assert.deepEqual(sorted(status.workers.map((w) => w.pid)), childrenOf(newPid));

    const stop = await control(['stop', '--pid', pidfile]);
    assert.equal(stop.code, 0, stop.stderr);
    await waitFor('the new master to exit', () => isGone(newPid));
    assert.equal(existsSync(join(dir, 'usr2.ctl')), false);
    killGroup(old.pid);
  });
});

describe('after a USR2 upgrade that fails', () => {
  test('the new master took the socket over and died: the old master takes the path back', async () => {
    const pidfile = join(dir, 'usr2-failed.pid');
    const config = join(dir, 'usr2-failed.config.mjs');
    writeFileSync(config, 'export default { workers: 1 };\n');
    const old = await startServer(['-c', config, fixture('pid.mjs'), '-p', pidfile]);
    // The new master loads this config: it has taken the socket over by the time its workers are
    // ready, and is then killed (as the OOM killer would) with the socket file left behind.
    writeFileSync(
      config,
      "export default { workers: 1, whenReady() { process.kill(process.pid, 'SIGKILL'); } };\n",
    );
    const mark = old.logs.length;
    old.signal('SIGUSR2');
    await old.waitForEvent(
      'master.reexec',
      (l) => l.pid === old.pid && l.level === 'error' && l.signal === 'SIGKILL',
      { after: mark },
    );
    const taken = old.logs.slice(mark).find((l) => l.event === 'control.listening' && l.pid !== old.pid);
    assert.ok(taken, 'the new master had the control socket');
    await old.waitForEvent('control.listening', (l) => l.pid === old.pid, { after: mark });
    assert.equal(
      (await statusOf(pidfile)).master.pid,
      old.pid,
      'the socket answers for the old master again',
    );
  });
});

describe('permissions', () => {
  test('another user is refused: the socket is 0600, and connect() needs write permission on it', async () => {
    const pidfile = join(dir, 'perm.pid');
    const server = await startServer([fixture('pid.mjs'), '-w', '1', '-p', pidfile]);
    const socket = join(dir, 'perm.ctl');
    assert.equal(lstatSync(socket).mode & 0o777, 0o600);
    const other = await control(['status', '--pid', pidfile], { command: [...asNobody(), process.execPath] });
    assert.equal(other.code, 1, other.stdout);
    assert.match(
      other.stderr,
      new RegExp(
        `cannot reach the master at ${socket}: permission denied: only the socket's owner \\(uid 0\\) and root`,
      ),
    );
    assert.equal(other.stdout, '');
    const stopped = await control(['stop', '--pid', pidfile], { command: [...asNobody(), process.execPath] });
    assert.equal(stopped.code, 1);
    assert.ok(isAlive(server.pid), 'nobody could not stop it');
    assert.equal(server.events('control.command').length, 0);
    assert.equal((await statusOf(pidfile)).master.pid, server.pid, 'its owner still can');
  });
});

describe('a master that does not answer', () => {
  test('stopped with SIGSTOP: commands say so within seconds instead of waiting out --timeout, and send nothing more', async () => {
    const runtime = join(dir, 'xdg-stopped');
    mkdirSync(runtime, { mode: 0o700 });
    const env = { XDG_RUNTIME_DIR: runtime };
    const server = await startServer([fixture('pid.mjs'), '-w', '1'], { env });
    const socket = String(server.events('control.listening')[0]?.path);
    process.kill(server.pid, 'SIGSTOP');
    try {
      for (const args of [
        ['status', '--control-socket', socket],
        ['reload', '--control-socket', socket],
      ]) {
        const started = Date.now();
        const result = await control(args);
        assert.equal(result.code, 1, result.stderr);
        assert.match(
          result.stderr,
          /the master at .*\.ctl does not answer \(nothing within 10 s\): it is stopped \(SIGSTOP\), or its event loop is blocked/,
        );
        assert.ok(Date.now() - started < 30_000, `${args[0]} took ${Date.now() - started} ms`);
      }
      // Found by looking in the default directory: the stopped master is named, not waited for.
      const searched = await control(['status'], { env });
      assert.equal(searched.code, 1);
      assert.match(
        searched.stderr,
        new RegExp(
          `no running master answers in .* \\(${server.pid}\\.ctl accepted the connection but did not answer`,
        ),
      );
    } finally {
      process.kill(server.pid, 'SIGCONT');
    }
    // Resumed, it answers; the reload the client gave up on was never sent.
    const resumed = await control(['status', '--control-socket', socket, '--json']);
    assert.equal((JSON.parse(resumed.stdout) as StatusResult).master.pid, server.pid);
    assert.deepEqual(server.events('reload.started'), []);
    assert.deepEqual(
      server.events('control.command').map((l) => l.cmd),
      [],
    );
  });
});

describe('a stale or planted socket file', () => {
  test('a master killed with -9 leaves its socket: status says so, and the next start replaces it', async () => {
    const pidfile = join(dir, 'stale.pid');
    const first = await startServer([fixture('pid.mjs'), '-w', '1', '-p', pidfile]);
    killGroup(first.pid);
    await first.waitForExit();
    const socket = join(dir, 'stale.ctl');
    assert.ok(lstatSync(socket).isSocket(), 'the killed master left its socket');
    const dead = await control(['status', '--pid', pidfile]);
    assert.equal(dead.code, 1);
    assert.match(dead.stderr, /nobody answers on it: the master that created it is gone/);

    const second = await startServer([fixture('pid.mjs'), '-w', '1', '-p', pidfile]);
    assert.equal((await statusOf(pidfile)).master.pid, second.pid);
  });

  test('a symbolic link at --control-socket is refused, and what it points to is left alone', async () => {
    const target = join(dir, 'precious.txt');
    writeFileSync(target, 'keep me\n');
    const link = join(dir, 'link.ctl');
    symlinkSync(target, link);
    const result = await runCli([
      fixture('pid.mjs'),
      '--control-socket',
      link,
      '-b',
      '127.0.0.1:0',
      '--log-format',
      'json',
    ]);
    assert.equal(result.code, 1);
    const halt = result.logs.find((l) => l.event === 'master.halt');
    assert.match(
      String(halt?.msg),
      /refusing control socket .*link\.ctl: it is a symbolic link \(to .*precious\.txt\)/,
    );
    assert.equal(result.logs.filter((l) => l.event === 'worker.booting').length, 0);
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readFileSync(target, 'utf8'), 'keep me\n');
  });

  test('a symbolic link beside the pidfile (the default place) is left alone: the server runs without a control socket', async () => {
    const target = join(dir, 'precious2.txt');
    writeFileSync(target, 'keep me\n');
    const link = join(dir, 'planted.ctl');
    symlinkSync(target, link);
    const server = await startServer([fixture('pid.mjs'), '-w', '1', '-p', join(dir, 'planted.pid')]);
    const warning = server.events('control.failed')[0];
    assert.match(
      String(warning?.msg),
      /No control socket: refusing control socket .*planted\.ctl: it is a symbolic link/,
    );
    assert.equal(warning?.level, 'warn');
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readFileSync(target, 'utf8'), 'keep me\n');
    assert.equal((await request(`${server.url}/`)).status, 200);
  });

  test('a control socket another running master answers on is not taken over', async () => {
    const socket = join(dir, 'shared.ctl');
    const first = await startServer([fixture('pid.mjs'), '-w', '1', '--control-socket', socket]);
    const result = await runCli([
      fixture('pid.mjs'),
      '--control-socket',
      socket,
      '-b',
      '127.0.0.1:0',
      '--log-format',
      'json',
    ]);
    assert.equal(result.code, 1);
    const halt = result.logs.find((l) => l.event === 'master.halt');
    assert.match(
      String(halt?.msg),
      new RegExp(`control socket ${socket} is in use by a running master \\(pid ${first.pid}\\)`),
    );
    const status = await control(['status', '--control-socket', socket, '--json']);
    assert.equal((JSON.parse(status.stdout) as StatusResult).master.pid, first.pid);
  });
});
