/**
 * The pieces of the mutation fuzzer (test/integration/fuzz.test.ts) that are not assertions: a seeded
 * PRNG, the seed inputs (the HTTP corpus and a few plain requests), the mutation operators, the case
 * generator, a raw TCP client that sends a case whole or split at chosen offsets, and an HTTP/1.1
 * response-stream parser (pipelined responses, 1xx, HEAD, chunked and close-delimited bodies).
 *
 * Every case is a pure function of (seed, index): the same index gives the same bytes, the same
 * split offsets and the same way of ending, whatever ran before it, so one case can be replayed on
 * its own from the numbers a failure prints.
 */
import net from 'node:net';
import { loadCorpus, withHostAdded } from '../corpus/harness.js';

/**
 * Bytes as a JSON string literal of their latin1 text with every byte outside printable ASCII
 * escaped (JSON.stringify leaves DEL and 0x80-0xff raw, which a terminal hides): paste it into
 * `Buffer.from(JSON.parse(...), 'latin1')` to get the bytes back.
 */
export function escapeBytes(bytes: Buffer | string): string {
  const text = typeof bytes === 'string' ? bytes : bytes.toString('latin1');
  return JSON.stringify(text).replace(/[\x7f-\xff]/g, (ch) => `\\u00${ch.charCodeAt(0).toString(16)}`);
}

// ---- the PRNG -------------------------------------------------------------------------------------

/** mulberry32: a tiny 32-bit PRNG, good enough to pick mutations and small enough to read. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** The seed of case `index` under run seed `seed`: cases do not share a PRNG stream. */
export function caseSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

// ---- seed inputs ----------------------------------------------------------------------------------

const b = (s: string) => Buffer.from(s, 'latin1');

/** Plain, well-formed requests: every one is answered 200 by the fixture apps. */
export const PLAIN_REQUESTS: readonly Buffer[] = [
  b('GET / HTTP/1.1\r\nHost: a\r\n\r\n'),
  b('GET /second?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nX-Thing: y\r\n\r\n'),
  b('POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello'),
  b(
    'POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\n\r\n',
  ),
  b(
    'PUT /t HTTP/1.1\r\nHost: a:8080\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-Trailer: 1\r\n\r\n',
  ),
  b('DELETE /d HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n'),
  b('OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n'),
  b('GET /ten HTTP/1.0\r\nHost: a\r\n\r\n'),
  b('GET http://a/abs?q HTTP/1.1\r\nHost: a\r\n\r\n'),
];

export interface Inputs {
  /** Single well-formed requests: the corpus's valid cases of one request, and PLAIN_REQUESTS. */
  singles: Buffer[];
  /** Every corpus case (valid with Host added, invalid as is and with Host added) and PLAIN_REQUESTS. */
  all: Buffer[];
}

export function loadInputs(): Inputs {
  const singles: Buffer[] = [...PLAIN_REQUESTS];
  const all: Buffer[] = [...PLAIN_REQUESTS];
  for (const c of loadCorpus()) {
    // Cases that need a Gunicorn setting (limits, PROXY protocol) are still fine mutation material.
    if (c.kind === 'valid') {
      const { raw } = withHostAdded(c);
      all.push(raw);
      if (c.expect.length === 1 && Object.keys(c.config).length === 0) singles.push(raw);
    } else {
      all.push(c.raw, withHostAdded(c).raw);
    }
  }
  return { singles, all };
}

// ---- mutation operators ---------------------------------------------------------------------------

const INTERESTING_BYTES = [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x22, 0x2c, 0x3a, 0x3b, 0x7f, 0x80, 0xff, 0x2f];

