import assert from 'node:assert/strict';
import { createServer, IncomingMessage, type Server, ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { LazyAbort } from '../../src/http/lazy-request.js';
import { ClientConnection, ConnectionTable, type OwedRequest } from '../../workers/connection.js';

// Real responses from a real node:http server: each request a client sends hands its ServerResponse
// to the test, which decides what to do with it. The ClientConnection under test is given a
// PassThrough as its socket, so whether (and when) it ends the connection reads as `writableEnded`.
let server: Server;
let port = 0;
const arrivals: Array<(res: ServerResponse) => void> = [];
const clients = new Set<net.Socket>();

before(async () => {
  server = createServer((_req, res) => arrivals.shift()?.(res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  for (const c of clients) c.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** A live ServerResponse, for one request sent on its own client connection. */
function liveResponse(): Promise<ServerResponse> {
  const arrived = new Promise<ServerResponse>((resolve) => arrivals.push(resolve));
  const client = net.connect(port, '127.0.0.1', () => client.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
  client.on('error', () => {});
  client.resume();
  clients.add(client);
  return arrived;
}

/**
 * A response that only has to exist: the bookkeeping compares it and reads its state. Keep-alive, as
 * node:http makes the response to an HTTP/1.1 request that did not ask to close.
 */
function unsentResponse(): ServerResponse {
  const res = new ServerResponse(new IncomingMessage(new net.Socket()));
  res.shouldKeepAlive = true;
  return res;
}

function owedFor(res: ServerResponse, finished: string[], name: string): OwedRequest {
  return { res, abort: new LazyAbort(), finish: () => finished.push(name) };
}

const flushed = (res: ServerResponse) =>
  new Promise<void>((resolve) => {
    if (res.writableFinished) resolve();
    else res.once('finish', () => resolve());
  });

describe('ClientConnection: the answers a connection is owed, in order', () => {
  test('a new connection owes nothing, has parsed nothing and is not closing', () => {
    const socket = new PassThrough();
    const conn = new ClientConnection(socket, new ConnectionTable());
    assert.equal(conn.socket, socket);
    assert.deepEqual(conn.owed, []);
    assert.equal(conn.requests, 0);
    assert.equal(conn.closing, false);
  });

  test('owe() keeps requests oldest first', () => {
    const conn = new ClientConnection(new PassThrough(), new ConnectionTable());
    const finished: string[] = [];
    const a = owedFor(unsentResponse(), finished, 'a');
    const b = owedFor(unsentResponse(), finished, 'b');
    conn.owe(a);
    conn.owe(b);
    assert.deepEqual(conn.owed, [a, b]);
  });

  test('settled() removes the first, a later one, or nothing for a response not owed', () => {
    const conn = new ClientConnection(new PassThrough(), new ConnectionTable());
    const finished: string[] = [];
    const [a, b, c] = ['a', 'b', 'c'].map((n) => owedFor(unsentResponse(), finished, n)) as [
      OwedRequest,
      OwedRequest,
      OwedRequest,
    ];
    conn.owe(a);
    conn.owe(b);
    conn.owe(c);
    conn.settled(unsentResponse());
    assert.deepEqual(conn.owed, [a, b, c], 'a response never owed leaves the list as it was');
    conn.settled(b.res);
    assert.deepEqual(conn.owed, [a, c], 'out of order: only that one goes');
    conn.settled(a.res);
    assert.deepEqual(conn.owed, [c], 'the oldest');
    conn.settled(c.res);
    assert.deepEqual(conn.owed, []);
    conn.settled(c.res);
    assert.deepEqual(conn.owed, [], 'settling on an empty list is harmless');
    assert.deepEqual(finished, [], 'settling is the response finishing by itself: no finish() call');
  });

  test('closed() finishes everything still owed, oldest first, once', () => {
    const conn = new ClientConnection(new PassThrough(), new ConnectionTable());
    const finished: string[] = [];
    conn.owe(owedFor(unsentResponse(), finished, 'a'));
    conn.owe(owedFor(unsentResponse(), finished, 'b'));
    conn.closed();
    assert.deepEqual(finished, ['a', 'b']);
    assert.deepEqual(conn.owed, []);
    conn.closed();
    assert.deepEqual(finished, ['a', 'b'], 'a second close finds nothing owed');
  });

  describe('closeAfterOwed(): the owed answers go out, then the connection closes', () => {
    test('nothing owed: the connection ends now', () => {
      const socket = new PassThrough();
      const conn = new ClientConnection(socket, new ConnectionTable());
      conn.closeAfterOwed();
      assert.equal(conn.closing, true);
      assert.equal(socket.writableEnded, true);
    });

    test('the last response has not sent its head: it will carry Connection: close, and nothing ends now', () => {
      const socket = new PassThrough();
      const conn = new ClientConnection(socket, new ConnectionTable());
      const finished: string[] = [];
      const first = unsentResponse();
      const last = unsentResponse();
      conn.owe(owedFor(first, finished, 'first'));
      conn.owe(owedFor(last, finished, 'last'));
      conn.closeAfterOwed();
      assert.equal(conn.closing, true);
      assert.equal(last.shouldKeepAlive, false);
      assert.equal(first.shouldKeepAlive, true, 'only the last one closes the connection');
      assert.equal(socket.writableEnded, false);
      assert.deepEqual(finished, []);
    });

    test('the last response has sent its head and finished: the connection ends now', async () => {
      const res = await liveResponse();
      res.end('done');
      await flushed(res);
      const socket = new PassThrough();
      const conn = new ClientConnection(socket, new ConnectionTable());
      conn.owe(owedFor(res, [], 'done'));
      conn.closeAfterOwed();
      assert.equal(conn.closing, true);
      assert.equal(socket.writableEnded, true);
    });

    test('the last response has sent its head and is still going: the connection ends when it finishes', async () => {
      const first = unsentResponse();
      const res = await liveResponse();
      res.writeHead(200, { 'content-length': '4' });
      res.flushHeaders();
      assert.equal(res.headersSent, true);
      const socket = new PassThrough();
      const conn = new ClientConnection(socket, new ConnectionTable());
      conn.owe(owedFor(first, [], 'first'));
      conn.owe(owedFor(res, [], 'going'));
      conn.closeAfterOwed();
      assert.equal(conn.closing, true);
      assert.equal(first.shouldKeepAlive, true);
      assert.equal(socket.writableEnded, false, 'not while the body is still going out');
      // node:http emits 'finish' after the last write is flushed (`writableFinished` may be true
      // before that): the connection ends on that event.
      const finished = new Promise<void>((resolve) => res.once('finish', () => resolve()));
      res.end('done');
      await finished;
      assert.equal(socket.writableEnded, true);
    });
  });
});

describe('ConnectionTable: the worker’s connections, found from any socket', () => {
  test('add() makes one ClientConnection per socket; adding again returns the same one', () => {
    const table = new ConnectionTable();
    const socket = new PassThrough();
    assert.equal(table.get(socket), undefined, 'nothing before add');
    const conn = table.add(socket);
    assert.ok(conn instanceof ClientConnection);
    assert.equal(conn.socket, socket);
    assert.equal(table.add(socket), conn);
    assert.equal(table.get(socket), conn);
    assert.equal(table.size, 1);
  });

  test('of() finds the connection, or adds it when the socket is new', () => {
    const table = new ConnectionTable();
    const known = new PassThrough();
    const conn = table.add(known);
    assert.equal(table.of(known), conn);
    assert.equal(table.size, 1);
    const fresh = new PassThrough();
    const added = table.of(fresh);
    assert.notEqual(added, conn);
    assert.equal(added.socket, fresh);
    assert.equal(table.get(fresh), added);
    assert.equal(table.size, 2);
  });

  test('size and iteration count each open connection once, in the order they came', () => {
    const table = new ConnectionTable();
    assert.equal(table.size, 0);
    assert.deepEqual([...table], []);
    const sockets = [new PassThrough(), new PassThrough(), new PassThrough()];
    const conns = sockets.map((s) => table.add(s));
    table.add(sockets[1] as PassThrough);
    assert.equal(table.size, 3);
    assert.deepEqual([...table], conns);
  });

  test('a socket that closes leaves the table, and what it still owed is finished', async () => {
    const table = new ConnectionTable();
    const staying = new PassThrough();
    const leaving = new PassThrough();
    const stay = table.add(staying);
    const conn = table.add(leaving);
    const finished: string[] = [];
    conn.owe(owedFor(unsentResponse(), finished, 'a'));
    conn.owe(owedFor(unsentResponse(), finished, 'b'));
    const closed = new Promise<void>((resolve) => leaving.once('close', () => resolve()));
    leaving.destroy();
    await closed;
    assert.equal(table.size, 1);
    assert.deepEqual([...table], [stay]);
    assert.deepEqual(finished, ['a', 'b']);
    assert.deepEqual(conn.owed, []);
  });

  test('onClose is told once per closed connection, after what it owed is finished', async () => {
    const table = new ConnectionTable();
    const socket = new PassThrough();
    const conn = table.add(socket);
    const events: string[] = [];
    conn.owe(owedFor(unsentResponse(), events, 'owed'));
    table.onClose = () => events.push(`onClose, ${table.size} left`);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.destroy();
    await closed;
    table.drop(conn);
    assert.deepEqual(events, ['owed', 'onClose, 0 left']);
  });
});
