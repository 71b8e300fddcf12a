/**
 * The fetch interface's WebSockets: `info.upgradeWebSocket()` in the shape Deno made standard. It
 * returns `{ response, socket }` at once: the app returns `response`, the worker then completes the
 * handshake (with `ws`, see workers/websockets.ts), and `socket` opens. `socket` is a WHATWG
 * `WebSocket`-like object (send, close, readyState, on* handlers, addEventListener) over a `ws`
 * WebSocket, so code written for Deno, Bun or the browser's API runs unchanged.
 */

import type { Log } from '../log.js';

/** What `info.upgradeWebSocket()` accepts. */
export interface UpgradeWebSocketOptions {
  /** The subprotocol to accept; it should be one the client offered in Sec-WebSocket-Protocol. */
  readonly protocol?: string;
}

/** What `info.upgradeWebSocket()` returns: return `response` from the handler; `socket` opens after. */
export interface WebSocketUpgrade {
  readonly response: Response;
  readonly socket: UnicornWebSocket;
}

/** The events a UnicornWebSocket dispatches. */
export interface UnicornWebSocketEventMap {
  open: Event;
  message: MessageEvent;
  close: CloseEvent;
  error: Event;
}

/** A WHATWG `WebSocket`-like socket on the server side of a connection. */
export interface UnicornWebSocket {
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSING: 2;
  readonly CLOSED: 3;
  /** 0 until the handshake is done, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** The request URL, as the app's Request had it (ws: or wss: instead of http: or https:). */
  readonly url: string;
  /** The subprotocol accepted, '' for none. */
  readonly protocol: string;
  /** The extensions accepted ('permessage-deflate' with --ws-per-message-deflate), '' for none. */
  readonly extensions: string;
  /** Bytes queued to send and not yet written to the connection. */
  readonly bufferedAmount: number;
  /** How binary messages arrive: `arraybuffer` (the default) or `blob`. */
  binaryType: 'arraybuffer' | 'blob';
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void;
  close(code?: number, reason?: string): void;
  addEventListener<K extends keyof UnicornWebSocketEventMap>(
    type: K,
    listener: (event: UnicornWebSocketEventMap[K]) => void,
    options?: { once?: boolean },
  ): void;
  removeEventListener<K extends keyof UnicornWebSocketEventMap>(
    type: K,
    listener: (event: UnicornWebSocketEventMap[K]) => void,
  ): void;
}

/** The part of a `ws` WebSocket the wrapper uses (the `ws` package's server-side socket). */
export interface RawWebSocket {
  readonly readyState: number;
  readonly protocol: string;
  readonly extensions: string;
  readonly bufferedAmount: number;
  send(data: string | Buffer | ArrayBuffer | ArrayBufferView, cb?: (err?: Error) => void): void;
  close(code?: number, reason?: string): void;
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): void;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
}

/** Node 20 has no global CloseEvent (Node 23 does): the same shape, as an Event. */
class WsCloseEvent extends Event {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
  constructor(type: string, init: { code: number; reason: string; wasClean: boolean }) {
    super(type);
    this.code = init.code;
    this.reason = init.reason;
    this.wasClean = init.wasClean;
  }
}

/**
 * The `message` event. Node's own MessageEvent runs its init dictionary through undici's WebIDL
 * converters: about 5 µs a message under the echo benchmark on Node 24, a tenth of the worker's CPU
 * per message. This one carries the same fields as plain properties, and its prototype chain runs
 * through MessageEvent.prototype (every accessor there is shadowed by an own property here), so
 * `event instanceof MessageEvent` still holds for code that checks.
 */
class WsMessageEvent extends Event {
  readonly data: unknown;
  readonly origin: string;
  readonly lastEventId = '';
  readonly source = null;
  readonly ports: readonly MessagePort[] = [];
  constructor(data: unknown, origin: string) {
    super('message');
    this.data = data;
    this.origin = origin;
  }
}

/**
 * A message event. MessageEvent.prototype is read on the first message, not when this module
 * loads: on Node 22 and 24 the global MessageEvent comes from undici, loaded on first read, which a
 * worker without fetch-interface WebSockets never needs.
 */
let messageEventLinked = false;
function messageEvent(data: unknown, origin: string): WsMessageEvent {
  if (!messageEventLinked) {
    Object.setPrototypeOf(WsMessageEvent.prototype, MessageEvent.prototype);
    messageEventLinked = true;
  }
  return new WsMessageEvent(data, origin);
}

type Listener = (event: Event) => void;

/** The `on*` handler and the listeners of one event type. */
class Channel {
  handler: Listener | null = null;
  listeners: Array<{ fn: Listener; once: boolean }> = [];
}

const SERVER_CLOSE_CODES = new Set([1000, 1001, 1008, 1009, 1011]);

/**
 * One server-side WebSocket. Listeners run in a try/catch of the socket's own: an app handler that
 * throws is logged (`websocket.error`) and that connection closed with 1011, where an EventTarget
 * would rethrow it as an uncaught exception and retire the whole worker with every other
 * connection on it.
 */
