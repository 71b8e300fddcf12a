/**
 * Gunicorn's HTTP request-parser corpus (test/http-corpus/, see its README.md) against the real
 * server: every case's bytes go over TCP to a unicorn-ts worker, and the fixture app
 * (record-app.mjs, node interface) records what reached it.
 *
 * - valid cases: each expected request reaches the app as the corpus describes it (method, target,
 *   version, headers, de-chunked body, trailers) and is answered 200;
 * - invalid cases: refused (4xx or a closed connection), and the app never gets a complete request;
 * - after every exchange the worker still answers a plain GET, with the same pid.
 *
 * node:http (llhttp) is not Gunicorn's parser. Every case where unicorn-ts behaves differently is
 * listed below with its reason, and the test fails both when a listed case stops differing and when
 * an unlisted case differs. docs/http.md carries the same lists (checked at the end).
 *
 * The Host rule. node:http answers 400 to an HTTP/1.1 request without Host (RFC 9112 section 3.2
 * makes that a MUST), before the app is called. Many corpus cases have no Host, so that rule would
 * hide everything else. Each such case therefore runs twice: as it is (the valid ones must be refused
 * by the Host rule, see HOST_REQUIRED; the invalid ones must be refused), and with a `Host` line added
 * after the request line, which is the form the rest of the tables describe.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Server, startServer, stopAll } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import {
  type CorpusCase,
  compareRequest,
  type Delivery,
  type ExpectedRequest,
  exchange,
  lacksHost,
  loadCorpus,
  parseResponses,
  RECORD_APP,
  readRecords,
  type SeenRequest,
  withHostAdded,
} from './harness.js';

const DOCS = fileURLToPath(new URL('../../docs/http.md', import.meta.url));
const CASES = loadCorpus();

// ---- Gunicorn settings used by the corpus -----------------------------------------------------

/**
 * How each Gunicorn setting in a case's `config` maps to unicorn-ts flags. `null`: unicorn-ts has no
 * such setting (see src/settings.ts), so the case runs without it and, if that makes it behave
 * differently, it is listed below as 'setting'. When a setting is added, map it here: cases are
 * grouped by the flags they need and each group gets its own server.
 */
const SETTING_FLAGS: Record<string, ((value: unknown) => string[]) | null> = {
  // Gunicorn: 0 = no limit, and values of 8190 or more (or below 0) are capped at 8190.
  limit_request_line: (value) => ['--limit-request-line', String(gunicornRequestLine(Number(value)))],
  // Gunicorn: 0, below 0 or over 32768 all mean 32768; unicorn-ts's 0 would mean no limit.
  limit_request_fields: (value) => ['--limit-request-fields', String(gunicornRequestFields(Number(value)))],
  // Gunicorn: 0 (or below) means the default 8190; unicorn-ts's 0 would mean no limit.
  limit_request_field_size: (value) => [
    '--limit-request-field-size',
    String(gunicornRequestFieldSize(Number(value))),
  ],
  header_map: (value) => ['--header-map', String(value)],
  permit_obsolete_folding: null,
  strip_header_spaces: null,
  permit_unconventional_http_method: null,
  casefold_http_method: null,
  permit_unconventional_http_version: null,
  proxy_protocol: (value) => (value === true ? ['--proxy-protocol'] : []),
  forwarded_allow_ips: (value) => ['--forwarded-allow-ips', String(value)],
  secure_scheme_headers: null,
};

/** Gunicorn's limit_request_line as --limit-request-line (gunicorn/http/message.py, MAX_REQUEST_LINE). */
function gunicornRequestLine(value: number): number {
  return value < 0 || value >= 8190 ? 8190 : value;
}

/** Gunicorn's limit_request_fields as --limit-request-fields (MAX_HEADERS = 32768). */
function gunicornRequestFields(value: number): number {
  return value <= 0 || value > 32768 ? 32768 : value;
}

/** Gunicorn's limit_request_field_size as --limit-request-field-size (DEFAULT_MAX_HEADERFIELD_SIZE). */
function gunicornRequestFieldSize(value: number): number {
  return value <= 0 ? 8190 : value;
}

