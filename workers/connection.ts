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

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
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
  /** The last of them: node:http reads its body after it is answered, if the app did not. */
  last: IncomingMessage | null = null;
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
   * With nothing owed, the connection ends now. Either way it closes in stages.
   */
  closeAfterOwed(): void {
    this.closing = true;
    // The client may still be sending: bad bytes behind its requests (the pipeline's clientError),
    // or more pipelined requests when a draining worker closes its connections.
    closeInStages(this.socket);
    const last = this.owed[this.owed.length - 1]?.res;
    if (last === undefined) {
      (this.socket as Socket).destroySoon();
      return;
    }
    if (!last.headersSent) {
      last.shouldKeepAlive = false;
      return;
    }
    const socket = this.socket;
    if (last.writableFinished) (socket as Socket).destroySoon();
    else last.once('finish', () => (socket as Socket).destroySoon());
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

/**
 * How long a connection stays half-closed after its last response (RFC 9112 section 9.6): what the
 * client still sends is read and dropped, so that closing does not turn it into a reset that could
 * destroy the response in the client's buffers.
 */
const LINGER_MS = 2000;

/**
 * Makes the socket close in stages when node:http is done with it (below). The sync worker does it
 * for every connection; the async worker for a connection whose client has sent bytes past what it
 * will be answered (after a request that closes the connection, or bad bytes after pipelined
 * requests), as nginx's `lingering_close` does by default: closing at once while the client is
 * still sending resets the connection, and a client whose next write then fails loses the answer
 * it had not read yet.
 */
export function closeInStages(socket: Duplex): void {
  (socket as Socket).destroySoon = lingerThis;
}

/**
 * node:http calls `socket.destroySoon()` once a `Connection: close` response is out; by default it
 * closes at once. Closing in stages instead (RFC 9112 section 9.6): end the write side, keep
 * reading and dropping what the client still sends (node:http parses it; the pipeline runs no
 * request after the first), and close when the client closes its side or LINGER_MS has passed.
 * Closing at once would answer a client still sending pipelined requests with a reset.
 */
function lingerThis(this: Socket): void {
  if (this.destroyed) return;
  markClosing(this);
  this.end();
  // node:http ends the socket again when the client's FIN arrives, and Node builds (and drops) an
  // "already finished" error each time: a fifth of a sync worker's CPU per request, measured.
  this.end = endedAlready;
  (this as Lingering)[LINGER_TIMER] = setTimeout(destroySocket, LINGER_MS, this);
  this.on('close', clearLinger);
  // Once both sides have ended the socket closes itself (autoDestroy); the parser reads until then.
}

const LINGER_TIMER = Symbol('unicorn.lingerTimer');

type Lingering = Socket & { [LINGER_TIMER]?: NodeJS.Timeout };

function endedAlready(this: Socket): Socket {
  return this;
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}

function clearLinger(this: Lingering): void {
  clearTimeout(this[LINGER_TIMER]);
}
