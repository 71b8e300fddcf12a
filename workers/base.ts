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
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https, { type ServerOptions } from 'node:https';
import net, { type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type AppInterface, chooseInterface } from '../src/app-interface.js';
import { type LoadedApp, loadApp } from '../src/app-module.js';
import { loadConfigFile } from '../src/config-file.js';
import { describeError, isUnicornError, UnicornError } from '../src/errors.js';
import { type AccessLogEntry, compileAccessLogFormat } from '../src/http/access-log.js';
import { failResponse, interfaceHint, rawAnswer } from '../src/http/errors.js';
import { type ClientResolver, compileTrust, createClientResolver } from '../src/http/forwarded.js';
import { LazyAbort } from '../src/http/lazy-request.js';
import {
  checkHead,
  dropUnderscoreFields,
  hasBody,
  limitBody,
  maxHeaderSize,
  type Refusal,
  type RequestLimits,
  watchBodyIdle,
} from '../src/http/limits.js';
import {
  acceptProxyProtocol,
  PROXY_HEADER_TIMEOUT_MS,
  type ProxyRejection,
} from '../src/http/proxy-protocol.js';
import { type RequestInfo, WorkerRequestInfo } from '../src/http/request-info.js';
import { tlsOptions } from '../src/http/tls.js';
import {
  EXIT_CODES,
  IPC_NS,
  isMasterMessage,
  type ListenMessage,
  type WorkerBoot,
  type WorkerMessage,
} from '../src/ipc.js';
import { type AccessLogWriter, Log, type Logger, openAccessLog } from '../src/log.js';
import { keepWorkerOnDisconnect } from '../src/node-internals.js';
import { HOOKS, type HookFn, type HookName, type WorkerSettings } from '../src/settings.js';
import { type AppCallContext, fetchAppCall, nodeAppCall } from './app-call.js';
import { type ClientConnection, ConnectionTable } from './connection.js';
import { durationsOf, type WorkerDurations } from './durations.js';
import { ConnectionHandback } from './handback.js';
import { listenOnInheritedHandle } from './listen.js';
import { RequestBoard } from './request-board.js';
import { answerAndClose } from './responses.js';
import { startStackProbe } from './stack-probe.js';

const HEARTBEAT_ON_REQUEST_MS = 100;

/** A heartbeat that keeps failing is logged at most this often. */
const HEARTBEAT_TROUBLE_EVERY_MS = 10_000;

/** How long a 408 or 413 for a failed body may take to go out before the connection is cut anyway. */
const BODY_FAIL_FLUSH_MS = 1000;

/** How long a draining worker keeps idle keep-alive connections open (at most half the graceful timeout). */
const IDLE_CLOSE_GRACE_MS = 1000;

