/**
 * --metrics-bind, /healthz and /readyz, --statsd-host and --capture-output on the real CLI. The
 * metrics are read with a real Prometheus text-format parser, and the totals come from workers by
 * heartbeat (at most a second late): each test waits until the total it expects is reached, then
 * asserts the exact figures, so an over-count fails too.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { request } from '../helpers/http.js';
import { fixture, ROOT, runCli, type Server, startServer, stopAll } from '../helpers/server.js';
import { isAlive, waitFor } from '../helpers/wait.js';

after(stopAll);
const dir = mkdtempSync(join(tmpdir(), 'unicorn-metrics-'));
const APP = fixture('metrics-app.mjs');

interface Sample {
  value?: string;
  labels?: Record<string, string>;
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}
interface Family {
  name: string;
  type: string;
  metrics: Sample[];
}

const parse = parsePrometheusTextFormat as unknown as (text: string) => Family[];

function metricsUrl(server: Server): string {
  const line = server.events('metrics.listening').find((l) => typeof l.url === 'string');
  if (line === undefined) throw new Error('the metrics socket is not listening');
  return line.url as string;
}

async function startWithMetrics(args: string[]): Promise<Server> {
  const server = await startServer([APP, '--metrics-bind', '127.0.0.1:0', ...args]);
  await server.waitForEvent('metrics.listening', (l) => typeof l.url === 'string');
  return server;
}

/** One scrape, parsed; throws (to be retried by a wait) when the answer is not a 200. */
async function scrape(server: Server): Promise<Family[]> {
  const reply = await request(`${metricsUrl(server)}/metrics`);
  if (reply.status !== 200) throw new Error(`/metrics answered ${reply.status}`);
  assert.match(String(reply.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return parse(reply.body);
}

function family(families: Family[], name: string): Family {
  const found = families.find((f) => f.name === name);
  if (found === undefined) throw new Error(`no metric ${name} in the scrape`);
  return found;
}

/** The value of the sample of `name` whose labels are exactly `labels`; 0 when there is none. */
function sampleOf(families: Family[], name: string, labels: Record<string, string> = {}): number {
  const key = (l: Record<string, string>) => JSON.stringify(Object.entries(l).sort());
  const sample = family(families, name).metrics.find((m) => key(m.labels ?? {}) === key(labels));
  return sample === undefined ? 0 : Number(sample.value);
}

function total(families: Family[], name: string): number {
  return family(families, name).metrics.reduce((sum, m) => sum + Number(m.value), 0);
}

/** Scrapes until `ready(families)` holds, and returns that scrape. */
function scrapeUntil(server: Server, what: string, ready: (f: Family[]) => boolean): Promise<Family[]> {
  return waitFor(
    what,
    async () => {
      const families = await scrape(server);
      return ready(families) ? families : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 200 },
  );
}

/** A port nothing listens on right now (the kernel's pick, then released). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function get(url: string, method = 'GET'): Promise<number> {
  return (await request(url, { method })).status;
}

describe('Prometheus metrics on --metrics-bind', () => {
  test('requests are counted by method and status class, and timed in the configured buckets', async () => {
    const server = await startWithMetrics([
      '-w',
      '2',
      '--metrics-buckets',
      '0.2,1',
      '--limit-request-line',
      '200',
    ]);
    const url = server.url;
    for (let i = 0; i < 5; i++) assert.equal(await get(`${url}/`), 200);
    for (let i = 0; i < 3; i++) assert.equal(await get(`${url}/`, 'POST'), 200);
    assert.equal(await get(`${url}/status/404`), 404);
    assert.equal(await get(`${url}/status/404`), 404);
    assert.equal(await get(`${url}/status/500`, 'DELETE'), 500);
    assert.equal(await get(`${url}/status/302`, 'PUT'), 302);
    assert.equal(await get(`${url}/`, 'PROPFIND'), 200);
    assert.equal(await get(`${url}/slow?ms=400`), 200);
    // Refused before the app runs: counted, but not timed.
    assert.equal(await get(`${url}/${'x'.repeat(300)}`), 414);
    const families = await scrapeUntil(
      server,
      '15 responses counted',
      (f) => total(f, 'unicorn_requests_total') >= 15,
    );
    assert.equal(family(families, 'unicorn_requests_total').type, 'COUNTER');
    const counts = Object.fromEntries(
      family(families, 'unicorn_requests_total')
        .metrics.filter((m) => Number(m.value) > 0)
        .map((m) => [`${m.labels?.method} ${m.labels?.status}`, Number(m.value)]),
    );
    assert.deepEqual(counts, {
      'GET 2xx': 6,
      'POST 2xx': 3,
      'GET 4xx': 3,
      'DELETE 5xx': 1,
      'PUT 3xx': 1,
      'OTHER 2xx': 1,
    });
    const histogram = family(families, 'unicorn_request_duration_seconds');
    assert.equal(histogram.type, 'HISTOGRAM');
    const [h] = histogram.metrics;
    // An object lists integer-like keys first: the order of the text is not kept, the set is.
    assert.deepEqual(Object.keys(h?.buckets ?? {}).sort(), ['+Inf', '0.2', '1']);
    assert.equal(Number(h?.count), 14, 'the refused request is not timed');
    assert.equal(Number(h?.buckets?.['+Inf']), 14);
    assert.ok(Number(h?.buckets?.['0.2']) <= 13, 'the 400 ms request is above 0.2 s');
    assert.equal(Number(h?.buckets?.['1']), 14);
    assert.ok(Number(h?.sum) >= 0.4, `sum ${h?.sum} includes the 400 ms request`);
    assert.equal(sampleOf(families, 'unicorn_requests_shed_total'), 0);
  });

  test('per-worker gauges and default process metrics carry the worker label; the master its own', async () => {
    const server = await startWithMetrics(['-w', '2']);
    const numbers = server
      .events('worker.ready')
      .map((l) => String(l.worker))
      .sort();
    assert.equal(numbers.length, 2);
    const families = await scrapeUntil(
      server,
      "both workers' process metrics and first heartbeats",
      // Process metrics are pulled at the scrape; the gauges come with each worker's heartbeat (one
      // a second), so a scrape right after the start may have one worker's and not yet the other's.
      (f) =>
        family(f, 'process_cpu_seconds_total').metrics.length >= 3 &&
        family(f, 'unicorn_worker_rss_bytes').metrics.length >= 2,
    );
    const workersOf = (name: string) =>
      family(families, name)
        .metrics.map((m) => m.labels?.worker)
        .sort();
    assert.deepEqual(workersOf('process_cpu_seconds_total'), [...numbers, 'master'].sort());
    assert.deepEqual(workersOf('nodejs_eventloop_lag_p99_seconds'), [...numbers, 'master'].sort());
    assert.deepEqual(workersOf('unicorn_worker_rss_bytes'), numbers);
    assert.deepEqual(workersOf('unicorn_requests_in_flight'), numbers);
    for (const m of family(families, 'unicorn_worker_rss_bytes').metrics) assert.ok(Number(m.value) > 10e6);
    assert.equal(sampleOf(families, 'unicorn_workers', { state: 'ready' }), 2);
    assert.equal(sampleOf(families, 'unicorn_workers_desired'), 2);
    // docs/deploy.md's list is a contract: every name it gives is in a scrape.
    const deploy = readFileSync(join(ROOT, 'docs/deploy.md'), 'utf8');
    const section = deploy.slice(deploy.indexOf('### The metrics'), deploy.indexOf('### StatsD'));
    const documented = [
      ...new Set([...section.matchAll(/`((?:unicorn|process|nodejs)_[a-z0-9_]+)`/g)].map((m) => m[1]!)),
    ];
    assert.ok(documented.length >= 15, documented.join(', '));
    const scraped = new Set(families.map((f) => f.name));
    assert.deepEqual(
      documented.filter((name) => !scraped.has(name)),
      [],
    );
    // The app's own port never serves the metrics: /metrics there is the app's.
    const onAppPort = await request(`${server.url}/metrics`);
    assert.doesNotMatch(onAppPort.body, /unicorn_requests_total/);
  });

  test('requests in flight and open connections are shown per worker', async () => {
    const server = await startWithMetrics(['-w', '1']);
    const release = join(dir, 'in-flight.release');
    const held = request(`${server.url}/hold?until=${release}`);
    const families = await scrapeUntil(
      server,
      'the held request in flight',
      (f) => total(f, 'unicorn_requests_in_flight') >= 1,
    );
    const [worker] = server.events('worker.ready').map((l) => String(l.worker));
    assert.equal(sampleOf(families, 'unicorn_requests_in_flight', { worker: worker! }), 1);
    assert.ok(sampleOf(families, 'unicorn_open_connections', { worker: worker! }) >= 1);
    writeFileSync(release, '');
    assert.equal((await held).status, 200);
  });

  test('a request shed at --worker-connections is counted as shed and as a 5xx, not timed', async () => {
    const server = await startWithMetrics(['-w', '1', '--worker-connections', '1']);
    const release = join(dir, 'shed.release');
    const held = request(`${server.url}/hold?until=${release}`);
    await scrapeUntil(
      server,
      'the held request in flight',
      (f) => total(f, 'unicorn_requests_in_flight') >= 1,
    );
    assert.equal(await get(`${server.url}/`), 503);
    writeFileSync(release, '');
    assert.equal((await held).status, 200);
    const families = await scrapeUntil(
      server,
      'both responses counted',
      (f) => total(f, 'unicorn_requests_total') >= 2,
    );
    assert.equal(sampleOf(families, 'unicorn_requests_shed_total'), 1);
    assert.equal(sampleOf(families, 'unicorn_requests_total', { method: 'GET', status: '5xx' }), 1);
    assert.equal(sampleOf(families, 'unicorn_requests_total', { method: 'GET', status: '2xx' }), 1);
    assert.equal(Number(family(families, 'unicorn_request_duration_seconds').metrics[0]?.count), 1);
  });

  test('restarts are counted by reason: crash after kill -9, reload after HUP; the request counts survive both', async () => {
    const server = await startWithMetrics(['-w', '2']);
    for (let i = 0; i < 4; i++) assert.equal(await get(`${server.url}/`), 200);
    await scrapeUntil(server, '4 requests counted', (f) => total(f, 'unicorn_requests_total') >= 4);
    const [victim] = server.liveWorkerPids();
    const mark = server.logs.length;
    process.kill(victim!, 'SIGKILL');
    await server.waitForEvent('worker.ready', () => true, { after: mark });
    let families = await scrapeUntil(
      server,
      'the crash counted',
      (f) => sampleOf(f, 'unicorn_worker_restarts_total', { reason: 'crash' }) >= 1,
    );
    assert.equal(sampleOf(families, 'unicorn_worker_restarts_total', { reason: 'crash' }), 1);
    assert.equal(sampleOf(families, 'unicorn_worker_restarts_total', { reason: 'reload' }), 0);
    const hup = server.logs.length;
    server.signal('SIGHUP');
    await server.waitForEvent('reload.done', () => true, { after: hup, timeoutMs: 60_000 });
    families = await scrapeUntil(
      server,
      'the reload counted',
      (f) => sampleOf(f, 'unicorn_reloads_total', { result: 'done' }) >= 1,
    );
    assert.equal(sampleOf(families, 'unicorn_worker_restarts_total', { reason: 'reload' }), 2);
    assert.equal(sampleOf(families, 'unicorn_worker_restarts_total', { reason: 'crash' }), 1);
    assert.equal(sampleOf(families, 'unicorn_reloads_total', { result: 'done' }), 1);
    assert.equal(sampleOf(families, 'unicorn_reloads_total', { result: 'failed' }), 0);
    // Every worker that served them is gone: the master kept the totals.
    assert.equal(sampleOf(families, 'unicorn_requests_total', { method: 'GET', status: '2xx' }), 4);
  });

  test('a worker replaced at --max-requests is counted, with every request it served', async () => {
    // A standby takes over at once, so the old worker exits well before its next periodic heartbeat:
    // only the last beat it sends on its way out brings the last requests.
    const server = await startWithMetrics([
      '-w',
      '1',
      '--standby',
      '1',
      '--max-requests',
      '3',
      '--max-requests-jitter',
      '0',
    ]);
    await server.waitForEvent('worker.standby');
    const [first] = server.liveWorkerPids();
    for (let i = 0; i < 3; i++) assert.equal(await get(`${server.url}/`), 200);
    await server.waitForEvent('worker.exited', (l) => l.workerPid === first);
    const families = await scrapeUntil(
      server,
      'the max-requests restart counted',
      (f) => sampleOf(f, 'unicorn_worker_restarts_total', { reason: 'max-requests' }) >= 1,
    );
    assert.equal(sampleOf(families, 'unicorn_worker_restarts_total', { reason: 'max-requests' }), 1);
    assert.equal(sampleOf(families, 'unicorn_requests_total', { method: 'GET', status: '2xx' }), 3);
  });

  test('a --metrics-bind already in use stops the start with the reason', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    try {
      const port = (holder.address() as AddressInfo).port;
      const result = await runCli([APP, '--metrics-bind', `127.0.0.1:${port}`]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /cannot listen on --metrics-bind 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    } finally {
      holder.close();
    }
  });

  test('after USR2 the new master serves at once, and takes --metrics-bind over when the old one exits', async () => {
    const port = await freePort();
    const old = await startServer([APP, '-w', '1', '--metrics-bind', `127.0.0.1:${port}`]);
    const metrics = `http://127.0.0.1:${port}`;
    old.signal('SIGUSR2');
    const started = await old.waitForEvent('master.reexec', (l) => l.pid === old.pid);
    const newPid = started.newMasterPid as number;
    const waiting = await old.waitForEvent('metrics.listening', (l) => l.pid === newPid, {
      level: 'warning',
    });
    assert.equal(waiting.waiting, true);
    await old.waitForEvent('master.ready', (l) => l.pid === newPid);
    assert.equal(await get(`${metrics}/readyz`), 200, 'the old master still answers');
    old.signal('SIGTERM');
    assert.equal((await old.waitForExit()).code, 0);
    // The old master's pipe stays open through the new one: its lines keep arriving in old.logs.
    const took = await waitFor(
      'the new master on --metrics-bind',
      () =>
        old.logs.find(
          (l) => l.event === 'metrics.listening' && l.pid === newPid && typeof l.url === 'string',
        ),
      { timeoutMs: 15_000 },
    );
    assert.equal(took.url, metrics);
    assert.equal(await get(`${metrics}/readyz`), 200);
    process.kill(newPid, 'SIGTERM');
    await waitFor('the new master to exit', () => !isAlive(newPid), { timeoutMs: 30_000 });
  });

  test('a --metrics-bind that is one of the app binds is refused', async () => {
    for (const [bind, metrics] of [
      ['127.0.0.1:48123', '127.0.0.1:48123'],
      ['0.0.0.0:48124', '127.0.0.1:48124'],
    ] as const) {
      const result = await runCli([APP, '-b', bind, '--metrics-bind', metrics, '--check-config']);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /--metrics-bind .* is the app's --bind/);
    }
  });
});

describe('the metrics socket under a connection flood', () => {
  test('holds at most 64 connections (the rest closed at once, one warn line), gives each 10 s for its request, and answers after', async () => {
    const server = await startWithMetrics(['-w', '1']);
    const { hostname, port } = new URL(metricsUrl(server));
    const fdsBefore = readdirSync(`/proc/${server.pid}/fd`).length;
    const sockets = Array.from({ length: 100 }, () => {
      const socket = connect(Number(port), hostname);
      const seen = { data: '', closedAt: 0 };
      socket.setEncoding('utf8').on('data', (chunk: string) => (seen.data += chunk));
      socket.on('error', () => {});
      socket.on('close', () => (seen.closedAt = Date.now()));
      return seen;
    });
    const openedAt = Date.now();
    // Past the 64th, each is closed without a byte; the master holds the others, and no more.
    const dropped = await waitFor('the connections past the limit closed', () => {
      const closed = sockets.filter((s) => s.closedAt > 0);
      return closed.length >= 36 ? closed : null;
    });
    assert.equal(dropped.length, 36);
    assert.ok(dropped.every((s) => s.data === ''));
    const fdsHeld = readdirSync(`/proc/${server.pid}/fd`).length;
    assert.ok(fdsHeld - fdsBefore <= 64 + 2, `the master holds ${fdsHeld - fdsBefore} descriptors more`);
    const full = await server.waitForEvent('metrics.connections_full', () => true, { level: 'warning' });
    assert.equal(full.level, 'warn');
    assert.equal(full.limit, 64);
    // Those that never sent a request get 408 and are closed, 10 s after they connected.
    const held = sockets.filter((s) => s.closedAt === 0 || s.data !== '');
    assert.equal(held.length, 64);
    await waitFor('the idle connections timed out', () => held.every((s) => s.closedAt > 0), {
      timeoutMs: 30_000,
    });
    for (const s of held) {
      assert.match(s.data, /^HTTP\/1\.1 408 /);
      assert.ok(s.closedAt - openedAt >= 9_000, `closed ${s.closedAt - openedAt} ms after connecting`);
    }
    assert.equal((await request(`${metricsUrl(server)}/healthz`)).status, 200);
    assert.equal(server.events('metrics.connections_full').length, 1, 'one line, not one per connection');
    await server.stop();
  });
});

describe('/healthz and /readyz', () => {
  test('both answer 200 while workers serve; /readyz is 503 with no worker ready, and 200 again after', async () => {
    const server = await startWithMetrics(['-w', '1']);
    const metrics = metricsUrl(server);
    assert.equal(await get(`${metrics}/healthz`), 200);
    assert.equal(await get(`${metrics}/readyz`), 200);
    assert.equal(await get(`${metrics}/nothing-here`), 404);
    const [pid] = server.liveWorkerPids();
    server.signal('SIGWINCH');
    await server.waitForEvent('worker.exited', (l) => l.workerPid === pid);
    const notReady = await request(`${metrics}/readyz`);
    assert.equal(notReady.status, 503);
    assert.match(notReady.body, /no worker is ready/);
    assert.equal(await get(`${metrics}/healthz`), 200, 'the master itself is fine');
    const mark = server.logs.length;
    server.signal('SIGTTIN');
    await server.waitForEvent('worker.ready', () => true, { after: mark });
    // The worker logs worker.ready just before its message reaches the master, which decides /readyz.
    await waitFor('/readyz to answer 200 once the master hears of the new worker', async () =>
      (await get(`${metrics}/readyz`)) === 200 ? true : undefined,
    );
  });

  test('from the moment a graceful stop begins /readyz answers 503, until the master exits', async () => {
    const server = await startWithMetrics(['-w', '1', '--graceful-timeout', '30']);
    const metrics = metricsUrl(server);
    const release = join(dir, 'graceful.release');
    const held = request(`${server.url}/hold?until=${release}`);
    await scrapeUntil(
      server,
      'the held request in flight',
      (f) => total(f, 'unicorn_requests_in_flight') >= 1,
    );
    const mark = server.logs.length;
    server.signal('SIGTERM');
    await server.waitForEvent('master.stopping', () => true, { after: mark });
    const stopping = await request(`${metrics}/readyz`);
    assert.equal(stopping.status, 503);
    assert.match(stopping.body, /stopping/);
    assert.equal(await get(`${metrics}/healthz`), 200);
    assert.ok(isAlive(server.pid), 'the master is still draining');
    // The request in flight still finishes, and the master then exits and closes the socket.
    writeFileSync(release, '');
    assert.equal((await held).status, 200);
    const exit = await server.waitForExit();
    assert.equal(exit.code, 0);
    await assert.rejects(request(`${metrics}/readyz`), /ECONNREFUSED/);
  });

  test('/healthz answers 503 while the master loop is stuck', async () => {
    const marker = join(dir, 'stuck.marker');
    const config = join(dir, 'stuck.config.mjs');
    writeFileSync(
      config,
      `import { existsSync } from 'node:fs';
export const preFork = async () => {
  while (existsSync(${JSON.stringify(marker)})) await new Promise((r) => setTimeout(r, 50));
};
`,
    );
    const server = await startWithMetrics(['-w', '1', '-c', config]);
    const metrics = metricsUrl(server);
    assert.equal(await get(`${metrics}/healthz`), 200);
    writeFileSync(marker, '');
    server.signal('SIGTTIN');
    const stuck = await waitFor(
      '/healthz to fail',
      async () => {
        const reply = await request(`${metrics}/healthz`);
        return reply.status === 503 ? reply : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 250 },
    );
    assert.match(stuck.body, /loop has not turned/);
    rmSync(marker);
    await waitFor('/healthz to recover', async () => (await get(`${metrics}/healthz`)) === 200, {
      timeoutMs: 10_000,
    });
    assert.ok(!existsSync(marker));
  });
});

describe('StatsD on --statsd-host', () => {
  test('request counters by status class and the worker gauges arrive over UDP from the master', async () => {
    const socket = createSocket('udp4');
    const lines: string[] = [];
    socket.on('message', (packet) => lines.push(...packet.toString().split('\n').filter(Boolean)));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    try {
      const port = socket.address().port;
      const server = await startServer([
        APP,
        '-w',
        '1',
        '--statsd-host',
        `127.0.0.1:${port}`,
        '--statsd-prefix',
        'shop',
      ]);
      for (let i = 0; i < 3; i++) assert.equal(await get(`${server.url}/`), 200);
      assert.equal(await get(`${server.url}/status/404`), 404);
      // Counters arrive as the heartbeats bring them: summed over however many lines.
      const sum = (name: string) =>
        lines
          .map((l) => new RegExp(`^shop\\.${name.replace(/\./g, '\\.')}:(\\d+)\\|c$`).exec(l))
          .reduce((n, m) => n + (m ? Number(m[1]) : 0), 0);
      await waitFor(
        'the request counters and the gauges',
        () => sum('requests') >= 4 && lines.includes('shop.workers:1|g'),
        { timeoutMs: 15_000 },
      );
      assert.equal(sum('requests'), 4);
      assert.equal(sum('request.status.2xx'), 3);
      assert.equal(sum('request.status.4xx'), 1);
      assert.ok(lines.includes('shop.workers.desired:1|g'), lines.join('\n'));
      assert.ok(lines.some((l) => /^shop\.requests\.in_flight:\d+\|g$/.test(l)));
      assert.ok(
        lines.every((l) => l.startsWith('shop.')),
        'every name is prefixed',
      );
      const [pid] = server.liveWorkerPids();
      const mark = server.logs.length;
      process.kill(pid!, 'SIGKILL');
      await server.waitForEvent('worker.ready', () => true, { after: mark });
      await waitFor('the restart counter', () => sum('worker.restarts.crash') >= 1, { timeoutMs: 15_000 });
      assert.equal(sum('worker.restarts.crash'), 1);
    } finally {
      socket.close();
    }
  });
});

describe('--capture-output', () => {
  test("the app's stdout and stderr become JSON lines of the error log", async () => {
    const server = await startServer([APP, '-w', '1', '--capture-output']);
    assert.equal(await get(`${server.url}/say?text=hello%20there`), 200);
    const out = await server.waitForEvent('worker.output', (l) => l.msg === 'hello there');
    assert.equal(out.stream, 'stdout');
    assert.equal(out.level, 'info');
    assert.equal(out.role, 'worker');
    const err = await server.waitForEvent('worker.output', (l) => l.msg === 'err:hello there', {
      level: 'warning',
    });
    assert.equal(err.stream, 'stderr');
    assert.equal(server.stdout, '', 'nothing reached standard output');
    const nonJson = server.stderrText.split('\n').filter((line) => line !== '' && !line.startsWith('{'));
    assert.deepEqual(nonJson, []);
  });

  test('without it, the same output goes to the streams as it is', async () => {
    const server = await startServer([APP, '-w', '1']);
    assert.equal(await get(`${server.url}/say?text=plain`), 200);
    await waitFor(
      'the raw line',
      () => server.stdout.includes('plain\n') && server.stderrText.includes('err:plain\n'),
    );
    assert.equal(server.events('worker.output').length, 0);
  });
});
