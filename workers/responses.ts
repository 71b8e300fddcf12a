/**
 * The answers the server writes itself, never the app: refusals (400, 405, 413, 414, 431, 505), timeouts
 * (408, 503), and shed load (503). One shape for all of them: a short plain-text body naming the
 * status, an exact Content-Length, and `Connection: close`, because each one means the connection
 * can no longer be trusted to carry another request (part of a body may be unread, or the client is
 * misbehaving). The worker marks the connection as closing, so requests the client pipelined behind
 * this one are not run.
 */

import http, { type ServerResponse } from 'node:http';
import type { ClientConnection } from './connection.js';

export type OwnStatus = 400 | 405 | 408 | 413 | 414 | 431 | 503 | 505;

/** Writes `status` on `res`, then closes the connection; `sent` runs once it is flushed. */
export function answerAndClose(
  conn: ClientConnection,
  res: ServerResponse,
  status: OwnStatus,
  extra?: Readonly<Record<string, string>>,
  sent?: () => void,
): void {
  conn.closing = true;
  const body = `${http.STATUS_CODES[status]}\n`;
  res.shouldKeepAlive = false;
  res.writeHead(status, {
    ...extra,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': body.length,
    connection: 'close',
  });
  res.end(body, sent);
}
