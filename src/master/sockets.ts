/**
 * The master's listening sockets. The master binds each address once at start and keeps the handle
 * for its whole life, never accepting on it: workers listen on copies passed to them over IPC and
 * accept from the shared queue themselves. Because the master's copy stays open, the port never closes
 * while workers restart; connections made while no worker listens wait in the kernel's queue.
 */

import { lookup } from 'node:dns/promises';
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { getSystemErrorName } from 'node:util';
import { type BindAddress, parseBind } from '../bind.js';
import { UnicornError } from '../errors.js';

export { type BindAddress, parseBind };

export interface ListenSocket {
  readonly bind: BindAddress;
  /** The bound handle (a libuv TCP or Pipe wrap), passed to workers as is. */
  readonly handle: object;
  /** `http://127.0.0.1:8000` or `unix:/path`, with the real port when 0 was asked for. */
  readonly url: string;
}

interface NetInternals {
  _createServerHandle(
    address: string | null,
    port: number,
    addressType: number,
    fd?: number,
    flags?: number,
  ): object | number;
}

export async function bindSocket(bind: BindAddress): Promise<ListenSocket> {
  const internals = net as unknown as NetInternals;
  if (bind.kind === 'unix') {
    if (!existsSync(dirname(bind.path))) {
      throw new UnicornError('UNICORN_BIND', `cannot bind unix:${bind.path}: the directory does not exist`);
    }
    removeStaleUnixSocket(bind.path);
    const handle = internals._createServerHandle(bind.path, -1, -1);
    if (typeof handle === 'number') throw bindFailed(`unix:${bind.path}`, handle);
    return { bind, handle, url: `unix:${bind.path}` };
  }
  const address = net.isIP(bind.host) ? bind.host : (await lookup(bind.host)).address;
  const family = net.isIPv6(address) ? 6 : 4;
  if (bind.port !== 0) await probePort(address, bind.port);
  const handle = internals._createServerHandle(address, bind.port, family);
  if (typeof handle === 'number') throw bindFailed(`${bind.host}:${bind.port}`, handle);
  const out: { port?: number } = {};
  (handle as { getsockname(out: object): number }).getsockname(out);
  const shownHost = family === 6 ? `[${address}]` : address;
  return { bind, handle, url: `http://${shownHost}:${out.port ?? bind.port}` };
}

/**
 * libuv reports EADDRINUSE from listen(), not bind(), and the master never listens (workers do). A
 * short listen-and-close on the same address first turns a port in use into an error at start,
 * naming the address, instead of a failure in every worker.
 */
function probePort(address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE'
          ? 'address already in use'
          : err.code === 'EACCES'
            ? 'permission denied'
            : err.message;
      reject(new UnicornError('UNICORN_BIND', `cannot bind ${address}:${port}: ${why}`));
    });
    probe.listen({ host: address, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

function bindFailed(address: string, errno: number): UnicornError {
  const name = getSystemErrorName(errno);
  const why =
    name === 'EADDRINUSE' ? 'address already in use' : name === 'EACCES' ? 'permission denied' : name;
  return new UnicornError('UNICORN_BIND', `cannot bind ${address}: ${why}`);
}

/** A socket file left by a master that was killed: nobody answers on it, so it can go. */
function removeStaleUnixSocket(path: string): void {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) {
    throw new UnicornError('UNICORN_BIND', `cannot bind unix:${path}: the path exists and is not a socket`);
  }
  unlinkSync(path);
}

export function closeSocket(socket: ListenSocket): void {
  (socket.handle as { close(): void }).close();
  if (socket.bind.kind === 'unix') {
    try {
      unlinkSync(socket.bind.path);
    } catch {
      // Already gone.
    }
  }
}
