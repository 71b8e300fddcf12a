/**
 * Listening on a socket the master bound. The master binds every socket itself and never accepts on
 * it, so the socket stays open while workers come and go (a `-w 1` worker's restart queues
 * connections instead of refusing them). How a worker listens on a handle it was passed is one of
 * the Node internals kept in src/node-internals.ts.
 */

import type { Server } from 'node:net';
import { listenOnHandle } from '../src/node-internals.js';

export function listenOnInheritedHandle(server: Server, handle: unknown, backlog: number): void {
  listenOnHandle(server, handle, backlog);
}

/** Pausing and resuming accepting on a listening socket (the sync worker); also in src/node-internals.ts. */
export { pausableAccept } from '../src/node-internals.js';