const INTERESTING_LINES = [
  'Host: b',
  'Host:',
  'Host: a b',
  'Content-Length: 5',
  'Content-Length: 0',
  'Content-Length: -1',
  'Content-Length: 99999999999999999999',
  'Content-Length: 1, 1',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: chunked, identity',
  'Transfer-Encoding: identity',
  'Transfer-Encoding: xchunked',
  'Transfer-Encoding:\tchunked',
  'Transfer-Encoding: gzip',
  ' folded continuation',
  '\tfolded',
  'Expect: 100-continue',
  'Expect: 999-nonsense',
  'Connection: close',
  'Connection: keep-alive',
  'Connection: upgrade\r\nUpgrade: websocket',
  'Upgrade: h2c',
  'X-Null: a\x00b',
  'X_Under_Score: 1',
  'Forwarded: for=1.2.3.4;proto=https',
  'X-Forwarded-For: 1.2.3.4, ::1',
  'X-Forwarded-Proto: https',
  'Trailer: Content-Length',
  ': empty name',
  'No-Colon-Here',
  `X-Long: ${'v'.repeat(9000)}`,
];

/** Host values that are hard to turn into a URL. */
export const TRICKY_HOSTS = [
  '',
  ' ',
  'x/hello/Mallory?',
  'a b',
  '[::1',
  '[::1]',
  '[::1]:8080',
  'x:99999',
  'x:-1',
  'x:',
  ':80',
  'evil@good',
  'user:pass@good',
  'a#b',
  'a?b',
  'a\\b',
  '%41',
  'a..b',
  'xn--',
  'é',
  `${'h'.repeat(300)}.test`,
  'a,b',
];

export const TRICKY_TARGETS = [
  '*',
  'a:80',
  '//double',
  '/%',
  '/%zz',
  '/a/../../b',
  '/?',
  '/#frag',
  'http://user:pass@good/x',
  'http://evil@good/',
  'http://[::1/',
  'http://[::1]:8080/v6',
  'http://a:99999/',
  'http://',
  'https://a/x?y#z',
  'ftp://a/',
  'http:/a',
  'http://a b/',
  'x/relative',
  `/${'a'.repeat(5000)}`,
];

const METHODS = ['get', 'CONNECT', 'OPTIONS', 'HEAD', 'PRI', 'M-SEARCH', 'XXX', 'G\tET', 'POST', 'TRACE'];
const VERSIONS = ['HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.10', 'HTTP/1', 'http/1.1', 'HTTP/1.1 ', ''];
const NUMBERS = [
  '99999999999999999999',
  '18446744073709551616',
  '9007199254740993',
  '-1',
  '-0',
  '+5',
  '0x10',
  '1e3',
  ' 5',
  '5 5',
  '00000000000000000000005',
  'ffffffffffffffffff',
  '',
];

/** Bytes no request can start with: the parser refuses them at once, without waiting for more. */
export const GARBAGE = [
  '\x00\x01\x02\r\n\r\n',
  '(garbage) HTTP/1.1\r\n\r\n',
  '{"json": true}\r\n\r\n',
  '@@@@\r\n\r\n',
  '\x7f\x7f\r\n\r\n',
  '\xff\xfe\r\n\r\n',
  ' GET / HTTP/1.1\r\nHost: a\r\n\r\n',
];

type Op = (rng: Rng, buf: Buffer) => { buf: Buffer; what: string };

interface Lines {
  lines: string[];
  /** Index of the first line after the head (the empty line ends the head). */
  headEnd: number;
}

/** Lines with their terminators, in latin1 so every byte survives. */
function splitLines(buf: Buffer): Lines {
  const text = buf.toString('latin1');
  const lines = text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  let headEnd = lines.findIndex((l) => l === '\r\n' || l === '\n');
  if (headEnd < 0) headEnd = lines.length;
  return { lines, headEnd };
}

const join = (lines: string[]) => b(lines.join(''));

/** The request line's parts, when it has the usual three. */
function requestLine(line: string): { method: string; target: string; version: string; eol: string } | null {
  const m = /^(\S+) (\S+) (\S*)(\r?\n)?$/.exec(line);
  if (!m) return null;
  return { method: m[1]!, target: m[2]!, version: m[3]!, eol: m[4] ?? '\r\n' };
}

