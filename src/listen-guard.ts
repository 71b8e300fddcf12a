/**
 * An app that still calls listen() itself (`app.listen(3000)`, left over from before unicorn-ts).
 * In a node:cluster worker, Node sends such a listen() to the primary, which binds the port and
 * serves it round-robin to the workers that asked: the app would answer on a port nobody
 * configured, outside --bind, its limits and its drain. The worker's own servers never call
 * listen() (they take the master's sockets through `_listen2`, src/node-internals.ts), so every
 * call that reaches `net.Server.prototype.listen` in a worker is the app's, and is refused before
 * anything is bound. `exclusive: true` binds in the calling process only, never through the
 * primary: Node's own way to say "a server of this worker", and allowed.
 *
 * The master installs the guard too while it imports the app (--check-config, --preload), where
 * the listen() would bind in the master itself. Nothing here runs per request.
 */

import net from 'node:net';
import { UnicornError } from './errors.js';

type Listen = typeof net.Server.prototype.listen;

/**
 * From now on, listen() on any server throws UNICORN_APP_LISTENS (after `refused` has seen the
 * error), unless it asks for `exclusive: true`. Returns a function that puts listen() back.
 */
export function refuseListen(refused: (err: UnicornError) => void): () => void {
  const original = net.Server.prototype.listen;
  const guarded = function listen(this: net.Server, ...args: unknown[]) {
    if (isExclusive(args[0])) return (original as (...a: unknown[]) => net.Server).apply(this, args);
    const err = new UnicornError(
      'UNICORN_APP_LISTENS',
      `the app called listen() on ${listenTarget(args)} itself, which unicorn-ts refuses: it listens on --bind and hands each request to the exported app`,
    );
    refused(err);
    throw err;
  };
  net.Server.prototype.listen = guarded as Listen;
  return () => {
    if (net.Server.prototype.listen === guarded) net.Server.prototype.listen = original;
  };
}

function isExclusive(first: unknown): boolean {
  return typeof first === 'object' && first !== null && (first as { exclusive?: unknown }).exclusive === true;
}

/** What a listen() call asked for, in the words of its arguments: `port 3000`, `unix socket /run/app.sock`. */
export function listenTarget(args: readonly unknown[]): string {
  const [first, second] = args;
  if (first === undefined || first === null || typeof first === 'function')
    return 'a random port (no port given)';
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    return portText(first, typeof second === 'string' ? second : undefined);
  }
  if (typeof first === 'string') return `unix socket ${first}`;
  if (typeof first === 'object') {
    const o = first as { port?: unknown; host?: unknown; path?: unknown; fd?: unknown };
    if (typeof o.path === 'string') return `unix socket ${o.path}`;
    if (typeof o.fd === 'number') return `file descriptor ${o.fd}`;
    if (typeof o.port === 'number' || typeof o.port === 'string') {
      return portText(o.port, typeof o.host === 'string' ? o.host : undefined);
    }
    if (!('port' in o) && !('host' in o)) return 'a handle';
  }
  return 'a random port (no port given)';
}

function portText(port: number | string, host: string | undefined): string {
  const where = host === undefined ? '' : ` (host ${host})`;
  return Number(port) === 0 ? `port 0 (a random port)${where}` : `port ${port}${where}`;
}
