/**
 * What the master shows of itself and its workers (--metrics-bind, --statsd-host): Prometheus
 * metrics and the health checks on a socket of its own, and StatsD gauges and counters.
 *
 * Aggregation, and why this way (docs/design.md has the figures): workers count requests in plain
 * integers (workers/metrics.ts) and send their totals with the heartbeat they send anyway; the
 * master keeps the prom-client registry and adds what changed since the worker's last beat. A
 * request costs a worker a few array writes and never a message, and the sums the master keeps
 * survive workers being replaced (a counter that went down at every restart would read as a reset).
 * Only Node's default process metrics, per worker, are pulled at scrape time, as prom-client's own
 * cluster aggregation does, and merged with its AggregatorRegistry.aggregate().
 */

import { parseBind } from '../bind.js';
import type { Log } from '../log.js';
import { slotLabels, type WorkerMetricsReport } from '../request-metrics.js';
import type { Settings } from '../settings.js';
import { openStatsd, type StatsdClient } from '../statsd.js';
import type { PrometheusMetrics } from './prometheus.js';
import type { WorkerHandle } from './worker-handle.js';

/** Why a worker was replaced: the `reason` label of unicorn_worker_restarts_total. */
export const RESTART_REASONS = ['crash', 'timeout', 'memory', 'max-requests', 'reload', 'signal'] as const;
export type RestartReason = (typeof RESTART_REASONS)[number];

/**
 * How long the master's loop may go without a turn before /healthz fails. It turns at least once
 * a second (arbiter.ts, MAX_SLEEP_MS); five missed turns mean it is stuck (a hook that never
 * returns), and a stuck master neither reaps, nor restarts, nor times workers out.
 */
export const LOOP_STALE_MS = 5_000;
/** How often the master sends its StatsD gauges. */
const STATSD_GAUGES_MS = 1_000;

/** What the telemetry reads of the arbiter, at scrape time. */
export interface MasterView {
  /** A graceful or quick stop has begun. */
  readonly stopping: boolean;
  /** When the master's loop last went round (ms since the epoch). */
  readonly lastTurnAt: number;
  /** --workers as it stands. */
  readonly target: number;
  workers(): Iterable<WorkerHandle>;
}

/**
 * The restart a reaped worker counts as, or null when it was not replaced for a reason of its own
 * (the master is stopping, the count went down, a standby was dropped, a reload was rolled back).
 */
export function restartReason(
  worker: Pick<WorkerHandle, 'reason' | 'stopReason' | 'signaledFromOutside'>,
  expected: boolean,
  masterStopping: boolean,
): RestartReason | null {
  if (masterStopping) return null;
  if (!expected) return worker.reason === 'boot-timeout' ? 'timeout' : 'crash';
  switch (worker.stopReason) {
    case 'reload':
      return 'reload';
    case 'max-requests':
      return 'max-requests';
    case 'max-memory':
      return 'memory';
    case 'timeout':
      return 'timeout';
    case 'uncaught exception':
    case 'unhandled rejection':
      return 'crash';
    default:
      // A stop signal sent to the worker from outside the master (WorkerHandle.stoppingOnSignal).
      return worker.signaledFromOutside !== null ? 'signal' : null;
  }
}

export class Telemetry {
  readonly #metrics: PrometheusMetrics | null;
  readonly #statsd: StatsdClient | null;
  readonly #view: MasterView;
  /** Each live worker's last report: what its next one is compared with. */
  readonly #last: Map<WorkerHandle, WorkerMetricsReport>;
  #gauges: NodeJS.Timeout | null = null;

  private constructor(
    metrics: PrometheusMetrics | null,
    statsd: StatsdClient | null,
    view: MasterView,
    last: Map<WorkerHandle, WorkerMetricsReport>,
  ) {
    this.#metrics = metrics;
    this.#last = last;
    this.#statsd = statsd;
    this.#view = view;
    if (statsd !== null) {
      this.#gauges = setInterval(() => this.sendGauges(), STATSD_GAUGES_MS);
      this.#gauges.unref();
    }
  }

