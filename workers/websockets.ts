/**
 * A worker's WebSockets: every connection that left HTTP through an upgrade, on either interface.
 * This is the one place that knows how many are open (`open`, for heartbeats and the drain), sends
 * the keep-alive pings (--ws-ping-interval), and closes them with 1001 when the worker stops
 * (--ws-drain-grace). The fetch interface's handshakes are completed here too, with `ws`.
 *
 * A node app's `upgrade` export completes its own handshakes, usually with its own
 * `WebSocketServer`. The worker still sees the socket it gave the app; when `ws` took it, `ws`
 * marks the socket with its WebSocket under a symbol of its own (`kWebSocket`, description
 * 'websocket'): `wsOfSocket` finds it there, so pings and the 1001 reach those sockets too. That is
 * a reach into `ws`, kept here alone and checked by test/unit/websockets.test.ts.
 */

import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { rawAnswer } from '../src/http/own-answer.js';
import { LinkedSet } from '../src/linked-set.js';
import type { Log } from '../src/log.js';

/** How long a peer has to answer our 1001 before its connection is destroyed. */
const CLOSE_ANSWER_MS = 2000;

export interface WebSocketOptions {
  /** --ws-max-message, bytes. */
  readonly maxMessage: number;
  /** --ws-per-message-deflate. */
  readonly perMessageDeflate: boolean;
  /** --ws-ping-interval in ms; 0: no pings. */
  readonly pingIntervalMs: number;
}

interface Tracked {
  readonly socket: Duplex;
  /** Answered the last ping (or has not been pinged yet). */
  alive: boolean;
  /** The `ws` WebSocket on the socket, once known. */
  ws: WebSocket | null;
}

/** Where an adopted socket keeps its record. */
const TRACKED = Symbol('unicorn.upgradedSocket');

type TaggedSocket = Duplex & { [TRACKED]?: Tracked };

/** The `ws` WebSocket a socket carries, if `ws` completed a handshake on it. */
export function wsOfSocket(socket: Duplex): WebSocket | null {
  for (const symbol of Object.getOwnPropertySymbols(socket)) {
    if (symbol.description !== 'websocket') continue;
    const value = (socket as unknown as Record<symbol, unknown>)[symbol];
    if (typeof value === 'object' && value !== null && typeof (value as WebSocket).ping === 'function') {
      return value as WebSocket;
    }
  }
  return null;
}

export class WebSocketRegistry {
  /** Not a Map: clients that reconnect often make these come and go fast (src/linked-set.ts). */
  readonly #tracked = new LinkedSet<Tracked>();
  readonly #options: WebSocketOptions;
  readonly #log: () => Log;
  #server: WebSocketServer | null = null;
  #pinger: NodeJS.Timeout | null = null;
  #goingAway = false;
  /** The subprotocol each fetch app accepted, for `ws` to answer with. */
  readonly #protocols = new WeakMap<IncomingMessage, string>();

  constructor(options: WebSocketOptions, log: () => Log) {
    this.#options = options;
    this.#log = log;
  }

  /** WebSockets (upgraded connections) open in this worker now. */
  get open(): number {
    return this.#tracked.size;
  }

  /** The worker has begun to close them with 1001: a new upgrade is refused. */
  get goingAway(): boolean {
    return this.#goingAway;
  }

