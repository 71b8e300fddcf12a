/**
 * Who the client is, behind a proxy. A request's peer is trusted when it matches
 * --forwarded-allow-ips (addresses and CIDRs, or `*`); only then do X-Forwarded-For and
 * X-Forwarded-Proto set the client address and scheme the app sees. From anyone else they are
 * ignored, so a client cannot claim another address by sending the header itself. The address
 * chain is walked by proxy-addr (Express's), which also does the CIDR matching.
 */

import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';

export interface Client {
  readonly address: string;
  readonly scheme: 'http' | 'https';
}

export type ClientResolver = (req: IncomingMessage) => Client;

export function createClientResolver(allow: string): ClientResolver {
  const list = allow
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const trust: (addr: string, i: number) => boolean = list.includes('*')
    ? () => true
    : proxyaddr.compile(list);
  // Whether a connection's peer is trusted is decided once per connection (keep-alive connections
  // carry many requests), and not at all for a request without forwarding headers.
  const trustedPeer = new WeakMap<object, boolean>();
  return (req) => {
    const socket = req.socket;
    const peer = socket.remoteAddress ?? '';
    const direct: Client['scheme'] = (socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    const forwardedFor = req.headers['x-forwarded-for'];
    const forwardedProto = req.headers['x-forwarded-proto'];
    if (forwardedFor === undefined && forwardedProto === undefined) return { address: peer, scheme: direct };
    // A unix-socket peer has no address; only processes allowed to open the socket file can connect,
    // which is the proxy's trust, so it is trusted (as Gunicorn does).
    const unixPeer = peer === '';
    let trusted = trustedPeer.get(socket);
    if (trusted === undefined) {
      trusted = unixPeer || trust(peer, 0);
      trustedPeer.set(socket, trusted);
    }
    if (!trusted) return { address: peer, scheme: direct };
    const address =
      forwardedFor === undefined
        ? peer
        : unixPeer
          ? nearestUntrusted(forwardedFor, trust)
          : proxyaddr(req, trust);
    return { address, scheme: forwardedScheme(forwardedProto) ?? direct };
  };
}

/** The rightmost address in X-Forwarded-For that is not a trusted proxy (the leftmost if all are). */
function nearestUntrusted(header: string | string[], trust: (addr: string, i: number) => boolean): string {
  const hops = (Array.isArray(header) ? header.join(',') : header).split(',').map((h) => h.trim());
  for (let i = hops.length - 1; i >= 0; i--) if (!trust(hops[i]!, i)) return hops[i]!;
  return hops[0] ?? '';
}

/** The scheme the nearest proxy saw: the last value of X-Forwarded-Proto, when it is http or https. */
function forwardedScheme(header: string | string[] | undefined): Client['scheme'] | undefined {
  const value = Array.isArray(header) ? header.at(-1) : header;
  const last = value?.split(',').at(-1)?.trim().toLowerCase();
  return last === 'https' || last === 'http' ? last : undefined;
}
