/**
 * Request limits with Gunicorn's names and defaults, for when clients reach unicorn-ts directly.
 * node:http (llhttp) parses; these checks run on the parsed head before the app sees the request,
 * and the body limit runs as the body arrives, so an oversized body is never read into memory. The
 * body timeout (--body-timeout) watches the same arrivals for a client that stops sending.
 */

import type { IncomingMessage } from 'node:http';
import { monotonicNow } from '../clock.js';
import { isValidHost } from './host.js';

export interface RequestLimits {
  /** Longest request line in bytes (method, target, version and the spaces); 0 = no limit. */
  readonly line: number;
  /** Most header fields; 0 = no limit. */
  readonly fields: number;
  /** Longest header field (`name: value` and its CRLF) in bytes; 0 = no limit. */
  readonly fieldSize: number;
  /** Largest body in bytes; 0 = no limit. */
  readonly body: number;
  /** Header names with `_`: dropped, refused, or passed on (see --header-map). */
  readonly headerMap: 'drop' | 'refuse' | 'dangerous';
}

/**
 * Fields that must not repeat: two Host or Content-Type values are an attack or a broken client.
 * One bit each, so that the check per request allocates nothing.
 */
const SINGLETON_BIT: ReadonlyMap<string, number> = new Map([
  ['host', 1],
  ['content-type', 2],
]);
/** absolute-form is for HTTP URLs only: `file:///etc/passwd` is no target for an HTTP server. */
const ABSOLUTE_FORM = /^https?:\/\//i;

export interface Refusal {
  readonly status: 400 | 405 | 413 | 414 | 431 | 505;
  readonly reason: string;
}

/** The total header size node:http must accept for these limits (its own cap is checked first). */
export function maxHeaderSize(limits: RequestLimits): number {
  const line = limits.line > 0 ? limits.line : 8190;
  const fields = limits.fields > 0 ? limits.fields : 100;
  const size = limits.fieldSize > 0 ? limits.fieldSize : 8190;
  // Headroom so that the specific limit, not the parser's total, decides which error a client sees.
  return Math.min(16 * 1024 * 1024, line + fields * size + 1024);
}

/**
 * What llhttp accepts but a careful server refuses (from Gunicorn's request corpus): versions other
 * than 1.x, request-targets in no valid form, repeated singleton fields, a missing or malformed Host
 * (RFC 9112 section 3.2), a Transfer-Encoding on HTTP/1.0 (a smuggling vector), and the limits above.
 */
export function checkHead(req: IncomingMessage, limits: RequestLimits): Refusal | null {
  if (req.httpVersionMajor !== 1) return { status: 505, reason: `HTTP/${req.httpVersion} is not supported` };
  if (!targetFormAllowed(req.method ?? '', req.url ?? '')) {
    return { status: 400, reason: `request-target not allowed for ${req.method}` };
  }
  if (limits.line > 0) {
    const line = (req.method?.length ?? 0) + 1 + (req.url?.length ?? 0) + 1 + 8;
    if (line > limits.line)
      return {
        status: 414,
        reason: `request line of ${line} bytes exceeds --limit-request-line ${limits.line}`,
      };
  }
  const raw = req.rawHeaders;
  if (limits.fields > 0 && raw.length / 2 > limits.fields) {
    return {
      status: 431,
      reason: `${raw.length / 2} header fields exceed --limit-request-fields ${limits.fields}`,
    };
  }
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (limits.fieldSize > 0) {
      const size = name.length + 2 + raw[i + 1]!.length + 2;
      if (size > limits.fieldSize) {
        return {
          status: 431,
          reason: `header ${name} of ${size} bytes exceeds --limit-request-field-size ${limits.fieldSize}`,
        };
      }
    }
    if (limits.headerMap === 'refuse' && name.includes('_')) {
      return { status: 400, reason: `header name ${name} contains "_"` };
    }
    // Only names of the right length are lower-cased: this loop runs for every request.
    const bit = name.length === 4 || name.length === 12 ? (SINGLETON_BIT.get(name.toLowerCase()) ?? 0) : 0;
    if (bit !== 0) {
      if ((seen & bit) !== 0) return { status: 400, reason: `repeated ${name} field` };
      seen |= bit;
    }
  }
  const host = req.headers.host;
  if (host === undefined) {
    if (req.httpVersionMinor >= 1) return { status: 400, reason: 'HTTP/1.1 request without a Host field' };
  } else if (!isValidHost(host)) {
    return { status: 400, reason: 'Host field is not a valid host[:port]' };
  }
  if (req.httpVersionMinor === 0 && req.headers['transfer-encoding'] !== undefined) {
    return { status: 400, reason: 'Transfer-Encoding in an HTTP/1.0 request' };
  }
  if (limits.body > 0) {
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > limits.body)
      return { status: 413, reason: `body of ${length} bytes exceeds --limit-request-body ${limits.body}` };
  }
  return null;
}

