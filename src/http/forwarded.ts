/**
 * Who the client is, behind a proxy. A request's peer is trusted when it matches
 * --forwarded-allow-ips (addresses and CIDRs, or `*`); only then, and only for the headers named in
 * --forwarder-headers (the ones the proxy is known to set or clear), do forwarding headers set the
 * client address and scheme the app sees. A header the proxy passes through untouched is the
 * client's own words, which is why `Forwarded` is not believed unless listed: nginx, for one, relays
 * it unchanged unless told otherwise. From an untrusted peer every such header is ignored.
 *
 * The address chain (X-Forwarded-For entries, or `Forwarded` elements) is walked from the nearest
 * hop: each entry was written by the proxy to its right, so it is believable only while that proxy
 * is trusted. The walk stops at the first entry that is not a trusted proxy, which is the client; at
 * an entry that is not an IP address (`unknown`, an obfuscated `_name`, garbage) nothing further
 * left can be checked, so the client is the last address known, the peer when it is the first. With
 * the PROXY protocol the peer is the client its header named (see proxy-protocol.ts), so that is the
 * address trust is decided for. proxy-addr (Express's) does the CIDR matching, for
 * --proxy-allow-from too.
 */

import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import proxyaddr from 'proxy-addr';

export interface Client {
  readonly address: string;
  readonly scheme: 'http' | 'https';
}

/** Who the client is, from the connection and the headers of a trusted proxy. */
export interface ClientResolver {
  (req: IncomingMessage): Client;
  /**
   * Whether the request carries a forwarding header this resolver reads: without one the client is
   * the connection's peer and the scheme the connection's, with nothing to resolve.
   */
  forwards(req: IncomingMessage): boolean;
}

/** --forwarder-headers' default: what nginx, HAProxy and cloud load balancers set (and overwrite). */
export const DEFAULT_FORWARDER_HEADERS = 'X-Forwarded-For,X-Forwarded-Proto';

/** The names --forwarder-headers accepts, as written in the docs. */
export const FORWARDER_HEADERS = ['X-Forwarded-For', 'X-Forwarded-Proto', 'Forwarded'] as const;

type Trust = (addr: string, i: number) => boolean;

/**
 * A matcher for a comma-separated list of addresses and CIDRs, or `*` for any address
 * (--forwarded-allow-ips, --proxy-allow-from). IPv4-mapped IPv6 peers match their IPv4 entries.
 */
export function compileTrust(allow: string): Trust {
  const list = allow
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return list.includes('*') ? () => true : proxyaddr.compile(list);
}

/**
 * `allow` is --forwarded-allow-ips, `headers` --forwarder-headers (a comma-separated list of
 * FORWARDER_HEADERS, any case; other names are not believed).
 */
