/**
 * The pieces of the HTTP corpus test that are not assertions: loading the corpus, a raw TCP client
 * that sends a case whole or in small pieces and reads every response until the server closes, a
 * small HTTP/1.1 response parser (pipelined responses included), the record file the fixture app
 * writes, and the comparison of what reached the app with what the corpus expects.
 */
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

export const CORPUS_DIR = fileURLToPath(new URL('../http-corpus/', import.meta.url));
export const RECORD_APP = fileURLToPath(new URL('./record-app.mjs', import.meta.url));

export type Pair = [name: string, value: string];

export interface ExpectedRequest {
  method: string;
  uri: {
    raw: string;
    scheme: string;
    host: string | null;
    port: number;
    path: string;
    query: string;
    fragment: string;
  };
  version: [number, number];
  headers: Pair[];
  body_base64: string;
  trailers?: Pair[];
}

interface CaseCommon {
  name: string;
  source: string;
  raw_base64: string;
  raw_preview: string;
  config: Record<string, string | number | boolean>;
}
export interface ValidCase extends CaseCommon {
  kind: 'valid';
  id: string;
  raw: Buffer;
  expect: ExpectedRequest[];
}
export interface InvalidCase extends CaseCommon {
  kind: 'invalid';
  id: string;
  raw: Buffer;
  error: string;
  description: string;
}
export type CorpusCase = ValidCase | InvalidCase;

export function loadCorpus(): CorpusCase[] {
  const cases: CorpusCase[] = [];
  for (const kind of ['valid', 'invalid'] as const) {
    const dir = `${CORPUS_DIR}${kind}/`;
    for (const file of readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()) {
      const data = JSON.parse(readFileSync(dir + file, 'utf8')) as CaseCommon;
      const raw = Buffer.from(data.raw_base64, 'base64');
      cases.push({ ...data, kind, id: `${kind}/${data.name}`, raw } as CorpusCase);
    }
  }
  return cases;
}

// ---- the client -------------------------------------------------------------------------------

/** How the bytes go out: in one write, one byte a write, or in pieces of 1 to 16 bytes. */
export type Delivery = 'whole' | 'bytewise' | 'chunks';

export interface Exchange {
  /** Everything the server wrote. */
  data: Buffer;
  /** The server closed (or reset) the connection. False: the deadline passed first. */
  closed: boolean;
  /** A write failed because the server had already closed. */
  writeFailed: boolean;
}

/** Pieces of 1 to 16 bytes from a fixed seed, so a failure can be replayed. */
function pieces(bytes: Buffer, delivery: Delivery): Buffer[] {
  if (delivery === 'whole') return [bytes];
  const out: Buffer[] = [];
  let seed = bytes.length * 7919 + 17;
  for (let i = 0; i < bytes.length; ) {
    let n = 1;
    if (delivery === 'chunks') {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      n = 1 + (seed % 16);
    }
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}

/**
 * Connects, sends the bytes, then half-closes (the corpus's "the input ends here"; `halfClose: false`
 * leaves that to the server), and collects what the server writes until it closes the connection or
 * the deadline passes.
 *
 * node:http aborts the requests still in flight on a connection when it sees the client's
 * end-of-input (its httpAllowHalfOpen is false), so the fixture answers as soon as a body has ended:
 * its response is written before node:http gets to the end-of-input, which it handles as a later
 * event.
 */
export function exchange(
  port: number,
  bytes: Buffer,
  delivery: Delivery,
  { timeoutMs = 20_000, halfClose = true }: { timeoutMs?: number; halfClose?: boolean } = {},
): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    const chunks: Buffer[] = [];
    let writeFailed = false;
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), closed, writeFailed });
    };
    const deadline = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => {
      // EPIPE / ECONNRESET: the server gave up on the request and closed; what it wrote is kept.
      writeFailed = true;
    });
    socket.on('connect', async () => {
      for (const piece of pieces(bytes, delivery)) {
        if (socket.destroyed || !socket.writable) {
          writeFailed = true;
          return;
        }
        const ok = await new Promise<boolean>((res) => socket.write(piece, (err) => res(!err)));
        if (!ok) {
          writeFailed = true;
          return;
        }
        // Give the server a turn to read, so pieces arrive as separate reads as far as possible.
        if (delivery !== 'whole') await new Promise((r) => setImmediate(r));
      }
      if (halfClose && !socket.destroyed) socket.end();
    });
  });
}

