/**
 * --proxy-protocol and --proxy-allow-from on the real server: raw PROXY v1/v2 headers over loopback
 * TCP (and a unix socket, and ahead of a TLS handshake), what the app and the access log then see,
 * and the connections that are closed instead (with their `proxy.rejected` line) while the worker
 * serves on.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { rawExchange } from '../helpers/http.js';
import { fixture, type Server, startServer, stopAll } from '../helpers/server.js';
import { makeCertificates } from '../helpers/tls.js';
import { waitFor } from '../helpers/wait.js';

after(stopAll);
const dir = mkdtempSync(join(tmpdir(), 'unicorn-pp-'));

const NODE_APP = [`${fixture('peer.mjs')}:node`, '--interface', 'node'];
const FETCH_APP = [`${fixture('peer.mjs')}:fetch`, '--interface', 'fetch'];

const GET = (path = '/') =>
  Buffer.from(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 'latin1');

const GET_WITH_XFF = Buffer.from(
  'GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.9\r\nConnection: close\r\n\r\n',
  'latin1',
);

const v1 = (line: string) => Buffer.from(`${line}\r\n`, 'latin1');

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 header: command (0x20 LOCAL, 0x21 PROXY), family/transport, then the address block. */
function v2(verCmd: number, famProto: number, block: Buffer): Buffer {
  const fixed = Buffer.from([verCmd, famProto, 0, 0]);
  fixed.writeUInt16BE(block.length, 2);
  return Buffer.concat([SIGNATURE, fixed, block]);
}

function v2Ipv4(source: string, port: number): Buffer {
  const block = Buffer.alloc(12);
  Buffer.from(source.split('.').map(Number)).copy(block, 0);
  Buffer.from([10, 0, 0, 1]).copy(block, 4);
  block.writeUInt16BE(port, 8);
  block.writeUInt16BE(443, 10);
  return v2(0x21, 0x11, block);
}

function v2Ipv6(hex: string, port: number): Buffer {
  const block = Buffer.alloc(36);
  Buffer.from(hex, 'hex').copy(block, 0);
  block[31] = 1; // destination ::1
  block.writeUInt16BE(port, 32);
  block.writeUInt16BE(443, 34);
  return v2(0x21, 0x21, block);
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
  raw: string;
}

/** Sends bytes on a new connection and reads until the server closes it. */
async function exchange(server: Server, ...parts: Buffer[]): Promise<{ data: string; closed: boolean }> {
  const { data, closed } = await rawExchange(server.port, Buffer.concat(parts), {
    idleMs: 20_000,
    timeoutMs: 30_000,
  });
  return { data: data.toString('latin1'), closed };
}

function answer(data: string): Answer {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
  const body = data.slice(data.indexOf('\r\n\r\n') + 4);
  return { status, body: status === 200 ? (JSON.parse(body) as Record<string, unknown>) : {}, raw: data };
}

async function ask(server: Server, ...parts: Buffer[]): Promise<Answer> {
  const { data } = await exchange(server, ...parts);
  const reply = answer(data);
  assert.equal(reply.status, 200, `expected a 200, got: ${data.slice(0, 300)}`);
  return reply;
}

/** The connection is closed without a byte of response, and one `proxy.rejected` line says why. */
async function assertRejected(server: Server, reason: string, ...parts: Buffer[]): Promise<void> {
  const before = server.events('proxy.rejected').length;
  const { data, closed } = await exchange(server, ...parts);
  assert.equal(closed, true, 'the server closed the connection');
  assert.equal(data, '', 'no response was written');
  const line = await server.waitForEvent('proxy.rejected', () => true, {
    after: indexOfEvent(server, before),
  });
  assert.equal(line.reason, reason, String(line.msg));
  assert.equal(line.peer, '127.0.0.1');
}

/** The index in server.logs just after the `count`th line of proxy.rejected (0: from the start). */
function indexOfEvent(server: Server, count: number): number {
  if (count === 0) return 0;
  let seen = 0;
  for (let i = 0; i < server.logs.length; i++) {
    if (server.logs[i]!.event === 'proxy.rejected' && ++seen === count) return i + 1;
  }
  return server.logs.length;
}

/** The worker that was serving still serves, and no worker was replaced. */
async function assertServing(server: Server, pid: number): Promise<void> {
  const reply = await ask(server, v1('PROXY UNKNOWN'), GET());
  assert.equal(reply.body.pid, pid, 'the same worker answered');
  assert.deepEqual(server.liveWorkerPids(), [pid]);
  assert.equal(server.events('worker.exited').length, 0);
}

