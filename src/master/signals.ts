/**
 * The signals the master acts on, as data: docs/signals.md is generated from this table, and the
 * master installs a handler for exactly these. Handlers only enqueue; the master loop dispatches.
 */

export interface SignalSpec {
  readonly signal: NodeJS.Signals;
  /** What the master does. */
  readonly master: string;
  /** What a worker does when it gets this signal directly. */
  readonly worker: string;
}

export const MASTER_SIGNALS: readonly SignalSpec[] = [
  {
    signal: 'SIGTERM',
    master:
      'Graceful stop: close the listening sockets, send TERM to every worker, wait up to --graceful-timeout for them to finish their in-flight requests, KILL what is left, run onExit, exit 0.',
    worker:
      'Graceful stop: stop accepting, close idle keep-alive connections, finish in-flight requests (their responses carry `Connection: close`), run shutdown(), exit 0.',
  },
  {
    signal: 'SIGINT',
    master: 'Quick stop: send QUIT to every worker, KILL any left after 2 s, exit 0.',
    worker: 'Quick stop: run the workerInt hook and exit at once, dropping in-flight requests.',
  },
  {
    signal: 'SIGQUIT',
    master: 'Quick stop, as SIGINT.',
    worker: 'Quick stop, as SIGINT.',
  },
  {
    signal: 'SIGTTIN',
    master: 'One worker more.',
    worker: 'Ignored.',
  },
  {
    signal: 'SIGTTOU',
    master: 'One worker fewer (never below one): the oldest retires gracefully.',
    worker: 'Ignored.',
  },
];

export type MasterSignal = (typeof MASTER_SIGNALS)[number]['signal'];
