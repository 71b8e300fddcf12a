/**
 * The worker lifecycle, shared by every worker class:
 *
 *   constructor (no side effects) -> init process -> load app -> startup() -> postWorkerInit
 *     -> ask the master for sockets -> listen -> report ready -> serve -> drain -> shutdown() -> exit
 *
 * A worker class overrides only how requests are admitted (`admit`) and what a server looks like.
 * Signals, as in Gunicorn: TERM = graceful stop, INT/QUIT = quick stop, ABRT = the master gave up.
 */

import cluster from 'node:cluster';
import type { ServerResponse } from 'node:http';
import type { ServerOptions } from 'node:https';
import type { Server, Socket } from 'node:net';
import { type AppInterface, chooseInterface } from '../src/app-interface.js';
import { handlerApp, type LoadedApp, loadApp } from '../src/app-module.js';
import { loadConfigFile } from '../src/config-file.js';
import { startDraining } from '../src/draining.js';
import { describeError, isUnicornError, UnicornError } from '../src/errors.js';
import { type ServedApp, serveApp } from '../src/frameworks.js';
import { type AccessLogFormatter, compileAccessLogFormat } from '../src/http/access-log.js';
import { type ClientResolver, compileTrust, createClientResolver } from '../src/http/forwarded.js';
import { installLightResponse } from '../src/http/light-response.js';
import type { RequestLimits } from '../src/http/limits.js';
import { tlsOptions } from '../src/http/tls.js';
import { EXIT_CODES, type WorkerBoot } from '../src/ipc.js';
import { refuseListen } from '../src/listen-guard.js';
import { type AccessLogWriter, Log, type Logger, openAccessLog } from '../src/log.js';
import { keepWorkerOnDisconnect, serveWithoutListening } from '../src/node-internals.js';
import { openRunHandoff } from '../src/run-handoff.js';
import { HOOKS, type HookFn, type HookName, type WorkerSettings } from '../src/settings.js';
import { captureOutput } from './capture-output.js';
import { durationsOf, type WorkerDurations } from './durations.js';
import { ConnectionHandback } from './handback.js';
import { listenOnInheritedHandle } from './listen.js';
import { MasterLink } from './master-link.js';
import { processMetrics, RequestCounts, type RequestRecorder } from './metrics.js';
import { type Admissible, type PipelineHost, RequestPipeline } from './pipeline.js';
import { setUpProcess } from './process.js';
import { WorkerServers } from './servers.js';
import { startStackProbe } from './stack-probe.js';
import { WebSocketRegistry } from './websockets.js';

const HEARTBEAT_ON_REQUEST_MS = 100;

/** How long a draining worker keeps idle keep-alive connections open (at most half the graceful timeout). */
const IDLE_CLOSE_GRACE_MS = 1000;

/** How long an exiting worker waits for its last metrics to go out. */
const FLUSH_TELEMETRY_MS = 500;

/** What hooks receive as `worker`. */
export interface WorkerApi {
  readonly pid: number;
  readonly id: number;
  readonly age: number;
  readonly log: Logger;
}

export abstract class Worker {
  protected readonly boot: WorkerBoot;
  protected readonly settings: WorkerSettings;
  /** The settings' durations, in ms. */
  protected readonly ms: WorkerDurations;
  protected log!: Log;
  protected draining = false;
  protected served = 0;
  #hooks: Partial<Record<HookName, HookFn>> = {};
  #app!: LoadedApp;
  /** The handler requests go to, and the framework's close (src/frameworks.ts). */
  #served!: ServedApp;
  /** A listen() of the app's refused while booting: the boot fails with it (src/listen-guard.ts). */
  #refusedListen: UnicornError | null = null;
  #ready = false;
  #interface!: AppInterface;
  #maxRequests = 0;
  #retireRequested = false;
  #accessLog: AccessLogWriter | null = null;
  #formatAccessLog: AccessLogFormatter | null = null;
  /** The worker's end of the IPC channel. */
  protected readonly master = new MasterLink(() => this.log);