function flagsFor(c: CorpusCase): string[] {
  return Object.entries(c.config).flatMap(([name, value]) => {
    assert.ok(name in SETTING_FLAGS, `${c.id}: unknown Gunicorn setting ${name}; add it to SETTING_FLAGS`);
    return SETTING_FLAGS[name]?.(value) ?? [];
  });
}

// ---- the known differences --------------------------------------------------------------------

/**
 * What a case does on unicorn-ts, in the form the tables describe (with Host added when it has none):
 * 'match' (valid, as the corpus expects), 'refused' (4xx or closed, and the app got no complete
 * request), 'accepted' (an invalid request reached the app complete), 'differs' (anything else; the
 * entry's `symptom` must match the details), 'wedged' (the worker stops answering afterwards).
 */
type Outcome = 'match' | 'refused' | 'accepted' | 'differs' | 'wedged';

type Reason =
  /** node's llhttp parser refuses what Gunicorn accepts; unicorn-ts keeps llhttp's strict mode. */
  | 'llhttp'
  /** The case sets a Gunicorn setting unicorn-ts does not have (SETTING_FLAGS maps it to null). */
  | 'setting'
  /** The corpus checks something unicorn-ts does not do at all. */
  | 'not-applicable'
  /** A deliberate choice of unicorn-ts / node:http, explained in `why`. */
  | 'deliberate'
  /** The server should change; the change is described in docs/http.md and at the entry (none today). */
  | 'pending';

interface Known {
  reason: Reason;
  outcome: Exclude<Outcome, 'match'>;
  /** For 'differs': a pattern the observed details must match. */
  symptom?: RegExp;
  why: string;
}

/**
 * Valid cases with an HTTP/1.1 request that has no Host: as they are, node:http answers that request
 * 400 before the app is called (RFC 9112 section 3.2: "A server MUST respond with a 400 (Bad Request)
 * status code to any HTTP/1.1 request message that lacks a Host header field"). With a Host line
 * added they must behave as KNOWN says (or match). Deliberate: unicorn-ts keeps node's default.
 */
const HOST_REQUIRED = [
  'valid/004',
  'valid/005',
  'valid/006',
  'valid/007',
  'valid/009',
  'valid/010',
  'valid/011',
  'valid/012',
  'valid/013',
  'valid/014',
  'valid/018',
  'valid/021',
  'valid/022',
  'valid/023',
  'valid/025',
  'valid/025_line',
  'valid/028',
  'valid/029',
  'valid/030',
  'valid/031',
  'valid/031compat',
  'valid/031compat2',
  'valid/100',
  'valid/compat_obs_fold_huge',
  'valid/pp_02',
];

/**
 * Invalid cases refused only once the body is read: node:http hands the request head to the app as
 * soon as the head is complete (as Gunicorn hands the WSGI app its environ), and the body then fails
 * (the app's request stream errors, the client gets 400 and the connection closes). The app sees the
 * head but never a complete request. For every other invalid case the app must see nothing at all.
 */
const BODY_ERRORS = [
  'invalid/chunked_01',
  'invalid/chunked_09',
  'invalid/chunked_10',
  'invalid/chunked_11',
  'invalid/chunked_12',
  'invalid/chunked_13',
  'invalid/chunked_14',
  'invalid/rfc9110_trailer_forbidden_cl_01',
  'invalid/rfc9110_trailer_forbidden_te_01',
  'invalid/rfc9112_chunked_missing_final_crlf_01',
  'invalid/rfc9112_chunked_size_minus_sign_01',
  'invalid/rfc9112_chunked_size_plus_sign_01',
];

