/**
 * The PROXY protocol (HAProxy's, versions 1 and 2), for `--proxy-protocol`. A proxy that relays TCP
 * (nginx `stream`, HAProxy `mode tcp`, cloud load balancers) cannot add X-Forwarded-For, so it writes
 * the client's address in a header before the first byte of the connection:
 *
 *   v1: `PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n` (text, at most 107 bytes)
 *   v2: a 12-byte signature, version/command, family/transport, length, addresses, TLVs (binary)
 *
 * The first part of this module is pure functions over the bytes received so far; the second reads
 * the header off each accepted connection before node:http or node:https sees the connection.
 * The protocol is specified at https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt.
 */

import { isIPv4, isIPv6, type Server, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

/** The client a PROXY header names. */
export interface ProxyEndpoint {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

export type ProxyAddresses =
  | { readonly family: 'IPv4' | 'IPv6'; readonly source: ProxyEndpoint; readonly destination: ProxyEndpoint }
  | { readonly family: 'unix'; readonly source: string; readonly destination: string };

export interface ProxyHeader {
  readonly version: 1 | 2;
  /** `LOCAL` (v2 only): the proxy speaks for itself, e.g. a health check. v1 lines are always `PROXY`. */
  readonly command: 'PROXY' | 'LOCAL';
  /** null for v1 `UNKNOWN`, v2 `LOCAL` and v2 `UNSPEC`: the connection's real peer stands. */
  readonly addresses: ProxyAddresses | null;
  /** How many bytes the header took; the HTTP (or TLS) stream starts after them. */
  readonly length: number;
}

export type ProxyParse =
  | { readonly status: 'incomplete' }
  | { readonly status: 'invalid'; readonly reason: string }
  | { readonly status: 'done'; readonly header: ProxyHeader };

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** The spec's bound for a v1 line, CRLF included (`PROXY UNKNOWN` and two full IPv6 addresses fit). */
export const V1_MAX_LENGTH = 107;
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED = 16;
/**
 * The most bytes accepted after a v2 header's fixed part. Addresses take at most 216 (two unix
 * paths); the rest is TLVs (ALPN, authority, TLS details, cloud endpoint ids), a few hundred bytes
 * in practice. The length field alone could announce 64 KiB, which is not read into memory.
 */
export const V2_MAX_LENGTH = 2048;

const INCOMPLETE: ProxyParse = { status: 'incomplete' };
const invalid = (reason: string): ProxyParse => ({ status: 'invalid', reason });

/**
 * Parses the PROXY header at the start of `bytes` (everything the connection has sent so far):
 * `incomplete` while more bytes are needed and those received can still begin a valid header,
 * `invalid` as soon as they cannot, `done` with the header and its length otherwise. Bytes after the
 * header are not looked at.
 */
export function parseProxyHeader(bytes: Buffer): ProxyParse {
  if (bytes.length === 0) return INCOMPLETE;
  if (bytes[0] === V1_PREFIX[0]) return parseV1(bytes);
  if (bytes[0] === V2_SIGNATURE[0]) return parseV2(bytes);
  return invalid('the connection does not start with a PROXY header');
}

/** Whether `bytes` begins with `prefix`, or is a beginning of it. */
function startsLike(bytes: Buffer, prefix: Buffer): boolean {
  const n = Math.min(bytes.length, prefix.length);
  return bytes.subarray(0, n).equals(prefix.subarray(0, n));
}

function parseV1(bytes: Buffer): ProxyParse {
  if (!startsLike(bytes, V1_PREFIX)) return invalid('the connection does not start with a PROXY header');
  const lf = bytes.subarray(0, V1_MAX_LENGTH).indexOf(0x0a);
  if (lf === -1) {
    return bytes.length >= V1_MAX_LENGTH
      ? invalid(`no CRLF within the first ${V1_MAX_LENGTH} bytes of a PROXY v1 line`)
      : INCOMPLETE;
  }
  if (bytes[lf - 1] !== 0x0d) return invalid('the PROXY v1 line does not end with CRLF');
  const line = bytes.toString('latin1', 0, lf - 1);
  if (/[^\x20-\x7e]/.test(line)) return invalid('a PROXY v1 line with a control or non-ASCII byte');
  const fields = line.split(' ');
  const length = lf + 1;
  const protocol = fields[1];
  // UNKNOWN: the proxy cannot say (another transport); whatever follows it on the line is ignored.
  if (protocol === 'UNKNOWN')
    return { status: 'done', header: { version: 1, command: 'PROXY', addresses: null, length } };
  if (protocol !== 'TCP4' && protocol !== 'TCP6') {
    return invalid(`unknown PROXY v1 protocol ${JSON.stringify(protocol ?? '')}`);
  }
  if (fields.length !== 6)
    return invalid(`a PROXY v1 ${protocol} line needs 4 fields, has ${fields.length - 2}`);
  const family = protocol === 'TCP4' ? 'IPv4' : 'IPv6';
  const isAddress = family === 'IPv4' ? isIPv4 : isIPv6;
  const [, , source, destination, sourcePort, destinationPort] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  for (const address of [source, destination]) {
    if (!isAddress(address)) return invalid(`${JSON.stringify(address)} is not an ${family} address`);
  }
  const from = v1Port(sourcePort);
  const to = v1Port(destinationPort);
  if (from === null || to === null) {
    return invalid(
      `bad port in PROXY v1 line: ${JSON.stringify(from === null ? sourcePort : destinationPort)}`,
    );
  }
  return {
    status: 'done',
    header: {
      version: 1,
      command: 'PROXY',
      addresses: {
        family,
        source: { address: source, port: from, family },
        destination: { address: destination, port: to, family },
      },
      length,
    },
  };
}

function v1Port(text: string): number | null {
  if (!/^\d{1,5}$/.test(text)) return null;
  const port = Number(text);
  return port <= 65535 ? port : null;
}

function parseV2(bytes: Buffer): ProxyParse {
  if (!startsLike(bytes, V2_SIGNATURE)) return invalid('the connection does not start with a PROXY header');
  if (bytes.length < V2_FIXED) return INCOMPLETE;
  const version = bytes[12]! >> 4;
  const command = bytes[12]! & 0x0f;
  if (version !== 2) return invalid(`PROXY v2 signature with version ${version}`);
  if (command > 1) return invalid(`unknown PROXY v2 command ${command}`);
  const family = bytes[13]! >> 4;
  const transport = bytes[13]! & 0x0f;
  if (family > 3 || transport > 2)
    return invalid(`unknown PROXY v2 address family 0x${bytes[13]!.toString(16)}`);
  const length = bytes.readUInt16BE(14);
  if (length > V2_MAX_LENGTH)
    return invalid(`PROXY v2 header of ${length} bytes (more than ${V2_MAX_LENGTH})`);
  const total = V2_FIXED + length;
  if (bytes.length < total) return INCOMPLETE;
  const done = (addresses: ProxyAddresses | null): ProxyParse => ({
    status: 'done',
    header: { version: 2, command: command === 0 ? 'LOCAL' : 'PROXY', addresses, length: total },
  });
  // LOCAL: the proxy's own connection (health checks); its address block, if any, means nothing.
  if (command === 0 || family === 0) return done(null);
  const body = bytes.subarray(V2_FIXED, total);
  const inet = INET_FAMILIES[family];
  if (inet !== undefined) {
    // Source address, destination address, source port, destination port.
    const need = 2 * inet.size + 4;
    if (length < need) return invalid(`PROXY v2 ${inet.name} addresses need ${need} bytes, have ${length}`);
    const end = (i: number) => ({
      address: inet.text(body.subarray(i * inet.size, (i + 1) * inet.size)),
      port: body.readUInt16BE(2 * inet.size + 2 * i),
      family: inet.name,
    });
    return done({ family: inet.name, source: end(0), destination: end(1) });
  }
  if (length < 216) return invalid(`PROXY v2 unix addresses need 216 bytes, have ${length}`);
  return done({
    family: 'unix',
    source: unixPath(body.subarray(0, 108)),
    destination: unixPath(body.subarray(108, 216)),
  });
}

/** v2's address families 1 (TCP over IPv4) and 2 (TCP over IPv6): address size and text form. */
const INET_FAMILIES: Partial<
  Record<
    number,
    { readonly name: 'IPv4' | 'IPv6'; readonly size: number; readonly text: (b: Buffer) => string }
  >
> = {
  1: { name: 'IPv4', size: 4, text: (b) => ipv4Text(b) },
  2: { name: 'IPv6', size: 16, text: (b) => ipv6Text(b) },
};

function ipv4Text(b: Buffer): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952 text, as Node reports peers: lower case, the longest run of zero groups as `::`. */
export function ipv6Text(b: Buffer): string {
  // ::ffff:0:0/96, an IPv4 client behind a dual-stack proxy, in the dotted form Node itself uses.
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    return `::ffff:${ipv4Text(b.subarray(12, 16))}`;
  }
  const groups = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2));
  let bestAt = -1;
  let bestLength = 1; // a single zero group is not shortened
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestAt = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestAt === -1) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLength, 8)}`;
}

function unixPath(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul === -1 ? b.length : nul);
}

/** The client address a header gives the connection, or null when the real peer stands. */
export function proxiedClient(header: ProxyHeader): ProxyEndpoint | null {
  const a = header.addresses;
  return a !== null && a.family !== 'unix' ? a.source : null;
}

// ---- on the connection ------------------------------------------------------------------------

/** Why a connection was closed without being served. */
export interface ProxyRejection {
  /**
   * `untrusted`: the peer is not in --proxy-allow-from; `malformed`: no valid PROXY header;
   * `timeout`: the header did not arrive in time; `closed`: the peer left before sending it.
   */
  readonly reason: 'untrusted' | 'malformed' | 'timeout' | 'closed';
  readonly detail: string;
  /** The connection's real peer address ('' for a unix socket). */
  readonly peer: string;
}

export interface ProxyProtocolOptions {
  /** Whether a peer address may send a PROXY header (--proxy-allow-from). Unix-socket peers always may. */
  readonly allowed: (peer: string) => boolean;
  /** How long a connection has to deliver its whole header. */
  readonly timeoutMs: number;
  /** Told once about each connection that is closed instead of served. */
  readonly rejected: (rejection: ProxyRejection) => void;
}

/**
 * A proxy writes the header as soon as it has connected, so a connection that has not sent it in
 * this long is not from one.
 */
export const PROXY_HEADER_TIMEOUT_MS = 5000;

/** The client each connection's header named, for the TLS socket node:https wraps around it. */
const clients = new WeakMap<Socket, ProxyEndpoint>();

/**
 * Makes `server` (an http.Server or https.Server that is about to listen) read a PROXY header off
 * every connection it accepts before anything else touches the connection. node:http and node:https
 * attach to a connection in their own 'connection' listener; those listeners are taken off and
 * called once the header has been read, so the HTTP parser (or the TLS handshake) starts at the first
 * byte after the header. Listeners added later (connection counting, the sync worker's accept
 * control) still run when the connection is accepted. A header naming a client replaces the
 * connection's `remoteAddress`, `remotePort` and `remoteFamily`, so the app, the access log and the
 * X-Forwarded-For trust check all see the client instead of the proxy, as Gunicorn does.
 */
export function acceptProxyProtocol(server: Server, options: ProxyProtocolOptions): void {
  const serve = server.listeners('connection') as Array<(this: Server, socket: Socket) => void>;
  server.removeAllListeners('connection');
  // An https.Server is a tls.Server, the only kind with setSecureContext. Asked this way rather than
  // with instanceof, so that the master, which imports this module for --sticky, never loads
  // node:tls (about 2.7 MiB of its resident memory on Node 24).
  const tls = 'setSecureContext' in server;
  if (tls) {
    // node:https serves requests on a TLSSocket wrapped around the accepted one: it gets the same
    // client. `_parent` is how node:tls links the two (set for every server-side TLSSocket).
    server.prependListener('secureConnection', (secure: TLSSocket) => {
      const parent = (secure as TLSSocket & { _parent?: Socket })._parent;
      const client = parent === undefined ? undefined : clients.get(parent);
      if (client !== undefined) presentAs(secure, client);
    });
  }
  server.on('connection', (socket: Socket) => {
    const peer = socket.remoteAddress ?? '';
    const reject = (reason: ProxyRejection['reason'], detail: string) => {
      socket.destroy();
      options.rejected({ reason, detail, peer });
    };
    if (peer !== '' && !options.allowed(peer)) {
      reject('untrusted', `${peer} is not in --proxy-allow-from`);
      return;
    }
    readProxyHeader(socket, options.timeoutMs, (result) => {
      if (result.status !== 'done') {
        reject(result.status === 'invalid' ? 'malformed' : result.status, result.reason);
        return;
      }
      const client = proxiedClient(result.header);
      if (client !== null) {
        presentAs(socket, client);
        if (tls) clients.set(socket, client);
      }
      for (const listener of serve) listener.call(server, socket);
      // node:http reads through the socket stream and the bytes after the header wait in its buffer
      // (it was paused to hold them): let them flow. node:tls has already taken them over itself,
      // and resuming the plain socket under it would steal the handshake's bytes.
      if (!tls) socket.resume();
    });
  });
}

type HeaderRead =
  | { readonly status: 'done'; readonly header: ProxyHeader }
  | { readonly status: 'invalid' | 'timeout' | 'closed'; readonly reason: string };

/**
 * Reads until the header is complete, invalid, the time is up or the peer leaves. On success the
 * socket is left paused with the bytes after the header put back at the front of its buffer.
 */
function readProxyHeader(socket: Socket, timeoutMs: number, done: (result: HeaderRead) => void): void {
  let received: Buffer | null = null;
  const finish = (result: HeaderRead) => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onGone);
    socket.off('close', onGone);
    socket.off('error', onGone);
    done(result);
  };
  const onData = (chunk: Buffer) => {
    received = received === null ? chunk : Buffer.concat([received, chunk]);
    const result = parseProxyHeader(received);
    if (result.status === 'incomplete') return;
    socket.pause();
    if (result.status === 'done' && received.length > result.header.length) {
      socket.unshift(received.subarray(result.header.length));
    }
    finish(result);
  };
  const onGone = (err?: unknown) => {
    const why = err instanceof Error ? `: ${err.message}` : '';
    finish({ status: 'closed', reason: `the connection closed before a complete PROXY header${why}` });
  };
  const timer = setTimeout(
    () => finish({ status: 'timeout', reason: `no complete PROXY header within ${timeoutMs / 1000} s` }),
    timeoutMs,
  );
  socket.on('data', onData);
  socket.on('end', onGone);
  socket.on('close', onGone);
  socket.on('error', onGone);
}

function presentAs(socket: Socket, client: ProxyEndpoint): void {
  Object.defineProperties(socket, {
    remoteAddress: { value: client.address, configurable: true },
    remotePort: { value: client.port, configurable: true },
    remoteFamily: { value: client.family, configurable: true },
  });
}
