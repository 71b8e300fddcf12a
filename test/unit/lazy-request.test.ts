import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { LazyAbort, lazyRequest } from '../../src/http/lazy-request.js';

function incoming(method: string, body?: string): IncomingMessage {
  const req = Readable.from(body === undefined ? [] : [Buffer.from(body)]) as unknown as IncomingMessage;
  Object.assign(req, {
    method,
    url: '/p?q=1',
    rawHeaders: ['Host', 'example.test', 'Content-Type', 'application/json', 'X-Two', 'a', 'X-Two', 'b'],
  });
  return req;
}

describe('the lazy Request', () => {
  test('is a Request: instanceof holds and method, url and headers answer without building one', () => {
    const request = lazyRequest(incoming('GET'), 'http://example.test/p?q=1', new LazyAbort());
    assert.ok(request instanceof Request);
    assert.equal(request.method, 'GET');
    assert.equal(request.url, 'http://example.test/p?q=1');
    assert.equal(request.headers.get('content-type'), 'application/json');
    assert.equal(request.headers.get('x-two'), 'a, b');
  });

  test('reads its body through the real Request when asked', async () => {
    const request = lazyRequest(incoming('POST', '{"a":1}'), 'http://example.test/', new LazyAbort());
    assert.deepEqual(await request.json(), { a: 1 });
    assert.equal(request.bodyUsed, true);
  });

  test('clone() and new Request(lazy) give real Requests with the same method and url', () => {
    const request = lazyRequest(incoming('GET'), 'http://example.test/x', new LazyAbort());
    const copy = request.clone();
    assert.equal(copy.url, 'http://example.test/x');
    assert.equal(copy.method, 'GET');
  });

  test('its signal aborts when the request is aborted, before or after the signal is first read', () => {
    const early = new LazyAbort();
    early.abort(new Error('gone'));
    assert.equal(lazyRequest(incoming('GET'), 'http://x/', early).signal.aborted, true);
    const late = new LazyAbort();
    const signal = lazyRequest(incoming('GET'), 'http://x/', late).signal;
    assert.equal(signal.aborted, false);
    late.abort();
    assert.equal(signal.aborted, true);
    assert.equal(late.aborted, true);
  });
});

/** A LazyAbort that counts reads of its signal: the real Request reads it once, when it is built. */
class CountingAbort extends LazyAbort {
  reads = 0;
  override get signal(): AbortSignal {
    this.reads++;
    return super.signal;
  }
}

describe('what the lazy Request answers itself, and what builds the real one', () => {
  test('method, url and headers build nothing; the body does, once', async () => {
    const abort = new CountingAbort();
    const request = lazyRequest(incoming('POST', 'hi'), 'http://example.test/p?q=1', abort);
    assert.equal(request.method, 'POST');
    assert.equal(request.url, 'http://example.test/p?q=1');
    assert.equal(request.headers.get('host'), 'example.test');
    assert.equal(abort.reads, 0);
    assert.equal(await request.text(), 'hi');
    assert.equal(request.bodyUsed, true);
    assert.equal(abort.reads, 1);
  });

  test('headers are every raw header in order, each pair once, and the same object on every read', () => {
    const request = lazyRequest(incoming('GET'), 'http://example.test/', new LazyAbort());
    assert.equal(request.headers, request.headers);
    assert.deepEqual(
      [...request.headers],
      [
        ['content-type', 'application/json'],
        ['host', 'example.test'],
        ['x-two', 'a, b'],
      ],
    );
  });

  test('the real Request has the same method, url and headers; GET and HEAD are built without a body', async () => {
    for (const method of ['GET', 'HEAD']) {
      const real = lazyRequest(incoming(method), 'http://example.test/x', new LazyAbort()).clone();
      assert.equal(real.method, method);
      assert.equal(real.url, 'http://example.test/x');
      assert.equal(real.headers.get('x-two'), 'a, b');
      assert.equal(real.body, null);
    }
    const post = lazyRequest(incoming('PUT', 'data'), 'http://example.test/x', new LazyAbort()).clone();
    assert.equal(post.method, 'PUT');
    assert.equal(await post.text(), 'data');
  });

  test('a request without a method (as node never gives, but the type allows) is a GET', () => {
    const req = incoming('GET');
    Object.assign(req, { method: undefined });
    const request = lazyRequest(req, 'http://example.test/', new LazyAbort());
    assert.equal(request.method, 'GET');
    assert.equal(request.clone().method, 'GET');
  });

  test('constructor is Request, and every lazy Request shares one prototype', () => {
    const a = lazyRequest(incoming('GET'), 'http://x/', new LazyAbort());
    const b = lazyRequest(incoming('GET'), 'http://x/', new LazyAbort());
    assert.equal(a.constructor, Request);
    assert.equal(Object.getPrototypeOf(a), Object.getPrototypeOf(b));
  });
});

describe('LazyAbort', () => {
  test('the signal carries the first reason, whether it is read before or after the abort', () => {
    const first = new Error('client went away');
    const late = new LazyAbort();
    const signal = late.signal;
    late.abort(first);
    late.abort(new Error('second'));
    assert.equal(signal.reason, first);
    const early = new LazyAbort();
    early.abort(first);
    early.abort(new Error('second'));
    assert.equal(early.signal.reason, first);
    assert.equal(early.signal, early.signal);
  });

  test('is not aborted until abort() is called', () => {
    const abort = new LazyAbort();
    assert.equal(abort.aborted, false);
    assert.equal(abort.signal.aborted, false);
    abort.abort();
    assert.equal(abort.aborted, true);
  });
});