/** Every case, in either worker, that does not behave as the corpus says. */
const KNOWN: Record<string, Known> = {
  // -- valid cases node:http refuses or changes ------------------------------------------------
  'valid/009': {
    reason: 'llhttp',
    outcome: 'refused',
    why: 'Transfer-Encoding (identity) together with Content-Length: llhttp refuses any request carrying both, which RFC 9112 section 6.1 allows and which closes the CL/TE smuggling family.',
  },
  'valid/013': {
    reason: 'llhttp',
    outcome: 'differs',
    symptom: /body never completed/,
    why: 'Chunk extensions written with spaces ("5; some; parameters=stuff"): llhttp accepts no whitespace around ";" in a chunk-size line, so the body fails with 400 after the head reached the app.',
  },
  'valid/028': {
    reason: 'setting',
    outcome: 'refused',
    why: 'strip_header_spaces: "Content-Length : 3" (whitespace before the colon) is always refused, as RFC 9112 section 5.1 requires; unicorn-ts has no setting to strip it.',
  },
  'valid/027': {
    reason: 'llhttp',
    outcome: 'refused',
    why: 'Raw bytes above 0x7F in the request-target (UTF-8 "\u00e0" unencoded): llhttp accepts only the ASCII characters RFC 3986 allows in a target, so the request is refused with 400. Percent-encoded, it is accepted.',
  },
  'valid/031': {
    reason: 'llhttp',
    outcome: 'refused',
    why: 'llhttp only knows a fixed list of methods (GET, POST, ..., the WebDAV and RTSP ones); "-BLARGH" is refused with 400.',
  },
  'valid/031compat': {
    reason: 'setting',
    outcome: 'refused',
    why: 'permit_unconventional_http_method / casefold_http_method: no such settings, and llhttp refuses the unknown method "-blargh" anyway.',
  },
  'valid/031compat2': {
    reason: 'setting',
    outcome: 'refused',
    why: 'permit_unconventional_http_method: no such setting, and llhttp refuses the unknown method "-blargh" anyway.',
  },
  'valid/compat_obs_fold': {
    reason: 'setting',
    outcome: 'refused',
    why: 'permit_obsolete_folding: no such setting; llhttp always refuses obs-fold (RFC 9112 section 5.2 allows a server to reject it), a smuggling vector.',
  },
  'valid/compat_obs_fold_huge': {
    reason: 'setting',
    outcome: 'refused',
    why: 'permit_obsolete_folding: no such setting; llhttp always refuses obs-fold.',
  },
  'valid/pp_03': {
    reason: 'deliberate',
    outcome: 'refused',
    why: 'proxy_protocol on, and a request without a PROXY header: Gunicorn looks for the header and goes on without one; unicorn-ts requires it, as the PROXY protocol spec says a receiver must ("MUST not try to guess whether the protocol header is present"), and closes the connection without a response.',
  },
  'valid/099': {
    reason: 'deliberate',
    outcome: 'differs',
    symptom: /body never completed/,
    why: 'Content-Length 17914 but the input ends after 8599 bytes. Gunicorn hands over the short body; node:http treats the message as incomplete (RFC 9112 section 6.3): the app sees the head and 8599 bytes, then its request stream errors.',
  },
  'valid/rfc9112_target_authority_connect_01': {
    reason: 'deliberate',
    outcome: 'refused',
    why: 'CONNECT: node:http routes CONNECT to a separate "connect" event, never to the request handler; unicorn-ts serves no tunnels, so the connection is closed without a response.',
  },
  'valid/rfc9112_target_authority_ipv6_01': {
    reason: 'deliberate',
    outcome: 'refused',
    why: 'CONNECT is not served (see rfc9112_target_authority_connect_01).',
  },

  // -- invalid cases that reach the app ----------------------------------------------------------
  'invalid/019': {
    reason: 'not-applicable',
    outcome: 'accepted',
    why: 'Runs with --forwarded-allow-ips "*". unicorn-ts takes the scheme from X-Forwarded-Proto alone (it has no secure_scheme_headers), so X-Forwarded-Ssl: off contradicts nothing: the app sees info.scheme "https" and the other header as a plain header.',
  },
  'invalid/rfc9110_trailer_forbidden_host_01': {
    reason: 'deliberate',
    outcome: 'accepted',
    why: 'Host in the chunked trailer section: node:http keeps trailers apart (req.trailers / rawTrailers) and never merges them into the headers, and the fetch interface drops them, so a trailer cannot override a header. (llhttp itself refuses Content-Length and Transfer-Encoding trailers.)',
  },
};

