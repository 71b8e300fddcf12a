import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { completeBody } from '../../src/http/fetch-adapter.js';

describe('completeBody: a Response made from a string or bytes is written without its stream', () => {
  test('a string body', () => {
    assert.equal(completeBody(new Response('Hello, World!')), 'Hello, World!');
  });

  test('bytes and Response.json()', () => {
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
