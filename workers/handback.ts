/**
 * --dispatch request (and --sticky, for connections from a proxy), the worker's side: keep-alive
 * connections go back to the master between requests, and come from the master with a request on
 * them.
 *
 * Once a response is done and its connection is idle, the connection is handed back to the master
 * over IPC (its handle travels with the message). The master waits for the next request on it and
 * gives it to a worker with no request in flight, which may be this one or another. So a
 * keep-alive connection never waits behind a request that keeps this worker's event loop busy.
 *
 * "Idle" must be exact, or bytes are lost: the response is fully written to the kernel, no other
 * response is pending on the connection, and node:http's parser holds no part of a next request
 * (its own idle-connection list, the one `closeIdleConnections()` uses, says so). Reading stops in
 * the same synchronous step, so anything the client sends from then on waits in the kernel and
 * travels with the socket. When any of this cannot be established, the connection simply stays in
 * this worker, as with --dispatch accept.
 */

import type http from 'node:http';
import net, { type Socket } from 'node:net';
import { IPC_NS, type MasterMessage, type WorkerMessage } from '../src/ipc.js';
import { detachHandle, hasResponseUnderWay, isIdleConnection, socketHandle } from '../src/node-internals.js';

type ConnMessage = Extract<MasterMessage, { act: 'conn' }>;

interface Tracked {
  /** Which listening socket (and server) the connection belongs to. */
  readonly index: number;
  handedBack: boolean;
}

/** Sends a message with a bare handle; `done` runs once it is written (or could not be). */
export type SendWithHandle = (message: WorkerMessage, handle: object, done: () => void) => void;

export class ConnectionHandback {
  readonly #servers: readonly http.Server[];
  readonly #send: SendWithHandle;
  readonly #closed: () => void;
  readonly #eligible: (socket: Socket) => boolean;
  readonly #tracked = new WeakMap<Socket, Tracked>();
  /** Connections received from the master so far (reported in heartbeats). */
  received = 0;

  /**
   * `closed` runs when a connection the master gave closes here (bad bytes answered 400, the client
   * left): the master counts this worker busy until it hears otherwise, so it must hear at once.
   * Only connections `eligible` says so of are handed back (--sticky: those from a proxy).
   */
  constructor(
    servers: readonly http.Server[],
    send: SendWithHandle,
    closed: () => void,
    eligible: (socket: Socket) => boolean = () => true,
  ) {
    this.#servers = servers;
    this.#send = send;
    this.#closed = closed;
    this.#eligible = eligible;
    servers.forEach((server, index) => {
      server.on('connection', (socket: Socket) => {
        if (!this.#tracked.has(socket)) this.#tracked.set(socket, { index, handedBack: false });
      });
    });
  }

  /** A connection from the master (its bare handle): the bytes it read first go to node:http, then the rest. */
  receive(message: ConnMessage, handle: object): void {
    const socket = serveConnection(this.#servers, message, handle, (socket) => {
      const tracked = { index: message.index, handedBack: false };
      this.#tracked.set(socket, tracked);
      socket.once('close', () => {
        if (!tracked.handedBack) this.#closed();
      });
    });
    if (socket !== null) this.received++;
  }

  /** A response is done: hand its connection back if it is idle (checked once the loop turns). */
  responseDone(socket: Socket | null): void {
    if (socket === null || !this.#eligible(socket)) return;
    setImmediate(() => this.#tryHandBack(socket));
  }

  #tryHandBack(socket: Socket): void {
    const tracked = this.#tracked.get(socket);
    if (tracked === undefined || tracked.handedBack) return;
    if (socket.destroyed || !socket.writable || !socket.readable) return;
    if (hasResponseUnderWay(socket)) return; // another response is under way (pipelining)
    if (socket.writableLength > 0) {
      socket.once('drain', () => this.#tryHandBack(socket));
      return;
    }
    const server = this.#servers[tracked.index];
    if (socket.readableLength > 0 || server === undefined || !isIdleConnection(server, socket)) return;
    if (socketHandle(socket) === null) return;
    // Stop reading and take the handle out of the socket in one step: nothing in node:net or
    // node:http can start reading it again, and closing the socket now frees it in node:http
    // without touching the connection.
    const handle = detachHandle(socket)!;
    tracked.handedBack = true;
    socket.destroy();
    // Once written, the master has its own copy; this one goes.
    this.#send({ ns: IPC_NS, act: 'conn-idle', index: tracked.index }, handle, () => handle.close());
  }
}

/**
 * A connection the master gives this worker (--dispatch request, --sticky), as a socket its server
 * serves: the bytes the master read go to node:http first, then the rest from the kernel. `before`
 * runs on the socket before the server sees it. Null (and the connection closed) when the server
 * it names does not exist.
 */
export function serveConnection(
  servers: readonly http.Server[],
  message: ConnMessage,
  handle: object,
  before: (socket: Socket) => void = () => {},
): Socket | null {
  const socket = new net.Socket({ handle, readable: true, writable: true } as net.SocketConstructorOpts);
  const server = servers[message.index];
  if (server === undefined) {
    socket.destroy();
    return null;
  }
  before(socket);
  if (message.head.length > 0) socket.unshift(Buffer.from(message.head, 'latin1'));
  server.emit('connection', socket);
  return socket;
}
