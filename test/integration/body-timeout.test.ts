/**
 * --body-timeout on the real server, on both interfaces and both worker classes: a client that stops
 * sending its body gets 408 and a closed connection while the app's body stream fails (and, for the
 * fetch interface, its signal aborts); a slow but steady upload and an app that is slow to read are
 * not cut; the worker serves on.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { setTimeout as pause } from 'node:timers/promises';
import { rawExchange, request } from '../helpers/http.js';
import { fixture, type LogLine, type Server, startServer, stopAll } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

after(stopAll);

const APPS = {
  fetch: [`${fixture('body-reader.mjs')}:fetch`, '--interface', 'fetch'],
  node: [`${fixture('body-reader.mjs')}:node`, '--interface', 'node'],
};
const WORKERS = { async: [] as string[], sync: ['-k', 'sync'] };

const head = (length: number, path = '/') =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`;

const statusOf = (data: Buffer) => Number(/^HTTP\/1\.1 (\d{3})/.exec(data.toString('latin1'))?.[1] ?? 0);

/** The app's own log line about its body failing (written through info.log / req.unicorn.log). */
function appSawFailure(server: Server): Promise<LogLine> {
  return waitFor(
    'the app to report its body failed',
    () => server.logs.find((l) => l.msg === 'body failed'),
    {
      timeoutMs: 15_000,
    },
  );
}

/** Sends `pieces` on one connection, `gapMs` apart, and reads the response until the server closes. */
function paced(port: number, pieces: Buffer[], gapMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(60_000, () => socket.destroy(new Error('no response within 60 s')));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
    socket.on('connect', async () => {
      for (const [i, piece] of pieces.entries()) {
        // The client's pacing is the scenario itself: gaps well under the timeout.
        if (i > 0) await pause(gapMs);
        if (socket.destroyed) return;
        socket.write(piece);
      }
    });
  });
}

describe('--body-timeout: a client that stops sending its body', () => {
  for (const [iface, app] of Object.entries(APPS)) {
    for (const [worker, workerArgs] of Object.entries(WORKERS)) {
      test(`gets 408 and a closed connection; the app's body fails; the worker serves on (${iface}, ${worker})`, async () => {
        const server = await startServer([...app, ...workerArgs, '--body-timeout', '1']);
        const pid = server.liveWorkerPids()[0]!;
        // Headers announcing 100000 bytes, 10 of them, then nothing.
        const { data, closed } = await rawExchange(
          server.port,
          Buffer.concat([Buffer.from(head(100_000), 'latin1'), Buffer.alloc(10, 97)]),
          { idleMs: 30_000, timeoutMs: 30_000 },
        );
        assert.equal(statusOf(data), 408, data.toString('latin1'));
        assert.match(data.toString('latin1'), /\r\nconnection: close\r\n/i);
        assert.equal(closed, true, 'the connection is closed');
        const line = await server.waitForEvent('request.body_timeout');
        assert.equal(line.method, 'POST');
        assert.equal(line.timeoutMs, 1000);
        const failure = await appSawFailure(server);
        assert.equal(failure.aborted, true, "the request's signal aborted");
        assert.equal(failure.code, 'UNICORN_BODY_TIMEOUT');
        assert.match(String(failure.error), /body-timeout/);
        // The same worker answers the next request, and nothing was retired or replaced.
        const reply = await request(`${server.url}/`, { method: 'POST', body: 'hello' });
        assert.equal(reply.status, 200);
        assert.deepEqual(JSON.parse(reply.body), { bytes: 5, pid });
        assert.deepEqual(server.liveWorkerPids(), [pid]);
        assert.equal(server.events('worker.uncaught').length, 0);
      });
    }
  }

  test('once the response has started, the connection is cut instead (node, async)', async () => {
    const server = await startServer([...APPS.node, '--body-timeout', '1']);
    const { data, closed } = await rawExchange(
      server.port,
      Buffer.concat([Buffer.from(head(100_000, '/?early=1'), 'latin1'), Buffer.alloc(10, 97)]),
      { idleMs: 30_000, timeoutMs: 30_000 },
    );
    const text = data.toString('latin1');
    assert.equal(statusOf(data), 200, text);
    assert.match(text, /started/);
    assert.doesNotMatch(text, /\r\n0\r\n\r\n$/, 'the chunked response never ends');
    assert.equal(closed, true);
    const line = await server.waitForEvent('request.body_timeout');
    assert.match(String(line.msg), /connection closed/);
    assert.equal((await appSawFailure(server)).code, 'UNICORN_BODY_TIMEOUT');
  });
});

describe('--body-timeout is an idle timeout, and only while the server waits for the client', () => {
  test('a body sent slowly, in pieces closer together than the timeout, is read whole', async () => {
    for (const [iface, worker] of [
      ['fetch', 'async'],
      ['node', 'sync'],
    ] as const) {
      const server = await startServer([...APPS[iface], ...WORKERS[worker], '--body-timeout', '2']);
      // 15 pieces 200 ms apart: about 3 s in all, longer than the timeout, with no gap near it.
      const pieces = Array.from({ length: 15 }, () => Buffer.alloc(100, 98));
      const data = await paced(server.port, [Buffer.from(head(1500), 'latin1'), ...pieces], 200);
      assert.equal(statusOf(data), 200, `${iface}/${worker}: ${data.toString('latin1')}`);
      assert.match(data.toString('latin1'), /"bytes":1500/);
      assert.equal(server.events('request.body_timeout').length, 0);
      await server.stop();
    }
  });

  test('an app that waits longer than the timeout before reading still gets the whole body', async () => {
    for (const [iface, worker] of [
      ['fetch', 'async'],
      ['node', 'async'],
      ['node', 'sync'],
    ] as const) {
      const server = await startServer([...APPS[iface], ...WORKERS[worker], '--body-timeout', '1']);
      // 1 MiB, all sent at once: it backs up in the request stream, the socket and the kernel while
      // the app waits 2.5 s, and the server is never waiting for the client meanwhile.
      const size = 1024 * 1024;
      const reply = await request(`${server.url}/?wait=2500`, {
        method: 'POST',
        body: Buffer.alloc(size, 99),
        timeoutMs: 60_000,
      });
      assert.equal(reply.status, 200, `${iface}/${worker}: ${reply.body}`);
      assert.equal(JSON.parse(reply.body).bytes, size);
      assert.equal(server.events('request.body_timeout').length, 0);
      await server.stop();
    }
  });
});
