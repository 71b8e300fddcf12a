/**
 * Making the master's sockets queue connections from the moment they are bound, before any worker
 * is ready.
 *
 * The master never calls listen() on its own sockets: libuv would then accept connections in the
 * master. Until a worker called listen() on its copy, a freshly bound socket therefore refused
 * connections, for as long as the first worker took to load the app. The listening state belongs to
 * the socket, not to the descriptor, so any process holding a copy can switch it on. The first
 * worker gets an extra copy of each such socket as an inherited descriptor; the first module it
 * evaluates (workers/prime-listen.ts), before the worker code and long before the app, calls
 * listen() on each with --backlog and closes it at once, in one synchronous step, so that worker
 * never accepts on it. From then on the kernel queues connections (up to the backlog) and the first
 * ready worker serves them. No extra process, nothing on the first worker's way.
 *
 * Sockets from systemd or an old master are listening already and are left alone.
 */

import { STACK_PROBE_FD } from '../ipc.js';
import type { ListenSocket } from './sockets.js';

/** The first descriptor of the copies in the worker: after stdio, IPC and the stack probe's slot. */
export const FIRST_PRIME_FD = STACK_PROBE_FD + 1;

/** The sockets this master must have switched to listening. */
export function needEarlyListen(sockets: readonly ListenSocket[]): ListenSocket[] {
  return sockets.filter((socket) => socket.origin === 'bound' || socket.origin === 'fd');
}
