/**
 * The one definition of an answer the server writes itself, never the app: status line, a short
 * plain-text body naming the status, an exact Content-Length, a Date, `Server`, and
 * `Connection: close`.
 *
 * It is written two ways: through a ServerResponse (workers/responses.ts, for a request node:http
 * handed over) and as raw bytes on a socket (the worker's client errors, where node:http has no
 * response to give; the master's parked connections in --dispatch request). Both take their headers
 * from `ownAnswerHeaders`, so the bytes on the wire are the same either way. It lives here rather
 * than in workers/ because the master uses it too, and the master never imports workers/.
 */

import http from '../node-http.js';

/** The `Server` header of the own answers (workers/pipeline.ts sets the same one on the app's). */
export const SERVER = 'unicorn-ts';

/** Every status the server answers by itself. */
export type OwnStatus = 400 | 405 | 408 | 413 | 414 | 426 | 431 | 500 | 503 | 505;

/** The body of an own answer: the status text and a newline. */
export function ownAnswerBody(status: OwnStatus): string {
  return `${http.STATUS_CODES[status]}\n`;
}

/**
 * The headers of an own answer, in the order they go out, and nothing else: `server` first (as on
 * every response), then `extra`, then the fixed ones, which `extra` cannot override. The Date is set
 * here, not left to node:http, because the raw path has no ServerResponse to add it; setting it
 * here keeps both paths alike (RFC 9110 section 6.6.1: an origin server with a clock sends one).
 */
export function ownAnswerHeaders(
  status: OwnStatus,
  extra?: Readonly<Record<string, string>>,
): Record<string, string> {
  const headers: Record<string, string> = {
    server: SERVER,
    ...extra,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(ownAnswerBody(status))),
    date: new Date().toUTCString(),
    connection: 'close',
  };
  headers.server = SERVER;
  return headers;
}

/** The whole answer as the bytes to write on a socket, for a connection with no ServerResponse. */
export function rawAnswer(status: OwnStatus, extra?: Readonly<Record<string, string>>): string {
  let head = `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n`;
  for (const [name, value] of Object.entries(ownAnswerHeaders(status, extra)))
    head += `${name}: ${value}\r\n`;
  return `${head}\r\n${ownAnswerBody(status)}`;
}
