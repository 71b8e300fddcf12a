/**
 * Defects found by attacking the server from outside, each pinned on the real CLI: what a client's
 * bytes must never do to a worker (wedge it, leak a request slot, move the app's path, fill the
 * error log), connections that never send a byte, and workers that lose their master.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { rawExchange, request } from '../helpers/http.js';
import { errorLines, fixture, startServer, stopAll } from '../helpers/server.js';
import { isAlive, waitFor } from '../helpers/wait.js';

after(stopAll);

const statusOf = (data: Buffer) => Number(/^HTTP\/1\.1 (\d{3})/.exec(data.toString('latin1'))?.[1] ?? 0);
const statuses = (data: Buffer) =>
  [...data.toString('latin1').matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

/** The 69 bytes: a request refused for its two Host fields, and a valid one pipelined behind it. */
const REFUSED_THEN_PIPELINED = Buffer.from(
  'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n',
  'latin1',
);

describe('a request pipelined behind one the server refused', () => {
  test('never wedges a sync worker: after three such writes, -w 1 -k sync still serves', async () => {
    const server = await startServer([fixture('pid.mjs'), '-k', 'sync', '-w', '1']);
    const pids = server.liveWorkerPids();
    for (let i = 0; i < 3; i++) {
      const { data, closed } = await rawExchange(server.port, REFUSED_THEN_PIPELINED);
      assert.deepEqual(statuses(data), [400], 'one answer, for the refused request');
      assert.equal(closed, true);
    }
    const reply = await request(`${server.url}/`, { timeoutMs: 5000 });
    assert.equal(reply.status, 200);
    assert.deepEqual(server.liveWorkerPids(), pids, 'the same worker, alive');
  });

  test('never leaks a request slot on the async worker: ten such writes leave --worker-connections 2 serving', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '1', '--worker-connections', '2']);
    for (let i = 0; i < 10; i++) await rawExchange(server.port, REFUSED_THEN_PIPELINED);
    // With leaked slots every later request would be shed with 503.
    const replies = await Promise.all([request(`${server.url}/`), request(`${server.url}/`)]);
    assert.deepEqual(
      replies.map((r) => r.status),
      [200, 200],
    );
  });

  test('a graceful stop after such writes ends at once, without SIGKILL', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '1', '--graceful-timeout', '20']);
    for (let i = 0; i < 3; i++) await rawExchange(server.port, REFUSED_THEN_PIPELINED);
    const started = Date.now();
    server.signal('SIGTERM');
    const { code } = await server.waitForExit(25_000);
    assert.equal(code, 0);
    assert.ok(Date.now() - started < 10_000, `stopped in ${Date.now() - started} ms`);
    assert.deepEqual(errorLines(server), [], 'no worker was killed (that would be an error line)');
  });
});

describe('bytes pipelined after a valid request', () => {
  for (const worker of ['async', 'sync']) {
    test(`cannot replace that request's answer with a 400 (${worker})`, async () => {
      const server = await startServer([fixture('abortable.mjs'), '-k', worker, '-w', '1']);
      // /slow answers after 300 ms, so the garbage is parsed while the request is in flight.
      const { data, closed } = await rawExchange(
        server.port,
        Buffer.from('GET /slow?ms=300 HTTP/1.1\r\nHost: a\r\n\r\nXYZ\r\n\r\n', 'latin1'),
        { idleMs: 3000 },
      );
      assert.deepEqual(statuses(data), [200], data.toString('latin1'));
      assert.match(data.toString('latin1'), /\r\n\r\nfinished$/);
      assert.equal(closed, true, 'the connection closes after the answer it owed');
      assert.equal((await request(`${server.url}/`)).status, 200);
      assert.deepEqual(errorLines(server), []);
    });
  }

  for (const [name, head] of [
    ['HTTP/1.0', 'GET / HTTP/1.0\r\nHost: a\r\n\r\n'],
    ['Connection: close', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'],
    ['bad bytes after a kept-alive request', 'GET / HTTP/1.1\r\nHost: a\r\n\r\n'],
  ] as const) {
    test(`the close after its answer does not reset a client still sending (${name})`, async () => {
      // Closing at once while the client sends resets the connection, and a client whose next write
      // then fails (EPIPE) loses the answer it has not read yet. The server ends its side and reads
      // on (RFC 9112 section 9.6) until the client closes.
      const server = await startServer([fixture('pid.mjs'), '-w', '1']);
      const socket = net.connect({ port: server.port, host: '127.0.0.1', allowHalfOpen: true });
      const errors: string[] = [];
      socket.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message));
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      const ended = new Promise<void>((resolve) => socket.once('end', resolve));
      const closed = new Promise<void>((resolve) => socket.once('close', resolve));
      socket.write(`${head}XYZ\r\n`);
      await ended;
      assert.deepEqual(statuses(Buffer.concat(chunks)), [200]);
      // The server has sent its answer and ended its side; the client goes on sending for 1 s.
      for (let i = 0; i < 50 && errors.length === 0 && !socket.destroyed; i++) {
        await new Promise<void>((resolve) => socket.write('more\r\n', () => resolve()));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      socket.end();
      await closed;
      assert.deepEqual(errors, [], 'the client saw the connection reset');
      assert.deepEqual(errorLines(server), []);
    });
  }

  test('requests pipelined before the bad bytes are all answered, in order', async () => {
    const server = await startServer([fixture('abortable.mjs'), '-w', '1']);
    const { data } = await rawExchange(
      server.port,
      Buffer.from(
        'GET /slow?ms=200 HTTP/1.1\r\nHost: a\r\n\r\nGET /other HTTP/1.1\r\nHost: a\r\n\r\n\x01\x02 bad\r\n\r\n',
        'latin1',
      ),
      { idleMs: 3000 },
    );
    const text = data.toString('latin1');
    assert.deepEqual(statuses(data), [200, 200], text);
    assert.ok(text.indexOf('finished') < text.indexOf('ok '), 'in request order');
  });
});

