import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe, test } from 'node:test';
import { type Socket as ClientSocket, io } from 'socket.io-client';
import { rawExchange, request } from '../helpers/http.js';
import { skipWithoutNginx as skip, startNginx, stopAllNginx } from '../helpers/nginx.js';
import { fixture, type Server, startServer, stopAll } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

after(async () => {
  await stopAllNginx();
  await stopAll();
});

interface Seen {
  remoteAddress: string;
  pid: number;
}

/** One request on a fresh connection (from `localAddress` when given); the app says who answered. */
async function ask(
  url: string,
  {
    forwardedFor,
    localAddress,
    agent,
  }: { forwardedFor?: string; localAddress?: string; agent?: http.Agent } = {},
): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const headers = forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor };
    const req = http.get(url, { headers, agent: agent ?? false, localAddress, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => {
        if (res.statusCode === 200) resolve(JSON.parse(body) as Seen);
        else reject(new Error(`status ${res.statusCode}: ${body}`));
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
  });
}

/** Documentation-range addresses, one per client. */
const clients = (n: number) => Array.from({ length: n }, (_, i) => `198.51.100.${i + 1}`);

/** Each client's worker, asked `rounds` times on fresh connections; every answer must agree. */
async function workerOfEach(
  url: string,
  addresses: readonly string[],
  rounds: number,
  how: 'forwarded' | 'local' = 'forwarded',
): Promise<Map<string, number>> {
  const seen = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    // All clients at once: connections from different clients interleave, as they do in production.
    const replies = await Promise.all(
      addresses.map((address) =>
        ask(url, how === 'forwarded' ? { forwardedFor: address } : { localAddress: address }),
      ),
    );
    replies.forEach((reply, i) => {
      const address = addresses[i]!;
      assert.equal(reply.remoteAddress, address, 'the app sees the client, as the master routed it');
      seen.set(address, [...(seen.get(address) ?? []), reply.pid]);
    });
  }
  const workers = new Map<string, number>();
  for (const [address, pids] of seen) {
    assert.equal(new Set(pids).size, 1, `${address} reached workers ${pids.join(', ')}`);
    workers.set(address, pids[0]!);
  }
  return workers;
}

function shares(workers: Map<string, number>): Map<number, string[]> {
  const byPid = new Map<number, string[]>();
  for (const [address, pid] of workers) byPid.set(pid, [...(byPid.get(pid) ?? []), address]);
  return byPid;
}