// ---- responses --------------------------------------------------------------------------------

export interface ParsedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Splits a byte stream into HTTP/1.1 responses (Content-Length, chunked, or read-to-close bodies). */
export function parseResponses(data: Buffer): { responses: ParsedResponse[]; rest: Buffer } {
  const responses: ParsedResponse[] = [];
  let at = 0;
  while (at < data.length) {
    const end = data.indexOf('\r\n\r\n', at, 'latin1');
    if (end < 0) break;
    const lines = data.subarray(at, end).toString('latin1').split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!status) break;
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    let next = end + 4;
    let body: Buffer;
    if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = data.indexOf('\r\n', next, 'latin1');
        if (lineEnd < 0) return { responses, rest: data.subarray(at) };
        const size = Number.parseInt(data.subarray(next, lineEnd).toString('latin1'), 16);
        next = lineEnd + 2;
        if (size === 0) {
          const trailerEnd = data.indexOf('\r\n', next, 'latin1');
          next = trailerEnd < 0 ? data.length : trailerEnd + 2;
          break;
        }
        parts.push(data.subarray(next, next + size));
        next += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (next + length > data.length) return { responses, rest: data.subarray(at) };
      body = data.subarray(next, next + length);
      next += length;
    } else {
      body = data.subarray(next);
      next = data.length;
    }
    responses.push({ status: Number(status[1]), headers, body });
    at = next;
  }
  return { responses, rest: data.subarray(at) };
}

// ---- what reached the app ---------------------------------------------------------------------

export interface SeenRequest {
  seq: string;
  method: string;
  url: string;
  httpVersion: string;
  rawHeaders: string[];
  /** Set once the body was read to its end. */
  complete: boolean;
  /** Why the body never ended, when it did not. */
  abortedBecause?: string;
  bodyBase64: string;
  rawTrailers: string[];
}

interface RecordLine {
  phase: 'head' | 'end' | 'aborted';
  seq: string;
  method?: string;
  url?: string;
  httpVersion?: string;
  rawHeaders?: string[];
  bodyBase64?: string;
  rawTrailers?: string[];
  why?: string;
}

/** Reads the fixture's record file from a byte offset: the requests the app saw, in arrival order. */
export function readRecords(
  file: string,
  from: number,
): { seen: SeenRequest[]; settled: boolean; size: number } {
  const buf = readFileSync(file);
  const text = buf.subarray(from).toString('utf8');
  const seen = new Map<string, SeenRequest>();
  let settled = true;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const rec = JSON.parse(line) as RecordLine;
    if (rec.phase === 'head') {
      seen.set(rec.seq, {
        seq: rec.seq,
        method: rec.method!,
        url: rec.url!,
        httpVersion: rec.httpVersion!,
        rawHeaders: rec.rawHeaders!,
        complete: false,
        bodyBase64: '',
        rawTrailers: [],
      });
    } else {
      const req = seen.get(rec.seq);
      if (!req) continue;
      req.bodyBase64 = rec.bodyBase64 ?? '';
      if (rec.phase === 'end') {
        req.complete = true;
        req.rawTrailers = rec.rawTrailers ?? [];
      } else {
        req.abortedBecause = rec.why ?? 'aborted';
      }
    }
  }
  for (const req of seen.values()) if (!req.complete && req.abortedBecause === undefined) settled = false;
  return { seen: [...seen.values()], settled, size: buf.length };
}

// ---- comparing --------------------------------------------------------------------------------

/** Names upper-cased, values without leading/trailing SP and HTAB, as the corpus writes them. */
export function normalisePairs(flat: string[]): Pair[] {
  const pairs: Pair[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    pairs.push([flat[i]!.toUpperCase(), flat[i + 1]!.replace(/^[ \t]+|[ \t]+$/g, '')]);
  }
  return pairs;
}

