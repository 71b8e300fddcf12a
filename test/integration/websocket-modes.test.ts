/**
 * WebSockets beyond the default worker class on plain TCP (websocket.test.ts): on the sync worker,
 * with --dispatch request, and over TLS (wss://). Each mode runs both interfaces, the node one (an
 * `upgrade` export with ws) and the fetch one (info.upgradeWebSocket()), through the same steps:
 * a WebSocket echoes text and binary, plain HTTP is still answered, and TERM closes the WebSocket
 * with 1001 and stops the server with exit 0, no worker killed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { errorLines, fixture, type Server, startServer, stopAll } from '../helpers/server.js';
import { makeCertificates } from '../helpers/tls.js';
import { isAlive } from '../helpers/wait.js';
import { openSocket, TestSocket, wsUrl } from '../helpers/websocket.js';

after(stopAll);

const dir = mkdtempSync(join(tmpdir(), 'unicorn-ws-tls-'));
const file = (name: string) => join(dir, name);

/** Both interfaces, on the fixtures websocket.test.ts uses. */
const APPS = [
  { app: 'ws-node.mjs', what: 'the node interface (an `upgrade` export with ws)' },
  { app: 'ws-fetch.mjs', what: 'the fetch interface (info.upgradeWebSocket())' },
] as const;

/** Echoes one text and one binary message on `socket`. */
async function assertEchoes(socket: TestSocket): Promise<void> {
  assert.equal(await socket.ask('hello'), 'hello');
  socket.ws.send(Buffer.from([0, 1, 2, 255]));
  assert.equal(await socket.next(), 'binary:000102ff');
}

/**
 * TERM with the WebSocket open: it gets 1001, the master exits 0, and every worker exited by
 * itself (no signal), well before --graceful-timeout.
 */
async function assertGracefulStop(server: Server, sockets: TestSocket[]): Promise<void> {
  const pids = server.liveWorkerPids();
  const termAt = Date.now();
  server.signal('SIGTERM');
  for (const socket of sockets) assert.equal((await socket.waitClosed()).code, 1001);
  assert.deepEqual(await server.waitForExit(), { code: 0, signal: null });
  for (const pid of pids) {
    const line = await server.waitForEvent('worker.exited', (l) => l.workerPid === pid);
    assert.equal(line.signal ?? null, null, `worker ${pid} was killed by ${String(line.signal)}`);
    assert.equal(line.code, 0);
    assert.equal(isAlive(pid), false);
  }
  assert.ok(Date.now() - termAt < 20_000, 'the stop takes far less than --graceful-timeout');
  await server.waitForEvent('websocket.going_away');
}

describe('WebSockets on the sync worker (-k sync)', () => {
  for (const { app, what } of APPS) {
    test(`${what}: an open WebSocket holds no request slot: plain requests and a second WebSocket are served beside it`, async () => {
      const server = await startServer([fixture(app), '-k', 'sync', '-w', '1', '--ws-drain-grace', '0.5']);
      const pid = String(server.liveWorkerPids()[0]);
      const first = await openSocket(wsUrl(server.url));
      await assertEchoes(first);
      assert.equal(await first.ask('pid'), pid);
      // One worker, one request at a time: these are answered only if the WebSocket freed the slot.
      for (let i = 0; i < 3; i++) {
        const plain = await request(`${server.url}/`, { timeoutMs: 10_000 });
        assert.equal(plain.status, 200);
        assert.equal(plain.body, pid);
      }
      const second = await openSocket(wsUrl(server.url));
      assert.equal(await second.ask('pid'), pid);
      assert.equal(await first.ask('still open'), 'still open');
      await assertGracefulStop(server, [first, second]);
      assert.deepEqual(errorLines(server), []);
    });
  }
});

/** A keep-alive agent holding one connection, and that connection once it has been made. */
class KeepAlive {
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  socket: Socket | null = null;

  constructor(readonly url: string) {}

  get(path: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.get(`${this.url}${path}`, { agent: this.agent }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('socket', (socket: Socket) => {
        this.socket = socket;
      });
      req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path} timed out`)));
      req.on('error', reject);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

describe('WebSockets with --dispatch request', () => {
  for (const { app, what } of APPS) {
    test(`${what}: a handshake on a kept-alive connection waiting in the master reaches a worker, across a HUP`, async () => {
      const server = await startServer([
        fixture(app),
        '-w',
        '1',
        '--dispatch',
        'request',
        '--keep-alive',
        '60',
        '--ws-drain-grace',
        '0.5',
      ]);
      const oldPid = server.liveWorkerPids()[0]!;
      const client = new KeepAlive(server.url);
      try {
        assert.equal((await client.get('/')).body, String(oldPid));
        const kept = client.socket;
        // The old worker exits with the connection waiting in the master: from here on, the handshake
        // on it can only reach a worker by the master reading its head and handing it over.
        const mark = server.logs.length;
        server.signal('SIGHUP');
        await server.waitForEvent('reload.done', () => true, { after: mark });
        await server.waitForEvent('worker.exited', (l) => l.workerPid === oldPid, { after: mark });
        const newPid = String(server.liveWorkerPids()[0]);
        const socket = new TestSocket(wsUrl(server.url), { agent: client.agent });
        const upgradedOn = new Promise<unknown>((resolve) =>
          socket.ws.once('upgrade', (res: http.IncomingMessage) => resolve(res.socket)),
        );
        await socket.opened;
        assert.equal(await upgradedOn, kept, 'the handshake went out on the kept-alive connection');
        await assertEchoes(socket);
        assert.equal(await socket.ask('pid'), newPid);
        // Plain requests on another kept-alive connection are still given to the worker the
        // WebSocket is on: an open WebSocket is no request in flight.
        const other = new KeepAlive(server.url);
        try {
          for (let i = 0; i < 3; i++) assert.equal((await other.get('/')).body, newPid);
        } finally {
          other.close();
        }
        await assertGracefulStop(server, [socket]);
        assert.deepEqual(errorLines(server), []);
      } finally {
        client.close();
      }
    });
  }
});

describe('WebSockets over TLS (wss://)', () => {
  before(() => makeCertificates(dir));

  /** `https://` GET trusting the test CA. */
  function get(url: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = https.get(url, { ca: readFileSync(file('ca.pem')), agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.setTimeout(10_000, () => req.destroy(new Error(`GET ${url} timed out`)));
      req.on('error', reject);
    });
  }

  for (const { app, what } of APPS) {
    test(`${what}: a wss:// WebSocket echoes text and binary beside HTTPS requests, and gets 1001 on TERM`, async () => {
      const server = await startServer([
        fixture(app),
        '-w',
        '1',
        '--certfile',
        file('server.pem'),
        '--keyfile',
        file('server.key'),
        '--ws-drain-grace',
        '0.5',
      ]);
      const pid = String(server.liveWorkerPids()[0]);
      const httpsUrl = server.url.replace(/^http:/, 'https:');
      const socket = await openSocket(wsUrl(httpsUrl), { ca: readFileSync(file('ca.pem')) });
      assert.ok(socket.ws.url.startsWith('wss://'));
      await assertEchoes(socket);
      assert.equal(await socket.ask('pid'), pid);
      const plain = await get(`${httpsUrl}/`);
      assert.equal(plain.status, 200);
      assert.equal(plain.body, pid);
      assert.equal(await socket.ask('after https'), 'after https');
      await assertGracefulStop(server, [socket]);
      assert.deepEqual(errorLines(server), []);
    });
  }
});
