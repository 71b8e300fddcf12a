/**
 * Sockets the master does not bind itself: systemd socket activation (through Debian's
 * systemd-socket-activate, which needs no running systemd), `-b fd://N`, and sockets handed over in
 * UNICORN_TS_FDS. The listening socket is always created outside unicorn-ts and passed as fd 3.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request, unixGet } from '../helpers/http.js';
import { killGroup, track } from '../helpers/processes.js';
import { CLI, fixture, type LogLine, ROOT } from '../helpers/server.js';
import { isAlive, waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'unicorn-activation-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** systemd-socket-activate on PATH (or in /usr/bin), or null. */
function findActivator(): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/bin'];
  for (const d of dirs) {
    const candidate = join(d, 'systemd-socket-activate');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return null;
}
const ACTIVATOR = findActivator();
const NO_ACTIVATOR =
  ACTIVATOR === null &&
  'systemd-socket-activate is not installed (Debian/Ubuntu: apt-get install systemd); CI installs it';

/** A process started by a test: its JSON log lines from stderr, in its own process group. */
class Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logs: LogLine[] = [];
  stderr = '';
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #pending = '';

  constructor(command: string, args: string[], opts: { env?: Record<string, string>; fds?: number[] } = {}) {
    const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', ...opts.env };
    for (const name of ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES']) delete env[name];
    if (opts.env?.UNICORN_TS_FDS === undefined) delete env.UNICORN_TS_FDS;
    this.child = spawn(command, args, {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'ignore', 'pipe', ...(opts.fds ?? [])],
      detached: true,
    });
    track(this.child);
    this.pid = this.child.pid!;
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      const lines = (this.#pending + chunk).split('\n');
      this.#pending = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          // Not a log line.
        }
      }
    });
    this.exit = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  events(name: string): LogLine[] {
    return this.logs.filter((l) => l.event === name);
  }

  waitForEvent(name: string, predicate: (l: LogLine) => boolean = () => true): Promise<LogLine> {
    return waitFor(
      name,
      () => {
        const found = this.logs.find((l) => l.event === name && predicate(l));
        if (found === undefined && this.exited) {
          throw new Error(`exited before logging ${name}\n${this.stderr.slice(-3000)}`);
        }
        return found;
      },
      { timeoutMs: 60_000, intervalMs: 20 },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${this.stderr.slice(-3000)}`);
    });
  }

  /** Pids of workers that logged worker.ready and were not reaped since. */
  liveWorkerPids(): number[] {
    const exited = new Set(this.events('worker.exited').map((l) => l.workerPid as number));
    return this.events('worker.ready')
      .map((l) => l.pid as number)
      .filter((p) => !exited.has(p));
  }

  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.exited) process.kill(this.pid, 'SIGTERM');
    const result = await Promise.race([
      this.exit,
      new Promise<null>((done) => setTimeout(() => done(null), 20_000)),
    ]);
    killGroup(this.pid);
    if (result === null) throw new Error(`did not stop\n${this.stderr.slice(-3000)}`);
    return result;
  }
}

const procs: Proc[] = [];
// Required, not best effort: stop() kills the group whatever happens, then fails if a master did
// not stop on TERM, which is a defect worth seeing even after the test's own assertions passed.
after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
});

/** The unicorn-ts CLI with `fds` as its fds 3, 4... */
function startCli(args: string[], opts: { env?: Record<string, string>; fds?: number[] } = {}): Proc {
  const proc = new Proc(process.execPath, [CLI, fixture('pid.mjs'), '--log-format', 'json', ...args], opts);
  procs.push(proc);
  return proc;
}

/** A listening socket made in this process, to pass to a child; `release` closes this process's copy. */
async function listening(where: number | string): Promise<{ fd: number; port: number; release(): void }> {
  const server = net.createServer();
  // A server bound by path removes its file when it closes: bind under another name and rename, so
  // closing this process's copy leaves the file to the child.
  const bindAt = typeof where === 'string' ? `${where}.tmp` : where;
  await new Promise<void>((done) => {
    if (typeof bindAt === 'string') server.listen(bindAt, done);
    else server.listen(bindAt, '127.0.0.1', done);
  });
  if (typeof where === 'string') renameSync(`${where}.tmp`, where);
  const address = server.address();
  return {
    fd: (server as unknown as { _handle: { fd: number } })._handle.fd,
    port: typeof address === 'object' && address !== null ? address.port : 0,
    release: () => server.close(),
  };
}

/** Inodes of the sockets listening on 127.0.0.1:port (from /proc/net/tcp). */
function listenersOn(port: number): string[] {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[1] === `0100007F:${hex}` && f[3] === '0A')
    .map((f) => f[9]!);
}

/** The socket inode behind a process's fd. */
function socketInode(pid: number | 'self', fd: number): string {
  const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
  const m = /^socket:\[(\d+)\]$/.exec(link);
  assert.ok(m, `fd ${fd} of ${pid} is ${link}, not a socket`);
  return m[1]!;
}

function environOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

/**
 * unicorn-ts under systemd-socket-activate listening on `listen`. The activator listens first and
 * execs unicorn-ts (same pid) on the first connection. Retries on another port if one is taken.
 */
async function activated(
  listen: () => Promise<string>,
  args: string[],
): Promise<{ proc: Proc; address: string }> {
  for (let attempt = 1; ; attempt++) {
    const address = await listen();
    const proc = new Proc(ACTIVATOR!, [
      '-l',
      address,
      process.execPath,
      CLI,
      fixture('pid.mjs'),
      '--log-format',
      'json',
      ...args,
    ]);
    procs.push(proc);
    const up = await waitFor(
      'systemd-socket-activate to listen',
      () => (/Listening on /.test(proc.stderr) ? 'up' : proc.exited ? 'exited' : undefined),
      { timeoutMs: 10_000, intervalMs: 10 },
    );
    if (up === 'up') return { proc, address };
    if (attempt >= 5) throw new Error(`systemd-socket-activate could not listen:\n${proc.stderr}`);
  }
}

describe('systemd socket activation (systemd-socket-activate)', { skip: NO_ACTIVATOR }, () => {
  test('serves on the socket systemd passes, ignoring -b; requests made before a worker is ready and right after one died are served', async () => {
    let port = 0;
    const { proc } = await activated(
      async () => {
        port = await freePort();
        return `127.0.0.1:${port}`;
      },
      // A bind that cannot be bound (no such directory): the master would fail if it tried.
      ['-w', '1', '-b', 'unix:/nonexistent-unicorn-dir/app.sock'],
    );
    assert.equal(proc.events('master.starting').length, 0, 'unicorn-ts has not started yet');
    // The socket is listening before unicorn-ts exists: this request waits in its queue (and is the
    // connection that makes the activator exec unicorn-ts).
    const first = await request(`http://127.0.0.1:${port}/`);
    assert.equal(first.status, 200);
    const starting = await proc.waitForEvent('master.starting');
    assert.equal(starting.pid, proc.pid, 'systemd-socket-activate execs unicorn-ts in its own process');
    const listening = proc.events('master.listening');
    assert.deepEqual(
      listening.map((l) => l.url),
      [`http://127.0.0.1:${port}`],
    );
    await proc.waitForEvent('master.ready');
    const [worker] = proc.liveWorkerPids();
    assert.equal(first.body, String(worker));

    // Workers see none of the activation variables.
    const env = environOf(worker!);
    for (const name of ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES']) {
      assert.ok(!env.some((e) => e.startsWith(`${name}=`)), `${name} reached the worker`);
    }

    // Kill the only worker and ask at once: the master's socket stays open, the request waits.
    process.kill(worker!, 'SIGKILL');
    const after = await request(`http://127.0.0.1:${port}/`);
    assert.equal(after.status, 200);
    assert.notEqual(after.body, String(worker));
    assert.equal((await proc.stop()).code, 0);
  });

  test('a unix socket from systemd: URL fd://3, served, and its file is not removed at exit', async () => {
    const path = join(dir, 'activated.sock');
    const { proc } = await activated(async () => path, ['-w', '1']);
    const body = await unixGet(path);
    await proc.waitForEvent('master.ready');
    assert.equal(body, String(proc.liveWorkerPids()[0]));
    assert.deepEqual(
      proc.events('master.listening').map((l) => l.url),
      ['fd://3'],
    );
    assert.equal((await proc.stop()).code, 0);
    assert.ok(lstatSync(path).isSocket(), 'unicorn-ts did not remove a socket file it did not create');
  });
});

