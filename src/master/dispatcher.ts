/**
 * --dispatch request, the master's side: idle keep-alive connections wait here between requests,
 * and each next request goes to a worker that has none in flight.
 *
 * A worker hands a connection back once its response is done (workers/handback.ts). The master
 * reads until the client sends something, which is the next request coming, stops reading at once
 * (the rest stays in the kernel and travels with the socket), and queues it. The queue is served in
 * arrival order, each connection to a ready worker that is free: no request in flight at its last
 * heartbeat (a worker beats when a request starts and, in this mode, when it goes idle or hands a
 * connection back), none given by the master that it has not yet reported, and a heartbeat since
 * its last handback (see WorkerHandle.heardSinceHandback). When no worker is free, requests wait
 * here, never behind a busy worker.
 *
 * New connections do not pass through here: workers accept them from the shared queue, which only
 * free workers do.
 */

import net, { type Socket } from 'node:net';
import { rawAnswer } from '../http/own-answer.js';
import { IPC_NS } from '../ipc.js';
import { LinkedSet } from '../linked-set.js';
import { detachHandle, type NativeHandle, socketHandle } from '../node-internals.js';
import type { WorkerHandle } from './worker-handle.js';

interface Waiting {
  /** The connection's own handle, taken out of its net.Socket so that nothing reads it any more. */
  readonly handle: NativeHandle;
  readonly index: number;
  readonly head: Buffer;
}

export class RequestDispatcher {
  readonly #queue: Waiting[] = [];
  /** Not a Set: connections come and go too fast for one (src/linked-set.ts). */
  readonly #parked = new LinkedSet<Socket>();
  #next = 0;
  #stopped = false;

  /** Requests waiting for a free worker. */
  get waiting(): number {
    return this.#queue.length;
  }

  /**
   * A connection handed back by a worker (its bare handle). It waits here for its next request,
   * for at most `keepAliveMs` (--keep-alive), as it would have in the worker.
   */
  park(handle: object, index: number, keepAliveMs: number): void {
    const socket = new net.Socket({ handle, readable: true, writable: true } as net.SocketConstructorOpts);
    if (this.#stopped) {
      socket.destroy();
      return;
    }
    this.#parked.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => this.#parked.delete(socket));
    if (keepAliveMs > 0) socket.setTimeout(keepAliveMs, () => socket.destroy());
    socket.once('data', (head: Buffer) => {
      this.#parked.delete(socket);
      if (socketHandle(socket) === null) {
        socket.destroy();
        return;
      }
      if (!mayStartRequest(head)) {
        // Bytes that cannot begin a request line: answered here, so that they never take a
        // worker's turn from a request that waits behind them.
        socket.end(rawAnswer(400));
        return;
      }
      // Stop reading at once and take the handle out of the socket: node:net would otherwise start
      // reading again on its own (to refill its buffer), and bytes read here would be lost.
      const handle = detachHandle(socket)!;
      socket.destroy();
      this.#queue.push({ handle, index, head });
      this.wake?.();
    });
  }

  /** Set by the owner: called when a request is queued, so it can call `dispatch` soon. */
  wake: (() => void) | null = null;

  /** Gives queued requests to free workers, in arrival order. */
  dispatch(workers: Iterable<WorkerHandle>): void {
    const all = [...workers];
    while (this.#queue.length > 0) {
      const worker = this.#pickFree(all);
      if (worker === null) return;
      this.#give(this.#queue.shift()!, worker);
    }
  }

  /**
   * The master is stopping: idle connections close, as workers close theirs; a request already
   * waiting goes to any worker still connected (it is draining, so it answers with
   * `Connection: close`), or is closed if none is.
   */
  stop(workers: Iterable<WorkerHandle>): void {
    this.#stopped = true;
    for (const socket of this.#parked) socket.destroy();
    this.#parked.clear();
    const connected = [...workers].filter((w) => w.cluster.isConnected());
    for (const waiting of this.#queue.splice(0)) {
      const worker = connected[this.#next++ % Math.max(1, connected.length)];
      if (worker === undefined) waiting.handle.close();
      else this.#give(waiting, worker);
    }
  }

  #pickFree(workers: readonly WorkerHandle[]): WorkerHandle | null {
    // Round the starting point so that free workers share the requests.
    for (let i = 0; i < workers.length; i++) {
      const worker = workers[(this.#next + i) % workers.length]!;
      const free =
        worker.state === 'ready' &&
        worker.inflight === 0 &&
        worker.given === worker.givenSeen &&
        worker.heardSinceHandback;
      if (free) {
        this.#next = (this.#next + i + 1) % workers.length;
        return worker;
      }
    }
    return null;
  }

  #give({ handle, index, head }: Waiting, worker: WorkerHandle): void {
    worker.given++;
    giveConnection(worker, handle, index, head);
  }
}

/**
 * Gives a worker a connection (its bare handle) and the bytes the master read from it, which the
 * worker serves first ('conn'; --dispatch request and --sticky).
 */
export function giveConnection(
  worker: WorkerHandle,
  handle: NativeHandle,
  index: number,
  head: Buffer,
): void {
  const message = { ns: IPC_NS, act: 'conn', index, head: head.toString('latin1') } as const;
  // Once the message is written the worker has its own copy of the connection (or, if the worker
  // has gone, nobody else has one and closing ends it).
  worker.send(message, handle, () => handle.close());
}

/** A request line begins with a method token and a space, after any empty lines (RFC 9112 2.2). */
const REQUEST_START = /^(?:\r?\n)*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?: |$)/;
const ONLY_EMPTY_LINES = /^(?:\r?\n)*\r?$/;

/**
 * Whether the first bytes of a parked connection's next request can begin one. Only what is
 * certainly not a request is refused: a head cut inside the method or made of empty lines so far
 * goes on to a worker, whose parser has the last word.
 */
export function mayStartRequest(head: Buffer): boolean {
  const text = head.toString('latin1', 0, Math.min(head.length, 64));
  return REQUEST_START.test(text) || ONLY_EMPTY_LINES.test(text);
}
