/**
 * A Web `Request` built only as far as the app looks. Most handlers read the method, the URL and a
 * header or two; constructing undici's Request, its Headers and an AbortSignal for every request
 * costs more than the rest of a hello-world response. This object answers `method`, `url` and
 * `headers` itself, and builds the real Request the first time anything else is used (the body,
 * clone(), signal...). Its prototype chain includes Request.prototype, so `instanceof Request`
 * holds and frameworks (Hono and others) treat it as one.
 */

import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

const NO_BODY = new Set(['GET', 'HEAD']);

/** Abort on demand: the AbortController is only created if someone asks for the signal. */
export class LazyAbort {
  #controller: AbortController | null = null;
  #reason: unknown = undefined;
  #aborted = false;

  get signal(): AbortSignal {
    if (this.#controller === null) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  abort(reason?: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

interface LazyState {
  req: IncomingMessage;
  url: string;
  abort: LazyAbort;
  headers: Headers | null;
  real: Request | null;
}

const STATE = Symbol('unicorn-ts.lazyRequest');

type Lazy = { [STATE]: LazyState };

function real(self: Lazy): Request {
  const s = self[STATE];
  if (s.real === null) {
    const method = s.req.method ?? 'GET';
    const init: RequestInit & { duplex?: 'half' } = {
      method,
      headers: headersOf(self),
      signal: s.abort.signal,
    };
    if (!NO_BODY.has(method)) {
      init.body = Readable.toWeb(s.req) as unknown as ReadableStream<Uint8Array>;
      init.duplex = 'half';
    }
    s.real = new Request(s.url, init);
  }
  return s.real;
}

function headersOf(self: Lazy): Headers {
  const s = self[STATE];
  if (s.headers === null) {
    const headers = new Headers();
    const raw = s.req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
    s.headers = headers;
  }
  return s.headers;
}

/**
 * The prototype every lazy Request shares, made on first use: touching `Request` loads undici,
 * about 30 ms of a worker's boot that an app on the node interface never needs.
 */
let lazyPrototype: object | null = null;

function prototypeOfLazy(): object {
  if (lazyPrototype !== null) return lazyPrototype;
  const prototype: object = Object.create(Request.prototype, {
    method: {
      get(this: Lazy) {
        return this[STATE].req.method ?? 'GET';
      },
    },
    url: {
      get(this: Lazy) {
        return this[STATE].url;
      },
    },
    headers: {
      get(this: Lazy) {
        return this[STATE].real?.headers ?? headersOf(this);
      },
    },
  });

  // Everything else Request has (body, json(), clone(), signal, ...) goes to the real one, built once.
  for (const name of Object.getOwnPropertyNames(Request.prototype)) {
    if (name === 'constructor' || name === 'method' || name === 'url' || name === 'headers') continue;
    const descriptor = Object.getOwnPropertyDescriptor(Request.prototype, name)!;
    if (typeof descriptor.value === 'function') {
      Object.defineProperty(prototype, name, {
        value(this: Lazy, ...args: unknown[]) {
          const target = real(this);
          return (target[name as keyof Request] as (...a: unknown[]) => unknown).apply(target, args);
        },
      });
    } else if (descriptor.get) {
      Object.defineProperty(prototype, name, {
        get(this: Lazy) {
          return real(this)[name as keyof Request];
        },
      });
    }
  }
  lazyPrototype = prototype;
  return prototype;
}

export function lazyRequest(req: IncomingMessage, url: string, abort: LazyAbort): Request {
  const self = Object.create(prototypeOfLazy()) as Lazy;
  self[STATE] = { req, url, abort, headers: null, real: null };
  return self as unknown as Request;
}
