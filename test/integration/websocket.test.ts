import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { rawExchange, request } from '../helpers/http.js';
import { errorLines, fixture, type LogLine, type Server, startServer, stopAll } from '../helpers/server.js';
import { isAlive, observeFor, waitFor } from '../helpers/wait.js';
import { openSocket, TestSocket, wsUrl } from '../helpers/websocket.js';

after(stopAll);

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function handshake(lines: string[], body = ''): Buffer {
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

/** Status and headers of the one HTTP answer in `data`, which must be well formed. */
function parseAnswer(data: Buffer): { status: number; headers: Map<string, string> } {
  const text = data.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end > 0, `not an HTTP answer: ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...fields] = text.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine!);
  assert.ok(m, `bad status line: ${statusLine}`);
  const headers = new Map(
    fields.map((f) => {
      const i = f.indexOf(':');
      return [f.slice(0, i).toLowerCase(), f.slice(i + 1).trim()] as [string, string];
    }),
  );
  const length = headers.get('content-length');
  if (length !== undefined) assert.equal(Buffer.byteLength(text.slice(end + 4), 'latin1'), Number(length));
  return { status: Number(m[1]), headers };
}

/** The worker.exited line of `pid`: it must have drained and exited by itself, never been killed. */
async function exitedCleanly(server: Server, pid: number): Promise<LogLine> {
  const line = await server.waitForEvent('worker.exited', (l) => l.workerPid === pid);
  assert.equal(line.signal ?? null, null, `worker ${pid} was killed by ${String(line.signal)}`);
  assert.equal(line.code, 0);
  return line;
}

describe('WebSockets on the node interface (an `upgrade` export with ws)', () => {
  test('a WebSocket echoes text and binary on the worker; plain requests still reach the handler', async () => {
    const server = await startServer([fixture('ws-node.mjs'), '-w', '1']);
    const socket = await openSocket(wsUrl(server.url));
    assert.equal(await socket.ask('hello'), 'hello');
    assert.equal(await socket.ask('pid'), String(server.liveWorkerPids()[0]));
    socket.ws.send(Buffer.from([0, 1, 2, 255]));
    assert.equal(await socket.next(), 'binary:000102ff');
    const plain = await request(`${server.url}/`);
    assert.equal(plain.body, String(server.liveWorkerPids()[0]));
    socket.ws.close(1000);
    assert.equal((await socket.waitClosed()).code, 1000);
    assert.deepEqual(errorLines(server), []);
  });

  test('without an `upgrade` export, an Upgrade request reaches the handler as a plain request', async () => {
    const server = await startServer([fixture('node-pid.mjs'), '-w', '1']);
    const pid = server.liveWorkerPids()[0]!;
    const { data } = await rawExchange(
      server.port,
      handshake([
        'GET / HTTP/1.1',
        'Host: x',
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Key: ${KEY}`,
        'Sec-WebSocket-Version: 13',
      ]),
    );
    const answer = parseAnswer(data);
    assert.equal(answer.status, 200);
    assert.ok(data.toString().endsWith(String(pid)));
    await assert.rejects(openSocket(wsUrl(server.url)), /handshake answered 200/);
    assert.deepEqual(server.liveWorkerPids(), [pid]);
  });
});

describe('WebSockets on the fetch interface (info.upgradeWebSocket())', () => {
  test('a WebSocket echoes text and binary; a handler that answers otherwise gets its answer sent', async () => {
    const server = await startServer([fixture('ws-fetch.mjs'), '-w', '1']);
    const pid = String(server.liveWorkerPids()[0]);
    const socket = await openSocket(wsUrl(server.url, '/chat?room=1'));
    assert.equal(await socket.ask('hello'), 'hello');
    assert.equal(await socket.ask('pid'), pid);
    socket.ws.send(Buffer.from([9, 8, 7]));
    assert.equal(await socket.next(), 'binary:090807');
    await assert.rejects(openSocket(wsUrl(server.url, '/plain')), /handshake answered 403/);
    assert.equal((await request(`${server.url}/`)).body, pid);
    socket.ws.close(1000, 'bye');
    assert.equal((await socket.waitClosed()).code, 1000);
    assert.deepEqual(errorLines(server), []);
  });

  test("Hono's upgradeWebSocket helper from unicorn-ts/hono", async () => {
    const server = await startServer([fixture('ws-hono.ts'), '-w', '1']);
    const socket = await openSocket(wsUrl(server.url, '/ws'));
    assert.equal(await socket.ask('hi'), 'hono:hi');
    assert.equal((await request(`${server.url}/`)).body, String(server.liveWorkerPids()[0]));
    socket.ws.close(1000);
    await socket.waitClosed();
  });

  test('a message past --ws-max-message closes with 1009; the worker serves on and logs no error', async () => {
    const server = await startServer([fixture('ws-fetch.mjs'), '-w', '1', '--ws-max-message', '1024']);
    const pid = server.liveWorkerPids()[0]!;
    const socket = await openSocket(wsUrl(server.url));
    assert.equal(await socket.ask('x'.repeat(1024)), 'x'.repeat(1024));
    socket.ws.send('y'.repeat(1025));
    assert.equal((await socket.waitClosed()).code, 1009);
    await server.waitForEvent('websocket.protocol');
    const again = await openSocket(wsUrl(server.url));
    assert.equal(await again.ask('pid'), String(pid));
    again.ws.close(1000);
    await again.waitClosed();
    assert.deepEqual(errorLines(server), []);
  });

  test('a handler that throws closes its own socket with 1011, not the worker', async () => {
    const server = await startServer([fixture('ws-fetch.mjs'), '-w', '1']);
    const pid = server.liveWorkerPids()[0]!;
    const socket = await openSocket(wsUrl(server.url));
    socket.ws.send('throw');
    assert.equal((await socket.waitClosed()).code, 1011);
    await server.waitForEvent('websocket.error', () => true, { level: 'error' });
    const again = await openSocket(wsUrl(server.url));
    assert.equal(await again.ask('pid'), String(pid));
    again.ws.close(1000);
    await again.waitClosed();
    assert.deepEqual(server.liveWorkerPids(), [pid]);
  });
});