export function createClientResolver(
  allow: string,
  headers: string = DEFAULT_FORWARDER_HEADERS,
): ClientResolver {
  const trust = compileTrust(allow);
  const names = new Set(headers.split(',').map((h) => h.trim().toLowerCase()));
  const useForwarded = names.has('forwarded');
  const useFor = names.has('x-forwarded-for');
  const useProto = names.has('x-forwarded-proto');
  // Whether a connection's peer is trusted is decided once per connection (keep-alive connections
  // carry many requests), and not at all for a request without forwarding headers.
  const trustedPeer = new WeakMap<object, boolean>();
  const forwards = (req: IncomingMessage): boolean => {
    const h = req.headers;
    return (
      (useForwarded && h.forwarded !== undefined) ||
      (useFor && h['x-forwarded-for'] !== undefined) ||
      (useProto && h['x-forwarded-proto'] !== undefined)
    );
  };
  const resolve = (req: IncomingMessage): Client => {
    const socket = req.socket;
    const peer = socket.remoteAddress ?? '';
    const direct: Client['scheme'] = (socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    const forwarded = useForwarded ? req.headers.forwarded : undefined;
    const forwardedFor = useFor ? req.headers['x-forwarded-for'] : undefined;
    const forwardedProto = useProto ? req.headers['x-forwarded-proto'] : undefined;
    if (forwarded === undefined && forwardedFor === undefined && forwardedProto === undefined) {
      return { address: peer, scheme: direct };
    }
    let trusted = trustedPeer.get(socket);
    if (trusted === undefined) {
      // A unix-socket peer has no address; only processes allowed to open the socket file can
      // connect, which is the proxy's trust, so it is trusted (as Gunicorn does). A TCP socket that
      // is already destroyed has no address either, and is not a unix socket.
      trusted = peer === '' ? !socket.destroyed : trust(peer, 0);
      trustedPeer.set(socket, trusted);
    }
    if (!trusted) return { address: peer, scheme: direct };
    if (forwarded !== undefined) {
      const elements = parseForwarded(forwarded);
      const hops = elements.map((e) => e.for ?? '');
      const at = clientHop(hops, trust);
      // The scheme is the one recorded in the client's element: the trusted proxy that wrote it saw
      // the client's connection. Elements further left were written by someone not trusted.
      const proto = elements[at]?.proto?.toLowerCase();
      return {
        address: knownAddress(hops, at, peer),
        scheme: proto === 'https' || proto === 'http' ? proto : direct,
      };
    }
    let address = peer;
    if (forwardedFor !== undefined) {
      const hops = splitList(forwardedFor);
      address = knownAddress(hops, clientHop(hops, trust), peer);
    }
    return { address, scheme: lastScheme(forwardedProto) ?? direct };
  };
  return Object.assign(resolve, { forwards });
}

/**
 * The index of the hop that names the client, walking from the nearest (the last): the first that
 * is not an IP address of a trusted proxy, or the furthest when all are (0, also for no hops).
 * An entry that is not an IP address stops the walk even when any address is trusted (`*`).
 */
function clientHop(hops: readonly string[], trust: Trust): number {
  for (let i = hops.length - 1; i > 0; i--) {
    const hop = hops[i]!;
    if (isIP(hop) === 0 || !trust(hop, 0)) return i;
  }
  return 0;
}

/**
 * The client's address once the walk stopped at `at`: that hop when it is an IP address, else the
 * nearest address to its right (every hop there is a trusted proxy's), else the peer.
 */
function knownAddress(hops: readonly string[], at: number, peer: string): string {
  return hops.slice(at).find((hop) => isIP(hop) !== 0) ?? peer;
}

/** A comma-separated header, several lines of it joined: its entries, trimmed. */
function splitList(header: string | string[]): string[] {
  const text = Array.isArray(header) ? header.join(',') : header;
  return text.split(',').map((h) => h.trim());
}

/**
 * The scheme the nearest proxy saw: the last value of X-Forwarded-Proto, when it is http or https.
 * Only the last can be the trusted proxy's own; a proxy that appends instead of replacing leaves the
 * client's values to its left.
 */
function lastScheme(header: string | string[] | undefined): Client['scheme'] | undefined {
  if (header === undefined) return undefined;
  const last = splitList(header).at(-1)!.toLowerCase();
  return last === 'https' || last === 'http' ? last : undefined;
}

export interface ForwardedElement {
  for?: string;
  proto?: string;
  host?: string;
  by?: string;
}

/**
 * One `key=value` pair of `Forwarded`, with the blanks around it: the key a token, the value a
 * quoted string (group 2) or anything up to the next separator (group 3), so an unquoted
 * `192.0.2.1:80` or `[::1]` is read too.
 */
const PAIR = /[ \t]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)=(?:"((?:[^"\\]|\\.)*)"|([^",;\s]*))[ \t]*/y;

/**
 * Parses RFC 7239 `Forwarded`: elements separated by commas, pairs by semicolons, values as tokens
 * or quoted strings. A `for` node loses its brackets and port (`"[2001:db8::1]:4711"` gives
 * `2001:db8::1`, `192.0.2.1:80` gives `192.0.2.1`); `unknown` and obfuscated names stay as they are.
 * A header that does not parse as a whole gives no elements: the part a client wrote comes first,
 * and a loose reading would let an unclosed quote or a key without `=` there swallow the element a
 * trusted proxy appended after it.
 */
export function parseForwarded(header: string | string[]): ForwardedElement[] {
  const text = Array.isArray(header) ? header.join(',') : header;
  const elements: ForwardedElement[] = [];
  let current: Record<string, string> = {};
  let i = 0;
  for (;;) {
    PAIR.lastIndex = i;
    const pair = PAIR.exec(text);
    if (pair === null) return [];
    const key = pair[1]!.toLowerCase();
    const value = pair[3] ?? pair[2]!.replace(/\\(.)/g, '$1');
    if (key === 'for' || key === 'proto' || key === 'host' || key === 'by') {
      current[key] = key === 'for' ? nodeAddress(value) : value;
    }
    i = PAIR.lastIndex;
    const separator = text[i++];
    if (separator === undefined) break;
    if (separator === ',') {
      elements.push(current);
      current = {};
    } else if (separator !== ';') {
      return [];
    }
  }
  elements.push(current);
  return elements;
}

/**
 * `[2001:db8::1]:4711` -> `2001:db8::1`; `192.0.2.1:80` -> `192.0.2.1`; other names unchanged, and so
 * is a malformed bracketed node (`[::1`, `[::1]x`), which then fails as an address instead of
 * passing for one.
 */
function nodeAddress(node: string): string {
  const bracketed = /^\[([^\]]*)\](?::[\w.-]+)?$/.exec(node);
  if (bracketed) return bracketed[1]!;
  const colon = node.indexOf(':');
  return colon !== -1 && node.indexOf(':', colon + 1) === -1 ? node.slice(0, colon) : node;
}
