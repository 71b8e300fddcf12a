/**
 * The worker's end of the IPC channel to the master: the mirror of src/master/worker-handle.ts.
 * Every message a worker sends goes through here (hello and the listening sockets, ready,
 * heartbeats, retire, boot errors, connections handed back under --dispatch request); their shapes
 * are defined in src/ipc.ts.
 */

import type { ServerResponse } from 'node:http';
import type { AppInterface } from '../src/app-interface.js';
import { monotonicNow, onceEvery } from '../src/clock.js';
import { describeError } from '../src/errors.js';
import {
  type Holding,
  IPC_NS,
  isMasterMessage,
  type ListenMessage,
  type MasterMessage,
  type WorkerMessage,
} from '../src/ipc.js';
import type { Log } from '../src/log.js';
import type { WorkerMetricsReport } from '../src/request-metrics.js';

type ConnMessage = Extract<MasterMessage, { act: 'conn' }>;

/** A heartbeat that keeps failing is logged at most this often. */
const HEARTBEAT_TROUBLE_EVERY_MS = 10_000;

/** What a heartbeat reports; read at each beat. */
export interface WorkerState {
  /** Requests finished since the worker started. */
  readonly served: number;
  readonly inflight: number;
  /** --dispatch request: connections the master has given this worker. */
  readonly given: number;
  /** The request in flight the longest, with its start time. */
  oldest(): [ServerResponse, number] | undefined;
  /** While draining, what the drain still waits for; null otherwise (it costs a pass over the requests). */
  holding(): Holding | null;
  /** --metrics-bind: the request totals; absent when metrics are off. */
  metrics?(): WorkerMetricsReport;
}

export class MasterLink {
  readonly #log: () => Log;
  #state: (() => WorkerState) | null = null;
  #lastBeat = 0;
  #lastBeatBusy = false;
  #rss = 0;
  readonly #mayReportTrouble = onceEvery(HEARTBEAT_TROUBLE_EVERY_MS);

  /** `log` is read when needed: the worker's log exists only once its process is set up. */
  constructor(log: () => Log) {
    this.#log = log;
  }

  /** When the last heartbeat went, in ms since the epoch (0: none yet). */
  get lastBeat(): number {
    return this.#lastBeat;
  }

  /** Whether the last heartbeat said a request was in flight. */
  get lastBeatBusy(): boolean {
    return this.#lastBeatBusy;
  }

  send(message: WorkerMessage): void {
    if (process.connected) process.send?.(message);
  }

  /** Says hello, then collects one `listen` message (with its handle) per socket the master owns. */
  hello(iface: AppInterface): Promise<Array<{ handle: unknown; message: ListenMessage }>> {
    return new Promise((resolve) => {
      const got: Array<{ handle: unknown; message: ListenMessage }> = [];
      const onMessage = (message: unknown, handle: unknown) => {
        if (!isMasterMessage(message) || message.act !== 'listen') return;
        got[message.index] = { handle, message };
        if (got.filter(Boolean).length === message.count) {
          process.off('message', onMessage);
          resolve(got);
        }
      };
      process.on('message', onMessage);
      this.send({ ns: IPC_NS, act: 'hello', interface: iface });
    });
  }

  ready(): void {
    this.send({ ns: IPC_NS, act: 'ready' });
  }

  /** Asks to be replaced (max requests, an uncaught error); the master starts a new worker first. */
  retire(reason: string): void {
    this.send({ ns: IPC_NS, act: 'retire', reason });
  }

  /** A stop signal arrived (from the master, or from anyone else: the master tells them apart). */
  stopping(signal: string, quick: boolean): void {
    this.send({ ns: IPC_NS, act: 'stopping', signal, quick });
  }

  bootError(code: number, message: string): void {
    this.send({ ns: IPC_NS, act: 'boot-error', code, message });
  }

  /**
   * Beats every `everyMs` from now on, reporting `state()`. The timer does not keep the worker
   * alive. A beat proves that the event loop runs; see docs/design.md on liveness.
   */
  startHeartbeat(everyMs: number, state: () => WorkerState): void {
    this.#state = state;
    setInterval(() => this.beat(), everyMs).unref();
    this.beat();
  }

  /**
   * Sends a heartbeat now (no-op before startHeartbeat). `done` runs once it is written (or could
   * not be): a worker about to exit waits for its last totals to be on their way.
   */
  beat(done?: () => void): void {
    const state = this.#state?.();
    if (state === undefined) {
      done?.();
      return;
    }
    this.#lastBeat = monotonicNow();
    const oldest = state.oldest();
    const req = oldest?.[0].req;
    this.#lastBeatBusy = oldest !== undefined;
    // Reading the RSS opens /proc/self/stat: at EMFILE (the app leaks descriptors) it throws, and a
    // throw here would be reported as the app's uncaught error. It is the worker's own trouble:
    // logged as such, and the last known RSS is sent.
    try {
      this.#rss = process.memoryUsage.rss();
    } catch (err) {
      this.trouble('measure its memory', err);
    }
    try {
      const message: Extract<WorkerMessage, { act: 'heartbeat' }> = {
        ns: IPC_NS,
        act: 'heartbeat',
        requests: state.served,
        inflight: state.inflight,
        given: state.given,
        rss: this.#rss,
        oldest: oldest && req ? { request: `${req.method} ${req.url}`, startedAt: oldest[1] } : null,
        holding: state.holding(),
      };
      if (state.metrics !== undefined) message.metrics = state.metrics();
      if (done === undefined) this.send(message);
      else if (!process.connected || !process.send) done();
      else process.send(message, undefined, {}, () => done());
    } catch (err) {
      this.trouble('send its heartbeat to the master', err);
      done?.();
    }
  }

  /** --metrics-bind: answers each scrape's request for this worker's process metrics. */
  onMetricsPull(pull: () => Promise<unknown[]>): void {
    process.on('message', (message: unknown) => {
      if (!isMasterMessage(message) || message.act !== 'metrics-pull') return;
      const reply = (metrics: unknown[]) =>
        this.send({ ns: IPC_NS, act: 'metrics', id: message.id, metrics });
      pull().then(reply, () => reply([]));
    });
  }

  /**
   * --dispatch request: hands a connection back to the master. The beat that follows is held by
   * node until the master has acknowledged the handle, so when it arrives the master knows this
   * worker's state after the handback (src/master/dispatcher.ts).
   */
  handBack(message: WorkerMessage, handle: object, done: () => void): void {
    if (!process.connected || !process.send) {
      done();
      return;
    }
    // biome-ignore lint/suspicious/noExplicitAny: process.send types its handle narrowly; it accepts TCP and Pipe wraps.
    process.send(message, handle as any, {}, () => done());
    this.beat();
  }

  /** --dispatch request: `receive` gets each connection the master gives this worker. */
  onConnection(receive: (message: ConnMessage, handle: object) => void): void {
    process.on('message', (message: unknown, handle: unknown) => {
      if (!isMasterMessage(message) || message.act !== 'conn') return;
      if (typeof handle === 'object' && handle !== null) receive(message, handle);
    });
  }

  private trouble(what: string, err: unknown): void {
    if (!this.#mayReportTrouble()) return;
    const code = (err as NodeJS.ErrnoException).code ?? null;
    const fds = code === 'EMFILE' || code === 'ENFILE';
    this.#log().warn(
      'worker.heartbeat_failed',
      `Worker (pid: ${process.pid}) cannot ${what}: ${describeError(err)}${fds ? ' (out of file descriptors: raise ulimit -n, or look for a descriptor leak)' : ''}`,
      { what, errorCode: code, err },
    );
  }
}