  /** A connection that left HTTP through an upgrade: counted until it closes. */
  adopt(socket: Duplex): void {
    const tagged = socket as TaggedSocket;
    if (tagged[TRACKED] !== undefined) return;
    const tracked: Tracked = { socket, alive: true, ws: null };
    tagged[TRACKED] = tracked;
    this.#tracked.add(tracked);
    socket.once('close', () => this.#tracked.delete(tracked));
    if (this.#pinger === null && this.#options.pingIntervalMs > 0) {
      this.#pinger = setInterval(() => this.ping(), this.#options.pingIntervalMs);
      this.#pinger.unref();
    }
  }

  /** Completes a fetch app's handshake with `ws`; `done` gets the open WebSocket. */
  handshake(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    protocol: string | undefined,
    done: (ws: WebSocket) => void,
  ): void {
    const server = this.#wss();
    if (protocol !== undefined) this.#protocols.set(req, protocol);
    server.handleUpgrade(req, socket, head, (ws) => {
      const tracked = (socket as TaggedSocket)[TRACKED];
      if (tracked !== undefined) this.#watch(tracked, ws);
      done(ws);
    });
  }

  /**
   * The start of a graceful stop: after `graceMs`, every open WebSocket gets a close frame 1001;
   * a peer that does not answer it within CLOSE_ANSWER_MS is disconnected. The connections close
   * by themselves then, and the worker's drain sees them go.
   */
  goAway(graceMs: number): void {
    if (this.#goingAway) return;
    this.#goingAway = true;
    const close = () => {
      const count = this.#tracked.size;
      if (count === 0) return;
      this.#log().info('websocket.going_away', `Closing ${count} WebSocket(s) with 1001 (going away)`, {
        count,
      });
      for (const tracked of this.#tracked) {
        const ws = tracked.ws ?? wsOfSocket(tracked.socket);
        if (ws !== null && ws.readyState === 1) ws.close(1001, 'server going away');
        // Not a WebSocket `ws` knows (another library or protocol): a clean TCP close.
        else if (ws === null) tracked.socket.end();
        const socket = tracked.socket;
        setTimeout(() => socket.destroy(), CLOSE_ANSWER_MS).unref();
      }
    };
    if (graceMs > 0) setTimeout(close, graceMs).unref();
    else close();
  }

  /** One keep-alive round: terminate who missed the last ping, ping the others. */
  private ping(): void {
    if (this.#tracked.size === 0) {
      if (this.#pinger !== null) clearInterval(this.#pinger);
      this.#pinger = null;
      return;
    }
    for (const tracked of this.#tracked) {
      if (tracked.ws === null) {
        const ws = wsOfSocket(tracked.socket);
        if (ws === null) continue;
        this.#watch(tracked, ws);
      }
      const ws = tracked.ws;
      if (ws === null || ws.readyState !== 1) continue;
      if (!tracked.alive) {
        this.#log().info('websocket.protocol', 'Terminated a WebSocket that did not answer a ping', {
          reason: 'ping-timeout',
        });
        ws.terminate();
        continue;
      }
      tracked.alive = false;
      ws.ping();
    }
  }

  #watch(tracked: Tracked, ws: WebSocket): void {
    tracked.ws = ws;
    tracked.alive = true;
    ws.on('pong', () => {
      tracked.alive = true;
    });
  }

  #wss(): WebSocketServer {
    if (this.#server !== null) return this.#server;
    const o = this.#options;
    // ws (and the zlib it loads for per-message deflate) is loaded by the first upgrade, not by a
    // worker that may never see one.
    const { WebSocketServer } = createRequire(import.meta.url)('ws') as typeof import('ws');
    const server = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: o.maxMessage,
      perMessageDeflate: o.perMessageDeflate,
      // ws 8.19 added it; its types lag: a peer that does not answer our close frame is cut after this.
      ...({ closeTimeout: CLOSE_ANSWER_MS } as object),
      handleProtocols: (_offered, req) => this.#protocols.get(req) ?? false,
    });
    // Client bytes (a message past --ws-max-message, a bad frame) close that connection, with the
    // status the protocol gives (1009, 1002, 1007): the client's doing, logged at info.
    // A handshake ws refuses after the worker's own checks (a malformed Sec-WebSocket-Extensions or
    // Sec-WebSocket-Protocol): the same answer as every refusal of ours, logged at info.
    server.on('wsClientError', (err, socket) => {
      this.#log().info('websocket.protocol', `Refused a WebSocket handshake: ${err.message}`, {
        reason: 'handshake',
      });
      if (socket.writable) socket.end(rawAnswer(400));
      else socket.destroy();
    });
    this.#server = server;
    return server;
  }
}

/** A `ws` WebSocket's protocol errors (client bytes): logged at info, never thrown. */
export function logProtocolErrors(ws: WebSocket, log: () => Log): void {
  ws.on('error', (err: Error & { code?: string }) => {
    log().info('websocket.protocol', `Closed a WebSocket: ${err.message}`, {
      reason: err.code ?? 'error',
    });
  });
}