/**
 * The sync worker only. It serves one request per connection, as Gunicorn's sync worker does: the
 * first request is answered and the connection closed; a request pipelined behind it is read and
 * discarded, never run (queued, it could never be answered and would hold the worker for good).
 */
const ONE_REQUEST_PER_CONNECTION = /the app saw 1 requests, expected 2; responses \[200\], expected 200 x2/;

const KNOWN_SYNC: Record<string, Known> = {
  'valid/018': {
    reason: 'deliberate',
    outcome: 'differs',
    symptom: ONE_REQUEST_PER_CONNECTION,
    why: "Two pipelined requests: the sync worker answers the first and closes the connection; the second is discarded without reaching the app (Gunicorn's sync worker, too, handles one request per connection).",
  },
  'valid/022': {
    reason: 'deliberate',
    outcome: 'differs',
    symptom: ONE_REQUEST_PER_CONNECTION,
    why: 'Pipelined (HTTP/1.0 keep-alive, then HTTP/1.1): only the first is served, as in valid/018.',
  },
  'valid/023': {
    reason: 'deliberate',
    outcome: 'differs',
    symptom: ONE_REQUEST_PER_CONNECTION,
    why: 'Pipelined (chunked POST, then GET): only the POST is served, as in valid/018.',
  },
  'valid/pp_02': {
    reason: 'deliberate',
    outcome: 'differs',
    symptom: ONE_REQUEST_PER_CONNECTION,
    why: 'A PROXY v1 line, then two pipelined requests: only the first is served, as in valid/018.',
  },
};

/** Request-smuggling and framing attacks: always refused, never in the tables. Shown in test names. */
const SMUGGLING: Record<string, string> = {
  'invalid/rfc9112_smuggle_cl_te_chunked_01': 'CL+TE: Content-Length with Transfer-Encoding: chunked',
  'invalid/chunked_02': 'CL+TE: Content-Length with Transfer-Encoding "\\tchunked"',
  'invalid/021': 'duplicate Content-Length (3 and 2)',
  'invalid/rfc9112_smuggle_cl_list_form_01': 'duplicate Content-Length in list form "5, 5"',
  'invalid/prefix_03': 'Content-Length "0 1"',
  'invalid/prefix_04': 'Content-Length "3 1"',
  'invalid/014': 'Content-Length -1',
  'invalid/015': 'Content-Length not a number',
  'invalid/022': 'Content-Length -0',
  'invalid/023': 'Content-Length 0_1',
  'invalid/024': 'Content-Length +1',
  'invalid/nonascii_03': 'look-alike Content-Length name next to the real one',
  'invalid/nonascii_04': 'look-alike Content-Length name next to the real one',
  'invalid/obs_fold_01': 'obs-fold continuation line',
  'invalid/013': 'obs-fold continuation line',
  'invalid/invalid_field_value_01': 'bare LF in a header value hiding a Content-Length and a request',
  'invalid/003': 'bare LF in the request line',
  'invalid/020': 'whitespace between field name and colon',
  'invalid/005': 'NUL in a field name',
  'invalid/chunked_03': 'chunked twice and not last',
  'invalid/chunked_04': 'chunked twice and not last, over four fields',
  'invalid/chunked_06': 'chunked not last (then gzip)',
  'invalid/chunked_08': 'chunked not last (then identity)',
  'invalid/chunked_01': 'chunk size "6_0" with a request hidden after it',
  'invalid/chunked_09': 'chunk-size line with trailing space',
  'invalid/chunked_10': 'chunk-size line with leading space',
  'invalid/chunked_11': 'bare LF in a chunk-size line',
  'invalid/chunked_12': 'chunk extension without a size',
  'invalid/chunked_13': 'empty chunk-size line',
  'invalid/chunked_14': 'bare CR in a chunk extension',
  'invalid/rfc9112_chunked_size_minus_sign_01': 'chunk size "-5"',
  'invalid/rfc9112_chunked_size_plus_sign_01': 'chunk size "+5"',
  'invalid/rfc9110_trailer_forbidden_cl_01': 'Content-Length in the trailer section',
  'invalid/rfc9110_trailer_forbidden_te_01': 'Transfer-Encoding in the trailer section',
};

