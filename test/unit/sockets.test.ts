import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { parseBind as parseBindDirect } from '../../src/bind.js';
import {
  bindSocket,
  closeSocket,
  inheritedFdsEnv,
  type ListenSocket,
  openSockets,
  parseBind,
  parseInheritedFds,
  socketFd,
  unixSocketMode,
} from '../../src/master/sockets.js';

const root = mkdtempSync(join(tmpdir(), 'unicorn-sockets-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Sockets bound by a test; whatever is still open is closed at the end. */
const open: ListenSocket[] = [];
after(() => {
  for (const socket of open.splice(0)) closeSocket(socket);
});
async function bind(text: string): Promise<ListenSocket> {
  const socket = await bindSocket(parseBind(text));
  open.push(socket);
  return socket;
}
function close(socket: ListenSocket): void {
  open.splice(open.indexOf(socket), 1);
  closeSocket(socket);
}

function listen(port: number, host: string): Promise<net.Server> {
  return new Promise((done, fail) => {
    const server = net.createServer();
    server.once('error', fail);
    server.listen({ port, host, exclusive: true }, () => done(server));
  });
}

const portOf = (socket: ListenSocket) => Number(new URL(socket.url).port);

const canUseIPv6 = await listen(0, '::1').then(
  (server) => {
    server.close();
    return true;
  },
  () => false,
);

/** Leaves a unix socket file behind the way a master killed with -9 does: its process is gone, the file is not. */
async function leaveStaleSocket(path: string): Promise<void> {
  const script = `require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((done) => child.stdout.once('data', () => done()));
  child.kill('SIGKILL');
  await new Promise((done) => child.once('exit', done));
}

describe('the sockets module', () => {
  test('re-exports parseBind from bind.ts', () => {
    assert.equal(parseBind, parseBindDirect);
  });
});

describe('bindSocket', () => {
  test('binding 127.0.0.1:0 gives a handle and a URL with the real port', async () => {
    const socket = await bind('127.0.0.1:0');
    assert.equal(typeof socket.handle, 'object');
    assert.deepEqual(socket.bind, { kind: 'tcp', host: '127.0.0.1', port: 0 });
    const url = new URL(socket.url);
    assert.equal(url.protocol, 'http:');
    assert.equal(url.hostname, '127.0.0.1');
    assert.ok(portOf(socket) > 0, socket.url);
  });

  test('binding a free port by number gives that port', async () => {
    const free = await bind('127.0.0.1:0');
    const port = portOf(free);
    close(free);
    const socket = await bind(`127.0.0.1:${port}`);
    assert.equal(socket.url, `http://127.0.0.1:${port}`);
  });

  test('closeSocket frees the port', async () => {
    const socket = await bind('127.0.0.1:0');
    const port = portOf(socket);
    close(socket);
    const server = await listen(port, '127.0.0.1');
    server.close();
  });

  test('a host name is looked up and the URL shows the address it resolved to', async () => {
    const socket = await bind('localhost:0');
    assert.match(socket.url, /^http:\/\/(127\.0\.0\.1|\[::1\]):\d+$/);
    assert.deepEqual(socket.bind, { kind: 'tcp', host: 'localhost', port: 0 });
  });

  test('an IPv6 address shows in brackets in the URL', {
    skip: !canUseIPv6 && 'no IPv6 loopback here',
  }, async () => {
    const socket = await bind('[::1]:0');
    assert.match(socket.url, /^http:\/\/\[::1\]:\d+$/);
  });

  test('binding a port already in use fails with UNICORN_BIND "address already in use"', async () => {
    const server = await listen(0, '127.0.0.1');
    const { port } = server.address() as net.AddressInfo;
    try {
      await assert.rejects(bind(`127.0.0.1:${port}`), {
        code: 'UNICORN_BIND',
        message: `cannot bind 127.0.0.1:${port}: address already in use`,
      });
    } finally {
      server.close();
    }
  });

  test('a unix socket is created at its path, and closeSocket removes the file', async () => {
    const path = join(root, 'app.sock');
    const socket = await bind(`unix:${path}`);
    assert.equal(socket.url, `unix:${path}`);
    assert.ok(lstatSync(path).isSocket());
    close(socket);
    assert.equal(existsSync(path), false);
  });

  test('a socket file left behind by a killed master is replaced', async () => {
    const path = join(root, 'stale.sock');
    await leaveStaleSocket(path);
    assert.ok(lstatSync(path).isSocket(), 'the killed process left its socket file');
    const socket = await bind(`unix:${path}`);
    assert.equal(socket.url, `unix:${path}`);
    assert.ok(lstatSync(path).isSocket());
  });

  test('a unix path taken by a regular file is an error, and the file is left alone', async () => {
    const path = join(root, 'not-a-socket');
    writeFileSync(path, 'data');
    await assert.rejects(bind(`unix:${path}`), {
      code: 'UNICORN_BIND',
      message: `cannot bind unix:${path}: the path exists and is not a socket`,
    });
    assert.ok(lstatSync(path).isFile());
  });

  test('a unix socket in a directory that does not exist is UNICORN_BIND, naming the path', async () => {
    const path = join(root, 'no/such/dir/app.sock');
    await assert.rejects(bind(`unix:${path}`), {
      code: 'UNICORN_BIND',
      message: new RegExp(`^cannot bind unix:${path}: `),
    });
  });

  test('a unix socket in a directory that does not exist says the directory is missing', {}, async () => {
    const path = join(root, 'no/such/dir/app.sock');
    await assert.rejects(bind(`unix:${path}`), { code: 'UNICORN_BIND', message: /does not exist|ENOENT/ });
  });
});

