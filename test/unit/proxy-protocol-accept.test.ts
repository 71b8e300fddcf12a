/**
 * acceptProxyProtocol on real servers over loopback: what the app sees as its client after a PROXY
 * header, and which connections are closed instead of served, and why.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { acceptProxyProtocol, type ProxyRejection } from '../../src/http/proxy-protocol.js';
import { makeCertificates } from '../helpers/tls.js';

const REQUEST = 'GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

/** The app: answers with the client address, port and family it sees on the request's socket. */
function whoAmI(req: IncomingMessage, res: ServerResponse): void {
  const s = req.socket;
  res.end(`${s.remoteAddress} ${s.remotePort} ${s.remoteFamily} ${req.url}`);
}

interface Harness {
  port: number;
  rejections: ProxyRejection[];
  /** Resolves with the next rejection (or one already made and not yet taken). */
  nextRejection: () => Promise<ProxyRejection>;
  close: () => Promise<void>;
}

async function harness(
  server: Server,
  {
    allowed = () => true,
    timeoutMs = 10_000,
    path,
  }: { allowed?: (peer: string) => boolean; timeoutMs?: number; path?: string } = {},
): Promise<Harness> {
  const rejections: ProxyRejection[] = [];
  const waiting: Array<(r: ProxyRejection) => void> = [];
  let taken = 0;
  acceptProxyProtocol(server, {
    allowed,
    timeoutMs,
    rejected: (rejection) => {
      rejections.push(rejection);
      const w = waiting.shift();
      if (w) {
        taken++;
        w(rejection);
      }
    },
  });
  await new Promise<void>((resolve) =>
    path === undefined ? server.listen(0, '127.0.0.1', resolve) : server.listen(path, resolve),
  );
  return {
    port: path === undefined ? (server.address() as AddressInfo).port : 0,
    rejections,
    nextRejection: () =>
      taken < rejections.length
        ? Promise.resolve(rejections[taken++]!)
        : new Promise((resolve) => waiting.push(resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}

/** Writes each piece in turn (the last one may be left off to hold the connection), reads to the end. */
function exchange(
  target: number | string,
  pieces: Array<string | Buffer>,
  { end = true } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const at = typeof target === 'number' ? { port: target, host: '127.0.0.1' } : { path: target };
    const socket: Socket = connect(at, () => {
      for (const piece of pieces) socket.write(piece);
      if (end) socket.end();
    });
    let got = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      got += chunk;
    });
    socket.on('error', (err: NodeJS.ErrnoException) =>
      err.code === 'ECONNRESET' ? resolve(got) : reject(err),
    );
    socket.on('close', () => resolve(got));
  });
}

const body = (response: string) => response.slice(response.indexOf('\r\n\r\n') + 4);