describe('a body that fails behind a pipelined request (fetch interface)', () => {
  // The second request's chunk size line ends in a bare LF, and the client half-closes. The server
  // answers that request itself (400), queued behind the first one's answer, while the app is still
  // reading its body; the app's own Response for it came after and was written over the server's
  // answer: ERR_HTTP_HEADERS_SENT, logged as the app's error. Found by the fuzzer (seed 11).
  test("the app's late Response is dropped, not logged as its error; the first request is answered", async () => {
    const server = await startServer([`${fixture('fuzz.mjs')}:fetchApp`, '-w', '1']);
    const bytes =
      'GET /first HTTP/1.1\r\nHost: a\r\n\r\n' +
      'GET /second HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n';
    for (let i = 0; i < 3; i++) {
      const data = (
        await rawExchange(server.port, Buffer.from(bytes, 'latin1'), { halfClose: true, idleMs: 5000 })
      ).data.toString('latin1');
      assert.match(data, /^HTTP\/1\.1 200 OK\r\n/, data);
      assert.match(data, /\r\nx-path: \/first\r\n/, data);
    }
    // The fixture logs fuzz.marker through the worker's logger: every line logged before it is in.
    assert.equal((await request(`${server.url}/__fuzz_marker/1`)).status, 200);
    await server.waitForEvent('fuzz.marker', (l) => l.marker === 1);
    assert.deepEqual(errorLines(server), []);
  });
});

describe('--limit-request-body on a chunked body', () => {
  for (const iface of ['fetch', 'node']) {
    test(`fails the app's body stream (UNICORN_BODY_TOO_LARGE) instead of ending it (${iface})`, async () => {
      const server = await startServer([
        `${fixture('body-reader.mjs')}:${iface}`,
        '--interface',
        iface,
        '-w',
        '1',
        '--limit-request-body',
        '100',
      ]);
      const pids = server.liveWorkerPids();
      const chunk = (n: number) => `${n.toString(16)}\r\n${'x'.repeat(n)}\r\n`;
      const { data, closed } = await rawExchange(
        server.port,
        Buffer.from(
          `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(80)}${chunk(80)}${chunk(80)}0\r\n\r\n`,
          'latin1',
        ),
      );
      assert.equal(statusOf(data), 413);
      assert.equal(closed, true);
      const failed = await waitFor('the app to report its body failed', () =>
        server.logs.find((l) => l.msg === 'body failed'),
      );
      assert.equal(failed.code, 'UNICORN_BODY_TOO_LARGE');
      assert.equal(failed.aborted, true, "the request's signal aborted too");
      // The app never took the cut body for a whole one.
      assert.equal(
        server.logs.some((l) => typeof l.msg === 'string' && /"bytes"/.test(l.msg)),
        false,
      );
      assert.equal((await request(`${server.url}/`, { method: 'POST', body: 'small' })).status, 200);
      assert.deepEqual(server.liveWorkerPids(), pids, 'no worker retired');
      assert.deepEqual(errorLines(server), []);
    });
  }
});

