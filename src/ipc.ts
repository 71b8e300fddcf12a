/**
 * The messages the master and a worker exchange over the cluster IPC channel: the protocol between
 * the two sides (the master never imports workers/; both use the neutral modules of src/). Every message carries `ns` so that messages an app sends with
 * process.send() are never mistaken for ours.
 */

import { createInterface } from 'node:readline';
import type { WorkerMetricsReport } from './request-metrics.js';
import type { WorkerSettings } from './settings.js';

export const IPC_NS = 'unicorn-ts';

export type WorkerMessage =
  /** The worker has loaded the app and asks for the listening sockets. */
  | { ns: typeof IPC_NS; act: 'hello'; interface: 'fetch' | 'node' }
  /** The worker listens on every socket and accepts requests. */
  | { ns: typeof IPC_NS; act: 'ready' }
  /** Sent from the worker's event loop: proof the loop is not blocked. */
  | {
      ns: typeof IPC_NS;
      act: 'heartbeat';
      requests: number;
      inflight: number;
      /** Resident set size in bytes, for --max-memory. */
      rss: number;
      /** --dispatch request: connections received from the master so far. */
      given: number;
      /** The request in flight the longest, so a timeout can say what the worker was doing. */
      oldest: { request: string; startedAt: number } | null;
      /** While the worker drains, what it still holds (a kill at --graceful-timeout names it); else null. */
      holding: Holding | null;
      /** --metrics-bind: the worker's request totals; absent when metrics are off. */
      metrics?: WorkerMetricsReport;
    }
  /** --metrics-bind: the reply to `metrics-pull`, the worker's prom-client default metrics as JSON. */
  | { ns: typeof IPC_NS; act: 'metrics'; id: number; metrics: unknown[] }
  /** The worker wants to be replaced (max-requests, an uncaught error) and will drain when told. */
  | { ns: typeof IPC_NS; act: 'retire'; reason: string }
  /**
   * The worker got a stop signal the master did not send (an operator's `kill` of the worker, a
   * `pkill` that matched it) and is stopping: gracefully on TERM, at once on INT and QUIT.
   */
  | { ns: typeof IPC_NS; act: 'stopping'; signal: string; quick: boolean }
  /** The worker switched the sockets it was given at spawn to listening (early-listen.ts), or says why not. */
  | { ns: typeof IPC_NS; act: 'queueing'; failure: string | null }
  /** The worker cannot boot; it exits with `code` right after this message. */
  | { ns: typeof IPC_NS; act: 'boot-error'; code: number; message: string }
  /**
   * --dispatch request: an idle keep-alive connection handed back to the master (its handle travels
   * with the message). `index` is its listening socket.
   */
  | { ns: typeof IPC_NS; act: 'conn-idle'; index: number };

/** What keeps a draining worker from exiting, besides its requests in flight (`inflight`). */
export interface Holding {
  /** Responses whose head is sent and whose end is not: SSE, a streamed download, a slow body. */
  streaming: number;
  /** WebSockets still open. */
  websockets: number;
  /** Client connections still open, idle or not. */
  connections: number;
}

/** What a worker receives with `act: 'listen'`. */
export type ListenMessage = Extract<MasterMessage, { act: 'listen' }>;

export type MasterMessage =
  /** One listening socket; its handle travels with the message. */
  | { ns: typeof IPC_NS; act: 'listen'; index: number; count: number; backlog: number; url: string }
  /**
   * --dispatch request: a keep-alive connection with a request on it (its handle travels with the
   * message). `head` holds the bytes the master read to see the request coming, as latin1.
   */
  | { ns: typeof IPC_NS; act: 'conn'; index: number; head: string }
  /** --metrics-bind: a scrape asks each worker for its process metrics (answered with `metrics`). */
  | { ns: typeof IPC_NS; act: 'metrics-pull'; id: number };

