/**
 * Listening on a socket the master bound. The master binds every socket itself and never accepts on
 * it, so the socket stays open while workers come and go (a `-w 1` worker's restart queues
 * connections instead of refusing them). node:net has no public call for "listen on this inherited
 * handle" inside a cluster worker: `server.listen(handle)` there routes through the cluster primary.
 * So this does what node:cluster's own shared-handle path does: attach the handle, then run the
 * server's listen setup (`_listen2`, kept by Node as a legacy alias for exactly this use).
 */

import type { Server } from 'node:net';

interface ListenInternals {
  _handle: unknown;
  _listen2(address: string | null, port: number, addressType: number, backlog: number): void;
}

export function listenOnInheritedHandle(server: Server, handle: unknown, backlog: number): void {
  const internals = server as unknown as ListenInternals;
  if (handle === undefined || handle === null || typeof internals._listen2 !== 'function') {
    throw new Error('cannot listen on the socket handed over by the master (unsupported Node.js version?)');
  }
  internals._handle = handle;
  internals._listen2(null, -1, -1, backlog);
}