describe('unix sockets the master creates', () => {
  test('get mode 0o777 & ~umask: anyone by default (as Gunicorn), owner and group with umask 0o007', async () => {
    assert.equal(unixSocketMode(0), 0o777);
    assert.equal(unixSocketMode(0o007), 0o770);
    const path = join(root, 'mode.sock');
    await bindSocket(parseBind(`unix:${path}`), unixSocketMode(0o007));
    assert.equal(lstatSync(path).mode & 0o777, 0o770);
  });

  test('a socket file another server still answers on is never taken over', async () => {
    const path = join(root, 'live.sock');
    const live = net.createServer().listen(path);
    await new Promise((r) => live.once('listening', r));
    try {
      await assert.rejects(bindSocket(parseBind(`unix:${path}`)), {
        code: 'UNICORN_BIND',
        message: /another server is listening on it/,
      });
    } finally {
      live.close();
    }
  });

  test('closeSocket with unlink: false leaves the file (libuv does not remove it behind its back)', async () => {
    const path = join(root, 'kept.sock');
    const socket = await bindSocket(parseBind(`unix:${path}`));
    const { ino } = lstatSync(path);
    closeSocket(socket, { unlink: false });
    await new Promise((done) => setImmediate(done));
    assert.equal(lstatSync(path).ino, ino);
    unlinkSync(path);
  });

  test("closeSocket leaves a socket file that has replaced this master's at the same path", async () => {
    const path = join(root, 'replaced.sock');
    const first = await bind(`unix:${path}`);
    const second = await bind(`unix:${path}`);
    const { ino } = lstatSync(path);
    close(first);
    await new Promise((done) => setImmediate(done));
    assert.equal(lstatSync(path).ino, ino, "the second socket's file is still there");
    close(second);
    assert.equal(existsSync(path), false);
  });

  test('no temporary file is left beside the socket', async () => {
    const dir = mkdtempSync(join(root, 'tmpname-'));
    await bind(`unix:${join(dir, 'a.sock')}`);
    assert.deepEqual(readdirSync(dir), ['a.sock']);
  });
});