const OPS: Record<string, Op> = {
  flipBit(rng, buf) {
    if (buf.length === 0) return { buf, what: 'flipBit(empty)' };
    const at = rng.int(buf.length);
    const bit = rng.int(8);
    const out = Buffer.from(buf);
    out[at] = out[at]! ^ (1 << bit);
    return { buf: out, what: `flipBit@${at}.${bit}` };
  },
  setByte(rng, buf) {
    if (buf.length === 0) return { buf, what: 'setByte(empty)' };
    const at = rng.int(buf.length);
    const v = rng.chance(0.7) ? rng.pick(INTERESTING_BYTES) : rng.int(256);
    const out = Buffer.from(buf);
    out[at] = v;
    return { buf: out, what: `setByte@${at}=${v}` };
  },
  insertByte(rng, buf) {
    const at = rng.int(buf.length + 1);
    const v = rng.chance(0.7) ? rng.pick(INTERESTING_BYTES) : rng.int(256);
    return {
      buf: Buffer.concat([buf.subarray(0, at), Buffer.from([v]), buf.subarray(at)]),
      what: `insertByte@${at}=${v}`,
    };
  },
  deleteByte(rng, buf) {
    if (buf.length === 0) return { buf, what: 'deleteByte(empty)' };
    const at = rng.int(buf.length);
    return { buf: Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1)]), what: `deleteByte@${at}` };
  },
  duplicateByte(rng, buf) {
    if (buf.length === 0) return { buf, what: 'duplicateByte(empty)' };
    const at = rng.int(buf.length);
    return {
      buf: Buffer.concat([buf.subarray(0, at + 1), buf.subarray(at)]),
      what: `duplicateByte@${at}`,
    };
  },
  deleteLine(rng, buf) {
    const { lines } = splitLines(buf);
    if (lines.length === 0) return { buf, what: 'deleteLine(none)' };
    const at = rng.int(lines.length);
    lines.splice(at, 1);
    return { buf: join(lines), what: `deleteLine#${at}` };
  },
  duplicateLine(rng, buf) {
    const { lines } = splitLines(buf);
    if (lines.length === 0) return { buf, what: 'duplicateLine(none)' };
    const at = rng.int(lines.length);
    lines.splice(at, 0, lines[at]!);
    return { buf: join(lines), what: `duplicateLine#${at}` };
  },
  insertHeaderLine(rng, buf) {
    const { lines, headEnd } = splitLines(buf);
    const at = rng.between(Math.min(1, lines.length), Math.max(1, headEnd));
    const line = rng.pick(INTERESTING_LINES);
    lines.splice(at, 0, `${line}\r\n`);
    return { buf: join(lines), what: `insertHeaderLine#${at}=${escapeBytes(line.slice(0, 40))}` };
  },
  swapHeaderLines(rng, buf) {
    const { lines, headEnd } = splitLines(buf);
    if (headEnd < 3) return { buf, what: 'swapHeaderLines(few)' };
    const i = rng.between(1, headEnd - 1);
    const j = rng.between(1, headEnd - 1);
    [lines[i], lines[j]] = [lines[j]!, lines[i]!];
    return { buf: join(lines), what: `swapHeaderLines#${i}<->${j}` };
  },
  duplicateHeader(rng, buf) {
    const { lines, headEnd } = splitLines(buf);
    const framing = lines
      .slice(1, headEnd)
      .map((l, i) => ({ l, i: i + 1 }))
      .filter(({ l }) => /^(host|content-length|transfer-encoding)\s*:/i.test(l));
    const pool = framing.length > 0 ? framing : lines.slice(1, headEnd).map((l, i) => ({ l, i: i + 1 }));
    if (pool.length === 0) return { buf, what: 'duplicateHeader(none)' };
    const { l, i } = rng.pick(pool);
    const name = l.slice(0, Math.max(0, l.indexOf(':')));
    const variants = [l, `${name}: other\r\n`, `${name.toUpperCase()}:${l.slice(l.indexOf(':') + 1)}`];
    if (/^transfer-encoding/i.test(name)) variants.push(`${name}: chunked\r\n`, `${name}: identity\r\n`);
    if (/^content-length/i.test(name)) variants.push(`${name}: 0\r\n`, `${name}: 7\r\n`);
    if (/^host/i.test(name)) variants.push(`${name}: b\r\n`, `${name}:\r\n`);
    const copy = rng.pick(variants);
    lines.splice(rng.between(i, headEnd), 0, copy);
    return { buf: join(lines), what: `duplicateHeader#${i}=${escapeBytes(copy)}` };
  },
  lineEnds(rng, buf) {
    const text = buf.toString('latin1');
    switch (rng.int(4)) {
      case 0:
        return { buf: b(text.replaceAll('\r\n', '\n')), what: 'lineEnds(all CRLF->LF)' };
      case 1: {
        const spots = [...text.matchAll(/\r\n/g)].map((m) => m.index);
        if (spots.length === 0) return { buf, what: 'lineEnds(no CRLF)' };
        const at = rng.pick(spots);
        return { buf: b(text.slice(0, at) + text.slice(at + 1)), what: `lineEnds(CRLF->LF@${at})` };
      }
      case 2: {
        const spots = [...text.matchAll(/\r\n/g)].map((m) => m.index);
        if (spots.length === 0) return { buf, what: 'lineEnds(no CRLF)' };
        const at = rng.pick(spots);
        return { buf: b(text.slice(0, at + 1) + text.slice(at + 2)), what: `lineEnds(CRLF->CR@${at})` };
      }
      default:
        return { buf: b(text.replace(/(?<!\r)\n/g, '\r\n')), what: 'lineEnds(LF->CRLF)' };
    }
  },
  numbers(rng, buf) {
    const text = buf.toString('latin1');
    const n = rng.pick(NUMBERS);
    const spots = [
      ...[...text.matchAll(/(content-length\s*:\s*)([^\r\n]*)/gi)].map((m) => ({
        at: m.index + m[1]!.length,
        len: m[2]!.length,
      })),
      // Chunk-size lines: hex digits alone on a line after the head.
      ...[...text.matchAll(/\n([0-9a-fA-F]+)(?=[;\r\n])/g)].map((m) => ({
        at: m.index + 1,
        len: m[1]!.length,
      })),
    ];
    if (spots.length === 0) return { buf, what: 'numbers(none)' };
    const { at, len } = rng.pick(spots);
    return { buf: b(text.slice(0, at) + n + text.slice(at + len)), what: `numbers@${at}=${escapeBytes(n)}` };
  },
  truncate(rng, buf) {
    const at = rng.int(buf.length + 1);
    return { buf: buf.subarray(0, at), what: `truncate@${at}` };
  },
  setHost(rng, buf) {
    const { lines, headEnd } = splitLines(buf);
    const host = rng.pick(TRICKY_HOSTS);
    const at = lines.slice(0, headEnd).findIndex((l) => /^host\s*:/i.test(l));
    if (at >= 0) lines[at] = `Host: ${host}\r\n`;
    else lines.splice(Math.min(1, lines.length), 0, `Host: ${host}\r\n`);
    return { buf: join(lines), what: `setHost=${escapeBytes(host.slice(0, 40))}` };
  },
  setTarget(rng, buf) {
    const { lines } = splitLines(buf);
    const rl = requestLine(lines[0] ?? '');
    if (!rl) return { buf, what: 'setTarget(no request line)' };
    const target = rng.pick(TRICKY_TARGETS);
    lines[0] = `${rl.method} ${target} ${rl.version}${rl.eol}`;
    return { buf: join(lines), what: `setTarget=${escapeBytes(target.slice(0, 40))}` };
  },
  setMethod(rng, buf) {
    const { lines } = splitLines(buf);
    const rl = requestLine(lines[0] ?? '');
    if (!rl) return { buf, what: 'setMethod(no request line)' };
    const method = rng.pick(METHODS);
    lines[0] = `${method} ${rl.target} ${rl.version}${rl.eol}`;
    return { buf: join(lines), what: `setMethod=${escapeBytes(method)}` };
  },
  setVersion(rng, buf) {
    const { lines } = splitLines(buf);
    const rl = requestLine(lines[0] ?? '');
    if (!rl) return { buf, what: 'setVersion(no request line)' };
    const version = rng.pick(VERSIONS);
    lines[0] = `${rl.method} ${rl.target} ${version}${rl.eol}`;
    return { buf: join(lines), what: `setVersion=${escapeBytes(version)}` };
  },
  appendGarbage(rng, buf) {
    const g = rng.pick(GARBAGE);
    return { buf: Buffer.concat([buf, b(g)]), what: `appendGarbage=${escapeBytes(g)}` };
  },
};

