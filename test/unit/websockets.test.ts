import assert from 'node:assert/strict';
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, describe, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { createClientResolver } from '../../src/http/forwarded.js';
import { WorkerRequestInfo } from '../../src/http/request-info.js';
import { handshakeProblem, ServerWebSocket } from '../../src/http/websocket.js';
import type { Log } from '../../src/log.js';
import { wsOfSocket } from '../../workers/websockets.js';

/** A Log that records its lines. */
function recordingLog(lines: Array<{ level: string; event: string }>): Log {
  const record = (level: string) => (event: string) => lines.push({ level, event });
  return {
    error: record('error'),
    warn: record('warn'),
    info: record('info'),
    debug: record('debug'),
  } as Log;
}

/** A loopback server whose upgrades `onUpgrade` takes; closed after the file. */
async function upgradeServer(
  onUpgrade: (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void,
): Promise<string> {
  const server = http.createServer((_req, res) => res.end('plain'));
  server.on('upgrade', onUpgrade);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

function opened(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('wsOfSocket: the reach into ws (a node app completes its own handshakes)', () => {
  test('finds the WebSocket ws keeps on a socket it took, and nothing on one it did not', async () => {
    const wss = new WebSocketServer({ noServer: true });
    let found: { socket: Duplex; ws: WebSocket } | null = null;
    const url = await upgradeServer((req, socket, head) => {
      assert.equal(wsOfSocket(socket), null, 'before the handshake');
      wss.handleUpgrade(req, socket, head, (ws) => {
        found = { socket, ws };
      });
    });
    const client = await opened(url);
    assert.ok(found, 'the handshake completed');
    const { socket, ws } = found as { socket: Duplex; ws: WebSocket };
    assert.equal(
      wsOfSocket(socket),
      ws,
      'ws no longer marks the socket with its WebSocket under a "websocket" symbol: workers/websockets.ts cannot ping or close a node app\'s WebSockets',
    );
    client.close();
  });
});

describe('handshakeProblem: RFC 6455 section 4.2.1', () => {
  const good = { method: 'GET', upgrade: 'WebSocket', key: 'dGhlIHNhbXBsZSBub25jZQ==', version: '13' };

  test('a valid handshake has none; version 8 is accepted too', () => {
    assert.equal(handshakeProblem(good), null);
    assert.equal(handshakeProblem({ ...good, version: '8' }), null);
  });

  test('each flaw has its status', () => {
    assert.equal(handshakeProblem({ ...good, method: 'POST' })?.status, 405);
    assert.equal(handshakeProblem({ ...good, upgrade: 'h2c' })?.status, 400);
    assert.equal(handshakeProblem({ ...good, key: undefined })?.status, 400);
    assert.equal(handshakeProblem({ ...good, key: 'c2hvcnQ=' })?.status, 400);
    assert.equal(handshakeProblem({ ...good, version: '12' })?.status, 426);
    assert.equal(handshakeProblem({ ...good, version: undefined })?.status, 426);
  });
});

describe('ServerWebSocket: the WHATWG-like socket of info.upgradeWebSocket()', () => {
  test('send() before open throws InvalidStateError; close() before open never opens it', () => {
    const socket = new ServerWebSocket('ws://x/', recordingLog([]));
    assert.equal(socket.readyState, 0);
    assert.throws(() => socket.send('x'), { name: 'InvalidStateError' });
    const codes: number[] = [];
    socket.onclose = (event) => codes.push(event.code);
    socket.close();
    assert.equal(socket.readyState, 3);
    assert.deepEqual(codes, [1006]);
  });

  test('close() refuses codes a browser may not send', () => {
    const socket = new ServerWebSocket('ws://x/', recordingLog([]));
    assert.throws(() => socket.close(1005), { name: 'InvalidAccessError' });
    assert.throws(() => socket.close(1000, 'x'.repeat(124)), { name: 'SyntaxError' });
  });

  test('messages and listeners over a real connection; a throwing listener closes with 1011 and is logged', async () => {
    const wss = new WebSocketServer({ noServer: true });
    const lines: Array<{ level: string; event: string }> = [];
    const sockets: ServerWebSocket[] = [];
    const events: MessageEvent[] = [];
    const url = await upgradeServer((req, socket, head) => {
      const server = new ServerWebSocket('ws://127.0.0.1/', recordingLog(lines));
      sockets.push(server);
      const seen: string[] = [];
      server.addEventListener('open', () => server.send('hello'), { once: true });
      server.onmessage = (event) => {
        events.push(event);
        if (event.data === 'boom') throw new Error('listener failed');
        seen.push(
          typeof event.data === 'string' ? event.data : `bytes:${(event.data as ArrayBuffer).byteLength}`,
        );
        server.send(seen.join(','));
      };
      wss.handleUpgrade(req, socket, head, (ws) => server.attach(ws));
    });
    // Messages are queued from the start: the first may arrive in the same read as the handshake.
    const client = new WebSocket(url);
    // The server's close in upgradeServer does not reach upgraded sockets: a failed assertion below
    // would otherwise leave this one open and the test process running.
    after(() => client.terminate());
    const queue: string[] = [];
    let wake: (() => void) | null = null;
    client.on('message', (d) => {
      queue.push(d.toString());
      wake?.();
    });
    const next = async () => {
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return queue.shift();
    };
    assert.equal(await next(), 'hello');
    client.send('a');
    assert.equal(await next(), 'a');
    client.send(Buffer.from([1, 2, 3]));
    assert.equal(await next(), 'a,bytes:3');
    // The event is the server's own light one, but reads as a MessageEvent to code that checks.
    const [first] = events;
    assert.ok(first instanceof MessageEvent && first instanceof Event);
    assert.deepEqual(
      [first.type, first.data, first.origin, first.lastEventId, first.source, first.ports.length],
      ['message', 'a', 'ws://127.0.0.1', '', null, 0],
    );
    const closed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));
    client.send('boom');
    assert.equal(await closed, 1011);
    assert.deepEqual(lines, [{ level: 'error', event: 'websocket.error' }]);
    assert.ok((sockets[0]?.readyState ?? 0) >= 2, 'the server side is closing or closed');
  });
});

describe('info.upgradeWebSocket() outside the upgrade path', () => {
  test('throws a TypeError naming the reason', () => {
    const info = new WorkerRequestInfo(
      { method: 'GET', url: '/', socket: {} } as IncomingMessage,
      createClientResolver('127.0.0.1'),
      '',
      { id: 1, pid: 1 },
      new AbortController(),
      { child: () => ({}) } as never,
    );
    assert.throws(() => info.upgradeWebSocket(), TypeError);
  });
});
