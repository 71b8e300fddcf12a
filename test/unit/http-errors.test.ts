import assert from 'node:assert/strict';
import { createServer, get, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { failResponse, interfaceHint } from '../../src/http/errors.js';

describe('failResponse: what the client gets when the app failed', () => {
  // Each request names what the handler does before the app "fails".
  let server: ReturnType<typeof createServer>;
  let port = 0;
  const thrown: unknown[] = [];
  before(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const fail = () => {
        try {
          failResponse(res);
        } catch (err) {
          thrown.push(err);
        }
      };
      if (req.url !== '/after-headers') return fail();
      res.writeHead(200, { 'content-type': 'text/plain' });
      // Fail once the headers and a first chunk are on the wire, as an app that throws mid-stream.
      res.write('partial', fail);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const fetchRaw = (path: string) =>
    new Promise<{ status: number; headers: IncomingMessage['headers']; body: string; error?: Error }>(
      (resolve, reject) => {
        get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('error', (error) =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body, error }),
          );
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        }).on('error', reject);
      },
    );

  test('before any headers: a plain 500 with an exact length, and no stack', async () => {
    const res = await fetchRaw('/');
    assert.equal(res.status, 500);
    assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(res.headers['content-length'], '22');
    assert.equal(res.body, 'Internal Server Error\n');
    assert.deepEqual(thrown, []);
  });

  test('after the headers went out: the connection is cut, so the partial body is not taken for whole', async () => {
    const res = await fetchRaw('/after-headers');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'partial');
    assert.ok(res.error, 'the client sees the response aborted');
    assert.deepEqual(thrown, [], 'failResponse does not try to write a second status line');
  });
});

describe('interfaceHint: a hint when a node-style app was run as a fetch one', () => {
  const hint = 'if the app is a (req, res) handler, start unicorn-ts with --interface node';

  test('a fetch app failing as a (req, res) handler called with a Request would', () => {
    assert.equal(interfaceHint(new TypeError('res.setHeader is not a function'), 'fetch'), hint);
    assert.equal(
      interfaceHint(new TypeError("Cannot read properties of undefined (reading 'end')"), 'fetch'),
      hint,
    );
  });

  test('no hint for other errors, or under --interface node', () => {
    assert.equal(interfaceHint(new Error('database is down'), 'fetch'), undefined);
    assert.equal(interfaceHint(new TypeError('res.setHeader is not a function'), 'node'), undefined);
    assert.equal(
      interfaceHint(new TypeError("Cannot read properties of undefined (reading 'x')"), 'node'),
      undefined,
    );
  });

  test('only an Error is read: a thrown plain object with such a message gets no hint', () => {
    assert.equal(interfaceHint({ message: 'x is not a function' }, 'fetch'), undefined);
    assert.equal(interfaceHint('x is not a function', 'fetch'), undefined);
  });
});
