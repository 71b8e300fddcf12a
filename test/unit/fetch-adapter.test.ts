import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { completeBody } from '../../src/http/fetch-adapter.js';

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