/** Sent on every response unless the app sets its own. */
const SERVER_HEADER = 'unicorn-ts';

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

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
  protected servers: http.Server[] = [];
  protected draining = false;
  protected served = 0;
  #hooks: Partial<Record<HookName, HookFn>> = {};
  #app!: LoadedApp;
  #interface!: AppInterface;
  #maxRequests = 0;
  #retireRequested = false;
  #accessLog: AccessLogWriter | null = null;
  #formatAccessLog: ((e: AccessLogEntry) => string) | null = null;
  #beat: (() => void) | null = null;
  #lastBeat = 0;
  #lastBeatBusy = false;
  /** The oldest request in flight, for the stack probe to read when the worker is stuck. */
  readonly #board = new RequestBoard();
  /** The response the board shows, null when it shows none. */
  #posted: ServerResponse | null = null;
  /** Responses in flight, with when each started, oldest first. */
  readonly #active = new Map<ServerResponse, number>();

  /** Requests admitted and not yet finished. */
  protected get inflight(): number {
    return this.#active.size;
  }
  #resolveClient!: ClientResolver;
  /** --proxy-allow-from when --proxy-protocol is on; null when it is off. */
  #proxyAllowed: ((peer: string) => boolean) | null = null;
  #tls: ServerOptions | null = null;
  #limits!: RequestLimits;
  #rootPath = '';
  #noKeepAlive = false;
  /** Every accepted socket (TLS ones from before their handshake): the worker drains when none is left. */
  readonly #sockets = new Set<Socket>();
  /** The connections node:http parses requests on, with what each is owed. */
  readonly #conns = new ConnectionTable();
  /** --dispatch request: hands idle keep-alive connections back to the master; null otherwise. */
  #handback: ConnectionHandback | null = null;

  constructor(boot: WorkerBoot) {
    this.boot = boot;
    this.settings = boot.settings;
    this.ms = durationsOf(boot.settings);
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
      if (loading !== null) this.appExited(code, loading);
    };
    process.on('exit', appExited);
    try {
      this.initProcess();
      await this.loadApp();
      loading = 'startup()';
      await this.#app.startup?.();
      loading = null;
      await this.runHook('postWorkerInit', this.api);
    } catch (err) {
      loading = null;
      return this.bootFailed(err);
    } finally {
      process.off('exit', appExited);
    }
    const sockets = await this.requestSockets();
    try {
      this.servers = sockets.map(({ handle, message }) => {
        const server = this.createServer(this.requestListener());
        listenOnInheritedHandle(server, handle, message.backlog);
        return server;
      });
      await Promise.all(
        this.servers.map((server, i) =>
          onceListening(server).catch((err: unknown) => {
            throw new UnicornError(
              'UNICORN_BIND',
              `cannot listen on ${sockets[i]!.message.url}: ${describeError(err)}`,
            );
          }),
        ),
      );
    } catch (err) {
      return this.bootFailed(err);
    }
    if (this.settings.dispatch === 'request') this.startHandback();
    // Logged before the master hears of it, so the log reads in the order things happened.
    this.log.info('worker.ready', `Worker ready (pid: ${process.pid})`, { age: this.boot.age });
    this.send({ ns: IPC_NS, act: 'ready' });
    this.startHeartbeat();
    // Started once serving, so it never delays a boot.
    startStackProbe(this.boot.stackProbeFd, this.#board.buffer, (err) =>
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
    process.title = `unicorn-ts: worker [${s.procName ?? this.boot.appModule}]`;
    dropPrivileges(s.group, s.user);
    this.#resolveClient = createClientResolver(s.forwardedAllowIps, s.forwarderHeaders);
    if (s.proxyProtocol === true) {
      const trust = compileTrust(s.proxyAllowFrom);
      this.#proxyAllowed = (peer) => trust(peer, 0);
    }
    this.#tls = tlsOptions(s);
    this.#rootPath = s.rootPath;
    this.#noKeepAlive = s.keepAlive === 0;
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
    process.on('SIGTERM', () => this.stop('SIGTERM'));
    process.on('SIGINT', () => this.quickExit('SIGINT'));
    process.on('SIGQUIT', () => this.quickExit('SIGQUIT'));
    process.on('SIGABRT', () => {
      void this.runHook('workerAbort', this.api).finally(() => this.exit(1));
    });
    // The terminal's Ctrl-C and logrotate's HUP/USR1 are the master's business.
    for (const ignored of ['SIGHUP', 'SIGTTIN', 'SIGTTOU', 'SIGWINCH', 'SIGUSR2'] as const)
      process.on(ignored, () => {});
    process.on('SIGUSR1', () => {
      this.log.reopen();
      this.#accessLog?.reopen();
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

  protected async loadApp(): Promise<void> {
    if (this.boot.configFile !== null) {
      const values = await loadConfigFile(this.boot.configFile);
      for (const name of Object.keys(HOOKS) as HookName[]) {
        if (typeof values[name] === 'function') this.#hooks[name] = values[name] as HookFn;
      }
    }
    this.#app = await loadApp(this.boot.appModule, this.boot.cwd);
    const choice = chooseInterface(this.#app.app, this.settings.interface);
    this.#interface = choice.interface;
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

  /** Says hello, then collects one `listen` message (with its handle) per socket the master owns. */
  protected requestSockets(): Promise<Array<{ handle: unknown; message: ListenMessage }>> {
    return new Promise((resolve) => {
      const got: Array<{ handle: unknown; message: ListenMessage }> = [];
      const onMessage = (message: unknown, handle: unknown) => {
        if (!isMasterMessage(message) || message.act !== 'listen') return;
        got[message.index] = { handle, message };
        if (got.filter(Boolean).length === message.count) {
          process.off('message', onMessage);
          resolve(got);
        }
      };
      process.on('message', onMessage);
      this.send({ ns: IPC_NS, act: 'hello', interface: this.#interface });
    });
  }

  /** --dispatch request: connections come from the master too, and go back to it when idle. */
  private startHandback(): void {
    const handback = new ConnectionHandback(
      this.servers,
      (message, handle, done) => {
        if (!process.connected || !process.send) return done();
        // biome-ignore lint/suspicious/noExplicitAny: process.send types its handle narrowly; it accepts TCP and Pipe wraps.
        process.send(message, handle as any, {}, () => done());
        // node holds this beat until the master has acknowledged the handle: when it arrives, the
        // master knows this worker's state after the handback (src/master/dispatcher.ts).
        this.#beat?.();
      },
      () => {
        if (this.inflight === 0) this.#beat?.();
      },
    );
    process.on('message', (message: unknown, handle: unknown) => {
      if (!isMasterMessage(message) || message.act !== 'conn') return;
      if (typeof handle === 'object' && handle !== null) handback.receive(message, handle);
    });
    this.#handback = handback;
  }

  protected startHeartbeat(): void {
    const timeout = this.ms.timeoutMs;
    // Four beats per timeout, at most one a second: cheap, and a missed beat or two is never fatal.
    const every = timeout > 0 ? Math.max(100, Math.min(1000, timeout / 4)) : 1000;
    // Reading the RSS opens /proc/self/stat: at EMFILE (the app leaks descriptors) it throws, and a
    // throw here would be reported as the app's uncaught error. It is the worker's own trouble:
    // logged as such, and the last known RSS is sent.
    let rss = 0;
    let troubleAt = 0;
    const trouble = (what: string, err: unknown) => {
      if (Date.now() - troubleAt < HEARTBEAT_TROUBLE_EVERY_MS) return;
      troubleAt = Date.now();
      const code = (err as NodeJS.ErrnoException).code ?? null;
      const fds = code === 'EMFILE' || code === 'ENFILE';
      this.log.warn(
        'worker.heartbeat_failed',
        `Worker (pid: ${process.pid}) cannot ${what}: ${describeError(err)}${fds ? ' (out of file descriptors: raise ulimit -n, or look for a descriptor leak)' : ''}`,
        { what, errorCode: code, err },
      );
    };
    const beat = () => {
      this.#lastBeat = Date.now();
      const oldest = this.#active.entries().next().value as [ServerResponse, number] | undefined;
      const req = oldest?.[0].req;
      this.#lastBeatBusy = oldest !== undefined;
      try {
        rss = process.memoryUsage.rss();
      } catch (err) {
        trouble('measure its memory', err);
      }
      try {
        this.send({
          ns: IPC_NS,
          act: 'heartbeat',
          requests: this.served,
          inflight: this.inflight,
          given: this.#handback?.received ?? 0,
          rss,
          oldest: oldest && req ? { request: `${req.method} ${req.url}`, startedAt: oldest[1] } : null,
        });
      } catch (err) {
        trouble('send its heartbeat to the master', err);
      }
    };
    setInterval(beat, every).unref();
    this.#beat = beat;
    beat();
  }

  /** Shows the oldest request in flight on the board (Map order is start order), or none. */
  private postOldest(): void {
    const oldest = this.#active.entries().next().value as [ServerResponse, number] | undefined;
    if (oldest === undefined) {
      this.#posted = null;
      this.#board.clear();
      return;
    }
    const [res, startedAt] = oldest;
    this.#posted = res;
    this.#board.post(res.req.method ?? '', res.req.url ?? '', startedAt);
  }

  // ---- serving ---------------------------------------------------------------------------------

  /** The server for one listening socket; worker classes set their own limits. */
  protected createServer(listener: RequestListener): http.Server {
    const keepAlive = this.ms.keepAliveMs;
    const headerTimeout = this.ms.headerTimeoutMs;
    const options = {
      keepAliveTimeout: keepAlive,
      requestTimeout: 0,
      // --header-timeout: node:http counts from the connection's start (a client that never sends
      // a byte is covered) and from the first byte of each later request, never while a kept-alive
      // connection is idle (that is --keep-alive's). It checks on this interval, so the timeout
      // fires at most a quarter late.
      headersTimeout: headerTimeout,
      connectionsCheckingInterval:
        headerTimeout > 0 ? Math.max(250, Math.min(30_000, Math.floor(headerTimeout / 4))) : 30_000,
      maxHeaderSize: maxHeaderSize(this.#limits),
    };
    const server = this.#tls
      ? https.createServer({ ...this.#tls, ...options, handshakeTimeout: headerTimeout || 120_000 }, listener)
      : http.createServer(options, listener);
    if (this.#proxyAllowed !== null) {
      acceptProxyProtocol(server, {
        allowed: this.#proxyAllowed,
        timeoutMs: PROXY_HEADER_TIMEOUT_MS,
        rejected: (rejection) => this.proxyRejected(rejection),
      });
    }
    // node:http silently drops fields past maxHeadersCount (2000): let --limit-request-fields decide.
    server.maxHeadersCount = this.#limits.fields > 0 ? this.#limits.fields + 1 : 0;
    server.on('clientError', (err, socket) => this.clientError(err, socket));
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => {
        this.#sockets.delete(socket);
        this.maybeFinish();
      });
    });
    // The socket node:http parses on: the TCP socket itself, or the TLS socket over it.
    if (this.#tls) server.on('secureConnection', (socket: Socket) => this.#conns.add(socket));
    else server.on('connection', (socket: Socket) => this.#conns.add(socket));
    return server;
  }

  /** Whether a request may run now; the async worker sheds load, the sync worker queues. */
  protected abstract admit(run: () => void, res: ServerResponse, conn: ClientConnection): void;
  /** Called when a request has finished, so the worker class can admit the next. */
  protected released(): void {}

  protected requestListener(): RequestListener {
    const worker = { id: cluster.worker?.id ?? 0, pid: process.pid };
    const context: AppCallContext = {
      info: (req, abort) => this.requestInfo(req, abort, worker),
      failed: (req, res, err) => this.requestFailed(req, res, err),
    };
    const handle = (this.#interface === 'fetch' ? fetchAppCall : nodeAppCall)(this.#app.app, context);
    const hooks = this.#hooks;
    const accessLog = this.#accessLog;
    const format = this.#formatAccessLog;
    const conns = this.#conns;
    const fetchInterface = this.#interface === 'fetch';
    return (req, res) => {
      const conn = conns.of(req.socket);
      conn.requests++;
      // The server has already answered on this connection with `Connection: close` (a refusal,
      // a timeout): node:http parsed this pipelined request anyway, but its answer could never be
      // sent, so it is not run. The connection closes after the answers before it.
      if (conn.closing) return;
      const startedAt = accessLog ? process.hrtime.bigint() : 0n;
      let bodyBytes = 0;
      if (accessLog && format) {
        bodyBytes = countBody(res, (n) => (bodyBytes += n));
        // Every response is logged, refused and shed ones included.
        res.once('close', () => {
          accessLog.write(
            format({
              req,
              res,
              remoteAddress: req.socket.remoteAddress ?? '-',
              startedAt,
              finishedAt: process.hrtime.bigint(),
              bodyBytes,
              date: new Date(),
            }),
          );
        });
      }
      res.setHeader('server', SERVER_HEADER);
      // --keep-alive 0 means one request per connection (node:http would read 0 as "no timeout").
      if (this.draining || this.#noKeepAlive) res.shouldKeepAlive = false;
      if (this.#rootPath !== '') stripRootPath(req, this.#rootPath);
      const refusal = checkHead(req, this.#limits);
      if (refusal !== null) return this.refuse(conn, req, res, refusal);
      // The Fetch standard forbids these methods in a Request: a fetch app cannot be given one.
      if (fetchInterface && (req.method === 'TRACE' || req.method === 'TRACK')) {
        return this.refuse(conn, req, res, {
          status: 405,
          reason: `${req.method} cannot reach a fetch handler`,
        });
      }
      if (this.#limits.headerMap === 'drop') dropUnderscoreFields(req);
      const abort = new LazyAbort();
      if (this.#limits.body > 0 && req.headers['content-length'] === undefined) {
        limitBody(req, this.#limits.body, () => this.bodyTooLarge(conn, req, res, abort));
      }
      // No timer at all for the many requests without a body.
      if (this.ms.bodyTimeoutMs > 0 && hasBody(req)) {
        watchBodyIdle(req, res, this.ms.bodyTimeoutMs, () => this.bodyTimedOut(conn, req, res, abort));
      }
      this.admit(
        () => {
          // The client left while the request waited for its turn (sync worker): nothing to run.
          if (req.socket.destroyed) {
            this.released();
            return;
          }
          const now = Date.now();
          const socket = req.socket;
          this.#active.set(res, now);
          // A request may never give the loop back, and a WORKER TIMEOUT line should name it. The
          // probe thread reads the board when the master asks, so posting costs no message. Without
          // a probe (--no-timeout-stack) the master knows what the heartbeats told it: a beat goes
          // as a request starts when the last one said the worker was idle, or is 100 ms old (at
          // most ten a second under load, so a request that blocks right after another may go
          // unnamed, or be named as the one before).
          if (this.#posted === null) this.postOldest();
          if (
            this.boot.stackProbeFd === null &&
            (!this.#lastBeatBusy || now - this.#lastBeat >= HEARTBEAT_ON_REQUEST_MS)
          ) {
            this.#beat?.();
          }
          const timer =
            this.ms.requestTimeoutMs > 0
              ? setTimeout(() => this.requestTimedOut(conn, req, res, abort), this.ms.requestTimeoutMs)
              : null;
          let finished = false;
          // Runs once: when the response closes, or when its connection goes before the response
          // ever got it (a pipelined response queued behind one that closed the connection).
          const finish = () => {
            if (finished) return;
            finished = true;
            if (timer) clearTimeout(timer);
            if (!res.writableFinished) abort.abort();
            this.served++;
            this.#active.delete(res);
            conn.settled(res);
            if (res === this.#posted) this.postOldest();
            if (this.#handback !== null) {
              // The master gives requests only to idle workers: tell it at once that this one is.
              if (this.inflight === 0 && this.#lastBeatBusy) this.#beat?.();
              this.#handback.responseDone(socket);
            }
            if (hooks.postRequest) void this.runHook('postRequest', this.api, req, res);
            this.released();
            this.afterRequest();
          };
          conn.owe({ res, abort, finish });
          res.once('close', finish);
          if (hooks.preRequest) void this.runHook('preRequest', this.api, req);
          handle(req, res, abort);
        },
        res,
        conn,
      );
    };
  }

  protected requestInfo(req: IncomingMessage, abort: LazyAbort, worker: RequestInfo['worker']): RequestInfo {
    const client = this.#resolveClient(req);
    return new WorkerRequestInfo(
      client.address,
      req.socket.remotePort ?? 0,
      client.scheme,
      this.#rootPath,
      worker,
      abort,
      req,
      this.log.plain,
    );
  }

  /** A request refused before the app sees it: a short answer, then the connection closes. */
  private refuse(conn: ClientConnection, req: IncomingMessage, res: ServerResponse, refusal: Refusal): void {
    this.log.info('request.bad', `Refused ${req.method} request: ${refusal.reason}`, {
      status: refusal.status,
    });
    answerAndClose(conn, res, refusal.status);
  }

  #shedCount = 0;
  #shedLoggedAt = 0;

  /** A request answered 503 for lack of capacity: counted, and logged at most once a second. */
  protected shed(res: ServerResponse): void {
    answerAndClose(this.#conns.of(res.req.socket), res, 503, { 'retry-after': '1' });
    this.#shedCount++;
    const now = Date.now();
    if (now - this.#shedLoggedAt < 1000) return;
    this.#shedLoggedAt = now;
    this.log.warn(
      'request.shed',
      `Answered 503: ${this.inflight} requests in flight (--worker-connections); ${this.#shedCount} shed so far`,
      {
        shed: this.#shedCount,
        url: res.req.url,
      },
    );
  }

  /** --request-timeout: the app's signal aborts, the client gets a 503, the worker serves on. */
  private requestTimedOut(
    conn: ClientConnection,
    req: IncomingMessage,
    res: ServerResponse,
    abort: LazyAbort,
  ): void {
    this.log.warn(
      'request.timeout',
      `Request ${req.method} ${req.url} exceeded --request-timeout; answered 503`,
      {
        method: req.method,
        url: req.url,
        timeoutMs: this.ms.requestTimeoutMs,
      },
    );
    abort.abort(new Error('request timed out'));
    if (res.headersSent) {
      res.destroy();
      return;
    }
    answerAndClose(conn, res, 503, { 'retry-after': '1' });
  }

  /**
   * --body-timeout: the client stopped sending the body. It gets 408 if the response has not
   * started; either way the connection goes, the app's body stream fails and its signal aborts.
   */
  private bodyTimedOut(
    conn: ClientConnection,
    req: IncomingMessage,
    res: ServerResponse,
    abort: LazyAbort,
  ): void {
    const seconds = this.ms.bodyTimeoutMs / 1000;
    this.log.warn(
      'request.body_timeout',
      `Request ${req.method} ${req.url}: no body data for ${seconds} s (--body-timeout); ${res.headersSent ? 'connection closed' : 'answered 408'}`,
      { method: req.method, url: req.url, timeoutMs: this.ms.bodyTimeoutMs },
    );
    const err = new UnicornError(
      'UNICORN_BODY_TIMEOUT',
      `no request body data for ${seconds} s (--body-timeout)`,
    );
    this.failBody(conn, req, res, abort, 408, err);
  }

  /**
   * --limit-request-body, for a body of unknown length that grew past it: the client gets 413 if
   * the response has not started, and the app's body stream fails (it never sees a cut body end
   * as if it were whole).
   */
  private bodyTooLarge(
    conn: ClientConnection,
    req: IncomingMessage,
    res: ServerResponse,
    abort: LazyAbort,
  ): void {
    const reason = `body exceeds --limit-request-body ${this.#limits.body}`;
    this.log.info('request.bad', `Refused ${req.method} request: ${reason}`, { status: 413 });
    const err = new UnicornError('UNICORN_BODY_TOO_LARGE', `request ${reason}`);
    this.failBody(conn, req, res, abort, 413, err);
  }

  /** A body that can no longer be read whole: answer `status` if possible, then fail the body with `err`. */
  private failBody(
    conn: ClientConnection,
    req: IncomingMessage,
    res: ServerResponse,
    abort: LazyAbort,
    status: 400 | 408 | 413,
    err: UnicornError,
  ): void {
    let failed = false;
    const fail = () => {
      if (failed) return;
      failed = true;
      // The body stream fails with `err` (this destroys the connection too), and the signal
      // aborts before the app can react to that: what the app does when its body fails is not the
      // app's error to log.
      req.destroy(err);
      abort.abort(err);
    };
    if (res.headersSent) {
      fail();
      return;
    }
    answerAndClose(conn, res, status, undefined, fail);
    // The answer may queue behind a pipelined response that is still going out: do not wait for it.
    setTimeout(fail, BODY_FAIL_FLUSH_MS).unref();
  }

  /** --proxy-protocol: a connection closed unserved. One line each; a peer that left quietly is debug. */
  private proxyRejected({ reason, detail, peer }: ProxyRejection): void {
    const msg = `Closed a connection from ${peer || 'a unix socket'} (PROXY protocol): ${detail}`;
    const fields = { reason, peer };
    if (reason === 'closed') this.log.debug('proxy.rejected', msg, fields);
    else this.log.warn('proxy.rejected', msg, fields);
  }

  protected requestFailed(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    const hint = interfaceHint(err, this.#interface);
    this.log.error(
      'request.error',
      `Error handling request ${req.method} ${req.url}: ${describeError(err)}`,
      {
        err,
        method: req.method,
        url: req.url,
        ...(hint === undefined ? {} : { hint }),
      },
    );
    failResponse(res);
  }

  /**
   * Bytes node:http could not parse into a request, or a request head that took longer than
   * --header-timeout. Never the app's business and never the worker's harm: answer when the
   * connection can still carry an answer, then close.
   */
  private clientError(err: Error & { code?: string }, socket: Duplex): void {
    const conn = this.#conns.of(socket);
    if (err.code === 'HPE_CLOSED_CONNECTION') {
      // Bytes after a request that closes the connection (HTTP/1.0, Connection: close) are ignored;
      // the response under way must not be cut.
      if (conn.owed.length === 0 && !conn.closing) socket.destroy();
      return;
    }
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    // An answer with `Connection: close` is already on its way: it is the last word.
    if (conn.closing) return;
    // The bad bytes are part of the body of the request being read (a malformed chunk, or the
    // connection ended mid-body): that request fails like a body that stopped arriving.
    const reading = conn.owed[conn.owed.length - 1];
    if (reading !== undefined && !reading.res.req.complete) {
      const { res, abort } = reading;
      this.log.info(
        'request.bad',
        `Refused ${res.req.method} request: malformed body (${err.code ?? err.message})`,
        {
          status: 400,
          code: err.code,
        },
      );
      const bad = new UnicornError('UNICORN_BAD_BODY', `malformed request body: ${err.message}`);
      this.failBody(conn, res.req, res, abort, 400, bad);
      return;
    }
    // Requests parsed before the bad bytes are owed their answers, in order; then the connection
    // closes, and the bad bytes get none (a client that pipelined them cannot tell which request
    // an extra 400 would belong to).
    if (conn.owed.length > 0) {
      this.log.debug('request.bad', `Bad bytes after a pipelined request: ${err.message}`, {
        code: err.code,
      });
      conn.closeAfterOwed();
      return;
    }
    if (
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT' &&
      conn.requests === 0 &&
      (socket as Socket).bytesRead === 0
    ) {
      // Connected and never sent a byte: nothing to answer.
      this.log.debug('request.bad', 'Closed a connection that sent nothing for --header-timeout', {
        code: err.code,
      });
      socket.destroy();
      return;
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    this.log.debug('request.bad', `Bad request: ${err.message}`, { code: err.code, status });
    conn.closing = true;
    socket.end(rawAnswer(status));
  }

  private afterRequest(): void {
    if (this.#maxRequests > 0 && this.served >= this.#maxRequests && !this.#retireRequested) {
      this.#retireRequested = true;
      this.log.info('worker.exiting', `Max requests reached (${this.#maxRequests}); asking to be replaced`, {
        reason: 'max-requests',
      });
      this.send({ ns: IPC_NS, act: 'retire', reason: 'max-requests' });
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
    for (const server of this.servers) net.Server.prototype.close.call(server);
    for (const res of this.#active.keys()) {
      if (!res.headersSent) res.shouldKeepAlive = false;
      else res.once('finish', () => res.socket?.end());
    }
    // Connections that have not started a request get the same grace as idle kept-alive ones, not
    // less: one accepted just before the stop may have its first request on the way (under load a
    // proxy's fresh connection often does), and closing it would fail that request.
    const grace = Math.min(IDLE_CLOSE_GRACE_MS, this.ms.gracefulTimeoutMs / 2);
    setTimeout(() => {
      for (const server of this.servers) server.closeIdleConnections();
      for (const socket of this.#sockets) {
        const conn = this.#conns.get(socket);
        if (conn === undefined ? socket.bytesRead === 0 : conn.requests === 0 && !conn.closing)
          socket.destroy();
      }
    }, grace).unref();
    this.maybeFinish();
  }

  /** Drained: no request in flight and no connection open. */
  private maybeFinish(): void {
    if (this.draining && this.inflight === 0 && this.#sockets.size === 0) void this.finish();
  }

  private async finish(): Promise<void> {
    if (this.#finishing) return;
    this.#finishing = true;
    try {
      await this.#app?.shutdown?.();
    } catch (err) {
      this.log.error('worker.exiting', `shutdown() failed: ${describeError(err)}`, { err });
    }
    await this.runHook('workerExit', this.api);
    this.exit(0);
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
    this.log.error('worker.uncaught', `${kind} in the app: ${describeError(err)}; retiring this worker`, {
      err,
    });
    if (!this.#retireRequested) {
      this.#retireRequested = true;
      this.send({ ns: IPC_NS, act: 'retire', reason: kind });
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
    this.send({ ns: IPC_NS, act: 'boot-error', code: EXIT_CODES.APP_LOAD_ERROR, message: err.message });
    process.exitCode = EXIT_CODES.APP_LOAD_ERROR;
  }

  private bootFailed(err: unknown): void {
    const appError =
      isUnicornError(err) && err.code.startsWith('UNICORN_APP_') && err.code !== 'UNICORN_APP_LIFECYCLE';
    const code = appError ? EXIT_CODES.APP_LOAD_ERROR : EXIT_CODES.WORKER_BOOT_ERROR;
    const message = describeError(err);
    this.log?.error('worker.boot_failed', `Worker failed to boot: ${message}`, {
      err: isUnicornError(err) && err.cause !== undefined ? err.cause : err,
      ...(isUnicornError(err) ? { code: err.code, hint: err.hint } : {}),
    });
    this.send({ ns: IPC_NS, act: 'boot-error', code, message });
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

  protected send(message: WorkerMessage): void {
    if (process.connected) process.send?.(message);
  }

  protected exit(code: number): void {
    this.log?.flush();
    this.#accessLog?.flush();
    process.exit(code);
  }
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

/** `/api/users?x` under root path `/api` becomes `/users?x`; other paths are left alone. */
function stripRootPath(req: IncomingMessage, rootPath: string): void {
  const url = req.url ?? '/';
  if (url === rootPath || url.startsWith(`${rootPath}/`) || url.startsWith(`${rootPath}?`)) {
    const rest = url.slice(rootPath.length);
    req.url = rest.startsWith('/') ? rest : `/${rest}`;
  }
}

function onceListening(server: Server): Promise<void> {
  if (server.listening) return Promise.resolve();
  return new Promise((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
}

/** Counts body bytes as they are written (for the access log's %(b)s); returns the starting count. */
function countBody(res: ServerResponse, add: (n: number) => void): number {
  const write = res.write;
  const end = res.end;
  const size = (chunk: unknown) =>
    typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk instanceof Uint8Array ? chunk.byteLength : 0;
  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    add(size(chunk));
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as ServerResponse['write'];
  res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
    if (typeof chunk !== 'function') add(size(chunk));
    return (end as (...a: unknown[]) => ServerResponse).call(this, chunk, ...rest);
  } as ServerResponse['end'];
  return 0;
}
