/**
 * --sticky: the master accepts every connection itself and gives it to the worker that serves its
 * client, so every request of one client (Socket.IO's polls, an in-memory session) reaches the same
 * process.
 *
 * The client is the address the worker would show the app as `info.remoteAddress`: the peer's, or
 * the one a PROXY header names (--proxy-protocol), or, from a peer in --forwarded-allow-ips, the one
 * the first request's forwarding headers name (src/http/forwarded.ts decides, as in the worker).
 * Only then does the master read: a connection from a peer whose headers would not be believed is
 * given away at once, unread. Reading stops as soon as the head is complete, and the handle leaves
 * the master with the bytes read so far (the 'conn' message of --dispatch request, which the worker
 * serves the same way): whatever follows waits in the kernel and travels with the socket. The worker
 * has the last word on every byte: a malformed PROXY header, a head too large or too slow, bytes that
 * are not HTTP are routed by the peer's address and answered (or closed) there, as without --sticky;
 * only a head not complete within --header-timeout is answered here (408, or closed when nothing
 * came), as a worker would.
 *
 * Which worker: rendezvous (highest random weight) hashing of the client's address over worker
 * slots. A worker takes the lowest slot no other ready worker holds when it becomes ready, so the
 * replacement of a worker (a crash, kill -9, max-requests, a HUP) takes its slot and its share of
 * clients, and adding or removing a worker moves only the share of that slot. A slot whose new
 * worker is still booting is waited for, up to STICKY_WAIT_MS; then the connection goes to the
 * highest-weighted slot that has a worker serving. During a HUP the old worker of a slot serves it
 * until its replacement is ready. A kept-alive connection stays with its worker; only new
 * connections are routed.
 */

import net, { type Socket } from 'node:net';
import { monotonicNow, onceEvery } from '../clock.js';
import { type Client, compileTrust, createClientResolver } from '../http/forwarded.js';
import { rawAnswer } from '../http/own-answer.js';
import { parseProxyHeader, proxiedClient, V1_MAX_LENGTH, V2_MAX_LENGTH } from '../http/proxy-protocol.js';
import { LinkedSet } from '../linked-set.js';
import { detachHandle, listenOnHandle, type NativeHandle } from '../node-internals.js';
import { giveConnection, mayStartRequest } from './dispatcher.js';
import type { WorkerHandle } from './worker-handle.js';

/** How long a connection waits for the worker of its slot while that worker boots. */
export const STICKY_WAIT_MS = 5000;

export interface StickyOptions {
  /** --forwarded-allow-ips and --forwarder-headers. */
  readonly forwardedAllowIps: string;
  readonly forwarderHeaders: string;
  readonly proxyProtocol: boolean;
  /** --header-timeout in ms (0: none). */
  readonly headerTimeoutMs: number;
  /** The longest head the master reads before it gives up and routes by the peer. */
  readonly maxHeadBytes: number;
  readonly backlog: number;
  /** Accepting failed (EMFILE...): told once a second at most. */
  readonly acceptFailed: (err: Error) => void;
}

interface Waiting {
  readonly handle: NativeHandle;
  readonly index: number;
  readonly head: Buffer;
  readonly key: string;
  readonly since: number;
}

export class StickyRouter {
  readonly #options: StickyOptions;
  readonly #resolve: (peer: string, headers: Record<string, string>) => Client;
  readonly #trustsHeadersFrom: (peer: string) => boolean;
  readonly #servers: net.Server[] = [];
  /** Not a Set: connections come and go too fast for one (src/linked-set.ts). */
  readonly #reading = new LinkedSet<Socket>();
  readonly #waiting: Waiting[] = [];
  /** Each worker's slot, by pid, from the moment it is first seen ready. */
  readonly #slots = new Map<number, number>();
  #workers: () => Iterable<WorkerHandle> = () => [];
  readonly #mayReportAcceptFailure = onceEvery(1000);
  #stopped = false;

  constructor(options: StickyOptions) {
    this.#options = options;
    const resolver = createClientResolver(options.forwardedAllowIps, options.forwarderHeaders);
    this.#resolve = (peer, headers) =>
      resolver({ socket: { remoteAddress: peer, destroyed: false }, headers } as never);
    const trust = compileTrust(options.forwardedAllowIps);
    const believed = options.forwarderHeaders.split(',').some((h) => h.trim() !== '');
    // A unix-socket peer ('') is trusted, as in the resolver.
    this.#trustsHeadersFrom = (peer) => believed && (peer === '' || trust(peer, 0));
  }

