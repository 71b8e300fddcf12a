/**
 * The request pipeline on a plain node:http server, no cluster: what a worker does with one request
 * between node:http and the app, driven over real loopback sockets.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { compileAccessLogFormat } from '../../src/http/access-log.js';
import { createClientResolver } from '../../src/http/forwarded.js';
import type { RequestInfo } from '../../src/http/request-info.js';
import { Log } from '../../src/log.js';
import { type PipelineHost, type PipelineOptions, RequestPipeline } from '../../workers/pipeline.js';

const dir = mkdtempSync(join(tmpdir(), 'unicorn-pipeline-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let logs = 0;

interface Harness {
  pipeline: RequestPipeline;
  port: number;
  /** What the host was told, in order. */
  events: string[];
  /** The JSON lines the pipeline logged. */
  lines(): Array<Record<string, unknown>>;
  close(): Promise<void>;
}

interface HarnessExtras {
  /** The host's `draining`. */
  draining?: boolean;
  /** Options of the node:http server (its timeouts, maxHeaderSize). */
  server?: http.ServerOptions;
  /** Called after the pipeline has handled each `clientError`. */
  onClientError?: (err: Error & { code?: string }) => void;
}

type NodeApp = (req: IncomingMessage & { unicorn?: RequestInfo }, res: ServerResponse) => unknown;
type FetchApp = { fetch: (request: Request) => Response | Promise<Response> };

async function serve(
  app: NodeApp | FetchApp,
  options: Partial<PipelineOptions> = {},
  admit?: (pipeline: RequestPipeline, run: () => void, res: ServerResponse) => void,
  extras: HarnessExtras = {},
): Promise<Harness> {
  const file = join(dir, `log-${logs++}.json`);
  const log = Log.create({ level: 'debug', format: 'json', file, base: {} });
  const events: string[] = [];
  let pipeline: RequestPipeline;
  const host: PipelineHost = {
    log,
    draining: extras.draining ?? false,
    admit: (request) => (admit ? admit(pipeline, () => request.run(), request.res) : request.run()),
    released: () => events.push('released'),
    started: (req) => events.push(`started ${req.url}`),
    finished: (req) => events.push(`finished ${req.url}`),
    upgraded: () => events.push('upgraded'),
  };
  pipeline = new RequestPipeline(
    {
      app,
      interface: 'node',
      limits: { line: 4094, fields: 100, fieldSize: 8190, body: 0, headerMap: 'drop' },
      rootPath: '',
      noKeepAlive: false,
      requestTimeoutMs: 0,
      bodyTimeoutMs: 0,
      accessLog: null,
      resolveClient: createClientResolver('127.0.0.1'),
      worker: { id: 7, pid: 4242 },
      recorder: null,
      ...options,
    },
    host,
  );
  const server = http.createServer(extras.server ?? {}, pipeline.listener());
  server.on('connection', (socket) => pipeline.connections.add(socket));
  server.on('clientError', (err: Error & { code?: string }, socket) => {
    pipeline.clientError(err, socket);
    extras.onClientError?.(err);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    pipeline,
    port: (server.address() as AddressInfo).port,
    events,
    lines: () =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Writes `bytes`, and returns everything the server sent until it closed the connection. */
function exchange(port: number, bytes: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(got)}`));
    }, timeoutMs);
    socket.on('data', (chunk) => (got += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    socket.write(bytes);
  });
}

/** Polls `ready` every 10 ms until it holds; fails after `ms`. */
async function until(ready: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A client that connects, writes `bytes`, and collects what comes back until the server closes. */
function client(port: number, bytes = '') {
  const socket = net.connect(port, '127.0.0.1');
  let got = '';
  socket.on('data', (chunk) => (got += chunk.toString('latin1')));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  if (bytes !== '') socket.write(bytes);
  return {
    socket,
    received: () => got,
    /** Everything the server sent, once it closed the connection; fails after `ms`. */
    async end(ms = 5000): Promise<string> {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no close within ${ms} ms; got ${JSON.stringify(got)}`)),
          ms,
        );
      });
      try {
        await Promise.race([closed, late]);
      } finally {
        clearTimeout(timer);
        socket.destroy();
      }
      return got;
    },
  };
}

/** A node app that reads the whole body and answers with it, or records how the body failed. */
function bodyReader(seen: { error?: Error & { code?: string }; signal?: AbortSignal }): NodeApp {
  return (req, res) => {
    seen.signal = req.unicorn?.signal;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', (err) => (seen.error = err));
    req.on('end', () => res.end(Buffer.concat(chunks)));
  };
}

const count = (text: string, part: string) => text.split(part).length - 1;

/**
 * Sends `bytes` (a request, then bytes node:http cannot parse) to an app that answers the request
 * only once the parse error has happened; returns everything the server sent until it closed.
 */
async function answeredAfterParseError(bytes: string): Promise<{ h: Harness; answer: string }> {
  let release = () => {};
  let errors = 0;
  const h = await serve(
    (req, res) => {
      release = () => hello(req, res);
    },
    {},
    undefined,
    { onClientError: () => errors++ },
  );
  try {
    const c = client(h.port, bytes);
    await until(() => errors === 1, 'the parse error');
    release();
    return { h, answer: await c.end() };
  } catch (err) {
    await h.close();
    throw err;
  }
}

