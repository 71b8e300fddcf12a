/**
 * The client side of the control socket: `unicorn-ts status|reload|scale|stop|reopen-logs` (the
 * arguments are parsed in src/cli.ts). Each command connects, sends one request and waits for what
 * it asked for to be done: a reload until the new workers are ready or it was rolled back, a scale
 * until the count is ready, a stop until the master has exited.
 */

import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { monotonicNow } from './clock.js';
import {
  CONTROL_PROTOCOL,
  type ControlCommand,
  type ControlReply,
  type ReloadResult,
  type StatusResult,
  type WorkerStatus,
} from './control-protocol.js';
import { describeError, UnicornError } from './errors.js';

/** Exit codes of the control commands. */
export const CONTROL_EXIT = {
  OK: 0,
  /** No master could be reached, or it refused the command. */
  FAILED: 1,
  /** `reload` was not applied (rolled back, or the config did not load): the old workers serve on. */
  RELOAD_FAILED: 2,
} as const;

export type ControlAction = 'status' | 'reload' | 'scale' | 'stop' | 'reopen-logs';
export const CONTROL_ACTIONS: readonly ControlAction[] = ['status', 'reload', 'scale', 'stop', 'reopen-logs'];

export interface ControlRun {
  readonly action: ControlAction;
  /** The socket to use; null: the only master answering in `searchDir`. */
  readonly socket: string | null;
  readonly searchDir: string;
  readonly json: boolean;
  readonly quick: boolean;
  readonly workers: number;
  readonly timeoutMs: number;
}

export interface Output {
  write(text: string): void;
}

/** The master refused or failed a command; `code` is the protocol's error code. */
export class ControlCommandError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export class ControlClient {
  readonly path: string;
  readonly #socket: net.Socket;
  readonly #waiting = new Map<number, (reply: ControlReply) => void>();
  #nextId = 1;
  /** Resolves when the master closes the connection (for `stop`: when it has exited). */
  readonly closed: Promise<void>;

  private constructor(path: string, socket: net.Socket) {
    this.path = path;
    this.#socket = socket;
    let pending = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      pending += chunk;
      for (let newline = pending.indexOf('\n'); newline !== -1; newline = pending.indexOf('\n')) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        let reply: ControlReply;
        try {
          reply = JSON.parse(line) as ControlReply;
        } catch {
          continue;
        }
        const resolve = reply.id === null ? undefined : this.#waiting.get(reply.id);
        if (reply.id !== null) this.#waiting.delete(reply.id);
        // A reply without an id (a request it could not read) answers whatever is waiting.
        (resolve ?? [...this.#waiting.values()][0])?.(reply);
      }
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    void this.closed.then(() => {
      for (const resolve of this.#waiting.values()) {
        resolve({
          v: CONTROL_PROTOCOL,
          id: null,
          ok: false,
          error: { code: 'bad-request', message: 'the master closed the connection before answering' },
        });
      }
      this.#waiting.clear();
    });
  }

  static connect(path: string): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(path);
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        socket.on('error', () => {});
        resolve(new ControlClient(path, socket));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => reject(unreachable(path, err)));
    });
  }

  /**
   * Sends one command and waits for its answer; with `answerWithinMs`, at most that long (a master
   * that is stopped or whose event loop is blocked still accepts connections, in the kernel, and
   * would never answer).
   */
  async request<T>(command: ControlCommand, answerWithinMs?: number): Promise<T> {
    // Closed (by the master, or by --timeout): a request would wait for an answer that cannot come.
    if (this.#socket.destroyed) {
      throw new ControlCommandError('bad-request', 'the connection to the master is closed');
    }
    const id = this.#nextId++;
    let timer: NodeJS.Timeout | undefined;
    const reply = await new Promise<ControlReply | null>((resolve) => {
      this.#waiting.set(id, resolve);
      if (answerWithinMs !== undefined) timer = setTimeout(() => resolve(null), answerWithinMs);
      this.#socket.write(`${JSON.stringify({ v: CONTROL_PROTOCOL, id, ...command })}\n`);
    });
    clearTimeout(timer);
    if (reply === null) {
      this.#waiting.delete(id);
      throw new UnicornError(
        'UNICORN_CONTROL_UNREACHABLE',
        `the master at ${this.path} does not answer (nothing within ${(answerWithinMs ?? 0) / 1000} s): it is stopped (SIGSTOP), or its event loop is blocked`,
      );
    }
    if (!reply.ok) throw new ControlCommandError(reply.error.code, reply.error.message);
    return reply.result as T;
  }

  close(): void {
    this.#socket.destroy();
  }
}

