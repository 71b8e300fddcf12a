import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { rawExchange, request } from '../helpers/http.js';
import { fixture, startServer, stopAll } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

after(stopAll);

const statusOf = (data: Buffer) => Number(/^HTTP\/1\.1 (\d{3})/.exec(data.toString('latin1'))?.[1] ?? 0);

describe('request limits (Gunicorn names and defaults) answer 414 / 431 / 413, close, and leave the worker unharmed', () => {
  const app = `${fixture('echo.mjs')}:handler`;

  async function expectRefused(
    server: { port: number; url: string; liveWorkerPids(): number[] },
    raw: string,
    status: number,
  ) {
    const pids = server.liveWorkerPids();
    const { data, closed } = await rawExchange(server.port, Buffer.from(raw, 'latin1'));
    assert.equal(statusOf(data), status, data.toString('latin1').slice(0, 200));
    assert.equal(closed, true, 'the connection is closed');
    assert.equal((await request(`${server.url}/`)).status, 200, 'the worker still serves');
    assert.deepEqual(server.liveWorkerPids(), pids, 'no worker died');
  }

  test('a request line over --limit-request-line (default 4094) gets 414', async () => {
    const server = await startServer([app]);
    await expectRefused(server, `GET /${'a'.repeat(4100)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414);
    // Just under the limit passes.
    const ok = await rawExchange(
      server.port,
      Buffer.from(`GET /${'a'.repeat(4000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    assert.equal(statusOf(ok.data), 200);
  });

  test('more header fields than --limit-request-fields gets 431', async () => {
    const server = await startServer([app, '--limit-request-fields', '5']);
    const headers = Array.from({ length: 6 }, (_, i) => `X-H${i}: v\r\n`).join('');
    await expectRefused(server, `GET / HTTP/1.1\r\nHost: x\r\n${headers}\r\n`, 431);
  });

  test('a header field over --limit-request-field-size (default 8190) gets 431', async () => {
    const server = await startServer([app]);
    await expectRefused(server, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(8190)}\r\n\r\n`, 431);
  });

  test("a header block over node:http's own cap gets 431 too", async () => {
    const server = await startServer([app, '--limit-request-field-size', '0', '--limit-request-fields', '0']);
    const headers = Array.from({ length: 200 }, (_, i) => `X-H${i}: ${'c'.repeat(8000)}\r\n`).join('');
    await expectRefused(server, `GET / HTTP/1.1\r\nHost: x\r\n${headers}\r\n`, 431);
  });

  test('a declared body over --limit-request-body gets 413 before the app runs', async () => {
    const server = await startServer([app, '--limit-request-body', '1000']);
    await expectRefused(
      server,
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n${'d'.repeat(5000)}`,
      413,
    );
  });

  test('a chunked body that grows past --limit-request-body is cut off with 413', async () => {
    const server = await startServer([app, '--limit-request-body', '1000']);
    const chunk = `${(600).toString(16)}\r\n${'e'.repeat(600)}\r\n`;
    await expectRefused(
      server,
      `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}${chunk}0\r\n\r\n`,
      413,
    );
  });

  test('garbage gets 400 and the worker serves on', async () => {
    const server = await startServer([app]);
    await expectRefused(server, 'THIS IS NOT HTTP\r\n\r\n', 400);
  });
});

describe('slow clients', () => {
  test('1,000 connections trickling headers do not stop a normal client from being served promptly', async () => {
    const server = await startServer([fixture('pid.mjs')]);
    const sockets: net.Socket[] = [];
    try {
      await Promise.all(
        Array.from(
          { length: 1000 },
          () =>
            new Promise<void>((resolve, reject) => {
              const s = net.connect(server.port, '127.0.0.1', () => {
                s.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
                resolve();
              });
              s.on('error', reject);
              sockets.push(s);
            }),
        ),
      );
      // Keep trickling: one byte on each slow connection.
      for (const s of sockets) s.write('a');
      const started = Date.now();
      const reply = await request(`${server.url}/`);
      assert.equal(reply.status, 200);
      assert.ok(Date.now() - started < 5000, `served in ${Date.now() - started} ms`);
      await waitFor('slow sockets still open', () => sockets.every((s) => !s.destroyed));
    } finally {
      for (const s of sockets) s.destroy();
    }
  });
});