// ---- running a case ---------------------------------------------------------------------------

interface Observation {
  outcome: Outcome;
  details: string;
}

const statusList = (statuses: number[]) => `[${statuses.join(',')}]`;

/** A refusal: any 4xx, or 505 (HTTP Version Not Supported) for a version the server does not speak. */
const isRefusal = (status: number) => (status >= 400 && status < 500) || status === 505;

function observeValid(
  expect: ExpectedRequest[],
  ex: Awaited<ReturnType<typeof exchange>>,
  seen: SeenRequest[],
): Observation {
  const { responses, rest } = parseResponses(ex.data);
  const statuses = responses.map((r) => r.status);
  const problems: string[] = [];
  if (!ex.closed) problems.push('the server did not close the connection');
  if (rest.length > 0) problems.push(`${rest.length} bytes after the last whole response`);
  if (seen.length === 0 && statuses.every(isRefusal) && ex.closed) {
    return { outcome: 'refused', details: `refused: responses ${statusList(statuses)}` };
  }
  if (seen.length !== expect.length)
    problems.push(`the app saw ${seen.length} requests, expected ${expect.length}`);
  expect.forEach((e, i) => {
    const s = seen[i];
    if (s) for (const p of compareRequest(e, s)) problems.push(`request ${i + 1}: ${p}`);
  });
  if (statuses.length !== expect.length || statuses.some((s) => s !== 200)) {
    problems.push(`responses ${statusList(statuses)}, expected 200 x${expect.length}`);
  } else {
    responses.forEach((r, i) => {
      const answered = JSON.parse(r.body.toString('utf8')) as { seq?: string };
      if (answered.seq !== seen[i]?.seq)
        problems.push(`response ${i + 1} answers ${answered.seq}, not request ${i + 1}`);
    });
  }
  return problems.length === 0
    ? { outcome: 'match', details: 'match' }
    : { outcome: 'differs', details: problems.join('; ') };
}

function observeInvalid(
  ex: Awaited<ReturnType<typeof exchange>>,
  seen: SeenRequest[],
  headMayReachApp: boolean,
): Observation {
  const { responses } = parseResponses(ex.data);
  const statuses = responses.map((r) => r.status);
  const complete = seen.filter((s) => s.complete);
  if (complete.length > 0) {
    return {
      outcome: 'accepted',
      details: `the app got ${complete.map((s) => `${s.method} ${JSON.stringify(s.url)}`).join(', ')} complete; responses ${statusList(statuses)}`,
    };
  }
  const problems: string[] = [];
  if (!ex.closed) problems.push('the server did not close the connection');
  if (!statuses.every(isRefusal))
    problems.push(`responses ${statusList(statuses)} include one that is no refusal`);
  if (seen.length > 0 && !headMayReachApp) {
    problems.push(`the app saw the head of ${seen.length} request(s) refused for its head`);
  }
  if (seen.length === 0 && headMayReachApp)
    problems.push('the head never reached the app (listed in BODY_ERRORS)');
  if (problems.length > 0) return { outcome: 'differs', details: problems.join('; ') };
  return { outcome: 'refused', details: `refused: responses ${statusList(statuses)}, closed` };
}

interface Target {
  server: Server;
  recordFile: string;
  workerPid: number;
  /** Started with --proxy-protocol: every connection must open with a PROXY header. */
  proxyProtocol: boolean;
}

/** Sends one form of a case and waits until every request the app saw has finished or failed. */
async function send(target: Target, raw: Buffer, delivery: Delivery) {
  const from = statSync(target.recordFile).size;
  const ex = await exchange(target.server.port, raw, delivery);
  const { seen } = await waitFor(
    'the app to finish every request it saw',
    () => {
      const records = readRecords(target.recordFile, from);
      return records.settled ? records : undefined;
    },
    { timeoutMs: 15_000, intervalMs: 20 },
  );
  return { ex, seen };
}

/**
 * A plain GET on a new connection; its pid, or null when nothing answered 200 in time. It is HTTP/1.0
 * without a single header field, so it passes whatever limits a case's server was started with.
 */
