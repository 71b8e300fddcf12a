/**
 * The master's listening sockets. The master binds each address once at start and keeps the handle
 * for its whole life, never accepting on it: workers listen on copies passed to them over IPC and
 * accept from the shared queue themselves. Because the master's copy stays open, the port never closes
 * while workers restart; connections made while no worker listens wait in the kernel's queue.
 */

import { lookup } from 'node:dns/promises';
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { getSystemErrorName } from 'node:util';
import { UnicornError } from '../errors.js';

export type BindAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

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

export function parseBind(text: string): BindAddress {
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    if (path === '') throw badBind(text, 'empty unix socket path');
    return { kind: 'unix', path: resolvePath(path) };
  }
  let host: string;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (v6) {
    host = v6[1]!;
    portText = v6[2];
    if (net.isIPv6(host) === false) throw badBind(text, `"${host}" is not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon !== -1 && text.indexOf(':') !== colon)
      throw badBind(text, 'IPv6 addresses go in brackets: [::1]:8000');
    host = colon === -1 ? text : text.slice(0, colon);
    portText = colon === -1 ? undefined : text.slice(colon + 1);
  }
  if (host === '') host = '0.0.0.0';
  if (portText === undefined || portText === '') portText = '8000';
  if (!/^\d+$/.test(portText) || Number(portText) > 65535)
    throw badBind(text, `"${portText}" is not a port number`);
  return { kind: 'tcp', host, port: Number(portText) };
}

function badBind(text: string, why: string): UnicornError {
  return new UnicornError('UNICORN_BIND', `invalid bind address "${text}": ${why}`);
}

export async function bindSocket(bind: BindAddress): Promise<ListenSocket> {
  const internals = net as unknown as NetInternals;
  if (bind.kind === 'unix') {
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