/** The differences between one expected request and what the app saw; empty when they agree. */
export function compareRequest(expected: ExpectedRequest, seen: SeenRequest): string[] {
  const problems: string[] = [];
  const show = (v: unknown) => JSON.stringify(v);
  if (!seen.complete) problems.push(`body never completed (${seen.abortedBecause ?? 'still open'})`);
  if (seen.method !== expected.method)
    problems.push(`method ${show(seen.method)}, expected ${show(expected.method)}`);
  if (seen.url !== expected.uri.raw)
    problems.push(`target ${show(seen.url)}, expected ${show(expected.uri.raw)}`);
  const version = `${expected.version[0]}.${expected.version[1]}`;
  if (seen.httpVersion !== version)
    problems.push(`version ${show(seen.httpVersion)}, expected ${show(version)}`);
  const headers = normalisePairs(seen.rawHeaders);
  if (show(headers) !== show(expected.headers)) {
    problems.push(`headers ${show(headers)}, expected ${show(expected.headers)}`);
  }
  if (seen.bodyBase64 !== expected.body_base64) {
    const got = Buffer.from(seen.bodyBase64, 'base64');
    const want = Buffer.from(expected.body_base64, 'base64');
    problems.push(
      `body of ${got.length} bytes, expected ${want.length} bytes${got.equals(want) ? '' : ' (content differs)'}`,
    );
  }
  const trailers = normalisePairs(seen.rawTrailers);
  if (show(trailers) !== show(expected.trailers ?? [])) {
    problems.push(`trailers ${show(trailers)}, expected ${show(expected.trailers ?? [])}`);
  }
  return problems;
}

// ---- the Host-added form ------------------------------------------------------------------------

export const ADDED_HOST = 'corpus.test';
const HOST_LINE = Buffer.from(`Host: ${ADDED_HOST}\r\n`, 'latin1');

const hasHost = (headers: Pair[]) => headers.some(([name]) => name === 'HOST');

/** The head of the first request on the wire (everything before the first empty line). */
function firstHead(raw: Buffer): string {
  const end = raw.indexOf('\r\n\r\n', 0, 'latin1');
  return raw.subarray(0, end < 0 ? raw.length : end).toString('latin1');
}

/**
 * Whether node:http's Host rule (an HTTP/1.1 request without Host is answered 400) stands in front of
 * this case: a valid case with an HTTP/1.1 request that has no Host field, or an invalid case whose
 * first line ends in HTTP/1.1 and whose first head has no Host field.
 */
export function lacksHost(c: CorpusCase): boolean {
  if (c.kind === 'valid') return c.expect.some((e) => e.version.join('.') === '1.1' && !hasHost(e.headers));
  const head = firstHead(c.raw);
  const firstLine = head.split('\r\n')[0] ?? '';
  return firstLine.endsWith(' HTTP/1.1') && !/\nhost[ \t]*:/i.test(head);
}

/**
 * The same case with a `Host` field line added, so that the Host rule does not hide what the parser
 * does with the rest: for a valid case after the request line of every expected request without one
 * (and the expectation gains that field), for an invalid case after the first line.
 */
export function withHostAdded(c: CorpusCase): { raw: Buffer; expect: ExpectedRequest[] } {
  if (c.kind === 'invalid') {
    const eol = c.raw.indexOf('\r\n', 0, 'latin1');
    const at = eol < 0 ? c.raw.length : eol + 2;
    return { raw: Buffer.concat([c.raw.subarray(0, at), HOST_LINE, c.raw.subarray(at)]), expect: [] };
  }
  const parts: Buffer[] = [];
  let cursor = 0;
  for (const e of c.expect) {
    // The end of the request line (the method may be written in another case: valid/031compat).
    const lineEnd = Buffer.from(` ${e.uri.raw} HTTP/${e.version[0]}.${e.version[1]}\r\n`, 'latin1');
    const at = c.raw.indexOf(lineEnd, cursor);
    if (at < 0)
      throw new Error(`${c.id}: request line ending ${JSON.stringify(lineEnd.toString('latin1'))} not found`);
    const after = at + lineEnd.length;
    parts.push(c.raw.subarray(cursor, after));
    if (!hasHost(e.headers)) parts.push(HOST_LINE);
    cursor = after;
  }
  parts.push(c.raw.subarray(cursor));
  const expect = c.expect.map((e) =>
    hasHost(e.headers) ? e : { ...e, headers: [['HOST', ADDED_HOST] as Pair, ...e.headers] },
  );
  return { raw: Buffer.concat(parts), expect };
}
