import assert from 'node:assert/strict';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeader, ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  type AccessLogEntry,
  CLIENT_CLOSED_REQUEST,
  CLOSED_WITHOUT_ANSWER,
  clfDate,
  compileAccessLogFormat,
  loggedStatus,
} from '../../src/http/access-log.js';
import { DEFAULT_ACCESS_LOG_FORMAT } from '../../src/settings.js';

interface FakeRequest {
  method?: string;
  url?: string;
  httpVersion?: string;
  headers?: IncomingHttpHeaders;
}

interface FakeEntry {
  req?: FakeRequest;
  resHeaders?: Record<string, OutgoingHttpHeader>;
  status?: number;
  remoteAddress?: string;
  /** Nanoseconds between start and finish. */
  elapsed?: bigint;
  bodyBytes?: number;
  date?: Date;
}

/** An entry with request/response objects carrying only the fields the access log reads. */
function entry(over: FakeEntry = {}): AccessLogEntry {
  const req = { method: 'GET', url: '/items?page=2', httpVersion: '1.1', headers: {}, ...over.req };
  const resHeaders = Object.fromEntries(
    Object.entries(over.resHeaders ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
  );
  const res = { statusCode: over.status ?? 200, getHeader: (name: string) => resHeaders[name.toLowerCase()] };
  const startedAt = 1_000_000_000n;
  return {
    req: req as unknown as IncomingMessage,
    res: res as unknown as ServerResponse,
    status: res.statusCode,
    remoteAddress: over.remoteAddress ?? '10.0.0.7',
    startedAt,
    finishedAt: startedAt + (over.elapsed ?? 1_234_567_890n),
    bodyBytes: over.bodyBytes ?? 512,
    date: over.date ?? new Date(Date.UTC(2026, 2, 5, 7, 8, 9)),
  };
}

const render = (format: string, over?: FakeEntry) => compileAccessLogFormat(format)(entry(over));
const atom = (name: string, over?: FakeEntry) => render(`%(${name})s`, over);

// Times in these tests are in UTC unless a test says otherwise; clfDate uses local time.
let savedTz: string | undefined;
before(() => {
  savedTz = process.env.TZ;
  process.env.TZ = 'UTC';
});
after(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

describe("Gunicorn's default access log format", () => {
  test('renders a full request line', () => {
    const line = render(DEFAULT_ACCESS_LOG_FORMAT, {
      req: {
        method: 'POST',
        url: '/login?next=%2F',
        headers: { referer: 'https://example.com/', 'user-agent': 'curl/8.5.0' },
      },
      status: 302,
      bodyBytes: 0,
    });
    assert.equal(
      line,
      '10.0.0.7 - - [05/Mar/2026:07:08:09 +0000] "POST /login?next=%2F HTTP/1.1" 302 - "https://example.com/" "curl/8.5.0"',
    );
  });

  test('shows a missing referer and user agent as "-"', () => {
    assert.equal(
      render(DEFAULT_ACCESS_LOG_FORMAT),
      '10.0.0.7 - - [05/Mar/2026:07:08:09 +0000] "GET /items?page=2 HTTP/1.1" 200 512 "-" "-"',
    );
  });
});

describe('access log atoms', () => {
  test('h is the remote address', () => {
    assert.equal(atom('h', { remoteAddress: '::1' }), '::1');
  });

  test('l is always "-"', () => {
    assert.equal(atom('l'), '-');
  });

  test('u is the user of Basic authentication', () => {
    const basic = (credentials: string) => ({
      req: { headers: { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` } },
    });
    assert.equal(atom('u', basic('alice:s3cret:x')), 'alice');
    assert.equal(atom('u', basic('bob')), 'bob');
    assert.equal(atom('u', basic(':password-only')), '-');
  });

  test('u is "-" without Basic authentication, the scheme matched in any case', () => {
    assert.equal(atom('u'), '-');
    assert.equal(atom('u', { req: { headers: { authorization: 'Bearer abc.def' } } }), '-');
    const lower = `basic ${Buffer.from('carol:x').toString('base64')}`;
    assert.equal(atom('u', { req: { headers: { authorization: lower } } }), 'carol');
  });

  test('t is the time in common log format', () => {
    assert.equal(atom('t'), '[05/Mar/2026:07:08:09 +0000]');
  });

  test('r is the request line: method, target and protocol', () => {
    assert.equal(
      atom('r', { req: { method: 'DELETE', url: '/a/b?c=d', httpVersion: '1.0' } }),
      'DELETE /a/b?c=d HTTP/1.0',
    );
  });

  test('m is the method', () => {
    assert.equal(atom('m', { req: { method: 'PATCH' } }), 'PATCH');
  });

  test('U is the path without the query', () => {
    assert.equal(atom('U'), '/items');
    assert.equal(atom('U', { req: { url: '/plain' } }), '/plain');
  });

  test('q is the query without the "?", and empty when there is none', () => {
    assert.equal(atom('q'), 'page=2');
    assert.equal(atom('q', { req: { url: '/plain' } }), '');
    assert.equal(atom('q', { req: { url: '/x?a=1?b=2' } }), 'a=1?b=2');
  });

  test('H is the protocol', () => {
    assert.equal(atom('H'), 'HTTP/1.1');
    assert.equal(atom('H', { req: { httpVersion: '2.0' } }), 'HTTP/2.0');
  });

  test('s is the status code', () => {
    assert.equal(atom('s', { status: 404 }), '404');
  });

  test('B is the body size, 0 included', () => {
    assert.equal(atom('B', { bodyBytes: 2048 }), '2048');
    assert.equal(atom('B', { bodyBytes: 0 }), '0');
  });

  test('b is the body size, or "-" when it is 0', () => {
    assert.equal(atom('b', { bodyBytes: 2048 }), '2048');
    assert.equal(atom('b', { bodyBytes: 0 }), '-');
  });

  test('f is the referer and a is the user agent', () => {
    const req = { headers: { referer: 'https://r.example/', 'user-agent': 'Mozilla/5.0' } };
    assert.equal(atom('f', { req }), 'https://r.example/');
    assert.equal(atom('a', { req }), 'Mozilla/5.0');
  });

  test('T, M, D and L are the request time in seconds, milliseconds, microseconds and decimal seconds', () => {
    const over = { elapsed: 2_500_123_456n };
    assert.equal(atom('T', over), '2');
    assert.equal(atom('M', over), '2500');
    assert.equal(atom('D', over), '2500123');
    assert.equal(atom('L', over), '2.500123');
  });

  test('a request faster than a second takes 0 seconds, and its decimal time keeps six places', () => {
    const over = { elapsed: 42_000n };
    assert.equal(atom('T', over), '0');
    assert.equal(atom('M', over), '0');
    assert.equal(atom('D', over), '42');
    assert.equal(atom('L', over), '0.000042');
  });

  test('p is the pid in angle brackets', () => {
    assert.equal(atom('p'), `<${process.pid}>`);
  });

  test('{header}i is a request header, its name matched in any case', () => {
    const req = { headers: { 'x-request-id': 'abc-123' } };
    assert.equal(atom('{X-Request-Id}i', { req }), 'abc-123');
    assert.equal(atom('{x-request-id}i', { req }), 'abc-123');
  });

  test('{header}i is "-" when the request lacks the header, and joins repeated headers', () => {
    assert.equal(atom('{x-missing}i'), '-');
    assert.equal(
      atom('{x-many}i', { req: { headers: { 'x-many': ['a', 'b'] as unknown as string } } }),
      'a, b',
    );
  });

  test('{header}o is a response header, numbers and lists included', () => {
    const resHeaders = { 'Content-Type': 'text/plain', 'Content-Length': 12, 'Set-Cookie': ['a=1', 'b=2'] };
    assert.equal(atom('{content-type}o', { resHeaders }), 'text/plain');
    assert.equal(atom('{Content-Length}o', { resHeaders }), '12');
    assert.equal(atom('{set-cookie}o', { resHeaders }), 'a=1, b=2');
    assert.equal(atom('{x-missing}o', { resHeaders }), '-');
  });

  test('{VAR}e is an environment variable, read when the line is written, its name case-sensitive', () => {
    const format = compileAccessLogFormat('%({UNICORN_TEST_REGION}e)s');
    delete process.env.UNICORN_TEST_REGION;
    assert.equal(format(entry()), '-');
    process.env.UNICORN_TEST_REGION = 'eu-west';
    try {
      assert.equal(format(entry()), 'eu-west');
      assert.equal(atom('{unicorn_test_region}e'), '-');
    } finally {
      delete process.env.UNICORN_TEST_REGION;
    }
  });

  test('an unknown atom renders as "-"', () => {
    assert.equal(atom('x'), '-');
    assert.equal(atom('zz'), '-');
    assert.equal(atom('{user-agent}z'), '-');
    assert.equal(atom('{}i'), '-');
  });

  test('a braced atom with text before or after it is unknown, not a header lookup', () => {
    const req = { headers: { a: 'header-a' } };
    assert.equal(atom('{a}i', { req }), 'header-a');
    assert.equal(atom('x{a}i', { req }), '-');
    assert.equal(atom('{a}ix', { req }), '-');
  });

  test('a request without a method or target renders m as "-" and U, q as empty', () => {
    const req = { method: undefined, url: undefined };
    assert.equal(atom('m', { req }), '-');
    assert.equal(atom('U', { req }), '');
    assert.equal(atom('q', { req }), '');
  });
});

describe('compileAccessLogFormat', () => {
  test('keeps the text around atoms as it is', () => {
    assert.equal(render('status=%(s)s size=%(B)s.'), 'status=200 size=512.');
  });

  test('renders atoms next to each other, and the same atom twice', () => {
    assert.equal(render('%(s)s%(s)s/%(m)s'), '200200/GET');
  });

  test('renders a format without atoms as plain text', () => {
    assert.equal(render('just text'), 'just text');
    assert.equal(render(''), '');
  });

  test('leaves a "%" that does not start an atom alone', () => {
    assert.equal(render('100% %(s)s %(s)d %s'), '100% 200 %(s)d %s');
  });

  test('one compiled format renders each entry on its own', () => {
    const format = compileAccessLogFormat('%(m)s %(s)s');
    assert.equal(format(entry({ req: { method: 'GET' }, status: 200 })), 'GET 200');
    assert.equal(format(entry({ req: { method: 'PUT' }, status: 500 })), 'PUT 500');
  });
});

describe('loggedStatus: the status of a response that has closed', () => {
  const res = (
    headersSent: boolean,
    statusCode: number,
    socket: { readableEnded: boolean; errored: Error | null },
  ) => ({ headersSent, statusCode, req: { socket } }) as unknown as ServerResponse;
  const open = { readableEnded: false, errored: null };

  test('a response whose head went out logs the status it sent', () => {
    assert.equal(loggedStatus(res(true, 404, open)), 404);
    assert.equal(loggedStatus(res(true, 200, { readableEnded: true, errored: null })), 200);
  });

  test("a WebSocket's 101 is logged although ws, not the response, wrote the handshake", () => {
    assert.equal(loggedStatus(res(false, 101, open)), 101);
  });

  test('never sent: 499 when the client ended or reset its connection, 444 otherwise (nginx codes)', () => {
    assert.equal(CLIENT_CLOSED_REQUEST, 499);
    assert.equal(CLOSED_WITHOUT_ANSWER, 444);
    assert.equal(loggedStatus(res(false, 200, { readableEnded: true, errored: null })), 499);
    assert.equal(
      loggedStatus(res(false, 200, { readableEnded: false, errored: new Error('read ECONNRESET') })),
      499,
    );
    assert.equal(loggedStatus(res(false, 200, open)), 444);
  });
});

describe('clfDate', () => {
  const date = new Date(Date.UTC(2026, 0, 9, 23, 5, 1));

  test('formats [dd/Mon/yyyy:HH:MM:SS +zzzz] in UTC', () => {
    assert.equal(clfDate(date), '[09/Jan/2026:23:05:01 +0000]');
  });

  test('uses local time, with a positive offset east of Greenwich', () => {
    process.env.TZ = 'Asia/Kolkata';
    try {
      assert.equal(clfDate(date), '[10/Jan/2026:04:35:01 +0530]');
    } finally {
      process.env.TZ = 'UTC';
    }
  });

  test('uses local time, with a negative offset west of Greenwich', () => {
    process.env.TZ = 'America/New_York';
    try {
      assert.equal(clfDate(date), '[09/Jan/2026:18:05:01 -0500]');
    } finally {
      process.env.TZ = 'UTC';
    }
  });

  test('names every month with its three-letter English abbreviation', () => {
    const months = Array.from({ length: 12 }, (_, m) => clfDate(new Date(Date.UTC(2026, m, 15))).slice(4, 7));
    assert.deepEqual(months, [
      'Jan',
      'Feb',
      'Mar',
      'Apr',
      'May',
      'Jun',
      'Jul',
      'Aug',
      'Sep',
      'Oct',
      'Nov',
      'Dec',
    ]);
  });

  test('pads the day, hours, minutes and seconds to two digits', () => {
    assert.equal(clfDate(new Date(Date.UTC(2026, 6, 1, 0, 0, 0))), '[01/Jul/2026:00:00:00 +0000]');
  });
});

describe('readsResponseHeaders: whether a compiled format logs a response header', () => {
  const readsResponseHeaders = (format: string) => compileAccessLogFormat(format).readsResponseHeaders;
  test('a %({name}o)s atom does; request headers, environment and the rest do not', () => {
    assert.equal(readsResponseHeaders('%(h)s "%({content-type}o)s"'), true);
    assert.equal(readsResponseHeaders('%({Set-Cookie}o)s'), true);
    assert.equal(readsResponseHeaders('%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'), false);
    assert.equal(readsResponseHeaders('%({user-agent}i)s %({HOME}e)s %(o)s'), false);
  });
});
