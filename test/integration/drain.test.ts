import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { rawExchange, request } from '../helpers/http.js';
import { fixture, startServer, stopAll } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

after(stopAll);

/** What came back on one raw connection: the head's lines, the body bytes, and whether it closed. */
interface RawResponse {
  status: number;
  headerLines: string[];
  header(name: string): string[];
  body: Buffer;
  closed: boolean;
}

/** Sends `request` as it is and parses the whole answer, up to the server's close. */
async function askRaw(port: number, request: string): Promise<RawResponse> {
  const { data, closed } = await rawExchange(port, Buffer.from(request));
  return parseRaw(data, closed);
}

function parseRaw(data: Buffer, closed: boolean): RawResponse {
  const end = data.indexOf('\r\n\r\n');
  assert.ok(end !== -1, `a complete head arrived: ${JSON.stringify(data.toString('latin1').slice(0, 300))}`);
  const [statusLine, ...headerLines] = data.subarray(0, end).toString('latin1').split('\r\n');
  return {
    status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine!)?.[1]),
    headerLines,
    header: (name) =>
      headerLines
        .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
        .map((l) => l.slice(name.length + 1).trim()),
    body: data.subarray(end + 4),
    closed,
  };
}

/**
 * A keep-alive request on a raw connection that is open (accepted by the kernel) when this
 * resolves; `response` collects everything until the server closes, or `idleMs` of silence.
 */
async function openRequest(
  port: number,
  path: string,
  idleMs = 3000,
): Promise<{ response: Promise<RawResponse> }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const response = new Promise<RawResponse>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let idle: NodeJS.Timeout | undefined;
    const finish = (closed: boolean) => {
      clearTimeout(idle);
      socket.destroy();
      resolve(parseRaw(Buffer.concat(chunks), closed));
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      clearTimeout(idle);
      idle = setTimeout(() => finish(false), idleMs);
    });
    socket.on('close', () => finish(true));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET') reject(err);
    });
  });
  socket.write(`GET ${path} HTTP/1.1\r\nHost: drain.test\r\n\r\n`);
  return { response };
}

/** With one worker, connections are accepted in order: once a later one is answered, ours is in flight. */
async function acceptedBefore(url: string): Promise<void> {
  assert.equal((await request(`${url}/`)).status, 200);
}