describe('the Host header', () => {
  const BAD_HOSTS = ['x/hello/Mallory?', 'a b', '[::1', 'x:99999', 'evil@good', 'a%2Fb', 'x\\y'];

  test('is checked as host[:port]: anything else is 400, never a 500 or an error line', async () => {
    const server = await startServer(['examples/hono-app.ts', '-w', '1']);
    for (const host of BAD_HOSTS) {
      const { data } = await rawExchange(
        server.port,
        Buffer.from(`GET /hello/Ada HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 'latin1'),
      );
      assert.equal(statusOf(data), 400, `Host: ${host}`);
    }
    for (const host of ['example.com', 'example.com:8080', '127.0.0.1:1', '[::1]:8000', '']) {
      const { data } = await rawExchange(
        server.port,
        Buffer.from(`GET /hello/Ada HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, 'latin1'),
      );
      assert.equal(statusOf(data), 200, `Host: ${host}`);
      assert.match(data.toString('latin1'), /Ada/, 'routed on the path the client asked for');
    }
    assert.deepEqual(errorLines(server), []);
  });

  test("an absolute-form target: its authority without userinfo, the connection's scheme", async () => {
    const server = await startServer([`${fixture('echo.mjs')}:handler`, '-w', '1']);
    const ask = async (target: string) => {
      const { data } = await rawExchange(
        server.port,
        Buffer.from(`GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`, 'latin1'),
      );
      const text = data.toString('latin1');
      return { status: statusOf(data), body: text.slice(text.indexOf('\r\n\r\n') + 4) };
    };
    const withUser = await ask('http://user:pass@example.com:8080/foo?q=1');
    assert.equal(withUser.status, 200);
    assert.equal(JSON.parse(withUser.body).url, 'http://example.com:8080/foo?q=1');
    const https = await ask('https://example.com/p');
    assert.equal(JSON.parse(https.body).url, 'http://example.com/p', 'the scheme is the connection’s');
    assert.equal(JSON.parse(https.body).scheme, 'http');
    assert.equal((await ask('file:///etc/passwd')).status, 400);
    assert.deepEqual(errorLines(server), []);
  });

  test("examples/hello.ts's new URL(request.url) never throws on a client's Host", async () => {
    const server = await startServer(['examples/hello.ts', '-w', '1']);
    for (const host of [...BAD_HOSTS, '', '[fe80::1%25eth0]', 'xn--', '0x7f.1', '%41']) {
      const { data } = await rawExchange(
        server.port,
        Buffer.from(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, 'latin1'),
      );
      assert.ok([200, 400].includes(statusOf(data)), `Host: ${host} gave ${statusOf(data)}`);
    }
    assert.deepEqual(errorLines(server), []);
  });
});

/** Opens a connection and resolves with what it received and how long it stayed open. */
function holdOpen(port: number, send = ''): Promise<{ data: string; ms: number; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const started = Date.now();
    let data = '';
    socket.setTimeout(60_000, () => socket.destroy(new Error('still open after 60 s')));
    socket.on('connect', () => send && socket.write(send));
    socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
    socket.on('close', () => resolve({ data, ms: Date.now() - started, socket }));
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
  });
}

describe('connections that never send a complete head (--header-timeout)', () => {
  test('one that sends nothing is closed without an answer; one that sent part of a head gets 408', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '1', '--header-timeout', '1']);
    const [silent, partial] = await Promise.all([
      holdOpen(server.port),
      holdOpen(server.port, 'GET / HTTP/1.1\r\nHo'),
    ]);
    assert.equal(silent.data, '');
    assert.ok(silent.ms < 10_000, `closed after ${silent.ms} ms`);
    assert.equal(statusOf(Buffer.from(partial.data, 'latin1')), 408);
    assert.deepEqual(errorLines(server), []);
  });

  test('on the sync worker an idle connection holds the worker for --header-timeout at most', async () => {
    const server = await startServer([fixture('pid.mjs'), '-k', 'sync', '-w', '1', '--header-timeout', '1']);
    const idle = holdOpen(server.port);
    const reply = await request(`${server.url}/`, { timeoutMs: 15_000 });
    assert.equal(reply.status, 200);
    await idle;
  });

  test('a draining worker closes connections that have not started a request within a second, as idle kept-alive ones', async () => {
    // The default --header-timeout (30 s) would hold the stop up to --graceful-timeout.
    const server = await startServer([fixture('pid.mjs'), '-w', '1', '--graceful-timeout', '20']);
    const idle = [holdOpen(server.port), holdOpen(server.port), holdOpen(server.port)];
    // The worker has taken the connections once it answers a request made after them.
    assert.equal((await request(`${server.url}/`)).status, 200);
    const started = Date.now();
    server.signal('SIGTERM');
    const { code } = await server.waitForExit(25_000);
    assert.equal(code, 0);
    assert.ok(Date.now() - started < 8000, `stopped in ${Date.now() - started} ms`);
    assert.deepEqual(errorLines(server), [], 'no worker was killed (that would be an error line)');
    for (const held of await Promise.all(idle)) assert.equal(held.data, '');
  });
});

