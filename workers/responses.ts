/**
 * The worker's entry point for the answers the server writes itself, never the app: refusals (400,
 * 405, 413, 414, 431, 505), timeouts (408, 503), shed load (503), and the 500 for a request the app
 * failed. One shape for all of them (src/http/own-answer.ts): a short plain-text body naming the
 * status, an exact Content-Length, and `Connection: close`, because each one means the connection
 * can no longer be trusted to carry another request (part of a body may be unread, the client is
 * misbehaving, or the app's state for it is unknown). The worker marks the connection as closing,
 * so requests the client pipelined behind this one are not run.
 */

import type { ServerResponse } from 'node:http';
import { type OwnStatus, ownAnswerBody, ownAnswerHeaders, rawAnswer } from '../src/http/own-answer.js';
import type { ClientConnection } from './connection.js';

export type { OwnStatus };

/** Writes `status` on `res`, then closes the connection; `sent` runs once it is flushed. */
export function answerAndClose(
  conn: ClientConnection,
  res: ServerResponse,
  status: OwnStatus,
  extra?: Readonly<Record<string, string>>,
  sent?: () => void,
): void {
  conn.closing = true;
  res.shouldKeepAlive = false;
  // The answer replaces whatever the app had started: a header it set before it failed (a
  // Content-Encoding, a Set-Cookie) does not describe this body, and would not be on the raw path.
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.writeHead(status, ownAnswerHeaders(status, extra));
  res.end(ownAnswerBody(status), sent);
}

/**
 * Bytes node:http could not make a request of (a parse error, a head that took too long): there is
 * no ServerResponse, so the same answer goes straight onto the socket, which then ends.
 */
export function answerSocketAndClose(conn: ClientConnection, status: OwnStatus): void {
  conn.closing = true;
  conn.socket.end(rawAnswer(status));
}

/**
 * The response for a request the app failed: a short 500, never a stack (that goes to the log). When
 * headers are already out, the status cannot change, so the connection is cut to tell the client the
 * body is incomplete rather than let it take a truncated body for a whole one.
 */
export function failResponse(conn: ClientConnection, res: ServerResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  answerAndClose(conn, res, 500);
}
