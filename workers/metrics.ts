/**
 * The worker's side of --metrics-bind and --statsd-host: what it counts per request, and what it
 * answers when the master scrapes it. Built only when one of them is on; otherwise the pipeline
 * holds no recorder at all and a request pays one null check. StatsD is sent by the master, from
 * the same totals: a StatsD client per request costs more than the budget (docs/design.md).
 *
 * Per request the worker adds to plain integer arrays (src/request-metrics.ts): no prom-client call,
 * no label hashing, no message. The totals ride on the heartbeat the worker sends anyway. prom-client
 * runs here only for Node's default process metrics (CPU, memory, heap, GC, event-loop delay), which
 * it collects off the request path and which the master pulls at scrape time.
 */

import type { IncomingMessage } from 'node:http';
import { COUNT_SLOTS, countSlot, type WorkerMetricsReport } from '../src/request-metrics.js';

/** What the pipeline calls once per response. */
export interface RequestRecorder {
  /**
   * A response is over: `status` is what was sent (0: nothing was), `seconds` how long the request
   * ran, or null for one answered without running (refused, shed).
   */
  record(req: IncomingMessage, status: number, seconds: number | null): void;
  /** A request answered 503 for lack of capacity. */
  shed(): void;
}

/** Request totals for the heartbeat (--metrics-bind). */
export class RequestCounts implements RequestRecorder {
  readonly #counts: number[] = new Array<number>(COUNT_SLOTS).fill(0);
  readonly #bounds: readonly number[];
  readonly #buckets: number[];
  #seconds = 0;
  #shed = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.#buckets = new Array<number>(bounds.length + 1).fill(0);
  }

  record(req: IncomingMessage, status: number, seconds: number | null): void {
    this.#counts[countSlot(req.method, status)]!++;
    if (seconds === null) return;
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    this.#buckets[i]!++;
    this.#seconds += seconds;
  }

  shed(): void {
    this.#shed++;
  }

  report(connections: number): WorkerMetricsReport {
    return {
      counts: this.#counts.slice(),
      buckets: this.#buckets.slice(),
      seconds: this.#seconds,
      shed: this.#shed,
      connections,
    };
  }
}

/**
 * Node's default process metrics for this worker, labelled `worker` with its number (the `worker`
 * field of its log lines): `pull()` returns them as prom-client's JSON, for the master to merge.
 */
export async function processMetrics(worker: number): Promise<{ pull(): Promise<unknown[]> }> {
  const prom = await import('prom-client');
  const registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry, labels: { worker: String(worker) } });
  return { pull: () => registry.getMetricsAsJSON() };
}
