import assert from 'node:assert/strict';
import {
  createServer,
  get,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import {
  completeBody,
  discardResponse,
  fetchHandlerOf,
  NotAResponseError,
  toRequest,
  writeResponse,
} from '../../src/http/fetch-adapter.js';
import { LazyAbort } from '../../src/http/lazy-request.js';
import type { RequestInfo } from '../../src/http/request-info.js';
import { waitFor } from '../helpers/wait.js';

// undici keeps a Response's state behind a symbol up to Node 22, and in a true private field from
// Node 24 (undici 7), where nothing outside the class can read the body's source: there every body
// takes the stream path, which sends a body complete within one turn with its Content-Length too.
const sourceReachable = Object.getOwnPropertySymbols(new Response('x')).some(
  (s) => s.description === 'state',
);

describe(`completeBody: a Response made from a string or bytes is written ${sourceReachable ? 'without its stream' : 'through its stream (Node 24: the source is private)'}`, () => {
  test('a string body', () => {
    assert.equal(completeBody(new Response('Hello, World!')), sourceReachable ? 'Hello, World!' : null);
  });

  test('bytes and Response.json()', () => {
    if (!sourceReachable) {
      assert.equal(completeBody(new Response(new Uint8Array([1, 2, 3]))), null);
      assert.equal(completeBody(Response.json({ a: 1 })), null);
      return;
    }
    assert.deepEqual(completeBody(new Response(new Uint8Array([1, 2, 3]))), new Uint8Array([1, 2, 3]));
    assert.equal(Buffer.from(completeBody(Response.json({ a: 1 })) as Uint8Array).toString(), '{"a":1}');
  });

  test('a streamed body, no body, or a body already read take the stream path', async () => {
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('x'));
        controller.close();
      },
    });
    assert.equal(completeBody(new Response(stream)), null);
    assert.equal(completeBody(new Response(null, { status: 204 })), null);
    const used = new Response('read me');
    await used.text();
    assert.equal(completeBody(used), null);
  });
});

/**
 * A real node:http server on loopback whose handler writes the Response `responses[path]()` makes
 * through writeResponse; `written` records how each writeResponse call ended.
 */
