/**
 * unicorn-ts behind a real nginx running the shipped examples/nginx/unicorn-ts.conf (see
 * test/helpers/nginx.ts for how it is rendered): over TCP and over a unix socket, with nginx's default
 * upstream settings (HTTP/1.0, a connection per request) and with upstream keep-alive as shipped.
 * The test client is 127.0.0.1, the address nginx reaches unicorn-ts from, which unicorn-ts trusts by
 * default (so a forged forwarding header from it would be believed if nginx relayed one); one test
 * connects from 127.0.0.5 to play a client that is not trusted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SETTINGS } from '../../src/settings.js';
import { request } from '../helpers/http.js';
import { startLoad } from '../helpers/load.js';
import {
  checkShippedConfig,
  type Nginx,
  renderSiteConfig,
  SHIPPED_CONFIG,
  skipWithoutNginx as skip,
  startNginx,
  stopAllNginx,
  type UpstreamMode,
} from '../helpers/nginx.js';
import { fixture, type Server, startServer, stopAll } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { openSocket, wsUrl } from '../helpers/websocket.js';

const scratch: string[] = [];
after(async () => {
  await stopAllNginx();
  await stopAll();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

type Transport = 'tcp' | 'unix';
const TRANSPORTS: Transport[] = ['tcp', 'unix'];
const MODES: UpstreamMode[] = ['default', 'keepalive'];
const MiB = 1024 * 1024;
const TRANSFER_MIB = 64;

interface Stack {
  server: Server;
  proxies: Record<UpstreamMode, Nginx>;
}

/**
 * One unicorn-ts (2 workers) per transport with one nginx per upstream mode in front of it, started
 * on first use so that skipped tests start nothing. Tests in this file run one after another, so the
 * stacks are shared; `after` stops them all.
 */
const stacks = new Map<Transport, Promise<Stack>>();
function stack(transport: Transport): Promise<Stack> {
  let pending = stacks.get(transport);
  if (pending === undefined) {
    pending = (async () => {
      const app = fixture('nginx-echo.mjs');
      let upstream: string;
      let server: Server;
      if (transport === 'unix') {
        const dir = mkdtempSync(join(tmpdir(), 'unicorn-nginx-sock-'));
        scratch.push(dir);
        const socket = join(dir, 'u.sock');
        server = await startServer([app, '-w', '2', '-b', `unix:${socket}`]);
        upstream = `unix:${socket}`;
      } else {
        server = await startServer([app, '-w', '2']);
        upstream = `127.0.0.1:${server.port}`;
      }
      const [plain, keepalive] = await Promise.all(MODES.map((mode) => startNginx({ upstream, mode })));
      return { server, proxies: { default: plain!, keepalive: keepalive! } };
    })();
    stacks.set(transport, pending);
  }
  return pending;
}

interface Seen {
  remoteAddress: string;
  scheme: string;
  remotePort: number;
  pid: number;
  url: string;
  host: string | null;
  connection: string | null;
  forwardedFor: string | null;
  forwardedProto: string | null;
  forwarded: string | null;
}

