/**
 * The request-head checks and limits of src/http/limits.ts on parsed heads, as node:http hands them
 * over. The same checks on raw bytes, through a real server, are the HTTP corpus (test/http-corpus).
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import {
  checkHead,
  dropUnderscoreFields,
  limitBody,
  maxHeaderSize,
  type RequestLimits,
} from '../../src/http/limits.js';

const NONE: RequestLimits = { line: 0, fields: 0, fieldSize: 0, body: 0, headerMap: 'drop' };

interface Head {
  method?: string;
  url?: string;
  version?: string;
  raw?: string[];
}

/** A parsed request head: rawHeaders as given, headers lower-cased with repeats joined as node does. */
function head({
  method = 'GET',
  url = '/',
  version = '1.1',
  raw = ['Host', 'example.test'],
}: Head): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    headers[name] = headers[name] === undefined ? raw[i + 1]! : `${headers[name]}, ${raw[i + 1]}`;
  }
  const [major, minor] = version.split('.').map(Number);
  return {
    method,
    url,
    httpVersion: version,
    httpVersionMajor: major,
    httpVersionMinor: minor,
    rawHeaders: raw,
    headers,
  } as unknown as IncomingMessage;
}

describe('checkHead: what llhttp accepts but unicorn-ts refuses', () => {
  test('a plain HTTP/1.1 or HTTP/1.0 request passes', () => {
    assert.equal(checkHead(head({}), NONE), null);
    assert.equal(checkHead(head({ version: '1.0' }), NONE), null);
  });

  test('a version other than 1.x is 505', () => {
    assert.deepEqual(checkHead(head({ version: '2.0' }), NONE), {
      status: 505,
      reason: 'HTTP/2.0 is not supported',
    });
  });

  test('origin-form and absolute-form targets pass; * only for OPTIONS', () => {
    for (const url of ['/', '/a?b=c', 'http://example.test/x', 'HTTPS://example.test/']) {
      assert.equal(checkHead(head({ url }), NONE), null, url);
    }
    assert.equal(checkHead(head({ method: 'OPTIONS', url: '*' }), NONE), null);
    assert.deepEqual(checkHead(head({ method: 'GET', url: '*' }), NONE), {
      status: 400,
      reason: 'request-target not allowed for GET',
    });
  });

  test('a target in no valid form is 400', () => {
    // ' http://x/' and 'mailto:a@b' are URLs to URL.canParse, but not absolute-form request-targets.
    for (const url of [
      '',
      'x',
      'example.test/x',
      ' http://example.test/',
      'mailto:a@example.test',
      'http://',
    ]) {
      assert.deepEqual(
        checkHead(head({ method: 'POST', url }), NONE),
        { status: 400, reason: 'request-target not allowed for POST' },
        JSON.stringify(url),
      );
    }
  });

  test('--limit-request-line counts the method, the target, the version and the spaces', () => {
    // "GET /abc HTTP/1.1" is 17 bytes.
    const req = head({ url: '/abc' });
    assert.equal(checkHead(req, { ...NONE, line: 17 }), null);
    assert.deepEqual(checkHead(req, { ...NONE, line: 16 }), {
      status: 414,
      reason: 'request line of 17 bytes exceeds --limit-request-line 16',
    });
    assert.equal(checkHead(head({ url: `/${'a'.repeat(100_000)}` }), NONE), null);
  });

  test('--limit-request-fields counts header fields, repeats included', () => {
    const req = head({ raw: ['Host', 'h', 'Accept', '*/*', 'Accept', 'text/html'] });
    assert.equal(checkHead(req, { ...NONE, fields: 3 }), null);
    assert.deepEqual(checkHead(req, { ...NONE, fields: 2 }), {
      status: 431,
      reason: '3 header fields exceed --limit-request-fields 2',
    });
  });

  test('--limit-request-field-size counts `name: value` and its CRLF, for every field', () => {
    // "Accept: abc\r\n" is 13 bytes; "Host: h\r\n" is 9.
    const req = head({ raw: ['Host', 'h', 'Accept', 'abc'] });
    assert.equal(checkHead(req, { ...NONE, fieldSize: 13 }), null);
    assert.deepEqual(checkHead(req, { ...NONE, fieldSize: 12 }), {
      status: 431,
      reason: 'header Accept of 13 bytes exceeds --limit-request-field-size 12',
    });
    assert.equal(checkHead(head({ raw: ['Host', 'h'.repeat(100_000)] }), NONE), null);
  });

  test('--header-map refuse: a header name with `_` is 400; drop and dangerous let it through here', () => {
    const req = head({ raw: ['Host', 'h', 'X_Forwarded_For', '10.0.0.1'] });
    assert.deepEqual(checkHead(req, { ...NONE, headerMap: 'refuse' }), {
      status: 400,
      reason: 'header name X_Forwarded_For contains "_"',
    });
    assert.equal(checkHead(req, { ...NONE, headerMap: 'drop' }), null);
    assert.equal(checkHead(req, { ...NONE, headerMap: 'dangerous' }), null);
    assert.equal(
      checkHead(head({ raw: ['Host', 'h', 'X-Ok', '1'] }), { ...NONE, headerMap: 'refuse' }),
      null,
    );
  });

  test('an HTTP/1.1 request without Host is 400; HTTP/1.0 may leave it out', () => {
    assert.deepEqual(checkHead(head({ raw: [] }), NONE), {
      status: 400,
      reason: 'HTTP/1.1 request without a Host field',
    });
    assert.equal(checkHead(head({ version: '1.0', raw: [] }), NONE), null);
  });

  test('a Host that is not a valid host[:port] is 400; an empty one passes', () => {
    for (const host of ['x/admin?', 'a b', 'example.test:65536', '[::1']) {
      assert.deepEqual(
        checkHead(head({ raw: ['Host', host] }), NONE),
        { status: 400, reason: 'Host field is not a valid host[:port]' },
        host,
      );
    }
    assert.equal(checkHead(head({ raw: ['Host', ''] }), NONE), null);
    assert.equal(checkHead(head({ version: '1.0', raw: ['Host', 'x/admin?'] }), NONE)?.status, 400);
  });

  test('a repeated Host or Content-Type, in any case, is 400; other repeats are fine', () => {
    assert.deepEqual(checkHead(head({ raw: ['Host', 'a', 'host', 'b'] }), NONE), {
      status: 400,
      reason: 'repeated host field',
    });
    assert.deepEqual(checkHead(head({ raw: ['Content-Type', 'text/plain', 'CONTENT-TYPE', 'x/y'] }), NONE), {
      status: 400,
      reason: 'repeated CONTENT-TYPE field',
    });
    const repeats = [
      'Host',
      'h',
      'Content-Type',
      'a/b',
      'Accept',
      'a',
      'Accept',
      'b',
      'Cookie',
      'a',
      'Cookie',
      'b',
    ];
    assert.equal(
      checkHead(head({ raw: [...repeats, 'Content-Typo', 'x', 'Content-Typo', 'y'] }), NONE),
      null,
    );
  });

  test('Transfer-Encoding on HTTP/1.0 is 400 (a smuggling vector); on HTTP/1.1 it is the usual chunked body', () => {
    const raw = ['Host', 'h', 'Transfer-Encoding', 'chunked'];
    assert.deepEqual(checkHead(head({ version: '1.0', raw }), NONE), {
      status: 400,
      reason: 'Transfer-Encoding in an HTTP/1.0 request',
    });
    assert.equal(checkHead(head({ version: '1.1', raw }), NONE), null);
  });

  test('--limit-request-body refuses a declared Content-Length above it at once', () => {
    const req = head({ method: 'POST', raw: ['Host', 'h', 'Content-Length', '10'] });
    assert.equal(checkHead(req, { ...NONE, body: 10 }), null);
    assert.deepEqual(checkHead(req, { ...NONE, body: 9 }), {
      status: 413,
      reason: 'body of 10 bytes exceeds --limit-request-body 9',
    });
    assert.equal(checkHead(head({ method: 'POST' }), { ...NONE, body: 1 }), null);
    assert.equal(checkHead(head({ raw: ['Host', 'h', 'Content-Length', '1000000000'] }), NONE), null);
  });

  test('a request without a method (the type allows it) counts it as empty in the request line', () => {
    // " /abc HTTP/1.1" is 14 bytes.
    const req = Object.assign(head({ url: '/abc' }), { method: undefined });
    assert.equal(checkHead(req, { ...NONE, line: 14 }), null);
    assert.equal(checkHead(req, { ...NONE, line: 13 })?.status, 414);
  });

  test('a request without a method or a target (the type allows it) is refused, not a crash', () => {
    const req = Object.assign(head({}), { method: undefined, url: undefined });
    assert.deepEqual(checkHead(req, { ...NONE, line: 100 }), {
      status: 400,
      reason: 'request-target not allowed for undefined',
    });
  });
});