describe('-b fd://N', () => {
  test('a TCP socket inherited as fd 3: served, logged with its address, and no other socket bound', async () => {
    const socket = await listening(0);
    const inode = socketInode('self', socket.fd);
    const proc = startCli(['-w', '1', '-b', 'fd://3'], { fds: [socket.fd] });
    socket.release();
    await proc.waitForEvent('master.ready');
    assert.deepEqual(
      proc.events('master.listening').map((l) => l.url),
      [`http://127.0.0.1:${socket.port}`],
    );
    const reply = await request(`http://127.0.0.1:${socket.port}/`);
    assert.equal(reply.body, String(proc.liveWorkerPids()[0]));
    assert.deepEqual(listenersOn(socket.port), [inode], 'the one listening socket is the inherited one');
    assert.equal((await proc.stop()).code, 0);
  });

  test('a unix socket inherited as fd 3: URL fd://3, served, and its file is left at exit', async () => {
    const path = join(dir, 'fd.sock');
    const socket = await listening(path);
    const { ino } = lstatSync(path);
    const proc = startCli(['-w', '1', '-b', 'fd://3'], { fds: [socket.fd] });
    socket.release();
    await proc.waitForEvent('master.ready');
    assert.deepEqual(
      proc.events('master.listening').map((l) => l.url),
      ['fd://3'],
    );
    assert.equal(await unixGet(path), String(proc.liveWorkerPids()[0]));
    assert.equal((await proc.stop()).code, 0);
    assert.equal(lstatSync(path).ino, ino, 'the socket file is still the one that was passed');
  });

  test('fd://N that is not open stops the master with UNICORN_BIND', async () => {
    const proc = startCli(['-b', 'fd://9999']);
    const { code } = await proc.exit;
    assert.equal(code, 1);
    assert.match(proc.stderr, /cannot use fd:\/\/9999: file descriptor 9999 is not open/);
  });
});

