/**
 * Every place unicorn-ts reaches past Node's public API, in one module. Each reach is here because
 * no public call does the job (listening on a handle the master passed, pausing accepting on it,
 * stopping a socket's reads without losing a byte, asking node:http which connections are idle, reading a Response's body
 * without its stream); each is typed once, and `missingInternals()` checks on the running Node that
 * all of them are where this expects. test/unit/node-internals.test.ts runs that check, so a Node
 * release that moves one fails the suite by name instead of failing a user at run time.
 */

// Only node:net is imported here: the worker's first module (workers/prime-listen.ts) uses this
// before anything else loads.
import type http from 'node:http';
import net from 'node:net';

/** The native TCP or pipe wrap under a net.Server or net.Socket (libuv's handle). */
export interface NativeHandle {
  readonly fd?: number;
  listen?(backlog: number): number;
  reading?: boolean;
  onread?: unknown;
  readStop(): number;
  close(cb?: () => void): void;
  getsockname?(out: object): number;
  getpeername?(out: object): number;
}

interface NetPrivate {
  _createServerHandle(
    address: string | null,
    port: number,
    addressType: number,
    fd?: number,
    flags?: number,
  ): NativeHandle | number;
}

interface ServerPrivate {
  _handle: unknown;
  _listen2(address: string | null, port: number, addressType: number, backlog: number): void;
}

interface SocketPrivate {
  _handle?: NativeHandle | null;
  /** node:http: the response currently writing on this socket. */
  _httpMessage?: unknown;
}

interface ConnectionsList {
  idle(): Array<{ socket?: unknown }>;
}

/**
 * `net._createServerHandle`: a bound (not yet listening) server handle for an address, or a handle
 * wrapping an inherited fd; an errno number on failure. The master binds its sockets this way so
 * that it never accepts on them itself.
 */
export function createServerHandle(
  address: string | null,
  port: number,
  addressType: number,
  fd?: number,
): NativeHandle | number {
  return (net as unknown as NetPrivate)._createServerHandle(address, port, addressType, fd);
}

/**
 * Listening on a handle the master passed: node:net has no public "listen on this handle" inside a
 * cluster worker (`server.listen(handle)` routes through the primary), so this does what
 * node:cluster's own shared-handle path does: attach the handle, then run the listen setup
 * (`_listen2`, kept by Node as a legacy alias for exactly this use).
 */
export function listenOnHandle(server: net.Server, handle: unknown, backlog: number): void {
  const internals = server as unknown as ServerPrivate;
  if (handle === undefined || handle === null || typeof internals._listen2 !== 'function') {
    throw new Error('cannot listen on the socket handed over by the master (unsupported Node.js version?)');
  }
  internals._handle = handle;
  internals._listen2(null, -1, -1, backlog);
}

interface StreamHandle {
  readStart(): number;
  readStop(): number;
}

/**
 * Pausing accepting on a listening socket without closing it, which the sync worker needs after
 * every connection it takes: node:net has no call for it. libuv (1.45 and later: every Node this
 * runs on) accepts one connection each time the listening socket polls readable, and a stream's
 * read-stop and read-start switch exactly that poll off and on; a listening socket received from
 * another process is a readable stream to libuv, so its handle's `readStop()`/`readStart()` pause
 * and resume accepting, at the cost of one poll update. `pause` stops accepting (a connection the
 * kernel queues meanwhile waits there for any process listening on the socket), `resume` accepts
 * again. Throws, at boot, when this Node's handle cannot do it. The probe needs a handle passed
 * from another process, so test/unit/listen.test.ts checks this one rather than
 * `missingInternals()`.
 */
export function pausableAccept(server: net.Server): { pause(): void; resume(): void } {
  const current = () => (server as unknown as ServerPrivate)._handle as Partial<StreamHandle> | null;
  const handle = current();
  if (typeof handle?.readStart !== 'function' || typeof handle.readStop !== 'function') {
    throw new Error(
      'cannot pause accepting on this Node.js version (listening handle has no readStart/readStop)',
    );
  }
  // The poll is on already (listening); marking the stream as reading lets readStop switch it off.
  const err = handle.readStart();
  if (err !== 0) {
    throw new Error(
      `cannot pause accepting on this Node.js version (readStart on a listening socket: ${err})`,
    );
  }
  return {
    pause: () => void current()?.readStop?.(),
    resume: () => void current()?.readStart?.(),
  };
}

/** The native handle under a socket, or null once it is closed (or on a Node that hides it). */
export function socketHandle(socket: net.Socket): NativeHandle | null {
  const handle = (socket as unknown as SocketPrivate)._handle;
  return handle !== null && handle !== undefined && typeof handle.readStop === 'function' ? handle : null;
}

/**
 * Stops a socket's reads and takes its handle out, in one synchronous step, so that nothing in
 * node:net or node:http can start reading it again (node:net restarts reading on its own to refill
 * its buffer, and a byte read then would be lost). The socket can then be destroyed without
 * touching the connection; the caller owns the handle. Null when the socket has no handle.
 */
export function detachHandle(socket: net.Socket): NativeHandle | null {
  const handle = socketHandle(socket);
  if (handle === null) return null;
  handle.readStop();
  handle.reading = false;
  handle.onread = () => {};
  (socket as unknown as SocketPrivate)._handle = null;
  return handle;
}

