import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { request, streamDownload, streamUpload } from '../helpers/http.js';
import { fixture, startServer, stopAll } from '../helpers/server.js';
import { observeFor, waitFor } from '../helpers/wait.js';

after(stopAll);

describe('serving an app', () => {
  test('a fetch handler is served, with Date and Server headers', async () => {
    const server = await startServer([fixture('pid.mjs')]);
    const reply = await request(`${server.url}/`);
    assert.equal(reply.status, 200);
    assert.equal(reply.body, String(server.liveWorkerPids()[0]));
    assert.ok(reply.headers.date, 'Date header');
    assert.equal(reply.headers.server, 'unicorn-ts');
    assert.equal(reply.headers['content-length'], String(reply.body.length));
    const loaded = server.events('worker.app_loaded')[0]!;
    assert.equal(loaded.interface, 'fetch');
  });

  test('a node (req, res) handler is served', async () => {
    const server = await startServer([fixture('two-args-node.mjs')]);
    const reply = await request(`${server.url}/`);
    assert.equal(reply.body, 'hi');
    assert.equal(server.events('worker.app_loaded')[0]!.interface, 'node');
  });

  test('an Express-shaped app (use/handle, three parameters) is served with the node interface', async () => {
    const server = await startServer([fixture('express-like.cjs')]);
    assert.equal((await request(`${server.url}/`)).body, 'express-like');
    assert.equal(server.events('worker.app_loaded')[0]!.interface, 'node');
  });

  test('`export default { fetch }` is served with the fetch interface', async () => {
    const server = await startServer([fixture('object-fetch.mjs')]);
    assert.equal((await request(`${server.url}/abc`)).body, 'object fetch /abc');
  });

  test('a factory `module:createApp()` is called once in each worker', async () => {
    const server = await startServer([`${fixture('factory.mjs')}:createApp()`, '-w', '2']);
    const body = (await request(`${server.url}/`)).body;
    assert.match(body, /^made in \d+, factory calls 1$/);
  });

  test('a TypeScript app loads (`app.ts:handler`)', async () => {
    const server = await startServer([`${fixture('app.ts')}:handler`]);
    const body = JSON.parse((await request(`${server.url}/ts`)).body);
    assert.equal(body.text, 'hello from typescript');
    assert.equal(body.path, '/ts');
  });

  test('the module path resolves without an extension', async () => {
    const server = await startServer([fixture('object-fetch')]);
    assert.equal((await request(`${server.url}/x`)).status, 200);
  });

  test('info carries the client address, scheme, worker, an AbortSignal and a logger', async () => {
    const server = await startServer([`${fixture('echo.mjs')}:handler`]);
    const body = JSON.parse(
      (await request(`${server.url}/p?q=1`, { method: 'POST', body: 'x'.repeat(1000) })).body,
    );
    assert.equal(body.method, 'POST');
    assert.equal(new URL(body.url).pathname, '/p');
    assert.equal(body.bodyBytes, 1000);
    assert.equal(body.remoteAddress, '127.0.0.1');
    assert.equal(body.scheme, 'http');
    assert.equal(body.worker.pid, server.liveWorkerPids()[0]);
    assert.equal(body.hasSignal, true);
    assert.equal(body.hasLog, true);
  });

  test('requests spread over several worker pids', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '3']);
    const pids = new Set<string>();
    // Concurrent slow requests on separate connections cannot all land on one idle-looking worker.
    for (let round = 0; round < 10 && pids.size < 2; round++) {
      const replies = await Promise.all(Array.from({ length: 6 }, () => request(`${server.url}/?ms=150`)));
      for (const r of replies) pids.add(r.body);
    }
    assert.ok(pids.size >= 2, `expected several worker pids, got ${[...pids].join(', ')}`);
    for (const pid of pids) assert.ok(server.liveWorkerPids().includes(Number(pid)));
  });

  test('keep-alive: several requests on one connection', async () => {
    const server = await startServer([fixture('pid.mjs')]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 3; i++) {
        const reply = await request(`${server.url}/`, { agent });
        assert.equal(reply.status, 200);
        assert.match(String(reply.headers.connection), /keep-alive/i);
      }
      // One socket was created for all three requests.
      assert.equal(Object.values(agent.freeSockets).flat().length, 1);
    } finally {
      agent.destroy();
    }
  });

  test('--keep-alive 0 closes every connection after its response', async () => {
    const server = await startServer([fixture('pid.mjs'), '--keep-alive', '0']);
    const reply = await request(`${server.url}/`, { agent: new http.Agent({ keepAlive: true }) });
    assert.equal(reply.headers.connection, 'close');
  });

  test('the sync worker serves one request at a time and closes each connection', async () => {
    const server = await startServer([fixture('node-pid.mjs'), '-k', 'sync']);
    const started = Date.now();
    const replies = await Promise.all([request(`${server.url}/?ms=300`), request(`${server.url}/?ms=300`)]);
    const elapsed = Date.now() - started;
    for (const r of replies) {
      assert.equal(r.status, 200);
      assert.equal(r.headers.connection, 'close');
    }
    // Two 300 ms requests on one sync worker run one after the other.
    assert.ok(elapsed >= 600, `two requests overlapped on a sync worker (${elapsed} ms)`);
  });

  test('the async worker runs requests concurrently, and sheds load past --worker-connections', async () => {
    const server = await startServer([fixture('pid.mjs'), '--worker-connections', '2']);
    const replies = await Promise.all(Array.from({ length: 4 }, () => request(`${server.url}/?ms=500`)));
    const statuses = replies.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 200, 503, 503]);
    const shed = await server.waitForEvent('request.shed');
    assert.match(String(shed.msg), /--worker-connections/);
  });

  test('a streamed download and upload pass through', async () => {
    const server = await startServer([fixture('stream.mjs')]);
    assert.equal(await streamDownload(`${server.url}/download?mb=8`), 8 * 1024 * 1024);
    const up = await streamUpload(`${server.url}/upload`, 8, 1024 * 1024);
    assert.equal(up.body, String(8 * 1024 * 1024));
  });
});

