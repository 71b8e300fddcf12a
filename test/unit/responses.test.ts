import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type OwnStatus, ownAnswerBody, ownAnswerHeaders, rawAnswer } from '../../src/http/own-answer.js';
import { type ClientConnection, ConnectionTable } from '../../workers/connection.js';
import { answerAndClose, answerSocketAndClose, failResponse } from '../../workers/responses.js';

const ALL: Array<[OwnStatus, string]> = [
  [400, 'Bad Request'],
  [405, 'Method Not Allowed'],
  [408, 'Request Timeout'],
  [413, 'Payload Too Large'],
  [414, 'URI Too Long'],
  [431, 'Request Header Fields Too Large'],
  [500, 'Internal Server Error'],
  [503, 'Service Unavailable'],
  [505, 'HTTP Version Not Supported'],
];

const DATE = /^date: ([A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT)\r$/m;

/** The exact answer for `status`, with its Date replaced by `DATE`, which the caller checks apart. */
function expected(status: number, text: string, extra = ''): string {
  return (
    `HTTP/1.1 ${status} ${text}\r\nserver: unicorn-ts\r\n${extra}content-type: text/plain; charset=utf-8\r\n` +
    `content-length: ${text.length + 1}\r\ndate: DATE\r\nconnection: close\r\n\r\n${text}\n`
  );
}

/** Checks the Date is now, in the HTTP format, and returns the answer with it replaced by `DATE`. */
function withoutDate(answer: string): string {
  const m = DATE.exec(answer);
  assert.ok(m, `a Date header in ${JSON.stringify(answer)}`);
  const at = Date.parse(m[1] as string);
  assert.ok(Math.abs(at - Date.now()) < 5_000, `the Date ${m[1]} is now`);
  return answer.replace(DATE, 'date: DATE\r');
}

describe('own-answer: the one shape of every answer the server writes itself', () => {
  test('the body is the status text and a newline', () => {
    for (const [status, text] of ALL) assert.equal(ownAnswerBody(status), `${text}\n`);
  });

  test('the headers, in order: server, extra, then type, exact length, date, connection: close', () => {
    const headers = ownAnswerHeaders(503, { 'retry-after': '1' });
    assert.deepEqual(Object.keys(headers), [
      'server',
      'retry-after',
      'content-type',
      'content-length',
      'date',
      'connection',
    ]);
    assert.equal(headers.server, 'unicorn-ts');
    assert.equal(headers['retry-after'], '1');
    assert.equal(headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(headers['content-length'], '20');
    assert.equal(headers.connection, 'close');
    assert.deepEqual(Object.keys(ownAnswerHeaders(400)), [
      'server',
      'content-type',
      'content-length',
      'date',
      'connection',
    ]);
  });

  test('extra headers cannot override the fixed ones', () => {
    const headers = ownAnswerHeaders(400, {
      server: 'other',
      'content-type': 'text/html',
      'content-length': '999',
      connection: 'keep-alive',
    });
    assert.equal(headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(headers['content-length'], '12');
    assert.equal(headers.connection, 'close');
    assert.equal(headers.server, 'unicorn-ts');
  });

  test('rawAnswer: the exact bytes for each status', () => {
    for (const [status, text] of ALL) assert.equal(withoutDate(rawAnswer(status)), expected(status, text));
  });

  test('rawAnswer: extra headers go first', () => {
    assert.equal(
      withoutDate(rawAnswer(503, { 'retry-after': '1' })),
      expected(503, 'Service Unavailable', 'retry-after: 1\r\n'),
    );
  });
});

// A real node:http server: each request runs the action the test queued for it, with the worker's
// ClientConnection for its socket, as the worker would.
let server: Server;
let port = 0;
const table = new ConnectionTable();
const actions: Array<(conn: ClientConnection, req: IncomingMessage, res: ServerResponse) => void> = [];

before(async () => {
  server = createServer((req, res) => actions.shift()?.(table.of(req.socket), req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

interface Exchange {
  /** Everything the server sent, as latin1 text. */
  data: string;
  /** The server ended the connection (the client read its end). */
  ended: boolean;
  /** The connection was reset or broke. */
  error: Error | null;
}

/**
 * Sends `request` (a keep-alive HTTP/1.1 request unless told otherwise) on a new connection and
 * collects the answer until the server closes.
 */
function exchange(request = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n'): Promise<Exchange> {
  return new Promise((resolve) => {
    const client = net.connect(port, '127.0.0.1', () => client.write(request));
    const chunks: Buffer[] = [];
    let ended = false;
    let error: Error | null = null;
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    client.on('end', () => {
      ended = true;
    });
    client.on('error', (err) => {
      error = err;
    });
    client.on('close', () => resolve({ data: Buffer.concat(chunks).toString('latin1'), ended, error }));
    client.setTimeout(10_000, () => client.destroy(new Error('no answer within 10 s')));
  });
}

describe('answerAndClose: an own answer through the ServerResponse of a request', () => {
  test('each status: the same bytes as rawAnswer, then the server closes a keep-alive connection', async () => {
    for (const [status, text] of ALL) {
      const seen: Array<{ closingBefore: boolean; closing: boolean; keepAlive: boolean }> = [];
      actions.push((conn, _req, res) => {
        const closingBefore = conn.closing;
        answerAndClose(conn, res, status);
        seen.push({ closingBefore, closing: conn.closing, keepAlive: res.shouldKeepAlive });
      });
      const got = await exchange();
      assert.equal(got.error, null);
      assert.equal(withoutDate(got.data), expected(status, text), `status ${status}`);
      assert.equal(got.ended, true, 'the server ended the connection');
      assert.deepEqual(seen, [{ closingBefore: false, closing: true, keepAlive: false }]);
    }
  });

  test('extra headers go out first', async () => {
    actions.push((conn, _req, res) => answerAndClose(conn, res, 503, { 'retry-after': '1' }));
    const got = await exchange();
    assert.equal(withoutDate(got.data), expected(503, 'Service Unavailable', 'retry-after: 1\r\n'));
  });

  test('an extra header cannot override a fixed one', async () => {
    actions.push((conn, _req, res) => answerAndClose(conn, res, 503, { connection: 'keep-alive' }));
    const got = await exchange();
    assert.match(got.data, /\r\nconnection: close\r\n/);
    assert.doesNotMatch(got.data, /keep-alive/);
    assert.equal(got.ended, true);
  });

  test('headers set on the response before are dropped: the answer is the same as on the raw path', async () => {
    actions.push((conn, _req, res) => {
      res.setHeader('server', 'unicorn-ts');
      res.setHeader('content-encoding', 'gzip');
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      answerAndClose(conn, res, 413);
    });
    const got = await exchange();
    assert.equal(withoutDate(got.data), expected(413, 'Payload Too Large'));
  });

  test('`sent` runs once the answer is flushed, once', async () => {
    const calls: boolean[] = [];
    actions.push((conn, _req, res) =>
      answerAndClose(conn, res, 408, undefined, () => calls.push(res.writableFinished)),
    );
    const got = await exchange();
    assert.equal(withoutDate(got.data), expected(408, 'Request Timeout'));
    assert.deepEqual(calls, [true]);
  });
});

describe('failResponse: what the client gets when the app failed', () => {
  test('before any headers: the own 500, and the connection closes', async () => {
    let closing = false;
    actions.push((conn, _req, res) => {
      failResponse(conn, res);
      closing = conn.closing;
    });
    const got = await exchange();
    assert.equal(withoutDate(got.data), expected(500, 'Internal Server Error'));
    assert.equal(got.ended, true);
    assert.equal(closing, true);
  });

  test('after the headers went out: the connection is cut, so the partial body is not taken for whole', async () => {
    const thrown: unknown[] = [];
    actions.push((conn, _req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      // Fail once the headers and a first chunk are on the wire, as an app that throws mid-stream.
      res.write('partial', () => {
        try {
          failResponse(conn, res);
        } catch (err) {
          thrown.push(err);
        }
      });
    });
    const got = await exchange();
    assert.match(got.data, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(got.data, /\r\n\r\n7\r\npartial\r\n$/, 'the chunked body stops without its last chunk');
    assert.deepEqual(thrown, [], 'failResponse does not try to write a second status line');
  });
});

describe('answerSocketAndClose: an own answer straight onto a socket node:http gave no request for', () => {
  test('the same bytes as rawAnswer, then the socket ends and the connection is closing', async () => {
    const raw = net.createServer();
    const sockets = new ConnectionTable();
    const closing: boolean[] = [];
    raw.on('connection', (socket) => {
      const conn = sockets.add(socket);
      closing.push(conn.closing);
      answerSocketAndClose(conn, 431);
      closing.push(conn.closing);
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    try {
      const got = await new Promise<Exchange>((resolve) => {
        const client = net.connect((raw.address() as AddressInfo).port, '127.0.0.1');
        const chunks: Buffer[] = [];
        let ended = false;
        client.on('data', (chunk: Buffer) => chunks.push(chunk));
        client.on('end', () => {
          ended = true;
        });
        client.on('error', () => {});
        client.setTimeout(10_000, () => client.destroy());
        client.on('close', () =>
          resolve({ data: Buffer.concat(chunks).toString('latin1'), ended, error: null }),
        );
      });
      assert.equal(withoutDate(got.data), expected(431, 'Request Header Fields Too Large'));
      assert.equal(got.ended, true);
      assert.deepEqual(closing, [false, true]);
    } finally {
      await new Promise<void>((resolve) => raw.close(() => resolve()));
    }
  });
});