/** node:http: whether a response is writing on this socket right now (pipelining, or in flight). */
export function hasResponseUnderWay(socket: net.Socket): boolean {
  return Boolean((socket as unknown as SocketPrivate)._httpMessage);
}

let connectionsKey: symbol | null | undefined;

/**
 * node:http's own list of the connections whose parser holds no part of a request (the list
 * `closeIdleConnections()` uses): the only exact answer to "is this connection between requests".
 */
export function isIdleConnection(server: http.Server, socket: net.Socket): boolean {
  const list = connectionsOf(server);
  return list?.idle().some((parser) => parser.socket === socket) ?? false;
}

function connectionsOf(server: http.Server): ConnectionsList | undefined {
  connectionsKey ??=
    Object.getOwnPropertySymbols(server).find((s) => s.description === 'http.server.connections') ?? null;
  if (connectionsKey === null) return undefined;
  return (server as unknown as Record<symbol, ConnectionsList | undefined>)[connectionsKey];
}

/**
 * A server that never listens (--sticky: the master accepts and hands it each connection) still
 * needs node:http's connection tracking, which node:http sets up on 'listening': the list of idle
 * connections (`isIdleConnection`) and the timer that enforces headersTimeout. Emitting the event is
 * the one way in. Throws when this Node sets up no list that way.
 */
export function serveWithoutListening(server: http.Server): void {
  server.emit('listening');
  if (connectionsOf(server) === undefined) {
    throw new Error(
      'cannot track connections on a server that does not listen (unsupported Node.js version?)',
    );
  }
}

let responseStateKey: symbol | null | undefined;

/**
 * The body of a Response made from a string or bytes (`new Response('hi')`, `Response.json()`),
 * read without its stream: undici keeps the original value next to the ReadableStream it wraps it
 * in. Null when the state is not where this expects (another Node, a body already read, a stream).
 */
export function responseBodySource(response: Response): string | Uint8Array | null {
  if (response.bodyUsed) return null;
  responseStateKey ??= Object.getOwnPropertySymbols(response).find((s) => s.description === 'state') ?? null;
  if (responseStateKey === null) return null;
  const source = (response as unknown as Record<symbol, { body?: { source?: unknown } } | undefined>)[
    responseStateKey
  ]?.body?.source;
  return typeof source === 'string' || source instanceof Uint8Array ? source : null;
}

/**
 * node:cluster exits a worker at once when its IPC channel closes unexpectedly (the master was
 * killed), dropping its in-flight requests; it skips that for a worker whose disconnect was
 * expected, which is what this flag records. Set in a worker that drains by itself instead.
 */
export function keepWorkerOnDisconnect(worker: { exitedAfterDisconnect: boolean } | undefined): void {
  if (worker) worker.exitedAfterDisconnect = true;
}

/**
 * The internals above that the running Node lacks, by name: empty on every supported release. It
 * probes real objects (a server and a kept-alive request over loopback, a Response) rather than
 * trusting version numbers.
 */
export async function missingInternals(): Promise<string[]> {
  const missing: string[] = [];
  if (typeof (net as unknown as Partial<NetPrivate>)._createServerHandle !== 'function')
    missing.push('net._createServerHandle');
  const { default: http } = await import('./node-http.js');
  let serverSocket: net.Socket | null = null;
  let responseSeen = false;
  const server = http.createServer((req, res) => {
    responseSeen =
      (req.socket as unknown as SocketPrivate)._httpMessage === res && hasResponseUnderWay(req.socket);
    res.end('ok');
  });
  server.on('connection', (socket: net.Socket) => (serverSocket = socket));
  if (typeof (server as unknown as Partial<ServerPrivate>)._listen2 !== 'function')
    missing.push('net.Server#_listen2');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const agent = new http.Agent({ keepAlive: true });
  await new Promise<void>((resolve, reject) => {
    http
      .get({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      })
      .on('error', reject);
  });
  // The response is out and the connection kept alive: node:http must list it as idle.
  await new Promise((resolve) => setImmediate(resolve));
  if (!responseSeen) missing.push('net.Socket#_httpMessage');
  const socket = serverSocket as net.Socket | null;
  if (socket === null || !isIdleConnection(server, socket))
    missing.push("http.Server[Symbol('http.server.connections')].idle()");
  const handle = socket === null ? null : socketHandle(socket);
  if (handle === null) missing.push('net.Socket#_handle');
  else if (typeof handle.fd !== 'number') missing.push('net.Socket#_handle.fd');
  agent.destroy();
  const unlistened = http.createServer();
  try {
    serveWithoutListening(unlistened);
  } catch {
    missing.push("http.Server 'listening' sets up connection tracking");
  }
  unlistened.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  // Optional: from Node 24 (undici 7) a Response's state is a true private field, out of reach, and
  // the fetch adapter reads the body's stream instead. Only a state symbol that no longer holds the
  // body means this reach broke.
  const probe = new Response('probe');
  const hasState = Object.getOwnPropertySymbols(probe).some((s) => s.description === 'state');
  if (hasState && responseBodySource(probe) !== 'probe')
    missing.push("Response[Symbol('state')].body.source");
  return missing;
}
