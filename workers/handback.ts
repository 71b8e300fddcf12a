/**
 * --dispatch request, the worker's side: keep-alive connections go back to the master between
 * requests, and come from the master with a request on them.
 *
 * Once a response is done and its connection is idle, the connection is handed back to the master
 * over IPC (the socket travels with the message). The master waits for the next request on it and
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

type ConnMessage = Extract<MasterMessage, { act: 'conn' }>;

interface Tracked {
  /** Which listening socket (and server) the connection belongs to. */
  readonly index: number;
  handedBack: boolean;
}

interface SocketInternals {
  _handle?: { reading?: boolean; readStop?: () => number } | null;
  _httpMessage?: unknown;
  server?: unknown;
}

interface ConnectionsList {
  idle(): Array<{ socket?: unknown }>;
}

export type SendWithSocket = (message: WorkerMessage, socket: Socket, done: () => void) => void;

export class ConnectionHandback {
  readonly #servers: readonly http.Server[];
  readonly #send: SendWithSocket;
  readonly #tracked = new WeakMap<Socket, Tracked>();
  /** Connections received from the master so far (reported in heartbeats). */
  received = 0;

  constructor(servers: readonly http.Server[], send: SendWithSocket) {
    this.#servers = servers;
    this.#send = send;
    servers.forEach((server, index) => {
      server.on('connection', (socket: Socket) => {
        if (!this.#tracked.has(socket)) this.#tracked.set(socket, { index, handedBack: false });
      });
    });
  }

  /** A connection from the master (its bare handle): the bytes it read first go to node:http, then the rest. */
  receive(message: ConnMessage, handle: object): void {
    const socket = new net.Socket({ handle, readable: true, writable: true } as net.SocketConstructorOpts);
    const server = this.#servers[message.index];
    if (server === undefined) {
      socket.destroy();
      return;
    }
    this.received++;
    this.#tracked.set(socket, { index: message.index, handedBack: false });
    socket.unshift(Buffer.from(message.head, 'latin1'));
    server.emit('connection', socket);
  }

  /** A response is done: hand its connection back if it is idle (checked once the loop turns). */
  responseDone(socket: Socket | null): void {
    if (socket === null) return;
    setImmediate(() => this.#tryHandBack(socket));
  }

  #tryHandBack(socket: Socket): void {
    const tracked = this.#tracked.get(socket);
    const internals = socket as unknown as SocketInternals;
    const handle = internals._handle;
    if (tracked === undefined || tracked.handedBack) return;
    if (socket.destroyed || !socket.writable || !socket.readable) return;
    if (internals._httpMessage) return; // another response is under way (pipelining)
    if (socket.writableLength > 0) {
      socket.once('drain', () => this.#tryHandBack(socket));
      return;
    }
    if (socket.readableLength > 0 || !this.#parserIdle(tracked.index, socket)) return;
    if (typeof handle?.readStop !== 'function') return;
    handle.reading = false;
    handle.readStop();
    tracked.handedBack = true;
    // Not passed as a server's socket: node would then track it across processes for server.close().
    internals.server = null;
    this.#send({ ns: IPC_NS, act: 'conn-idle', index: tracked.index }, socket, () => socket.destroy());
  }

  #parserIdle(index: number, socket: Socket): boolean {
    const server = this.#servers[index] as unknown as Record<symbol, ConnectionsList | undefined>;
    const key = Object.getOwnPropertySymbols(server).find((s) => s.description === 'http.server.connections');
    const list = key === undefined ? undefined : server[key];
    return list?.idle().some((parser) => parser.socket === socket) ?? false;
  }
}