describe('--sticky, direct', () => {
  test('each client address (trusted X-Forwarded-For) always reaches the same worker; kill -9 moves only that worker’s share', async () => {
    const server = await startServer([fixture('peer.mjs:fetch'), '-w', '3', '--sticky']);
    const addresses = clients(30);
    const before = await workerOfEach(server.url, addresses, 3);
    const byPid = shares(before);
    assert.deepEqual(
      [...byPid.keys()].sort(),
      server.liveWorkerPids().sort(),
      'the clients are spread over every worker',
    );

    const victim = [...byPid.keys()][0]!;
    const survivors = server.liveWorkerPids().filter((pid) => pid !== victim);
    process.kill(victim, 'SIGKILL');
    const replacement = await waitFor('the replacement worker', () => {
      const pids = server.liveWorkerPids();
      return pids.length === 3 && !pids.includes(victim) && pids.find((pid) => !survivors.includes(pid));
    });

    const afterKill = await workerOfEach(server.url, addresses, 2);
    for (const address of addresses) {
      const was = before.get(address)!;
      const now = afterKill.get(address)!;
      if (was === victim) assert.equal(now, replacement, `${address} moves to the replacement`);
      else assert.equal(now, was, `${address} stays on its worker`);
    }
  });

  test('a client connecting directly is routed by its own address; a kept-alive connection stays on its worker', async () => {
    // Nobody is trusted to forward: the peer is the client (loopback addresses stand in for hosts).
    const server = await startServer([
      fixture('peer.mjs:fetch'),
      '-w',
      '3',
      '--sticky',
      '--forwarded-allow-ips',
      '192.0.2.1',
    ]);
    const addresses = Array.from({ length: 12 }, (_, i) => `127.0.0.${i + 2}`);
    const workers = await workerOfEach(server.url, addresses, 3, 'local');
    assert.equal(shares(workers).size, 3, 'the clients are spread over every worker');
    // One client's kept-alive connection: its forwarding headers are not believed, and it stays.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: addresses[0] });
    try {
      const replies = [];
      for (const forwardedFor of clients(6)) replies.push(await ask(server.url, { forwardedFor, agent }));
      for (const reply of replies) {
        assert.equal(reply.pid, workers.get(addresses[0]!));
        assert.equal(reply.remoteAddress, addresses[0]);
      }
    } finally {
      agent.destroy();
    }
  });

  test('one kept-alive connection from a trusted proxy carrying many clients: each request reaches its client’s worker', async () => {
    const server = await startServer([fixture('peer.mjs:fetch'), '-w', '3', '--sticky']);
    const addresses = clients(12);
    const workers = await workerOfEach(server.url, addresses, 1);
    assert.equal(shares(workers).size, 3);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const ports = new Set<number>();
    agent.on('free', (socket) => ports.add(socket.localPort ?? 0));
    try {
      for (let round = 0; round < 2; round++) {
        for (const address of addresses) {
          const reply = await ask(server.url, { forwardedFor: address, agent });
          assert.equal(reply.pid, workers.get(address), `${address} on the shared connection`);
        }
      }
      assert.equal(ports.size, 1, 'every request went over the one kept-alive connection');
    } finally {
      agent.destroy();
    }
  });

  test('HUP: each old worker’s clients move together to one new worker, and stay there', async () => {
    const server = await startServer([fixture('peer.mjs:fetch'), '-w', '3', '--sticky']);
    const addresses = clients(24);
    const before = await workerOfEach(server.url, addresses, 2);
    const oldPids = server.liveWorkerPids();
    server.signal('SIGHUP');
    await server.waitForEvent('reload.done');
    await waitFor('the old workers gone', () =>
      server.liveWorkerPids().every((pid) => !oldPids.includes(pid)),
    );
    const afterHup = await workerOfEach(server.url, addresses, 2);
    const groups = (workers: Map<string, number>) =>
      [...shares(workers).values()].map((group) => group.sort().join(' ')).sort();
    assert.deepEqual(groups(afterHup), groups(before), 'the same clients share a worker');
    for (const pid of afterHup.values()) assert.ok(!oldPids.includes(pid), 'served by the new workers');
  });

  test('a head not complete within --header-timeout is answered 408 by the master', async () => {
    const server = await startServer([fixture('peer.mjs:fetch'), '--sticky', '--header-timeout', '1']);
    const { data, closed } = await rawExchange(
      server.port,
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.1\r\n'),
      { idleMs: 4000 },
    );
    assert.match(data.toString('latin1'), /^HTTP\/1\.1 408 /);
    assert.equal(closed, true);
    assert.equal((await ask(server.url, { forwardedFor: '198.51.100.1' })).remoteAddress, '198.51.100.1');
  });

  test('--proxy-protocol: each client the PROXY header names always reaches the same worker', async () => {
    const server = await startServer([fixture('peer.mjs:fetch'), '-w', '3', '--sticky', '--proxy-protocol']);
    const seen = new Map<string, Set<number>>();
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        clients(12).map(async (address, i) => {
          const head = `PROXY TCP4 ${address} 127.0.0.1 ${40000 + i} 80\r\n`;
          const { data } = await rawExchange(
            server.port,
            Buffer.from(`${head}GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 'latin1'),
          );
          const text = data.toString('latin1');
          assert.match(text, /^HTTP\/1\.1 200 /, text);
          const reply = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Seen;
          assert.equal(reply.remoteAddress, address);
          seen.set(address, (seen.get(address) ?? new Set()).add(reply.pid));
        }),
      );
    }
    for (const [address, pids] of seen) assert.equal(pids.size, 1, `${address} reached ${[...pids]}`);
    assert.equal(new Set([...seen.values()].map((pids) => [...pids][0])).size, 3, 'spread over every worker');
  });

  test('--sticky with --dispatch request or --certfile is a configuration error', async () => {
    for (const [flags, clash] of [
      [['--dispatch', 'request'], '--dispatch request'],
      [['--certfile', fixture('pid.mjs'), '--keyfile', fixture('pid.mjs')], '--certfile'],
    ] as const) {
      const server = await startServer([fixture('pid.mjs'), '--sticky', ...flags], { waitFor: null });
      const { code } = await server.waitForExit();
      assert.equal(code, 1);
      assert.match(server.stderrText, new RegExp(`--sticky cannot be used with ${clash}`));
    }
  });
});

describe('--sticky behind nginx', () => {
  for (const mode of ['default', 'keepalive'] as const) {
    test(`${mode} upstream: each client (nginx's X-Forwarded-For) always reaches the same worker`, {
      skip,
    }, async () => {
      const server = await startServer([fixture('peer.mjs:fetch'), '-w', '3', '--sticky']);
      const nginx = await startNginx({ upstream: `127.0.0.1:${server.port}`, mode });
      // Clients on distinct loopback addresses; nginx sets X-Forwarded-For to each one's address.
      const addresses = Array.from({ length: 15 }, (_, i) => `127.0.0.${i + 2}`);
      const workers = await workerOfEach(nginx.url, addresses, 4, 'local');
      assert.equal(shares(workers).size, 3, `the clients are spread over every worker\n${nginx.describe()}`);
    });
  }
});

/** A Socket.IO client as a browser behind `address` would be (its own X-Forwarded-For). */
function socketIoClient(url: string, address: string, transports: ('polling' | 'websocket')[]): ClientSocket {
  return io(url, {
    transports,
    upgrade: transports.includes('websocket'),
    extraHeaders: { 'x-forwarded-for': address },
    forceNew: true,
    reconnection: false,
    timeout: 20_000,
  });
}

/**
 * Connects `n` clients over long polling and has each ask `rounds` times which worker holds its
 * session; resolves with the problems seen (a session lost is a `disconnect` or `connect_error`).
 */
async function pollingSessions(server: Server, n: number, rounds: number): Promise<string[]> {
  const problems: string[] = [];
  const sockets = clients(n).map((address) => {
    const socket = socketIoClient(server.url, address, ['polling']);
    socket.on('connect_error', (err) => problems.push(`${address}: connect_error ${err.message}`));
    socket.on('disconnect', (reason) => problems.push(`${address}: disconnect (${reason})`));
    return { address, socket };
  });
  try {
    await Promise.all(
      sockets.map(async ({ address, socket }) => {
        const pids = new Set<number>();
        const ids = new Set<string>();
        for (let i = 0; i < rounds && problems.length === 0; i++) {
          const reply = (await socket.timeout(10_000).emitWithAck('whoami')) as { pid: number; id: string };
          pids.add(reply.pid);
          ids.add(reply.id);
        }
        if (pids.size > 1) problems.push(`${address}: its session moved between workers ${[...pids]}`);
        if (ids.size > 1) problems.push(`${address}: its session changed`);
        if (pids.size === 0 && problems.length === 0) problems.push(`${address}: no answer`);
      }),
    );
  } catch (err) {
    problems.push(String(err));
  } finally {
    for (const { socket } of sockets) socket.off('disconnect').disconnect();
  }
  return problems;
}

/**
 * Engine.IO's own protocol, one request per fresh connection: a polling handshake, then up to
 * `tries` packets sent on the session (a pong, which any session takes), stopping at the first
 * refusal. Resolves with the answers.
 */
async function pollingPosts(server: Server, address: string, tries: number): Promise<string[]> {
  const headers = { 'x-forwarded-for': address };
  const base = `${server.url}/socket.io/?EIO=4&transport=polling`;
  const handshake = await request(base, { headers });
  assert.equal(handshake.status, 200, handshake.body);
  const { sid } = JSON.parse(handshake.body.slice(1)) as { sid: string };
  const answers: string[] = [];
  for (let i = 0; i < tries; i++) {
    const reply = await request(`${base}&sid=${sid}`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'text/plain;charset=UTF-8' },
      body: '3',
    });
    answers.push(`${reply.status} ${reply.body}`);
    if (reply.status !== 200) break;
  }
  return answers;
}

describe('Socket.IO on -w 2', () => {
  test('long-polling sessions of several clients hold with --sticky', async () => {
    const server = await startServer([fixture('socketio.mjs:node'), '-w', '2', '--sticky']);
    const problems = await pollingSessions(server, 6, 8);
    assert.deepEqual(problems, []);
    // Every request of a session, each on a connection of its own, reaches the worker that knows it.
    for (const address of clients(4)) {
      const answers = await pollingPosts(server, address, 15);
      assert.deepEqual(new Set(answers), new Set(['200 ok']), answers.join('\n'));
    }
    const reply = await request(`${server.url}/`);
    assert.equal(reply.status, 200, 'plain requests still reach the app');
  });

  test('Socket.IO’s default transports: long polling, then the upgrade to WebSocket, on the session’s worker', async () => {
    const server = await startServer([fixture('socketio.mjs:node'), '-w', '2', '--sticky']);
    const problems: string[] = [];
    const sessions = await Promise.all(
      clients(6).map(async (address) => {
        const socket = socketIoClient(server.url, address, ['polling', 'websocket']);
        socket.on('connect_error', (err) => problems.push(`${address}: connect_error ${err.message}`));
        socket.on('disconnect', (reason) => problems.push(`${address}: disconnect (${reason})`));
        try {
          // The upgrade request is a new connection: only on the session's worker does it succeed.
          await waitFor(
            `${address} upgraded to WebSocket`,
            () => socket.io.engine?.transport.name === 'websocket',
            {
              timeoutMs: 30_000,
            },
          );
          const pids = new Set<number>();
          for (let i = 0; i < 5; i++) {
            const reply = (await socket.timeout(10_000).emitWithAck('whoami')) as { pid: number };
            pids.add(reply.pid);
          }
          return pids;
        } finally {
          socket.off('disconnect').disconnect();
        }
      }),
    );
    assert.deepEqual(problems, []);
    for (const pids of sessions) assert.equal(pids.size, 1);
  });

  test('without --sticky the same sessions break (400 "Session ID unknown")', async () => {
    const server = await startServer([fixture('socketio.mjs:node'), '-w', '2']);
    const problems = await pollingSessions(server, 6, 8);
    assert.ok(problems.length > 0, 'a polling session survived two workers without --sticky');
    // The cause, in the protocol: a request of the session reached the worker that does not know it.
    const answers = await pollingPosts(server, clients(1)[0]!, 200);
    assert.match(answers.at(-1)!, /^400 .*Session ID unknown/, answers.slice(-3).join('\n'));
  });
});
