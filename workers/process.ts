/**
 * The worker process itself, set up before any app code runs: its title, the privileges it gives
 * up (-u/-g), and its signal handlers, installed from the same table the master uses
 * (src/signals.ts), so a signal cannot be documented one way and handled another.
 */

import { describeError, UnicornError } from '../src/errors.js';
import { MASTER_SIGNALS, type WorkerSignalAction } from '../src/signals.js';

/** What the worker does for each action of the signal table, and for SIGABRT. */
export type WorkerSignalHandlers = {
  readonly [A in Exclude<WorkerSignalAction, 'ignore'>]: (signal: NodeJS.Signals) => void;
} & {
  /** SIGABRT: the master gave up on this worker (--timeout) and will KILL it after a grace. */
  readonly abort: () => void;
};

export interface ProcessOptions {
  readonly title: string;
  /** -g and -u, names or numeric ids; null keeps the master's. */
  readonly group: string | null;
  readonly user: string | null;
}

export function setUpProcess(options: ProcessOptions, handlers: WorkerSignalHandlers): void {
  process.title = options.title;
  dropPrivileges(options.group, options.user);
  for (const { signal, workerAction } of MASTER_SIGNALS) {
    // An ignored signal still gets a listener: Node's default would end the process (HUP, TTIN...)
    // or start the debugger (USR1); the terminal's Ctrl-C and logrotate's signals are the master's.
    const handle = workerAction === 'ignore' ? () => {} : handlers[workerAction];
    process.on(signal, handle);
  }
  // Not in the table: the master sends it, never acts on it.
  process.on('SIGABRT', () => handlers.abort());
}

/**
 * -g/-u: the worker gives up the master's privileges before it loads any app code. The group goes
 * first (a process can no longer change group once it is not root), with the user's supplementary
 * groups.
 */
function dropPrivileges(group: string | null, user: string | null): void {
  const id = (v: string) => (/^\d+$/.test(v) ? Number(v) : v);
  try {
    if (group !== null) process.setgid?.(id(group));
    if (user !== null) {
      const posix = process as { initgroups?: (user: string | number, extraGroup: string | number) => void };
      posix.initgroups?.(id(user), group === null ? (process.getgid?.() ?? 0) : id(group));
      process.setuid?.(id(user));
    }
  } catch (err) {
    throw new UnicornError(
      'UNICORN_BOOT',
      `cannot switch to ${user !== null ? `user ${user}` : ''}${user !== null && group !== null ? ' and ' : ''}${group !== null ? `group ${group}` : ''}: ${describeError(err)}`,
    );
  }
}
