/**
 * The worker's http/https servers on the sockets the master gave it: their options (limits,
 * timeouts, TLS), the PROXY protocol in front of node:http, the wiring into the request pipeline,
 * and the count of open connections a drain waits for. Stopping them happens in two steps: stop
 * accepting at once, then close what is still unused after a grace (`closeUnused`).
 */

import type { IncomingMessage, Server } from 'node:http';
import type { ServerOptions } from 'node:https';
import { createRequire } from 'node:module';
import net, { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { maxHeaderSize, type RequestLimits } from '../src/http/limits.js';
import {
  acceptProxyProtocol,
  PROXY_HEADER_TIMEOUT_MS,
  type ProxyRejection,
} from '../src/http/proxy-protocol.js';
import { LinkedSet } from '../src/linked-set.js';
import type { Log } from '../src/log.js';
import http from '../src/node-http.js';
import { type ClientConnection, closeInStages } from './connection.js';
import { pausableAccept } from './listen.js';
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
  /**
   * One request per connection (the sync worker, as Gunicorn's): no keep-alive, and each connection
   * closes in stages after its response (`linger`).
   */
  readonly oneRequestPerConnection: boolean;
  /** Told of every accepted connection, before node:http sees it (the sync worker's admission). */
  readonly accepted: ((socket: Socket) => void) | null;
}

/**
 * node:https, loaded only by a worker that serves TLS: it brings node:tls and node:crypto along,
 * which a worker without TLS never needs (test/integration/modules-loaded.test.ts).
 */
function loadHttps(): typeof import('node:https') {
  return createRequire(import.meta.url)('node:https') as typeof import('node:https');
}

export class WorkerServers {
  /** In the order of the master's sockets (a handed-back connection names its server by index). */
  readonly list: Server[] = [];
  readonly #options: ServersOptions;
  readonly #pipeline: RequestPipeline;
  readonly #log: Log;
  readonly #closed: () => void;
  /**
   * With TLS, every accepted TCP socket, from before its handshake (the pipeline's connection table
   * holds the TLS sockets over them): a drain ends when none is left. Without TLS the table is the
   * record of every accepted socket, and this stays empty. Not a Set (src/linked-set.ts).
   */
  readonly #tlsSockets = new LinkedSet<Socket>();
  /** Pausing accepting on each listening server, once it listens (`pausable`). */
  readonly #pausers: Array<{ pause(): void; resume(): void }> = [];

  /** `closed` runs each time an accepted socket closes. */
  constructor(options: ServersOptions, pipeline: RequestPipeline, log: Log, closed: () => void) {
    this.#options = options;
    this.#pipeline = pipeline;
    this.#log = log;
    this.#closed = closed;
    if (options.tls === null) pipeline.connections.onClose = closed;
  }

  /** Accepted connections still open. */
  get open(): number {
    return this.#options.tls === null ? this.#pipeline.connections.size : this.#tlsSockets.size;
  }

  /** A new server for one of the master's sockets; it is added to `list` by the caller's order. */
  create(): Server {
    const o = this.#options;
    const pipeline = this.#pipeline;
    const headerTimeout = o.headerTimeoutMs;
    const options = {
      keepAliveTimeout: o.oneRequestPerConnection ? 0 : o.keepAliveMs,
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
      ? loadHttps().createServer(
          { ...o.tls, ...options, handshakeTimeout: headerTimeout || 120_000 },
          listener,
        )
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
    // One listener per accepted connection, no closure per connection.
    const accepted = o.accepted;
    const lingers = o.oneRequestPerConnection;
    const connections = pipeline.connections;
    if (o.tls) {
      server.on('connection', (socket: Socket) => {
        accepted?.(socket);
        this.#tlsSockets.add(socket);
        socket.on('close', () => {
          this.#tlsSockets.delete(socket);
          this.#closed();
        });
      });
      server.on('secureConnection', (socket: Socket) => {
        if (lingers) closeInStages(socket);
        connections.add(socket);
      });
    } else {
      server.on('connection', (socket: Socket) => {
        accepted?.(socket);
        if (lingers) closeInStages(socket);
        connections.add(socket);
      });
    }
    this.list.push(server);
    return server;
  }

  /**
   * Makes accepting pausable on every server once it listens (the sync worker). Pausing changes
   * only what the event loop polls: no socket is closed, no message goes to the master
   * (`pausableAccept` in src/node-internals.ts says how). A Node that cannot pause fails the boot,
   * naming the cause.
   */
  makePausable(server: Server): void {
    // Ahead of the worker's own 'listening' listener, so the boot fails before it reports ready.
    server.prependOnceListener('listening', () => {
      try {
        this.#pausers.push(pausableAccept(server));
      } catch (err) {
        server.emit('error', err);
      }
    });
  }

  /** Stops taking new connections for now: they wait in the kernel's queue for another worker. */
  pauseAccepting(): void {
    for (const pauser of this.#pausers) pauser.pause();
  }

  resumeAccepting(): void {
    for (const pauser of this.#pausers) pauser.resume();
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
    const connections = this.#pipeline.connections;
    if (this.#options.tls === null) {
      for (const conn of connections) if (unused(conn)) conn.socket.destroy();
      return;
    }
    for (const socket of this.#tlsSockets) {
      const conn = connections.get(socket);
      if (conn === undefined ? socket.bytesRead === 0 : unused(conn)) socket.destroy();
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

/** A connection that never started a request and is still plain HTTP. */
function unused(conn: ClientConnection): boolean {
  return conn.requests === 0 && !conn.closing && !conn.upgraded;
}