describe('maxHeaderSize: the header size node:http must accept', () => {
  test('a request line, every field at its largest, and headroom; the defaults stand in for 0', () => {
    assert.equal(maxHeaderSize({ ...NONE, line: 4094, fields: 10, fieldSize: 100 }), 4094 + 10 * 100 + 1024);
    assert.equal(maxHeaderSize(NONE), 8190 + 100 * 8190 + 1024);
  });

  test('never above 16 MiB', () => {
    assert.equal(maxHeaderSize({ ...NONE, fields: 32768, fieldSize: 8190 }), 16 * 1024 * 1024);
  });
});

describe('dropUnderscoreFields: --header-map drop', () => {
  test('removes every field whose name has `_`, from rawHeaders and headers', () => {
    const req = head({
      raw: ['Host', 'h', 'X_Forwarded_For', '1.2.3.4', 'X-Real-IP', '5.6.7.8', 'A_B', 'c'],
    });
    dropUnderscoreFields(req);
    assert.deepEqual(req.rawHeaders, ['Host', 'h', 'X-Real-IP', '5.6.7.8']);
    assert.deepEqual(req.headers, { host: 'h', 'x-real-ip': '5.6.7.8' });
  });

  test('a request without such a field is left as it is', () => {
    const req = head({ raw: ['Host', 'h', 'X-A', 'b'] });
    const raw = req.rawHeaders;
    dropUnderscoreFields(req);
    assert.equal(req.rawHeaders, raw);
    assert.deepEqual(raw, ['Host', 'h', 'X-A', 'b']);
  });
});