  /**
   * Opens what the settings ask for; null when neither is on. `upgraded`: this master was started
   * by USR2, and its predecessor holds --metrics-bind until it exits.
   */
  static async open(
    settings: Settings,
    view: MasterView,
    log: Log,
    appDir: string,
    upgraded: boolean,
  ): Promise<Telemetry | null> {
    if (settings.metricsBind === null && settings.statsdHost === null) return null;
    const statsd =
      settings.statsdHost === null
        ? null
        : await openStatsd(settings.statsdHost, settings.statsdPrefix, appDir);
    const last = new Map<WorkerHandle, WorkerMetricsReport>();
    let metrics: PrometheusMetrics | null = null;
    if (settings.metricsBind !== null) {
      // Loaded only when asked for: prom-client is about 8 MiB of an idle master's memory.
      const { PrometheusMetrics } = await import('./prometheus.js');
      metrics = new PrometheusMetrics(settings.metricsBuckets, view, last);
      try {
        await metrics.listen(parseBind(settings.metricsBind), log, upgraded);
      } catch (err) {
        statsd?.close();
        throw err;
      }
    }
    return new Telemetry(metrics, statsd, view, last);
  }

  /** A heartbeat: what the worker counted since its last one goes to both. */
  heartbeat(worker: WorkerHandle, report: WorkerMetricsReport | undefined): void {
    // A reaped worker's totals are final (a beat arriving after would count them all again).
    if (report === undefined || worker.state === 'exited') return;
    const last = this.#last.get(worker);
    this.#last.set(worker, report);
    const delta = difference(report, last);
    this.#metrics?.add(delta);
    const statsd = this.#statsd;
    if (statsd === null) return;
    // By status class: Gunicorn sends a counter a status code, from a line its workers send for
    // every request, which costs a request more than unicorn-ts allows (docs/design.md).
    const byClass = new Map<string, number>();
    let requests = 0;
    delta.counts.forEach((n, slot) => {
      if (n <= 0) return;
      requests += n;
      const { status } = slotLabels(slot);
      byClass.set(status, (byClass.get(status) ?? 0) + n);
    });
    if (requests > 0) statsd.increment('requests', requests);
    for (const [status, n] of byClass) statsd.increment(`request.status.${status}`, n);
    if (delta.shed > 0) statsd.increment('request.shed', delta.shed);
  }

  /** A worker's answer to a scrape's pull. */
  pulled(worker: WorkerHandle, id: number, metrics: unknown[]): void {
    this.#metrics?.pulled(worker, id, metrics);
  }

  /** A worker was reaped; `reason` says which restart it counts as, if any. */
  exited(worker: WorkerHandle, reason: RestartReason | null): void {
    this.#last.delete(worker);
    this.#metrics?.exited(worker, reason);
    if (reason !== null) this.#statsd?.increment(`worker.restarts.${reason}`, 1);
  }

  /** A HUP reload finished, or failed (rolled back, or its configuration could not be read). */
  reloaded(result: 'done' | 'failed'): void {
    this.#metrics?.reloaded(result);
    this.#statsd?.increment(`reloads.${result}`, 1);
  }

  /** At the master's exit: /readyz answered 503 until now. */
  async close(): Promise<void> {
    if (this.#gauges !== null) clearInterval(this.#gauges);
    this.sendGauges();
    await Promise.all([
      this.#metrics?.close(),
      new Promise<void>((resolve) =>
        this.#statsd === null ? resolve() : this.#statsd.close(() => resolve()),
      ),
    ]);
  }

  private sendGauges(): void {
    const statsd = this.#statsd;
    if (statsd === null) return;
    const counts = countStates(this.#view.workers());
    statsd.gauge('workers', counts.ready);
    statsd.gauge('workers.desired', this.#view.target);
    let inflight = 0;
    for (const w of this.#view.workers()) if (w.state !== 'booting' && !w.isSpare) inflight += w.inflight;
    statsd.gauge('requests.in_flight', inflight);
  }
}

/** Workers by the `state` label of unicorn_workers. */
export function countStates(
  workers: Iterable<WorkerHandle>,
): Record<'booting' | 'ready' | 'retiring' | 'stopping' | 'spare', number> {
  const counts = { booting: 0, ready: 0, retiring: 0, stopping: 0, spare: 0 };
  for (const w of workers) {
    if (w.isSpare) counts.spare++;
    else if (w.state === 'booting' || w.state === 'ready' || w.state === 'retiring' || w.state === 'stopping')
      counts[w.state]++;
  }
  return counts;
}

/** A report less the one before it (the totals only grow; `connections` is a level, kept as is). */
function difference(report: WorkerMetricsReport, last: WorkerMetricsReport | undefined): WorkerMetricsReport {
  return {
    counts: report.counts.map((n, i) => n - (last?.counts[i] ?? 0)),
    buckets: report.buckets.map((n, i) => n - (last?.buckets[i] ?? 0)),
    seconds: report.seconds - (last?.seconds ?? 0),
    shed: report.shed - (last?.shed ?? 0),
    connections: report.connections,
  };
}