describe('socketFd', () => {
  test("is the fd of the socket's handle", async () => {
    const socket = await bind('127.0.0.1:0');
    const fd = socketFd(socket);
    assert.ok(Number.isInteger(fd) && fd > 2, String(fd));
    assert.ok(fstatSync(fd).isSocket());
  });

  test('a handle without an fd is UNICORN_BIND', () => {
    const fake: ListenSocket = { bind: parseBind('fd://3'), handle: {}, url: 'fd://3', origin: 'fd' };
    assert.throws(() => socketFd(fake), { code: 'UNICORN_BIND' });
  });
});

describe('UNICORN_TS_FDS', () => {
  const fake = (bind: string, origin: ListenSocket['origin'], url = 'x'): ListenSocket => ({
    bind: parseBind(bind),
    handle: { fd: 99, close() {} },
    url,
    origin,
  });

  test('inheritedFdsEnv numbers the sockets from 3 and writes what each was', async () => {
    const tcp = await bind('127.0.0.1:0');
    const sockets = [
      tcp,
      fake('unix:/run/a,b%c.sock', 'bound'),
      fake('fd://7', 'fd'),
      fake('fd://3', 'systemd'),
      fake('[::1]:8080', 'upgrade'),
    ];
    const text = inheritedFdsEnv(sockets);
    assert.equal(
      text,
      `3:127.0.0.1:${portOf(tcp)},4:unix:/run/a%2Cb%25c.sock,5:fd://7,6:systemd,7:[::1]:8080`,
    );
    assert.deepEqual(parseInheritedFds(text), [
      { fd: 3, what: { kind: 'tcp', host: '127.0.0.1', port: portOf(tcp) } },
      { fd: 4, what: { kind: 'unix', path: '/run/a,b%c.sock' } },
      { fd: 5, what: { kind: 'fd', fd: 7 } },
      { fd: 6, what: 'systemd' },
      { fd: 7, what: { kind: 'tcp', host: '::1', port: 8080 } },
    ]);
  });

  test('inheritedFdsEnv shows the real port of a bind on port 0', async () => {
    const tcp = await bind('127.0.0.1:0');
    assert.equal(inheritedFdsEnv([tcp], 10), `10:127.0.0.1:${portOf(tcp)}`);
  });

  test('parseInheritedFds: a bare fd has no address; empty is nothing', () => {
    assert.deepEqual(parseInheritedFds('3,4'), [
      { fd: 3, what: null },
      { fd: 4, what: null },
    ]);
    assert.deepEqual(parseInheritedFds(''), []);
  });

  for (const [text, why] of [
    ['x', 'expected FD or FD:ADDRESS'],
    ['3,,4', 'expected FD or FD:ADDRESS'],
    ['-3', 'expected FD or FD:ADDRESS'],
    ['3:', 'empty address'],
    ['3:%E0%A4%A', 'bad percent-encoding'],
    ['3:::1:80', 'invalid bind address "::1:80": IPv6 addresses go in brackets: [::1]:8000'],
  ] as const) {
    test(`parseInheritedFds rejects "${text}": ${why}`, () => {
      assert.throws(() => parseInheritedFds(text), {
        code: 'UNICORN_BIND',
        message: new RegExp(`^invalid UNICORN_TS_FDS entry ".*": ${why.replace(/[[\]().]/g, '\\$&')}$`),
      });
    });
  }

  test('parseInheritedFds rejects an fd listed twice', () => {
    assert.throws(() => parseInheritedFds('3,4,3:127.0.0.1:80'), {
      code: 'UNICORN_BIND',
      message: 'invalid UNICORN_TS_FDS entry "3:127.0.0.1:80": fd 3 is listed twice',
    });
  });
});