const hello = (_req: IncomingMessage, res: ServerResponse) => {
  res.setHeader('content-type', 'text/plain');
  res.end('hello');
};

describe('RequestPipeline on a plain node:http server', () => {
  test('runs the app with the Server header and req.unicorn, and tells the host it started and finished', async () => {
    let info: RequestInfo | undefined;
    let address: string | undefined;
    const h = await serve((req, res) => {
      info = req.unicorn;
      address = req.unicorn.remoteAddress;
      hello(req, res);
    });
    try {
      const answer = await exchange(h.port, 'GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(answer, /\r\nserver: unicorn-ts\r\n/i);
      assert.ok(answer.endsWith('\r\n\r\nhello'));
      assert.equal(address, '127.0.0.1', 'read while the client is connected');
      assert.equal(info?.remoteAddress, '127.0.0.1', 'and kept once read');
      assert.equal(info?.scheme, 'http');
      assert.deepEqual(info?.worker, { id: 7, pid: 4242 });
      assert.deepEqual(h.events, ['started /a', 'finished /a']);
      assert.equal(h.pipeline.inflight, 0);
    } finally {
      await h.close();
    }
  });

  test("the client's address is read when first asked: after the client has gone, a first read gives ''", async () => {
    let info: RequestInfo | undefined;
    const h = await serve((req, res) => {
      info = req.unicorn;
      hello(req, res);
    });
    try {
      await exchange(h.port, 'GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await until(() => h.pipeline.connections.size === 0, 'the connection to close');
      assert.equal(info?.remoteAddress, '');
      assert.equal(info?.remotePort, 0);
      assert.equal(info?.scheme, 'http', 'the scheme is the connection kind, known without a peer');
    } finally {
      await h.close();
    }
  });

  test('a bad Host is refused with 400 and Connection: close, logged as request.bad, never run', async () => {
    let ran = false;
    const h = await serve((req, res) => {
      ran = true;
      hello(req, res);
    });
    try {
      const answer = await exchange(h.port, 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n');
      assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.match(answer, /\r\nconnection: close\r\n/i);
      assert.equal(ran, false);
      assert.deepEqual(h.events, []);
      const bad = h.lines().find((l) => l.event === 'request.bad');
      assert.equal(bad?.status, 400);
    } finally {
      await h.close();
    }
  });

  test('a request pipelined behind a refused one is not run, and nothing stays in flight', async () => {
    let ran = 0;
    const h = await serve((req, res) => {
      ran++;
      hello(req, res);
    });
    try {
      const answer = await exchange(
        h.port,
        'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n',
      );
      assert.equal((answer.match(/HTTP\/1\.1 /g) ?? []).length, 1);
      assert.match(answer, /^HTTP\/1\.1 400 /);
      assert.equal(ran, 0);
      assert.equal(h.pipeline.inflight, 0);
    } finally {
      await h.close();
    }
  });

  test('shed() answers 503 with Retry-After and Connection: close, and logs request.shed', async () => {
    const h = await serve(hello, {}, (pipeline, _run, res) => pipeline.shed(res));
    try {
      const answer = await exchange(h.port, 'GET /busy HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.match(answer, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
      assert.match(answer, /\r\nretry-after: 1\r\n/i);
      assert.match(answer, /\r\nconnection: close\r\n/i);
      const shed = h.lines().find((l) => l.event === 'request.shed');
      assert.equal(shed?.url, '/busy');
      assert.equal(shed?.shed, 1);
    } finally {
      await h.close();
    }
  });

  test('the recorder hears of every response: run ones with their time, refused and shed ones without, a closed one as 0', async () => {
    const heard: string[] = [];
    let slowSeconds = 0;
    const recorder = {
      record: (req: IncomingMessage, status: number, seconds: number | null) => {
        if (req.url === '/slow') slowSeconds = seconds ?? 0;
        heard.push(`${req.method} ${req.url} ${status} ${seconds === null ? 'untimed' : 'timed'}`);
      },
      shed: () => heard.push('shed'),
    };
    const h = await serve(
      (req, res) => {
        if (req.url === '/slow') setTimeout(() => hello(req, res), 60);
        else if (req.url === '/never') return;
        else hello(req, res);
      },
      { recorder },
      (pipeline, run, res) => (res.req.url === '/busy' ? pipeline.shed(res) : run()),
    );
    try {
      await exchange(h.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await exchange(
        h.port,
        'POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
      );
      await exchange(h.port, 'GET /busy HTTP/1.1\r\nHost: x\r\n\r\n');
      await exchange(h.port, 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n');
      const gone = client(h.port, 'GET /never HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => h.pipeline.inflight === 1, 'the request that is never answered');
      gone.socket.destroy();
      await until(() => heard.length === 6, 'six recordings');
      assert.deepEqual(heard, [
        'GET / 200 timed',
        'POST /slow 200 timed',
        'GET /busy 503 untimed',
        'shed',
        'GET / 400 untimed',
        'GET /never 0 timed',
      ]);
      assert.ok(slowSeconds >= 0.05, `the 60 ms request took ${slowSeconds} s`);
    } finally {
      await h.close();
    }
  });

  test('--request-timeout: a request the app never answers gets 503, and its signal aborts', async () => {
    let signal: AbortSignal | undefined;
    const h = await serve(
      (req) => {
        signal = (req as IncomingMessage & { unicorn?: RequestInfo }).unicorn?.signal;
      },
      { requestTimeoutMs: 200 },
    );
    try {
      const answer = await exchange(h.port, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.match(answer, /^HTTP\/1\.1 503 /);
      assert.equal(signal?.aborted, true);
      assert.ok(h.lines().some((l) => l.event === 'request.timeout' && l.url === '/slow'));
      assert.equal(h.pipeline.inflight, 0);
    } finally {
      await h.close();
    }
  });

  test('bytes node:http cannot parse get a 400 written straight to the socket', async () => {
    const h = await serve(hello);
    try {
      const answer = await exchange(h.port, 'NOT HTTP AT ALL\r\n\r\n');
      assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.match(answer, /\r\nconnection: close\r\n/i);
    } finally {
      await h.close();
    }
  });

  test('--root-path is stripped from the URL the app sees', async () => {
    let url: string | undefined;
    const h = await serve(
      (req, res) => {
        url = req.url;
        hello(req, res);
      },
      { rootPath: '/api' },
    );
    try {
      await exchange(h.port, 'GET /api/users?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.equal(url, '/users?x=1');
    } finally {
      await h.close();
    }
  });

  test('the request board names the oldest request in flight, and is empty once it finishes', async () => {
    let release = () => {};
    let seen: ReturnType<RequestPipeline['board']['read']> = null;
    let h: Harness | undefined;
    h = await serve((req, res) => {
      seen = h!.pipeline.board.read();
      release = () => hello(req, res);
    });
    try {
      const done = exchange(h.port, 'GET /held?q=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      const deadline = Date.now() + 5000;
      while (h.pipeline.inflight === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(h.pipeline.inflight, 1);
      assert.equal(seen?.request, 'GET /held?q=1');
      release();
      await done;
      assert.equal(h.pipeline.board.read(), null);
    } finally {
      await h.close();
    }
  });

  test('the access log gets one line per response, refused ones included', async () => {
    const lines: string[] = [];
    const h = await serve(hello, {
      accessLog: {
        writer: { write: (line) => lines.push(line), reopen: () => {}, flush: () => {} },
        format: (e) => `${e.req.method} ${e.req.url} ${e.res.statusCode} ${e.bodyBytes}`,
      },
    });
    try {
      await exchange(h.port, 'GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await exchange(h.port, 'GET /bad HTTP/1.1\r\nHost: a/b\r\n\r\n');
      assert.deepEqual(lines, ['GET /ok 200 5', 'GET /bad 400 12']);
    } finally {
      await h.close();
    }
  });
});

describe('RequestPipeline: the status an access log line gives a response never sent', () => {
  /** An access log that records `METHOD URL STATUS` through the default atoms' `%(s)s`. */
  function recorded() {
    const lines: string[] = [];
    const format = compileAccessLogFormat('%(m)s %(U)s %(s)s');
    const accessLog: PipelineOptions['accessLog'] = {
      writer: { write: (line) => lines.push(line), reopen: () => {}, flush: () => {} },
      format,
    };
    return { lines, accessLog };
  }

  /** One request to `app`: what the client got until the server closed, and the access log's lines. */
  async function answerAndLines(app: NodeApp, target: string): Promise<{ answer: string; lines: string[] }> {
    const { lines, accessLog } = recorded();
    const h = await serve(app, { accessLog });
    try {
      const answer = await exchange(h.port, `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await until(() => lines.length === 1, 'the access log line');
      return { answer, lines };
    } finally {
      await h.close();
    }
  }

  test('499 when the client closes its connection first (an end or a reset), as nginx logs it', async () => {
    const { lines, accessLog } = recorded();
    let arrived = 0;
    // Never answers: the client gives up first.
    const h = await serve(() => void arrived++, { accessLog });
    try {
      const ended = net.connect(h.port, '127.0.0.1');
      ended.on('error', () => {});
      ended.write('GET /ended HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => arrived === 1, 'the first request to reach the app');
      ended.end();
      await until(() => lines.length === 1, 'the line of the request whose client ended');
      const reset = net.connect(h.port, '127.0.0.1');
      reset.on('error', () => {});
      reset.write('GET /reset HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => arrived === 2, 'the second request to reach the app');
      reset.resetAndDestroy();
      await until(() => lines.length === 2, 'the line of the request whose client reset');
      assert.deepEqual(lines, ['GET /ended 499', 'GET /reset 499']);
    } finally {
      await h.close();
    }
  });

  test('444 when the app closes the connection without an answer; a status set but never sent is not logged', async () => {
    const { answer, lines } = await answerAndLines((_req, res) => {
      res.statusCode = 201;
      res.destroy();
    }, '/cut');
    assert.equal(answer, '');
    assert.deepEqual(lines, ['GET /cut 444']);
  });

  test('a response sent in part keeps the status it sent, whoever closes', async () => {
    const { answer, lines } = await answerAndLines((_req, res) => {
      res.writeHead(206, { 'content-length': '10' });
      res.write('part');
      setImmediate(() => res.destroy());
    }, '/part');
    assert.match(answer, /^HTTP\/1\.1 206 /);
    assert.deepEqual(lines, ['GET /part 206']);
  });
});

describe('RequestPipeline: bodies that cannot be read whole', () => {
  const chunked = (size: number) =>
    `POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${size.toString(16)}\r\n${'a'.repeat(size)}\r\n0\r\n\r\n`;

  test('--limit-request-body: a chunked body past it gets 413, and the app body stream fails with UNICORN_BODY_TOO_LARGE', async () => {
    const seen: Parameters<typeof bodyReader>[0] = {};
    const h = await serve(bodyReader(seen), {
      limits: { line: 4094, fields: 100, fieldSize: 8190, body: 10, headerMap: 'drop' },
    });
    try {
      const answer = await exchange(h.port, chunked(20));
      assert.match(answer, /^HTTP\/1\.1 413 Payload Too Large\r\n/);
      assert.match(answer, /\r\nconnection: close\r\n/i);
      await until(() => seen.error !== undefined, 'the body error');
      assert.equal(seen.error?.code, 'UNICORN_BODY_TOO_LARGE');
      assert.match(seen.error?.message ?? '', /request body exceeds --limit-request-body 10/);
      assert.equal(seen.signal?.aborted, true);
      assert.equal(seen.signal?.reason, seen.error);
      const bad = h.lines().find((l) => l.event === 'request.bad');
      assert.equal(bad?.status, 413);
      assert.match(
        String(bad?.msg ?? bad?.message),
        /Refused POST request: body exceeds --limit-request-body 10/,
      );
    } finally {
      await h.close();
    }
  });

  test('a chunked body within --limit-request-body, or with no limit (0), reaches the app whole', async () => {
    for (const body of [20, 0]) {
      const h = await serve(bodyReader({}), {
        limits: { line: 4094, fields: 100, fieldSize: 8190, body, headerMap: 'drop' },
      });
      try {
        const answer = await exchange(h.port, chunked(20).replace('Host: x', 'Host: x\r\nConnection: close'));
        assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/, `limit ${body}`);
        assert.ok(answer.endsWith('a'.repeat(20)), answer);
      } finally {
        await h.close();
      }
    }
  });

  test('--body-timeout: a body that stops arriving gets 408, and the app body stream fails with UNICORN_BODY_TIMEOUT', async () => {
    const seen: Parameters<typeof bodyReader>[0] = {};
    const h = await serve(bodyReader(seen), { bodyTimeoutMs: 200 });
    try {
      const answer = await exchange(h.port, 'POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab');
      assert.match(answer, /^HTTP\/1\.1 408 Request Timeout\r\n/);
      assert.match(answer, /\r\nconnection: close\r\n/i);
      await until(() => seen.error !== undefined, 'the body error');
      assert.equal(seen.error?.code, 'UNICORN_BODY_TIMEOUT');
      assert.match(seen.error?.message ?? '', /no request body data for 0\.2 s \(--body-timeout\)/);
      assert.equal(seen.signal?.aborted, true);
      const line = h.lines().find((l) => l.event === 'request.body_timeout');
      assert.equal(line?.url, '/slow');
      assert.equal(line?.method, 'POST');
      assert.equal(line?.timeoutMs, 200);
      assert.match(
        String(line?.msg ?? line?.message),
        /POST \/slow: no body data for 0\.2 s \(--body-timeout\); answered 408/,
      );
    } finally {
      await h.close();
    }
  });

  test('--body-timeout after the response started: no 408, the connection is cut and the log says so', async () => {
    const seen: Parameters<typeof bodyReader>[0] = {};
    const h = await serve(
      (req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial');
        req.on('error', (err) => (seen.error = err));
        req.resume();
      },
      { bodyTimeoutMs: 200 },
    );
    try {
      const answer = await exchange(h.port, 'POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab');
      assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
      assert.equal(count(answer, 'HTTP/1.1 '), 1);
      await until(() => seen.error !== undefined, 'the body error');
      assert.equal(seen.error?.code, 'UNICORN_BODY_TIMEOUT');
      const line = h.lines().find((l) => l.event === 'request.body_timeout');
      assert.match(String(line?.msg ?? line?.message), /; connection closed$/);
    } finally {
      await h.close();
    }
  });

  test('a malformed chunked body gets 400, and the app body stream fails with UNICORN_BAD_BODY', async () => {
    const seen: Parameters<typeof bodyReader>[0] = {};
    const h = await serve(bodyReader(seen));
    try {
      const answer = await exchange(
        h.port,
        'POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n',
      );
      assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.match(answer, /\r\nconnection: close\r\n/i);
      await until(() => seen.error !== undefined, 'the body error');
      assert.equal(seen.error?.code, 'UNICORN_BAD_BODY');
      assert.match(seen.error?.message ?? '', /^malformed request body: /);
      const bad = h.lines().find((l) => l.event === 'request.bad');
      assert.equal(bad?.status, 400);
      assert.equal(bad?.code, 'HPE_INVALID_CHUNK_SIZE');
      assert.match(
        String(bad?.msg ?? bad?.message),
        /^Refused POST request: malformed body \(HPE_INVALID_CHUNK_SIZE\)$/,
      );
    } finally {
      await h.close();
    }
  });
});

describe('RequestPipeline: what the app is given, and how the connection ends', () => {
  // TRACK, refused alike, is not a method node:http parses: it answers 400 before the pipeline runs.
  test('TRACE gets 405 on the fetch interface, logged, never run; the node interface runs it', async () => {
    let ran = 0;
    const h = await serve(
      {
        fetch: () => {
          ran++;
          return new Response('x');
        },
      },
      { interface: 'fetch' },
    );
    try {
      const refused = await exchange(h.port, 'TRACE / HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.match(refused, /^HTTP\/1\.1 405 Method Not Allowed\r\n/);
      assert.match(refused, /\r\nconnection: close\r\n/i);
      const answer = await exchange(h.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.match(answer, /^HTTP\/1\.1 200 /);
      assert.equal(ran, 1);
      const bad = h.lines().filter((l) => l.event === 'request.bad');
      assert.deepEqual(
        bad.map((l) => [l.status, l.msg ?? l.message]),
        [[405, 'Refused TRACE request: TRACE cannot reach a fetch handler']],
      );
    } finally {
      await h.close();
    }
    const node = await serve(hello);
    try {
      const answer = await exchange(node.port, 'TRACE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.match(answer, /^HTTP\/1\.1 200 /);
    } finally {
      await node.close();
    }
  });

  test('--keep-alive 0 (noKeepAlive) and a draining worker: every response closes its connection', async () => {
    for (const [options, extras] of [
      [{ noKeepAlive: true }, {}],
      [{}, { draining: true }],
    ] as const) {
      const h = await serve(hello, options, undefined, extras);
      try {
        const answer = await exchange(h.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
        assert.match(answer, /\r\nconnection: close\r\n/i);
      } finally {
        await h.close();
      }
    }
    // Otherwise the connection stays open after the response.
    const h = await serve(hello);
    try {
      const c = client(h.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => c.received().endsWith('hello'), 'the response');
      assert.match(c.received(), /\r\nconnection: keep-alive\r\n/i);
      assert.equal(c.socket.destroyed, false);
      c.socket.end();
      await c.end();
    } finally {
      await h.close();
    }
  });

  test('--header-map drop removes header fields with an underscore; dangerous passes them', async () => {
    let headers: http.IncomingHttpHeaders = {};
    const app: NodeApp = (req, res) => {
      headers = req.headers;
      hello(req, res);
    };
    const request =
      'GET / HTTP/1.1\r\nHost: x\r\nX_Forwarded_For: 1.2.3.4\r\nX-Kept: yes\r\nConnection: close\r\n\r\n';
    for (const [headerMap, kept] of [
      ['drop', false],
      ['dangerous', true],
    ] as const) {
      const h = await serve(app, {
        limits: { line: 4094, fields: 100, fieldSize: 8190, body: 0, headerMap },
      });
      try {
        assert.match(await exchange(h.port, request), /^HTTP\/1\.1 200 /);
        assert.equal(headers.x_forwarded_for !== undefined, kept, headerMap);
        assert.equal(headers['x-kept'], 'yes');
      } finally {
        await h.close();
      }
    }
  });

  test('--root-path: the root itself becomes /, a query after it stays, other paths are left alone', async () => {
    const urls: Array<string | undefined> = [];
    const h = await serve(
      (req, res) => {
        urls.push(req.url);
        hello(req, res);
      },
      { rootPath: '/api' },
    );
    try {
      for (const target of ['/api', '/api?x=1', '/apix', '/other/api']) {
        await exchange(h.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      }
      assert.deepEqual(urls, ['/', '/?x=1', '/apix', '/other/api']);
    } finally {
      await h.close();
    }
  });

  test('the access log counts the body bytes written: strings in UTF-8, buffers, typed arrays, end with a callback or nothing', async () => {
    const lines: string[] = [];
    const h = await serve(
      (_req, res) => {
        res.write('héllo'); // 6 bytes
        res.write(Buffer.from('abc'));
        res.write(new Uint8Array([1, 2]));
        res.end('é', () => {}); // 2 bytes
      },
      {
        accessLog: {
          writer: { write: (line) => lines.push(line), reopen: () => {}, flush: () => {} },
          format: (e) =>
            `${e.bodyBytes} ${e.remoteAddress} ${e.finishedAt >= e.startedAt} ${e.date instanceof Date}`,
        },
      },
    );
    const h2 = await serve(
      (_req, res) => {
        res.end();
      },
      {
        accessLog: {
          writer: { write: (line) => lines.push(line), reopen: () => {}, flush: () => {} },
          format: (e) => `${e.bodyBytes}`,
        },
      },
    );
    try {
      await exchange(h.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await until(() => lines.length === 1, 'the access log line');
      const empty = await exchange(h2.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.match(empty, /^HTTP\/1\.1 200 OK\r\n/);
      await until(() => lines.length === 2, 'the second access log line');
      assert.deepEqual(lines, ['13 127.0.0.1 true true', '0']);
    } finally {
      await h.close();
      await h2.close();
    }
  });

  test('an app that throws gets 500 and a request.error line; a fetch app failing like a node one gets a hint', async () => {
    const h = await serve(() => {
      throw new Error('boom');
    });
    try {
      const answer = await exchange(h.port, 'GET /x HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.match(answer, /^HTTP\/1\.1 500 Internal Server Error\r\n/);
      assert.match(answer, /\r\nconnection: close\r\n/i);
      const line = h.lines().find((l) => l.event === 'request.error');
      assert.equal(line?.level, 'error');
      assert.equal(line?.method, 'GET');
      assert.equal(line?.url, '/x');
      assert.match(String(line?.msg ?? line?.message), /^Error handling request GET \/x: .*boom/);
      assert.ok(line?.err !== undefined, 'the error is a field');
      assert.equal('hint' in (line ?? {}), false);
    } finally {
      await h.close();
    }
    const f = await serve(
      {
        fetch: () => {
          throw new TypeError('res.end is not a function');
        },
      },
      { interface: 'fetch' },
    );
    try {
      const answer = await exchange(f.port, 'GET /y HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.match(answer, /^HTTP\/1\.1 500 /);
      const line = f.lines().find((l) => l.event === 'request.error');
      assert.match(String(line?.hint), /--interface node/);
    } finally {
      await f.close();
    }
  });

  test('--request-timeout after the response started: the connection is cut, no 503', async () => {
    const h = await serve(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial');
      },
      { requestTimeoutMs: 200 },
    );
    try {
      const answer = await exchange(h.port, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
      assert.equal(count(answer, 'HTTP/1.1 '), 1);
      const line = h.lines().find((l) => l.event === 'request.timeout');
      assert.equal(line?.timeoutMs, 200);
      assert.equal(line?.method, 'GET');
      assert.match(
        String(line?.msg ?? line?.message),
        /^Request GET \/slow exceeded --request-timeout; answered 503$/,
      );
      await until(() => h.pipeline.inflight === 0, 'the request to finish');
    } finally {
      await h.close();
    }
  });

  test('a request whose client left while it waited its turn is released, never run', async () => {
    let run: (() => void) | undefined;
    let ran = false;
    const h = await serve(
      (req, res) => {
        ran = true;
        hello(req, res);
      },
      {},
      (_pipeline, r, res) => {
        run = r;
        res.req.socket.once('close', () => r());
      },
    );
    try {
      const c = client(h.port, 'GET /queued HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => run !== undefined, 'the admission');
      c.socket.destroy();
      await until(() => h.events.length > 0, 'the host to hear of it');
      assert.deepEqual(h.events, ['released']);
      assert.equal(ran, false);
      assert.equal(h.pipeline.inflight, 0);
    } finally {
      await h.close();
    }
  });

  test('streaming() counts the responses in flight whose head is out and whose body has not finished', async () => {
    const releases: Array<() => void> = [];
    const h = await serve((req, res) => {
      if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: 1\n\n');
        releases.push(() => res.end());
      } else {
        releases.push(() => hello(req, res));
      }
    });
    try {
      const stream = exchange(h.port, 'GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      const poll = exchange(h.port, 'GET /poll HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await until(() => releases.length === 2, 'both requests');
      assert.equal(h.pipeline.inflight, 2);
      await until(() => h.pipeline.streaming() === 1, 'the stream to send its head');
      for (const release of releases) release();
      await Promise.all([stream, poll]);
      await until(() => h.pipeline.inflight === 0, 'both to finish');
      assert.equal(h.pipeline.streaming(), 0);
    } finally {
      await h.close();
    }
  });

  test('the board moves on to the next oldest request when the one it shows finishes', async () => {
    const releases: Array<() => void> = [];
    const h = await serve((req, res) => {
      releases.push(() => hello(req, res));
    });
    try {
      const first = exchange(h.port, 'GET /first HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await until(() => releases.length === 1, 'the first request');
      const second = exchange(h.port, 'GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await until(() => releases.length === 2, 'the second request');
      assert.equal(h.pipeline.board.read()?.request, 'GET /first');
      assert.deepEqual(
        [...h.pipeline.responses()].map((r) => r.req.url),
        ['/first', '/second'],
      );
      assert.equal(h.pipeline.oldest()?.[0].req.url, '/first');
      releases[0]!();
      await first;
      await until(() => h.pipeline.inflight === 1, 'the first to finish');
      assert.equal(h.pipeline.board.read()?.request, 'GET /second');
      releases[1]!();
      await second;
      assert.equal(h.pipeline.board.read(), null);
    } finally {
      await h.close();
    }
  });
});

describe('RequestPipeline: bytes node:http cannot make a request of (clientError)', () => {
  const timeouts: http.ServerOptions = {
    headersTimeout: 300,
    requestTimeout: 2000,
    connectionsCheckingInterval: 50,
  };

  test('a connection that sends nothing for --header-timeout is closed without an answer', async () => {
    const h = await serve(hello, {}, undefined, { server: timeouts });
    try {
      const answer = await client(h.port).end();
      assert.equal(answer, '');
      const line = h.lines().find((l) => l.event === 'request.bad');
      assert.equal(line?.code, 'ERR_HTTP_REQUEST_TIMEOUT');
      assert.match(String(line?.msg ?? line?.message), /sent nothing for --header-timeout/);
    } finally {
      await h.close();
    }
  });

  test('a head that takes longer than --header-timeout gets 408', async () => {
    const h = await serve(hello, {}, undefined, { server: timeouts });
    try {
      const answer = await client(h.port, 'GET / HTTP/1.1\r\nHost: x\r\n').end();
      assert.match(answer, /^HTTP\/1\.1 408 Request Timeout\r\n/);
      const line = h.lines().find((l) => l.event === 'request.bad');
      assert.equal(line?.status, 408);
    } finally {
      await h.close();
    }
  });

  test('a head past the header size limit (HPE_HEADER_OVERFLOW) gets 431', async () => {
    const h = await serve(hello, {}, undefined, { server: { maxHeaderSize: 1024 } });
    try {
      const answer = await exchange(
        h.port,
        `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(2000)}\r\n\r\n`,
      );
      assert.match(answer, /^HTTP\/1\.1 431 /);
      const line = h.lines().find((l) => l.event === 'request.bad');
      assert.equal(line?.status, 431);
      assert.equal(line?.code, 'HPE_HEADER_OVERFLOW');
      assert.match(String(line?.msg ?? line?.message), /^Bad request: /);
    } finally {
      await h.close();
    }
  });

  test('bad bytes after a pipelined request: the request is answered first, then the connection closes', async () => {
    const { h, answer } = await answeredAfterParseError(
      'GET /first HTTP/1.1\r\nHost: x\r\n\r\nNOT HTTP\r\n\r\n',
    );
    try {
      assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
      assert.equal(count(answer, 'HTTP/1.1 '), 1);
      assert.match(answer, /\r\nconnection: close\r\n/i);
      assert.ok(answer.endsWith('hello'));
      const line = h.lines().find((l) => l.event === 'request.bad');
      assert.match(String(line?.msg ?? line?.message), /^Bad bytes after a pipelined request: /);
      assert.equal(line?.code, 'HPE_INVALID_METHOD');
    } finally {
      await h.close();
    }
  });

  test('bytes after an HTTP/1.0 request do not cut its response', async () => {
    const { h, answer } = await answeredAfterParseError('GET /old HTTP/1.0\r\nHost: x\r\n\r\nGARBAGE');
    try {
      assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
      assert.ok(answer.endsWith('hello'));
      assert.deepEqual(
        h.lines().filter((l) => l.event === 'request.bad'),
        [],
      );
    } finally {
      await h.close();
    }
  });
});

describe('RequestPipeline: the life of a request that ran', () => {
  test('a client that leaves mid-request: the request finishes once and its signal aborts; a whole response aborts nothing', async () => {
    let signal: AbortSignal | undefined;
    const h = await serve((req) => {
      signal = req.unicorn?.signal;
    });
    try {
      const c = client(h.port, 'GET /held HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => signal !== undefined, 'the app to run');
      c.socket.destroy();
      await until(() => h.pipeline.inflight === 0, 'the request to finish');
      await until(() => h.pipeline.connections.size === 0, 'the connection to close');
      assert.deepEqual(h.events, ['started /held', 'finished /held']);
      assert.equal(signal?.aborted, true);
    } finally {
      await h.close();
    }
    let whole: AbortSignal | undefined;
    const w = await serve((req, res) => {
      whole = req.unicorn?.signal;
      hello(req, res);
    });
    try {
      await exchange(w.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await until(() => w.events.length === 2, 'the request to finish');
      assert.equal(whole?.aborted, false);
    } finally {
      await w.close();
    }
  });

  test('a response on a kept-alive connection finishes its request when it is done, not when the connection closes', async () => {
    const h = await serve(hello);
    const c = client(h.port, 'GET /ka HTTP/1.1\r\nHost: x\r\n\r\n');
    try {
      await until(() => c.received().endsWith('hello'), 'the answer');
      await until(() => h.events.includes('finished /ka'), 'the host to hear the request finished');
      assert.equal(h.pipeline.inflight, 0);
      assert.equal(c.socket.destroyed, false, 'the connection is still open');
      assert.equal(h.pipeline.board.read(), null);
    } finally {
      c.socket.destroy();
      await h.close();
    }
  });

  test('req.unicorn.remotePort is the client port; the connection counts the requests it carried', async () => {
    let port: number | undefined;
    const h = await serve((req, res) => {
      port = req.unicorn?.remotePort;
      hello(req, res);
    });
    try {
      const c = client(h.port, 'GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => count(c.received(), 'hello') === 2, 'both responses');
      assert.equal(port, c.socket.localPort);
      assert.deepEqual(
        [...h.pipeline.connections].map((conn) => conn.requests),
        [2],
      );
      c.socket.end();
      await c.end();
    } finally {
      await h.close();
    }
  });

  test('--request-timeout only bounds requests still running: a quick one is never timed out later', async () => {
    let releaseSecond = false;
    const h = await serve(
      (req, res) => {
        if (req.url === '/quick') hello(req, res);
        else releaseSecond = true;
      },
      { requestTimeoutMs: 200 },
    );
    try {
      await exchange(h.port, 'GET /quick HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      // Started later with the same timeout: when it times out, a timer left from /quick would have fired.
      const answer = await exchange(h.port, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(releaseSecond, true);
      assert.match(answer, /^HTTP\/1\.1 503 /);
      assert.match(answer, /\r\nretry-after: 1\r\n/i);
      assert.deepEqual(
        h
          .lines()
          .filter((l) => l.event === 'request.timeout')
          .map((l) => l.url),
        ['/slow'],
      );
    } finally {
      await h.close();
    }
  });

  test('--request-timeout aborts the app signal with "request timed out"', async () => {
    let signal: AbortSignal | undefined;
    const h = await serve(
      (req) => {
        signal = req.unicorn?.signal;
      },
      { requestTimeoutMs: 100 },
    );
    try {
      await exchange(h.port, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal((signal?.reason as Error | undefined)?.message, 'request timed out');
    } finally {
      await h.close();
    }
  });

  test('--body-timeout 0 is off: a body that arrives after the app started is read whole', async () => {
    const h = await serve(bodyReader({}));
    try {
      const c = client(
        h.port,
        'POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n',
      );
      await until(() => h.events.length === 1, 'the app to run on the head alone');
      // The body goes out after the server's timers of 0 ms have had their turn.
      await new Promise<void>((resolve) => setImmediate(resolve));
      c.socket.write('hello');
      const answer = await c.end();
      assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
      assert.ok(answer.endsWith('hello'));
    } finally {
      await h.close();
    }
  });

  test('shed answers in a burst are logged once a second: one request.shed line for two sheds', async () => {
    const held: ServerResponse[] = [];
    const h = await serve(hello, {}, (pipeline, _run, res) => {
      held.push(res);
      // Both shed in the same turn of the event loop: well within the second.
      if (held.length === 2) for (const r of held) pipeline.shed(r);
    });
    try {
      const [a, b] = await Promise.all([
        exchange(h.port, 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n'),
        exchange(h.port, 'GET /b HTTP/1.1\r\nHost: x\r\n\r\n'),
      ]);
      assert.match(a, /^HTTP\/1\.1 503 /);
      assert.match(b, /^HTTP\/1\.1 503 /);
      const shed = h.lines().filter((l) => l.event === 'request.shed');
      assert.equal(shed.length, 1);
      assert.equal(shed[0]?.shed, 1);
      assert.equal(
        shed[0]?.msg ?? shed[0]?.message,
        'Answered 503: 0 requests in flight (--worker-connections); 1 shed so far',
      );
    } finally {
      await h.close();
    }
  });
});

describe('RequestPipeline: clientError, the rest', () => {
  test('bytes after a refused request get no second answer', async () => {
    let errors = 0;
    const h = await serve(hello, {}, undefined, { onClientError: () => errors++ });
    try {
      const answer = await exchange(h.port, 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\nNOT HTTP\r\n\r\n');
      assert.equal(count(answer, 'HTTP/1.1 '), 1);
      assert.match(answer, /^HTTP\/1\.1 400 /);
      assert.ok(errors <= 1);
      assert.deepEqual(
        h
          .lines()
          .filter((l) => l.event === 'request.bad')
          .map((l) => l.status),
        [400],
      );
    } finally {
      await h.close();
    }
  });

  test('a client that resets mid-head: the socket is dropped, nothing logged', async () => {
    let errors = 0;
    const h = await serve(hello, {}, undefined, { onClientError: () => errors++ });
    try {
      const c = client(h.port, 'GET / HTTP/1.1\r\nHost: x\r\n');
      // Reset once the server holds the partial head: a reset issued while the client is still
      // connecting, or before its bytes arrive, tests something else.
      await until(
        () => [...h.pipeline.connections].some((conn) => (conn.socket as net.Socket).bytesRead > 0),
        'the partial head read',
      );
      c.socket.resetAndDestroy();
      await until(() => errors === 1, 'the client error');
      await until(() => h.pipeline.connections.size === 0, 'the connection to close');
      assert.deepEqual(
        h.lines().filter((l) => l.event === 'request.bad'),
        [],
      );
    } finally {
      await h.close();
    }
  });
});