describe('WebSocket keep-alive and hostile handshakes', () => {
  for (const app of ['ws-fetch.mjs', 'ws-node.mjs']) {
    test(`${app}: --ws-ping-interval: a peer that answers no ping is terminated; one that does stays open`, async () => {
      const server = await startServer([fixture(app), '-w', '1', '--ws-ping-interval', '0.3']);
      const silent = await openSocket(wsUrl(server.url), { autoPong: false });
      const lively = await openSocket(wsUrl(server.url));
      const closed = await silent.waitClosed(15_000);
      assert.equal(closed.code, 1006, 'terminated: no close frame');
      const line = await server.waitForEvent('websocket.protocol', (l) => l.reason === 'ping-timeout');
      assert.equal(line.level, 'info');
      // Several ping rounds later, the peer that answers is still served.
      await observeFor(1200);
      assert.equal(await lively.ask('still here'), 'still here');
      lively.ws.close(1000);
      await lively.waitClosed();
    });
  }

  for (const app of ['ws-node.mjs', 'ws-fetch.mjs']) {
    test(`${app}: bad handshakes get a well-formed answer, and the worker serves on`, async () => {
      const server = await startServer([fixture(app), '-w', '1']);
      const pid = server.liveWorkerPids()[0]!;
      const base = ['Host: x', 'Upgrade: websocket', 'Connection: Upgrade'];
      const cases: Array<{ what: string; bytes: Buffer; status: number; header?: [string, string] }> = [
        {
          what: 'a bad Sec-WebSocket-Key',
          bytes: handshake([
            'GET / HTTP/1.1',
            ...base,
            'Sec-WebSocket-Key: short',
            'Sec-WebSocket-Version: 13',
          ]),
          status: 400,
        },
        {
          what: 'no Sec-WebSocket-Key',
          bytes: handshake(['GET / HTTP/1.1', ...base, 'Sec-WebSocket-Version: 13']),
          status: 400,
        },
        {
          what: 'a wrong version',
          bytes: handshake([
            'GET / HTTP/1.1',
            ...base,
            `Sec-WebSocket-Key: ${KEY}`,
            'Sec-WebSocket-Version: 12',
          ]),
          status: 426,
          header: ['sec-websocket-version', '13'],
        },
        {
          // Past the worker's own checks: ws refuses it (the app's WebSocketServer, or the worker's).
          what: 'a malformed Sec-WebSocket-Protocol',
          bytes: handshake([
            'GET / HTTP/1.1',
            ...base,
            `Sec-WebSocket-Key: ${KEY}`,
            'Sec-WebSocket-Version: 13',
            'Sec-WebSocket-Protocol: chat,,x y',
          ]),
          status: 400,
        },
        {
          what: 'a POST with a body',
          bytes: handshake(
            [
              'POST / HTTP/1.1',
              ...base,
              `Sec-WebSocket-Key: ${KEY}`,
              'Sec-WebSocket-Version: 13',
              'Content-Length: 11',
            ],
            'hello world',
          ),
          status: 405,
          header: ['allow', 'GET'],
        },
      ];
      for (const c of cases) {
        const { data, closed } = await rawExchange(server.port, c.bytes);
        const answer = parseAnswer(data);
        assert.equal(answer.status, c.status, c.what);
        assert.equal(answer.headers.get('connection'), 'close', c.what);
        if (c.header) assert.equal(answer.headers.get(c.header[0]), c.header[1], c.what);
        assert.ok(closed, `${c.what}: the connection closes`);
      }
      const socket = await openSocket(wsUrl(server.url));
      assert.equal(await socket.ask('pid'), String(pid));
      socket.ws.close(1000);
      await socket.waitClosed();
      assert.deepEqual(errorLines(server), []);
      assert.deepEqual(server.liveWorkerPids(), [pid]);
    });
  }
});