describe('sockets handed over in UNICORN_TS_FDS', () => {
  test('a TCP socket is used for the bind with its address: nothing new is bound, and the variable is gone', async () => {
    const socket = await listening(0);
    const inode = socketInode('self', socket.fd);
    const proc = startCli(['-w', '1', '-b', `127.0.0.1:${socket.port}`], {
      fds: [socket.fd],
      env: { UNICORN_TS_FDS: `3:127.0.0.1:${socket.port}` },
    });
    socket.release();
    await proc.waitForEvent('master.ready');
    const [worker] = proc.liveWorkerPids();
    assert.equal((await request(`http://127.0.0.1:${socket.port}/`)).body, String(worker));
    assert.equal(socketInode(proc.pid, 3), inode, 'the master keeps the inherited socket as fd 3');
    assert.deepEqual(listenersOn(socket.port), [inode], 'the one listening socket is the inherited one');
    assert.ok(!environOf(worker!).some((e) => e.startsWith('UNICORN_TS_FDS=')));
    assert.equal((await proc.stop()).code, 0);
  });

  test('an inherited unix socket is served and its file left at exit; a socket no bind wants is closed', async () => {
    const path = join(dir, 'handed.sock');
    const unix = await listening(path);
    const { ino } = lstatSync(path);
    const unwanted = await listening(0);
    const proc = startCli(['-w', '1', '-b', `unix:${path}`], {
      fds: [unix.fd, unwanted.fd],
      env: { UNICORN_TS_FDS: `3:unix:${path},4` },
    });
    unix.release();
    unwanted.release();
    await proc.waitForEvent('master.ready');
    assert.deepEqual(
      proc.events('master.listening').map((l) => l.url),
      [`unix:${path}`],
    );
    assert.equal(await unixGet(path), String(proc.liveWorkerPids()[0]));
    await waitFor('the unwanted socket to close', () => listenersOn(unwanted.port).length === 0);
    await assert.rejects(request(`http://127.0.0.1:${unwanted.port}/`), { code: 'ECONNREFUSED' });
    assert.equal((await proc.stop()).code, 0);
    assert.equal(lstatSync(path).ino, ino, 'an inherited socket file is not removed (nor replaced)');
    assert.ok(!isAlive(proc.pid));
  });

  test('a unix socket the master bound itself is still removed at exit', async () => {
    const path = join(dir, 'own.sock');
    const proc = startCli(['-w', '1', '-b', `unix:${path}`]);
    await proc.waitForEvent('master.ready');
    assert.equal(
      lstatSync(path).mode & 0o777,
      0o777,
      'default --umask 0: anyone may connect, as in Gunicorn',
    );
    assert.equal((await proc.stop()).code, 0);
    assert.equal(existsSync(path), false);
  });
});