export class ServerWebSocket implements UnicornWebSocket {
  readonly CONNECTING = 0 as const;
  readonly OPEN = 1 as const;
  readonly CLOSING = 2 as const;
  readonly CLOSED = 3 as const;
  readonly url: string;
  readonly #origin: string;
  binaryType: 'arraybuffer' | 'blob' = 'arraybuffer';
  #raw: RawWebSocket | null = null;
  /** Set once the handshake will never happen (the app answered something else). */
  #abandoned = false;
  /**
   * One channel per event type, each its own field: the message path reads `#message` by name,
   * where a table keyed by the event's type made every message a megamorphic keyed load and a Map
   * lookup (measured under the echo benchmark).
   */
  readonly #open = new Channel();
  readonly #message = new Channel();
  readonly #close = new Channel();
  readonly #error = new Channel();
  readonly #log: Log;
  /** Blob sends read their bytes first; later sends queue behind them to keep the order. */
  #sendQueue: Promise<void> | null = null;

  constructor(url: string, log: Log) {
    this.url = url;
    this.#origin = new URL(url).origin;
    this.#log = log;
  }

  get readyState(): number {
    if (this.#abandoned) return 3;
    return this.#raw === null ? 0 : this.#raw.readyState;
  }
  get protocol(): string {
    return this.#raw?.protocol ?? '';
  }
  get extensions(): string {
    return this.#raw?.extensions ?? '';
  }
  get bufferedAmount(): number {
    return this.#raw?.bufferedAmount ?? 0;
  }

  get onopen(): Listener | null {
    return this.#open.handler;
  }
  set onopen(fn: Listener | null) {
    this.#open.handler = fn;
  }
  get onmessage(): ((event: MessageEvent) => void) | null {
    return this.#message.handler;
  }
  set onmessage(fn: ((event: MessageEvent) => void) | null) {
    this.#message.handler = fn as Listener | null;
  }
  get onclose(): ((event: CloseEvent) => void) | null {
    return this.#close.handler;
  }
  set onclose(fn: ((event: CloseEvent) => void) | null) {
    this.#close.handler = fn as Listener | null;
  }
  get onerror(): Listener | null {
    return this.#error.handler;
  }
  set onerror(fn: Listener | null) {
    this.#error.handler = fn;
  }

  addEventListener<K extends keyof UnicornWebSocketEventMap>(
    type: K,
    listener: (event: UnicornWebSocketEventMap[K]) => void,
    options?: { once?: boolean },
  ): void {
    const channel = this.#channel(type);
    if (channel === null || channel.listeners.some((l) => l.fn === listener)) return;
    channel.listeners.push({ fn: listener as Listener, once: options?.once === true });
  }

  removeEventListener<K extends keyof UnicornWebSocketEventMap>(
    type: K,
    listener: (event: UnicornWebSocketEventMap[K]) => void,
  ): void {
    const list = this.#channel(type)?.listeners;
    if (list === undefined) return;
    const i = list.findIndex((l) => l.fn === (listener as Listener));
    if (i >= 0) list.splice(i, 1);
  }

  /** The channel of an event type; null for a type a WebSocket never fires. */
  #channel(type: string): Channel | null {
    switch (type) {
      case 'open':
        return this.#open;
      case 'message':
        return this.#message;
      case 'close':
        return this.#close;
      case 'error':
        return this.#error;
      default:
        return null;
    }
  }

  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    const raw = this.#raw;
    if (raw === null || this.#abandoned) {
      throw new DOMException('WebSocket is not open: send() before the open event', 'InvalidStateError');
    }
    // As in the browser: a send on a closing or closed socket is dropped, not thrown.
    if (raw.readyState !== 1) return;
    if (typeof Blob !== 'undefined' && data instanceof Blob) {
      const bytes = data.arrayBuffer();
      this.#queue(() => bytes.then((b) => this.#sendNow(b)));
      return;
    }
    if (this.#sendQueue !== null) {
      this.#queue(() => this.#sendNow(data as string | ArrayBufferLike | ArrayBufferView));
      return;
    }
    this.#sendNow(data as string | ArrayBufferLike | ArrayBufferView);
  }

  close(code?: number, reason?: string): void {
    // The browser's rule (1000 or 3000-4999), which Deno and Bun share, plus the codes a server
    // sends: 1001 going away, 1008 policy, 1009 too big, 1011 internal error.
    if (code !== undefined && !SERVER_CLOSE_CODES.has(code) && (code < 3000 || code > 4999)) {
      throw new DOMException(
        `close code ${code} is not 1000, 1001, 1008, 1009, 1011 or 3000-4999`,
        'InvalidAccessError',
      );
    }
    if (reason !== undefined && Buffer.byteLength(reason) > 123) {
      throw new DOMException('close reason longer than 123 bytes', 'SyntaxError');
    }
    if (this.#raw === null) {
      // Closed before the handshake: the worker answers the upgrade with an error instead.
      this.abandon();
      return;
    }
    this.#raw.close(code, reason);
  }

  /** The handshake is done: the socket is open, on the `ws` WebSocket `raw`. */
  attach(raw: RawWebSocket & { binaryType: string }): void {
    this.#raw = raw;
    raw.binaryType = 'nodebuffer';
    raw.on('message', (data, isBinary) => {
      // binaryType 'nodebuffer' (set above): a Buffer, or its fragments.
      const buf = Array.isArray(data) ? Buffer.concat(data) : (data as Buffer);
      let payload: string | ArrayBuffer | Blob;
      if (!isBinary) payload = buf.toString('utf8');
      else {
        const copy = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
        payload = this.binaryType === 'blob' ? new Blob([copy]) : copy;
      }
      this.#dispatch(this.#message, 'message', messageEvent(payload, this.#origin));
    });
    raw.on('error', () => this.#dispatch(this.#error, 'error', new Event('error')));
    raw.on('close', (code, reason) => {
      this.#dispatch(
        this.#close,
        'close',
        new WsCloseEvent('close', { code, reason: reason.toString('utf8'), wasClean: code !== 1006 }),
      );
    });
    this.#dispatch(this.#open, 'open', new Event('open'));
  }

  /** The app answered the upgrade request with something else: the socket never opens. */
  abandon(): void {
    if (this.#raw !== null || this.#abandoned) return;
    this.#abandoned = true;
    this.#dispatch(
      this.#close,
      'close',
      new WsCloseEvent('close', { code: 1006, reason: '', wasClean: false }),
    );
  }

  #sendNow(data: string | ArrayBufferLike | ArrayBufferView): void {
    const raw = this.#raw;
    if (raw === null || raw.readyState !== 1) return;
    raw.send(
      data instanceof SharedArrayBuffer ? new Uint8Array(data).slice() : (data as string | ArrayBuffer),
    );
  }

  #queue(step: () => Promise<void> | void): void {
    const next = (this.#sendQueue ?? Promise.resolve()).then(step).catch((err: unknown) => {
      this.#log.warn('websocket.error', `A WebSocket send failed: ${String(err)}`, { err });
    });
    this.#sendQueue = next;
    void next.then(() => {
      if (this.#sendQueue === next) this.#sendQueue = null;
    });
  }

  /** The `on*` handler first, then the listeners; no allocation when there are none (the usual case). */
  #dispatch(channel: Channel, type: string, event: Event): void {
    const handler = channel.handler;
    if (handler !== null) this.#call(handler, type, event);
    const list = channel.listeners;
    if (list.length === 0) return;
    const listeners = list.slice();
    if (listeners.some((l) => l.once)) channel.listeners = list.filter((l) => !l.once);
    for (const l of listeners) this.#call(l.fn, type, event);
  }

  #call(fn: Listener, type: string, event: Event): void {
    try {
      fn.call(this, event);
    } catch (err) {
      this.#log.error('websocket.error', `A WebSocket ${type} handler threw: ${String(err)}`, { err });
      if (type !== 'close' && this.#raw !== null && this.#raw.readyState === 1) this.#raw.close(1011);
    }
  }
}

