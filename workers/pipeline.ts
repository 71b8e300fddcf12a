/**
 * One request, from the moment node:http hands it over to the moment its response closes: the
 * checks before the app runs (limits, Host, root path), admission, the app call through its
 * interface adapter, the timers that bound it, the answers the server writes itself, and the access
 * log line. Also what node:http could not parse (`clientError`).
 *
 * Built once per worker from typed options; it talks to the worker around it only through
 * `PipelineHost` and never imports the lifecycle, so it runs on a plain `http.createServer` in the
 * unit tests (test/unit/pipeline.test.ts) as well as in a worker.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { AppInterface } from '../src/app-interface.js';
import type { UpgradeHandler } from '../src/app-module.js';
import { monotonicNow, onceEvery } from '../src/clock.js';
import { describeError, UnicornError } from '../src/errors.js';
import { type AccessLogEntry, loggedStatus } from '../src/http/access-log.js';
import { interfaceHint } from '../src/http/errors.js';
import { fetchHandlerOf, NotAResponseError, toRequest, writeResponse } from '../src/http/fetch-adapter.js';
import type { ClientResolver } from '../src/http/forwarded.js';
import { LazyAbort } from '../src/http/lazy-request.js';
import {
  checkHead,
  dropUnderscoreFields,
  hasBody,
  limitBody,
  type Refusal,
  type RequestLimits,
  watchBodyIdle,
} from '../src/http/limits.js';
import { type OwnStatus, rawAnswer, SERVER } from '../src/http/own-answer.js';
import { type RequestInfo, UPGRADER, WorkerRequestInfo } from '../src/http/request-info.js';
import {
  handshakeProblem,
  type PendingUpgrade,
  ServerWebSocket,
  UPGRADE_TOKEN_HEADER,
  upgradeOf,
  upgradeResponse,
} from '../src/http/websocket.js';
import type { AccessLogWriter, Log } from '../src/log.js';
import http from '../src/node-http.js';
import { type AppCall, type AppCallContext, fetchAppCall, nodeAppCall } from './app-call.js';
import { type ClientConnection, ConnectionTable, closeInStages } from './connection.js';
import type { RequestRecorder } from './metrics.js';
import { RequestBoard } from './request-board.js';
import { answerAndClose, answerSocketAndClose, failResponse } from './responses.js';
import { logProtocolErrors, type WebSocketRegistry } from './websockets.js';

/** How long a 408 or 413 for a failed body may take to go out before the connection is cut anyway. */
const BODY_FAIL_FLUSH_MS = 1000;

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export interface PipelineOptions {
  /** The app's export, as loaded. */
  readonly app: unknown;
  readonly interface: AppInterface;
  readonly limits: RequestLimits;
  /** --root-path, '' for none. */
  readonly rootPath: string;
  /** --keep-alive 0: one request per connection. */
  readonly noKeepAlive: boolean;
  /** --request-timeout and --body-timeout in ms; 0 is off. */
  readonly requestTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  /** The access log and its compiled format, or null when there is none. */
  readonly accessLog: {
    readonly writer: AccessLogWriter;
    readonly format: (e: AccessLogEntry) => string;
  } | null;
  readonly resolveClient: ClientResolver;
  /** `info.worker`. */
  readonly worker: { readonly id: number; readonly pid: number };
  /** --metrics-bind, --statsd-host: told of every response; null when both are off. */
  readonly recorder: RequestRecorder | null;
  /**
   * Something reads a response's headers once it is written (a response-header atom of
   * --access-logformat, a postRequest hook): the fetch interface then sets them on the response one
   * by one, where it would otherwise hand node:http one object that it writes without keeping.
   */
  readonly responseHeadersRead: boolean;
  /** Node interface: the app's `upgrade` export, or null. */
  readonly upgrade: UpgradeHandler | null;
  /** The worker's WebSockets (workers/websockets.ts). */
  readonly websockets: WebSocketRegistry;
}

