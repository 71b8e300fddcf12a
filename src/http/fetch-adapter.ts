/**
 * The fetch interface: a node:http request becomes a Web `Request`, the app's `Response` is written
 * back. Bodies stream both ways with backpressure, so a 1 GiB upload or download never sits in memory.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { responseBodySource } from '../node-internals.js';
import { authorityOf } from './host.js';
import { type LazyAbort, lazyRequest } from './lazy-request.js';
import { type LightParts, LightResponse } from './light-response.js';
import { SERVER } from './own-answer.js';
import type { RequestInfo } from './request-info.js';

export type FetchHandler = (request: Request, info: RequestInfo) => Response | Promise<Response>;
export interface FetchApp {
  fetch: FetchHandler;
}

export class NotAResponseError extends Error {
  constructor(value: unknown) {
    const what = value === undefined ? 'undefined' : value === null ? 'null' : `a ${typeof value}`;
    super(
      `the fetch handler returned ${what}, not a Response` +
        (value === undefined
          ? '; if the app is a (req, res) handler, start unicorn-ts with --interface node'
          : ''),
    );
    this.name = 'NotAResponseError';
  }
}

/** Normalises the two fetch shapes (a function, or an object with fetch()) to one function. */
export function fetchHandlerOf(app: unknown): FetchHandler {
  if (typeof app === 'function') return app as FetchHandler;
  const obj = app as FetchApp;
  return (request, info) => obj.fetch(request, info);
}

/**
 * The request the app sees: a lazily built Web Request (see lazy-request.ts). Its URL's scheme is
 * the connection's (or the trusted proxy's), never the client's choice; its authority is the Host
 * header, already checked (src/http/host.ts). An absolute-form target carries its own authority,
 * which takes precedence over Host (RFC 9112 section 3.2.2), without the userinfo; `*` (OPTIONS)
 * is addressed to the server itself.
 */
export function toRequest(req: IncomingMessage, scheme: string, abort: LazyAbort): Request {
  const target = req.url ?? '/';
  let url: string;
  if (target.charCodeAt(0) === 47 /* '/' */) {
    url = `${scheme}://${authorityOf(req.headers.host, req.socket)}${target}`;
  } else if (target === '*') {
    url = `${scheme}://${authorityOf(req.headers.host, req.socket)}/`;
  } else {
    const absolute = new URL(target);
    url = `${scheme}://${absolute.host}${absolute.pathname}${absolute.search}`;
  }
  return lazyRequest(req, url, abort);
}

/**
 * Writes a Response to node:http. A string or bytes body goes out at once (undefined); otherwise the
 * promise resolves when the body is out (or the client went away). Either way the `Server` header
 * is set here. `keepHeaders` false: nothing reads the response's headers once written (writeLight).
 */
export function writeResponse(
  res: ServerResponse,
  response: Response,
  keepHeaders = true,
): Promise<void> | undefined {
  const light = LightResponse.partsOf(response);
  if (light !== null) {
    writeLight(res, light, keepHeaders);
    return undefined;
  }
  return writeNative(res, response);
}

/**
 * A Response that will not be sent: a stream body is cancelled, so that its source stops producing;
 * a light one (a string or bytes) holds nothing to release.
 */
export function discardResponse(response: Response): void {
  if (LightResponse.partsOf(response) !== null || response.bodyUsed) return;
  response.body?.cancel().catch(() => {});
}