describe('connections go to a worker that can take them', () => {
  test('an async worker busy on the CPU takes no new connection: they go to the free worker at once', async () => {
    const server = await startServer([fixture('node-pid.mjs'), '-w', '2']);
    const pids = server.liveWorkerPids().map(String);
    const burning = request(`${server.url}/?burn=4000`);
    const busyPid = String((await server.waitForEvent('app.burning')).pid);
    const started = Date.now();
    const answeredBy = new Set<string>();
    for (let i = 0; i < 20; i++) answeredBy.add((await request(`${server.url}/`)).body);
    const elapsed = Date.now() - started;
    assert.equal((await burning).body, busyPid);
    assert.ok(pids.includes(busyPid));
    assert.deepEqual(
      [...answeredBy],
      [pids.find((p) => p !== busyPid)],
      'a new connection went to the busy worker',
    );
    assert.ok(elapsed < 4000, `the quick requests waited behind the busy worker (${elapsed} ms)`);
  });
});

describe('the sync worker does not accept while busy', () => {
  test('with one worker busy, every new request goes to the free worker at once', async () => {
    const server = await startServer([fixture('node-pid.mjs'), '-k', 'sync', '-w', '2']);
    const slow = request(`${server.url}/?ms=3000`);
    // The slow request's worker has stopped accepting once a later request is answered by the other.
    let busyPid = '';
    for (let i = 0; i < 50 && busyPid === ''; i++) {
      const reply = await request(`${server.url}/`);
      const other = server
        .liveWorkerPids()
        .map(String)
        .find((p) => p !== reply.body);
      if (other !== undefined) busyPid = other;
    }
    const started = Date.now();
    for (let i = 0; i < 10; i++) {
      const reply = await request(`${server.url}/`);
      assert.notEqual(reply.body, busyPid, 'a request went to the busy worker');
    }
    assert.ok(Date.now() - started < 3000, 'the quick requests did not wait behind the slow one');
    assert.equal((await slow).body, busyPid);
  });

  test('a connection taken after a response holds the worker even when the earlier connection closes late', async () => {
    // The first connection's close comes after its response (the client is slow to end it, so the
    // lingering close waits); by then the worker has taken a second connection, which has not yet
    // sent its request. That late close must not free the worker: a third connection waits in the
    // kernel's queue until the second has been served.
    const server = await startServer([fixture('node-pid.mjs'), '-k', 'sync', '-w', '1']);
    const get = 'GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n';
    const first = rawClient(server.port);
    first.socket.write(get);
    await first.headersSeen;
    const second = rawClient(server.port);
    await second.connected;
    // The worker takes the second connection as soon as it is free again; give it that moment
    // (generously: were it still in the kernel's queue with the third, both could come in at once).
    await observeFor(1000);
    first.socket.end();
    await first.closed;
    await observeFor(300);
    const third = rawClient(server.port);
    third.socket.write(get);
    await observeFor(1000);
    assert.equal(third.received(), '', 'the third connection was served while the second held the worker');
    second.socket.write(get);
    assert.match(await second.answered, /^HTTP\/1\.1 200 /);
    assert.match(await third.answered, /^HTTP\/1\.1 200 /);
    second.socket.end();
    third.socket.end();
  });

  test('a lone sync worker takes request after request (it accepts again after each response)', async () => {
    const server = await startServer([fixture('node-pid.mjs'), '-k', 'sync', '-w', '1']);
    for (let i = 0; i < 50; i++) assert.equal((await request(`${server.url}/`)).status, 200);
  });
});

