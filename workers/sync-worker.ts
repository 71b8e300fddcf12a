import type http from 'node:http';
import type { Socket } from 'node:net';
import { pausableAccept } from './listen.js';
import type { Admissible } from './pipeline.js';
import { Worker } from './worker.js';

/**
 * How long a connection stays half-closed after its response (RFC 9112 section 9.6): what the
 * client still sends is read and dropped, so that closing does not turn it into a reset that could
 * destroy the response in the client's buffers.
 */
const LINGER_MS = 2000;

/**
 * Gunicorn's sync worker for Node: exactly one request runs at a time in each worker.
 *
 * A busy sync worker does not accept: as soon as it takes a connection it pauses accepting on its
 * copies of the listening sockets, so the next connection waits in the kernel's queue for whichever
 * worker is free first, instead of queueing behind a busy one; when its response is done it accepts
 * again. Pausing changes only what the event loop polls: no socket is closed, no message goes to the
 * master (`pausableAccept` in src/node-internals.ts says how). As
 * in Gunicorn, connections are not kept alive: one request per connection.
 */
export class SyncWorker extends Worker {
  readonly #waiting: Admissible[] = [];
  readonly #pausers: Array<{ pause(): void; resume(): void }> = [];
  #busy = false;
  #accepting = true;

  protected override createServer(): http.Server {
    const server = super.createServer();
    server.keepAliveTimeout = 0;
    server.prependListener('connection', (socket: Socket) => this.took(socket));
    // Called by node:http once a `Connection: close` response is out; by default it closes at once.
    server.on('connection', (socket: Socket) => {
      socket.destroySoon = () => linger(socket);
    });
    // --sticky: the master accepts and gives this worker its connections; there is nothing to pause.
    if (this.settings.sticky) return server;
    // Ahead of the worker's own listener: a Node that cannot pause fails the boot, naming the cause.
    server.prependOnceListener('listening', () => {
      try {
        this.#pausers.push(pausableAccept(server));
      } catch (err) {
        server.emit('error', err);
      }
    });
    return server;
  }

  /** A connection was accepted: stop accepting until it is done. */
  private took(socket: Socket): void {
    // A connection that closes without a request (or after it) frees the worker too.
    socket.once('close', () => this.resumeAccepting());
    if (!this.#accepting) return;
    this.#accepting = false;
    for (const pauser of this.#pausers) pauser.pause();
  }

  private resumeAccepting(): void {
    // Free once no request runs: a connection still closing after its response does not count.
    if (this.#accepting || this.draining || this.#busy) return;
    for (const pauser of this.#pausers) pauser.resume();
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
    this.resumeAccepting();
  }
}

/**
 * Closing in stages (RFC 9112 section 9.6): end the write side once the response is out, keep
 * reading and dropping what the client still sends (node:http parses it; the worker discards the
 * requests), and close when the client closes its side or LINGER_MS has passed. Closing at once
 * would answer a client still sending pipelined requests with a reset.
 */
function linger(socket: Socket): void {
  if (socket.destroyed) return;
  socket.end();
  // node:http ends the socket again when the client's FIN arrives, and Node builds (and drops) an
  // "already finished" error each time: a fifth of a sync worker's CPU per request, measured.
  socket.end = () => socket;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  socket.once('close', () => clearTimeout(timer));
  // Once both sides have ended the socket closes itself (autoDestroy); the parser reads until then.
}
