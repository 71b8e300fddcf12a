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
  return (req) => {
    const peer = req.socket.remoteAddress ?? '';
    const direct: Client['scheme'] = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    // A unix-socket peer has no address; only processes allowed to open the socket file can connect,
    // which is the proxy's trust, so it is trusted (as Gunicorn does).
    const unixPeer = peer === '';
    if (!unixPeer && !trust(peer, 0)) return { address: peer, scheme: direct };
    const forwardedFor = req.headers['x-forwarded-for'];
    const address =
      forwardedFor === undefined
        ? peer
        : unixPeer
          ? nearestUntrusted(forwardedFor, trust)
          : proxyaddr(req, trust);
    return { address, scheme: forwardedScheme(req.headers['x-forwarded-proto']) ?? direct };
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
