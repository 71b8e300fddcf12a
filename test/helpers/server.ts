/**
 * Starting the real CLI. Each server runs in its own process group (so cleanup reaches the workers
 * too), logs JSON to stderr, and is bound to 127.0.0.1:0 unless a test binds elsewhere; the real
 * port is read from the `master.listening` event.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { killGroup, track } from './processes.js';
import { waitFor } from './wait.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = fileURLToPath(new URL('../../dist/src/bin.js', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('../fixtures/apps/', import.meta.url));
export const fixture = (name: string) => FIXTURES + name;

export interface LogLine {
  event?: string;
  msg?: string;
  level?: string;
  role?: string;
  pid?: number;
  [key: string]: unknown;
}

/** A server's lines at error level or worse (by name, or pino's number): what hostile input must never cause. */
export function errorLines(server: { logs: readonly LogLine[] }): LogLine[] {
  return server.logs.filter(
    (l) => l.level === 'error' || l.level === 'critical' || l.level === 'fatal' || Number(l.level) >= 50,
  );
}

/** The error log's levels, least severe first (src/log.ts). */
const LEVELS = ['trace', 'debug', 'info', 'warning', 'error', 'critical'] as const;
export type Level = (typeof LEVELS)[number];

/**
 * The --log-level a command line (or UNICORN_TS_CMD_ARGS) sets, last one winning as in the CLI;
 * 'info' when neither does. A level set in a config file is not seen here.
 */
export function logLevelOf(args: readonly string[], env: Record<string, string | undefined> = {}): Level {
  const words = [...(env.UNICORN_TS_CMD_ARGS ?? '').split(/\s+/).filter(Boolean), ...args];
  let level: Level = 'info';
  words.forEach((word, i) => {
    const value = word.startsWith('--log-level=')
      ? word.slice('--log-level='.length)
      : word === '--log-level'
        ? words[i + 1]
        : undefined;
    if (value !== undefined && (LEVELS as readonly string[]).includes(value)) level = value as Level;
  });
  return level;
}

/**
 * Throws when a line at `level` cannot reach the log: waiting for it would only time out, and a
 * caller that swallowed the timeout would pass without having seen anything.
 */
export function assertLoggable(event: string, level: Level, serverLevel: Level): void {
  if (LEVELS.indexOf(level) < LEVELS.indexOf(serverLevel)) {
    throw new Error(
      `waiting for ${event} at ${level} level can never succeed: the server runs with --log-level ${serverLevel}, which filters it out`,
    );
  }
}

export interface StartOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Wait for this event before resolving; null to resolve at once. Default `master.ready`. */
  waitFor?: string | null;
  /** The least severe level the awaited event may be logged at. Default `info`. */
  waitForLevel?: Level;
  /** Add `-b 127.0.0.1:0` unless the args bind already. Default true. */
  bind?: boolean;
  timeoutMs?: number;
  /**
   * What runs the CLI script, program first: default `[process.execPath]`. A copy of node, or
   * `['prlimit', '--nofile=64', process.execPath]`.
   */
  command?: string[];
  /** The CLI script to run; default this checkout's dist/src/bin.js. */
  cli?: string;
  /** Standard input: closed by default; a pipe for a program driven through it (`child.stdin`). */
  stdin?: 'ignore' | 'pipe';
}

