/**
 * What a worker counts about its requests when --metrics-bind is on, in the shape both ends share:
 * plain integers in flat arrays, indexed by method and status class. The worker only adds to them
 * (a few array writes per request); the master turns the totals that ride on each heartbeat into
 * prom-client metrics (src/master/metrics.ts). docs/design.md says why it is done this way.
 */

/** The `method` label's values: the methods of RFC 9110 and PATCH; any other is `OTHER`. */
export const METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
  'CONNECT',
  'TRACE',
  'OTHER',
] as const;

/**
 * The `status` label's values: the class of the status sent, or `closed` when the response never
 * started (the client went first, or the connection was cut).
 */
export const STATUS_CLASSES = ['closed', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

const METHOD_INDEX: Readonly<Record<string, number>> = Object.fromEntries(METHODS.map((m, i) => [m, i]));
const OTHER = METHODS.length - 1;

/** The slot of `unicorn_requests_total` for a method and a status (0: the response never started). */
export function countSlot(method: string | undefined, status: number): number {
  const m = (method !== undefined ? METHOD_INDEX[method] : undefined) ?? OTHER;
  const c = status <= 0 ? 0 : status < 200 ? 1 : status >= 500 ? 5 : Math.floor(status / 100);
  return m * STATUS_CLASSES.length + c;
}

/** The (method, status) labels of a slot. */
export function slotLabels(slot: number): { method: string; status: string } {
  return {
    method: METHODS[Math.floor(slot / STATUS_CLASSES.length)]!,
    status: STATUS_CLASSES[slot % STATUS_CLASSES.length]!,
  };
}

export const COUNT_SLOTS = METHODS.length * STATUS_CLASSES.length;

/**
 * A worker's totals since it started, sent with every heartbeat. Totals rather than deltas: the
 * master subtracts what it saw last, so the sums it keeps never go down when a worker is replaced.
 */
export interface WorkerMetricsReport {
  /** Responses by countSlot(). */
  counts: number[];
  /** Requests that ran, by latency bucket (not cumulative); the last slot is above every bound. */
  buckets: number[];
  /** Seconds, summed over the requests in `buckets`. */
  seconds: number;
  /** Requests answered 503 for lack of capacity (--worker-connections). */
  shed: number;
  /** Client connections open now. */
  connections: number;
}