describe('a worker whose master is killed with kill -9', () => {
  test('finishes its in-flight request, then exits', async () => {
    const server = await startServer([fixture('abortable.mjs'), '-w', '1', '--graceful-timeout', '10']);
    const [workerPid] = server.liveWorkerPids();
    const inFlight = request(`${server.url}/slow?ms=1500`);
    await waitFor('the app to start the request', () =>
      server.logs.find((l) => l.msg === 'slow request started'),
    );
    process.kill(server.pid, 'SIGKILL');
    const reply = await inFlight;
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'finished');
    const orphaned = await waitFor('the worker to log that its master is gone', () =>
      server.logs.find((l) => l.event === 'worker.orphaned'),
    );
    assert.equal(orphaned.pid, workerPid);
    await waitFor('the worker to exit', () => !isAlive(workerPid!), { timeoutMs: 15_000 });
  });
});

describe('WORKER TIMEOUT', () => {
  test('names the request that blocked, even when it started right after another one', async () => {
    const server = await startServer([fixture('block.mjs'), '-w', '1', '--timeout', '2']);
    // Back to back on one kept-alive connection: /block is sent the moment /fast's answer arrives,
    // so it starts within 100 ms of the heartbeat that named /fast.
    const socket = net.connect(server.port, '127.0.0.1');
    socket.on('error', () => {});
    let data = '';
    let answered = 0;
    const next = () =>
      new Promise<void>((resolve) => {
        const onData = () => {
          const count = (data.match(/HTTP\/1\.1 200 /g) ?? []).length;
          if (count > answered && /\r\n\r\n\d+$/.test(data)) {
            answered = count;
            socket.off('data', onData);
            resolve();
          }
        };
        socket.on('data', onData);
      });
    socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
    // A few quick requests first: the very first one in a worker can take longer than 100 ms.
    for (let i = 0; i < 5; i++) {
      const answer = next();
      socket.write('GET /fast HTTP/1.1\r\nHost: a\r\n\r\n');
      await answer;
    }
    socket.write('GET /block HTTP/1.1\r\nHost: a\r\n\r\n');
    const timeout = await server.waitForEvent('worker.timeout');
    assert.equal(timeout.request, 'GET /block');
    socket.destroy();
  });
});

/** A kept-alive raw connection: `ask` sends one request and resolves with its whole answer. */
function keptAlive(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let data = '';
  socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    closed,
    get data() {
      return data;
    },
    async ask(path: string): Promise<string> {
      const before = data.length;
      socket.write(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
      return waitFor(`an answer to ${path}`, () => {
        const got = data.slice(before);
        const m = /content-length: (\d+)\r\n[\s\S]*?\r\n\r\n/i.exec(got);
        return m && got.length >= m.index + m[0].length + Number(m[1]) ? got : undefined;
      });
    },
  };
}

describe('--dispatch request: bad bytes on a parked connection', () => {
  test('are answered 400 by the master and cost a waiting request nothing', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '2', '--dispatch', 'request']);
    const legit = keptAlive(server.port);
    assert.match(await legit.ask('/'), /^HTTP\/1\.1 200 /);
    const attackers = Array.from({ length: 40 }, () => keptAlive(server.port));
    for (const a of attackers) assert.match(await a.ask('/'), /^HTTP\/1\.1 200 /);
    // Every connection is parked in the master once its answer is out; now each sends garbage, and
    // the legitimate client its next request.
    for (const a of attackers) a.socket.write('XYZ\r\n');
    const started = Date.now();
    assert.match(await legit.ask('/again'), /^HTTP\/1\.1 200 /);
    const waited = Date.now() - started;
    await Promise.all(attackers.map((a) => a.closed));
    for (const a of attackers) assert.match(a.data.slice(a.data.lastIndexOf('HTTP/1.1')), /^HTTP\/1\.1 400 /);
    // Before, each bad connection took a free worker's turn: 40 of them delayed this by ~20 s.
    assert.ok(waited < 5000, `the legitimate request waited ${waited} ms`);
    legit.socket.destroy();
  });
});

