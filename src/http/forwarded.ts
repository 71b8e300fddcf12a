/**
 * Who the client is, behind a proxy. A request's peer is trusted when it matches
 * --forwarded-allow-ips (addresses and CIDRs, or `*`); only then do X-Forwarded-For and
 * X-Forwarded-Proto set the client address and scheme the app sees. From anyone else they are
 * ignored, so a client cannot claim another address by sending the header itself. The address
 * chain is walked by proxy-addr (Express's), which also does the CIDR matching, for
 * --proxy-allow-from too. With the PROXY protocol the peer is the client its header named (see
 * proxy-protocol.ts), so that is the address trust is decided for.
 */

import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';

export interface Client {
  readonly address: string;
  readonly scheme: 'http' | 'https';
}

export type ClientResolver = (req: IncomingMessage) => Client;

/**
 * A matcher for a comma-separated list of addresses and CIDRs, or `*` for any address
 * (--forwarded-allow-ips, --proxy-allow-from). IPv4-mapped IPv6 peers match their IPv4 entries.
 */
export function compileTrust(allow: string): (addr: string, i: number) => boolean {
  const list = allow
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return list.includes('*') ? () => true : proxyaddr.compile(list);
}

export function createClientResolver(allow: string): ClientResolver {
  const trust = compileTrust(allow);
  // Whether a connection's peer is trusted is decided once per connection (keep-alive connections
  // carry many requests), and not at all for a request without forwarding headers.
  const trustedPeer = new WeakMap<object, boolean>();
  return (req) => {
    const socket = req.socket;
    const peer = socket.remoteAddress ?? '';
    const direct: Client['scheme'] = (socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    const forwarded = req.headers.forwarded;
    const forwardedFor = req.headers['x-forwarded-for'];
    const forwardedProto = req.headers['x-forwarded-proto'];
    if (forwarded === undefined && forwardedFor === undefined && forwardedProto === undefined) {
      return { address: peer, scheme: direct };
    }
    // A unix-socket peer has no address; only processes allowed to open the socket file can connect,
    // which is the proxy's trust, so it is trusted (as Gunicorn does).
    const unixPeer = peer === '';
    let trusted = trustedPeer.get(socket);
    if (trusted === undefined) {
      trusted = unixPeer || trust(peer, 0);
      trustedPeer.set(socket, trusted);
    }
    if (!trusted) return { address: peer, scheme: direct };
    if (forwarded !== undefined) {
      // RFC 7239 takes precedence: the client is the nearest `for=` that is not a trusted proxy, and
      // the scheme the one the nearest proxy recorded.
      const elements = parseForwarded(forwarded);
      const hops = elements.map((e) => e.for ?? '');
      const address = hops.length === 0 ? peer : nearestUntrusted(hops, trust);
      const proto = elements.at(-1)?.proto?.toLowerCase();
      return { address, scheme: proto === 'https' || proto === 'http' ? proto : direct };
    }
    const address =
      forwardedFor === undefined
        ? peer
        : unixPeer
          ? nearestUntrusted(forwardedFor, trust)
          : proxyaddr(req, trust);
    return { address, scheme: forwardedScheme(forwardedProto) ?? direct };
  };
}

/** The rightmost address that is not a trusted proxy (the leftmost if all are). */
function nearestUntrusted(header: string | string[], trust: (addr: string, i: number) => boolean): string {
  const hops = Array.isArray(header) ? header : header.split(',').map((h) => h.trim());
  for (let i = hops.length - 1; i >= 0; i--) if (!trust(hops[i]!, i)) return hops[i]!;
  return hops[0] ?? '';
}

/** The scheme the nearest proxy saw: the last value of X-Forwarded-Proto, when it is http or https. */
function forwardedScheme(header: string | string[] | undefined): Client['scheme'] | undefined {
  const value = Array.isArray(header) ? header.at(-1) : header;
  const last = value?.split(',').at(-1)?.trim().toLowerCase();
  return last === 'https' || last === 'http' ? last : undefined;
}

export interface ForwardedElement {
  for?: string;
  proto?: string;
  host?: string;
  by?: string;
}

/**
 * Parses RFC 7239 `Forwarded`: elements separated by commas, pairs by semicolons, values as tokens
 * or quoted strings. A `for` node loses its brackets and port (`"[2001:db8::1]:4711"` gives
 * `2001:db8::1`, `192.0.2.1:80` gives `192.0.2.1`); `unknown` and obfuscated names stay as they are.
 */
export function parseForwarded(header: string | string[]): ForwardedElement[] {
  const text = Array.isArray(header) ? header.join(',') : header;
  const elements: ForwardedElement[] = [];
  let current: Record<string, string> = {};
  let i = 0;
  const flush = () => {
    elements.push(current as ForwardedElement);
    current = {};
  };
  while (i < text.length) {
    while (text[i] === ' ' || text[i] === '\t') i++;
    const eq = text.indexOf('=', i);
    if (eq === -1) break;
    const key = text.slice(i, eq).trim().toLowerCase();
    i = eq + 1;
    let value = '';
    if (text[i] === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\') i++;
        value += text[i] ?? '';
        i++;
      }
      i++;
    } else {
      while (i < text.length && text[i] !== ';' && text[i] !== ',') value += text[i++];
      value = value.trim();
    }
    if (key === 'for' || key === 'proto' || key === 'host' || key === 'by') {
      current[key] = key === 'for' ? nodeAddress(value) : value;
    }
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (text[i] === ',') flush();
    i++;
  }
  if (Object.keys(current).length > 0) flush();
  return elements;
}

/** `[2001:db8::1]:4711` -> `2001:db8::1`; `192.0.2.1:80` -> `192.0.2.1`; other names unchanged. */
function nodeAddress(node: string): string {
  if (node.startsWith('[')) return node.slice(1, node.indexOf(']') === -1 ? undefined : node.indexOf(']'));
  const colon = node.indexOf(':');
  return colon !== -1 && node.indexOf(':', colon + 1) === -1 ? node.slice(0, colon) : node;
}