const OP_NAMES = Object.keys(OPS);

/** Mutations that keep a request's framing (its end is where it was): safe to pipeline behind. */
const FRAMING_SAFE = ['setHost', 'setTarget', 'swapHeaderLines'] as const;

// ---- cases --------------------------------------------------------------------------------------

/**
 * - `mutant`: 1 to 3 mutations of a seed input or of a pipelined pair; the client half-closes after
 *   sending, and the server must answer or close.
 * - `pipeline`: well-formed requests, the first with its Host, target or header order changed (or a
 *   second Host); the connection stays open until every request is answered or the server closes.
 * - `garbage`: a request that alone is answered 2xx, then bytes no request starts with: it must still
 *   be answered 2xx, then the connection closed.
 * - `body`: a well-formed chunked or Content-Length upload around --limit-request-body: answered 2xx
 *   with the whole body delivered when it fits, refused (413 or closed) when it does not.
 */
export type CaseKind = 'mutant' | 'pipeline' | 'garbage' | 'body';

export interface FuzzCase {
  seed: number;
  index: number;
  kind: CaseKind;
  bytes: Buffer;
  /** Offsets where the bytes are cut into separate writes (empty: one write). */
  splits: number[];
  /** End the client's side after the last write (`mutant`), or keep it open. */
  halfClose: boolean;
  /** Final responses to wait for on an open connection. */
  expectResponses: number;
  /** What was done to the input, for the failure message. */
  what: string;
  /** `garbage`: index into Inputs.singles of the prefix that must still be answered. */
  prefix?: number;
  /** `body`: the body's size. */
  bodySize?: number;
  /** `pipeline`: the path of the first request's target, which its response must report. */
  firstPath?: string;
}