async function healthCheck(target: Target, timeoutMs: number): Promise<number | null> {
  const raw = target.proxyProtocol ? Buffer.concat([PROXY_UNKNOWN, HEALTH_REQUEST]) : HEALTH_REQUEST;
  const ex = await exchange(target.server.port, raw, 'whole', { timeoutMs, halfClose: false });
  const reply = parseResponses(ex.data).responses[0];
  if (reply?.status !== 200) return null;
  return (JSON.parse(reply.body.toString('utf8')) as { pid: number }).pid;
}

const HEALTH_REQUEST = Buffer.from('GET /__corpus_health HTTP/1.0\r\n\r\n', 'latin1');
/** The health check's PROXY header on a --proxy-protocol server: a v1 line that keeps the real peer. */
const PROXY_UNKNOWN = Buffer.from('PROXY UNKNOWN\r\n', 'latin1');

/** The worker is unharmed: a plain GET gets 200 from the same worker, and no worker was replaced. */
async function assertHealthy(target: Target, after: string): Promise<void> {
  const pid = await healthCheck(target, 30_000);
  assert.notEqual(pid, null, `after ${after}: the health check got no 200`);
  assert.equal(pid, target.workerPid, `after ${after}: a different worker answered`);
  assert.deepEqual(
    target.server.liveWorkerPids(),
    [target.workerPid],
    `after ${after}: the worker set changed`,
  );
  assert.equal(target.server.events('worker.exited').length, 0, `after ${after}: a worker exited`);
}

async function startTarget(extraArgs: string[], dir: string, label: string): Promise<Target> {
  const recordFile = join(dir, `${label}.jsonl`);
  writeFileSync(recordFile, '');
  const server = await startServer([RECORD_APP, '--interface', 'node', '-w', '1', ...extraArgs], {
    env: { CORPUS_RECORD_FILE: recordFile },
  });
  const ready = await server.waitForEvent('worker.ready');
  return {
    server,
    recordFile,
    workerPid: ready.pid as number,
    proxyProtocol: extraArgs.includes('--proxy-protocol'),
  };
}

const HEAD_MAY_REACH_APP = new Set(BODY_ERRORS);

/**
 * Valid cases whose connection ends before the input does (HTTP/1.0, `Connection: close`: the corpus
 * says the later bytes are never parsed). They are sent whole only: sent in pieces, bytes that arrive
 * after the server has closed make the kernel reset the connection, and a reset can discard the
 * response before the client has read it.
 */
const STOPS_EARLY = ['valid/019', 'valid/021'];

/**
 * The same on the sync worker for the pipelined cases (KNOWN_SYNC): it closes the connection after
 * the first response, while pieces of the second request may still be on their way. Sent in pieces,
 * the first response was lost to the reset in a few percent of the exchanges.
 */
const STOPS_EARLY_SYNC = ['valid/018', 'valid/022', 'valid/023', 'valid/pp_02'];

/**
 * Runs every form and delivery of one case and checks each against what the tables say. Returns the
 * outcome of the described form (with Host added when the case has none).
 */