/** origin-form (`/path`), absolute-form (`http://host/path`, http and https only), or `*` for OPTIONS only. */
function targetFormAllowed(method: string, target: string): boolean {
  if (target.startsWith('/')) return true;
  if (target === '*') return method === 'OPTIONS';
  return ABSOLUTE_FORM.test(target) && URL.canParse(target);
}

/**
 * --header-map drop: header names with `_` are removed before the app sees them. A proxy may pass
 * `X_Forwarded_For` untouched while it rewrites `X-Forwarded-For`; frameworks that fold `-` and `_`
 * together would then trust the client's copy.
 */
export function dropUnderscoreFields(req: IncomingMessage): void {
  const raw = req.rawHeaders;
  let found = false;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.includes('_')) {
      found = true;
      break;
    }
  }
  if (!found) return;
  const kept: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.includes('_')) delete req.headers[raw[i]!.toLowerCase()];
    else kept.push(raw[i]!, raw[i + 1]!);
  }
  req.rawHeaders = kept;
}

/**
 * Enforces the body limit on a body of unknown length (chunked) as it arrives: counts what the
 * parser pushes into the request stream, and calls `exceeded` once the limit is passed. From then
 * on nothing more reaches the stream, its end included: a body cut at the limit must never look
 * complete to the app, so the caller fails the stream (`exceeded` destroys the request with an
 * error once the 413 is out).
 */
export function limitBody(req: IncomingMessage, max: number, exceeded: () => void): void {
  let seen = 0;
  const push = req.push;
  req.push = function (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding) {
    if (chunk !== null) {
      seen += (chunk as Buffer).length;
      if (seen > max) {
        // Returning false also makes node:http stop reading the socket.
        req.push = () => false;
        exceeded();
        return false;
      }
    }
    return push.call(this, chunk, encoding);
  };
}

/** Whether a request announces a body: a chunked one, or a Content-Length other than 0. */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) > 0);
}

/**
 * --body-timeout: calls `expired` once when the server has waited `ms` for the next piece of the
 * request body. It only counts while the server is waiting for the client: node:http stops reading
 * the socket when the request stream's buffer is full (the app is not reading; `push` returns
 * false), and the wait starts again only when the app asks for more (`_read`), so a slow app is
 * never taken for a slow client. One timer per body, pushed back lazily: a chunk only records the
 * time, so a fast upload of many chunks costs no timer operations. Stops at the end of the body,
 * when the request or its response closes (node:http then discards what is left of the body).
 * `now` is the clock (the monotonic one; a test gives a mocked one).
 */
export function watchBodyIdle(
  req: IncomingMessage,
  res: { once(event: 'close', listener: () => void): unknown },
  ms: number,
  expired: () => void,
  now: () => number = monotonicNow,
): void {
  let done = false;
  /** Waiting for the client: the body is not complete and the request stream's buffer has room. */
  let waiting = true;
  let last = now();
  let timer: NodeJS.Timeout | null = null;
  const check = () => {
    timer = null;
    if (!waiting) return; // the app's buffer filled up meanwhile; `_read` starts the wait again
    const idle = now() - last;
    if (idle < ms) {
      timer = setTimeout(check, ms - idle);
      return;
    }
    stop();
    expired();
  };
  const wait = () => {
    waiting = true;
    last = now();
    timer ??= setTimeout(check, ms);
  };
  const stop = () => {
    done = true;
    waiting = false;
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
  const push = req.push;
  req.push = function (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding) {
    const room = push.call(this, chunk, encoding);
    if (!done) {
      if (chunk === null) stop();
      else if (room) wait();
      else waiting = false;
    }
    return room;
  };
  const read = req._read;
  req._read = function (this: IncomingMessage, size: number) {
    if (!done && !waiting && !req.complete) wait();
    return read.call(this, size);
  };
  req.once('close', stop);
  res.once('close', stop);
  wait();
}