describe('limitBody: the body limit on a body of unknown length', () => {
  /** A request whose push records what reaches the stream. */
  const request = () => {
    const pushed: unknown[] = [];
    const push = function (this: unknown, chunk: unknown) {
      pushed.push(chunk);
      return pushed.length < 100;
    };
    const req = { push } as unknown as IncomingMessage;
    return { req, pushed };
  };

  test('passes chunks on until the total exceeds the limit, then calls exceeded once and passes nothing more', () => {
    const { req, pushed } = request();
    let exceeded = 0;
    limitBody(req, 5, () => exceeded++);
    assert.equal(req.push(Buffer.from('abc')), true);
    assert.equal(req.push(Buffer.from('de')), true);
    assert.equal(exceeded, 0);
    assert.equal(req.push(Buffer.from('f')), false);
    assert.equal(exceeded, 1);
    assert.deepEqual(pushed.map(String), ['abc', 'de']);
    assert.equal(req.push(Buffer.from('g')), false, 'nothing more reaches the stream');
    assert.equal(req.push(null), false, 'not even its end: a cut body never looks complete');
    assert.deepEqual(pushed.map(String), ['abc', 'de']);
    assert.equal(exceeded, 1);
  });

  test('the end of the body (null) passes through without counting', () => {
    const { req, pushed } = request();
    let exceeded = 0;
    limitBody(req, 0, () => exceeded++);
    assert.equal(req.push(null), true);
    assert.deepEqual(pushed, [null]);
    assert.equal(exceeded, 0);
  });
});