describe('openSockets in this process', () => {
  const track = (sockets: ListenSocket[]) => {
    open.push(...sockets);
    return sockets;
  };

  test('with nothing inherited, every bind is bound here', async () => {
    const path = join(root, 'open-plain.sock');
    const sockets = track(await openSockets(['127.0.0.1:0', `unix:${path}`], {}));
    assert.deepEqual(
      sockets.map((s) => s.origin),
      ['bound', 'bound'],
    );
    assert.equal(sockets[1]!.url, `unix:${path}`);
  });

  test('systemd variables meant for another pid are ignored, and every socket variable is removed', async () => {
    const env: NodeJS.ProcessEnv = {
      LISTEN_PID: String(process.pid + 1),
      LISTEN_FDS: '1',
      LISTEN_FDNAMES: 'web',
      UNICORN_TS_FDS: '',
      KEEP: 'me',
    };
    const sockets = track(await openSockets(['127.0.0.1:0'], env));
    assert.equal(sockets[0]!.origin, 'bound');
    assert.deepEqual(env, { KEEP: 'me' });
  });

  test('LISTEN_FDS=0 for this pid gives no sockets from systemd: the binds are bound', async () => {
    const env = { LISTEN_PID: String(process.pid), LISTEN_FDS: '0' };
    const sockets = track(await openSockets(['127.0.0.1:0'], env));
    assert.equal(sockets[0]!.origin, 'bound');
  });

  test('a malformed LISTEN_FDS for this pid is UNICORN_BIND, and the variables are still removed', async () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: String(process.pid), LISTEN_FDS: 'two' };
    await assert.rejects(openSockets(['127.0.0.1:0'], env), {
      code: 'UNICORN_BIND',
      message: 'invalid LISTEN_FDS "two" (systemd socket activation)',
    });
    assert.deepEqual(env, {});
  });

  test('a malformed UNICORN_TS_FDS is UNICORN_BIND', async () => {
    await assert.rejects(openSockets(['127.0.0.1:0'], { UNICORN_TS_FDS: 'three' }), {
      code: 'UNICORN_BIND',
      message: /^invalid UNICORN_TS_FDS entry "three"/,
    });
  });

  test('fd://N for an fd that is not open is UNICORN_BIND', async () => {
    await assert.rejects(openSockets(['fd://987654'], {}), {
      code: 'UNICORN_BIND',
      message: 'cannot use fd://987654: file descriptor 987654 is not open',
    });
  });

  test('fd://N for a regular file is UNICORN_BIND, and nothing bound before it is left behind', async () => {
    const file = join(root, 'regular');
    writeFileSync(file, '');
    const fd = openSync(file, 'r');
    const path = join(root, 'left-behind.sock');
    try {
      await assert.rejects(openSockets([`unix:${path}`, `fd://${fd}`], {}), {
        code: 'UNICORN_BIND',
        message: `cannot use fd://${fd}: file descriptor ${fd} is not a socket`,
      });
      assert.equal(existsSync(path), false, 'the unix socket bound first was closed and removed');
    } finally {
      closeSync(fd);
    }
  });
});

// ---- real inherited fds: each case runs in a child process, which gets them as fds 3, 4... ------------

/**
 * sockets.ts and what it imports, compiled to plain JavaScript once, so each child starts in plain
 * Node (a child under tsx takes over a second to start).
 */
function compiled(entry: string): string {
  const srcRoot = fileURLToPath(new URL('../../src/', import.meta.url));
  const outRoot = mkdtempSync(join(root, 'js-'));
  const pending = [entry];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    const source = readFileSync(join(srcRoot, file.replace(/\.js$/, '.ts')), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    mkdirSync(dirname(join(outRoot, file)), { recursive: true });
    writeFileSync(join(outRoot, file), outputText);
    for (const m of outputText.matchAll(/from '(\.\.?\/[^']+\.js)'/g)) {
      const dep = join(dirname(file), m[1]!);
      if (!existsSync(join(outRoot, dep))) pending.push(dep);
    }
  }
  return pathToFileURL(join(outRoot, entry)).href;
}
const SOCKETS_MODULE = compiled('master/sockets.js');

