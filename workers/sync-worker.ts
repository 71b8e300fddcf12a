import type http from 'node:http';
import type { ServerResponse } from 'node:http';
import { type RequestListener, Worker } from './base.js';

/**
 * Gunicorn's sync worker for Node: exactly one request runs at a time in each worker. Requests that
 * arrive while one runs wait in order. As in Gunicorn, connections are not kept alive: every response
 * closes its connection, so the next request is free to land on whichever worker is idle.
 */
export class SyncWorker extends Worker {
  readonly #waiting: Array<() => void> = [];
  readonly #connections = new WeakSet<object>();
  #busy = false;

  protected override createServer(listener: RequestListener): http.Server {
    const server = super.createServer(listener);
    server.keepAliveTimeout = 0;
    return server;
  }

  protected override admit(run: () => void, res: ServerResponse): void {
    res.shouldKeepAlive = false;
    // One request per connection, as in Gunicorn's sync worker: a request pipelined behind the first
    // is discarded (the connection closes after the first response), never queued behind itself.
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
    if (next) next();
    else this.#busy = false;
  }
}