  /** Requests admitted and not yet finished. */
  protected get inflight(): number {
    return this.#pipeline?.inflight ?? 0;
  }
  /** One request from arrival to close; null until the app is loaded (a stop may come before). */
  #pipeline: RequestPipeline | null = null;
  /** The pipeline, for what runs only once the worker serves. */
  protected get pipeline(): RequestPipeline {
    if (this.#pipeline === null) throw new Error('the request pipeline is built once the app is loaded');
    return this.#pipeline;
  }
  #resolveClient!: ClientResolver;
  /** --proxy-allow-from when --proxy-protocol is on; null when it is off. */
  #proxyAllowed: ((peer: string) => boolean) | null = null;
  #tls: ServerOptions | null = null;
  #limits!: RequestLimits;
  /** The servers on the master's sockets; null until the worker listens (a stop may come before). */
  #servers: WorkerServers | null = null;
  /** --dispatch request: hands idle keep-alive connections back to the master; null otherwise. */
  #handback: ConnectionHandback | null = null;
  /** --metrics-bind: request totals for the heartbeat; null when off. */
  #counts: RequestCounts | null = null;
  /** --capture-output: the app's stdout and stderr, turned into log lines; null when off. */
  #captured: { flush(): void } | null = null;
  /** The worker's open WebSockets: their count (`websockets.open`), pings, and the 1001 on a stop. */
  protected readonly websockets: WebSocketRegistry;
  readonly #dispatchRequest: boolean;

  constructor(boot: WorkerBoot) {
    this.boot = boot;
    this.settings = boot.settings;
    this.ms = durationsOf(boot.settings);
    this.websockets = new WebSocketRegistry(
      {
        maxMessage: boot.settings.wsMaxMessage,
        perMessageDeflate: boot.settings.wsPerMessageDeflate,
        pingIntervalMs: this.ms.wsPingIntervalMs,
      },
      () => this.log,
    );
    this.#dispatchRequest = boot.settings.dispatch === 'request';
  }

  get api(): WorkerApi {
    return { pid: process.pid, id: cluster.worker?.id ?? 0, age: this.boot.age, log: this.log.plain };
  }

  /** Runs the whole lifecycle; never returns (the process exits). */
  async main(): Promise<void> {
    // An app that calls process.exit() while it loads would exit cleanly and be respawned forever:
    // it is an app load error (exit 4), which stops the master. Node exits with process.exitCode as
    // it stands after the 'exit' listeners.
    let loading: string | null = 'import';
    const appExited = (code: number) => {
      // A boot failure exits on purpose, also while loading (run()'s program threw: uncaught()).
      if (loading !== null && !this.#bootFailed) this.appExited(code, loading);
    };
    process.on('exit', appExited);
    let recorder: RequestRecorder | null = null;
    try {
      this.initProcess();
      await this.loadApp();
      loading = 'startup()';
      await this.#app.startup?.();
      loading = 'the start of the framework';
      this.#served = await serveApp(this.#app.app);
      loading = null;
      await this.runHook('postWorkerInit', this.api);
      if (this.#refusedListen !== null) throw this.#refusedListen;
      recorder = await this.openTelemetry();
    } catch (err) {
      loading = null;
      // The app may have caught the refused listen(), or failed because of it: the refusal is the cause.
      return this.bootFailed(this.#refusedListen ?? err);
    } finally {
      process.off('exit', appExited);
    }
    this.#pipeline = new RequestPipeline(
      {
        app: this.#served.handler,
        interface: this.#interface,
        limits: this.#limits,
        rootPath: this.settings.rootPath,
        noKeepAlive: this.settings.keepAlive === 0,
        requestTimeoutMs: this.ms.requestTimeoutMs,
        bodyTimeoutMs: this.ms.bodyTimeoutMs,
        accessLog:
          this.#accessLog !== null && this.#formatAccessLog !== null
            ? { writer: this.#accessLog, format: this.#formatAccessLog }
            : null,
        resolveClient: this.#resolveClient,
        worker: { id: cluster.worker?.id ?? 0, pid: process.pid },
        recorder,
        responseHeadersRead:
          this.#formatAccessLog?.readsResponseHeaders === true || this.#hooks.postRequest !== undefined,
        upgrade: this.#app.upgrade,
        websockets: this.websockets,
      },
      this.pipelineHost(),
    );
    const sockets = await this.master.hello(this.#interface);
    try {
      const made = new WorkerServers(
        {
          tls: this.#tls,
          limits: this.#limits,
          keepAliveMs: this.ms.keepAliveMs,
          headerTimeoutMs: this.ms.headerTimeoutMs,
          proxyAllowed: this.#proxyAllowed,
          oneRequestPerConnection: this.serial,
          accepted: (socket) => this.admitConnection(socket),
        },
        this.pipeline,
        this.log,
        () => this.maybeFinish(),
      );
      this.#servers = made;
      const servers = sockets.map(({ handle, message }) => {
        const server = made.create();
        // --sticky: the master accepts every connection and gives each to its worker
        // (src/master/sticky.ts): there is no accepting to pause.
        if (this.serial && !this.settings.sticky) made.makePausable(server);
        if (this.settings.sticky) {
          (handle as { close(): void }).close();
          serveWithoutListening(server);
        } else {
          listenOnInheritedHandle(server, handle, message.backlog);
        }
        return server;
      });
      await Promise.all(
        servers.map((server, i) =>
          (this.settings.sticky ? Promise.resolve() : onceListening(server)).catch((err: unknown) => {
            throw new UnicornError(
              'UNICORN_BIND',
              `cannot listen on ${sockets[i]!.message.url}: ${describeError(err)}`,
            );
          }),
        ),
      );
      // A listen() from a timer the app set while it loaded.
      if (this.#refusedListen !== null) throw this.#refusedListen;
    } catch (err) {
      return this.bootFailed(this.#refusedListen ?? err);
    }
    if (this.settings.dispatch === 'request') this.startHandback();
    if (this.settings.sticky) this.startStickyHandback();
    // Logged before the master hears of it, so the log reads in the order things happened.
    this.log.info('worker.ready', `Worker ready (pid: ${process.pid})`, { age: this.boot.age });
    this.#ready = true;
    this.master.ready();
    this.startHeartbeat();
    // Started once serving, so it never delays a boot.
    startStackProbe(this.boot.stackProbeFd, this.pipeline.board.buffer, (err) =>
      this.log.warn('worker.stack_probe', `Stack probe unavailable: ${describeError(err)}`, { err }),
    );
  }

  // ---- lifecycle steps ------------------------------------------------------------------------

  protected initProcess(): void {
    const s = this.settings;
    this.log = Log.create({
      level: s.logLevel,
      format: s.logFormat,
      file: s.errorLogfile,
      base: { role: 'worker', pid: process.pid, worker: this.boot.age },
    });
    if (s.captureOutput) this.#captured = captureOutput(() => this.log);
    setUpProcess(
      { title: `unicorn-ts: worker [${s.procName ?? this.boot.appModule}]`, group: s.group, user: s.user },
      {
        stop: (signal) => {
          this.master.stopping(signal, false);
          this.stop(signal);
        },
        'quick-stop': (signal) => {
          this.master.stopping(signal, true);
          this.quickExit(signal);
        },
        'reopen-logs': () => {
          this.log.reopen();
          this.#accessLog?.reopen();
        },
        abort: () => {
          void this.runHook('workerAbort', this.api).finally(() => this.exit(1));
        },
      },
    );
    this.#resolveClient = createClientResolver(s.forwardedAllowIps, s.forwarderHeaders);
    if (s.proxyProtocol === true) {
      const trust = compileTrust(s.proxyAllowFrom);
      this.#proxyAllowed = (peer) => trust(peer, 0);
    }
    this.#tls = tlsOptions(s);
    this.#limits = {
      line: s.limitRequestLine,
      fields: s.limitRequestFields,
      fieldSize: s.limitRequestFieldSize,
      body: s.limitRequestBody,
      headerMap: s.headerMap,
    };
    const max = s.maxRequests;
    const jitter = s.maxRequestsJitter;
    this.#maxRequests = max > 0 ? max + Math.floor(Math.random() * (jitter + 1)) : 0;
    if (s.accessLogfile !== null) {
      this.#accessLog = openAccessLog(s.accessLogfile, this.log);
      this.#formatAccessLog = compileAccessLogFormat(s.accessLogformat);
    }
    refuseListen((err) => {
      if (!this.#ready) {
        this.#refusedListen ??= err;
        return;
      }
      // Serving goes on; the app's listen() threw, and is logged here even when the app catches it.
      this.log.error('worker.listen_refused', `Refused the app's listen(): ${err.message}`, {
        code: err.code,
        hint: err.hint,
      });
    });
    process.on('uncaughtException', (err) => this.uncaught(err, 'uncaught exception'));
    process.on('unhandledRejection', (err) => this.uncaught(err, 'unhandled rejection'));
    // If the master goes away (kill -9, the OOM killer), nobody will ever stop us: finish the
    // requests in flight, bounded by --graceful-timeout, and leave. node:cluster's own reaction
    // to a lost master is to exit at once, dropping them: turned off here.
    keepWorkerOnDisconnect(cluster.worker);
    process.on('disconnect', () => {
      if (this.#finishing) return;
      this.log.warn('worker.orphaned', 'The master is gone; finishing the requests in flight, then exiting', {
        inflight: this.inflight,
      });
      this.stop('master disconnected');
      setTimeout(() => this.exit(1), this.ms.gracefulTimeoutMs).unref();
    });
  }

  /**
   * --metrics-bind and --statsd-host: the totals the heartbeat carries to the master (which keeps
   * the Prometheus metrics and sends StatsD), and the process metrics a scrape pulls; null when both
   * are off.
   */
  private async openTelemetry(): Promise<RequestRecorder | null> {
    const s = this.settings;
    if (s.metricsBind === null && s.statsdHost === null) return null;
    this.#counts = new RequestCounts(s.metricsBuckets);
    if (s.metricsBind !== null) {
      const metrics = await processMetrics(this.boot.age);
      this.master.onMetricsPull(() => metrics.pull());
    }
    return this.#counts;
  }

  protected async loadApp(): Promise<void> {
    if (this.boot.configFile !== null) {
      const values = await loadConfigFile(this.boot.configFile);
      for (const name of Object.keys(HOOKS) as HookName[]) {
        if (typeof values[name] === 'function') this.#hooks[name] = values[name] as HookFn;
      }
    }
    if (this.boot.appFromRun) {
      // The program runs after this worker's lifecycle started (workers/run-entry.ts); its run()
      // call gives the app, and the hooks given to run() as functions.
      const given = await openRunHandoff();
      Object.assign(this.#hooks, given.hooks);
      this.#app =
        typeof given.app === 'string'
          ? await loadApp(given.app, this.boot.cwd)
          : handlerApp(given.app, this.boot.appModule);
    } else {
      this.#app = await loadApp(this.boot.appModule, this.boot.cwd);
    }
    const choice = chooseInterface(this.#app.app, this.settings.interface);
    this.#interface = choice.interface;
    // The fetch interface's Response is the light one (src/http/light-response.ts): most answers
    // are then written without a stream. Code that runs from now on (every request) sees it.
    if (choice.interface === 'fetch') installLightResponse();
    this.log.info(
      'worker.app_loaded',
      `Loaded ${this.#app.file} with the ${choice.interface} interface (${choice.reason})`,
      {
        file: this.#app.file,
        interface: choice.interface,
        reason: choice.reason,
      },
    );
  }

  /** --dispatch request: connections come from the master too, and go back to it when idle. */
  private startHandback(): void {
    const handback = new ConnectionHandback(
      this.#servers?.list ?? [],
      (message, handle, done) => this.master.handBack(message, handle, done),
      () => {
        if (this.inflight === 0) this.master.beat();
      },
    );
    this.master.onConnection((message, handle) => handback.receive(message, handle));
    this.#handback = handback;
  }

  /**
   * --sticky: every connection comes from the master, routed by its client. One from a proxy whose
   * forwarding headers are believed may carry requests of many clients (nginx reuses its upstream
   * connections for everyone), so it goes back to the master after each response, to be routed by
   * the next request's client; any other connection has one client and stays here. With
   * --proxy-protocol the header that names the client came once, at the start: connections stay.
   */
  private startStickyHandback(): void {
    const s = this.settings;
    const trust = compileTrust(s.forwardedAllowIps);
    const believed = s.forwarderHeaders.split(',').some((h) => h.trim() !== '');
    const manyClients = (socket: Socket) => {
      const peer = socket.remoteAddress ?? '';
      return believed && !s.proxyProtocol && (peer === '' || trust(peer, 0));
    };
    const handback = new ConnectionHandback(
      this.#servers?.list ?? [],
      (message, handle, done) => this.master.handBack(message, handle, done),
      () => {},
      manyClients,
    );
    this.master.onConnection((message, handle) => handback.receive(message, handle));
    this.#handback = handback;
  }

  private startHeartbeat(): void {
    const timeout = this.ms.timeoutMs;
    // Four beats per timeout, at most one a second: cheap, and a missed beat or two is never fatal.
    const every = timeout > 0 ? Math.max(100, Math.min(1000, timeout / 4)) : 1000;
    const pipeline = this.pipeline;
    const counts = this.#counts;
    const metrics = counts === null ? undefined : () => counts.report(this.#servers?.open ?? 0);
    this.master.startHeartbeat(every, () => ({
      served: this.served,
      inflight: pipeline.inflight,
      given: this.#handback?.received ?? 0,
      oldest: () => pipeline.oldest(),
      holding: () =>
        this.draining
          ? {
              streaming: pipeline.streaming(),
              websockets: this.openWebSockets(),
              connections: this.#servers?.open ?? 0,
            }
          : null,
      metrics,
    }));
  }

  /**
   * WebSockets still open, for what a draining worker reports to the master (the graceful-timeout
   * kill line names them): the WebSocket registry's count (workers/websockets.ts).
   */
  protected openWebSockets(): number {
    return this.websockets.open;
  }

  // ---- serving ---------------------------------------------------------------------------------

  /**
   * The worker class serves one request at a time, one per connection, each closed in stages after
   * its response (the sync worker); read once, when the servers are made.
   */
  protected readonly serial: boolean = false;

  /** Connection admission: told of each accepted connection (the sync worker stops accepting). */
  protected admitConnection(_socket: Socket): void {}

  /** Stops taking connections for now (a serial worker's servers only); they wait for another worker. */
  protected pauseAccepting(): void {
    this.#servers?.pauseAccepting();
  }

  protected resumeAccepting(): void {
    this.#servers?.resumeAccepting();
  }

  /** Whether a request may run now; the async worker sheds load, the sync worker queues. */
  protected abstract admit(request: Admissible): void;
  /** Called when a request has finished, so the worker class can admit the next. */
  protected released(): void {}
  /** Called when a connection has left HTTP through an upgrade (a WebSocket): it takes no slot from now on. */
  protected upgraded(): void {}

  /** The pipeline's view of this worker (workers/pipeline.ts). */
  private pipelineHost(): PipelineHost {
    const worker = this;
    const hooks = this.#hooks;
    return {
      get log() {
        return worker.log;
      },
      get draining() {
        return worker.draining;
      },
      admit: (request) => this.admit(request),
      released: () => this.released(),
      started: (req, now) => {
        // --dispatch request: the master gives parked connections' requests to idle workers only, so
        // it must hear at once that this one is idle no more (and, below, idle again).
        // Without a probe thread (--no-timeout-stack) nobody reads the request board, and the master
        // knows what the heartbeats told it: a beat also goes when the last one is 100 ms old (at
        // most ten a second under load, so a request that blocks right after another may go
        // unnamed, or be named as the one before).
        const master = this.master;
        if (
          (!master.lastBeatBusy && (this.#dispatchRequest || this.boot.stackProbeFd === null)) ||
          (this.boot.stackProbeFd === null && now - master.lastBeat >= HEARTBEAT_ON_REQUEST_MS)
        ) {
          master.beat();
        }
        if (hooks.preRequest) void this.runHook('preRequest', this.api, req);
      },
      finished: (req, res, socket) => {
        this.served++;
        if (this.#handback !== null) {
          // The master gives requests only to idle workers: tell it at once that this one is.
          if (this.#dispatchRequest && this.inflight === 0 && this.master.lastBeatBusy) this.master.beat();
          this.#handback.responseDone(socket);
        }
        if (hooks.postRequest) void this.runHook('postRequest', this.api, req, res);
        this.released();
        this.afterRequest();
      },
      upgraded: () => this.upgraded(),
    };
  }

  /** A request answered 503 for lack of capacity (the async worker's admission). */
  protected shed(res: ServerResponse): void {
    this.pipeline.shed(res);
  }

  private afterRequest(): void {
    if (this.#maxRequests > 0 && this.served >= this.#maxRequests && !this.#retireRequested) {
      this.#retireRequested = true;
      this.log.info('worker.exiting', `Max requests reached (${this.#maxRequests}); asking to be replaced`, {
        reason: 'max-requests',
      });
      this.master.retire('max-requests');
    }
    this.maybeFinish();
  }

  // ---- stopping --------------------------------------------------------------------------------

  /** Graceful stop: stop accepting, close idle connections, let in-flight requests finish, exit. */
  stop(reason: string): void {
    if (this.draining) return;
    this.draining = true;
    this.log.info('worker.exiting', `Worker exiting (pid: ${process.pid})`, {
      reason,
      inflight: this.inflight,
    });
    // Stop accepting, but keep idle keep-alive connections for a moment: a client may be writing
    // its next request on one right now, and closing under it would fail that request. Meanwhile
    // every response closes its connection; the connections still idle after the grace are closed.
    this.#servers?.stopAccepting();
    // A connection with requests under way closes after the last of them: its response says
    // `Connection: close`, or, its head being out already (a stream), the connection ends with it.
    // (Not `res.socket` at 'finish': node:http has detached it by then, and a stream's connection
    // stayed open for the idle grace, where the client's next request reached this old worker.)
    for (const conn of this.#pipeline?.connections ?? []) if (conn.owed.length > 0) conn.closeAfterOwed();
    // Connections that have not started a request get the same grace as idle kept-alive ones, not
    // less: one accepted just before the stop may have its first request on the way (under load a
    // proxy's fresh connection often does), and closing it would fail that request.
    const grace = Math.min(IDLE_CLOSE_GRACE_MS, this.ms.gracefulTimeoutMs / 2);
    setTimeout(() => this.#servers?.closeUnused(), grace).unref();
    // WebSockets finish the messages under way, then get 1001 and close: the worker's open
    // connections include them, so it exits once they are gone.
    this.websockets.goAway(this.ms.wsDrainGraceMs);
    // Last, once every response in flight is set to close its connection when it ends: a long-lived
    // response that ends on this signal then frees its connection, and the drain can finish.
    startDraining(reason);
    // The master learns at once what the drain waits for (the kill line names it if it runs late).
    this.master.beat();
    this.maybeFinish();
  }

  /** Drained: no request in flight and no connection open. */
  private maybeFinish(): void {
    if (this.draining && this.inflight === 0 && (this.#servers?.open ?? 0) === 0) void this.finish();
  }

  private async finish(): Promise<void> {
    if (this.#finishing) return;
    this.#finishing = true;
    try {
      // The framework first (it may still run its own hooks), then the module's own shutdown().
      await this.#served?.close?.();
    } catch (err) {
      this.log.error('worker.exiting', `Closing the app failed: ${describeError(err)}`, { err });
    }
    try {
      await this.#app?.shutdown?.();
    } catch (err) {
      this.log.error('worker.exiting', `shutdown() failed: ${describeError(err)}`, { err });
    }
    await this.runHook('workerExit', this.api);
    await this.flushTelemetry();
    this.exit(0);
  }

  /** The totals since the last heartbeat go to the master before the exit. */
  private async flushTelemetry(): Promise<void> {
    if (this.#counts === null) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      timer = setTimeout(resolve, FLUSH_TELEMETRY_MS);
      this.master.beat(resolve);
    });
    clearTimeout(timer);
  }
  #finishing = false;

  private quickExit(signal: string): void {
    void this.runHook('workerInt', this.api).finally(() => {
      this.log.info('worker.exiting', `Worker exiting (pid: ${process.pid})`, {
        reason: signal,
        quick: true,
      });
      this.exit(0);
    });
  }

  private uncaught(err: unknown, kind: string): void {
    // A refused listen() thrown from the app's timer while booting: the boot fails with it instead.
    if (!this.#ready && err === this.#refusedListen) return;
    // The program run again for run() threw before it handed the app over: the app failed to load.
    if (this.boot.appFromRun && this.#pipeline === null && !this.draining) {
      const failure = `the program failed before it called run(): ${describeError(err)}`;
      this.bootFailed(new UnicornError('UNICORN_APP_IMPORT', failure, { cause: err }));
      return;
    }
    this.log.error('worker.uncaught', `${kind} in the app: ${describeError(err)}; retiring this worker`, {
      err,
    });
    if (!this.#retireRequested) {
      this.#retireRequested = true;
      this.master.retire(kind);
    }
    this.stop(kind);
  }

  private appExited(code: number, during: string): void {
    const err = new UnicornError(
      'UNICORN_APP_EXIT',
      `the app called process.exit(${code}) during ${during === 'import' ? 'its import' : during}`,
    );
    this.log?.error('worker.boot_failed', `Worker failed to boot: ${err.message}`, {
      code: err.code,
      hint: err.hint,
      appExitCode: code,
    });
    // Likely lost (the process is going), but when it gets through the master names the cause.
    this.master.bootError(EXIT_CODES.APP_LOAD_ERROR, err.message);
    process.exitCode = EXIT_CODES.APP_LOAD_ERROR;
  }

  #bootFailed = false;

  private bootFailed(err: unknown): void {
    this.#bootFailed = true;
    const appError =
      isUnicornError(err) && err.code.startsWith('UNICORN_APP_') && err.code !== 'UNICORN_APP_LIFECYCLE';
    const code = appError ? EXIT_CODES.APP_LOAD_ERROR : EXIT_CODES.WORKER_BOOT_ERROR;
    const message = describeError(err);
    this.log?.error('worker.boot_failed', `Worker failed to boot: ${message}`, {
      err: isUnicornError(err) && err.cause !== undefined ? err.cause : err,
      ...(isUnicornError(err) ? { code: err.code, hint: err.hint } : {}),
    });
    this.master.bootError(code, message);
    this.exit(code);
  }

  protected async runHook(name: HookName, ...args: unknown[]): Promise<void> {
    const hook = this.#hooks[name];
    if (!hook) return;
    try {
      await hook(...args);
    } catch (err) {
      this.log.error('hook.error', `Error in ${name} hook: ${describeError(err)}`, { hook: name, err });
      if (name === 'postWorkerInit')
        throw new UnicornError('UNICORN_HOOK', `${name} hook failed: ${describeError(err)}`, { cause: err });
    }
  }

  protected exit(code: number): void {
    this.#captured?.flush();
    this.log?.flush();
    this.#accessLog?.flush();
    process.exit(code);
  }
}

function onceListening(server: Server): Promise<void> {
  if (server.listening) return Promise.resolve();
  return new Promise((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
}
