/**
 * The master's signals from the executable's first statement until the master's own listeners
 * (src/master/arbiter.ts installs them when it starts, after the command line, the config file and
 * the log files are loaded: a few hundred milliseconds). Until then Node's defaults would apply:
 * - USR1 starts Node's inspector on 127.0.0.1:9229, where any local user can run code as the master;
 * - TTIN and TTOU stop (suspend) the process when it runs in a shell's job (the server would never
 *   come up), and are dropped when its process group is orphaned (a supervisor, `setsid`);
 * - HUP and USR2 terminate it.
 * src/bin.ts holds them before it loads anything else, and the master, once started, handles what
 * was held in the order it came, as if sent then: a reload, a log reopen, one more worker.
 *
 * Not held: TERM, INT and QUIT, whose default (terminate now) is what the sender asked for while
 * nothing runs yet, and WINCH, whose default is to ignore it. What is left unguarded is Node's own
 * bootstrap, before any JavaScript of the executable runs.
 */

import type { MasterSignal } from './signals.js';

const HELD = [
  'SIGHUP',
  'SIGUSR1',
  'SIGUSR2',
  'SIGTTIN',
  'SIGTTOU',
] as const satisfies readonly MasterSignal[];

const received: MasterSignal[] = [];
const listeners = HELD.map((signal) => [signal, () => received.push(signal)] as const);

export function holdSignals(): void {
  for (const [signal, listener] of listeners) process.on(signal, listener);
}

/**
 * Removes the hold and returns what came while it was on, oldest first. Call it after installing
 * the master's own listeners, so that no signal finds the process without one.
 */
export function releaseSignals(): MasterSignal[] {
  for (const [signal, listener] of listeners) process.off(signal, listener);
  return received.splice(0);
}