async function runCase(
  target: Target,
  c: CorpusCase,
  deliveries: Delivery[],
  known: Known | undefined,
): Promise<void> {
  const needsHost = lacksHost(c);
  for (const delivery of deliveries) {
    const label = `${c.id} (${delivery})`;
    if (needsHost) {
      // As it is: node:http's Host rule answers 400 before the app.
      const { ex, seen } = await send(target, c.raw, delivery);
      if (c.kind === 'valid') {
        const firstWithout = c.expect.findIndex(
          (e) => e.version.join('.') === '1.1' && !e.headers.some(([n]) => n === 'HOST'),
        );
        // The 400 itself can be lost when the client is still writing as the server closes (the
        // kernel answers the late bytes with a reset): a closed connection is a refusal too.
        const statuses = parseResponses(ex.data).responses.map((r) => r.status);
        const refused = statuses.filter((s, i) => i >= seen.length && !isRefusal(s));
        assert.ok(ex.closed, `${label} as is: the connection was not closed`);
        assert.deepEqual(refused, [], `${label} as is: responses ${statusList(statuses)}`);
        assert.ok(seen.length <= firstWithout, `${label} as is: the app saw a request without Host`);
        seen.forEach((s, i) => {
          assert.deepEqual(compareRequest(c.expect[i]!, s), [], `${label} as is: request ${i + 1}`);
        });
      } else {
        const seenNothing = observeInvalid(ex, seen, false);
        assert.equal(seenNothing.outcome, 'refused', `${label} as is: ${seenNothing.details}`);
      }
      await assertHealthy(target, `${label} as is`);
    }
    const form = needsHost ? withHostAdded(c) : { raw: c.raw, expect: c.kind === 'valid' ? c.expect : [] };
    const { ex, seen } = await send(target, form.raw, delivery);
    const seenBy =
      c.kind === 'valid'
        ? observeValid(form.expect, ex, seen)
        : observeInvalid(ex, seen, HEAD_MAY_REACH_APP.has(c.id));
    const described = `${label}${needsHost ? ' with Host added' : ''}`;
    const wanted = known?.outcome ?? (c.kind === 'valid' ? 'match' : 'refused');
    assert.equal(
      seenBy.outcome,
      wanted,
      known
        ? `${described} is listed as '${known.outcome}' (${known.reason}) but was '${seenBy.outcome}': ${seenBy.details}`
        : `${described}: ${seenBy.details}`,
    );
    if (known?.symptom) assert.match(seenBy.details, known.symptom, `${described}: the difference changed`);
    await assertHealthy(target, described);
  }
}

/** A pipelined case that wedges the sync worker: run on its own server, then the worker must not answer. */
async function runWedge(dir: string, c: CorpusCase): Promise<void> {
  // A short grace: the stuck request would otherwise hold the graceful stop for its full 30 s.
  const target = await startTarget(['-k', 'sync', '--graceful-timeout', '1'], dir, `wedge-${c.name}`);
  try {
    const form = lacksHost(c) ? withHostAdded(c) : { raw: c.raw };
    await exchange(target.server.port, form.raw, 'whole');
    // A worker that still works answers in milliseconds; a wedged one never does.
    const answered = await healthCheck(target, 3_000);
    assert.equal(answered, null, `${c.id}: listed as wedging the sync worker, but it answered`);
  } finally {
    await target.server.stop();
  }
}

function caseTitle(c: CorpusCase, known: Known | undefined): string {
  const what = c.kind === 'valid' ? 'is parsed as the corpus expects' : `is refused (${c.error})`;
  const smuggling = SMUGGLING[c.id] ? ` [smuggling: ${SMUGGLING[c.id]}]` : '';
  const listed = known ? ` [known difference, ${known.reason}: ${known.outcome}]` : '';
  return `${c.id} ${known ? `differs from the corpus` : what}${smuggling}${listed}`;
}

// ---- the tests --------------------------------------------------------------------------------

const WORKERS = [
  // The default async worker: every case whole, one byte a write, and in pieces of 1 to 16 bytes.
  { name: 'async', args: [] as string[], deliveries: ['whole', 'bytewise', 'chunks'] as Delivery[] },
  // The sync worker parses with the same node:http; whole and in pieces.
  { name: 'sync', args: ['-k', 'sync'], deliveries: ['whole', 'chunks'] as Delivery[] },
];