  /** Connections waiting for their worker. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Accepts on the master's sockets from now on; `workers` is read each time a connection is routed. */
  listen(handles: readonly object[], workers: () => Iterable<WorkerHandle>): void {
    this.#workers = workers;
    handles.forEach((handle, index) => {
      const server = net.createServer({ pauseOnConnect: true }, (socket) => this.#accepted(socket, index));
      server.on('error', (err) => this.#acceptError(err));
      listenOnHandle(server, handle, this.#options.backlog);
      this.#servers.push(server);
    });
  }

  /**
   * The master stops: no more accepting (the handles stay the master's to close), connections being
   * read close, and those waiting go to any worker still connected (draining, it answers with
   * `Connection: close`) or close.
   */
  stop(): void {
    this.#stopped = true;
    for (const server of this.#servers) server.close();
    this.#servers.length = 0;
    for (const socket of this.#reading) socket.destroy();
    this.#reading.clear();
    const connected = [...this.#workers()].filter((w) => w.cluster.isConnected());
    let next = 0;
    for (const waiting of this.#waiting.splice(0)) {
      const worker = connected[next++ % Math.max(1, connected.length)];
      if (worker === undefined) waiting.handle.close();
      else giveConnection(worker, waiting.handle, waiting.index, waiting.head);
    }
  }

  /** Gives waiting connections to their workers; those past STICKY_WAIT_MS to the best one serving. */
  dispatch(now: number = monotonicNow()): void {
    if (this.#waiting.length === 0) return;
    const table = this.#table();
    for (let i = 0; i < this.#waiting.length; ) {
      const waiting = this.#waiting[i]!;
      const worker = route(waiting.key, table, now - waiting.since >= STICKY_WAIT_MS);
      if (worker === null) {
        i++;
        continue;
      }
      this.#waiting.splice(i, 1);
      giveConnection(worker, waiting.handle, waiting.index, waiting.head);
    }
  }

  /** The slot table as it stands: updates slots first (a worker seen ready for the first time takes one). */
  #table(): SlotTable {
    const workers = [...this.#workers()].sort((a, b) => a.age - b.age);
    const alive = new Set(workers.map((w) => w.pid));
    for (const pid of this.#slots.keys()) if (!alive.has(pid)) this.#slots.delete(pid);
    const held = new Set<number>();
    for (const w of workers) {
      const slot = this.#slots.get(w.pid);
      if (w.state === 'ready' && slot !== undefined) held.add(slot);
    }
    for (const w of workers) {
      if (w.state !== 'ready' || this.#slots.has(w.pid)) continue;
      const slot = lowestFree(held);
      this.#slots.set(w.pid, slot);
      held.add(slot);
    }
    const serving = new Map<number, WorkerHandle>();
    // A retiring worker serves its slot until the slot has a ready worker (a HUP's replacement).
    for (const state of ['ready', 'retiring'] as const) {
      for (const w of workers) {
        const slot = this.#slots.get(w.pid);
        if (w.state !== state || slot === undefined || serving.has(slot) || !w.cluster.isConnected())
          continue;
        serving.set(slot, w);
      }
    }
    // Workers booting to be counted will take the lowest free slots: those are waited for.
    const booting = workers.filter((w) => w.state === 'booting' && w.counted).length;
    const expected = new Set(serving.keys());
    const taken = new Set(held);
    for (let n = 0; n < booting; n++) {
      const slot = lowestFree(taken);
      taken.add(slot);
      expected.add(slot);
    }
    return { serving, expected: [...expected] };
  }

  #accepted(socket: Socket, index: number): void {
    if (this.#stopped) {
      socket.destroy();
      return;
    }
    const peer = socket.remoteAddress ?? '';
    socket.on('error', () => socket.destroy());
    if (!this.#options.proxyProtocol && !this.#trustsHeadersFrom(peer)) {
      this.#hold(socket, index, Buffer.alloc(0), peer);
      return;
    }
    this.#read(socket, index, this.#options.proxyProtocol, 0);
    socket.resume();
  }

  /**
   * A kept-alive connection from a proxy, handed back by its worker after a response (its bare
   * handle): the next request on it may be another client's, so it is routed again once its head is
   * here. It waits at most `keepAliveMs` (--keep-alive) for that request, as it would in the worker.
   */
  park(handle: object, index: number, keepAliveMs: number): void {
    const socket = new net.Socket({ handle, readable: true, writable: true } as net.SocketConstructorOpts);
    if (this.#stopped) {
      socket.destroy();
      return;
    }
    socket.on('error', () => socket.destroy());
    this.#read(socket, index, false, keepAliveMs);
  }

  /**
   * Reads until the client is known, then routes the connection. --header-timeout counts from the
   * start (a new connection) or from the first byte (a parked one, which waits `idleMs` before it).
   */
  #read(socket: Socket, index: number, proxyHeader: boolean, idleMs: number): void {
    const peer = socket.remoteAddress ?? '';
    this.#reading.add(socket);
    let received: Buffer = Buffer.alloc(0);
    let timer: NodeJS.Timeout | null = null;
    const headerTimeout = () => {
      if (this.#options.headerTimeoutMs === 0) return;
      // As a worker would: a connection that sent nothing closes unanswered, a partial head gets 408.
      timer = setTimeout(() => {
        this.#reading.delete(socket);
        if (received.length === 0) socket.destroy();
        else socket.end(rawAnswer(408));
      }, this.#options.headerTimeoutMs);
      timer.unref();
    };
    const done = (key: string) => {
      if (timer !== null) clearTimeout(timer);
      this.#reading.delete(socket);
      socket.removeAllListeners('data');
      this.#hold(socket, index, received, key);
    };
    socket.once('close', () => {
      if (timer !== null) clearTimeout(timer);
      this.#reading.delete(socket);
    });
    if (idleMs > 0) socket.setTimeout(idleMs, () => socket.destroy());
    else headerTimeout();
    socket.on('data', (chunk: Buffer) => {
      if (received.length === 0 && idleMs > 0) {
        socket.setTimeout(0);
        headerTimeout();
      }
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const key = this.#clientOf(received, peer, proxyHeader);
      if (key !== null) done(key);
      else if (received.length > this.#options.maxHeadBytes) done(peer);
    });
  }

  /** The client's address once `bytes` tell it, or null while more are needed. */
  #clientOf(bytes: Buffer, peer: string, proxyHeader: boolean): string | null {
    let client = peer;
    let rest = bytes;
    if (proxyHeader) {
      const parsed = parseProxyHeader(bytes);
      if (parsed.status === 'incomplete') return null;
      // A bad header is the worker's to refuse: routed by the peer.
      if (parsed.status === 'invalid') return peer;
      client = proxiedClient(parsed.header)?.address ?? peer;
      rest = bytes.subarray(parsed.header.length);
      if (!this.#trustsHeadersFrom(client)) return client;
    }
    if (rest.length > 0 && !mayStartRequest(rest)) return client;
    // Empty lines may come before the request line (RFC 9112 2.2).
    let start = 0;
    while (rest[start] === 0x0d || rest[start] === 0x0a) start++;
    const end = rest.indexOf('\r\n\r\n', start);
    if (end === -1) return null;
    return this.#resolve(client, forwardingHeaders(rest.toString('latin1', start, end))).address;
  }

  /** Takes the handle out of the socket (nothing more is read here) and routes it. */
  #hold(socket: Socket, index: number, head: Buffer, key: string): void {
    const handle = detachHandle(socket);
    socket.destroy();
    if (handle === null) return;
    if (this.#stopped) {
      handle.close();
      return;
    }
    this.#waiting.push({ handle, index, head, key, since: monotonicNow() });
    this.dispatch();
  }

  #acceptError(err: Error): void {
    if (!this.#mayReportAcceptFailure()) return;
    this.#options.acceptFailed(err);
  }
}

/** The longest PROXY header (v1 or v2), for the head limit. */
export const PROXY_HEADER_MAX = Math.max(V1_MAX_LENGTH, 16 + V2_MAX_LENGTH);

/** Slots with a worker serving them, and every slot a client may belong to (those plus the booting). */
export interface SlotTable {
  readonly serving: ReadonlyMap<number, WorkerHandle>;
  readonly expected: readonly number[];
}

/**
 * The worker for a client: that of its slot among the expected ones, or null while that slot's
 * worker boots; with `fallback`, the best slot that has a worker serving (null when none has).
 */
export function route<W>(
  key: string,
  table: { readonly serving: ReadonlyMap<number, W>; readonly expected: readonly number[] },
  fallback: boolean,
): W | null {
  const slot = highestWeight(key, table.expected);
  const worker = slot === null ? undefined : table.serving.get(slot);
  if (worker !== undefined) return worker;
  if (!fallback) return null;
  const best = highestWeight(key, [...table.serving.keys()]);
  return best === null ? null : table.serving.get(best)!;
}

/** Rendezvous hashing: the slot whose weight for `key` is highest (null for no slots). */
export function highestWeight(key: string, slots: readonly number[]): number | null {
  let best: number | null = null;
  let bestWeight = -1;
  const base = fnv1a(key);
  for (const slot of slots) {
    const weight = mix(base ^ Math.imul(slot + 1, 0x9e3779b1));
    if (weight > bestWeight || (weight === bestWeight && slot < best!)) {
      best = slot;
      bestWeight = weight;
    }
  }
  return best;
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's finaliser: every input bit moves every output bit, so nearby slots weigh independently. */
function mix(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function lowestFree(taken: ReadonlySet<number>): number {
  let slot = 0;
  while (taken.has(slot)) slot++;
  return slot;
}

const FORWARDING = new Set(['x-forwarded-for', 'x-forwarded-proto', 'forwarded']);

/**
 * The forwarding headers of a request head (request line and fields, without the empty line), as
 * node:http presents them: names in lower case, repeated fields joined with `, `.
 */
export function forwardingHeaders(head: string): Record<string, string> {
  const headers: Record<string, string> = {};
  const lines = head.split(/\r?\n/);
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).toLowerCase();
    if (!FORWARDING.has(name)) continue;
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return headers;
}
