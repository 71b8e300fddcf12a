import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { fixture, runCli, startServer, stopAll } from '../helpers/server.js';

after(stopAll);

/** One keep-alive connection, reused for every request (an agent with a single socket). */
class KeepAlive {
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  readonly sockets = new Set<Socket>();

  constructor(readonly url: string) {}

  send(
    path: string,
    { method = 'GET', chunks = [] as string[], gapMs = 0 } = {},
  ): Promise<{ status: number; body: string; connection: string | undefined }> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${this.url}${path}`, { method, agent: this.agent }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }),
        );
      });
      req.on('socket', (socket: Socket) => this.sockets.add(socket));
      req.on('error', reject);
      // Each chunk goes out on its own, `gapMs` apart: the body trails the head the master reads.
      const write = (i: number) => {
        if (i === chunks.length) return void req.end();
        req.write(chunks[i]);
        setTimeout(() => write(i + 1), gapMs);
      };
      write(0);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

describe('--dispatch request', () => {
  test('requests on open keep-alive connections go to the free worker while the other burns the CPU', async () => {
    const server = await startServer([fixture('node-pid.mjs'), '-w', '2', '--dispatch', 'request']);
    const pids = server.liveWorkerPids().map(String);
    const clients = Array.from({ length: 8 }, () => new KeepAlive(server.url));
    try {
      // Every connection has served a request, so each now waits for its next one.
      for (const client of clients) assert.equal((await client.send('/')).status, 200);
      let burnDone = false;
      const burning = request(`${server.url}/?burn=5000`).then((r) => {
        burnDone = true;
        return r;
      });
      const busy = String((await server.waitForEvent('app.burning')).pid);
      const free = pids.find((p) => p !== busy);
      const replies = await Promise.all(clients.map((client) => client.send('/')));
      assert.equal(burnDone, false, 'the requests were answered while the other worker was still busy');
      for (const reply of replies) {
        assert.equal(reply.body, free, 'a request went to the busy worker');
        assert.equal(reply.connection, 'keep-alive');
      }
      for (const client of clients) assert.equal(client.sockets.size, 1, 'the connection was kept');
      assert.equal((await burning).body, busy);
    } finally {
      for (const client of clients) client.close();
    }
  });

  test('a body that arrives after the head the master read reaches the app whole', async () => {
    const server = await startServer([`${fixture('echo.mjs')}:handler`, '-w', '1', '--dispatch', 'request']);
    const client = new KeepAlive(server.url);
    try {
      assert.equal((await client.send('/')).status, 200);
      const chunks = ['a'.repeat(1000), 'b'.repeat(1000), 'c'.repeat(1000)];
      const reply = await client.send('/upload', { method: 'POST', chunks, gapMs: 50 });
      assert.equal(reply.status, 200);
      assert.equal(JSON.parse(reply.body).bodyBytes, 3000);
      assert.equal(client.sockets.size, 1);
    } finally {
      client.close();
    }
  });

  test('pipelined requests on a waiting connection are all answered, in order', async () => {
    const server = await startServer([`${fixture('echo.mjs')}:handler`, '-w', '2', '--dispatch', 'request']);
    const socket = net.connect(server.port, '127.0.0.1');
    let received = '';
    socket.setEncoding('latin1').on('data', (c: string) => (received += c));
    const responses = (n: number) =>
      new Promise<string[]>((resolve, reject) => {
        const check = () => {
          const bodies = received.split('HTTP/1.1 ').slice(1);
          if (bodies.length >= n && /\}$/.test(received)) resolve(bodies);
        };
        socket.on('data', check);
        socket.once('close', () => reject(new Error(`closed after: ${received}`)));
        check();
      });
    try {
      socket.write('GET /first HTTP/1.1\r\nhost: x\r\n\r\n');
      await responses(1);
      socket.write('GET /second HTTP/1.1\r\nhost: x\r\n\r\nGET /third HTTP/1.1\r\nhost: x\r\n\r\n');
      const all = await responses(3);
      assert.deepEqual(
        all.map((r) => JSON.parse(r.slice(r.indexOf('{'))).url.replace(/^http:\/\/[^/]+/, '')),
        ['/first', '/second', '/third'],
      );
    } finally {
      socket.destroy();
    }
  });

  test('a waiting connection is closed at a graceful stop, which ends promptly', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '1', '--dispatch', 'request']);
    const client = new KeepAlive(server.url);
    assert.equal((await client.send('/')).status, 200);
    const [socket] = client.sockets;
    const closed = new Promise((resolve) => socket!.once('close', resolve));
    server.signal('SIGTERM');
    assert.deepEqual(await server.waitForExit(), { code: 0, signal: null });
    await closed;
    client.close();
  });

  test('a keep-alive connection outlives a HUP: its next request goes to a new worker', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '1', '--dispatch', 'request']);
    const client = new KeepAlive(server.url);
    try {
      const [old] = server.liveWorkerPids();
      assert.equal((await client.send('/')).body, String(old));
      const mark = server.logs.length;
      server.signal('SIGHUP');
      await server.waitForEvent('reload.done', () => true, { after: mark });
      const reply = await client.send('/');
      assert.equal(reply.body, String(server.liveWorkerPids()[0]));
      assert.notEqual(reply.body, String(old));
      assert.equal(client.sockets.size, 1, 'the connection was kept across the reload');
    } finally {
      client.close();
    }
  });

  test('refuses --certfile and --proxy-protocol, naming the clash', async () => {
    for (const flags of [['--certfile', 'cert.pem', '--keyfile', 'key.pem'], ['--proxy-protocol']]) {
      const { code, stderr } = await runCli([
        fixture('pid.mjs'),
        '--dispatch',
        'request',
        ...flags,
        '--log-format',
        'json',
      ]);
      assert.equal(code, 1);
      assert.match(stderr, new RegExp(`--dispatch request cannot be used with ${flags[0]}`));
    }
  });
});
