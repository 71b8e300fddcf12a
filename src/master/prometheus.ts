/**
 * The Prometheus side of the master's telemetry (telemetry.ts): the prom-client registry, the
 * socket of --metrics-bind, and /metrics, /healthz and /readyz. Imported only when --metrics-bind
 * is set.
 */

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import {
  AggregatorRegistry,
  Counter,
  collectDefaultMetrics,
  Gauge,
  type MetricValue,
  Registry,
} from 'prom-client';
import { type BindAddress, formatBind } from '../bind.js';
import { monotonicNow, onceEvery } from '../clock.js';
import { describeError, UnicornError } from '../errors.js';
import { IPC_NS } from '../ipc.js';
import type { Log } from '../log.js';
import http from '../node-http.js';
import { slotLabels, type WorkerMetricsReport } from '../request-metrics.js';
import {
  countStates,
  LOOP_STALE_MS,
  type MasterView,
  RESTART_REASONS,
  type RestartReason,
} from './telemetry.js';
import type { WorkerHandle } from './worker-handle.js';

/** How long a scrape waits for the workers' process metrics; a worker that does not answer is left out. */
const PULL_TIMEOUT_MS = 1_000;
/** While a USR2 predecessor still holds --metrics-bind, how often this master tries again. */
const BIND_RETRY_MS = 500;
/**
 * The metrics socket is the master's, so what clients hold there the master holds: connections past
 * this many are closed at once, and one that has not sent a whole request in METRICS_REQUEST_MS gets
 * 408. Scrapers and health checkers use a few connections at a time; without a bound, a client
 * opening connections until the master ran out of descriptors left it unable to fork a worker.
 */
export const METRICS_MAX_CONNECTIONS = 64;
const METRICS_REQUEST_MS = 10_000;
/** At most one `metrics.connections_full` line in this long. */
const FULL_LOG_INTERVAL_MS = 60_000;

type PendingPull = { waiting: Set<WorkerHandle>; results: unknown[][]; done: () => void };

/** The registry, the socket, /metrics, /healthz and /readyz. */
export class PrometheusMetrics {
  readonly #registry = new Registry();
  readonly #view: MasterView;
  readonly #requests: Counter<'method' | 'status'>;
  readonly #shed: Counter;
  readonly #restarts: Counter<'reason'>;
  readonly #reloads: Counter<'result'>;
  readonly #bounds: readonly number[];
  /** The latency histogram's sums: per bucket (not cumulative), and the seconds. */
  readonly #buckets: number[];
  #seconds = 0;
  readonly #pulls = new Map<number, PendingPull>();
  #pullId = 0;
  /**
   * The scrape being collected. A /metrics request that comes meanwhile gets the same answer rather
   * than a pull of its own: every pull costs each worker's event loop the collection of its process
   * metrics, so without this a client sending many scrapes at once (a load balancer misconfigured
   * to check /metrics, a flood on the metrics port) would stall every worker as many times.
   */
  #scraping: Promise<string> | null = null;
  #server: Server | null = null;

