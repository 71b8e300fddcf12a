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
  /** One listener for every connection's close, not a closure each. */
  readonly #connectionClosed = () => this.resumeAcceptingWhenFree();

  /** A connection was accepted: stop accepting until it is done. */
  protected override admitConnection(socket: Socket): void {
    // A connection that closes without a request (or after it) frees the worker too.
    socket.on('close', this.#connectionClosed);
    if (!this.#accepting) return;
    this.#accepting = false;
    this.pauseAccepting();
  }

  /**
   * A connection that left HTTP through an upgrade frees the worker as a closing one does. Its
   * WebSocket lives on in the event loop, between requests, for as long as the peer keeps it: it
   * is no request, and it must not keep the worker from accepting for all that time (with one
   * worker, every later connection would wait in the kernel's queue until the WebSocket closed).
   */
  protected override upgraded(): void {
    this.resumeAcceptingWhenFree();
  }

  private resumeAcceptingWhenFree(): void {
    // Free once no request runs: a connection still closing after its response does not count.
    if (this.#accepting || this.draining || this.#busy) return;
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
    // The response is done; its connection closes on its own (no keep-alive). Take the next one now.
    this.resumeAcceptingWhenFree();
  }
}
