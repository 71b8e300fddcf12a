/**
 * The master process: it owns the listening sockets, forks workers with node:cluster, and keeps
 * exactly --workers of them serving. It never runs app code.
 *
 * The loop is the whole specification. Signal handlers and cluster events only record what happened
 * and wake the loop; each turn of the loop then
 *
 *   1. dispatches one queued signal,
 *   2. reaps exited workers (logs why, runs hooks, decides on halting or backing off),
 *   3. kills workers that are silent past --timeout or stopping past their grace,
 *   4. keeps the worker count: spawns what is missing, stops retiring workers whose replacement is ready,
 *   5. answers the requests of run()'s handle (src/run.ts) that the pool has now settled,
 *
 * and sleeps until the next event or deadline.
 */

import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import cluster from 'node:cluster';
import { dirname, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { isatty } from 'node:tty';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseAppSpec, resolveAppFile } from '../app-module.js';
import { monotonicNow } from '../clock.js';
import { type ResolvedConfig, serializableSettings } from '../config.js';
import {
  CONTROL_PROTOCOL,
  controlSocketPath,
  type ReloadResult,
  type StatusResult,
} from '../control-protocol.js';
import { releaseSignals } from '../early-signals.js';
import { describeError, UnicornError } from '../errors.js';
import { maxHeaderSize } from '../http/limits.js';
import {
  EXIT_CODES,
  formatFrame,
  IPC_NS,
  isWorkerMessage,
  STACK_PROBE_FD,
  type StackProbeReply,
  WORKER_BOOT_ENV,
  type WorkerBoot,
  type WorkerMessage,
} from '../ipc.js';
import type { Log, Logger } from '../log.js';
import type { HookName } from '../settings.js';
import { MASTER_SIGNALS, type MasterSignal, type SignalHandlers, signalHandlerName } from '../signals.js';
import { ControlServer, type ControlTarget } from './control.js';
import { RequestDispatcher } from './dispatcher.js';
import { FIRST_PRIME_FD, needEarlyListen } from './early-listen.js';
import { forkWorker } from './fork.js';
import { Pidfile } from './pidfile.js';
import { monotonicUsec, SystemdNotifier } from './sd-notify.js';
import {
  closeSocket,
  inheritedFdsEnv,
  type ListenSocket,
  openSockets,
  removeUnusedSocketFile,
  socketFd,
  unixSocketMode,
} from './sockets.js';
import { StackProbe } from './stack-probe.js';
import { PROXY_HEADER_MAX, StickyRouter } from './sticky.js';
import { currentProcessView, npmShellParent, type ProcessView } from './supervisor.js';
import { type MasterView, restartReason, Telemetry } from './telemetry.js';
import { describeHeld, WorkerHandle } from './worker-handle.js';

export interface ArbiterOptions {
  readonly config: ResolvedConfig;
  /** Resolves the configuration again from the same sources (HUP re-reads the config file). */
  readonly reloadConfig: () => Promise<ResolvedConfig>;
  readonly appModule: string;
  readonly configFile: string | null;
  /** The directory APP_MODULE is resolved from (after --chdir). */
  readonly cwd: string;
  /** The directory the command was started from (before --chdir): a USR2 re-exec runs from there. */
  readonly startDir: string;
  readonly log: Log;
  readonly version: string;
  /**
   * run() with a handler (src/run.ts): each worker runs the calling program again, with the worker
   * runtime imported first, and takes the handler from the program's own run() call.
   */
  readonly runEntry?: { readonly file: string; readonly args: readonly string[] };
  /** More environment for the workers (run()'s `env`, which leaves the calling process's alone). */
  readonly workerEnv?: Readonly<Record<string, string>>;
  /** What run()'s handle waits for. */
  readonly events?: MasterEvents;
}

/** Milestones the master reports to run()'s handle (src/run.ts). */
export interface MasterEvents {
  /** The first full set of workers is ready (`master.ready`). */
  ready?(info: { readonly workerPids: number[]; readonly urls: string[] }): void;
  /** The master is stopping before it ever was ready (`master.halt`). */
  halted?(reason: string, err?: unknown): void;
}

/** What run()'s handle asks of the master: queued like a signal, answered when done. */
export type MasterCommand =
  | { readonly act: 'reload'; readonly answer: Answer }
  | { readonly act: 'scale'; readonly workers: number; readonly answer: Answer };

/** Resolved with the serving workers' pids, or rejected with why not. */
export interface Answer {
  resolve(workerPids: number[]): void;
  reject(err: Error): void;
}

/** What server hooks receive as `server`. */
export interface ServerApi {
  readonly pid: number;
  readonly log: Logger;
  readonly settings: ResolvedConfig['settings'];
  readonly numWorkers: number;
  readonly workerPids: number[];
}

/**
 * A worker that dies before it is ready, or this soon after, is crash-looping (a broken deploy, an
 * app that throws on its first request). Later deaths (an OOM kill, an operator's kill -9) are
 * replaced at once, however many there are.
 */
const CRASH_WINDOW_MS = 1_000;
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 30_000;
const QUICK_STOP_GRACE_MS = 2_000;
/** node:cluster's own stdio for workers: the master's stdin/out/err and the IPC channel. */
const WORKER_STDIO = ['inherit', 'inherit', 'inherit', 'ipc'];
/** How long a timed-out worker's stack probe may take before the worker is killed anyway. */
const STACK_PROBE_WAIT_MS = 2000;
/** After a timeout, how long SIGABRT has before SIGKILL. */
const ABORT_GRACE_MS = 1_000;
/** The loop never sleeps longer than this, so deadlines are checked at least this often. */
const MAX_SLEEP_MS = 1_000;

const WORKER_ENTRY = fileURLToPath(new URL('../../workers/entry.js', import.meta.url));
/** For run() with a handler: imported before the calling program in each worker. */
const RUN_WORKER_PRELUDE = pathToFileURL(
  fileURLToPath(new URL('../../workers/run-entry.js', import.meta.url)),
).href;

type Exit = { worker: WorkerHandle; code: number | null; signal: NodeJS.Signals | null };