describe('methods a fetch Request cannot carry', () => {
  test('TRACE is answered 405 on the fetch interface, never a 500; the node interface still gets it', async () => {
    const fetchServer = await startServer(['examples/hello.ts', '-w', '1']);
    const { data } = await rawExchange(
      fetchServer.port,
      Buffer.from('TRACE / HTTP/1.1\r\nHost: a\r\n\r\n', 'latin1'),
    );
    assert.equal(statusOf(data), 405);
    assert.deepEqual(errorLines(fetchServer), []);
    const nodeServer = await startServer([fixture('node-pid.mjs'), '-w', '1']);
    const reply = await request(`${nodeServer.url}/`, { method: 'TRACE' });
    assert.equal(reply.status, 200);
  });
});

describe('a request answered before its body arrived', () => {
  // The app answers without reading the body; node:http then reads and drops the rest of it. If that
  // rest is bad (the client ends mid-body, or sends a malformed chunk), the request already has its
  // answer: a 400 now would be a second answer to the one request, read by the client as the answer
  // to whatever it sends next.
  const cases = [
    ['ends mid-body', 'Content-Length: 10', 'abc', null],
    ['sends a malformed chunk', 'Transfer-Encoding: chunked', '3\r\nabc\r\n', 'ZZ\r\n'],
  ] as const;
  for (const [app, kind] of [
    ['node-pid.mjs', 'async'],
    ['pid.mjs', 'async'],
    ['node-pid.mjs', 'sync'],
  ] as const) {
    for (const [name, framing, first, bad] of cases) {
      test(`the client ${name}: one answer, then the connection closes (${app}, ${kind})`, async () => {
        const server = await startServer([fixture(app), '-k', kind, '-w', '1']);
        const socket = net.connect({ port: server.port, host: '127.0.0.1', allowHalfOpen: true });
        let data = '';
        socket.setEncoding('latin1').on('data', (chunk: string) => (data += chunk));
        socket.on('error', () => {});
        let ended = false;
        socket.once('end', () => (ended = true));
        socket.once('close', () => (ended = true));
        try {
          socket.write(`POST / HTTP/1.1\r\nHost: a\r\n${framing}\r\n\r\n${first}`);
          await waitFor('the answer', () => /\r\n\r\n\d+$/.test(data));
          if (bad === null) socket.end();
          else socket.write(bad);
          await waitFor('the server to end the connection', () => ended);
        } finally {
          socket.destroy();
        }
        assert.deepEqual(statuses(Buffer.from(data, 'latin1')), [200], data);
        assert.equal((await request(`${server.url}/`)).status, 200, 'the worker serves on');
        assert.deepEqual(errorLines(server), []);
      });
    }
  }
});

describe('an access log that is not read', () => {
  test('holds at most 16 MiB of lines, drops the rest with a warning, and the worker serves on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'unicorn-access-fifo-'));
    const fifo = join(dir, 'access.fifo');
    execFileSync('mkfifo', [fifo]);
    // A reader that is there (so the worker can open the pipe) and never reads: a log collector
    // that stopped.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const server = await startServer([
        fixture('node-pid.mjs'),
        '-w',
        '1',
        '--access-logfile',
        fifo,
        '--access-logformat',
        '%({x-pad}i)s',
      ]);
      // 3,000 lines of 7,000 bytes: 20 MiB, past the bound and the pipe's own buffer.
      const pad = 'p'.repeat(7_000);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
      const sent = 3_000;
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < sent) {
            next++;
            const reply = await request(`${server.url}/`, { headers: { 'x-pad': pad }, agent });
            assert.equal(reply.status, 200);
          }
        }),
      );
      agent.destroy();
      const dropped = await server.waitForEvent('logs.access_dropped', () => true, { level: 'warning' });
      assert.equal(dropped.level, 'warn');
      assert.ok((dropped.dropped as number) > 0);
      // Read what the worker held once it stops: it writes it out as it exits, then closes the pipe.
      server.signal('SIGTERM');
      let bytes = 0;
      const chunk = Buffer.alloc(1 << 16);
      await waitFor(
        'the end of the access log',
        () => {
          for (;;) {
            let n: number;
            try {
              n = readSync(reader, chunk);
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return false;
              throw err;
            }
            if (n === 0) return true;
            bytes += n;
          }
        },
        { timeoutMs: 60_000, intervalMs: 20 },
      );
      assert.equal((await server.waitForExit()).code, 0);
      const lines = bytes / (pad.length + 1);
      assert.ok(lines < sent, `every one of the ${sent} lines was kept (${lines})`);
      assert.ok(bytes <= 16 * 1024 * 1024 + 1024 * 1024, `${bytes} bytes were held`);
      assert.ok(bytes >= 16 * 1024 * 1024 - pad.length, `only ${bytes} bytes came through`);
      assert.deepEqual(errorLines(server), []);
    } finally {
      closeSync(reader);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
