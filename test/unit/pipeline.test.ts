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

async function serve(
  app: (req: IncomingMessage & { unicorn?: RequestInfo }, res: ServerResponse) => unknown,
  options: Partial<PipelineOptions> = {},
  admit?: (pipeline: RequestPipeline, run: () => void, res: ServerResponse) => void,
): Promise<Harness> {
  const file = join(dir, `log-${logs++}.json`);
  const log = Log.create({ level: 'debug', format: 'json', file, base: {} });
  const events: string[] = [];
  let pipeline: RequestPipeline;
  const host: PipelineHost = {
    log,
    draining: false,
    admit: (request) => (admit ? admit(pipeline, () => request.run(), request.res) : request.run()),
    released: () => events.push('released'),
    started: (req) => events.push(`started ${req.url}`),
    finished: (req) => events.push(`finished ${req.url}`),
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
      ...options,
    },
    host,
  );
  const server = http.createServer(pipeline.listener());
  server.on('connection', (socket) => pipeline.connections.add(socket));
  server.on('clientError', (err, socket) => pipeline.clientError(err, socket));
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

const hello = (_req: IncomingMessage, res: ServerResponse) => {
  res.setHeader('content-type', 'text/plain');
  res.end('hello');
};

describe('RequestPipeline on a plain node:http server', () => {
  test('runs the app with the Server header and req.unicorn, and tells the host it started and finished', async () => {
    let info: RequestInfo | undefined;
    const h = await serve((req, res) => {
      info = req.unicorn;
      hello(req, res);
    });
    try {
      const answer = await exchange(h.port, 'GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(answer, /\r\nserver: unicorn-ts\r\n/i);
      assert.ok(answer.endsWith('\r\n\r\nhello'));
      assert.equal(info?.remoteAddress, '127.0.0.1');
      assert.equal(info?.scheme, 'http');
      assert.deepEqual(info?.worker, { id: 7, pid: 4242 });
      assert.deepEqual(h.events, ['started /a', 'finished /a']);
      assert.equal(h.pipeline.inflight, 0);
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