/** What a worker is told about itself at spawn time, through its environment. */
export interface WorkerBoot {
  /** Settings as resolved by the master, hooks left out (workers import them from the config file). */
  settings: WorkerSettings;
  configFile: string | null;
  appModule: string;
  /** The directory APP_MODULE is resolved from. */
  cwd: string;
  /** 1, 2, 3... in spawn order over the master's life; shown in logs as the worker number. */
  age: number;
  /** The stack probe's pipe (STACK_PROBE_FD), or null when --timeout-stack is off. */
  stackProbeFd: number | null;
  /** Copies of sockets to switch to listening at once, then close (src/master/early-listen.ts). */
  listenFds: number[];
  /**
   * run() with a handler: this process is the calling program run again, and the app is what its
   * own run() call hands over (src/run-handoff.ts), not APP_MODULE (which names the program).
   */
  appFromRun: boolean;
}

export const WORKER_BOOT_ENV = 'UNICORN_TS_WORKER_BOOT';

/** Gunicorn's exit codes, so that the master stops instead of respawning a worker that can never boot. */
export const EXIT_CODES = {
  OK: 0,
  /** Configuration error, or --check-config found a problem. */
  CONFIG_ERROR: 1,
  /** A worker failed to boot for a reason other than the app (bind, hook, startup()). */
  WORKER_BOOT_ERROR: 3,
  /** The app could not be loaded (missing file or export, syntax error, threw at import). */
  APP_LOAD_ERROR: 4,
} as const;

export function isWorkerMessage(msg: unknown): msg is WorkerMessage {
  return typeof msg === 'object' && msg !== null && (msg as { ns?: unknown }).ns === IPC_NS;
}

export function isMasterMessage(msg: unknown): msg is MasterMessage {
  return typeof msg === 'object' && msg !== null && (msg as { ns?: unknown }).ns === IPC_NS;
}

/**
 * The stack probe: a second, private channel between the master and each worker (an extra stdio
 * pipe, fd STACK_PROBE_FD in the worker), served by a small thread in the worker. It exists because
 * the cluster IPC channel is read by the worker's main thread, which is exactly what is stuck when
 * the master wants to know where it is stuck. One JSON object per line each way.
 */
export const STACK_PROBE_FD = 4;

export interface StackProbeRequest {
  id: number;
}

export interface StackFrame {
  /** The function's name, or `<anonymous>`. */
  fn: string;
  /** A path relative to the worker's working directory, a `node:` module, or a URL. */
  file: string;
  /** 1-based, in the original source when a source map says where that is. */
  line: number;
  column: number;
}

export interface StackProbeReply {
  id: number;
  /** Innermost first; empty when the worker was not running JavaScript. */
  frames: StackFrame[];
  /** Why there are no frames, when there are none. */
  note?: string;
  /**
   * The oldest request in flight, as the worker's request board showed it (null: none); absent when
   * the reply did not come from the probe thread (it did not answer in time).
   */
  request?: { request: string; startedAt: number } | null;
}

/** `handler (src/app.ts:42)`: how a frame appears in log messages. */
export function formatFrame(frame: StackFrame): string {
  return `${frame.fn} (${frame.file}:${frame.line})`;
}

/**
 * The stack probe's framing, for both ends: one JSON value a line; a line that does not parse is
 * skipped. The input's errors are the caller's to handle; readline passes them on as its own
 * 'error' event, which without a listener would throw: the master read ECONNRESET on a probe pipe
 * whenever a worker was killed with a question unread (a worker stopped with SIGSTOP, killed at
 * --timeout), and died of it.
 */
export function onJsonLines<T>(input: NodeJS.ReadableStream, onValue: (value: T) => void): void {
  const lines = createInterface({ input });
  lines.on('error', () => {});
  lines.on('line', (line) => {
    let value: T;
    try {
      value = JSON.parse(line) as T;
    } catch {
      return;
    }
    onValue(value);
  });
}