describe('draining and failing responses, on the wire', () => {
  test('a graceful stop answers the in-flight request with Connection: close, where it said keep-alive before', async () => {
    const server = await startServer([fixture('drain-cases.mjs'), '-w', '1']);
    const before = await (await openRequest(server.port, '/', 500)).response;
    assert.equal(before.status, 200);
    assert.deepEqual(before.header('connection'), ['keep-alive']);
    assert.equal(before.closed, false, 'an ordinary response keeps the connection');

    const { response } = await openRequest(server.port, '/?ms=1500', 10_000);
    await acceptedBefore(server.url);
    server.signal('SIGTERM');
    const during = await response;
    assert.equal(during.status, 200);
    assert.deepEqual(during.header('connection'), ['close']);
    assert.equal(during.closed, true, 'the worker closed the connection after the response');
    assert.equal((await server.waitForExit()).code, 0);
  });

  test('a request shed at --worker-connections gets 503 with Retry-After and Connection: close', async () => {
    const server = await startServer([fixture('drain-cases.mjs'), '-w', '1', '--worker-connections', '1']);
    const slow = request(`${server.url}/?ms=3000`);
    // "Not yet" while the slow request has not been admitted: the probe's request is then served.
    const shed = await waitFor('a shed request', async () => {
      const { data, closed } = await rawExchange(
        server.port,
        Buffer.from('GET / HTTP/1.1\r\nHost: t\r\n\r\n'),
        {
          idleMs: 1000,
        },
      );
      const reply = parseRaw(data, closed);
      return reply.status === 503 ? reply : undefined;
    });
    assert.deepEqual(shed.header('retry-after'), ['1']);
    assert.deepEqual(shed.header('connection'), ['close']);
    assert.equal(shed.closed, true);
    assert.equal((await slow).status, 200, 'the admitted request is unharmed');
    await server.waitForEvent('request.shed', () => true, { level: 'warning' });
  });

  test('--timeout: SIGABRT first, then SIGKILL after the grace when the worker does not exit', async () => {
    const server = await startServer(
      [fixture('abort-probe.mjs'), '-w', '1', '-t', '2', '--no-timeout-stack'],
      {
        env: { IGNORE_SIGABRT: '1' },
      },
    );
    const [pid] = server.liveWorkerPids();
    assert.equal((await request(`${server.url}/mute`)).body, String(pid));
    const timedOut = await server.waitForEvent('worker.timeout', (l) => l.workerPid === pid, {
      level: 'critical',
    });
    const ignored = await waitFor('the worker to see SIGABRT', () =>
      server.logs.find((l) => l.fixture === 'sigabrt-ignored' && l.pid === pid),
    );
    const killing = await server.waitForEvent(
      'worker.killed',
      (l) => l.workerPid === pid && /did not stop in time/.test(String(l.msg)),
      { level: 'warning' },
    );
    const exited = await server.waitForEvent('worker.exited', (l) => l.workerPid === pid, { level: 'error' });
    assert.equal(exited.signal, 'SIGKILL');
    assert.match(String(exited.hint), /--timeout/);
    const at = (line: object) => server.logs.indexOf(line);
    assert.ok(at(timedOut) < at(ignored) && at(ignored) < at(killing) && at(killing) < at(exited));
    const graceMs = Date.parse(String(killing.time)) - Date.parse(String(timedOut.time));
    assert.ok(graceMs >= 900, `SIGKILL came ${graceMs} ms after SIGABRT, not after the 1 s grace`);
  });

  test('several Set-Cookie headers from a fetch Response arrive as separate header lines', async () => {
    const server = await startServer([fixture('drain-cases.mjs')]);
    const reply = await askRaw(server.port, 'GET /cookies HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.header('set-cookie'), ['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
  });

  test('a fetch body stream that fails after the headers went out cuts the connection: no terminating chunk', async () => {
    const server = await startServer([fixture('drain-cases.mjs')]);
    const { response } = await openRequest(server.port, '/stream-error', 5000);
    const reply = await response;
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.header('transfer-encoding'), ['chunked']);
    assert.match(reply.body.toString(), /first part;/);
    assert.ok(!reply.body.toString().endsWith('0\r\n\r\n'), 'the chunked body is not terminated');
    assert.equal(reply.closed, true, 'the connection is cut, not kept alive');
    await server.waitForEvent('request.error', (l) => /body stream failed/.test(String(l.msg)), {
      level: 'error',
    });
  });

  test('a node handler that fails after its headers went out cuts the connection short of Content-Length', async () => {
    const server = await startServer([fixture('node-partial.mjs')]);
    const { response } = await openRequest(server.port, '/length', 5000);
    const reply = await response;
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.header('content-length'), ['100']);
    assert.equal(reply.body.toString(), 'partial');
    assert.equal(reply.closed, true, 'the connection is cut, not kept alive');
    await server.waitForEvent('request.error', (l) => /\/length failed mid-body/.test(String(l.msg)), {
      level: 'error',
    });
  });

  test("a node handler that fails before its head gets the server's own 500: none of its headers, and the connection closes", async () => {
    const server = await startServer([fixture('node-partial.mjs')]);
    const reply = await askRaw(server.port, 'GET /before-head HTTP/1.1\r\nHost: t\r\n\r\n');
    assert.equal(reply.status, 500);
    assert.deepEqual(
      reply.header('content-encoding'),
      [],
      "the app's Content-Encoding does not describe this body",
    );
    assert.deepEqual(reply.header('set-cookie'), []);
    assert.deepEqual(reply.header('content-type'), ['text/plain; charset=utf-8']);
    assert.deepEqual(reply.header('content-length'), ['22']);
    assert.deepEqual(reply.header('connection'), ['close']);
    assert.equal(reply.body.toString(), 'Internal Server Error\n');
    assert.equal(reply.closed, true, 'the server closed the keep-alive connection');
    await server.waitForEvent('request.error', (l) => /failed before its head/.test(String(l.msg)), {
      level: 'error',
    });
  });

  test('a node handler that rejects mid-body cuts the chunked response: no terminating chunk', async () => {
    const server = await startServer([fixture('node-partial.mjs')]);
    const { response } = await openRequest(server.port, '/chunked', 5000);
    const reply = await response;
    assert.equal(reply.status, 200);
    assert.match(reply.body.toString(), /first chunk;/);
    assert.ok(!reply.body.toString().endsWith('0\r\n\r\n'), 'the chunked body is not terminated');
    assert.equal(reply.closed, true, 'the connection is cut, not kept alive');
  });
});