describe('--proxy-protocol from an allowed peer (127.0.0.1 is in the default --proxy-allow-from)', () => {
  test('v1 TCP4: the app, req.socket and the access log see the client the header names', async () => {
    const server = await startServer([...NODE_APP, '--proxy-protocol', '--access-logfile', '-']);
    const reply = await ask(server, v1('PROXY TCP4 203.0.113.7 10.0.0.1 56324 443'), GET('/v1'));
    assert.deepEqual(
      { ...reply.body, pid: 0 },
      {
        socketAddress: '203.0.113.7',
        socketPort: 56324,
        remoteAddress: '203.0.113.7',
        remotePort: 56324,
        scheme: 'http',
        pid: 0,
      },
    );
    await waitFor('the access log line', () => server.stdout.includes('203.0.113.7 - - ['), {
      timeoutMs: 15_000,
    });
    assert.match(server.stdout, /^203\.0\.113\.7 - - \[.*\] "GET \/v1 HTTP\/1\.1" 200 /m);
  });

  test('v1 TCP6, v2 IPv4 and v2 IPv6 on the fetch interface, with keep-alive and pipelining after the header', async () => {
    const server = await startServer([...FETCH_APP, '--proxy-protocol']);
    const six = await ask(server, v1('PROXY TCP6 2001:db8::7 ::1 40000 443'), GET());
    assert.equal(six.body.remoteAddress, '2001:db8::7');
    assert.equal(six.body.remotePort, 40000);
    const v2four = await ask(server, v2Ipv4('198.51.100.20', 12345), GET());
    assert.equal(v2four.body.remoteAddress, '198.51.100.20');
    assert.equal(v2four.body.remotePort, 12345);
    const v2six = await ask(server, v2Ipv6('20010db8000000000000000000000042', 54321), GET());
    assert.equal(v2six.body.remoteAddress, '2001:db8::42');
    assert.equal(v2six.body.remotePort, 54321);
    // Two requests on one connection: the header applies to the connection, and only once.
    const keepAlive = Buffer.from('GET /1 HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1');
    const { data } = await exchange(
      server,
      v1('PROXY TCP4 192.0.2.1 10.0.0.1 1000 80'),
      keepAlive,
      GET('/2'),
    );
    const replies = data.split('HTTP/1.1 ').slice(1);
    assert.equal(replies.length, 2, data);
    for (const r of replies) assert.match(r, /"remoteAddress":"192\.0\.2\.1","remotePort":1000/);
  });

  test('UNKNOWN and LOCAL keep the real peer', async () => {
    const server = await startServer([...NODE_APP, '--proxy-protocol']);
    const unknown = await ask(server, v1('PROXY UNKNOWN'), GET());
    assert.equal(unknown.body.socketAddress, '127.0.0.1');
    const local = await ask(server, v2(0x20, 0x00, Buffer.alloc(0)), GET());
    assert.equal(local.body.remoteAddress, '127.0.0.1');
  });

  test('X-Forwarded-For is trusted according to the PROXY address, not the proxy connection', async () => {
    const server = await startServer([
      ...NODE_APP,
      '--proxy-protocol',
      '--forwarded-allow-ips',
      '10.0.0.0/8',
    ]);
    const forwarded = (from: string) => [v1(`PROXY TCP4 ${from} 10.0.0.1 5000 80`), GET_WITH_XFF];
    // From a proxy the header says is 10.1.2.3 (trusted), the forwarded address is believed...
    const trusted = await ask(server, ...forwarded('10.1.2.3'));
    assert.equal(trusted.body.remoteAddress, '198.51.100.9');
    assert.equal(trusted.body.socketAddress, '10.1.2.3');
    // ...from a client the header says is 203.0.113.7 it is not, though the TCP peer is 127.0.0.1.
    const untrusted = await ask(server, ...forwarded('203.0.113.7'));
    assert.equal(untrusted.body.remoteAddress, '203.0.113.7');
  });

  test('the sync worker reads the header too', async () => {
    const server = await startServer([...NODE_APP, '--proxy-protocol', '-k', 'sync']);
    for (let i = 0; i < 3; i++) {
      const reply = await ask(server, v1(`PROXY TCP4 203.0.113.${i + 1} 10.0.0.1 4000 80`), GET());
      assert.equal(reply.body.remoteAddress, `203.0.113.${i + 1}`);
    }
  });

  test('on a unix socket (peers always allowed) the header sets the client too', async () => {
    const path = join(dir, 'pp.sock');
    const server = await startServer([...NODE_APP, '--proxy-protocol', '-b', `unix:${path}`]);
    const data = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(path);
      let out = '';
      socket.on('connect', () =>
        socket.write(Buffer.concat([v1('PROXY TCP4 192.0.2.50 10.0.0.1 777 80'), GET()])),
      );
      socket.on('data', (c) => (out += c.toString('latin1')));
      socket.on('close', () => resolve(out));
      socket.on('error', reject);
      socket.setTimeout(30_000, () => socket.destroy(new Error('no response within 30 s')));
    });
    assert.equal(answer(data).body.remoteAddress, '192.0.2.50');
    assert.equal(answer(data).body.remotePort, 777);
    assert.equal(server.events('proxy.rejected').length, 0);
  });
});

