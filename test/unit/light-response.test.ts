import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { writeResponse } from '../../src/http/fetch-adapter.js';
import { LightResponse } from '../../src/http/light-response.js';

const Native = globalThis.Response;
const light = (body?: BodyInit | null, init?: ResponseInit) =>
  new LightResponse(body, init) as unknown as Response;

interface Answer {
  status: number;
  statusMessage: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The header names the ServerResponse itself still held once written. */
  kept: string[];
}

/** Writes `response` through writeResponse on a real server and returns the raw answer. */
async function onTheWire(response: Response, keepHeaders = true): Promise<Answer> {
  let kept: string[] = [];
  const server = http.createServer((_req, res) => {
    void writeResponse(res, response, keepHeaders);
    kept = res.getHeaderNames().sort();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    return await new Promise((resolve, reject) => {
      const req = http.get({ port, host: '127.0.0.1', path: '/', agent: false, timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('latin1').on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            statusMessage: res.statusMessage ?? '',
            headers: res.headers,
            body,
            kept,
          }),
        );
      });
      req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
      req.on('error', reject);
    });
  } finally {
    server.close();
  }
}

describe('LightResponse: a Response that is real only when it must be', () => {
  test('is an instance of Response both ways', () => {
    assert.ok(light('x') instanceof Native);
    assert.ok(new Native('x') instanceof LightResponse);
    assert.ok(light('x') instanceof LightResponse);
    assert.equal({} instanceof LightResponse, false);
    assert.equal(Object.prototype.toString.call(light('x')), '[object Response]');
  });

  test('a string or bytes body with a plain init stays light; the writer gets what the app gave', () => {
    const parts = LightResponse.partsOf(
      light('hello', { status: 201, statusText: 'Made', headers: { 'X-A': ' 1 ' } }),
    );
    assert.deepEqual(parts, {
      body: 'hello',
      status: 201,
      statusText: 'Made',
      headers: { 'x-a': '1' },
      impliedType: 'text/plain;charset=UTF-8',
    });
    assert.deepEqual(LightResponse.partsOf(light(new Uint8Array([1, 2])))?.body, new Uint8Array([1, 2]));
    assert.deepEqual(LightResponse.partsOf(light(new Uint8Array([3]).buffer))?.body, new Uint8Array([3]));
    assert.equal(LightResponse.partsOf(light())?.body, null);
    assert.equal(LightResponse.partsOf(new Native('x')), null);
  });

  test('the bytes are copied, as a real Response does: changing the buffer later changes nothing', async () => {
    const bytes = new Uint8Array([1, 2, 3]);
    const response = light(bytes);
    bytes[0] = 9;
    assert.deepEqual(new Uint8Array(await response.arrayBuffer()), new Uint8Array([1, 2, 3]));
  });

  test('anything unusual is a real Response at once, with undici errors', () => {
    assert.equal(LightResponse.partsOf(light(new ReadableStream())), null);
    assert.equal(LightResponse.partsOf(light('x', { headers: [['a', '1']] })), null);
    assert.equal(LightResponse.partsOf(light('x', { headers: new Headers({ a: '1' }) })), null);
    assert.equal(LightResponse.partsOf(light('x', { headers: { 'set-cookie': 'a=1' } })), null);
    assert.equal(LightResponse.partsOf(light('x', { headers: { a: '1', A: '2' } })), null);
    assert.throws(() => light('x', { status: 99 }), RangeError);
    assert.throws(() => light('x', { status: 204 }), TypeError);
    assert.throws(() => light('x', { headers: { 'bad name': '1' } }), TypeError);
  });

  test('reads like a real Response: status, ok, headers with the implied type, text, json, clone', async () => {
    for (const make of [light, (b?: BodyInit | null, i?: ResponseInit) => new Native(b, i)]) {
      const r = make('{"a":1}', { status: 202, headers: { 'x-a': '1' } });
      assert.equal(r.status, 202);
      assert.equal(r.ok, true);
      assert.equal(r.statusText, '');
      assert.equal(r.type, 'default');
      assert.equal(r.url, '');
      assert.equal(r.redirected, false);
      assert.equal(r.bodyUsed, false);
      assert.equal(r.headers.get('content-type'), 'text/plain;charset=UTF-8');
      assert.equal(r.headers.get('x-a'), '1');
      assert.deepEqual(await r.clone().json(), { a: 1 });
      assert.equal(await r.text(), '{"a":1}');
      assert.equal(r.bodyUsed, true);
      assert.equal(make(null, { status: 404 }).ok, false);
    }
  });

  test('Response.json stays light with application/json, unless the init names its own type', async () => {
    const r = LightResponse.json({ a: [1] }, { status: 200 });
    assert.deepEqual(LightResponse.partsOf(r), {
      body: '{"a":[1]}',
      status: 200,
      statusText: '',
      headers: null,
      impliedType: 'application/json',
    });
    assert.equal(r.headers.get('content-type'), 'application/json');
    const own = LightResponse.json({}, { headers: { 'content-type': 'application/vnd.x+json' } });
    assert.equal(own.headers.get('content-type'), 'application/vnd.x+json');
    assert.equal(LightResponse.error().type, 'error');
    assert.equal(LightResponse.redirect('http://a/', 302).headers.get('location'), 'http://a/');
  });

  for (const keepHeaders of [true, false]) {
    test(`written light: status, reason, Server, headers, implied type and exact length (keepHeaders ${keepHeaders})`, async () => {
      const got = await onTheWire(
        light('héllo', { status: 201, statusText: 'Made', headers: { 'x-a': '1' } }),
        keepHeaders,
      );
      assert.equal(got.status, 201);
      assert.equal(got.statusMessage, 'Made');
      assert.equal(got.headers.server, 'unicorn-ts');
      assert.equal(got.headers['x-a'], '1');
      assert.equal(got.headers['content-type'], 'text/plain;charset=UTF-8');
      assert.equal(got.headers['content-length'], '6');
      assert.equal(Buffer.from(got.body, 'latin1').toString('utf8'), 'héllo');
      // Kept on the response only when something reads them afterwards (an access log, a hook).
      assert.deepEqual(got.kept, keepHeaders ? ['content-length', 'content-type', 'server', 'x-a'] : []);
      const typed = await onTheWire(
        light('x', { headers: { 'content-type': 'text/html', server: 'app/1' } }),
        keepHeaders,
      );
      assert.equal(typed.headers['content-type'], 'text/html');
      assert.equal(typed.headers.server, 'app/1', "the app's own Server header replaces ours");
      assert.equal(typed.statusMessage, 'OK');
      const empty = await onTheWire(light(null, { status: 404 }), keepHeaders);
      assert.equal(empty.status, 404);
      assert.equal(empty.headers['content-type'], undefined);
      assert.equal(empty.body, '');
    });
  }

  test('headers the app changes after making it are the ones written', async () => {
    const response = light('body', { headers: { 'x-a': '1' } });
    response.headers.set('x-b', '2');
    response.headers.append('set-cookie', 'a=1');
    response.headers.append('set-cookie', 'b=2');
    assert.equal(LightResponse.partsOf(response), null, 'asking for the headers made it real');
    const got = await onTheWire(response);
    assert.equal(got.headers['x-a'], '1');
    assert.equal(got.headers['x-b'], '2');
    assert.deepEqual(got.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(got.body, 'body');
  });
});
