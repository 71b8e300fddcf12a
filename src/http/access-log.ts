/**
 * Gunicorn's access-log format language: `%(h)s %(l)s ...`, compiled once per worker into a function,
 * so the per-request cost is string concatenation only.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';

export interface AccessLogEntry {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** What `%(s)s` logs: `loggedStatus(res)` when the response closed. */
  readonly status: number;
  readonly remoteAddress: string;
  readonly startedAt: bigint;
  readonly finishedAt: bigint;
  readonly bodyBytes: number;
  readonly date: Date;
}

type Atom = (e: AccessLogEntry) => string;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `[23/Nov/2026:18:30:00 +0000]`, in local time like Gunicorn. */
export function clfDate(d: Date): string {
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return `[${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}]`;
}

/** nginx's code for a request whose client closed the connection before any answer was sent. */
export const CLIENT_CLOSED_REQUEST = 499;
/** nginx's code for a connection closed by the server without an answer. */
export const CLOSED_WITHOUT_ANSWER = 444;

/**
 * The status an access log line gives a response that has closed: the one sent; for one never sent
 * (a 200 in `statusCode` would be a lie), the codes nginx logs, which log tools already know: 499
 * when the client closed its connection first (it ended or reset it), 444 when the server or the
 * app closed it without an answer. A WebSocket's 101 is written by ws, not through the response.
 */
export function loggedStatus(res: ServerResponse): number {
  if (res.headersSent || res.statusCode === 101) return res.statusCode;
  const socket = res.req.socket;
  return socket.readableEnded || socket.errored !== null ? CLIENT_CLOSED_REQUEST : CLOSED_WITHOUT_ANSWER;
}

const dash = (v: string | undefined | null) => (v === undefined || v === null || v === '' ? '-' : v);
const header = (v: string | string[] | number | undefined) =>
  dash(Array.isArray(v) ? v.join(', ') : v?.toString());
const micros = (e: AccessLogEntry) => Number((e.finishedAt - e.startedAt) / 1000n);

function path(e: AccessLogEntry): string {
  const url = e.req.url ?? '';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function user(e: AccessLogEntry): string {
  const auth = e.req.headers.authorization;
  if (auth?.toLowerCase().startsWith('basic ')) {
    const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return dash(colon === -1 ? decoded : decoded.slice(0, colon));
  }
  return '-';
}

const ATOMS: Record<string, Atom> = {
  h: (e) => e.remoteAddress,
  l: () => '-',
  u: user,
  t: (e) => clfDate(e.date),
  r: (e) => `${e.req.method} ${e.req.url} HTTP/${e.req.httpVersion}`,
  m: (e) => e.req.method ?? '-',
  U: path,
  q: (e) => {
    const url = e.req.url ?? '';
    const q = url.indexOf('?');
    return q === -1 ? '' : url.slice(q + 1);
  },
  H: (e) => `HTTP/${e.req.httpVersion}`,
  s: (e) => String(e.status),
  B: (e) => String(e.bodyBytes),
  b: (e) => (e.bodyBytes === 0 ? '-' : String(e.bodyBytes)),
  f: (e) => header(e.req.headers.referer),
  a: (e) => header(e.req.headers['user-agent']),
  T: (e) => String(Math.floor(micros(e) / 1e6)),
  M: (e) => String(Math.floor(micros(e) / 1e3)),
  D: (e) => String(micros(e)),
  L: (e) => (micros(e) / 1e6).toFixed(6),
  p: () => `<${process.pid}>`,
};

/**
 * A compiled format. `readsResponseHeaders`: it logs a response header (`%({name}o)s`), so the
 * response's headers must be kept on it once written (see PipelineOptions.responseHeadersRead).
 */
export type AccessLogFormatter = ((entry: AccessLogEntry) => string) & {
  readonly readsResponseHeaders: boolean;
};

/** `%({name}i)s`, `%({name}o)s`, `%({name}e)s`: a request header, a response header, a variable. */
const BRACED_ATOM = /^\{([^}]+)\}([ioe])$/;

/** Compiles a format; unknown atoms render as "-", as in Gunicorn. */
export function compileAccessLogFormat(format: string): AccessLogFormatter {
  const parts: Array<string | Atom> = [];
  const re = /%\(([^)]+)\)s/g;
  let last = 0;
  let readsResponseHeaders = false;
  for (let m = re.exec(format); m !== null; m = re.exec(format)) {
    if (m.index > last) parts.push(format.slice(last, m.index));
    const name = m[1]!;
    if (BRACED_ATOM.exec(name)?.[2] === 'o') readsResponseHeaders = true;
    parts.push(atomFor(name));
    last = m.index + m[0].length;
  }
  if (last < format.length) parts.push(format.slice(last));
  const formatLine = (entry: AccessLogEntry) => {
    let line = '';
    for (const part of parts) line += typeof part === 'string' ? part : part(entry);
    return line;
  };
  return Object.assign(formatLine, { readsResponseHeaders });
}

function atomFor(name: string): Atom {
  const braced = BRACED_ATOM.exec(name);
  if (braced) {
    const key = braced[1]!.toLowerCase();
    if (braced[2] === 'i') return (e) => header(e.req.headers[key]);
    if (braced[2] === 'o') return (e) => header(e.res.getHeader(key));
    const envName = braced[1]!;
    return () => dash(process.env[envName]);
  }
  return ATOMS[name] ?? (() => '-');
}