/** A request waiting for admission: `run()` runs it, once. */
export interface Admissible {
  readonly res: ServerResponse;
  readonly conn: ClientConnection;
  run(): void;
}

/** What the pipeline needs from the worker around it. */
export interface PipelineHost {
  readonly log: Log;
  /** The worker is draining: every response closes its connection. */
  readonly draining: boolean;
  /** The worker class's admission: `request.run()` now or later, or answer otherwise (e.g. `shed`). */
  admit(request: Admissible): void;
  /** A request `admit` accepted will not run after all: its client left while it waited its turn. */
  released(): void;
  /** A request is about to run; `now` is its start time (ms since the epoch). */
  started(req: IncomingMessage, now: number): void;
  /**
   * A request that ran has finished, whichever way (its response closed, or its connection went
   * first); `socket` was its connection. The host releases its admission slot here too.
   */
  finished(req: IncomingMessage, res: ServerResponse, socket: Socket): void;
  /**
   * A connection left HTTP through an upgrade: it will never carry a request or an admission slot
   * again, so a worker class that holds one per connection (the sync worker) lets it go here.
   */
  upgraded(): void;
}

export class RequestPipeline {
  /** The client connections the servers accepted, with the requests owed on each. */
  readonly connections = new ConnectionTable();
  /** The oldest request in flight, for the stack probe thread to read when the worker is stuck. */
  readonly board = new RequestBoard();
  readonly #options: PipelineOptions;
  readonly #host: PipelineHost;
  /**
   * The requests in flight, oldest first: a list threaded through the requests themselves, so that
   * starting and finishing one is a few pointer writes (a Map keyed by response hashed every
   * response, twice; it was the pipeline's costliest step, measured).
   */
  #oldest: InFlight | null = null;
  #newest: InFlight | null = null;
  #inflight = 0;
  /** The request the board shows, null when it shows none. */
  #posted: InFlight | null = null;
  #shedCount = 0;
  readonly #mayLogShed = onceEvery(1000);

  constructor(options: PipelineOptions, host: PipelineHost) {
    this.#options = options;
    this.#host = host;
  }

  /**
   * Whether the servers should listen for upgrades: a fetch app may always accept a WebSocket
   * (`info.upgradeWebSocket()`), a node app when it exports `upgrade`.
   */
  get takesUpgrades(): boolean {
    return this.#options.interface === 'fetch' || this.#options.upgrade !== null;
  }

  /** The worker around the pipeline. */
  get host(): PipelineHost {
    return this.#host;
  }

  /** --request-timeout in ms; 0 is off. */
  get requestTimeoutMs(): number {
    return this.#options.requestTimeoutMs;
  }

  /** Told of every response, or null (metrics and StatsD off). */
  get recorder(): RequestRecorder | null {
    return this.#options.recorder;
  }

  /** Requests admitted and not yet finished. */
  get inflight(): number {
    return this.#inflight;
  }

  /** The request in flight the longest, with its start time. */
  oldest(): [ServerResponse, number] | undefined {
    const oldest = this.#oldest;
    return oldest === null ? undefined : [oldest.res, oldest.startedAt];
  }