describe('the sync worker closes a connection in stages (RFC 9112 section 9.6)', () => {
  test('a client still pipelining requests gets the first response whole and a clean FIN, never a reset', async () => {
    const server = await startServer([fixture('node-pid.mjs'), '-k', 'sync', '-w', '1']);
    const pid = String(server.liveWorkerPids()[0]);
    const outcome = await pipelineThree(server.port);
    assert.equal(outcome.error, null, 'the connection was reset');
    assert.equal(outcome.fin, true, 'no FIN from the server');
    const responses = outcome.received.split('HTTP/1.1 ').slice(1);
    assert.equal(responses.length, 1, `expected exactly one response, got:\n${outcome.received}`);
    assert.match(responses[0]!, /^200 OK\r\n/);
    assert.match(responses[0]!, /\r\nconnection: close\r\n/i);
    assert.ok(responses[0]!.endsWith(`\r\n\r\n${pid}`), `the first response was cut: ${responses[0]}`);
    // The worker accepts the next connection.
    assert.equal((await request(`${server.url}/`)).body, pid);
  });

  test('a request sent after the answer is read and dropped: the connection closes at the client’s FIN, not after the linger time', async () => {
    const server = await startServer([fixture('node-pid.mjs'), '-k', 'sync', '-w', '1']);
    const pid = server.liveWorkerPids()[0]!;
    const idle = socketsOf(pid);
    const client = rawClient(server.port);
    await client.connected;
    client.socket.write('GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
    const answer = await client.answered;
    assert.equal(answer.split('HTTP/1.1 ').length, 2, `one response: ${answer}`);
    assert.equal(socketsOf(pid), idle + 1, 'the connection lingers, read side open');
    // A keep-alive client that has not yet read the FIN sends its next request, with a body larger
    // than the request's buffer: unread, it would stop the socket from reading, and the client's FIN
    // would be seen only when the linger time (2 s) ran out.
    const body = 'x'.repeat(256 * 1024);
    client.socket.write(`POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: ${body.length}\r\n\r\n`);
    client.socket.end(body);
    const sent = Date.now();
    await waitFor('the worker to close the connection', () => socketsOf(pid) === idle, { timeoutMs: 10_000 });
    const closedAfterMs = Date.now() - sent;
    assert.ok(closedAfterMs < 1_500, `closed ${closedAfterMs} ms after the client's FIN`);
    assert.equal(client.received(), answer, 'nothing was answered to the dropped request');
    assert.equal((await request(`${server.url}/`)).body, String(pid));
  });
});

/** How many sockets process `pid` has open (its listening sockets and IPC channel included). */
function socketsOf(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // Closed meanwhile.
    }
  }
  return n;
}

/**
 * Pipelines three requests the way a slow client can: the first at once, the other two 100 ms apart
 * once the server's FIN has arrived (a client learns that the server closes only when it reads that
 * far), so it is still writing while the server closes. Resolves with everything received, whether
 * a FIN came, and the socket error if there was one (a reset shows on the write after it).
 */
function pipelineThree(port: number): Promise<{ received: string; fin: boolean; error: string | null }> {
  const get = 'GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n';
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let received = '';
    let fin = false;
    let error: string | null = null;
    const giveUp = setTimeout(() => socket.destroy(new Error('no close within 10 s')), 10_000);
    const later = (ms: number, step: () => void) =>
      setTimeout(() => {
        if (!socket.destroyed) step();
      }, ms);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
    });
    socket.on('end', () => {
      fin = true;
      later(100, () => socket.write(get));
      later(200, () => socket.write(get));
      later(300, () => socket.end());
    });
    socket.on('close', () => {
      clearTimeout(giveUp);
      resolve({ received, fin, error });
    });
    socket.write(get);
  });
}

/** A raw connection: what it received, and promises for its connection, first bytes, full answer and close. */
function rawClient(port: number) {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    data += chunk;
  });
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const headersSeen = new Promise<void>((resolve) => {
    const seen = () => {
      if (!data.includes('\r\n\r\n')) return;
      socket.off('data', seen);
      resolve();
    };
    socket.on('data', seen);
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  // The server closes after its one response: the answer is whole at its FIN. The client's own end
  // is left to the caller (a client slow to close is what the test is about).
  const answered = new Promise<string>((resolve, reject) => {
    const giveUp = setTimeout(
      () => reject(new Error(`no answer within 20 s; got ${JSON.stringify(data)}`)),
      20_000,
    );
    socket.once('end', () => {
      clearTimeout(giveUp);
      resolve(data);
    });
  });
  socket.on('error', () => {});
  return { socket, connected, headersSeen, closed, answered, received: () => data };
}