async function writeNative(res: ServerResponse, response: Response): Promise<void> {
  res.statusCode = response.status;
  // Before the app's headers, so that a Server header of its own replaces it.
  res.setHeader('server', SERVER);
  if (response.statusText) res.statusMessage = response.statusText;
  for (const [name, value] of response.headers) {
    if (name === 'set-cookie') continue;
    res.setHeader(name, value);
  }
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);

  const complete = completeBody(response);
  if (complete !== null) {
    if (!res.hasHeader('content-length')) res.setHeader('content-length', Buffer.byteLength(complete));
    res.end(complete);
    return;
  }
  const body = response.body;
  if (body === null) {
    res.end();
    return;
  }
  const reader = body.getReader();
  const onClose = () => {
    reader.cancel().catch(() => {});
  };
  res.once('close', onClose);
  try {
    // A body that is complete at once (a string, a buffer, JSON) is sent with Content-Length. The
    // check is one turn of the event loop: a stream whose next chunk is not already there is sent
    // chunked straight away, so a slow stream's first bytes are never held back.
    const firstPending = reader.read();
    let first = await Promise.race([firstPending, nextTurn()]);
    if (first === NOT_YET) {
      // Nothing to send yet (an event stream, a slow producer): the status and headers go now.
      res.flushHeaders();
      first = await firstPending;
    }
    if (first.done) {
      if (!res.headersSent && !res.hasHeader('content-length')) res.setHeader('content-length', 0);
      res.end();
      return;
    }
    const pending = reader.read();
    const second = await Promise.race([pending, nextTurn()]);
    if (second !== NOT_YET && second.done) {
      if (!res.headersSent && !res.hasHeader('content-length'))
        res.setHeader('content-length', first.value.byteLength);
      res.end(first.value);
      return;
    }
    await write(res, first.value);
    for (let next = second === NOT_YET ? await pending : second; !next.done; next = await reader.read()) {
      await write(res, next.value);
    }
    res.end();
  } finally {
    res.off('close', onClose);
  }
}

/**
 * A LightResponse still light: its status, headers (`Server` first, so that the app's own replaces
 * it) and body as the app gave them, in one write. When nothing reads the response's headers once
 * written (`keepHeaders` false), they go to writeHead() as one object, which node:http writes as it
 * is; each setHeader() would validate the header and keep it in a map of the response's own first
 * (measured: 27.1 against 29.2 µs of CPU per request, Node 24, keep-alive). res.getHeader() then
 * answers undefined afterwards, so an access log or a hook that reads them gets `keepHeaders`.
 */
function writeLight(res: ServerResponse, parts: LightParts, keepHeaders: boolean): void {
  const headers: Record<string, string | number> = { server: SERVER };
  const given = parts.headers;
  if (given !== null) for (const name in given) headers[name] = given[name] as string;
  if (parts.impliedType !== null && headers['content-type'] === undefined) {
    headers['content-type'] = parts.impliedType;
  }
  const body = parts.body;
  if (body !== null && headers['content-length'] === undefined) {
    headers['content-length'] = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
  }
  if (keepHeaders) {
    for (const name in headers) res.setHeader(name, headers[name] as string | number);
    if (parts.statusText) res.writeHead(parts.status, parts.statusText);
    else res.writeHead(parts.status);
  } else if (parts.statusText) res.writeHead(parts.status, parts.statusText, headers);
  else res.writeHead(parts.status, headers);
  if (body === null) res.end();
  else res.end(body);
}

/**
 * The body of a Response made from a string or bytes (`new Response('hi')`, `Response.json()`), read
 * without its stream: writing that value directly skips the stream, two turns of the event loop and
 * the garbage they leave (under load the stream was the largest source of objects surviving into the
 * old generation). It reads undici's state (src/node-internals.ts); when that is not where it is
 * expected (another Node, a body already read), the stream path is used.
 */
export function completeBody(response: Response): string | Uint8Array | null {
  return responseBodySource(response);
}

const NOT_YET = Symbol('not yet');

function nextTurn(): Promise<typeof NOT_YET> {
  return new Promise((resolve) => setImmediate(resolve, NOT_YET));
}

function write(res: ServerResponse, chunk: Uint8Array): Promise<void> | void {
  if (res.destroyed) throw new Error('client closed the connection');
  if (res.write(chunk)) return;
  return new Promise((resolve, reject) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', closed);
      resolve();
    };
    const closed = () => {
      res.off('drain', done);
      reject(new Error('client closed the connection'));
    };
    res.on('drain', done);
    res.on('close', closed);
  });
}