/** What the child reports: the sockets openSockets gave it, or the error. */
interface ChildReport {
  sockets?: Array<{ url: string; origin: string; bind: unknown; fd: number }>;
  error?: { code: string; message: string };
  /** The socket variables left in the child's environment after openSockets. */
  env?: Record<string, string | null>;
  handOver?: string;
  /** Which of the fds passed to the child are still open after openSockets. */
  stillOpen?: number[];
}

/**
 * Runs openSockets(binds) in a child that has `fds` as its fds 3, 4..., with `env` set. `asSystemd`
 * sets LISTEN_PID to the child's own pid first (as systemd does). The child closes every socket with
 * closeSocket before it exits.
 */
async function inChild(
  binds: string[],
  fds: number[],
  env: Record<string, string> = {},
  { asSystemd = false } = {},
): Promise<ChildReport> {
  const script = `
    import { fstatSync } from 'node:fs';
    const { openSockets, closeSocket, socketFd, inheritedFdsEnv, SOCKET_ENV } = await import(${JSON.stringify(SOCKETS_MODULE)});
    const passed = ${JSON.stringify(fds.map((_, i) => 3 + i))};
    // Still open, and still the same socket (a socket bound later may reuse a closed fd's number).
    const inode = (fd) => { try { return fstatSync(fd).ino; } catch { return null; } };
    const before = passed.map(inode);
    const report = {};
    try {
      if (${asSystemd}) process.env.LISTEN_PID = String(process.pid);
      const sockets = await openSockets(${JSON.stringify(binds)});
      report.sockets = sockets.map((s) => ({ url: s.url, origin: s.origin, bind: s.bind, fd: socketFd(s) }));
      report.env = Object.fromEntries(SOCKET_ENV.map((name) => [name, process.env[name] ?? null]));
      report.handOver = inheritedFdsEnv(sockets);
      await new Promise((done) => setImmediate(done));
      report.stillOpen = passed.filter((fd, i) => inode(fd) === before[i]);
      for (const socket of sockets) closeSocket(socket);
    } catch (err) {
      report.error = { code: err.code, message: err.message };
    }
    console.log(JSON.stringify(report));
  `;
  const clean = { ...process.env };
  for (const name of ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'UNICORN_TS_FDS']) delete clean[name];
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe', ...fds],
    env: { ...clean, ...env },
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const code = await new Promise((done) => child.once('exit', done));
  assert.equal(code, 0, err);
  return JSON.parse(out) as ChildReport;
}

/** Listening servers in this process whose fds are passed to children (this process never connects). */
const servers: net.Server[] = [];
after(() => {
  for (const server of servers.splice(0)) server.close();
});
async function listener(where: number | string): Promise<{ fd: number; port: number; server: net.Server }> {
  const server = net.createServer();
  servers.push(server);
  await new Promise<void>((done) => {
    if (typeof where === 'string') server.listen(where, done);
    else server.listen(where, '127.0.0.1', done);
  });
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  const address = server.address();
  return { fd, port: typeof address === 'object' && address !== null ? address.port : 0, server };
}

/** A directory that does not exist: a bind there fails if anything tries to bind it. */
const UNBINDABLE = 'unix:/nonexistent-unicorn-dir/x.sock';