/**
 * How long a master may take to answer a `status`: it answers from its event loop, in milliseconds
 * when the loop turns. One that does not is stopped or stuck, and the command says so rather than
 * waiting out --timeout (600 s by default).
 */
const ANSWER_WITHIN_MS = 10_000;

/** Why a connection failed, in the operator's terms. */
function unreachable(path: string, err: NodeJS.ErrnoException): UnicornError {
  const why =
    err.code === 'ENOENT'
      ? 'there is no control socket there; is the master running, and started with this --pid or --control-socket?'
      : err.code === 'ECONNREFUSED'
        ? 'nobody answers on it: the master that created it is gone (a stale socket, removed by the next start)'
        : err.code === 'EACCES'
          ? `permission denied: only the socket's owner${ownerOf(path)} and root can control this server`
          : describeError(err);
  return new UnicornError('UNICORN_CONTROL_UNREACHABLE', `cannot reach the master at ${path}: ${why}`);
}

function ownerOf(path: string): string {
  try {
    return ` (uid ${lstatSync(path).uid})`;
  } catch {
    return '';
  }
}

/**
 * The masters answering in the default directory. A master that is handing over to a new one
 * (USR2) is left out when the new one answers too: it is on its way out.
 */
async function findInDir(dir: string, answerWithinMs: number): Promise<ControlClient> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith('.ctl'));
  } catch {
    names = [];
  }
  const found: Array<{ client: ControlClient; status: StatusResult }> = [];
  const silent: string[] = [];
  for (const name of names) {
    let client: ControlClient;
    try {
      client = await ControlClient.connect(join(dir, name));
    } catch {
      // Stale, or not ours to talk to: not a candidate.
      continue;
    }
    try {
      found.push({ client, status: await client.request<StatusResult>({ cmd: 'status' }, answerWithinMs) });
    } catch {
      client.close();
      silent.push(name);
    }
  }
  const pids = new Set(found.map((f) => f.status.master.pid));
  const current = found.filter((f) => !pids.has(f.status.master.upgradingTo ?? -1));
  for (const f of found) if (f !== current[0] || current.length !== 1) f.client.close();
  if (current.length === 1) return current[0]!.client;
  const none = `no running master answers in ${dir}${
    silent.length > 0
      ? ` (${silent.join(', ')} accepted the connection but did not answer: stopped, or blocked)`
      : ''
  }`;
  const several = `${current.length} masters answer in ${dir} (${current
    .map((f) => `pid ${f.status.master.pid}: ${f.status.master.app}`)
    .join('; ')})`;
  throw new UnicornError(
    'UNICORN_CONTROL_UNREACHABLE',
    `${current.length === 0 ? none : several}; name one with --pid FILE or --control-socket PATH`,
  );
}

export async function runControl(run: ControlRun, stdout: Output, stderr: Output): Promise<number> {
  // Every command is answered at once by a master whose loop turns, even the long ones (the answer
  // to a reload comes when it is done, but a status first says the master is there to do it).
  const answerWithinMs = Math.min(ANSWER_WITHIN_MS, run.timeoutMs);
  let client: ControlClient;
  try {
    if (run.socket !== null) {
      client = await ControlClient.connect(run.socket);
      try {
        await client.request<StatusResult>({ cmd: 'status' }, answerWithinMs);
      } catch (err) {
        client.close();
        throw err;
      }
    } else {
      client = await findInDir(run.searchDir, answerWithinMs);
    }
  } catch (err) {
    return failed(stderr, err);
  }
  const deadline = monotonicNow() + run.timeoutMs;
  const timer = setTimeout(() => client.close(), run.timeoutMs);
  try {
    const done = await act(client, run, stdout, deadline);
    return done;
  } catch (err) {
    if (monotonicNow() >= deadline) {
      const what = {
        status: 'the status',
        reload: 'the reload to finish',
        scale: `${run.workers} worker(s) to be ready`,
        stop: 'the master to exit',
        'reopen-logs': 'the logs to be reopened',
      }[run.action];
      return failed(
        stderr,
        new Error(`gave up after --timeout ${run.timeoutMs / 1000} s waiting for ${what}`),
      );
    }
    if (err instanceof ControlCommandError && err.code === 'reload-failed') {
      stderr.write(`unicorn-ts: reload failed, the old workers serve on: ${err.message}\n`);
      return CONTROL_EXIT.RELOAD_FAILED;
    }
    return failed(stderr, err);
  } finally {
    clearTimeout(timer);
    client.close();
  }
}

