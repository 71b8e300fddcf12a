/**
 * The control socket's protocol, shared by the master (src/master/control.ts) and the
 * `unicorn-ts status|reload|scale|stop|reopen-logs` commands (src/control-client.ts), and where the
 * socket lives. One JSON object per line each way over a unix stream socket: the client writes
 * requests, the master answers each with the same `id`. Every message carries the protocol version
 * `v`; a master answers a request of a version it does not speak with an `unsupported-version` error
 * naming the versions it does, so an old client and a new master fail clearly, never half-understood.
 */

import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const CONTROL_PROTOCOL = 1;

/** The longest request line the master reads; a client sending more is cut off. */
export const MAX_REQUEST_BYTES = 64 * 1024;

export type ControlCommand =
  | { cmd: 'status' }
  /** A HUP reload; answered once the new workers are ready, or the reload was rolled back. */
  | { cmd: 'reload' }
  /** Set the worker count (TTIN/TTOU to a number); answered at once, the client waits on `status`. */
  | { cmd: 'scale'; workers: number }
  /** TERM (graceful) or QUIT (quick); answered at once, the connection closes when the master exits. */
  | { cmd: 'stop'; quick: boolean }
  /** USR1: answered once the master has reopened its logs and signalled the workers to. */
  | { cmd: 'reopen-logs' };

export type ControlRequest = ControlCommand & { v: number; id: number };

export type ControlReply =
  | { v: typeof CONTROL_PROTOCOL; id: number; ok: true; result: unknown }
  | {
      v: typeof CONTROL_PROTOCOL;
      id: number | null;
      ok: false;
      error: { code: ControlErrorCode; message: string; supported?: number[] };
    };

export type ControlErrorCode =
  | 'unsupported-version'
  | 'bad-request'
  | 'unknown-command'
  | 'stopping'
  | 'reload-failed';

export interface WorkerStatus {
  readonly pid: number;
  /** The worker's age: 1, 2, 3... in spawn order over the master's life (the logs' `age`). */
  readonly id: number;
  readonly state: string;
  /** A spare (--standby), not counted toward --workers. */
  readonly spare: boolean;
  /** Epoch milliseconds of its fork. */
  readonly startedAt: number;
  readonly uptimeMs: number;
  /** Requests served and in flight, as of its last heartbeat. */
  readonly requests: number;
  readonly inflight: number;
  /** Resident set size in bytes, as of its last heartbeat (0 before the first). */
  readonly rss: number;
  /**
   * Why it was started: `boot`, `scale`, `reload`, `standby`, or why the worker it replaced left
   * (`crash`, `timeout`, `boot-timeout`, `max-requests`, `max-memory`, `uncaught`...).
   */
  readonly startReason: string;
}

export interface MasterStatus {
  readonly pid: number;
  readonly version: string;
  readonly protocol: typeof CONTROL_PROTOCOL;
  readonly app: string;
  readonly startedAt: number;
  readonly uptimeMs: number;
  readonly state: 'running' | 'reloading' | 'stopping';
  readonly workers: { desired: number; ready: number; spare: number };
  readonly reloads: { done: number; failed: number };
  /** A USR2 upgrade under way: the new master's pid. */
  readonly upgradingTo: number | null;
  readonly listening: string[];
  readonly controlSocket: string;
}

export interface StatusResult {
  readonly master: MasterStatus;
  readonly workers: WorkerStatus[];
}

export interface ReloadResult {
  readonly ok: boolean;
  /** Why it failed (the config did not load, a new worker could not boot, the master is stopping). */
  readonly reason: string | null;
  readonly workerPids: number[];
}

export interface ControlSocketSettings {
  readonly controlSocket: string | null;
  readonly pidfile: string | null;
}

/** `--control-socket none` turns the control socket off. */
export const CONTROL_SOCKET_OFF = 'none';

/**
 * Where a master without --pid or --control-socket puts its socket: a directory of the user's own,
 * one socket per master named by its pid (`unicorn-ts status` looks there when given no path).
 */
export function defaultControlDir(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime !== undefined && runtime !== '') return join(runtime, 'unicorn-ts');
  return join(tmpdir(), `unicorn-ts-${process.geteuid?.() ?? 'user'}`);
}

/** `/run/app.pid` -> `/run/app.ctl`; a pidfile without `.pid` gets `.ctl` added. */
export function controlSocketBesidePidfile(pidfile: string): string {
  return pidfile.endsWith('.pid') ? `${pidfile.slice(0, -'.pid'.length)}.ctl` : `${pidfile}.ctl`;
}

/**
 * The control socket of a master with these settings: --control-socket, else beside the pidfile,
 * else `<defaultControlDir>/<pid>.ctl`; null when turned off. Relative paths are resolved from `cwd`,
 * as the pidfile's are.
 */
export function controlSocketPath(settings: ControlSocketSettings, pid: number, cwd: string): string | null {
  if (settings.controlSocket === CONTROL_SOCKET_OFF) return null;
  if (settings.controlSocket !== null) return resolve(cwd, settings.controlSocket);
  if (settings.pidfile !== null) return resolve(cwd, controlSocketBesidePidfile(settings.pidfile));
  return join(defaultControlDir(), `${pid}.ctl`);
}