export interface GenerateOptions {
  /** --limit-request-body of the server under test, for `body` cases. */
  bodyLimit: number;
}

function chooseSplits(rng: Rng, length: number): number[] {
  if (length < 2 || rng.chance(0.5)) return [];
  const n = rng.between(1, Math.min(4, length - 1));
  const set = new Set<number>();
  for (let i = 0; i < n; i++) set.add(rng.between(1, length - 1));
  return [...set].sort((x, y) => x - y);
}

export function generateCase(seed: number, index: number, inputs: Inputs, opts: GenerateOptions): FuzzCase {
  const rng = new Rng(caseSeed(seed, index));
  const roll = rng.next();
  let kind: CaseKind;
  let bytes: Buffer;
  let what: string;
  let halfClose = false;
  let expectResponses = 1;
  let prefix: number | undefined;
  let bodySize: number | undefined;
  let firstPath: string | undefined;
  if (roll < 0.62) {
    kind = 'mutant';
    halfClose = true;
    const first = rng.pick(inputs.all);
    let base = first;
    what = 'input';
    if (rng.chance(0.25)) {
      base = Buffer.concat([first, rng.pick(inputs.all)]);
      what = 'pair';
    }
    const steps = rng.between(1, 3);
    for (let i = 0; i < steps; i++) {
      const r = OPS[rng.pick(OP_NAMES)]!(rng, base);
      base = r.buf;
      what += ` ${r.what}`;
    }
    bytes = base;
    expectResponses = 0;
  } else if (roll < 0.8) {
    kind = 'pipeline';
    const n = rng.between(2, 3);
    let first = rng.pick(PLAIN_REQUESTS.slice(0, 6));
    const op = rng.pick(FRAMING_SAFE);
    const r = rng.chance(0.3) ? OPS.duplicateHeader!(rng, first) : OPS[op]!(rng, first);
    // A duplicated Content-Length or Transfer-Encoding changes the framing; only a second Host is kept.
    if (!r.what.startsWith('duplicateHeader') || /Host/i.test(r.what)) {
      first = r.buf;
      what = `pipeline of ${n}: first ${r.what}`;
    } else {
      what = `pipeline of ${n}`;
    }
    if (!r.what.startsWith('setTarget'))
      firstPath = requestLine(splitLines(first).lines[0]!)!.target.split('?')[0];
    const rest = Array.from({ length: n - 1 }, () => rng.pick(PLAIN_REQUESTS.slice(0, 6)));
    bytes = Buffer.concat([first, ...rest]);
    expectResponses = n;
  } else if (roll < 0.9) {
    kind = 'garbage';
    prefix = rng.int(inputs.singles.length);
    const g = rng.pick(GARBAGE);
    bytes = Buffer.concat([inputs.singles[prefix]!, b(g)]);
    what = `single #${prefix} then garbage ${escapeBytes(g)}`;
  } else {
    kind = 'body';
    bodySize = rng.between(Math.max(0, opts.bodyLimit - 48), opts.bodyLimit + 48);
    const body = Buffer.alloc(bodySize, 0x62);
    if (rng.chance(0.7)) {
      const parts: Buffer[] = [];
      for (let at = 0; at < bodySize; ) {
        const n = Math.min(bodySize - at, rng.between(1, 100));
        parts.push(b(`${n.toString(16)}\r\n`), body.subarray(at, at + n), b('\r\n'));
        at += n;
      }
      bytes = Buffer.concat([
        b('POST /limit HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'),
        ...parts,
        b('0\r\n\r\n'),
      ]);
      what = `chunked body of ${bodySize} bytes`;
    } else {
      bytes = Buffer.concat([
        b(`POST /limit HTTP/1.1\r\nHost: a\r\nContent-Length: ${bodySize}\r\n\r\n`),
        body,
      ]);
      what = `Content-Length body of ${bodySize} bytes`;
    }
  }
  const splits = chooseSplits(rng, bytes.length);
  return {
    seed,
    index,
    kind,
    bytes,
    splits,
    halfClose,
    expectResponses,
    what,
    ...(prefix === undefined ? {} : { prefix }),
    ...(bodySize === undefined ? {} : { bodySize }),
    ...(firstPath === undefined ? {} : { firstPath }),
  };
}

