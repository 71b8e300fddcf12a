/**
 * The signals unicorn-ts acts on, as data: docs/signals.md is generated from this table, the master
 * installs a listener for exactly these, and the master loop dispatches each to its handler method,
 * named after the signal as Gunicorn does (`SIGTTIN` -> `handleTtin`). Listeners only enqueue.
 * `SignalHandlers` is what the master must implement: a signal added here without a handler does
 * not compile. Workers install theirs from the same table (`workerAction`, workers/process.ts).
 */

/** What a worker does with a signal sent to it directly. */
export type WorkerSignalAction = 'stop' | 'quick-stop' | 'reopen-logs' | 'ignore';

export interface SignalSpec {
  readonly signal: NodeJS.Signals;
  /** What the master does. */
  readonly master: string;
  /** What a worker does when it gets this signal directly. */
  readonly worker: string;
  /** The same, as the action workers/process.ts installs. */
  readonly workerAction: WorkerSignalAction;
}

export const MASTER_SIGNALS = [
  {
    signal: 'SIGTERM',
    master:
      'Graceful stop: close the listening sockets, send TERM to every worker, wait up to --graceful-timeout for them to finish their in-flight requests, KILL what is left, run onExit, exit 0.',
    worker:
      "Graceful stop: stop accepting, abort `info.draining` (and the package's `draining`) so long-lived responses end, close idle keep-alive connections, finish in-flight requests (their responses carry `Connection: close`), run shutdown(), exit 0.",
    workerAction: 'stop',
  },
  {
    signal: 'SIGINT',
    master: 'Quick stop: send QUIT to every worker, KILL any left after 2 s, exit 0.',
    worker: 'Quick stop: run the workerInt hook and exit at once, dropping in-flight requests.',
    workerAction: 'quick-stop',
  },
  {
    signal: 'SIGQUIT',
    master: 'Quick stop, as SIGINT.',
    worker: 'Quick stop, as SIGINT.',
    workerAction: 'quick-stop',
  },
  {
    signal: 'SIGHUP',
    master:
      'Reload: re-read the config file (run onReload), start new workers that import the app afresh, and stop each old worker once a new one is ready. If a new worker cannot boot, the reload is rolled back: the old workers keep serving, with the configuration and worker count from before the HUP (`reload.failed`). `reload.done` is logged when the last old worker has exited.',
    worker: 'Ignored (the master replaces workers; it does not reload them in place).',
    workerAction: 'ignore',
  },
  {
    signal: 'SIGTTIN',
    master: 'One worker more.',
    worker: 'Ignored.',
    workerAction: 'ignore',
  },
  {
    signal: 'SIGTTOU',
    master: 'One worker fewer (never below one): the oldest retires gracefully.',
    worker: 'Ignored.',
    workerAction: 'ignore',
  },
  {
    signal: 'SIGUSR2',
    master:
      'Upgrade without downtime (a new unicorn-ts or Node): start a new master running the same command, which inherits the listening sockets (no port is ever closed), and move the pidfile to PIDFILE.oldbin. Once the new master serves, send WINCH and then TERM to the old one. If the new master cannot be started (the Node binary is gone, EACCES, EMFILE) or exits first, the pidfile moves back, `master.reexec` says why, and the old master serves on. A second USR2 while the new master runs is ignored (`signal.ignored`). Under systemd, use socket activation and `systemctl restart` instead (docs/deploy.md).',
    worker: 'Ignored.',
    workerAction: 'ignore',
  },
  {
    signal: 'SIGWINCH',
    master:
      'Stop every worker gracefully and keep the master and its listening sockets (connections wait in the queue). SIGHUP or SIGTTIN starts workers again. Ignored (`signal.ignored`) when the master runs in a terminal, which sends WINCH whenever its window is resized, as Gunicorn ignores it unless daemonized; use SIGTTOU or `unicorn-ts scale 0` there.',
    worker: 'Ignored.',
    workerAction: 'ignore',
  },
  {
    signal: 'SIGUSR1',
    master:
      'Reopen the log files (after logrotate moved them) and pass the signal to every worker; a worker still booting gets it once it has said hello, since before its own listener is installed Node would open its debugger on 127.0.0.1:9229. One that comes while the master is still starting reopens the logs once it runs. A file that cannot be reopened (its directory is gone) is logged (`logs.failed`) and the file open before is kept.',
    worker:
      'Reopen the error and access log files, keeping the old one when a file cannot be reopened (`logs.failed`). Node would start its debugger on SIGUSR1; unicorn-ts takes the signal over.',
    workerAction: 'reopen-logs',
  },
] as const satisfies readonly SignalSpec[];

export type MasterSignal = (typeof MASTER_SIGNALS)[number]['signal'];

/** `SIGTTIN` -> `handleTtin`. */
export type SignalHandlerName<S extends MasterSignal = MasterSignal> = S extends `SIG${infer Name}`
  ? `handle${Capitalize<Lowercase<Name>>}`
  : never;

/** One method per signal in the table; the master loop calls it for each queued signal. */
export type SignalHandlers = {
  readonly [S in MasterSignal as SignalHandlerName<S>]: () => void | Promise<void>;
};

/** The runtime twin of `SignalHandlerName`. */
export function signalHandlerName<S extends MasterSignal>(signal: S): SignalHandlerName<S> {
  const name = signal.slice(3).toLowerCase();
  return `handle${name.charAt(0).toUpperCase()}${name.slice(1)}` as SignalHandlerName<S>;
}