/** GET / through nginx: what the app was told. `localAddress` picks the client's source address. */
function ask(nginx: Nginx, headers: Record<string, string> = {}, localAddress?: string): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${nginx.url}/`, { headers, agent: false, localAddress, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        if (res.statusCode === 200) resolve(JSON.parse(body) as Seen);
        else reject(new Error(`status ${res.statusCode}: ${body}\n${nginx.describe()}`));
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request through nginx timed out')));
    req.on('error', reject);
  });
}

/** POSTs `bytes` generated on the fly, one reused 1 MiB buffer at a time, honouring backpressure. */
function upload(url: string, bytes: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent: false,
        timeout: 60_000,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('upload timed out')));
    req.on('error', reject);
    const block = Buffer.alloc(MiB, 98);
    let left = bytes;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, block.length);
        left -= n;
        if (!req.write(block.subarray(0, n))) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

/** GETs a download, counting its bytes and checking each is the 'a' the app sends; nothing is kept. */
function download(url: string): Promise<{ status: number; bytes: number; intact: boolean }> {
  const expected = Buffer.alloc(MiB, 97);
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 60_000 }, (res) => {
      let bytes = 0;
      let intact = true;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        for (let at = 0; intact && at < chunk.length; at += expected.length) {
          const part = chunk.subarray(at, at + expected.length);
          intact = part.equals(expected.subarray(0, part.length));
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, intact }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('download timed out')));
    req.on('error', reject);
  });
}

describe('the shipped nginx config', () => {
  const shipped = readFileSync(SHIPPED_CONFIG, 'utf8');
  const seconds = (directive: string): number => {
    const match = new RegExp(`^\\s*${directive} (\\d+)s;`, 'm').exec(shipped);
    assert.ok(match, `${directive} is set in seconds in ${SHIPPED_CONFIG}`);
    return Number(match[1]);
  };
  const defaultOf = (name: string) => SETTINGS.find((s) => s.name === name)!.default as number;

  test('nginx closes idle upstream connections before unicorn-ts does, and waits longer than --timeout', () => {
    // The keep-alive rule: if unicorn-ts closed an idle connection first, nginx could be sending a
    // request on it at that moment, and a POST (which nginx does not retry) would fail with a 502.
    assert.ok(seconds('keepalive_timeout') < defaultOf('keepAlive'));
    assert.ok(seconds('proxy_read_timeout') > defaultOf('timeout'));
  });

  test('the tests run it with only the listen address and upstream server changed', () => {
    const keepalive = renderSiteConfig(shipped, { upstream: 'unix:/x.sock', port: 1234, mode: 'keepalive' });
    const differ = (a: string, b: string) => {
      const left = a.split('\n');
      const right = b.split('\n');
      return left.filter((line, i) => line !== right[i]).map((line) => line.trim());
    };
    assert.deepEqual(differ(shipped, keepalive), ['server 127.0.0.1:8000;', 'listen 80;']);
    // The default mode also drops exactly the four keep-alive lines, and nothing else.
    const plain = renderSiteConfig(shipped, { upstream: 'unix:/x.sock', port: 1234, mode: 'default' });
    const dropped = keepalive.split('\n').filter((line) => !plain.split('\n').includes(line));
    assert.deepEqual(
      dropped.map((line) => line.trim()),
      [
        'keepalive 16;',
        'keepalive_timeout 60s;',
        'proxy_http_version 1.1;',
        'proxy_set_header Connection $connection_upgrade;',
      ],
    );
  });

  test('nginx -t accepts the file exactly as shipped', { skip }, () => {
    const { ok, output } = checkShippedConfig();
    assert.ok(ok, output);
  });
});

for (const transport of TRANSPORTS) {
  describe(`behind nginx, over ${transport === 'tcp' ? 'TCP' : 'a unix socket'}`, () => {
    for (const mode of MODES) {
      test(`${mode} upstream: requests pass, with Host, X-Forwarded-For and X-Forwarded-Proto set`, {
        skip,
      }, async () => {
        const { server, proxies } = await stack(transport);
        const nginx = proxies[mode];
        const replies: Seen[] = [];
        for (let i = 0; i < 5; i++) replies.push(await ask(nginx));
        for (const seen of replies) {
          assert.ok(server.liveWorkerPids().includes(seen.pid), `answered by a worker: ${seen.pid}`);
          // $host is the name without the port; the app builds its URL from it.
          assert.equal(seen.host, '127.0.0.1');
          assert.equal(seen.url, 'http://127.0.0.1/');
          assert.equal(seen.forwardedFor, '127.0.0.1');
          assert.equal(seen.forwardedProto, 'http');
          // nginx's default upstream requests say "Connection: close"; the shipped config clears it.
          assert.equal(seen.connection, mode === 'default' ? 'close' : null);
        }
        if (transport === 'tcp') {
          // Five requests one after another: five upstream connections without keep-alive, one with.
          const ports = new Set(replies.map((r) => r.remotePort));
          assert.equal(ports.size, mode === 'default' ? 5 : 1, `upstream source ports: ${[...ports]}`);
        }
      });

      test(`${mode} upstream: a client's own Forwarded, X-Forwarded-For and X-Forwarded-Proto do not reach the app`, {
        skip,
      }, async () => {
        const { proxies } = await stack(transport);
        const nginx = proxies[mode];
        // The client is 127.0.0.1, an address unicorn-ts trusts, which is the hardest case: had nginx
        // appended to the client's X-Forwarded-For, the walk would go past 127.0.0.1 to the forged
        // entry; had it relayed Forwarded, the app could be told anything.
        for (const forged of [
          {
            forwarded: 'for=6.6.6.6;proto=https',
            'x-forwarded-for': '6.6.6.6',
            'x-forwarded-proto': 'https',
          },
          { forwarded: 'for="<script>";proto=https', 'x-forwarded-for': '198.51.100.1, 203.0.113.9' },
          { forwarded: 'for="[2001:db8::6]:80", for=10.0.0.2' },
        ]) {
          const seen = await ask(nginx, forged);
          // Over TCP nginx (127.0.0.1) is trusted; over a unix socket every peer is: either way the
          // app is told what nginx saw, and nothing the client wrote.
          assert.equal(seen.remoteAddress, '127.0.0.1', JSON.stringify(forged));
          assert.equal(seen.scheme, 'http', JSON.stringify(forged));
          assert.equal(seen.forwarded, null, 'nginx removes Forwarded');
          assert.equal(seen.forwardedFor, '127.0.0.1', 'nginx sets X-Forwarded-For to its peer');
          assert.equal(seen.forwardedProto, 'http');
        }
        // A client that is not trusted (127.0.0.5: still loopback, so nginx reaches us from
        // 127.0.0.1) is named by its own address.
        const untrusted = await ask(
          nginx,
          { 'x-forwarded-for': '203.0.113.9', forwarded: 'for=6.6.6.6' },
          '127.0.0.5',
        );
        assert.equal(untrusted.forwardedFor, '127.0.0.5');
        assert.equal(untrusted.remoteAddress, '127.0.0.5');
      });

      test(`${mode} upstream: a ${TRANSFER_MIB} MiB streamed upload and download pass intact`, {
        skip,
      }, async () => {
        const { proxies } = await stack(transport);
        const nginx = proxies[mode];
        const up = await upload(`${nginx.url}/upload`, TRANSFER_MIB * MiB);
        assert.equal(up.status, 200, `${up.body}\n${nginx.describe()}`);
        assert.equal(JSON.parse(up.body).bytes, TRANSFER_MIB * MiB);
        const down = await download(`${nginx.url}/download?mb=${TRANSFER_MIB}`);
        assert.equal(down.status, 200, nginx.describe());
        assert.equal(down.bytes, TRANSFER_MIB * MiB);
        assert.ok(down.intact, 'every byte is the one the app sent');
      });
    }

    // Both modes under load at once, so one rolling reload covers both (and the file stays short).
    test('SIGHUP under load through nginx, both upstream modes: no 5xx, no failed request, reload.done', {
      skip,
    }, async (t) => {
      const { server, proxies } = await stack(transport);
      const logsBefore = server.logs.length;
      const oldPids = server.liveWorkerPids().map(String);
      const runs = MODES.map((mode) => ({
        mode,
        nginx: proxies[mode],
        accessFrom: proxies[mode].accessLog().length,
        errorFrom: proxies[mode].errorLog().length,
        load: startLoad(proxies[mode].url, { keepAlive: 3, fresh: 2, path: '/pid' }),
      }));
      await waitFor('load through both nginx', () => runs.every((r) => r.load.result.ok >= 100));
      server.signal('SIGHUP');
      const done = await server.waitForEvent('reload.done', () => true, {
        timeoutMs: 60_000,
        after: logsBefore,
      });
      const newPids = (done.workerPids as number[]).map(String);
      assert.equal(newPids.length, 2);
      assert.ok(
        oldPids.every((pid) => !newPids.includes(pid)),
        'every old worker was replaced',
      );
      const okAtDone = runs.map((r) => r.load.result.ok);
      await waitFor('load served by the new workers through both nginx', () =>
        runs.every(
          (r, i) =>
            r.load.result.ok >= okAtDone[i]! + 100 && newPids.some((pid) => r.load.result.bodies.has(pid)),
        ),
      );
      for (const { mode, nginx, accessFrom, errorFrom, load } of runs) {
        const result = await load.stop();
        // What the client cannot see: requests nginx retried on another connection ($upstream_status
        // lists each attempt), and upstream errors it logged.
        const lines = nginx.accessLog().slice(accessFrom);
        const retried = lines.filter((l) => / upstream=.*,/.test(l));
        const errors = nginx
          .errorLog()
          .slice(errorFrom)
          .split('\n')
          .filter((l) => /\[(error|crit|alert|emerg)\]/.test(l));
        t.diagnostic(
          `${mode}: ${result.ok} requests, ${retried.length} retried by nginx, ${errors.length} nginx errors`,
        );
        for (const line of [...retried, ...errors].slice(0, 5)) t.diagnostic(`${mode}: ${line}`);
        assert.equal(result.failed, 0, `${mode}: failed requests: ${result.errors.slice(0, 5).join('; ')}`);
        const fivexx = lines.filter((l) => l.startsWith('5'));
        assert.deepEqual(fivexx, [], `${mode}: nginx answered 5xx`);
      }
    });
  });
}