describe('connections --proxy-protocol closes, each with one proxy.rejected line, the worker unharmed', () => {
  test('a peer outside --proxy-allow-from is closed even with a valid header', async () => {
    const server = await startServer([...NODE_APP, '--proxy-protocol', '--proxy-allow-from', '10.0.0.0/8']);
    await assertRejected(server, 'untrusted', v1('PROXY TCP4 203.0.113.7 10.0.0.1 1 2'), GET());
    await assertRejected(server, 'untrusted', GET());
  });

  test('a malformed header, garbage, and a request without a header are closed; the worker serves on', async () => {
    const server = await startServer([...NODE_APP, '--proxy-protocol']);
    const pid = server.liveWorkerPids()[0]!;
    await assertRejected(server, 'malformed', v1('PROXY TCP4 192.168.0.1 192.168.0.11 65iii 100000'), GET());
    await assertRejected(server, 'malformed', v1('PROXY TCP4 not-an-ip 192.168.0.11 56324 443'), GET());
    await assertRejected(server, 'malformed', Buffer.from(`PROXY ${'9'.repeat(200)}`));
    await assertRejected(server, 'malformed', v2(0x21, 0x11, Buffer.alloc(4)), GET());
    await assertRejected(server, 'malformed', Buffer.from([0, 1, 2, 3, 255, 254, 10, 13]));
    await assertRejected(server, 'malformed', GET());
    await assertServing(server, pid);
  });

  test('a header that is not complete within 5 s is closed', async () => {
    const server = await startServer([...NODE_APP, '--proxy-protocol']);
    const pid = server.liveWorkerPids()[0]!;
    await assertRejected(server, 'timeout', Buffer.from('PROXY TCP4 203.0.1', 'latin1'));
    await assertServing(server, pid);
  });
});

describe('--proxy-protocol with TLS: the header comes before the handshake', () => {
  before(() => makeCertificates(dir));

  /**
   * A TLS client whose first bytes on the wire are `header`. `together`: the header goes out in the
   * same write as the ClientHello (so the server reads both in one chunk); otherwise on its own first.
   */
  function tlsRequest(port: number, header: Buffer, together: boolean): Promise<string> {
    return new Promise((resolve, reject) => {
      const raw = net.connect(port, '127.0.0.1');
      raw.on('error', reject);
      let transport: Duplex = raw;
      if (together) {
        let first = true;
        transport = new Duplex({
          write(chunk: Buffer, _encoding, callback) {
            raw.write(first ? Buffer.concat([header, chunk]) : chunk, callback);
            first = false;
          },
          final(callback) {
            raw.end(callback);
          },
          read() {},
        });
        raw.on('data', (c) => transport.push(c));
        raw.on('end', () => transport.push(null));
      } else {
        raw.write(header);
      }
      const secure = tls.connect({ socket: transport, ca: readFileSync(join(dir, 'ca.pem')) });
      const deadline = setTimeout(() => {
        secure.destroy();
        raw.destroy();
        reject(new Error('no TLS response within 30 s'));
      }, 30_000);
      let out = '';
      secure.on('secureConnect', () => secure.write(GET()));
      secure.on('data', (c) => (out += c.toString('latin1')));
      secure.on('end', () => {
        clearTimeout(deadline);
        resolve(out);
      });
      secure.on('error', (err) => {
        clearTimeout(deadline);
        reject(err);
      });
    });
  }

  for (const together of [true, false]) {
    test(`the app sees https and the header's client (header ${together ? 'in the ClientHello write' : 'sent first'})`, async () => {
      const server = await startServer([
        ...NODE_APP,
        '--proxy-protocol',
        '--certfile',
        join(dir, 'server.pem'),
        '--keyfile',
        join(dir, 'server.key'),
      ]);
      const v1reply = answer(
        await tlsRequest(server.port, v1('PROXY TCP4 203.0.113.9 10.0.0.1 3333 443'), together),
      );
      assert.equal(v1reply.status, 200, v1reply.raw);
      assert.deepEqual(
        [v1reply.body.scheme, v1reply.body.socketAddress, v1reply.body.remotePort],
        ['https', '203.0.113.9', 3333],
      );
      const v2reply = answer(await tlsRequest(server.port, v2Ipv4('198.51.100.3', 4444), together));
      assert.equal(v2reply.body.remoteAddress, '198.51.100.3');
      assert.equal(server.events('proxy.rejected').length, 0);
    });
  }
});

describe('without --proxy-protocol nothing changes', () => {
  test('plain requests are served with the TCP peer, and a PROXY line is a bad request line', async () => {
    const server = await startServer(NODE_APP);
    const reply = await ask(server, GET());
    assert.equal(reply.body.socketAddress, '127.0.0.1');
    const { data } = await exchange(server, v1('PROXY TCP4 203.0.113.7 10.0.0.1 1 2'), GET());
    assert.equal(answer(data).status, 400);
    assert.equal(server.events('proxy.rejected').length, 0);
  });
});
