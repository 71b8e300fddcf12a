/**
 * The worker's http/https servers on the sockets the master gave it: their options (limits,
 * timeouts, TLS), the PROXY protocol in front of node:http, the wiring into the request pipeline,
 * and the count of open connections a drain waits for. Stopping them happens in two steps: stop
 * accepting at once, then close what is still unused after a grace (`closeUnused`).
 */

import http, { type IncomingMessage } from 'node:http';
import https, { type ServerOptions } from 'node:https';
import net, { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { maxHeaderSize, type RequestLimits } from '../src/http/limits.js';
import {
  acceptProxyProtocol,
  PROXY_HEADER_TIMEOUT_MS,
  type ProxyRejection,
} from '../src/http/proxy-protocol.js';
import type { Log } from '../src/log.js';
import type { RequestPipeline } from './pipeline.js';

export interface ServersOptions {
  /** https options (--certfile and friends), or null for plain http. */
  readonly tls: ServerOptions | null;
  readonly limits: RequestLimits;
  /** --keep-alive and --header-timeout, in ms; 0 is off. */
  readonly keepAliveMs: number;
  readonly headerTimeoutMs: number;
  /** --proxy-allow-from when --proxy-protocol is on; null when it is off. */
  readonly proxyAllowed: ((peer: string) => boolean) | null;
}

export class WorkerServers {
  /** In the order of the master's sockets (a handed-back connection names its server by index). */
  readonly list: http.Server[] = [];
  readonly #options: ServersOptions;
  readonly #pipeline: RequestPipeline;
  readonly #log: Log;
  readonly #closed: () => void;
  /** Every accepted socket (TLS ones from before their handshake): a drain ends when none is left. */
  readonly #sockets = new Set<Socket>();

  /** `closed` runs each time an accepted socket closes. */
  constructor(options: ServersOptions, pipeline: RequestPipeline, log: Log, closed: () => void) {
    this.#options = options;
    this.#pipeline = pipeline;
    this.#log = log;
    this.#closed = closed;
  }

  /** Accepted connections still open. */
  get open(): number {
    return this.#sockets.size;
  }

  /** A new server for one of the master's sockets; it is added to `list` by the caller's order. */
  create(): http.Server {
    const o = this.#options;
    const pipeline = this.#pipeline;
    const headerTimeout = o.headerTimeoutMs;
    const options = {
      keepAliveTimeout: o.keepAliveMs,
      requestTimeout: 0,
      // --header-timeout: node:http counts from the connection's start (a client that never sends
      // a byte is covered) and from the first byte of each later request, never while a kept-alive
      // connection is idle (that is --keep-alive's). It checks on this interval, so the timeout
      // fires at most a quarter late.
      headersTimeout: headerTimeout,
      connectionsCheckingInterval:
        headerTimeout > 0 ? Math.max(250, Math.min(30_000, Math.floor(headerTimeout / 4))) : 30_000,
      maxHeaderSize: maxHeaderSize(o.limits),
    };
    const listener = pipeline.listener();
    const server = o.tls
      ? https.createServer({ ...o.tls, ...options, handshakeTimeout: headerTimeout || 120_000 }, listener)
      : http.createServer(options, listener);
    if (o.proxyAllowed !== null) {
      acceptProxyProtocol(server, {
        allowed: o.proxyAllowed,
        timeoutMs: PROXY_HEADER_TIMEOUT_MS,
        rejected: (rejection) => this.proxyRejected(rejection),
      });
    }
    // node:http silently drops fields past maxHeadersCount (2000): let --limit-request-fields decide.
    server.maxHeadersCount = o.limits.fields > 0 ? o.limits.fields + 1 : 0;
    server.on('clientError', (err, socket) => pipeline.clientError(err, socket));
    // Only when the app can take an upgrade: without a listener, node:http hands an Upgrade
    // request to the app as a plain request, as it always has.
    if (pipeline.takesUpgrades) {
      server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
        pipeline.upgrade(req, socket, head),
      );
    }
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => {
        this.#sockets.delete(socket);
        this.#closed();
      });
    });
    // The socket node:http parses on: the TCP socket itself, or the TLS socket over it.
    if (o.tls) server.on('secureConnection', (socket: Socket) => pipeline.connections.add(socket));
    else server.on('connection', (socket: Socket) => pipeline.connections.add(socket));
    this.list.push(server);
    return server;
  }

  /** Stops accepting; open connections stay. */
  stopAccepting(): void {
    for (const server of this.list) net.Server.prototype.close.call(server);
  }

  /**
   * Closes the connections that are idle between requests, and those that never started one (or
   * whose TLS handshake never finished). Connections carrying a request are left to finish it.
   */
  closeUnused(): void {
    for (const server of this.list) server.closeIdleConnections();
    for (const socket of this.#sockets) {
      const conn = this.#pipeline.connections.get(socket);
      if (
        conn === undefined ? socket.bytesRead === 0 : conn.requests === 0 && !conn.closing && !conn.upgraded
      )
        socket.destroy();
    }
  }

  /** --proxy-protocol: a connection closed unserved. One line each; a peer that left quietly is debug. */
  private proxyRejected({ reason, detail, peer }: ProxyRejection): void {
    const msg = `Closed a connection from ${peer || 'a unix socket'} (PROXY protocol): ${detail}`;
    const fields = { reason, peer };
    if (reason === 'closed') this.#log.debug('proxy.rejected', msg, fields);
    else this.#log.warn('proxy.rejected', msg, fields);
  }
}