/** The case as a failure message shows it: enough to rebuild it without the generator. */
export function describeCase(c: FuzzCase): string {
  return [
    `seed ${c.seed} case ${c.index} (${c.kind}: ${c.what})`,
    `  bytes (${c.bytes.length}, latin1, JSON): ${escapeBytes(c.bytes.toString('latin1'))}`,
    `  sent ${c.splits.length === 0 ? 'whole' : `split at ${c.splits.join(', ')}`}, ${c.halfClose ? 'then half-closed' : 'connection kept open'}`,
  ].join('\n');
}

// ---- responses ------------------------------------------------------------------------------------

export interface ParsedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface ResponseStream {
  /** Final responses (1xx are skipped), complete ones only. */
  responses: ParsedResponse[];
  /** Bytes that are not (the start of) a response: the server wrote something that is not HTTP. */
  garbage: Buffer | null;
}

const isResponseStart = (data: Buffer, at: number) =>
  data.subarray(at, at + 7).toString('latin1') === 'HTTP/1.';

/**
 * Splits what a server wrote into HTTP/1.1 responses. Bodies are framed by chunked encoding,
 * Content-Length or the close; 1xx, 204 and 304 have none, and neither has a response to HEAD,
 * recognised by a response starting right after its head (the fixtures' bodies never start so).
 */