const dir = mkdtempSync(join(tmpdir(), 'unicorn-corpus-'));
after(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

for (const worker of WORKERS) {
  describe(`HTTP corpus on the ${worker.name} worker`, { timeout: 600_000 }, () => {
    const targets = new Map<string, Target>();
    const groups = new Map<string, string[]>();
    for (const c of CASES) {
      const flags = flagsFor(c);
      groups.set(JSON.stringify(flags), flags);
    }

    before(async () => {
      // One server per distinct set of settings the cases need (the defaults, the limits, header_map,
      // proxy_protocol).
      for (const [key, flags] of groups) {
        targets.set(
          key,
          await startTarget([...worker.args, ...flags], dir, `${worker.name}-${targets.size}`),
        );
      }
    });

    const knownHere = (c: CorpusCase) =>
      (worker.name === 'sync' ? KNOWN_SYNC[c.id] : undefined) ?? KNOWN[c.id];
    for (const c of CASES.filter((c) => knownHere(c)?.outcome !== 'wedged')) {
      test(caseTitle(c, knownHere(c)), { timeout: 120_000 }, async () => {
        const target = targets.get(JSON.stringify(flagsFor(c)))!;
        const stopsEarly =
          STOPS_EARLY.includes(c.id) || (worker.name === 'sync' && STOPS_EARLY_SYNC.includes(c.id));
        await runCase(target, c, stopsEarly ? ['whole'] : worker.deliveries, knownHere(c));
      });
    }

    const wedging = CASES.filter((c) => knownHere(c)?.outcome === 'wedged');
    if (wedging.length > 0) {
      // Each on a server of its own, all at once: each waits out its health check's deadline.
      describe('cases that leave the worker unable to answer', { concurrency: true }, () => {
        for (const c of wedging)
          test(caseTitle(c, knownHere(c)), { timeout: 120_000 }, () => runWedge(dir, c));
      });
    }
  });
}

describe('the tables of differences', () => {
  test('HOST_REQUIRED lists exactly the valid cases with an HTTP/1.1 request without Host', () => {
    const computed = CASES.filter((c) => c.kind === 'valid' && lacksHost(c)).map((c) => c.id);
    assert.deepEqual([...HOST_REQUIRED].sort(), computed.sort());
  });

  test('every listed case exists, and no smuggling case is listed as a difference', () => {
    const ids = new Set(CASES.map((c) => c.id));
    for (const id of [
      ...Object.keys(KNOWN),
      ...Object.keys(KNOWN_SYNC),
      ...BODY_ERRORS,
      ...Object.keys(SMUGGLING),
      ...STOPS_EARLY,
      ...STOPS_EARLY_SYNC,
    ]) {
      assert.ok(ids.has(id), `${id} is not a corpus case`);
    }
    for (const id of Object.keys(SMUGGLING)) {
      assert.ok(!(id in KNOWN) && !(id in KNOWN_SYNC), `${id} is a smuggling case and must be refused`);
    }
    for (const [id, k] of [...Object.entries(KNOWN), ...Object.entries(KNOWN_SYNC)]) {
      assert.equal(
        k.outcome === 'differs',
        k.symptom !== undefined,
        `${id}: 'differs' entries (only) need a symptom`,
      );
    }
  });

  test('the corpus is complete: 63 valid and 74 invalid cases', () => {
    assert.equal(CASES.filter((c) => c.kind === 'valid').length, 63);
    assert.equal(CASES.filter((c) => c.kind === 'invalid').length, 74);
  });

  test('docs/http.md names exactly the cases in these tables', () => {
    const text = readFileSync(DOCS, 'utf8');
    const start = text.indexOf('<!-- corpus-differences:start -->');
    const end = text.indexOf('<!-- corpus-differences:end -->');
    assert.ok(start >= 0 && end > start, 'docs/http.md lacks the corpus-differences markers');
    const section = text.slice(start, end);
    const named = new Set(section.match(/\b(?:valid|invalid)\/[A-Za-z0-9_]+/g) ?? []);
    const listed = new Set([
      ...Object.keys(KNOWN),
      ...Object.keys(KNOWN_SYNC),
      ...HOST_REQUIRED,
      ...BODY_ERRORS,
    ]);
    assert.deepEqual(
      [...listed].filter((id) => !named.has(id)).sort(),
      [],
      'listed in the test, missing in docs/http.md',
    );
    assert.deepEqual(
      [...named].filter((id) => !listed.has(id)).sort(),
      [],
      'named in docs/http.md, not listed in the test',
    );
    for (const [id, k] of [...Object.entries(KNOWN), ...Object.entries(KNOWN_SYNC)]) {
      const row = section.split('\n').find((line) => line.includes(`\`${id}\``) && line.startsWith('|'));
      assert.ok(row, `docs/http.md has no table row for ${id}`);
      assert.ok(
        row.includes(k.reason),
        `docs/http.md's row for ${id} does not give the reason '${k.reason}'`,
      );
    }
  });
});