describe('acceptProxyProtocol on node:http', () => {
  test('the client a v1 header names is the request socket’s remote address, port and family', async () => {
    const h = await harness(createServer(whoAmI));
    try {
      const v4 = await exchange(h.port, [`PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n${REQUEST}`]);
      assert.match(v4, /^HTTP\/1\.1 200 /);
      assert.equal(body(v4), '203.0.113.7 56324 IPv4 /who');
      const v6 = await exchange(h.port, [`PROXY TCP6 2001:db8::7 2001:db8::1 4000 443\r\n${REQUEST}`]);
      assert.equal(body(v6), '2001:db8::7 4000 IPv6 /who');
      assert.deepEqual(h.rejections, []);
    } finally {
      await h.close();
    }
  });

  test('a header that names no client (UNKNOWN, LOCAL) keeps the real peer', async () => {
    const h = await harness(createServer(whoAmI));
    try {
      const unknown = await exchange(h.port, [`PROXY UNKNOWN\r\n${REQUEST}`]);
      assert.match(body(unknown), /^127\.0\.0\.1 \d+ IPv4 \/who$/);
      const local = Buffer.concat([
        Buffer.from('0d0a0d0a000d0a515549540a20000000', 'hex'),
        Buffer.from(REQUEST, 'latin1'),
      ]);
      assert.match(body(await exchange(h.port, [local])), /^127\.0\.0\.1 \d+ IPv4 \/who$/);
    } finally {
      await h.close();
    }
  });

  test('a connection whose header is still incomplete when the time is up is closed as timeout', async () => {
    const h = await harness(createServer(whoAmI), { timeoutMs: 200 });
    try {
      const response = exchange(h.port, ['PROXY TCP4 203.0.113.7 '], { end: false });
      assert.deepEqual(await h.nextRejection(), {
        reason: 'timeout',
        detail: 'no complete PROXY header within 0.2 s',
        peer: '127.0.0.1',
      });
      assert.equal(await response, '');
      assert.equal(h.rejections.length, 1);
    } finally {
      await h.close();
    }
  });

  test('a connection that does not start with a PROXY header is closed as malformed, unserved', async () => {
    const h = await harness(createServer(whoAmI));
    try {
      const response = await exchange(h.port, [REQUEST]);
      assert.equal(response, '');
      assert.deepEqual(await h.nextRejection(), {
        reason: 'malformed',
        detail: 'the connection does not start with a PROXY header',
        peer: '127.0.0.1',
      });
    } finally {
      await h.close();
    }
  });

  test('a peer that leaves before its header is complete is closed, once', async () => {
    const h = await harness(createServer(whoAmI));
    try {
      assert.equal(await exchange(h.port, ['PROXY TCP4']), '');
      assert.deepEqual(await h.nextRejection(), {
        reason: 'closed',
        detail: 'the connection closed before a complete PROXY header',
        peer: '127.0.0.1',
      });
      assert.equal(h.rejections.length, 1);
    } finally {
      await h.close();
    }
  });

  test('a peer not in --proxy-allow-from is closed at once, as untrusted, whatever it sends', async () => {
    const peers: string[] = [];
    const h = await harness(createServer(whoAmI), {
      allowed: (peer) => {
        peers.push(peer);
        return false;
      },
    });
    try {
      const response = await exchange(h.port, [`PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n${REQUEST}`]);
      assert.equal(response, '');
      assert.deepEqual(await h.nextRejection(), {
        reason: 'untrusted',
        detail: '127.0.0.1 is not in --proxy-allow-from',
        peer: '127.0.0.1',
      });
      assert.deepEqual(peers, ['127.0.0.1']);
    } finally {
      await h.close();
    }
  });

  test('connection listeners added after it run at accept; node:http’s own run once the header is read', async () => {
    const server = createServer(whoAmI);
    const h = await harness(server);
    let accepted = 0;
    server.on('connection', () => accepted++);
    try {
      const response = await exchange(h.port, [`PROXY TCP4 203.0.113.7 10.0.0.1 1 2\r\n${REQUEST}`]);
      assert.equal(body(response), '203.0.113.7 1 IPv4 /who');
      assert.equal(accepted, 1);
    } finally {
      await h.close();
    }
  });

  // A timeout, so that a connection closed between pieces fails the test instead of hanging it.
  test('a header that arrives in several pieces is put together', { timeout: 30_000 }, async () => {
    const server = createServer(whoAmI);
    const h = await harness(server);
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const client = connect(h.port, '127.0.0.1');
    try {
      client.setNoDelay(true);
      let got = '';
      client.setEncoding('latin1');
      client.on('data', (chunk: string) => {
        got += chunk;
      });
      const closed = new Promise<void>((resolve, reject) => {
        client.on('close', () => resolve());
        client.on('error', reject);
      });
      const socket = await accepted;
      // Each piece is written only once the server has read the one before, so they arrive apart.
      for (const piece of ['PROXY TCP4 203.0.113.7 ', '10.0.0.1 56324', ' 443\r\n']) {
        const arrived = once(socket, 'data');
        client.write(piece);
        await arrived;
      }
      client.end(REQUEST);
      await closed;
      assert.equal(body(got), '203.0.113.7 56324 IPv4 /who');
      assert.deepEqual(h.rejections, []);
    } finally {
      client.destroy();
      await h.close();
    }
  });

  test('a peer that resets before its header is complete is closed once, the error in the detail', async () => {
    const server = createServer(whoAmI);
    const h = await harness(server);
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const client = connect(h.port, '127.0.0.1');
    try {
      const socket = await accepted;
      const socketClosed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      const arrived = once(socket, 'data');
      client.write('PROXY TCP4');
      await arrived;
      client.resetAndDestroy();
      const rejection = await h.nextRejection();
      assert.equal(rejection.reason, 'closed');
      assert.match(rejection.detail, /^the connection closed before a complete PROXY header: .*ECONNRESET/);
      await socketClosed;
      assert.equal(h.rejections.length, 1);
    } finally {
      client.destroy();
      await h.close();
    }
  });

  test('a connection another listener destroys before its header is reported closed at once', async () => {
    const server = createServer(whoAmI);
    const h = await harness(server, { timeoutMs: 5000 });
    server.on('connection', (socket: Socket) => socket.destroy());
    try {
      assert.equal(await exchange(h.port, [], { end: false }), '');
      assert.deepEqual(await h.nextRejection(), {
        reason: 'closed',
        detail: 'the connection closed before a complete PROXY header',
        peer: '127.0.0.1',
      });
    } finally {
      await h.close();
    }
  });

  test('a served connection that the client later ends or resets is not reported', async () => {
    const server = createServer(whoAmI);
    const h = await harness(server);
    const clientErrors: Error[] = [];
    try {
      for (const leave of ['end', 'reset'] as const) {
        const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
        const client = connect(h.port, '127.0.0.1');
        client.on('error', (err) => clientErrors.push(err));
        try {
          let got = '';
          client.setEncoding('latin1');
          const answered = new Promise<void>((resolve) =>
            client.on('data', (chunk: string) => {
              got += chunk;
              if (got.endsWith('/who')) resolve();
            }),
          );
          const socket = await accepted;
          const socketClosed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
          // Keep-alive: the server holds the connection open until the client leaves.
          client.write('PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\nGET /who HTTP/1.1\r\nHost: x\r\n\r\n');
          await answered;
          if (leave === 'end') client.end();
          else client.resetAndDestroy();
          await socketClosed;
          assert.deepEqual(h.rejections, [], leave);
        } finally {
          client.destroy();
        }
      }
    } finally {
      await h.close();
    }
    assert.deepEqual(clientErrors, []);
  });

  test('a unix-socket peer is always allowed, and its header names the client', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'unicorn-proxy-unix-'));
    const path = join(dir, 's.sock');
    const peers: string[] = [];
    const h = await harness(createServer(whoAmI), {
      path,
      allowed: (peer) => {
        peers.push(peer);
        return false;
      },
    });
    try {
      const response = await exchange(path, [`PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n${REQUEST}`]);
      assert.equal(body(response), '203.0.113.7 56324 IPv4 /who');
      assert.deepEqual(h.rejections, []);
      assert.deepEqual(peers, []);
      assert.equal(await exchange(path, [REQUEST]), '');
      assert.deepEqual(await h.nextRejection(), {
        reason: 'malformed',
        detail: 'the connection does not start with a PROXY header',
        peer: '',
      });
    } finally {
      await h.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('acceptProxyProtocol on node:https', () => {
  const dir = mkdtempSync(join(tmpdir(), 'unicorn-proxy-tls-'));
  before(() => makeCertificates(dir));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Sends `header`, then a request over TLS on the same connection; resolves with the response. */
  const tlsExchange = (port: number, header: string) =>
    new Promise<string>((resolve, reject) => {
      const raw = connect(port, '127.0.0.1', () => {
        raw.write(header);
        const secure = tlsConnect(
          { socket: raw, ca: readFileSync(join(dir, 'ca.pem')), servername: 'localhost' },
          () => secure.end(REQUEST),
        );
        let got = '';
        secure.setEncoding('latin1');
        secure.on('data', (chunk: string) => {
          got += chunk;
        });
        secure.on('error', reject);
        secure.on('close', () => resolve(got));
      });
      raw.on('error', reject);
    });

  // A timeout, so that a handshake the server never answers fails the test instead of hanging it.
  test('a TLS connection whose header names no client keeps the real peer', { timeout: 30_000 }, async () => {
    const server = createHttpsServer(
      { key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) },
      whoAmI,
    );
    const h = await harness(server as unknown as Server);
    try {
      const response = await tlsExchange(h.port, 'PROXY UNKNOWN\r\n');
      assert.match(body(response), /^127\.0\.0\.1 \d+ IPv4 \/who$/);
      assert.deepEqual(h.rejections, []);
    } finally {
      await h.close();
    }
  });

  test('the TLS socket the app sees carries the client the header named', async () => {
    const server = createHttpsServer(
      { key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) },
      whoAmI,
    );
    const h = await harness(server as unknown as Server);
    try {
      const response = await tlsExchange(h.port, 'PROXY TCP4 198.51.100.9 10.0.0.1 40000 443\r\n');
      assert.equal(body(response), '198.51.100.9 40000 IPv4 /who');
      assert.deepEqual(h.rejections, []);
    } finally {
      await h.close();
    }
  });
});