describe('openSockets with fd://N', () => {
  test('a TCP socket: used as is, the URL is its address, origin "fd"', async () => {
    const { fd, port } = await listener(0);
    const report = await inChild(['fd://3'], [fd]);
    assert.deepEqual(report.sockets, [
      { url: `http://127.0.0.1:${port}`, origin: 'fd', bind: { kind: 'fd', fd: 3 }, fd: 3 },
    ]);
    assert.equal(report.handOver, '3:fd://3');
  });

  test('a unix socket: the URL is fd://N, and closing it never removes the file', async () => {
    const path = join(root, 'fd-unix.sock');
    const { fd } = await listener(path);
    const { ino } = lstatSync(path);
    const report = await inChild(['fd://3'], [fd]);
    assert.deepEqual(report.sockets, [{ url: 'fd://3', origin: 'fd', bind: { kind: 'fd', fd: 3 }, fd: 3 }]);
    assert.equal(lstatSync(path).ino, ino, 'the socket file is still there');
  });

  test('the same fd twice is UNICORN_BIND', async () => {
    const { fd } = await listener(0);
    const report = await inChild(['fd://3', 'fd://3'], [fd]);
    assert.deepEqual(report.error, {
      code: 'UNICORN_BIND',
      message: 'cannot use fd://3: it is given twice',
    });
  });

  test('a connected socket is refused: it is not a listening one', async () => {
    const { port } = await listener(0);
    const client = net.connect(port, '127.0.0.1');
    await new Promise((done) => client.once('connect', done));
    try {
      const fd = (client as unknown as { _handle: { fd: number } })._handle.fd;
      const report = await inChild(['fd://3'], [fd]);
      assert.deepEqual(report.error, {
        code: 'UNICORN_BIND',
        message: 'cannot use fd://3: file descriptor 3 is a connected socket, not a listening one',
      });
    } finally {
      client.destroy();
    }
  });
});

describe('openSockets with systemd socket activation', () => {
  test('LISTEN_FDS=2 for this pid: fds 3 and 4 in order, the binds ignored, the variables removed', async () => {
    const { fd: tcp, port } = await listener(0);
    const { fd: unix } = await listener(join(root, 'systemd.sock'));
    const report = await inChild(
      [UNBINDABLE],
      [tcp, unix],
      { LISTEN_FDS: '2', LISTEN_FDNAMES: 'web:admin' },
      {
        asSystemd: true,
      },
    );
    assert.deepEqual(report.sockets, [
      { url: `http://127.0.0.1:${port}`, origin: 'systemd', bind: { kind: 'fd', fd: 3 }, fd: 3 },
      { url: 'fd://4', origin: 'systemd', bind: { kind: 'fd', fd: 4 }, fd: 4 },
    ]);
    assert.deepEqual(report.env, {
      LISTEN_PID: null,
      LISTEN_FDS: null,
      LISTEN_FDNAMES: null,
      UNICORN_TS_FDS: null,
    });
    assert.equal(report.handOver, '3:systemd,4:systemd');
  });

  test('LISTEN_PID of another process: fd 3 is left alone and the binds are bound', async () => {
    const { fd } = await listener(0);
    const report = await inChild(['127.0.0.1:0'], [fd], { LISTEN_PID: '1', LISTEN_FDS: '1' });
    assert.equal(report.sockets?.[0]?.origin, 'bound');
    assert.deepEqual(report.stillOpen, [3]);
    assert.equal(report.env?.LISTEN_FDS, null);
  });
});

