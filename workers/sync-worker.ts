import type http from 'node:http';
import type { ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import { type RequestListener, Worker } from './base.js';
import { listenOnInheritedHandle } from './listen.js';

/**
 * Gunicorn's sync worker for Node: exactly one request runs at a time in each worker.
 *
 * A busy sync worker does not accept: as soon as it takes a connection it closes its copies of the
 * listening sockets (the master's copy keeps the port open), so the next connection waits in the
 * kernel's queue for whichever worker is free first, instead of queueing behind a busy one. When
 * its response is done, it asks the master for fresh copies and accepts again. As in Gunicorn,
 * connections are not kept alive: one request per connection.
 */
export class SyncWorker extends Worker {
  readonly #waiting: Array<() => void> = [];
  readonly #connections = new WeakSet<object>();
  #busy = false;
  #accepting = true;
  #resuming = false;

  protected override createServer(listener: RequestListener): http.Server {
    const server = super.createServer(listener);
    server.keepAliveTimeout = 0;
    server.prependListener('connection', (socket: Socket) => this.took(socket));
    return server;
  }

  /** A connection was accepted: stop accepting until it is done. */
  private took(socket: Socket): void {
    // A connection that closes without a request (or after it) frees the worker too.
    socket.once('close', () => void this.resumeAccepting());
    if (!this.#accepting) return;
    this.#accepting = false;
    for (const server of this.servers) net.Server.prototype.close.call(server);
  }

  private async resumeAccepting(): Promise<void> {
    // Free once no request runs: a connection still closing after its response does not count.
    if (this.#accepting || this.#resuming || this.draining || this.#busy) return;
    this.#resuming = true;
    try {
      const sockets = await this.requestSockets();
      if (this.draining || this.#busy) {
        for (const { handle } of sockets) (handle as { close(): void }).close();
        return;
      }
      sockets.forEach(({ handle, message }, i) => {
        const server = this.servers[i];
        if (server) listenOnInheritedHandle(server, handle, message.backlog);
      });
      this.#accepting = true;
    } finally {
      this.#resuming = false;
    }
  }

  protected override admit(run: () => void, res: ServerResponse): void {
    res.shouldKeepAlive = false;
    // One request per connection: a request pipelined behind the first is discarded (the connection
    // closes after the first response), never queued behind itself.
    const socket = res.req.socket;
    if (this.#connections.has(socket)) {
      res.req.resume();
      return;
    }
    this.#connections.add(socket);
    if (this.#busy) {
      this.#waiting.push(run);
      return;
    }
    this.#busy = true;
    run();
  }

  protected override released(): void {
    const next = this.#waiting.shift();
    if (next) {
      next();
      return;
    }
    this.#busy = false;
    // The response is done; its connection closes on its own (no keep-alive). Take the next one now.
    void this.resumeAccepting();
  }
}
