/**
 * systemd's readiness protocol (sd_notify): `Type=notify` services send `READY=1`, `RELOADING=1`,
 * `STOPPING=1`, `MAINPID=` and `STATUS=` as one datagram to the unix socket named by $NOTIFY_SOCKET.
 *
 * Node cannot send to a unix datagram socket (node:dgram is UDP only), and a native addon is built
 * for one Node ABI, so it is sent by systemd's own `systemd-notify` (docs/design.md, "systemd
 * readiness"). That tool waits until the manager has read the message (its barrier; we never pass
 * --no-block): a sender that exits first can no longer be traced to its unit, and the message is
 * dropped. As it is a child of the master, the unit needs `NotifyAccess=all` unless the service runs
 * as root (then systemd-notify sends with the master's pid).
 *
 * Messages leave one at a time, in order: two systemd-notify processes started together could
 * deliver `READY=1` before the `RELOADING=1` it answers.
 */

import { spawn } from 'node:child_process';
import { describeError } from '../errors.js';

export type NotifyFields = Readonly<Record<string, string | number | bigint>>;

export interface NotifyLog {
  warn(event: 'systemd.notify_failed', msg: string, fields: object): void;
}

/** How long the master waits at exit for its last messages (STOPPING=1) to be read. */
const FLUSH_WAIT_MS = 5_000;

export class SystemdNotifier {
  readonly socket: string;
  readonly #log: NotifyLog;
  readonly #command: string;
  #chain: Promise<void> = Promise.resolve();
  #warned = false;

  /** A notifier when systemd (or a test standing in for it) gave us a NOTIFY_SOCKET, else null. */
  static fromEnv(env: NodeJS.ProcessEnv, log: NotifyLog, command = 'systemd-notify'): SystemdNotifier | null {
    const socket = env.NOTIFY_SOCKET;
    if (socket === undefined || socket === '') return null;
    return new SystemdNotifier(socket, log, command);
  }

  private constructor(socket: string, log: NotifyLog, command: string) {
    this.socket = socket;
    this.#log = log;
    this.#command = command;
  }

  /** Queues one message (all its fields in one datagram, as sd_notify sends them). */
  send(fields: NotifyFields): void {
    const assignments = Object.entries(fields).map(([key, value]) => `${key}=${value}`);
    this.#chain = this.#chain.then(() => this.#run(assignments));
  }

  /** Resolves once every queued message has been sent (or failed), or after a bounded wait. */
  async flush(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, FLUSH_WAIT_MS);
    });
    await Promise.race([this.#chain, limit]);
    clearTimeout(timer);
  }

  #run(assignments: string[]): Promise<void> {
    return new Promise((resolve) => {
      let child: ReturnType<typeof spawn>;
      try {
        child = spawn(this.#command, assignments, {
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { ...process.env, NOTIFY_SOCKET: this.socket },
        });
      } catch (err) {
        // Most spawn failures come as an 'error' event; a few (ENOMEM) are thrown.
        this.#failed(assignments, describeError(err), (err as NodeJS.ErrnoException).code ?? null);
        resolve();
        return;
      }
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
      });
      child.once('error', (err) => {
        this.#failed(assignments, `${err.message}`, (err as NodeJS.ErrnoException).code ?? null);
        resolve();
      });
      child.once('close', (code, signal) => {
        if (code !== 0 && code !== null)
          this.#failed(assignments, stderr.trim() || `exit code ${code}`, null);
        else if (signal !== null) this.#failed(assignments, `signal ${signal}`, null);
        resolve();
      });
    });
  }

  /** Said once per master: a service without the tool logs it at start, not at every reload. */
  #failed(assignments: string[], why: string, errorCode: string | null): void {
    if (this.#warned) return;
    this.#warned = true;
    const hint =
      errorCode === 'ENOENT'
        ? `; ${this.#command} is not installed (Debian/Ubuntu: the systemd package), so systemd never hears READY=1 and times the start out`
        : '';
    this.#log.warn(
      'systemd.notify_failed',
      `Cannot notify systemd at ${this.socket} (${assignments.join(' ')}): ${why}${hint}`,
      { socket: this.socket, message: assignments, errorCode, command: this.#command },
    );
  }
}

/** CLOCK_MONOTONIC in microseconds, the clock systemd reads MONOTONIC_USEC= against (libuv's hrtime). */
export function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}
