/**
 * Bind addresses, as operators write them: HOST:PORT, HOST, :PORT, [IPV6]:PORT, unix:PATH, fd://N.
 * Parsing is pure, so settings.ts validates every --bind when the configuration is resolved.
 *
 * `fd://N` names a socket the process already has open as file descriptor N (TCP or unix), bound by
 * whoever started unicorn-ts (a supervisor, a wrapper script). The master uses it as it is: it does not
 * bind it, and never removes a socket file for it.
 */

import net from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { UnicornError } from './errors.js';

export type BindAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'fd'; readonly fd: number };

/** The largest file descriptor number `fd://N` accepts (file descriptors are C ints). */
const MAX_FD = 2 ** 31 - 1;

export function parseBind(text: string): BindAddress {
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    if (path === '') throw badBind(text, 'empty unix socket path');
    return { kind: 'unix', path: resolvePath(path) };
  }
  if (text.startsWith('fd://')) {
    const fdText = text.slice(5);
    if (!/^\d+$/.test(fdText) || Number(fdText) > MAX_FD)
      throw badBind(text, `"${fdText}" is not a file descriptor number`);
    return { kind: 'fd', fd: Number(fdText) };
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

/** The address in --bind syntax: `formatBind(parseBind(text))` parses back to the same address. */
export function formatBind(bind: BindAddress): string {
  switch (bind.kind) {
    case 'unix':
      return `unix:${bind.path}`;
    case 'fd':
      return `fd://${bind.fd}`;
    case 'tcp':
      return `${net.isIPv6(bind.host) ? `[${bind.host}]` : bind.host}:${bind.port}`;
  }
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/**
 * Whether two binds would take the same socket: the same unix path, or the same TCP port (not 0,
 * which the kernel picks afresh for each) on the same host or on a wildcard host. Used to keep
 * --metrics-bind off the app's sockets.
 */
export function bindsOverlap(a: BindAddress, b: BindAddress): boolean {
  if (a.kind === 'unix' && b.kind === 'unix') return a.path === b.path;
  if (a.kind !== 'tcp' || b.kind !== 'tcp' || a.port === 0 || a.port !== b.port) return false;
  return a.host === b.host || WILDCARDS.has(a.host) || WILDCARDS.has(b.host);
}

function badBind(text: string, why: string): UnicornError {
  return new UnicornError('UNICORN_BIND', `invalid bind address "${text}": ${why}`);
}
