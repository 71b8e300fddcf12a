import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseBind as parseBindDirect } from '../../src/bind.js';
import { bindSocket, closeSocket, type ListenSocket, parseBind } from '../../src/master/sockets.js';

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
