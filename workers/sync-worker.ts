import type { Socket } from 'node:net';
import type { Admissible } from './pipeline.js';
import { Worker } from './worker.js';

/**
 * Gunicorn's sync worker for Node: exactly one request runs at a time in each worker.
 *
 * A busy sync worker does not accept: as soon as it takes a connection it pauses accepting on its
 * copies of the listening sockets, so the next connection waits in the kernel's queue for whichever
 * worker is free first, instead of queueing behind a busy one; when its response is done it accepts
 * again. As in Gunicorn, connections are not kept alive: one request per connection, each closed
 * in stages after its response (workers/servers.ts). A connection upgraded to a WebSocket frees
 * the worker at the upgrade, as if it had closed: the WebSocket is not a request and holds no slot.
 * All of it is admission: the servers, the pipeline and the lifecycle are the base worker's.
 */
export class SyncWorker extends Worker {
  protected override readonly serial = true;
  readonly #waiting: Admissible[] = [];
  #busy = false;
  #accepting = true;
  /**
   * The connection the worker took when it stopped accepting, until its request is done or it
   * closes first: only that one frees the worker. The connection of an earlier response closes a
   * little later (the lingering close), and its close must not resume accepting while this one has
   * yet to send its request.
   */
  #holder: Socket | null = null;
  /** One listener for every connection's close, not a closure each. */
  readonly #connectionClosed = (() => {
    const worker = this;
    return function (this: Socket) {
      worker.closed(this);
    };
  })();

  /** A connection was accepted: stop accepting until it is done. */
  protected override admitConnection(socket: Socket): void {
    // A connection that closes without a request frees the worker too.
    socket.on('close', this.#connectionClosed);
    if (!this.#accepting) return;
    this.#accepting = false;
    this.#holder = socket;
    this.pauseAccepting();
  }

  private closed(socket: Socket): void {
    if (socket !== this.#holder) return;
    this.#holder = null;
    this.resumeAcceptingWhenFree();
  }

  /**
   * A connection that left HTTP through an upgrade frees the worker as a closing one does. Its
   * WebSocket lives on in the event loop, between requests, for as long as the peer keeps it: it
   * is no request, and it must not keep the worker from accepting for all that time (with one
   * worker, every later connection would wait in the kernel's queue until the WebSocket closed).
   * Only a connection that sent no request yet can be upgraded while the worker is free, and over
   * TLS the upgraded socket is not the one accepted: the holder is let go without comparing them.
   */
  protected override upgraded(): void {
    this.#holder = null;
    this.resumeAcceptingWhenFree();
  }

  private resumeAcceptingWhenFree(): void {
    // Free once no request runs and no connection taken is still to send one.
    if (this.#accepting || this.draining || this.#busy || this.#holder !== null) return;
    this.resumeAccepting();
    this.#accepting = true;
  }

  protected override admit(request: Admissible): void {
    const { res, conn } = request;
    res.shouldKeepAlive = false;
    // One request per connection: a request pipelined behind the first is discarded (the connection
    // closes after the first response), never queued behind itself.
    if (conn.requests > 1) {
      res.req.resume();
      return;
    }
    if (this.#busy) {
      this.#waiting.push(request);
      return;
    }
    this.#busy = true;
    request.run();
  }

  protected override released(): void {
    const next = this.#waiting.shift();
    if (next) {
      next.run();
      return;
    }
    this.#busy = false;
    // The response is done, and with it the connection's part: it closes on its own (no keep-alive).
    // Take the next one now.
    this.#holder = null;
    this.resumeAcceptingWhenFree();
  }
}