export class Arbiter implements SignalHandlers, ControlTarget {
  readonly #opts: ArbiterOptions;
  readonly #log: Log;
  readonly #signalQueue: Array<MasterSignal | MasterCommand> = [];
  /** The listeners start() installs, removed when the master is done: run() leaves the process as it found it. */
  readonly #signalListeners: Array<[MasterSignal, () => void]> = [];
  /** run()'s reloads in progress: answered at `reload.done` or `reload.failed`. */
  #reloadAnswers: Answer[] = [];
  /** run()'s scale requests: answered once the pool has settled. */
  #settleAnswers: Answer[] = [];
  /** Control-socket actions, run by the loop in turn with the signals (control.ts). */
  readonly #commands: Array<() => Promise<void> | void> = [];
  #control: ControlServer | null = null;
  /** Control-socket reloads waiting for the reload under way to be done or rolled back. */
  #reloadWaiters: Array<(result: ReloadResult) => void> = [];
  #reloads = { done: 0, failed: 0 };
  /** Why workers left that are yet to be replaced: the next spawned workers' start reasons. */
  readonly #restartReasons: string[] = [];
  /** When the master started: the wall clock, shown by `unicorn-ts status`; the monotonic clock, for its uptime. */
  readonly #startedAtWall = Date.now();
  readonly #startedAt = monotonicNow();
  readonly #exits: Exit[] = [];
  readonly #workers = new Map<number, WorkerHandle>();
  /** --dispatch request: keep-alive connections waiting here for their next request. */
  readonly #dispatcher = new RequestDispatcher();
  /** --sticky: the master accepts and routes each connection by its client's address; null otherwise. */
  #sticky: StickyRouter | null = null;
  #sockets: ListenSocket[] = [];
  #pidfile: Pidfile | null = null;
  #target: number;
  #age = 0;
  #wake: (() => void) | null = null;
  /** A wake-up that came while the loop was not sleeping; the next sleep() returns at once. */
  #wakePending = false;
  /** Sockets not yet switched to listening: each worker spawned gets copies until one has (early-listen.ts). */
  #unprimed: ListenSocket[] = [];
  /** Set when the master is stopping; the loop ends once no worker is left. */
  #stopping: { graceful: boolean; exitCode: number } | null = null;
  #everReady = false;
  /** Some worker has been ready at least once (the first-boot pacing in manageWorkers). */
  #anyReady = false;
  #listeningLogged = false;
  #failures = 0;
  #nextSpawnAt = 0;
  #config: ResolvedConfig;
  #stopWatching: (() => void) | null = null;
  /**
   * A HUP in progress: the serving workers it replaces, by age, and the age of the first worker it
   * forked (every worker from before it, spares included, has the old app loaded).
   */
  #reload: {
    startedAt: number;
    oldAges: Set<number>;
    firstNewAge: number;
    /** What a rollback goes back to: the old workers run with it. */
    oldConfig: ResolvedConfig;
    oldTarget: number;
  } | null = null;
  /** A USR2 upgrade: the new master, which shares (and owns after us) the listening sockets. */
  #upgrade: { pid: number } | null = null;
  /** Unix socket files inherited in an upgrade: removed at exit if this master turns out the last. */
  #inheritedUnixPaths: string[] = [];
  /** Our parent at start: for a master started by USR2, the old master. */
  readonly #parentAtStart = process.ppid;
  /** --metrics-bind and --statsd-host; null when both are off. */
  #telemetry: Telemetry | null = null;
  /** When the loop last went round: /healthz fails when it stops turning. */
  #lastTurnAt = monotonicNow();
  /** systemd's Type=notify protocol, when $NOTIFY_SOCKET names a socket (sd-notify.ts). */
  readonly #systemd: SystemdNotifier | null;

  constructor(opts: ArbiterOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#config = opts.config;
    this.#target = opts.config.settings.workers;
    this.#dispatcher.wake = () => this.wakeUp();
    this.#systemd = SystemdNotifier.fromEnv(process.env, opts.log);
  }

  get settings(): ResolvedConfig['settings'] {
    return this.#config.settings;
  }

  get api(): ServerApi {
    const workers = [...this.#workers.values()];
    return {
      pid: process.pid,
      log: this.#log.plain,
      settings: this.settings,
      numWorkers: this.#target,
      workerPids: workers.map((w) => w.pid),
    };
  }

  /** Runs the master until it stops; resolves with the process exit code. */
  async run(): Promise<number> {
    const code = await this.start();
    if (code !== null) {
      this.removeSignalListeners();
      return code;
    }
    for (;;) {
      this.#lastTurnAt = monotonicNow();
      const signal = this.#signalQueue.shift();
      if (signal !== undefined) await this.dispatch(signal);
      for (let command = this.#commands.shift(); command; command = this.#commands.shift()) await command();
      await this.reapWorkers();
      this.murderWorkers();
      await this.manageWorkers();
      this.#dispatcher.dispatch(this.#workers.values());
      this.#sticky?.dispatch();
      this.answerSettled();
      if (this.#stopping !== null && this.#workers.size === 0 && this.#exits.length === 0) break;
      if (this.#signalQueue.length === 0) await this.sleep();
    }
    return this.finish(this.#stopping.exitCode);
  }

  // ---- start and finish ------------------------------------------------------------------------

  private async start(): Promise<number | null> {
    const s = this.settings;
    process.title = `unicorn-ts: master [${s.procName ?? this.#opts.appModule}]`;
    this.#log.info('master.starting', `Starting unicorn-ts ${this.#opts.version}`, {
      version: this.#opts.version,
      workers: this.#target,
      workerClass: s.workerClass,
      node: process.version,
    });
    for (const spec of MASTER_SIGNALS) {
      const listener = () => this.enqueue(spec.signal);
      this.#signalListeners.push([spec.signal, listener]);
      process.on(spec.signal, listener);
    }
    // The executable held these until now; what came while it loaded is handled as if sent now.
    for (const signal of releaseSignals()) this.enqueue(signal);
    this.warnAboutSupervisor(currentProcessView());
    try {
      if (s.pidfile !== null) {
        this.#pidfile = new Pidfile(s.pidfile);
        this.#pidfile.create(process.pid);
      }
      await this.runHook('onStarting', this.api);
      this.#sockets = await openSockets(s.bind, process.env, process.pid, unixSocketMode(s.umask));
      this.#telemetry = await Telemetry.open(
        s,
        this.telemetryView(),
        this.#log,
        this.#opts.cwd,
        this.#sockets.some((socket) => socket.origin === 'upgrade'),
      );
      await this.openControl();
    } catch (err) {
      this.#log.critical('master.halt', `Cannot start: ${describeError(err)}`, { err });
      this.#control?.close();
      this.#opts.events?.halted?.(`Cannot start: ${describeError(err)}`, err);
      for (const socket of this.#sockets)
        closeSocket(socket, this.#upgrade === null ? {} : { unlink: false });
      this.#pidfile?.remove(process.pid);
      return EXIT_CODES.CONFIG_ERROR;
    }
    this.#inheritedUnixPaths = this.#sockets.flatMap((socket) =>
      socket.origin === 'upgrade' && socket.bind.kind === 'unix' ? [socket.bind.path] : [],
    );
    if (s.sticky) this.startSticky();
    else this.#unprimed = needEarlyListen(this.#sockets);
    const entry = this.#opts.runEntry;
    cluster.setupPrimary({
      exec: entry?.file ?? WORKER_ENTRY,
      args: [...(entry?.args ?? [])],
      execArgv: entry ? [...process.execArgv, '--import', RUN_WORKER_PRELUDE] : process.execArgv,
      cwd: this.#opts.cwd,
      stdio: WORKER_STDIO,
    });
    if (s.reload) await this.startReloader();
    return null;
  }

  /** What /metrics, /healthz and /readyz read of the master. */
  private telemetryView(): MasterView {
    const arbiter = this;
    return {
      get stopping() {
        return arbiter.#stopping !== null;
      },
      get lastTurnAt() {
        return arbiter.#lastTurnAt;
      },
      get target() {
        return arbiter.#target;
      },
      workers: () => this.#workers.values(),
    };
  }

  /** --sticky: the master accepts on its sockets from now on (connections wait here for a worker). */
  private startSticky(): void {
    const s = this.settings;
    this.#sticky = new StickyRouter({
      forwardedAllowIps: s.forwardedAllowIps,
      forwarderHeaders: s.forwarderHeaders,
      proxyProtocol: s.proxyProtocol,
      headerTimeoutMs: s.headerTimeout * 1000,
      maxHeadBytes:
        maxHeaderSize({
          line: s.limitRequestLine,
          fields: s.limitRequestFields,
          fieldSize: s.limitRequestFieldSize,
          body: s.limitRequestBody,
          headerMap: s.headerMap,
        }) + PROXY_HEADER_MAX,
      backlog: s.backlog,
      acceptFailed: (err) =>
        this.#log.warn(
          'master.accept_failed',
          `--sticky: cannot accept a connection: ${describeError(err)}`,
          {
            err,
            errorCode: (err as NodeJS.ErrnoException).code ?? null,
          },
        ),
    });
    this.#sticky.listen(
      this.#sockets.map((socket) => socket.handle),
      () => this.#workers.values(),
    );
  }

  /**
   * The control socket. One set with --control-socket must work, so failing stops the start; the
   * default one is a convenience, and a problem with it (a read-only runtime directory, one taken by
   * another user) is a warning.
   */
  private async openControl(): Promise<void> {
    const s = this.settings;
    const path = controlSocketPath(s, process.pid, process.cwd());
    if (path === null) return;
    const explicit = s.controlSocket !== null;
    try {
      const privateDir = !explicit && s.pidfile === null;
      this.#control = await ControlServer.open({ path, privateDir, target: this, log: this.#log });
    } catch (err) {
      if (explicit) throw err;
      this.#log.warn('control.failed', `No control socket: ${describeError(err)}`, { path, err });
      return;
    }
    this.#log.info('control.listening', `Control socket at ${path}`, { path });
  }

  /** Set-ups where a stop or an orphan does not reach this master (supervisor.ts). */
  private warnAboutSupervisor(view: ProcessView): void {
    const shell = npmShellParent(view);
    if (shell !== null) {
      const script = view.npmLifecycleEvent;
      this.#log.warn(
        'master.shell_parent',
        `Started by the npm script "${script}" through ${shell} -c (pid ${view.ppid}), which does not pass TERM or HUP on: a stop sent to npm (docker stop, kill) will not drain this master. Start the script with exec ("${script}": "exec unicorn-ts ...") or run unicorn-ts directly`,
        { shell, shellPid: view.ppid, script },
      );
    }
    if (view.pid === 1) {
      this.#log.warn(
        'master.pid1',
        'Running as PID 1: workers are reaped, but not orphaned subprocesses of the app (Node waits only for its own children); run under an init (tini, docker run --init) if the app starts subprocesses',
        {},
      );
    }
  }

  /** --reload: a changed file queues a reload, exactly as SIGHUP would. */
  private async startReloader(): Promise<void> {
    // Loaded only with --reload: the file watcher is a development tool.
    const { watchForChanges } = await import('./reloader.js');
    let appDir = this.#opts.cwd;
    try {
      appDir = dirname(resolveAppFile(parseAppSpec(this.#opts.appModule).path, this.#opts.cwd));
    } catch {
      // The app cannot be found yet; watch the working directory so that creating it reloads.
    }
    const paths = [appDir, ...this.settings.reloadExtraFiles.map((f) => resolve(this.#opts.cwd, f))];
    const { reloadInclude: include, reloadExclude: exclude } = this.settings;
    this.#stopWatching = watchForChanges(
      { paths, include, exclude },
      {
        onChange: (files) => {
          const file = files.at(-1)!;
          // A branch switch changes hundreds of files: the message names a few, the field all.
          const named =
            files.length > 5
              ? `${files.slice(0, 5).join(', ')} and ${files.length - 5} more`
              : files.join(', ');
          this.#log.info('reload.started', `Changed: ${named}; reloading`, { file, files });
          this.enqueue('SIGHUP');
        },
        onError: (err) => {
          const msg = `--reload: watching failed, changes may be missed: ${describeError(err)}`;
          this.#log.warn('reload.failed', msg, { err });
        },
        onReady: () => {
          this.#log.info('reload.started', `Watching ${paths.join(', ')} for changes (--reload)`, {
            paths,
            include,
            exclude,
          });
        },
      },
    );
  }

  private async finish(code: number): Promise<number> {
    this.#stopWatching?.();
    this.#control?.close();
    for (const socket of this.#sockets) closeSocket(socket, this.#upgrade === null ? {} : { unlink: false });
    this.#sockets = [];
    // As nginx: an inherited socket file is ours to remove only once the master that handed it over
    // is gone (we were reparented) and we start no successor ourselves.
    if (this.#upgrade === null && process.ppid !== this.#parentAtStart) {
      for (const path of this.#inheritedUnixPaths) await removeUnusedSocketFile(path);
    }
    await this.runHook('onExit', this.api);
    await this.#systemd?.flush();
    // Last: until now /readyz has said 503, so balancers stopped sending before the sockets closed.
    await this.#telemetry?.close();
    this.#pidfile?.remove(process.pid);
    this.#log.info('master.stopped', `Shutting down: Master (exit code ${code})`, { exitCode: code });
    this.removeSignalListeners();
    const gone = new UnicornError('UNICORN_RUN_STOPPED', 'the master stopped before it could answer');
    for (const answer of this.#reloadAnswers.splice(0)) answer.reject(gone);
    for (const answer of this.#settleAnswers.splice(0)) answer.reject(gone);
    return code;
  }

  private removeSignalListeners(): void {
    for (const [signal, listener] of this.#signalListeners.splice(0)) process.off(signal, listener);
  }

  // ---- signals ---------------------------------------------------------------------------------

  enqueue(signal: MasterSignal | MasterCommand): void {
    this.#signalQueue.push(signal);
    this.wakeUp();
  }

  private async dispatch(signal: MasterSignal | MasterCommand): Promise<void> {
    if (typeof signal !== 'string') return this.command(signal);
    const name = signal.slice(3).toLowerCase();
    if (this.#stopping !== null && signal !== 'SIGINT' && signal !== 'SIGQUIT') {
      this.#log.info('signal.ignored', `Ignoring signal ${name} while stopping`, { signal: name });
      return;
    }
    this.#log.info('signal.received', `Handling signal: ${name}`, { signal: name });
    await this[signalHandlerName(signal)]();
  }

  // One handler per signal in MASTER_SIGNALS (SignalHandlers makes a missing one a compile error).

  /** run()'s handle: a reload (as HUP), or an exact worker count. */
  private async command(command: MasterCommand): Promise<void> {
    if (this.#stopping !== null) {
      command.answer.reject(
        new UnicornError('UNICORN_RUN_STOPPED', `cannot ${command.act}: the master is stopping`),
      );
      return;
    }
    if (command.act === 'scale') {
      this.setWorkerCount(command.workers);
      this.#settleAnswers.push(command.answer);
      return;
    }
    this.#reloadAnswers.push(command.answer);
    await this.reload();
  }

  /** Every worker serving or in standby, as many as asked: what a scale() waits for. */
  private answerSettled(): void {
    if (this.#settleAnswers.length === 0 || this.#reload !== null) return;
    if (!poolSettled([...this.#workers.values()], this.#target)) return;
    const pids = this.servingPids();
    for (const answer of this.#settleAnswers.splice(0)) answer.resolve(pids);
  }

  /** The workers serving now (ready and counted). */
  servingPids(): number[] {
    return [...this.#workers.values()].filter((w) => w.counted && w.state === 'ready').map((w) => w.pid);
  }

  handleTerm(): void {
    this.stop(true, EXIT_CODES.OK);
  }

  handleInt(): void {
    this.stop(false, this.#stopping?.exitCode ?? EXIT_CODES.OK);
  }

  handleQuit(): void {
    this.handleInt();
  }

  handleTtin(): void {
    this.setWorkerCount(this.#target + 1);
  }

  handleTtou(): void {
    this.setWorkerCount(countAfterTtou(this.#target));
  }

  async handleHup(): Promise<void> {
    await this.reload();
  }

  handleWinch(): void {
    // A terminal sends WINCH to the processes in its foreground whenever its window is resized, so a
    // master run in one would stop every worker at each resize. As in Gunicorn, which acts on WINCH
    // only when daemonized, it is ignored there (TTOU or `unicorn-ts scale 0` do the same on purpose).
    if (inTerminal()) {
      this.#log.info(
        'signal.ignored',
        'Ignoring signal winch: the master runs in a terminal, which sends it when its window is resized',
        { signal: 'winch', reason: 'terminal' },
      );
      return;
    }
    this.#log.info('workers.count', 'Stopping all workers gracefully; the master keeps its sockets', {
      from: this.#target,
      to: 0,
    });
    this.setWorkerCount(0);
  }

  handleUsr2(): void {
    this.reexec();
  }

  handleUsr1(): void {
    // A file that cannot be reopened is logged (logs.failed) and the old one kept.
    const reopened = this.#log.reopen();
    for (const worker of this.#workers.values()) worker.reopenLogs();
    if (reopened) this.#log.info('logs.reopened', 'Reopened log files', {});
  }

  /** Graceful: TERM and wait --graceful-timeout. Quick: QUIT and wait 2 s. Then KILL (murderWorkers). */
  private stop(graceful: boolean, exitCode: number): void {
    const wasGraceful = this.#stopping?.graceful ?? true;
    this.#stopping = { graceful: graceful && wasGraceful, exitCode };
    this.#log.info('master.stopping', graceful ? 'Shutting down gracefully' : 'Shutting down quickly', {
      graceful,
      workers: this.#workers.size,
    });
    this.#dispatcher.stop(this.#workers.values());
    this.#sticky?.stop();
    this.settleReload({ ok: false, reason: 'the master is stopping', workerPids: [] });
    // After a USR2 the new master is (or is about to be) systemd's main pid: a STOPPING=1 from this
    // one would stop the whole service.
    if (this.#upgrade === null) this.#systemd?.send({ STOPPING: 1, STATUS: 'Stopping' });
    // Closing the master's copies first: once every worker has closed its own, the port closes.
    for (const socket of this.#sockets) closeSocket(socket, this.#upgrade === null ? {} : { unlink: false });
    this.#sockets = [];
    const now = monotonicNow();
    for (const worker of this.#workers.values()) {
      if (graceful) worker.stop('master stopping', now, this.settings.gracefulTimeout * 1000);
      else worker.quickStop(now, QUICK_STOP_GRACE_MS);
    }
  }

  /**
   * HUP: re-read the configuration, then replace every worker. New workers import the app afresh;
   * each old worker is stopped only once a new one is ready (manageWorkers), so capacity never drops.
   * If a new worker cannot boot, the reload is rolled back and the old workers keep serving.
   * Spares (--standby) have the old app loaded: they wait out the reload, neither promoted nor
   * replaced, and go once it is done; a rolled-back reload keeps them, so nothing boots the broken
   * app again.
   */
  private async reload(): Promise<void> {
    const oldConfig = this.#config;
    const oldTarget = this.#target;
    // systemd counts the reload from this instant and waits for the READY=1 that ends it.
    this.#systemd?.send({ RELOADING: 1, MONOTONIC_USEC: monotonicUsec(), STATUS: 'Reloading' });
    try {
      this.#config = await this.#opts.reloadConfig();
    } catch (err) {
      const reason = `configuration not applied: ${describeError(err)}`;
      this.#log.error('reload.failed', `Reload failed, ${reason}`, { err });
      this.#telemetry?.reloaded('failed');
      this.#reloads.failed++;
      this.settleReload({ ok: false, reason, workerPids: [] });
      this.notifyReady('reload failed, configuration not applied');
      const failure = err instanceof Error ? err : new Error(describeError(err));
      for (const answer of this.#reloadAnswers.splice(0)) answer.reject(failure);
      return;
    }
    await this.runHook('onReload', this.api);
    const oldAges = new Set<number>();
    const now = monotonicNow();
    for (const worker of this.#workers.values()) {
      if (worker.retire('reload')) oldAges.add(worker.age);
    }
    this.#reload = { startedAt: now, oldAges, firstNewAge: this.#age + 1, oldConfig, oldTarget };
    this.#failures = 0;
    this.#nextSpawnAt = 0;
    this.setWorkerCount(this.settings.workers);
    this.#log.info('reload.started', `Reloading: replacing ${oldAges.size} worker(s)`, {
      replacing: oldAges.size,
    });
  }

  /**
   * USR2: start a new master (the same command, so a new unicorn-ts or Node takes over) that
   * inherits the listening sockets as file descriptors: no port is ever closed. The pidfile moves to
   * PIDFILE.oldbin; the operator then stops this master (WINCH, then TERM). If the new master cannot
   * be started (the Node binary is gone after an upgrade in place, EMFILE...) or dies first, the
   * pidfile moves back and this master carries on, as Gunicorn and nginx do.
   */
  private reexec(): void {
    if (this.#upgrade !== null) {
      this.#log.warn(
        'signal.ignored',
        `Ignoring USR2: an upgrade is already under way (new master pid ${this.#upgrade.pid})`,
        { signal: 'usr2', newMasterPid: this.#upgrade.pid },
      );
      return;
    }
    const pidfile = this.#pidfile;
    const original = pidfile?.path ?? null;
    // The command the operator ran, from the directory it was run in: relative paths in it (--chdir,
    // -c, --import) mean what they meant then, not what they mean from --chdir.
    const argv = [...process.execArgv, ...process.argv.slice(1)];
    const failed = (why: string, fields: object) => this.upgradeFailed(why, fields, pidfile, original);
    let child: ChildProcess;
    try {
      const stdio: StdioOptions = ['inherit', 'inherit', 'inherit', ...this.#sockets.map(socketFd)];
      if (pidfile && original) pidfile.moveTo(`${original}.oldbin`);
      // spawn() reports most failures (ENOENT, EACCES, EAGAIN, EMFILE) as an 'error' event, and
      // throws some: both end in upgradeFailed.
      child = spawn(process.execPath, argv, {
        cwd: this.#opts.startDir,
        stdio,
        env: { ...process.env, UNICORN_TS_FDS: inheritedFdsEnv(this.#sockets) },
      });
    } catch (err) {
      failed(`Cannot start a new master: ${describeSpawnError(err)}`, spawnFields(err));
      return;
    }
    const upgrade = { pid: child.pid ?? 0 };
    this.#upgrade = upgrade;
    child.once('error', (err) => {
      if (this.#upgrade !== upgrade) return;
      this.#upgrade = null;
      failed(`Cannot start a new master: ${describeSpawnError(err)}`, spawnFields(err));
    });
    child.once('exit', (code, signal) => {
      if (this.#upgrade !== upgrade) return;
      this.#upgrade = null;
      if (this.#stopping !== null) return;
      failed(`The new master (pid ${upgrade.pid}) exited with ${signal ?? `code ${code}`}`, {
        newMasterPid: upgrade.pid,
        code,
        signal,
      });
    });
    // No pid: the spawn failed and its 'error' event follows.
    if (child.pid === undefined) return;
    this.#log.info(
      'master.reexec',
      `Started a new master (pid ${upgrade.pid}) with the listening sockets; stop this one (pid ${process.pid}) with WINCH, then TERM, once it serves`,
      {
        newMasterPid: upgrade.pid,
      },
    );
  }

  /** An upgrade that did not happen: the pidfile moves back and this master serves on. */
  private upgradeFailed(why: string, fields: object, pidfile: Pidfile | null, original: string | null): void {
    let restored: string | null = null;
    if (pidfile && original && pidfile.path !== original) {
      try {
        pidfile.moveTo(original);
        restored = original;
      } catch (err) {
        this.#log.error(
          'master.reexec',
          `Cannot move the pidfile back to ${original}: ${describeError(err)}; it stays at ${pidfile.path}`,
          { err, pidfile: pidfile.path },
        );
      }
    }
    void this.#control?.reclaim();
    // The new master may have named itself the main pid before it died.
    this.#systemd?.send({
      MAINPID: process.pid,
      READY: 1,
      STATUS: 'Upgrade failed; the old master serves on',
    });
    this.#log.error(
      'master.reexec',
      `${why}; this master (pid ${process.pid}) carries on${restored === null ? '' : `, pidfile ${restored} restored`}`,
      { newMasterPid: null, ...fields, pidfile: restored },
    );
  }

  /**
   * A new worker failed to boot during a reload: keep the old ones, stop the new ones, and go back to
   * the configuration and worker count they run with. A count the reload raised would otherwise
   * have the master fork the broken app again and again.
   */
  private rollBackReload(reason: string): void {
    const reload = this.#reload;
    if (reload === null) return;
    this.#reload = null;
    this.#config = reload.oldConfig;
    this.setWorkerCount(reload.oldTarget);
    const now = monotonicNow();
    for (const worker of this.#workers.values()) {
      if (reload.oldAges.has(worker.age)) {
        worker.unretire();
      } else if (worker.counted) {
        worker.stop('reload rolled back', now, this.settings.gracefulTimeout * 1000);
      }
    }
    this.#log.error('reload.failed', `Reload failed, the old workers keep serving: ${reason}`, { reason });
    this.#telemetry?.reloaded('failed');
    this.#reloads.failed++;
    this.settleReload({ ok: false, reason, workerPids: [] });
    this.notifyReady('reload failed, the old workers serve');
    const failure = new UnicornError(
      'UNICORN_RELOAD_FAILED',
      `reload failed, the old workers keep serving: ${reason}`,
    );
    for (const answer of this.#reloadAnswers.splice(0)) answer.reject(failure);
  }

  private setWorkerCount(count: number): void {
    if (count === this.#target) return;
    const old = this.#target;
    this.#target = count;
    this.#log.info('workers.count', `Number of workers: ${old} -> ${count}`, { from: old, to: count });
    if (this.#everReady && this.#stopping === null)
      this.#systemd?.send({ STATUS: `${count} workers wanted` });
    void this.runHook('nworkersChanged', this.api, count, old);
  }

  // ---- reaping ---------------------------------------------------------------------------------

  private async reapWorkers(): Promise<void> {
    for (let exit = this.#exits.shift(); exit !== undefined; exit = this.#exits.shift()) {
      const { worker, code, signal } = exit;
      this.#workers.delete(worker.pid);
      const from = worker.exited();
      if (from === null) continue;
      const { wasBooting, expected } = from;
      const how = exitHow(code, signal);
      const fields = { workerPid: worker.pid, age: worker.age, code, signal, reason: worker.reason };
      // A worker stopped before its own handlers were installed dies by the stop signal itself.
      if (expected && (code === 0 || signal === 'SIGTERM' || signal === 'SIGQUIT')) {
        if (worker.signaledFromOutside !== null && this.#stopping === null) {
          this.#log.warn(
            'worker.exited',
            `Worker (pid: ${worker.pid}) exited on ${worker.signaledFromOutside} sent to it from outside the master; replaced`,
            fields,
          );
        } else {
          this.#log.info('worker.exited', `Worker exited (pid: ${worker.pid})`, fields);
        }
      } else {
        const hint = exitHint(code, signal, worker);
        this.#log.error('worker.exited', abnormalExitMessage(worker.pid, code, signal, hint), {
          ...fields,
          hint,
        });
      }
      await this.runHook('childExit', this.api, workerInfo(worker));
      this.#telemetry?.exited(worker, restartReason(worker, expected, this.#stopping !== null));
      if (expected || this.#stopping !== null) continue;

      const bootCode = worker.bootError?.code ?? code;
      if (wasBooting && this.#reload !== null && worker.age >= this.#reload.firstNewAge) {
        this.rollBackReload(worker.bootError?.message ?? how);
        continue;
      }
      if (
        wasBooting &&
        !this.#everReady &&
        (bootCode === EXIT_CODES.APP_LOAD_ERROR || bootCode === EXIT_CODES.WORKER_BOOT_ERROR)
      ) {
        const why = bootCode === EXIT_CODES.APP_LOAD_ERROR ? 'App failed to load' : 'Worker failed to boot';
        const detail = worker.bootError?.message ?? how;
        this.#log.critical('master.halt', `${why}: ${detail}`, { exitCode: bootCode, reason: detail });
        this.#opts.events?.halted?.(`${why}: ${detail}`);
        this.stop(false, bootCode);
        continue;
      }
      this.#restartReasons.push(worker.reason === 'boot-timeout' ? 'boot-timeout' : 'crash');
      if (worker.readyAt === null || monotonicNow() - worker.readyAt < CRASH_WINDOW_MS) {
        // The first failure respawns at once; a loop then waits 100 ms, 200 ms, ... up to 30 s.
        this.#failures++;
        const delay =
          this.#failures === 1 ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this.#failures - 2));
        this.#nextSpawnAt = monotonicNow() + delay;
        this.#log.warn(
          'worker.backoff',
          `Worker died ${this.#failures} time(s) in a row soon after boot; next spawn in ${delay} ms`,
          { failures: this.#failures, delayMs: delay },
        );
      } else {
        this.#failures = 0;
      }
    }
  }

  // ---- timeouts --------------------------------------------------------------------------------

  private murderWorkers(): void {
    const now = monotonicNow();
    const timeoutMs = this.settings.timeout * 1000;
    const bootTimeoutMs = this.settings.bootTimeout * 1000;
    for (const worker of this.#workers.values()) {
      if (worker.killDue(now)) {
        const held = worker.held(now);
        this.#log.warn(
          'worker.killed',
          `Worker (pid: ${worker.pid}) did not stop in time; killing it with ${describeHeld(held)}`,
          { workerPid: worker.pid, reason: worker.reason, ...held },
        );
        worker.kill();
      } else if (worker.bootTimedOut(now, bootTimeoutMs)) {
        this.#log.error(
          'worker.boot_timeout',
          `Worker (pid: ${worker.pid}) not ready after --boot-timeout ${this.settings.bootTimeout} s; killing it`,
          {
            workerPid: worker.pid,
          },
        );
        worker.killBootTimeout(
          EXIT_CODES.WORKER_BOOT_ERROR,
          `not ready within ${this.settings.bootTimeout} s (--boot-timeout)`,
        );
      } else if (worker.timedOut(now, timeoutMs)) {
        const stack = this.stackBeforeKill(worker);
        if (stack === 'waiting') continue;
        const silent = Math.round((now - worker.lastHeartbeat) / 1000);
        // The probe read the worker's request board as it was stuck; the last heartbeat is older.
        const oldest = stack?.request !== undefined ? stack.request : worker.oldest;
        const doing = oldest
          ? `; it was handling ${oldest.request}, started ${Math.round((now - oldest.startedAt) / 1000)} s ago`
          : '; no request was in flight';
        this.#log.critical(
          'worker.timeout',
          `WORKER TIMEOUT (pid: ${worker.pid}): event loop blocked for ${silent} s${describeStuckAt(stack)}${doing}; killing it`,
          {
            workerPid: worker.pid,
            silentSeconds: silent,
            request: oldest?.request ?? null,
            stack: stack?.frames.map(formatFrame) ?? null,
          },
        );
        // Its replacement is forked this turn, before it has exited.
        if (worker.abort(now, ABORT_GRACE_MS)) this.#restartReasons.push('timeout');
      }
    }
  }

  /**
   * Where a worker that missed its heartbeats is stuck, asked of its probe thread before it is
   * killed: 'waiting' until the answer is in (the probe bounds the wait), null without a probe.
   */
  private stackBeforeKill(worker: WorkerHandle): StackProbeReply | null | 'waiting' {
    if (worker.stackProbe === null) return null;
    const current = worker.timeoutProbe;
    if (current !== null && current.forHeartbeat === worker.lastHeartbeat) return current.reply ?? 'waiting';
    const probe: NonNullable<WorkerHandle['timeoutProbe']> = {
      forHeartbeat: worker.lastHeartbeat,
      reply: null,
    };
    worker.timeoutProbe = probe;
    void worker.stackProbe.request(STACK_PROBE_WAIT_MS).then((reply) => {
      probe.reply = reply;
      this.wakeUp();
    });
    return 'waiting';
  }

  // ---- keeping the count -----------------------------------------------------------------------

  private async manageWorkers(): Promise<void> {
    if (this.#stopping !== null) return;
    const reload = this.#reload;
    if (reload !== null && ![...this.#workers.values()].some((w) => reload.oldAges.has(w.age))) {
      this.#reload = null;
      // The spares from before the reload have the old app: new ones boot below.
      for (const worker of this.#workers.values()) {
        if (worker.isSpare && worker.age < reload.firstNewAge) {
          worker.stop('reload', monotonicNow(), this.settings.gracefulTimeout * 1000);
        }
      }
      this.#telemetry?.reloaded('done');
      this.#log.info('reload.done', `Reload done in ${monotonicNow() - reload.startedAt} ms`, {
        durationMs: monotonicNow() - reload.startedAt,
        workerPids: this.api.workerPids,
      });
      this.#reloads.done++;
      this.settleReload({ ok: true, reason: null, workerPids: this.readyPids() });
      this.notifyReady('reloaded');
      for (const answer of this.#reloadAnswers.splice(0)) answer.resolve(this.servingPids());
    }
    const plan = planWorkers([...this.#workers.values()], {
      target: this.#target,
      reloading: this.#reload !== null,
      standby: this.#target > 0 && this.#everReady ? this.settings.standby : 0,
      anyReady: this.#anyReady,
    });
    const graceMs = this.settings.gracefulTimeout * 1000;
    for (const worker of plan.retire) {
      this.#log.info('worker.retire', `Retiring worker (pid: ${worker.pid}): ${worker.reason}`, {
        workerPid: worker.pid,
        reason: worker.reason,
      });
      worker.stop(worker.reason ?? 'retire', monotonicNow(), graceMs);
    }
    for (const worker of plan.reduce) worker.stop('worker count reduced', monotonicNow(), graceMs);
    for (const spare of plan.promote) this.promote(spare);
    for (const spare of plan.dropSpares) spare.stop('standby no longer needed', monotonicNow(), graceMs);
    // A crash loop's backoff paces spawning, spares included; so does a fork the system refused.
    if (monotonicNow() < this.#nextSpawnAt) return;
    for (let n = 0; n < plan.spawn; n++) if (!(await this.spawnWorker(false))) return;
    for (let n = 0; n < plan.spawnSpares; n++) if (!(await this.spawnWorker(true))) return;
  }

  /** A standby takes the place of a worker that left: it gets the sockets and reports ready. */
  private promote(worker: WorkerHandle): void {
    if (!worker.promote(monotonicNow())) return;
    worker.startReason = this.nextStartReason();
    this.#log.info('worker.promoted', `Standby worker (pid: ${worker.pid}) takes over`, {
      workerPid: worker.pid,
      age: worker.age,
    });
    this.sendSockets(worker);
  }

  /** Hands a worker every listening socket (it listens on its copies and reports ready). */
  private sendSockets(worker: WorkerHandle): void {
    this.#sockets.forEach((socket, index) => {
      worker.send(
        {
          ns: IPC_NS,
          act: 'listen',
          index,
          count: this.#sockets.length,
          backlog: this.settings.backlog,
          url: socket.url,
        },
        socket.handle,
      );
    });
  }

  /** Forks one worker; false when the system refused the fork (the next try is backed off). */
  private async spawnWorker(spare: boolean): Promise<boolean> {
    const age = ++this.#age;
    await this.runHook('preFork', this.api, { age });
    const boot: WorkerBoot = {
      settings: serializableSettings(this.settings),
      configFile: this.#opts.configFile,
      appModule: this.#opts.appModule,
      cwd: this.#opts.cwd,
      age,
      stackProbeFd: this.settings.timeoutStack && this.settings.timeout > 0 ? STACK_PROBE_FD : null,
      listenFds: this.#unprimed.map((_, i) => FIRST_PRIME_FD + i),
      appFromRun: this.#opts.runEntry !== undefined,
    };
    // The stack probe needs its own pipe: the IPC channel is read by the thread that gets stuck.
    const probe = boot.stackProbeFd === null ? 'ignore' : 'pipe';
    cluster.setupPrimary({ stdio: [...WORKER_STDIO, probe, ...this.#unprimed.map(socketFd)] });
    // Only the master speaks to systemd: an app that saw NOTIFY_SOCKET could send READY=1 early, and
    // NotifyAccess=all would let it.
    const clusterWorker = await forkWorker({
      ...this.#opts.workerEnv,
      [WORKER_BOOT_ENV]: JSON.stringify(boot),
      NOTIFY_SOCKET: undefined,
    });
    if (clusterWorker instanceof Error) {
      this.forkFailed(clusterWorker);
      return false;
    }
    const worker = new WorkerHandle(clusterWorker, age, monotonicNow(), spare);
    worker.startReason = spare ? 'standby' : this.nextStartReason();
    const probePipe = clusterWorker.process.stdio[STACK_PROBE_FD];
    if (boot.stackProbeFd !== null && probePipe) worker.stackProbe = new StackProbe(probePipe as Duplex);
    this.#workers.set(worker.pid, worker);
    clusterWorker.on('message', (message: unknown, handle: unknown) => {
      if (isWorkerMessage(message)) this.onWorkerMessage(worker, message, handle);
    });
    clusterWorker.on('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      this.#exits.push({ worker, code, signal });
      this.wakeUp();
    });
    // An IPC error (the worker died mid-send) surfaces as an exit: forkWorker() listens for it.
    this.#log.info('worker.booting', `Booting ${spare ? 'standby ' : ''}worker with pid: ${worker.pid}`, {
      workerPid: worker.pid,
      age,
      standby: spare,
    });
    await this.runHook('postFork', this.api, workerInfo(worker));
    return true;
  }

  /**
   * The system refused a fork: out of descriptors (EMFILE, ENFILE), processes (EAGAIN) or memory.
   * The master stays up, serving with the workers it has, and tries again on the crash loop's
   * backoff (100 ms, 200 ms, ... up to 30 s), since an immediate retry would fail the same way.
   */
  private forkFailed(err: Error): void {
    this.#failures++;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this.#failures - 1));
    this.#nextSpawnAt = monotonicNow() + delay;
    this.#log.error(
      'worker.spawn_failed',
      `Cannot start a worker: ${describeSpawnError(err)}; next try in ${delay} ms`,
      {
        ...spawnFields(err),
        failures: this.#failures,
        delayMs: delay,
      },
    );
  }

  /**
   * A worker stops on a signal sent to it from outside the master (an operator's `kill`, a `pkill`
   * that matched it): replaced at once, its exit expected, never counted as a crash. Its exit line
   * says so (reapWorkers). The same signal sent to the whole process group (Ctrl-C in a terminal)
   * may reach a worker's message here before the master's own copy: the master's stop then follows,
   * and covers this worker as any other.
   */
  private workerStopping(worker: WorkerHandle, signal: string, quick: boolean): void {
    if (this.#stopping !== null) return;
    const graceMs = quick ? QUICK_STOP_GRACE_MS : this.settings.gracefulTimeout * 1000;
    if (!worker.stoppingOnSignal(signal, monotonicNow(), graceMs)) return;
    this.#restartReasons.push('signal');
    this.wakeUp();
  }

  private onWorkerMessage(worker: WorkerHandle, message: WorkerMessage, handle?: unknown): void {
    worker.lastHeartbeat = monotonicNow();
    switch (message.act) {
      case 'hello':
        worker.listening();
        // The worker has loaded the app. A spare waits without sockets until it is promoted.
        if (worker.markStandby()) {
          this.#log.info('worker.standby', `Worker (pid: ${worker.pid}) is booted and waits as a standby`, {
            workerPid: worker.pid,
            age: worker.age,
          });
          this.wakeUp();
          return;
        }
        this.sendSockets(worker);
        return;
      case 'ready':
        worker.markReady(monotonicNow());
        this.#anyReady = true;
        this.onWorkerReady();
        this.wakeUp();
        return;
      case 'heartbeat':
        worker.requests = message.requests;
        worker.inflight = message.inflight;
        worker.givenSeen = message.given;
        worker.heardSinceHandback = true;
        // --dispatch request: a worker that has gone idle can take a waiting request.
        if (message.inflight === 0 && this.#dispatcher.waiting > 0) this.wakeUp();
        worker.rss = message.rss;
        worker.oldest = message.oldest;
        worker.holding = message.holding;
        this.#telemetry?.heartbeat(worker, message.metrics);
        if (
          this.settings.maxMemory > 0 &&
          message.rss > this.settings.maxMemory * 1024 * 1024 &&
          worker.counted &&
          worker.retire('max-memory')
        ) {
          this.#restartReasons.push('max-memory');
          this.#log.warn(
            'worker.exiting',
            `Worker (pid: ${worker.pid}) uses ${Math.round(message.rss / 1048576)} MiB, over --max-memory ${this.settings.maxMemory}; replacing it`,
            {
              workerPid: worker.pid,
              rssMiB: Math.round(message.rss / 1048576),
              reason: 'max-memory',
            },
          );
          this.wakeUp();
        }
        return;
      case 'retire':
        if (worker.counted && worker.retire(message.reason)) this.#restartReasons.push(message.reason);
        this.wakeUp();
        return;
      case 'stopping':
        this.workerStopping(worker, message.signal, message.quick);
        return;
      case 'conn-idle':
        worker.heardSinceHandback = false;
        if (typeof handle === 'object' && handle !== null) {
          const parking = this.#sticky ?? this.#dispatcher;
          parking.park(handle, message.index, this.settings.keepAlive * 1000);
        }
        return;
      case 'queueing': {
        if (this.#unprimed.length === 0) return;
        const urls = this.#unprimed.map((socket) => socket.url);
        this.#unprimed = [];
        if (message.failure === null) {
          this.#log.debug('master.queueing', `Queueing connections at: ${urls.join(', ')}`, { urls });
        } else {
          this.#log.warn(
            'master.queueing',
            `Cannot listen before a worker is ready (${message.failure}); connections are refused until then`,
            { urls, failure: message.failure },
          );
        }
        return;
      }
      case 'boot-error':
        worker.bootError = { code: message.code, message: message.message };
        return;
      case 'metrics':
        this.#telemetry?.pulled(worker, message.id, message.metrics);
        return;
    }
  }

  private onWorkerReady(): void {
    if (!this.#listeningLogged) {
      this.#listeningLogged = true;
      for (const socket of this.#sockets) {
        this.#log.info('master.listening', `Listening at: ${socket.url} (${process.pid})`, {
          url: socket.url,
        });
      }
    }
    if (this.#everReady) return;
    const ready = [...this.#workers.values()].filter((w) => w.state === 'ready').length;
    if (ready >= this.#target) {
      this.#everReady = true;
      this.#log.info('master.ready', `Ready: ${ready} worker(s) serving`, {
        workers: ready,
        workerPids: this.api.workerPids,
      });
      this.#opts.events?.ready?.({
        workerPids: this.api.workerPids,
        urls: this.#sockets.map((socket) => socket.url),
      });
      void this.runHook('whenReady', this.api);
      this.notifyReady(null);
    }
  }

  // ---- the control socket (control.ts) ---------------------------------------------------------

  status(): StatusResult {
    const now = monotonicNow();
    const workers = [...this.#workers.values()].sort((a, b) => a.age - b.age);
    return {
      master: {
        pid: process.pid,
        version: this.#opts.version,
        protocol: CONTROL_PROTOCOL,
        app: this.#opts.appModule,
        startedAt: this.#startedAtWall,
        uptimeMs: now - this.#startedAt,
        state: this.#stopping !== null ? 'stopping' : this.#reload !== null ? 'reloading' : 'running',
        workers: {
          desired: this.#target,
          ready: workers.filter((w) => w.counted && w.state === 'ready').length,
          spare: workers.filter((w) => w.isSpare).length,
        },
        reloads: { ...this.#reloads },
        upgradingTo: this.#upgrade?.pid ?? null,
        listening: this.#sockets.map((socket) => socket.url),
        controlSocket: this.#control?.path ?? '',
      },
      workers: workers.map((w) => ({
        pid: w.pid,
        id: w.age,
        state: w.state,
        spare: w.isSpare,
        startedAt: w.bornAtWall,
        uptimeMs: now - w.bornAt,
        requests: w.requests,
        inflight: w.inflight,
        rss: w.rss,
        startReason: w.startReason,
      })),
    };
  }

  requestReload(): Promise<ReloadResult> {
    return new Promise((resolve) =>
      this.schedule(async () => {
        this.#reloadWaiters.push(resolve);
        await this.handleHup();
      }),
    );
  }

  requestScale(workers: number): Promise<void> {
    return this.schedule(() => this.setWorkerCount(workers));
  }

  requestStop(quick: boolean): Promise<void> {
    return this.schedule(() => (quick ? this.handleQuit() : this.handleTerm()));
  }

  requestReopenLogs(): Promise<void> {
    return this.schedule(() => this.handleUsr1());
  }

  /** Runs `action` in the loop, in turn with the signals; resolves when it has run. */
  private schedule(action: () => Promise<void> | void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#commands.push(async () => {
        try {
          await action();
          resolve();
        } catch (err) {
          reject(err);
        }
      });
      this.wakeUp();
    });
  }

  /** Tells the control clients waiting on a reload how it ended (a newer reload takes them over). */
  private settleReload(result: ReloadResult): void {
    for (const resolve of this.#reloadWaiters.splice(0)) resolve(result);
  }

  private readyPids(): number[] {
    return [...this.#workers.values()]
      .filter((w) => w.counted && w.state === 'ready')
      .sort((a, b) => a.age - b.age)
      .map((w) => w.pid);
  }

  /** Why the next worker starts: the reload, a worker that left, or a count raised (status shows it). */
  private nextStartReason(): string {
    if (this.#reload !== null) return 'reload';
    return this.#restartReasons.shift() ?? (this.#everReady ? 'scale' : 'boot');
  }

  /**
   * READY=1 with the worker count, at the first boot and at the end of a reload. A master started by
   * USR2 also names itself the main pid: systemd then follows it when the old master exits.
   */
  private notifyReady(note: string | null): void {
    if (this.#systemd === null) return;
    const ready = [...this.#workers.values()].filter((w) => w.state === 'ready').length;
    const upgraded = this.#sockets.some((socket) => socket.origin === 'upgrade');
    this.#systemd.send({
      ...(upgraded ? { MAINPID: process.pid } : {}),
      READY: 1,
      STATUS: `${ready} of ${this.#target} workers ready${note === null ? '' : ` (${note})`}`,
    });
  }

  // ---- plumbing --------------------------------------------------------------------------------

  private sleep(): Promise<void> {
    // Something happened while the loop was busy: go round again at once.
    if (this.#wakePending) {
      this.#wakePending = false;
      return Promise.resolve();
    }
    const now = monotonicNow();
    let delay = MAX_SLEEP_MS;
    for (const w of this.#workers.values()) if (w.killAt !== null) delay = Math.min(delay, w.killAt - now);
    if (this.#nextSpawnAt > now) delay = Math.min(delay, this.#nextSpawnAt - now);
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, delay));
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  private wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    if (wake === null) this.#wakePending = true;
    else wake();
  }

  private async runHook(name: HookName, ...args: unknown[]): Promise<void> {
    const hook = this.settings[name];
    if (hook === null) return;
    try {
      await hook(...args);
    } catch (err) {
      this.#log.error('hook.error', `Error in ${name} hook: ${describeError(err)}`, { hook: name, err });
      if (name === 'onStarting') throw err;
    }
  }
}

/** TTOU: one worker fewer, never below one; but a master emptied by WINCH stays empty. */
export function countAfterTtou(target: number): number {
  return Math.max(Math.min(1, target), target - 1);
}

/**
 * The pool has settled at `target`: that many workers counted and ready, and nothing else but spares
 * waiting in standby (no worker booting, retiring or stopping).
 */
export function poolSettled(
  workers: readonly Pick<WorkerHandle, 'state' | 'counted'>[],
  target: number,
): boolean {
  let serving = 0;
  for (const worker of workers) {
    if (worker.counted && worker.state === 'ready') serving++;
    else if (worker.state !== 'standby') return false;
  }
  return serving === target;
}

/** What manageWorkers is told about the master, besides its workers. */
export interface PlanInput {
  /** --workers as it stands (TTIN, TTOU, WINCH, a reload change it). */
  readonly target: number;
  /** A HUP is in progress. */
  readonly reloading: boolean;
  /** How many spares to keep (--standby, or 0 before the first boot is done and after WINCH). */
  readonly standby: number;
  /** Some worker has been ready at least once. */
  readonly anyReady: boolean;
}

/** One turn's decisions on the worker count, to be carried out in this order. */
export interface WorkerPlan {
  /** Retiring workers whose replacements are ready: stop them. */
  readonly retire: WorkerHandle[];
  /** Counted workers beyond the target (TTOU), the oldest first: stop them. */
  readonly reduce: WorkerHandle[];
  /** Standbys that take the place of workers that left. */
  readonly promote: WorkerHandle[];
  /** Spares beyond --standby, the oldest first: stop them. */
  readonly dropSpares: WorkerHandle[];
  /** Serving workers to fork. */
  readonly spawn: number;
  /** Spares to fork, after the serving ones. */
  readonly spawnSpares: number;
}

/**
 * Keeping the count, decided from the workers' states alone (the arbiter carries it out):
 *
 * - A retiring worker stops only once enough replacements are ready to keep the count serving.
 * - Too many (TTOU): the oldest go.
 * - Too few: a standby takes the place at once; it has loaded the app and only needs the sockets.
 *   Not during a reload: every standby then has the old app.
 * - Spares beyond --standby (WINCH, a lower setting) go, the oldest first. During a reload the old
 *   spares wait, and none boots: they go when it is done, and stay if it is rolled back.
 * - Still too few: fork. At the very first boot one worker goes first, alone: on a small machine it
 *   is ready (and serving) sooner than if all boot at once, and a broken app fails once rather than
 *   in every worker. The rest follow when it is ready.
 * - Spares boot last, once the serving workers are up, so they never slow a boot or a reload.
 */
export function planWorkers(all: readonly WorkerHandle[], input: PlanInput): WorkerPlan {
  const { target, reloading, standby, anyReady } = input;
  const workers = [...all].sort((a, b) => a.age - b.age);
  const counted = workers.filter((w) => w.counted);
  const ready = counted.filter((w) => w.state === 'ready').length;
  const retiring = workers.filter((w) => w.state === 'retiring');
  const surplus = Math.max(0, ready + retiring.length - target);
  const retire = retiring.slice(0, surplus);
  const reduce = counted.slice(0, Math.max(0, counted.length - target));
  let missing = target - counted.length;
  const promote = reloading
    ? []
    : workers.filter((w) => w.state === 'standby').slice(0, Math.max(0, missing));
  missing -= promote.length;
  const spares = reloading ? [] : workers.filter((w) => w.isSpare && !promote.includes(w));
  const dropSpares = spares.slice(0, Math.max(0, spares.length - standby));
  if (!anyReady && counted.length > 0) missing = 0;
  else if (!anyReady) missing = Math.min(missing, 1);
  const spawn = Math.max(0, missing);
  const spawnSpares = reloading ? 0 : Math.max(0, standby - Math.min(spares.length, standby));
  return { retire, reduce, promote, dropSpares, spawn, spawnSpares };
}

function workerInfo(worker: WorkerHandle): { pid: number; age: number; state: string } {
  return { pid: worker.pid, age: worker.age, state: worker.state };
}

/** Why a new master or a worker could not be started, with what to do when the reason is a known one. */
function describeSpawnError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const hint =
    code === 'ENOENT'
      ? `: ${process.execPath} (or the start directory) no longer exists; was Node upgraded in place? Restart the server fully to run the new one`
      : code === 'EACCES'
        ? `: ${process.execPath} (or the start directory) is not executable by this user`
        : code === 'EAGAIN' || code === 'EMFILE' || code === 'ENFILE'
          ? ': out of processes or file descriptors (ulimit -u / -n)'
          : '';
  return `${describeError(err)}${hint}`;
}

function spawnFields(err: unknown): object {
  return { err, errorCode: (err as NodeJS.ErrnoException).code ?? null, execPath: process.execPath };
}

/**
 * A hint for an abnormal exit, in the operator's terms. The `worker.exited` line names the signal or
 * the exit code already (and carries them as fields), so a hint never repeats them.
 */
export function exitHint(
  code: number | null,
  signal: NodeJS.Signals | null,
  worker: Pick<WorkerHandle, 'reason'>,
): string | undefined {
  if (worker.reason === 'timeout')
    return 'killed after --timeout without a heartbeat; see the worker.timeout line';
  if (worker.reason === 'boot-timeout')
    return 'killed after --boot-timeout; see the worker.boot_timeout line';
  if (worker.reason === 'graceful-timeout')
    return 'killed: it did not finish its requests within --graceful-timeout (or 2 s on a quick stop)';
  // The master sends SIGKILL only with one of the reasons above: this one came from outside.
  if (signal === 'SIGKILL')
    return 'not sent by unicorn-ts (kill -9, or the kernel when out of memory: check dmesg for the OOM killer)';
  if (signal === 'SIGSEGV' || signal === 'SIGBUS') return 'a native addon or Node itself crashed';
  if (signal === 'SIGABRT') return 'Node aborted (out of heap memory, or a failed assertion)';
  if (code === EXIT_CODES.APP_LOAD_ERROR)
    return 'the app could not be loaded; see the worker.boot_failed line';
  if (code === EXIT_CODES.WORKER_BOOT_ERROR)
    return 'the worker could not boot; see the worker.boot_failed line';
  if (code === 134) return 'aborted: perhaps out of heap memory (--max-old-space-size)?';
  if (code !== null && code !== 0) return 'see the error logged by the worker just before';
  if (code === 0) return 'the worker exited on its own (process.exit() in the app?)';
  return undefined;
}

/** The message of an abnormal `worker.exited` line: `Worker (pid: N) exited with signal S: hint`. */
export function abnormalExitMessage(
  pid: number,
  code: number | null,
  signal: NodeJS.Signals | null,
  hint: string | undefined,
): string {
  return `Worker (pid: ${pid}) exited with ${exitHow(code, signal)}${hint ? `: ${hint}` : ''}`;
}

/** `signal SIGKILL` or `exit code 1`. */
function exitHow(code: number | null, signal: NodeJS.Signals | null): string {
  return signal !== null ? `signal ${signal}` : `exit code ${code}`;
}

/** ` at handler (src/app.ts:42)`: the innermost frame in the app's code, or why there is none. */
function describeStuckAt(stack: StackProbeReply | null): string {
  if (stack === null) return '';
  const frame = stack.frames.find((f) => !f.file.startsWith('node:')) ?? stack.frames[0];
  if (frame === undefined) return ` (no stack: ${stack.note ?? 'unknown'})`;
  return ` at ${formatFrame(frame)}`;
}

/** Whether the master's standard input, output or error is a terminal (so resizing it sends WINCH). */
function inTerminal(): boolean {
  return isatty(0) || isatty(1) || isatty(2);
}