describe('WebSockets through reloads and stops: 1001, then the clients reconnect', () => {
  test('HUP: a message under way finishes, the socket gets 1001, the client reconnects to a new pid, the old worker exits by itself', async () => {
    const server = await startServer([
      fixture('ws-fetch.mjs'),
      '-w',
      '1',
      '--ws-drain-grace',
      '1',
      '--graceful-timeout',
      '30',
    ]);
    const oldPid = server.liveWorkerPids()[0]!;
    const socket = await openSocket(wsUrl(server.url));
    socket.ws.send('slow:300');
    const hupAt = Date.now();
    server.signal('SIGHUP');
    assert.equal(await socket.next(), 'done', 'the message under way is answered before the close');
    const closed = await socket.waitClosed();
    assert.equal(closed.code, 1001);
    await server.waitForEvent('websocket.going_away', (l) => l.pid === oldPid);
    const fresh = await waitFor('a WebSocket on a new worker', async () => {
      const s = await openSocket(wsUrl(server.url));
      const pid = await s.ask('pid');
      if (pid !== String(oldPid)) return s;
      s.terminate();
      return null;
    });
    await exitedCleanly(server, oldPid);
    assert.ok(Date.now() - hupAt < 20_000, 'the old worker exits well before --graceful-timeout');
    fresh.ws.close(1000);
    await fresh.waitClosed();
    assert.deepEqual(errorLines(server), []);
  });

  test('TERM: open WebSockets on the node interface get 1001 and the server exits 0 without killing a worker', async () => {
    const server = await startServer([fixture('ws-node.mjs'), '-w', '2', '--ws-drain-grace', '0.5']);
    const sockets = await Promise.all([1, 2, 3, 4].map(() => openSocket(wsUrl(server.url))));
    for (const s of sockets) assert.equal(await s.ask('ping?'), 'ping?');
    const pids = server.liveWorkerPids();
    const termAt = Date.now();
    server.signal('SIGTERM');
    for (const s of sockets) assert.equal((await s.waitClosed()).code, 1001);
    const { code } = await server.waitForExit();
    assert.equal(code, 0);
    for (const pid of pids) await exitedCleanly(server, pid);
    assert.ok(Date.now() - termAt < 20_000, 'the stop takes far less than --graceful-timeout');
    for (const pid of pids) assert.equal(isAlive(pid), false);
  });

  test('--max-requests: the recycled worker closes its WebSocket with 1001 and the client reconnects to its replacement', async () => {
    const server = await startServer([
      fixture('ws-node.mjs'),
      '-w',
      '1',
      '--max-requests',
      '3',
      '--ws-drain-grace',
      '0.5',
    ]);
    const oldPid = server.liveWorkerPids()[0]!;
    const socket = await openSocket(wsUrl(server.url));
    assert.equal(await socket.ask('pid'), String(oldPid));
    for (let i = 0; i < 3; i++) await request(`${server.url}/`);
    assert.equal((await socket.waitClosed()).code, 1001);
    const fresh = await waitFor('a WebSocket on the replacement', async () => {
      const s = await openSocket(wsUrl(server.url));
      const pid = await s.ask('pid');
      if (pid !== String(oldPid)) return s;
      s.terminate();
      return null;
    });
    await exitedCleanly(server, oldPid);
    fresh.ws.close(1000);
    await fresh.waitClosed();
  });

  test('a WebSocket idle longer than --keep-alive, --header-timeout and the idle-connection grace of a drain is not cut', async () => {
    // The drain closes idle HTTP connections after a second: an upgraded one is not idle HTTP.
    const server = await startServer([
      fixture('ws-node.mjs'),
      '-w',
      '1',
      '--keep-alive',
      '1',
      '--header-timeout',
      '1',
      '--ws-drain-grace',
      '3',
    ]);
    const socket = new TestSocket(wsUrl(server.url));
    await socket.opened;
    await observeFor(2500);
    assert.equal(await socket.ask('after keep-alive'), 'after keep-alive');
    socket.ws.send('slow:2000');
    server.signal('SIGHUP');
    assert.equal(await socket.next(), 'done', 'still served 2 s into the drain');
    assert.equal((await socket.waitClosed()).code, 1001);
  });
});
