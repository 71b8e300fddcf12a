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