async function act(client: ControlClient, run: ControlRun, out: Output, deadline: number): Promise<number> {
  const print = (json: unknown, text: string) =>
    out.write(run.json ? `${JSON.stringify(json, null, 2)}\n` : `${text}\n`);
  switch (run.action) {
    case 'status': {
      const status = await client.request<StatusResult>({ cmd: 'status' });
      print(status, formatStatus(status));
      return CONTROL_EXIT.OK;
    }
    case 'reload': {
      const result = await client.request<ReloadResult>({ cmd: 'reload' });
      print(
        result,
        `Reloaded: ${result.workerPids.length} worker(s) ready (pids ${result.workerPids.join(', ')})`,
      );
      return CONTROL_EXIT.OK;
    }
    case 'scale': {
      await client.request({ cmd: 'scale', workers: run.workers });
      const status = await waitForCount(client, run.workers, deadline);
      const pids = status.workers.filter((w) => !w.spare).map((w) => w.pid);
      print(
        status,
        `Scaled to ${run.workers} worker(s)${pids.length > 0 ? ` (pids ${pids.join(', ')})` : ''}`,
      );
      return CONTROL_EXIT.OK;
    }
    case 'stop': {
      const { pid } = await client.request<{ pid: number }>({ cmd: 'stop', quick: run.quick });
      await client.closed;
      await waitUntil(() => isGone(pid), deadline, `master pid ${pid} to exit`);
      print({ pid, stopped: true }, `Stopped (master pid ${pid})`);
      return CONTROL_EXIT.OK;
    }
    case 'reopen-logs': {
      await client.request({ cmd: 'reopen-logs' });
      const status = await client.request<StatusResult>({ cmd: 'status' });
      print(
        { pid: status.master.pid, reopened: true },
        `Reopened the logs (master pid ${status.master.pid})`,
      );
      return CONTROL_EXIT.OK;
    }
  }
}

/** Until exactly `count` serving workers are ready and none is still booting or stopping. */
async function waitForCount(client: ControlClient, count: number, deadline: number): Promise<StatusResult> {
  let status = await client.request<StatusResult>({ cmd: 'status' });
  for (;;) {
    const serving = status.workers.filter((w) => !w.spare);
    if (serving.length === count && serving.every((w) => w.state === 'ready')) return status;
    if (monotonicNow() >= deadline) throw new Error(`${count} worker(s) not ready in time`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    status = await client.request<StatusResult>({ cmd: 'status' });
  }
}

async function waitUntil(done: () => boolean, deadline: number, what: string): Promise<void> {
  while (!done()) {
    if (monotonicNow() >= deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Gone, or a zombie its parent has yet to reap. */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

function failed(stderr: Output, err: unknown): number {
  if (err instanceof UnicornError) {
    stderr.write(`unicorn-ts: error: ${err.message}\n  [${err.code}] ${err.hint}\n`);
  } else {
    stderr.write(`unicorn-ts: error: ${describeError(err)}\n`);
  }
  return CONTROL_EXIT.FAILED;
}

// ---- the status table ----------------------------------------------------------------------------

export function formatStatus(status: StatusResult): string {
  const m = status.master;
  const head = [
    `master  pid ${m.pid}  unicorn-ts ${m.version}  up ${formatDuration(m.uptimeMs)}  ${m.state}${
      m.upgradingTo !== null ? ` (upgrading to pid ${m.upgradingTo})` : ''
    }`,
    `app     ${m.app}${m.listening.length > 0 ? `  at ${m.listening.join(', ')}` : ''}`,
    `workers ${m.workers.desired} desired, ${m.workers.ready} ready, ${m.workers.spare} spare;  reloads ${m.reloads.done} done, ${m.reloads.failed} failed`,
  ];
  const columns = ['PID', 'ID', 'STATE', 'UPTIME', 'REQUESTS', 'IN FLIGHT', 'RSS', 'STARTED FOR'];
  const rows = status.workers.map((w: WorkerStatus) => [
    String(w.pid),
    String(w.id),
    w.spare ? `${w.state} (spare)` : w.state,
    formatDuration(w.uptimeMs),
    String(w.requests),
    String(w.inflight),
    w.rss > 0 ? `${(w.rss / 1048576).toFixed(1)} MiB` : '-',
    w.startReason,
  ]);
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [...head, '', line(columns), ...rows.map(line)].join('\n');
}

/** `45s`, `12m03s`, `3h04m`, `2d03h`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${two(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86400)}d${two(Math.floor(s / 3600) % 24)}h`;
}
