import type { IncomingMessage } from 'node:http';
import { drainingSignal } from '../draining.js';
import type { Logger } from '../log.js';
import type { Client, ClientResolver } from './forwarded.js';
import type { UpgradeWebSocketOptions, WebSocketUpgrade } from './websocket.js';

/** Where a WorkerRequestInfo keeps the upgrade it can perform; set on the upgrade path only. */
export const UPGRADER = Symbol('unicorn.upgrader');

/** The second argument of a fetch handler, and `req.unicorn` in the node interface. */
export interface RequestInfo {
  /**
   * The client's address: the peer's, or the one a trusted proxy forwarded. Read from the connection
   * when first asked, as node:net does: once the client has gone, a first read finds no peer and
   * gives ''. Code that needs it after the client may have left (an abort handler) reads it first.
   */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The prefix the app is mounted under (--root-path), removed from the request path; '' for none. */
  readonly rootPath: string;
  /** `http` or `https`, after trusted-proxy resolution. */
  readonly scheme: 'http' | 'https';
  readonly worker: { readonly id: number; readonly pid: number };
  /** Fires when the client goes away before the response is complete. */
  readonly signal: AbortSignal;
  /**
   * Fires when the worker begins a graceful stop (a reload, TERM, recycling...): a long-lived
   * response (SSE, a long poll) should end now, so the client reconnects to a new worker. The same
   * signal for every request, and the package's `draining` export.
   */
  readonly draining: AbortSignal;
  /** A logger bound to this request (method, url) writing to the error log. */
  readonly log: Logger;
  /**
   * Fetch interface: accept this request as a WebSocket (Deno's `Deno.upgradeWebSocket`). Return
   * `response` from the handler; `socket` opens once the handshake is done. Throws a TypeError when
   * the request is not a WebSocket handshake.
   */
  upgradeWebSocket(options?: UpgradeWebSocketOptions): WebSocketUpgrade;
}

/**
 * The RequestInfo a worker builds for every request. A class rather than an object literal with
 * getters: a literal's getters are fresh closures (and a fresh context) on every request, which
 * under load was the largest allocation of the request pipeline; here they live on the prototype.
 * Who the client is (the forwarding headers of a trusted proxy) is worked out when first read: a
 * request that never asks (most, in the node interface) costs no look at those headers.
 */
export class WorkerRequestInfo implements RequestInfo {
  readonly rootPath: string;
  readonly worker: { readonly id: number; readonly pid: number };
  readonly #abort: { readonly signal: AbortSignal };
  readonly #req: IncomingMessage;
  readonly #resolver: ClientResolver;
  #client: Client | null = null;
  readonly #parentLog: Logger;
  #log: Logger | null = null;
  /** The upgrade path sets it (workers/pipeline.ts); other requests cannot be upgraded. */
  [UPGRADER]: ((options: UpgradeWebSocketOptions) => WebSocketUpgrade) | null = null;

  constructor(
    req: IncomingMessage,
    resolver: ClientResolver,
    rootPath: string,
    worker: { readonly id: number; readonly pid: number },
    abort: { readonly signal: AbortSignal },
    parentLog: Logger,
  ) {
    this.#req = req;
    this.#resolver = resolver;
    // The peer's address is not asked for here: getpeername() is a system call and most requests
    // never read it (with a new connection per request it was 5% of a request's CPU, measured).
    this.rootPath = rootPath;
    this.worker = worker;
    this.#abort = abort;
    this.#parentLog = parentLog;
  }

  get remoteAddress(): string {
    return this.#resolved().address;
  }

  get remotePort(): number {
    return this.#req.socket.remotePort ?? 0;
  }

  get scheme(): 'http' | 'https' {
    if (this.#client === null && !this.#resolver.forwards(this.#req)) {
      return (this.#req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    }
    return this.#resolved().scheme;
  }

  #resolved(): Client {
    this.#client ??= this.#resolver(this.#req);
    return this.#client;
  }

  /** Built on first use: most requests never look. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** One signal per process, shared by every request (src/draining.ts). */
  get draining(): AbortSignal {
    return drainingSignal();
  }

  /** Built on first use: most requests never log. */
  get log(): Logger {
    this.#log ??= this.#parentLog.child({ method: this.#req.method, url: this.#req.url });
    return this.#log;
  }

  upgradeWebSocket(options: UpgradeWebSocketOptions = {}): WebSocketUpgrade {
    const upgrader = this[UPGRADER];
    if (upgrader === null) {
      throw new TypeError(
        'upgradeWebSocket(): this request is not a WebSocket handshake (no "Upgrade: websocket"), or its upgrade was already taken',
      );
    }
    this[UPGRADER] = null;
    return upgrader(options);
  }
}