describe('WebSockets behind nginx (the shipped config, keep-alive upstream)', () => {
  for (const app of ['ws-fetch.mjs', 'ws-node.mjs']) {
    test(`${app}: an echo passes through nginx, and a HUP closes it with 1001 for a reconnect to a new worker`, {
      skip,
    }, async () => {
      const server = await startServer([fixture(app), '-w', '1', '--ws-drain-grace', '0.5']);
      const nginx = await startNginx({ upstream: `127.0.0.1:${server.port}`, mode: 'keepalive' });
      const oldPid = String(server.liveWorkerPids()[0]);
      const socket = await openSocket(wsUrl(nginx.url, '/chat'));
      assert.equal(await socket.ask('through nginx'), 'through nginx');
      assert.equal(await socket.ask('pid'), oldPid);
      socket.ws.send(Buffer.from([1, 2, 3]));
      assert.equal(await socket.next(), 'binary:010203');
      // Plain requests pass beside it.
      const plain = await request(`${nginx.url}/`);
      assert.equal(plain.body, oldPid);
      server.signal('SIGHUP');
      assert.equal((await socket.waitClosed()).code, 1001, nginx.describe());
      const fresh = await waitFor('a WebSocket through nginx on the new worker', async () => {
        const s = await openSocket(wsUrl(nginx.url, '/chat'));
        const pid = await s.ask('pid');
        if (pid !== oldPid) return s;
        s.terminate();
        return null;
      });
      fresh.ws.close(1000);
      assert.equal((await fresh.waitClosed()).code, 1000);
    });
  }
});