function adapterServer(responses: Record<string, () => Response>) {
  const written: Record<string, 'resolved' | Error> = {};
  /** Per path, how many 'close' and 'drain' listeners writeResponse left on the response. */
  const leftover: Record<string, { close: number; drain: number }> = {};
  const live: Record<string, ServerResponse> = {};
  let lateArrived: () => void = () => {};
  const late = new Promise<void>((resolve) => {
    lateArrived = resolve;
  });
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    live[path] = res;
    const count = () => ({ close: res.listenerCount('close'), drain: res.listenerCount('drain') });
    const write = () => {
      const before = count();
      Promise.resolve(writeResponse(res, responses[path]!())).then(
        () => {
          leftover[path] = { close: count().close - before.close, drain: count().drain - before.drain };
          written[path] = 'resolved';
        },
        (err: Error) => {
          leftover[path] = { close: count().close - before.close, drain: count().drain - before.drain };
          written[path] = err;
        },
      );
    };
    // /late: the app answers only after the client has gone away.
    if (path === '/late') {
      res.once('close', write);
      lateArrived();
    } else write();
  });
  return {
    written,
    leftover,
    live,
    late,
    listen: () =>
      new Promise<number>((resolve) =>
        server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
      ),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface Got {
  status: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

/**
 * How long a test waits for something writeResponse should do at once (the whole file runs in about
 * a second): a response that never ends or a body never cancelled fails the test after this instead
 * of hanging it until the runner gives up.
 */
const PATIENCE_MS = 5_000;

/** `promise`, or a failure naming `what` once PATIENCE_MS have passed without it. */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${PATIENCE_MS} ms waiting for ${what}`)),
      PATIENCE_MS,
    );
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * GETs `path`; `onHeaders` runs as soon as the status and headers arrive, before the body. A
 * response that stays silent for PATIENCE_MS fails.
 */
function getFrom(port: number, path: string, onHeaders?: () => void): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      onHeaders?.();
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          statusMessage: res.statusMessage ?? '',
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(chunks),
        }),
      );
    });
    req.on('error', reject);
    req.setTimeout(PATIENCE_MS, () =>
      req.destroy(new Error(`no answer for ${path} within ${PATIENCE_MS} ms`)),
    );
  });
}

const bytes = (text: string) => new TextEncoder().encode(text);

/** A stream of these chunks, all there at once. */
const streamOf = (...chunks: string[]) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(bytes(chunk));
      controller.close();
    },
  });

describe('writeResponse: a Response written to node:http', () => {
  let headersSeen: () => void = () => {};
  const headersArrived = new Promise<void>((resolve) => {
    headersSeen = resolve;
  });
  let cancelled: (reason: unknown) => void = () => {};
  const cancelledOnClose = new Promise<unknown>((resolve) => {
    cancelled = resolve;
  });
  const big = 4 * 1024 * 1024;
  let stalledCancelled: () => void = () => {};
  const stalledCancel = new Promise<void>((resolve) => {
    stalledCancelled = resolve;
  });

  const app = adapterServer({
    '/status': () => new Response('made', { status: 201, statusText: 'Made It', headers: { 'x-one': '1' } }),
    '/default-status': () => new Response('ok', { status: 202 }),
    '/cookies': () => {
      const headers = new Headers({ 'content-type': 'text/plain' });
      headers.append('set-cookie', 'a=1; Path=/');
      headers.append('set-cookie', 'b=2; HttpOnly');
      return new Response('c', { headers });
    },
    '/string': () => new Response('Hello, World!'),
    '/no-body': () => new Response(null, { status: 204 }),
    '/one-chunk': () => new Response(streamOf('only')),
    '/empty-stream': () => new Response(streamOf()),
    '/two-chunks': () => new Response(streamOf('first,', 'second')),
    '/many-chunks': () => new Response(streamOf('a', 'b', 'c', 'd')),
    '/own-length': () => new Response(streamOf('12345'), { headers: { 'content-length': '5' } }),
    // Its first chunk comes only once the client has the headers: they cannot wait for the body.
    '/slow': () =>
      new Response(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            await headersArrived;
            controller.enqueue(bytes('late'));
            controller.close();
          },
        }),
      ),
    '/slow-empty': () =>
      new Response(
        new ReadableStream<Uint8Array>({
          async start(controller) {
            await new Promise((resolve) => setTimeout(resolve, 20));
            controller.close();
          },
        }),
      ),
    '/big': () => {
      let sent = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            const chunk = new Uint8Array(64 * 1024).fill(120);
            controller.enqueue(chunk);
            sent += chunk.byteLength;
            if (sent >= big) controller.close();
          },
        }),
      );
    },
    '/stalled': () =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            controller.enqueue(new Uint8Array(64 * 1024));
          },
          cancel() {
            stalledCancelled();
          },
        }),
      ),
    '/late': () => new Response(streamOf('one', 'two', 'three')),
    // Sends one chunk then never ends; the client hangs up.
    '/endless': () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(bytes('tick'));
          },
          cancel(reason) {
            cancelled(reason);
          },
        }),
      ),
  });
  let port = 0;
  before(async () => {
    port = await app.listen();
  });
  after(() => app.close());

  test('status, status text and headers are the Response’s', async () => {
    const got = await getFrom(port, '/status');
    assert.equal(got.status, 201);
    assert.equal(got.statusMessage, 'Made It');
    assert.equal(got.headers['x-one'], '1');
    assert.equal(got.body.toString(), 'made');
    const plain = await getFrom(port, '/default-status');
    assert.equal(plain.status, 202);
    assert.equal(plain.statusMessage, 'Accepted');
  });

  test('each Set-Cookie stays its own header line', async () => {
    const got = await getFrom(port, '/cookies');
    assert.deepEqual(got.headers['set-cookie'], ['a=1; Path=/', 'b=2; HttpOnly']);
    assert.equal(got.headers['content-type'], 'text/plain');
  });

  test('a string body is sent whole with its Content-Length', async () => {
    const got = await getFrom(port, '/string');
    assert.equal(got.headers['content-length'], '13');
    assert.equal(got.headers['transfer-encoding'], undefined);
    assert.equal(got.body.toString(), 'Hello, World!');
    assert.equal(app.written['/string'], 'resolved');
  });

  test('no body: nothing is sent', async () => {
    const got = await getFrom(port, '/no-body');
    assert.equal(got.status, 204);
    assert.equal(got.body.length, 0);
    assert.equal(app.written['/no-body'], 'resolved');
  });

  test('a stream complete at once (one chunk or none) gets a Content-Length, not chunked encoding', async () => {
    const one = await getFrom(port, '/one-chunk');
    assert.equal(one.headers['content-length'], '4');
    assert.equal(one.headers['transfer-encoding'], undefined);
    assert.equal(one.body.toString(), 'only');
    const empty = await getFrom(port, '/empty-stream');
    assert.equal(empty.headers['content-length'], '0');
    assert.equal(empty.headers['transfer-encoding'], undefined);
    assert.equal(empty.body.length, 0);
  });

  test('a stream of several chunks is sent chunked, every chunk in order', async () => {
    const two = await getFrom(port, '/two-chunks');
    assert.equal(two.headers['transfer-encoding'], 'chunked');
    assert.equal(two.headers['content-length'], undefined);
    assert.equal(two.body.toString(), 'first,second');
    const many = await getFrom(port, '/many-chunks');
    assert.equal(many.body.toString(), 'abcd');
    assert.equal(app.written['/many-chunks'], 'resolved');
    assert.deepEqual(app.leftover['/many-chunks'], { close: 0, drain: 0 }, 'no listener is left behind');
  });

  test('a Content-Length the app set is kept', async () => {
    const got = await getFrom(port, '/own-length');
    assert.deepEqual(
      got.rawHeaders.filter((_, i) => i % 2 === 0 && /content-length/i.test(got.rawHeaders[i]!)).length,
      1,
    );
    assert.equal(got.headers['content-length'], '5');
    assert.equal(got.body.toString(), '12345');
  });

  test('a stream with nothing ready yet sends its status and headers at once, then the body', async () => {
    const got = await getFrom(port, '/slow', headersSeen);
    assert.equal(got.status, 200);
    assert.equal(got.body.toString(), 'late');
    const empty = await getFrom(port, '/slow-empty');
    assert.equal(empty.body.length, 0);
    assert.equal(app.written['/slow-empty'], 'resolved');
  });

  test('a body larger than the socket buffers arrives whole (writes wait for drain)', async () => {
    const got = await getFrom(port, '/big');
    assert.equal(got.body.length, big);
    assert.ok(got.body.every((b) => b === 120));
    assert.equal(app.written['/big'], 'resolved');
    assert.deepEqual(app.leftover['/big'], { close: 0, drain: 0 }, 'no listener is left behind');
  });

  test('a client that stops reading and then hangs up fails the write and cancels the body', async () => {
    const client = get({ host: '127.0.0.1', port, path: '/stalled', agent: false }, (res) => res.pause());
    client.on('error', () => {});
    await waitFor(
      'the server to wait for a full socket to drain',
      () => app.live['/stalled']?.writableNeedDrain,
      { timeoutMs: PATIENCE_MS },
    );
    client.destroy();
    await waitFor('writeResponse to settle', () => app.written['/stalled'], { timeoutMs: PATIENCE_MS });
    const outcome = app.written['/stalled'];
    assert.ok(outcome instanceof Error);
    assert.equal(outcome.message, 'client closed the connection');
    await within(stalledCancel, 'the body to be cancelled');
    assert.equal(app.leftover['/stalled']?.drain, 0, 'no drain listener is left behind');
  });

  test('a streamed body for a client that has already gone is refused at once, not waited on', async () => {
    const client = get({ host: '127.0.0.1', port, path: '/late', agent: false });
    client.on('error', () => {});
    await within(app.late, 'the request to arrive');
    client.destroy();
    await waitFor('writeResponse to settle', () => app.written['/late'], { timeoutMs: PATIENCE_MS });
    const outcome = app.written['/late'];
    assert.ok(outcome instanceof Error);
    assert.equal(outcome.message, 'client closed the connection');
  });

  test('when the client hangs up mid-stream the body stream is cancelled', async () => {
    const firstChunk = new Promise<void>((resolve, reject) => {
      const req = get({ host: '127.0.0.1', port, path: '/endless', agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ECONNRESET') reject(err);
      });
    });
    await within(firstChunk, 'the first chunk');
    await within(cancelledOnClose, 'the body to be cancelled');
  });
});

describe('discardResponse: a Response that will not be sent', () => {
  test('cancels a stream body, so that its source stops', async () => {
    let cancelled: unknown = 'not cancelled';
    const body = new ReadableStream({
      pull: () => {},
      cancel: (reason) => {
        cancelled = reason;
      },
    });
    discardResponse(new Response(body));
    await waitFor('the cancel', () => cancelled !== 'not cancelled');
    assert.equal(cancelled, undefined);
  });

  test('leaves a body already read, and one without a body, alone', async () => {
    const read = new Response('text');
    assert.equal(await read.text(), 'text');
    discardResponse(read);
    discardResponse(new Response(null, { status: 204 }));
  });
});

describe('NotAResponseError: what the fetch handler returned instead', () => {
  test('undefined, with the --interface node hint', () => {
    const err = new NotAResponseError(undefined);
    assert.equal(err.name, 'NotAResponseError');
    assert.equal(
      err.message,
      'the fetch handler returned undefined, not a Response; if the app is a (req, res) handler, start unicorn-ts with --interface node',
    );
  });

  test('null or another value, named by its type, without the hint', () => {
    assert.equal(new NotAResponseError(null).message, 'the fetch handler returned null, not a Response');
    assert.equal(new NotAResponseError('hi').message, 'the fetch handler returned a string, not a Response');
    assert.equal(new NotAResponseError({}).message, 'the fetch handler returned a object, not a Response');
  });
});

describe('fetchHandlerOf: a function, or an object with fetch()', () => {
  const info = {} as RequestInfo;
  test('a function is the handler itself', () => {
    const fn = () => new Response('x');
    assert.equal(fetchHandlerOf(fn), fn);
  });

  test('an object’s fetch is called as a method, with the request and the info', async () => {
    const request = new Request('http://x/');
    const app = {
      body: 'from this',
      fetch(this: { body: string }, r: Request, i: RequestInfo) {
        assert.equal(r, request);
        assert.equal(i, info);
        return new Response(this.body);
      },
    };
    const response = await fetchHandlerOf(app)(request, info);
    assert.equal(await response.text(), 'from this');
  });
});

describe('toRequest: the URL the app sees', () => {
  const url = (target: string | undefined, host: string | undefined, scheme = 'http') => {
    const req = Readable.from([]) as unknown as IncomingMessage;
    Object.assign(req, {
      method: 'GET',
      url: target,
      headers: host === undefined ? {} : { host },
      rawHeaders: [],
      socket: { localAddress: '127.0.0.1', localPort: 8000 },
    });
    return toRequest(req, scheme, new LazyAbort()).url;
  };

  test('an origin-form target is joined to the scheme and the Host header', () => {
    assert.equal(url('/a/b?c=1', 'example.test:8080'), 'http://example.test:8080/a/b?c=1');
    assert.equal(url('/x', 'example.test', 'https'), 'https://example.test/x');
  });

  test('without a Host header the authority is the address the connection arrived on; without a target the path is /', () => {
    assert.equal(url('/x', undefined), 'http://127.0.0.1:8000/x');
    assert.equal(url(undefined, 'example.test'), 'http://example.test/');
  });

  test('`*` (OPTIONS *) is the server itself', () => {
    assert.equal(url('*', 'example.test'), 'http://example.test/');
    assert.equal(url('*', undefined, 'https'), 'https://127.0.0.1:8000/');
  });

  test('an absolute-form target keeps its own authority, whatever the Host header says', () => {
    assert.equal(url('http://other.test/p?q=1', 'example.test'), 'http://other.test/p?q=1');
  });
});
