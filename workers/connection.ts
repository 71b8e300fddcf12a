/**
 * What a worker knows of each client connection: the requests it owes answers to, in order, and
 * whether it has already told the client it will close.
 *
 * node:http parses ahead. When a client pipelines, the requests behind the first are parsed (and
 * their `request` events emitted) while the first is still being answered; their responses wait in
 * a queue inside node:http and only get the socket when the one before them finishes. If the
 * connection closes first (the server answered a bad request with `Connection: close`, or the
 * client left), those queued responses never emit `close`. So the worker never counts on a
 * response's own events alone: when a connection closes, every request still owed on it is
 * finished here, its slot released, its app signal aborted.
 */

import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { LazyAbort } from '../src/http/lazy-request.js';
import { LinkedSet } from '../src/linked-set.js';

/** A request admitted on a connection; `finish` releases it once, whichever way it ends. */
export interface OwedRequest {
  readonly res: ServerResponse;
  /** Aborts the app's work on it (its `info.signal`). */
  readonly abort: LazyAbort;
  readonly finish: () => void;
}

export class ClientConnection {
  readonly socket: Duplex;
  /** The table that tracks it until its socket closes. */
  readonly table: ConnectionTable;
  /** Requests admitted and not yet finished, oldest first. */
  readonly owed: OwedRequest[] = [];
  /** Requests parsed on this connection so far. */
  requests = 0;
  /**
   * The server has answered with `Connection: close` (a refusal, a timeout, a parse error): a
   * request parsed after that is never run, since its answer could never be sent.
   */
  closing = false;
  /**
   * The connection left HTTP through an upgrade (a WebSocket): node:http no longer parses on it, so
   * it is never idle nor unused; workers/websockets.ts counts it until it closes.
   */
  upgraded = false;

  constructor(socket: Duplex, table: ConnectionTable) {
    this.socket = socket;
    this.table = table;
  }

  owe(request: OwedRequest): void {
    this.owed.push(request);
  }

  settled(res: ServerResponse): void {
    const owed = this.owed;
    // Almost always the first: responses finish in order.
    if (owed[0]?.res === res) {
      owed.shift();
      return;
    }
    const i = owed.findIndex((r) => r.res === res);
    if (i >= 0) owed.splice(i, 1);
  }

  /** The connection is gone: whatever is still owed on it will never be answered. */
  closed(): void {
    for (const request of this.owed.splice(0)) request.finish();
  }

  /**
   * Let the answers already owed go out, then close: the last owed response carries
   * `Connection: close`, or, when its head has already gone out, the connection ends after it.
   * With nothing owed, the connection ends now.
   */
  closeAfterOwed(): void {
    this.closing = true;
    const last = this.owed[this.owed.length - 1]?.res;
    if (last === undefined) {
      this.socket.end();
      return;
    }
    if (!last.headersSent) {
      last.shouldKeepAlive = false;
      return;
    }
    const socket = this.socket;
    if (last.writableFinished) socket.end();
    else last.once('finish', () => socket.end());
  }
}

/**
 * Where a socket keeps its ClientConnection. A property rather than a WeakMap: every socket gets it
 * the same way, so it costs one hidden-class transition shared by all sockets, where a WeakMap entry
 * per connection cost an ephemeron write barrier and more GC work (measured on the sync worker,
 * where every request is a new connection).
 */
const CONNECTION = Symbol('unicorn.connection');

type Tagged = Duplex & { [CONNECTION]?: ClientConnection };

/**
 * The one 'close' listener of every tracked socket: no closure or `once` wrapper per connection
 * (with a new connection per request, those were a measurable share of the per-request work).
 */
function onTrackedSocketClose(this: Tagged): void {
  const conn = this[CONNECTION];
  if (conn !== undefined) conn.table.drop(conn);
}

/**
 * Marks a socket's connection as closing: its answers are out and it is only being drained, so a
 * request node:http still parses on it is never run (the pipeline returns at its first check).
 */
export function markClosing(socket: Duplex): void {
  const conn = (socket as Tagged)[CONNECTION];
  if (conn !== undefined) conn.closing = true;
}

/** The worker's connections, found from any request's socket. */
export class ConnectionTable {
  /** Not a Set: a Set of short-lived objects costs the garbage collector dearly (src/linked-set.ts). */
  readonly #open = new LinkedSet<ClientConnection>();
  /** Told each time a tracked connection has closed, once its owed requests are finished. */
  onClose: (() => void) | null = null;

  /** A connection node:http is about to parse requests on. */
  add(socket: Duplex): ClientConnection {
    let conn = (socket as Tagged)[CONNECTION];
    if (conn !== undefined) return conn;
    conn = new ClientConnection(socket, this);
    (socket as Tagged)[CONNECTION] = conn;
    this.#open.add(conn);
    socket.on('close', onTrackedSocketClose);
    return conn;
  }

  /** The connection's socket closed: whatever is still owed on it is finished. */
  drop(conn: ClientConnection): void {
    if (!this.#open.delete(conn)) return;
    conn.closed();
    this.onClose?.();
  }

  get(socket: Duplex): ClientConnection | undefined {
    return (socket as Tagged)[CONNECTION];
  }

  of(socket: Duplex): ClientConnection {
    return (socket as Tagged)[CONNECTION] ?? this.add(socket);
  }

  get size(): number {
    return this.#open.size;
  }

  [Symbol.iterator](): IterableIterator<ClientConnection> {
    return this.#open[Symbol.iterator]();
  }
}
