import http, { type ServerResponse } from 'node:http';

/**
 * The response for a request the app failed: a short 500, never a stack (that goes to the log). When
 * headers are already out, the status cannot change, so the connection is cut to tell the client the
 * body is incomplete rather than let it take a truncated body for a whole one.
 */
export function failResponse(res: ServerResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = 'Internal Server Error\n';
  res.writeHead(500, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** The hint added to an error when the interface guess may be wrong. */
export function interfaceHint(err: unknown, current: 'fetch' | 'node'): string | undefined {
  const message = err instanceof Error ? err.message : '';
  if (current === 'fetch' && /is not a function|Cannot read properties of undefined/.test(message)) {
    return 'if the app is a (req, res) handler, start unicorn-ts with --interface node';
  }
  return undefined;
}

/**
 * The server's own answer written straight to a socket, for bytes that never became a request
 * node:http could hand over (the worker's client errors, the master's parked connections): the same
 * shape as workers/responses.ts writes, `Connection: close` included.
 */
export function rawAnswer(status: 400 | 408 | 431): string {
  const body = `${http.STATUS_CODES[status]}\n`;
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
}