describe('openSockets with sockets handed over in UNICORN_TS_FDS', () => {
  test('each bind takes the socket with its address; the rest are bound fresh or closed', async () => {
    const a = await listener(0);
    const b = await listener(0);
    const handedUnix = join(root, 'handed.sock');
    const u = await listener(handedUnix);
    const unwanted = await listener(0);
    const freshUnix = join(root, 'fresh.sock');
    const report = await inChild(
      [`unix:${handedUnix}`, `127.0.0.1:${b.port}`, '127.0.0.1:0', `unix:${freshUnix}`],
      [a.fd, b.fd, u.fd, unwanted.fd],
      { UNICORN_TS_FDS: `3,4:127.0.0.1:${b.port},5:unix:${handedUnix},6` },
    );
    assert.deepEqual(
      report.sockets?.map((s) => [s.url, s.origin, s.fd]),
      [
        [`unix:${handedUnix}`, 'upgrade', 5],
        [`http://127.0.0.1:${b.port}`, 'upgrade', 4],
        [`http://127.0.0.1:${a.port}`, 'upgrade', 3], // port 0 in the bind matches any port
        [`unix:${freshUnix}`, 'bound', report.sockets?.[3]?.fd],
      ],
    );
    assert.deepEqual(report.stillOpen, [3, 4, 5], 'fd 6, which no bind wanted, is closed');
    assert.equal(report.env?.UNICORN_TS_FDS, null);
    assert.equal(
      report.handOver,
      `3:unix:${handedUnix},4:127.0.0.1:${b.port},5:127.0.0.1:${a.port},6:unix:${freshUnix}`,
    );
    assert.ok(existsSync(handedUnix), 'an inherited socket file is not removed');
    assert.equal(existsSync(freshUnix), false, 'a socket file the child created is removed');
  });

  test('a TCP socket on another address or port is not taken: the bind is bound fresh, the socket closed', async () => {
    const a = await listener(0);
    const spare = await listener(0);
    servers.splice(servers.indexOf(spare.server), 1);
    await new Promise((done) => spare.server.close(done));
    for (const bind of ['127.0.0.2:0', `127.0.0.1:${spare.port}`]) {
      const report = await inChild([bind], [a.fd], { UNICORN_TS_FDS: '3' });
      assert.equal(report.sockets?.[0]?.origin, 'bound', bind);
      assert.deepEqual(report.stillOpen, [], bind);
    }
  });

  test('a unix socket without its path cannot be matched, so it is closed', async () => {
    const { fd } = await listener(join(root, 'nameless.sock'));
    const wanted = join(root, 'wanted.sock');
    const report = await inChild([`unix:${wanted}`], [fd], { UNICORN_TS_FDS: '3' });
    assert.equal(report.sockets?.[0]?.origin, 'bound');
    assert.deepEqual(report.stillOpen, []);
  });

  test('sockets that came from systemd stay systemd sockets: the binds are ignored', async () => {
    const { fd, port } = await listener(0);
    const report = await inChild([UNBINDABLE], [fd], { UNICORN_TS_FDS: '3:systemd' });
    assert.deepEqual(report.sockets, [
      { url: `http://127.0.0.1:${port}`, origin: 'systemd', bind: { kind: 'fd', fd: 3 }, fd: 3 },
    ]);
    assert.equal(report.handOver, '3:systemd');
  });

  test('a fd://N bind takes the socket the old master had as its fd N', async () => {
    const { fd, port } = await listener(0);
    const report = await inChild(['fd://9'], [fd], { UNICORN_TS_FDS: '3:fd://9' });
    assert.deepEqual(report.sockets, [
      { url: `http://127.0.0.1:${port}`, origin: 'upgrade', bind: { kind: 'fd', fd: 9 }, fd: 3 },
    ]);
    assert.equal(report.handOver, '3:fd://9');
  });

  test('fd://N naming an fd handed over for another bind is UNICORN_BIND', async () => {
    const { fd } = await listener(0);
    const report = await inChild(['fd://3'], [fd], { UNICORN_TS_FDS: '3:127.0.0.1:80' });
    assert.equal(report.error?.code, 'UNICORN_BIND');
    assert.match(report.error?.message ?? '', /fd 3 is a socket handed over in UNICORN_TS_FDS/);
  });

  test('an inherited fd that is not a socket is UNICORN_BIND', async () => {
    const file = join(root, 'handed-file');
    writeFileSync(file, '');
    const fd = openSync(file, 'r');
    try {
      const report = await inChild(['127.0.0.1:0'], [fd], { UNICORN_TS_FDS: '3' });
      assert.deepEqual(report.error, {
        code: 'UNICORN_BIND',
        message: 'cannot use fd 3 from UNICORN_TS_FDS: file descriptor 3 is not a socket',
      });
    } finally {
      closeSync(fd);
    }
  });
});