/** The subprotocol and the socket of an upgrade the app asked for, found from the Response it returned. */
export interface PendingUpgrade {
  readonly socket: ServerWebSocket;
  readonly protocol: string | undefined;
}

/** The upgrade behind a Response the app returned, when it is the one `upgradeWebSocket()` gave. */
const PENDING = new WeakMap<Response, PendingUpgrade>();

/**
 * Frameworks may copy a Response (Hono does when middleware already touched the context's): the
 * copy keeps its headers, so this one names the upgrade too. It never reaches the client (the
 * handshake's own 101 does).
 */
export const UPGRADE_TOKEN_HEADER = 'x-unicorn-websocket-upgrade';

/** The upgrade a Response stands for, when it is one `upgradeResponse` made. */
export function upgradeOf(response: Response): PendingUpgrade | undefined {
  return PENDING.get(response);
}

export function upgradeResponse(pending: PendingUpgrade, token: string): Response {
  const response = new Response(null, { status: 200, headers: { [UPGRADE_TOKEN_HEADER]: token } });
  PENDING.set(response, pending);
  return response;
}

/** Why a request cannot be a WebSocket handshake (RFC 6455 section 4.2.1), or null when it can. */
export function handshakeProblem(headers: {
  readonly method?: string | undefined;
  readonly upgrade?: string | undefined;
  readonly key?: string | undefined;
  readonly version?: string | undefined;
}): { status: 400 | 405 | 426; reason: string } | null {
  if (headers.method !== 'GET')
    return { status: 405, reason: `a WebSocket handshake is a GET, not ${headers.method}` };
  if (headers.upgrade?.toLowerCase() !== 'websocket')
    return { status: 400, reason: 'Upgrade is not websocket' };
  const key = headers.key?.trim();
  if (key === undefined || !/^[+/0-9A-Za-z]{22}==$/.test(key)) {
    return { status: 400, reason: 'missing or invalid Sec-WebSocket-Key' };
  }
  const version = headers.version?.trim();
  if (version !== '13' && version !== '8') {
    return { status: 426, reason: `unsupported Sec-WebSocket-Version ${version ?? '(none)'}` };
  }
  return null;
}