export class Server {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The --log-level from the command line: lines less severe never arrive. */
  readonly logLevel: Level;
  readonly logs: LogLine[] = [];
  stdout = '';
  stderrText = '';
  #waiters: Array<() => void> = [];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], opts: StartOptions = {}) {
    const [program, ...leading] = opts.command ?? [process.execPath];
    this.child = spawn(program!, [...leading, opts.cli ?? CLI, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env, FORCE_COLOR: '0' },
      stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
      detached: true,
    });
    track(this.child);
    this.pid = this.child.pid!;
    this.logLevel = logLevelOf(args, { ...process.env, ...opts.env });
    let pending = '';
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderrText += chunk;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('{')) {
          try {
            this.logs.push(JSON.parse(line) as LogLine);
          } catch {
            // A partial or non-JSON line: kept in stderrText only.
          }
        }
      }
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.exit = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        for (const wake of this.#waiters.splice(0)) wake();
        resolve({ code, signal });
      });
    });
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  events(name: string): LogLine[] {
    return this.logs.filter((l) => l.event === name);
  }

  /**
   * Resolves with the first log line (from index `after`) matching the event and predicate.
   * `level` is the least severe level the awaited line may have (most events are info); waiting for
   * a line the server's --log-level filters out throws at once.
   */
  async waitForEvent(
    name: string,
    predicate: (l: LogLine) => boolean = () => true,
    { timeoutMs = 30_000, after = 0, level = 'info' as Level } = {},
  ): Promise<LogLine> {
    assertLoggable(name, level, this.logLevel);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.slice(after).find((l) => l.event === name && predicate(l));
      if (found) return found;
      if (this.exited)
        throw new Error(`server exited before logging ${name}\n${this.stderrText.slice(-3000)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${name}\n${this.stderrText.slice(-3000)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 500));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The first bound URL (from `master.listening`). */
  get url(): string {
    const line = this.logs.find((l) => l.event === 'master.listening');
    if (!line) throw new Error('server is not listening yet');
    return line.url as string;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** Pids of workers that logged `worker.ready` and have not been reaped, oldest (by age) first. */
  liveWorkerPids(): number[] {
    const exited = new Set(this.events('worker.exited').map((l) => l.workerPid as number));
    const ready = this.events('worker.ready').sort((x, y) => (x.age as number) - (y.age as number));
    return [...new Set(ready.map((l) => l.pid as number))].filter((p) => !exited.has(p));
  }

  signal(signal: NodeJS.Signals): void {
    process.kill(this.pid, signal);
  }

  async waitForExit(timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return waitFor('server exit', () => (this.exited ? this.exit : undefined), { timeoutMs });
  }

  /**
   * Cleanup: a graceful stop, then the whole group is killed whatever happened. Best effort by
   * design, since it runs in whatever state a test left the server (a request still in flight, a
   * worker hung on purpose); a test that asserts on the stop itself signals TERM and awaits
   * waitForExit(), which fails loudly.
   */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (!this.exited) {
      try {
        this.signal('SIGTERM');
        await this.waitForExit(timeoutMs);
      } catch {
        // The kill below ends it either way.
      }
    }
    killGroup(this.pid);
  }
}

const started = new Set<Server>();

export async function startServer(args: string[], opts: StartOptions = {}): Promise<Server> {
  const bind = opts.bind ?? true;
  const hasBind = args.some((a) => a === '-b' || a === '--bind' || a.startsWith('--bind='));
  const full = [...args, '--log-format', 'json', ...(bind && !hasBind ? ['-b', '127.0.0.1:0'] : [])];
  const server = new Server(full, opts);
  started.add(server);
  const event = opts.waitFor === undefined ? 'master.ready' : opts.waitFor;
  if (event !== null) {
    const line = await server.waitForEvent(event, () => true, {
      timeoutMs: opts.timeoutMs ?? 60_000,
      level: opts.waitForLevel ?? 'info',
    });
    // The master's and the workers' lines share a pipe in no fixed order: wait for every worker's own
    // ready line too, so liveWorkerPids() is complete when this resolves.
    for (const pid of (line.workerPids as number[] | undefined) ?? []) {
      await server.waitForEvent('worker.ready', (l) => l.pid === pid, {
        timeoutMs: opts.timeoutMs ?? 60_000,
      });
    }
  }
  return server;
}

/** For `after()`: stops every server this file started. */
export async function stopAll(): Promise<void> {
  await Promise.all([...started].map((s) => s.stop()));
  started.clear();
}

/** Runs the CLI to completion (for --check-config, --print-config, errors). */
export async function runCli(
  args: string[],
  opts: StartOptions = {},
): Promise<{ code: number | null; stdout: string; stderr: string; logs: LogLine[] }> {
  const server = new Server(args, opts);
  started.add(server);
  const { code } = await server.waitForExit(opts.timeoutMs ?? 60_000);
  await server.stop();
  return { code, stdout: server.stdout, stderr: server.stderrText, logs: server.logs };
}