export function parseResponseStream(data: Buffer, closed: boolean): ResponseStream {
  const responses: ParsedResponse[] = [];
  let at = 0;
  while (at < data.length) {
    if (!isResponseStart(data, at)) {
      // An incomplete status line at the end is just not here yet.
      if (
        data.length - at < 7 &&
        b('HTTP/1.')
          .subarray(0, data.length - at)
          .equals(data.subarray(at))
      )
        break;
      return { responses, garbage: data.subarray(at) };
    }
    const end = data.indexOf('\r\n\r\n', at, 'latin1');
    if (end < 0) break;
    const lines = data.subarray(at, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? '');
    if (!m) return { responses, garbage: data.subarray(at) };
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    let next = end + 4;
    let body: Buffer = Buffer.alloc(0);
    const bodiless = status < 200 || status === 204 || status === 304 || isResponseStart(data, next);
    if (bodiless) {
      // Nothing to read.
    } else if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      let done = false;
      while (!done) {
        const lineEnd = data.indexOf('\r\n', next, 'latin1');
        if (lineEnd < 0) return { responses, garbage: null };
        const size = Number.parseInt(data.subarray(next, lineEnd).toString('latin1'), 16);
        if (Number.isNaN(size)) return { responses, garbage: data.subarray(at) };
        next = lineEnd + 2;
        if (size === 0) {
          // Trailers, then the empty line.
          for (;;) {
            const e = data.indexOf('\r\n', next, 'latin1');
            if (e < 0) return { responses, garbage: null };
            const empty = e === next;
            next = e + 2;
            if (empty) break;
          }
          done = true;
        } else {
          if (next + size + 2 > data.length) return { responses, garbage: null };
          parts.push(data.subarray(next, next + size));
          next += size + 2;
        }
      }
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (next + length > data.length) {
        // A HEAD response that is the last one: nothing more will come.
        if (closed && next === data.length) {
          if (status >= 200) responses.push({ status, headers, body });
        }
        break;
      }
      body = data.subarray(next, next + length);
      next += length;
    } else {
      if (!closed) break;
      body = data.subarray(next);
      next = data.length;
    }
    if (status >= 200) responses.push({ status, headers, body });
    at = next;
  }
  return { responses, garbage: null };
}

// ---- the client -----------------------------------------------------------------------------------

export interface Outcome {
  data: Buffer;
  responses: ParsedResponse[];
  /** Non-HTTP bytes in what the server wrote. */
  garbage: Buffer | null;
  /** The server closed (FIN or reset). */
  closed: boolean;
  /** Neither answered (as many responses as expected, on an open connection) nor closed in time. */
  hung: boolean;
  /** How long it took, in ms. */
  ms: number;
}

/**
 * Sends one case: each piece is written once the previous one is flushed and the loop has turned
 * (the write callback, then setImmediate), so pieces tend to reach the server as separate reads;
 * no timer decides anything but the hang deadline. Resolves when the server closed, when an open
 * connection has its expected responses, or at the deadline.
 */
export function sendCase(port: number, c: FuzzCase, deadlineMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean, hung: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const data = Buffer.concat(chunks);
      const { responses, garbage } = parseResponseStream(data, closed);
      resolve({ data, responses, garbage, closed, hung, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false, true), deadlineMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (!c.halfClose && c.expectResponses > 0) {
        const { responses } = parseResponseStream(Buffer.concat(chunks), false);
        if (responses.length >= c.expectResponses) finish(false, false);
      }
    });
    socket.on('end', () => finish(true, false));
    socket.on('close', () => finish(true, false));
    // EPIPE / ECONNRESET: the server closed while we wrote; 'close' follows.
    socket.on('error', () => {});
    socket.on('connect', async () => {
      const cuts = [0, ...c.splits, c.bytes.length];
      for (let i = 0; i + 1 < cuts.length; i++) {
        if (socket.destroyed || !socket.writable) return;
        const piece = c.bytes.subarray(cuts[i], cuts[i + 1]);
        const ok = await new Promise<boolean>((res) => socket.write(piece, (err) => res(!err)));
        if (!ok) return;
        if (i + 2 < cuts.length) await new Promise((r) => setImmediate(r));
      }
      if (c.halfClose && !socket.destroyed) socket.end();
    });
  });
}

/** Opens a connection that sends `bytes` (maybe nothing) and then waits: resolves when the server closes it. */
export function idleConnection(
  port: number,
  bytes: Buffer,
  deadlineMs: number,
): Promise<{ closed: boolean; data: Buffer; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ closed, data: Buffer.concat(chunks), ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), deadlineMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => {});
    socket.on('connect', () => {
      if (bytes.length > 0) socket.write(bytes);
    });
  });
}

/** Runs `task` over `items` with at most `limit` at once, in order of index; stops starting new ones once `stop()` says so. */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
  stop: () => boolean = () => false,
): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  const lane = async () => {
    while (next < items.length && !stop()) {
      const i = next++;
      results[i] = await task(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