  /** The responses in flight, oldest first. */
  *responses(): IterableIterator<ServerResponse> {
    for (let r = this.#oldest; r !== null; r = r.newer) yield r.res;
  }

  /** Responses in flight whose head is out and whose body has not finished (one pass over them). */
  streaming(): number {
    let n = 0;
    for (let r = this.#oldest; r !== null; r = r.newer) if (r.res.headersSent && !r.res.writableFinished) n++;
    return n;
  }

  /** The function a server calls for each request. */
  listener(): RequestListener {
    const o = this.#options;
    const host = this.#host;
    const context: AppCallContext = {
      info: (req, abort) => this.requestInfo(req, abort),
      failed: (req, res, err) => this.requestFailed(req, res, err),
      keepHeaders: o.responseHeadersRead,
    };
    const handle = (o.interface === 'fetch' ? fetchAppCall : nodeAppCall)(o.app, context);
    const access = o.accessLog;
    const conns = this.connections;
    const fetchInterface = o.interface === 'fetch';
    const limits = o.limits;
    return (req, res) => {
      const conn = conns.of(req.socket);
      conn.requests++;
      conn.last = req;
      // The server has already answered on this connection with `Connection: close` (a refusal,
      // a timeout): node:http parsed this pipelined request anyway, but its answer could never be
      // sent, so it is not run. The connection closes after the answers before it.
      if (conn.closing) {
        // Its body is read and dropped, so that the client's FIN behind it is seen.
        req.resume();
        return;
      }
      if (access !== null) logAccess(req, res, access);
      // Sent on every response unless the app sets its own. A fetch-interface response gets it where
      // it is written (src/http/fetch-adapter.ts); the server's own answers carry it too.
      if (!fetchInterface) res.setHeader('server', SERVER);
      // --keep-alive 0 means one request per connection (node:http would read 0 as "no timeout").
      if (host.draining || o.noKeepAlive) res.shouldKeepAlive = false;
      if (o.rootPath !== '') stripRootPath(req, o.rootPath);
      const refusal = checkHead(req, limits);
      if (refusal !== null) return this.refuse(conn, req, res, refusal);
      // The Fetch standard forbids these methods in a Request: a fetch app cannot be given one.
      if (fetchInterface && (req.method === 'TRACE' || req.method === 'TRACK')) {
        return this.refuse(conn, req, res, {
          status: 405,
          reason: `${req.method} cannot reach a fetch handler`,
        });
      }
      if (limits.headerMap === 'drop') dropUnderscoreFields(req);
      const abort = new LazyAbort();
      if (limits.body > 0 && req.headers['content-length'] === undefined) {
        limitBody(req, limits.body, () => this.bodyTooLarge(conn, req, res, abort));
      }
      // No timer at all for the many requests without a body.
      if (o.bodyTimeoutMs > 0 && hasBody(req)) {
        watchBodyIdle(req, res, o.bodyTimeoutMs, () => this.bodyTimedOut(conn, req, res, abort));
      }
      host.admit(new InFlight(this, conn, req, res, abort, handle));
    };
  }

  /**
   * A request that asks to leave HTTP (node:http's 'upgrade' event). The connection is no longer
   * node:http's: it takes no admission slot and is never counted as an HTTP request in flight or an
   * idle connection; the WebSocket registry counts it until it closes, so a draining worker still
   * waits for it (and closes it with 1001). A WebSocket handshake that cannot succeed (RFC 6455
   * section 4.2.1: not a GET, a bad Sec-WebSocket-Key, an unknown version) is answered here, never
   * given to the app.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const o = this.#options;
    const log = this.#host.log;
    const conn = this.connections.of(socket);
    conn.upgraded = true;
    o.websockets.adopt(socket);
    this.#host.upgraded();
    socket.on('error', (err: Error & { code?: string }) => {
      log.debug('websocket.protocol', `An upgraded connection failed: ${err.message}`, { reason: err.code });
    });
    if (o.rootPath !== '') stripRootPath(req, o.rootPath);
    const refusal = this.upgradeRefusal(req);
    if (refusal !== null) {
      log.info('request.bad', `Refused ${req.method} upgrade request: ${refusal.reason}`, {
        status: refusal.status,
      });
      conn.closing = true;
      socket.end(rawAnswer(refusal.status, refusal.extra));
      return;
    }
    const webSocket = req.headers.upgrade?.toLowerCase() === 'websocket';
    const abort = new LazyAbort();
    socket.once('close', () => abort.abort(new Error('the connection closed')));
    const info = this.requestInfo(req, abort) as WorkerRequestInfo;
    if (o.interface === 'node') {
      const failed = (err: unknown) => this.upgradeFailed(req, socket, err);
      try {
        const result = o.upgrade?.(req, socket, head, info);
        if (result instanceof Promise) result.catch(failed);
      } catch (err) {
        failed(err);
      }
      return;
    }
    this.fetchUpgrade(req, socket, head, info, abort, webSocket);
  }

  /** Why an upgrade request is answered here and never given to the app, or null. */
  private upgradeRefusal(
    req: IncomingMessage,
  ): { status: OwnStatus; reason: string; extra?: Record<string, string> } | null {
    const o = this.#options;
    const head = checkHead(req, o.limits);
    if (head !== null) return head;
    if (this.#host.draining || o.websockets.goingAway) {
      return { status: 503, reason: 'the worker is stopping', extra: { 'retry-after': '1' } };
    }
    const h = req.headers;
    if (h.upgrade?.toLowerCase() === 'websocket') {
      const problem = handshakeProblem({
        method: req.method,
        upgrade: h.upgrade,
        key: h['sec-websocket-key'],
        version: h['sec-websocket-version'],
      });
      if (problem === null) return null;
      const extra: Record<string, string> | undefined =
        problem.status === 426
          ? { upgrade: 'websocket', 'sec-websocket-version': '13' }
          : problem.status === 405
            ? { allow: 'GET' }
            : undefined;
      return extra === undefined ? problem : { ...problem, extra };
    }
    // Another protocol: a node app's `upgrade` export may speak it. A fetch app is called without
    // a body, since node:http no longer reads one on this connection: only a GET can be served.
    if (o.interface === 'fetch' && req.method !== 'GET') {
      return {
        status: 405,
        reason: `an Upgrade to ${h.upgrade} with ${req.method}`,
        extra: { allow: 'GET' },
      };
    }
    return null;
  }

  /** The fetch interface's upgrade: the app answers, and `info.upgradeWebSocket()` makes it a WebSocket. */
  private fetchUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    info: WorkerRequestInfo,
    abort: LazyAbort,
    webSocket: boolean,
  ): void {
    const o = this.#options;
    const res = new http.ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.setHeader('server', SERVER);
    // The access line is written when the connection closes: a WebSocket's carries 101 and its life.
    if (o.accessLog !== null) logAccess(req, res, o.accessLog);
    const request = toRequest(req, info.scheme, abort);
    let pending: PendingUpgrade | null = null;
    // The global Web Crypto: node:crypto loads on the first WebSocket, not in every worker.
    const token = webSocket ? crypto.randomUUID() : '';
    if (webSocket) {
      const url = request.url.replace(/^http/, 'ws');
      info[UPGRADER] = (options) => {
        const ws = new ServerWebSocket(url, this.#host.log);
        pending = { socket: ws, protocol: options.protocol };
        return { response: upgradeResponse(pending, token), socket: ws };
      };
    }
    // A socket whose handshake never completes (the app answered otherwise, ws refused it) closes
    // for the app too; once open, its own close event says so instead.
    socket.once('close', () => (pending as PendingUpgrade | null)?.socket.abandon());
    const handler = fetchHandlerOf(o.app);
    new Promise<Response>((resolve) => resolve(handler(request, info)))
      .then((response) => {
        if (!(response instanceof Response)) throw new NotAResponseError(response);
        const upgrade = pending as PendingUpgrade | null;
        if (upgrade !== null && isUpgradeResponse(response, upgrade, token)) {
          res.statusCode = 101;
          o.websockets.handshake(req, socket, head, upgrade.protocol, (ws) => {
            logProtocolErrors(ws, () => this.#host.log);
            upgrade.socket.attach(ws);
          });
          return;
        }
        upgrade?.socket.abandon();
        res.once('finish', () => socket.end());
        return writeResponse(res, response);
      })
      .catch((err: unknown) => {
        (pending as PendingUpgrade | null)?.socket.abandon();
        if (abort.aborted) return;
        this.upgradeFailed(req, socket, err);
      });
  }

  /** The app threw on an upgrade request: logged as its error; the client gets a 500 when it still can. */
  private upgradeFailed(req: IncomingMessage, socket: Duplex, err: unknown): void {
    this.#host.log.error(
      'request.error',
      `Error handling upgrade request ${req.method} ${req.url}: ${describeError(err)}`,
      {
        err,
        method: req.method,
        url: req.url,
      },
    );
    if (socket.destroyed) return;
    if ((socket as Socket).bytesWritten === 0) socket.end(rawAnswer(500));
    else socket.destroy();
  }

  /** An admitted request starts: tracked until its response closes or its connection goes. */
  started(request: InFlight): void {
    const newest = this.#newest;
    request.older = newest;
    if (newest === null) this.#oldest = request;
    else newest.newer = request;
    this.#newest = request;
    this.#inflight++;
    // A request may never give the loop back, and a WORKER TIMEOUT line should name it: the
    // probe thread reads the board when the master asks, so posting costs no message.
    if (this.#posted === null) this.postOldest();
  }

  /** An admitted request is over, whichever way. */
  finished(request: InFlight): void {
    const { older, newer } = request;
    if (older === null) this.#oldest = newer;
    else older.newer = newer;
    if (newer === null) this.#newest = older;
    else newer.older = older;
    request.older = null;
    request.newer = null;
    this.#inflight--;
    request.conn.settled(request.res);
    if (request === this.#posted) this.postOldest();
  }

  /** Shows the oldest request in flight on the board, or none. */
  private postOldest(): void {
    const oldest = this.#oldest;
    this.#posted = oldest;
    if (oldest === null) {
      this.board.clear();
      return;
    }
    const req = oldest.req;
    this.board.post(req.method ?? '', req.url ?? '', oldest.startedAt);
  }

  private requestInfo(req: IncomingMessage, abort: LazyAbort): RequestInfo {
    const o = this.#options;
    return new WorkerRequestInfo(req, o.resolveClient, o.rootPath, o.worker, abort, this.#host.log.plain);
  }

  /** A request refused before the app sees it: a short answer, then the connection closes. */
  private refuse(conn: ClientConnection, req: IncomingMessage, res: ServerResponse, refusal: Refusal): void {
    this.#host.log.info('request.bad', `Refused ${req.method} request: ${refusal.reason}`, {
      status: refusal.status,
    });
    answerAndClose(conn, res, refusal.status);
    this.#options.recorder?.record(req, refusal.status, null);
  }

  /** A request answered 503 for lack of capacity: counted, and logged at most once a second. */
  shed(res: ServerResponse): void {
    answerAndClose(this.connections.of(res.req.socket), res, 503, { 'retry-after': '1' });
    const recorder = this.#options.recorder;
    if (recorder !== null) {
      recorder.record(res.req, 503, null);
      recorder.shed();
    }
    this.#shedCount++;
    if (!this.#mayLogShed()) return;
    this.#host.log.warn(
      'request.shed',
      `Answered 503: ${this.inflight} requests in flight (--worker-connections); ${this.#shedCount} shed so far`,
      {
        shed: this.#shedCount,
        url: res.req.url,
      },
    );
  }

  /** --request-timeout: the app's signal aborts, the client gets a 503, the worker serves on. */
  requestTimedOut(conn: ClientConnection, req: IncomingMessage, res: ServerResponse, abort: LazyAbort): void {
    this.#host.log.warn(
      'request.timeout',
      `Request ${req.method} ${req.url} exceeded --request-timeout; answered 503`,
      {
        method: req.method,
        url: req.url,
        timeoutMs: this.#options.requestTimeoutMs,
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
    const timeoutMs = this.#options.bodyTimeoutMs;
    const seconds = timeoutMs / 1000;
    this.#host.log.warn(
      'request.body_timeout',
      `Request ${req.method} ${req.url}: no body data for ${seconds} s (--body-timeout); ${res.headersSent ? 'connection closed' : 'answered 408'}`,
      { method: req.method, url: req.url, timeoutMs },
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
    const reason = `body exceeds --limit-request-body ${this.#options.limits.body}`;
    this.#host.log.info('request.bad', `Refused ${req.method} request: ${reason}`, { status: 413 });
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

  private requestFailed(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    const hint = interfaceHint(err, this.#options.interface);
    this.#host.log.error(
      'request.error',
      `Error handling request ${req.method} ${req.url}: ${describeError(err)}`,
      {
        err,
        method: req.method,
        url: req.url,
        ...(hint === undefined ? {} : { hint }),
      },
    );
    failResponse(this.connections.of(res.req.socket), res);
  }

  /**
   * Bytes node:http could not parse into a request, or a request head that took longer than
   * --header-timeout (the server's `clientError` event). Never the app's business and never the
   * worker's harm: answer when the connection can still carry an answer, then close.
   */
  clientError(err: Error & { code?: string }, socket: Duplex): void {
    const log = this.#host.log;
    const conn = this.connections.of(socket);
    if (err.code === 'HPE_CLOSED_CONNECTION') {
      // Bytes after a request that closes the connection (HTTP/1.0, Connection: close) are ignored;
      // the response under way must not be cut, nor reset by a close while the client still sends.
      if (conn.owed.length > 0) closeInStages(socket);
      else if (!conn.closing) socket.destroy();
      return;
    }
    if (err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    // An answer with `Connection: close` is already on its way (it is the last word), or the
    // connection is closing in stages: what the client still sends is read and dropped.
    if (conn.closing) return;
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    // The bad bytes are part of the body of the request being read (a malformed chunk, or the
    // connection ended mid-body): that request fails like a body that stopped arriving.
    const reading = conn.owed[conn.owed.length - 1];
    if (reading !== undefined && !reading.res.req.complete) {
      const { res, abort } = reading;
      log.info(
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
    // The bad bytes are the rest of the body of a request already answered (the app answered
    // without reading it all, and node:http reads and drops it): that request has its answer, and a
    // second one would be read as the answer to the client's next request. The connection ends.
    if (conn.owed.length === 0 && conn.last !== null && !conn.last.complete) {
      log.debug('request.bad', `Bad body after its request was answered: ${err.message}`, { code: err.code });
      closeInStages(socket);
      (socket as Socket).destroySoon();
      return;
    }
    // Requests parsed before the bad bytes are owed their answers, in order; then the connection
    // closes, and the bad bytes get none (a client that pipelined them cannot tell which request
    // an extra 400 would belong to).
    if (conn.owed.length > 0) {
      log.debug('request.bad', `Bad bytes after a pipelined request: ${err.message}`, {
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
      log.debug('request.bad', 'Closed a connection that sent nothing for --header-timeout', {
        code: err.code,
      });
      socket.destroy();
      return;
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    log.debug('request.bad', `Bad request: ${err.message}`, { code: err.code, status });
    answerSocketAndClose(conn, status);
  }
}

/** Where a response keeps its InFlight, for the one shared 'close' listener. */
const IN_FLIGHT = Symbol('unicorn.inFlight');

type TrackedResponse = ServerResponse & { [IN_FLIGHT]?: InFlight };

/** The one 'close' listener of every admitted response: no closure per request. */
function onResponseClose(this: TrackedResponse): void {
  this[IN_FLIGHT]?.finish();
}

/** The one --request-timeout callback, given its request as the timer's argument. */
function onRequestTimeout(request: InFlight): void {
  request.timedOut();
}

/**
 * One request from admission to its end, all its state in one object: the pipeline's per-request
 * work needs no closures (the worker class queues the object itself, the response's 'close'
 * listener and the timeout timer are shared functions given it).
 */
class InFlight implements Admissible {
  readonly #pipeline: RequestPipeline;
  readonly conn: ClientConnection;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly abort: LazyAbort;
  readonly #handle: AppCall;
  startedAt = 0;
  /** Its neighbours in the pipeline's list of requests in flight (oldest first). */
  older: InFlight | null = null;
  newer: InFlight | null = null;
  /** performance.now() at the start, for the latency histogram (only read when metrics are on). */
  #t0 = 0;
  #timer: NodeJS.Timeout | null = null;
  #done = false;

  constructor(
    pipeline: RequestPipeline,
    conn: ClientConnection,
    req: IncomingMessage,
    res: ServerResponse,
    abort: LazyAbort,
    handle: AppCall,
  ) {
    this.#pipeline = pipeline;
    this.conn = conn;
    this.req = req;
    this.res = res;
    this.abort = abort;
    this.#handle = handle;
  }

  /** Admitted: runs the app, unless the client left while the request waited its turn. */
  run(): void {
    const pipeline = this.#pipeline;
    const host = pipeline.host;
    const { req, res } = this;
    if (req.socket.destroyed) {
      host.released();
      return;
    }
    this.startedAt = monotonicNow();
    if (pipeline.recorder !== null) this.#t0 = performance.now();
    pipeline.started(this);
    const timeoutMs = pipeline.requestTimeoutMs;
    if (timeoutMs > 0) this.#timer = setTimeout(onRequestTimeout, timeoutMs, this);
    this.conn.owe(this);
    (res as TrackedResponse)[IN_FLIGHT] = this;
    res.on('close', onResponseClose);
    host.started(req, this.startedAt);
    this.#handle(req, res, this.abort);
  }

  /**
   * Runs once: when the response closes, or when its connection goes before the response ever got
   * it (a pipelined response queued behind one that closed the connection).
   */
  finish(): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (!this.res.writableFinished) this.abort.abort();
    const recorder = this.#pipeline.recorder;
    if (recorder !== null) {
      const res = this.res;
      recorder.record(this.req, res.headersSent ? res.statusCode : 0, (performance.now() - this.#t0) / 1000);
    }
    this.#pipeline.finished(this);
    this.#pipeline.host.finished(this.req, this.res, this.req.socket);
  }

  timedOut(): void {
    this.#pipeline.requestTimedOut(this.conn, this.req, this.res, this.abort);
  }
}

/** Writes the access log line when the response closes; every response is logged, refused and shed ones too. */
function logAccess(
  req: IncomingMessage,
  res: ServerResponse,
  access: NonNullable<PipelineOptions['accessLog']>,
): void {
  const startedAt = process.hrtime.bigint();
  // Read now, while the client is connected: by the time a cut-off response closes, the socket
  // no longer knows its peer.
  const remoteAddress = req.socket.remoteAddress ?? '-';
  let bodyBytes = countBody(res, (n) => (bodyBytes += n));
  res.once('close', () => {
    access.writer.write(
      access.format({
        req,
        res,
        status: loggedStatus(res),
        remoteAddress,
        startedAt,
        finishedAt: process.hrtime.bigint(),
        bodyBytes,
        date: new Date(),
      }),
    );
  });
}

/** The Response the app returned is the upgrade's, or a copy a framework made of it. */
function isUpgradeResponse(response: Response, pending: PendingUpgrade, token: string): boolean {
  return upgradeOf(response) === pending || response.headers.get(UPGRADE_TOKEN_HEADER) === token;
}

/** `/api/users?x` under root path `/api` becomes `/users?x`; other paths are left alone. */
function stripRootPath(req: IncomingMessage, rootPath: string): void {
  const url = req.url ?? '/';
  if (url === rootPath || url.startsWith(`${rootPath}/`) || url.startsWith(`${rootPath}?`)) {
    const rest = url.slice(rootPath.length);
    req.url = rest.startsWith('/') ? rest : `/${rest}`;
  }
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