  /** `last`: each live worker's last report (the telemetry keeps it), for the connections gauge. */
  constructor(
    bounds: readonly number[],
    view: MasterView,
    last: ReadonlyMap<WorkerHandle, WorkerMetricsReport>,
  ) {
    this.#view = view;
    this.#bounds = bounds;
    this.#buckets = new Array<number>(bounds.length + 1).fill(0);
    const registers = [this.#registry];
    this.#requests = new Counter({
      name: 'unicorn_requests_total',
      help: 'Responses finished by the workers, by request method and status class (closed: the response never started).',
      labelNames: ['method', 'status'],
      registers,
    });
    this.#shed = new Counter({
      name: 'unicorn_requests_shed_total',
      help: 'Requests answered 503 because a worker was at --worker-connections.',
      registers,
    });
    this.#restarts = new Counter({
      name: 'unicorn_worker_restarts_total',
      help: 'Workers replaced, by reason: crash, timeout, memory (--max-memory), max-requests, reload (HUP), signal (a stop signal sent to the worker itself).',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of RESTART_REASONS) this.#restarts.inc({ reason }, 0);
    this.#reloads = new Counter({
      name: 'unicorn_reloads_total',
      help: 'HUP reloads, by result: done, or failed (rolled back, or the configuration could not be read).',
      labelNames: ['result'],
      registers,
    });
    this.#reloads.inc({ result: 'done' }, 0);
    this.#reloads.inc({ result: 'failed' }, 0);
    new Gauge({
      name: 'unicorn_requests_in_flight',
      help: 'Requests running in each worker, at its last heartbeat.',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        for (const w of view.workers())
          if (w.state !== 'booting' && !w.isSpare) this.set({ worker: String(w.age) }, w.inflight);
      },
    });
    new Gauge({
      name: 'unicorn_open_connections',
      help: 'Client connections open in each worker, at its last heartbeat.',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        for (const [w, report] of last) this.set({ worker: String(w.age) }, report.connections);
      },
    });
    new Gauge({
      name: 'unicorn_worker_rss_bytes',
      help: 'Resident memory of each worker, at its last heartbeat (what --max-memory checks).',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        for (const w of view.workers()) if (w.rss > 0) this.set({ worker: String(w.age) }, w.rss);
      },
    });
    new Gauge({
      name: 'unicorn_workers',
      help: 'Workers by state: booting, ready (serving), retiring (serving until its replacement is ready), stopping, spare (--standby).',
      labelNames: ['state'],
      registers,
      collect() {
        for (const [state, n] of Object.entries(countStates(view.workers()))) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'unicorn_workers_desired',
      help: 'The number of workers the master keeps serving (--workers, as TTIN, TTOU and WINCH leave it).',
      registers,
      collect() {
        this.set(view.target);
      },
    });
    this.#registry.registerMetric(this.histogram() as never);
    collectDefaultMetrics({ register: this.#registry, labels: { worker: 'master' } });
  }

  /** unicorn_request_duration_seconds, from the sums the heartbeats brought (prom-client's Histogram only observes one value at a time). */
  private histogram(): object {
    const name = 'unicorn_request_duration_seconds';
    const get = async () => {
      const values: MetricValue<string>[] = [];
      let cumulative = 0;
      this.#bounds.forEach((bound, i) => {
        cumulative += this.#buckets[i]!;
        values.push({
          labels: { le: bound },
          value: cumulative,
          metricName: `${name}_bucket`,
        } as MetricValue<string>);
      });
      cumulative += this.#buckets[this.#bounds.length]!;
      values.push({
        labels: { le: '+Inf' },
        value: cumulative,
        metricName: `${name}_bucket`,
      } as MetricValue<string>);
      values.push({ labels: {}, value: this.#seconds, metricName: `${name}_sum` } as MetricValue<string>);
      values.push({ labels: {}, value: cumulative, metricName: `${name}_count` } as MetricValue<string>);
      return { name, help: HISTOGRAM_HELP, type: 'histogram', values, aggregator: 'sum' };
    };
    return { name, help: HISTOGRAM_HELP, type: 'histogram', aggregator: 'sum', get, reset: () => {} };
  }

  /** What workers counted since their last heartbeat. */
  add(delta: WorkerMetricsReport): void {
    delta.counts.forEach((n, slot) => {
      if (n > 0) this.#requests.inc(slotLabels(slot), n);
    });
    delta.buckets.forEach((n, i) => {
      if (i < this.#buckets.length) this.#buckets[i]! += n;
    });
    this.#seconds += delta.seconds;
    if (delta.shed > 0) this.#shed.inc(delta.shed);
  }

  exited(worker: WorkerHandle, reason: RestartReason | null): void {
    for (const pull of this.#pulls.values()) {
      if (pull.waiting.delete(worker) && pull.waiting.size === 0) pull.done();
    }
    if (reason !== null) this.#restarts.inc({ reason });
  }

  reloaded(result: 'done' | 'failed'): void {
    this.#reloads.inc({ result });
  }

  pulled(worker: WorkerHandle, id: number, metrics: unknown[]): void {
    const pull = this.#pulls.get(id);
    if (pull === undefined || !pull.waiting.delete(worker)) return;
    pull.results.push(metrics);
    if (pull.waiting.size === 0) pull.done();
  }

  /** Every worker that has loaded the app is asked for its process metrics; the slow are left out. */
  private pullWorkers(): Promise<unknown[][]> {
    const id = ++this.#pullId;
    const waiting = new Set<WorkerHandle>();
    for (const w of this.#view.workers()) {
      if (w.state !== 'booting' && w.state !== 'exited' && w.cluster.isConnected()) waiting.add(w);
    }
    return new Promise((resolve) => {
      const pull: PendingPull = { waiting, results: [], done: () => {} };
      const timer = setTimeout(() => pull.done(), PULL_TIMEOUT_MS);
      pull.done = () => {
        clearTimeout(timer);
        this.#pulls.delete(id);
        resolve(pull.results);
      };
      this.#pulls.set(id, pull);
      if (waiting.size === 0) pull.done();
      for (const w of waiting) w.send({ ns: IPC_NS, act: 'metrics-pull', id });
    });
  }

  /** The text of /metrics: the master's registry and every worker's process metrics, merged. */
  scrape(): Promise<string> {
    if (this.#scraping === null) {
      this.#scraping = this.collect().finally(() => {
        this.#scraping = null;
      });
    }
    return this.#scraping;
  }

  private async collect(): Promise<string> {
    const [own, workers] = await Promise.all([this.#registry.getMetricsAsJSON(), this.pullWorkers()]);
    return AggregatorRegistry.aggregate([own, ...(workers as (typeof own)[])]).metrics();
  }

  /** The answers of the metrics socket. */
  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return reply(res, 405, 'only GET and HEAD\n', { allow: 'GET, HEAD' });
    const view = this.#view;
    switch (path) {
      case '/metrics':
        try {
          return reply(res, 200, await this.scrape(), { 'content-type': this.#registry.contentType });
        } catch (err) {
          return reply(res, 500, `cannot collect the metrics: ${describeError(err)}\n`);
        }
      case '/healthz': {
        const since = monotonicNow() - view.lastTurnAt;
        if (since > LOOP_STALE_MS)
          return reply(res, 503, `the master's loop has not turned for ${Math.round(since / 1000)} s\n`);
        return reply(res, 200, 'ok\n');
      }
      case '/readyz': {
        if (view.stopping) return reply(res, 503, 'stopping\n');
        const serving = [...view.workers()].filter(
          (w) => w.state === 'ready' || w.state === 'retiring',
        ).length;
        if (serving === 0) return reply(res, 503, 'no worker is ready\n');
        return reply(res, 200, `ready: ${serving} worker(s)\n`);
      }
      default:
        return reply(res, 404, 'not found: /metrics, /healthz and /readyz are served here\n');
    }
  }

  /**
   * Listens on --metrics-bind. After a USR2 upgrade the old master holds the address until it
   * exits: this master then serves its workers at once and takes the address over in the
   * background, once it is free (the old master's /readyz answers until then).
   */
  async listen(bind: BindAddress, log: Log, upgraded: boolean): Promise<void> {
    const server = http.createServer(
      {
        headersTimeout: METRICS_REQUEST_MS,
        requestTimeout: METRICS_REQUEST_MS,
        // Node checks those timeouts this often (30 s by default).
        connectionsCheckingInterval: 1_000,
      },
      (req, res) => void this.answer(req, res),
    );
    server.keepAliveTimeout = 5_000;
    server.maxConnections = METRICS_MAX_CONNECTIONS;
    const mayLogFull = onceEvery(FULL_LOG_INTERVAL_MS);
    server.on('drop', () => {
      if (!mayLogFull()) return;
      log.warn(
        'metrics.connections_full',
        `--metrics-bind has ${METRICS_MAX_CONNECTIONS} connections open, its limit: closing new ones until some end`,
        { limit: METRICS_MAX_CONNECTIONS },
      );
    });
    this.#server = server;
    try {
      await listenOnce(server, bind);
    } catch (err) {
      if (!(upgraded && (err as NodeJS.ErrnoException).code === 'EADDRINUSE')) {
        throw new UnicornError(
          'UNICORN_BIND',
          `cannot listen on --metrics-bind ${formatBind(bind)}: ${describeError(err)}`,
          { cause: err },
        );
      }
      log.warn(
        'metrics.listening',
        `--metrics-bind ${formatBind(bind)} is still held by the old master; taking it over once it exits`,
        { url: null, waiting: true },
      );
      void this.takeOver(server, bind, log);
      return;
    }
    this.listening(server, bind, log);
  }

  /** Tries again until the address is free, or this master is closing. */
  private async takeOver(server: Server, bind: BindAddress, log: Log): Promise<void> {
    while (this.#server === server) {
      await new Promise((resolve) => setTimeout(resolve, BIND_RETRY_MS).unref());
      if (this.#server !== server) return;
      try {
        await listenOnce(server, bind);
        this.listening(server, bind, log);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
        log.error(
          'metrics.listening',
          `Cannot listen on --metrics-bind ${formatBind(bind)}: ${describeError(err)}; no metrics or health checks`,
          { url: null, err },
        );
        return;
      }
    }
  }

  private listening(server: Server, bind: BindAddress, log: Log): void {
    const address = server.address();
    const url =
      typeof address === 'object' && address !== null
        ? `http://${formatBind({ kind: 'tcp', host: address.address, port: address.port })}`
        : `http://${formatBind(bind)}`;
    log.info('metrics.listening', `Metrics and health checks at: ${url}/metrics, /healthz, /readyz`, { url });
  }

  close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (server === null || !server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

const HISTOGRAM_HELP =
  'Time from the start of a request to the end of its response, in seconds, for the requests that ran (not refused or shed).';

function reply(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function listenOnce(server: Server, bind: BindAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (err: Error) => reject(err);
    server.once('error', failed);
    const listening = () => {
      server.off('error', failed);
      resolve();
    };
    if (bind.kind === 'unix') server.listen(bind.path, listening);
    else if (bind.kind === 'tcp') server.listen(bind.port, bind.host, listening);
    else reject(new Error('an inherited descriptor cannot be a metrics socket'));
  });
}
