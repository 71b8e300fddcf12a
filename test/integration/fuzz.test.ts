/**
 * A bounded, deterministic mutation fuzzer against the real server. Each configuration (fetch and
 * node fixture apps, the async and sync worker classes, --dispatch request) gets the same few hundred
 * cases from one fixed seed (see test/helpers/fuzz.ts): mutated corpus requests and pipelined pairs
 * sent whole or in pieces and half-closed, pipelines of well-formed requests on open connections, a
 * valid request followed by garbage, and uploads around --limit-request-body.
 *
 * For every case: no 5xx (505, the deliberate answer to HTTP/2.0 and the like, aside), nothing but
 * HTTP from the server, and the connection answered or closed within a deadline; a valid request
 * followed by garbage still gets its 2xx; the app sees the path the request-target names, whatever
 * the Host; an upload over the limit is refused and one within it reaches the app whole. After every batch: the worker pids are
 * unchanged and no `worker.exited` was logged, no error-level log line appeared, and a burst of
 * health requests (as many as --worker-connections) is answered 200 at once. A batch that breaks one
 * of these is replayed case by case on a fresh server to name the case. At the end, a connection
 * that sends nothing, or half a head, must be closed by the server within IDLE_DEADLINE_MS (servers
 * run with --keep-alive 2 and --header-timeout 2).
 *
 * Each configuration runs its cases at most CASE_DEADLINE_MS apart from a hang, so on a sound server
 * the whole file takes about a minute; a broken one costs replays, bounded by MAX_RESTARTS and
 * REPLAY_BUDGET_MS per configuration.
 *
 * A failure prints the seed, the case index and the exact bytes (JSON-escaped latin1), how they were
 * split, and what happened. FUZZ_SEED and FUZZ_CASES (cases per configuration) change the run;
 * FUZZ_ONLY=i,j runs just those cases, FUZZ_REPORT=file writes every failure as JSON, FUZZ_DEBUG=file
 * logs the progress.
 */
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import {
  describeCase,
  escapeBytes,
  type FuzzCase,
  generateCase,
  idleConnection,
  loadInputs,
  type Outcome,
  pool,
  sendCase,
} from '../helpers/fuzz.js';
import { fixture, type LogLine, type Server, startServer } from '../helpers/server.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed2026);
const CASES = Number(process.env.FUZZ_CASES ?? 500);
/** FUZZ_ONLY=3,17: run just these cases (to replay a failure). */
const ONLY = process.env.FUZZ_ONLY ? new Set(process.env.FUZZ_ONLY.split(',').map(Number)) : null;
const BATCH = 100;
/** Per connection: answered or closed by then, or it is a hang. */
const CASE_DEADLINE_MS = 8_000;
/** Longer than the fixture's barrier timeout (3 s), so a burst cut short by a shed request still ends. */
const HEALTH_DEADLINE_MS = 8_000;
/** --keep-alive of the servers under test, in seconds. */
const KEEP_ALIVE_S = 2;
/** A connection that sends nothing (or half a head) must be closed by then. */
const IDLE_DEADLINE_MS = 12_000;
const BODY_LIMIT = 256;
/** --worker-connections for async workers; also the size of the health burst, so a leaked slot shows. */
const WORKER_CONNECTIONS = 32;
/** Fresh servers a configuration may use to replay broken batches before it gives up. */
const MAX_RESTARTS = 8;
/** Time a configuration may spend replaying batches case by case; later batches are not replayed. */
const REPLAY_BUDGET_MS = Number(process.env.FUZZ_REPLAY_BUDGET_S ?? 60) * 1000;
const STOP_GRACE_MS = 2_000;

interface Config {
  name: string;
  args: string[];
  sync: boolean;
  /** Cases in flight at once. */
  concurrency: number;
}

const APP = { fetch: `${fixture('fuzz.mjs')}:fetchApp`, node: `${fixture('fuzz.mjs')}:nodeApp` };

const CONFIGS: Config[] = (['fetch', 'node'] as const).flatMap((iface) => [
  { name: `${iface}, -k async`, args: [APP[iface], '--interface', iface], sync: false, concurrency: 4 },
  {
    name: `${iface}, -k sync`,
    args: [APP[iface], '--interface', iface, '-k', 'sync'],
    sync: true,
    concurrency: 1,
  },
  {
    name: `${iface}, --dispatch request`,
    args: [APP[iface], '--interface', iface, '--dispatch', 'request'],
    sync: false,
    concurrency: 4,
  },
]);

const INPUTS = loadInputs();

interface Failure {
  config: string;
  /** What went wrong, without the case's particulars: failures with the same one are one defect. */
  signature: string;
  detail: string;
  case?: FuzzCase;
}

const allFailures: Failure[] = [];

after(() => {
  if (process.env.FUZZ_REPORT) {
    writeFileSync(
      process.env.FUZZ_REPORT,
      JSON.stringify(
        allFailures.map((f) => ({
          ...f,
          case: f.case && {
            index: f.case.index,
            kind: f.case.kind,
            what: f.case.what,
            bytes: f.case.bytes.toString('latin1'),
            splits: f.case.splits,
            halfClose: f.case.halfClose,
          },
        })),
        null,
        1,
      ),
    );
  }
});

/** One server under test, replaced when a case kills or wedges it. */
class Target {
  server!: Server;
  pids: number[] = [];
  /** Log lines before this index have been checked. */
  mark = 0;
  restarts = 0;
  markers = 0;

  constructor(readonly cfg: Config) {}

  async start(): Promise<void> {
    this.server = await startServer([
      ...this.cfg.args,
      '-w',
      '1',
      '--keep-alive',
      String(KEEP_ALIVE_S),
      // A connection that never completes a head is closed after this (the default is 30 s).
      '--header-timeout',
      String(KEEP_ALIVE_S),
      '--limit-request-body',
      String(BODY_LIMIT),
      '--worker-connections',
      String(WORKER_CONNECTIONS),
    ]);
    this.pids = this.server.liveWorkerPids();
    this.mark = this.server.logs.length;
  }

  async restart(): Promise<void> {
    this.restarts++;
    await this.stop();
    await this.start();
  }

  /** A wedged or leaking worker would hold a graceful stop for --graceful-timeout: not worth waiting. */
  async stop(): Promise<void> {
    await this.server.stop(STOP_GRACE_MS);
  }

  get port(): number {
    return this.server.port;
  }

  /**
   * The batch checks: `healthy` false when the server needs replacing (a worker died or stopped
   * answering). Log lines are checked from the mark on, and the mark moves past them.
   */
  async check(): Promise<{ problems: Array<{ signature: string; detail: string }>; healthy: boolean }> {
    const problems: Array<{ signature: string; detail: string }> = [];
    let healthy = true;
    // The whole burst is in flight at once (the app holds each until all have arrived), so one
    // leaked in-flight slot turns one of them into a 503.
    const size = this.cfg.sync ? 1 : WORKER_CONNECTIONS;
    const burst = {
      ...HEALTH,
      bytes: Buffer.from(`GET /__fuzz_barrier/${size} HTTP/1.1\r\nHost: localhost\r\n\r\n`),
    };
    const health = await Promise.all(
      Array.from({ length: size }, () => sendCase(this.port, burst, HEALTH_DEADLINE_MS)),
    );
    const bad = health.filter((o) => o.responses[0]?.status !== 200);
    if (bad.length > 0) {
      healthy = false;
      const what = bad.map((o) => (o.hung ? 'no answer' : `${o.responses[0]?.status ?? 'closed'}`));
      problems.push({
        signature: 'health request not served',
        detail: `${bad.length} of ${health.length} health requests failed: ${[...new Set(what)].join(', ')}`,
      });
    }
    // Every line the worker logged so far precedes its marker line (one logger, one stream).
    if (healthy) {
      const n = ++this.markers;
      const o = await sendCase(
        this.port,
        { ...HEALTH, bytes: Buffer.from(`GET /__fuzz_marker/${n} HTTP/1.1\r\nHost: localhost\r\n\r\n`) },
        HEALTH_DEADLINE_MS,
      );
      const logged =
        o.responses[0]?.status === 200 &&
        (await this.server
          .waitForEvent('fuzz.marker', (l) => l.marker === n, {
            timeoutMs: HEALTH_DEADLINE_MS,
            after: this.mark,
          })
          .then(
            () => true,
            () => false,
          ));
      if (!logged) {
        healthy = false;
        problems.push({ signature: 'health request not served', detail: `marker request: ${observed(o)}` });
      }
    }
    const lines = this.server.logs.slice(this.mark);
    this.mark = this.server.logs.length;
    const exited = lines.filter((l) => l.event === 'worker.exited');
    const live = this.server.liveWorkerPids();
    if (exited.length > 0 || live.join() !== this.pids.join() || this.server.exited) {
      healthy = false;
      problems.push({
        signature: 'worker died',
        detail: `worker pids ${this.pids.join()} -> ${live.join()}; ${exited.map(show).join('; ')}`,
      });
    }
    for (const line of lines.filter((l) => l.level === 'error' || l.level === 'fatal')) {
      const err = line.err as { type?: string; code?: string } | undefined;
      const cause = err ? ` (${[err.type, err.code].filter(Boolean).join(' ')})` : '';
      problems.push({ signature: `error log: ${line.event ?? line.msg}${cause}`, detail: show(line) });
    }
    return { problems, healthy };
  }
}

const HEALTH: FuzzCase = {
  seed: 0,
  index: -1,
  kind: 'pipeline',
  bytes: Buffer.from('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n'),
  splits: [],
  halfClose: false,
  expectResponses: 1,
  what: 'health',
};

function show(line: LogLine): string {
  const { event, level, msg, code, status, url, method, err } = line;
  const e = err as { message?: string; type?: string; code?: string } | undefined;
  return JSON.stringify({
    event,
    level,
    msg,
    ...(code === undefined ? {} : { code }),
    ...(status === undefined ? {} : { status }),
    ...(method === undefined ? {} : { method }),
    ...(url === undefined ? {} : { url }),
    ...(e ? { err: `${e.type ?? ''} ${e.code ?? ''} ${e.message ?? ''}`.trim() } : {}),
  });
}

function observed(o: Outcome): string {
  const statuses = o.responses.map((r) => r.status).join(', ') || 'none';
  const head = o.data.subarray(0, 300).toString('latin1');
  return `responses [${statuses}], ${o.hung ? `no answer and still open after ${o.ms} ms` : o.closed ? `closed after ${o.ms} ms` : `answered in ${o.ms} ms`}; server wrote ${o.data.length} bytes: ${escapeBytes(head)}`;
}

/** The per-connection oracles. */
function evaluate(
  c: FuzzCase,
  o: Outcome,
  goodPrefixes: Set<number>,
): Array<{ signature: string; detail: string }> {
  const problems: Array<{ signature: string; detail: string }> = [];
  const detail = observed(o);
  if (o.hung)
    problems.push({ signature: `hang (${c.kind}, ${c.halfClose ? 'half-closed' : 'kept open'})`, detail });
  if (o.garbage) problems.push({ signature: 'the server wrote something that is not HTTP', detail });
  // 505 is the server's deliberate answer to a major version other than 1 (src/http/limits.ts).
  for (const r of o.responses)
    if (r.status >= 500 && r.status !== 505)
      problems.push({ signature: `${r.status} response (${c.kind})`, detail });
  if (c.kind === 'garbage' && c.prefix !== undefined && goodPrefixes.has(c.prefix)) {
    const first = o.responses[0]?.status;
    if (first === undefined || first < 200 || first > 299)
      problems.push({
        signature: `valid request followed by garbage answered ${first ?? 'with nothing'} instead of 2xx`,
        detail,
      });
  }
  const first = o.responses[0];
  const firstPath = first?.headers['x-path'];
  if (c.firstPath !== undefined && firstPath !== undefined && firstPath !== c.firstPath)
    problems.push({
      signature: 'the app saw another path than the request-target',
      detail: `target path ${escapeBytes(c.firstPath)}, the app saw ${escapeBytes(firstPath)}; ${detail}`,
    });
  if (c.kind === 'body' && c.bodySize !== undefined && !o.hung) {
    const r = o.responses[0];
    const ok = r !== undefined && r.status >= 200 && r.status < 300;
    if (c.bodySize <= BODY_LIMIT && (!ok || Number(r.headers['x-body-bytes']) !== c.bodySize))
      problems.push({ signature: 'upload within --limit-request-body not delivered whole', detail });
    if (c.bodySize > BODY_LIMIT && ok)
      problems.push({
        signature: `upload over --limit-request-body answered ${r.status} (app got ${r.headers['x-body-bytes']} bytes)`,
        detail,
      });
  }
  return problems;
}

const debug = (cfg: Config, what: string) => {
  // A file: the test runner keeps a test's stderr until the test ends.
  if (process.env.FUZZ_DEBUG)
    appendFileSync(process.env.FUZZ_DEBUG, `${new Date().toISOString()} ${cfg.name}: ${what}\n`);
};

async function runConfig(cfg: Config): Promise<Failure[]> {
  const failures: Failure[] = [];
  const seen = new Set<string>();
  const record = (signature: string, detail: string, c?: FuzzCase) => {
    const key = `${signature}|${c?.index ?? ''}`;
    if (seen.has(key)) return;
    seen.add(key);
    const f: Failure = { config: cfg.name, signature, detail, ...(c ? { case: c } : {}) };
    failures.push(f);
    allFailures.push(f);
  };
  /** Batch-level problems a replay has already pinned on a case. */
  const named = new Set<string>();
  let replayMs = 0;
  const target = new Target(cfg);
  await target.start();
  try {
    // Which single requests the server answers 2xx on their own: the `garbage` cases' prefixes.
    const singles: FuzzCase[] = INPUTS.singles.map((bytes, i) => ({
      ...HEALTH,
      index: -(i + 2),
      bytes,
      what: `single #${i}`,
    }));
    const goodPrefixes = new Set<number>();
    const calibration = await pool(singles, cfg.concurrency, (c) =>
      sendCase(target.port, c, CASE_DEADLINE_MS),
    );
    calibration.forEach((o, i) => {
      const s = o.responses[0]?.status;
      if (s !== undefined && s >= 200 && s < 300) goodPrefixes.add(i);
      for (const p of evaluate(singles[i]!, o, goodPrefixes)) record(p.signature, p.detail, singles[i]);
    });
    debug(cfg, `calibrated: ${goodPrefixes.size} of ${singles.length} singles answered 2xx`);
    {
      const { problems, healthy } = await target.check();
      for (const p of problems) record(p.signature, `${p.detail} (after the single requests)`);
      if (!healthy) await target.restart();
    }

    /**
     * A hang in a batch may be an earlier case's doing (a wedged worker stops answering everyone):
     * it is recorded only when the case runs alone, after a check found the server sound.
     */
    const runOne = async (c: FuzzCase, alone: boolean) => {
      const o = await sendCase(target.port, c, CASE_DEADLINE_MS);
      const problems = evaluate(c, o, goodPrefixes);
      for (const p of problems) if (alone || !o.hung) record(p.signature, p.detail, c);
      return { o, hung: o.hung };
    };

    for (let start = 0; start < CASES && target.restarts <= MAX_RESTARTS; start += BATCH) {
      const cases = Array.from({ length: Math.min(BATCH, CASES - start) }, (_, k) =>
        generateCase(SEED, start + k, INPUTS, { bodyLimit: BODY_LIMIT }),
      ).filter((c) => ONLY === null || ONLY.has(c.index));
      if (cases.length === 0) continue;
      let hung = false;
      const results = await pool(
        cases,
        cfg.concurrency,
        async (c) => {
          const r = await runOne(c, false);
          // A hang usually means a wedged worker: every later case would wait out its deadline too.
          if (r.hung) hung = true;
          return r;
        },
        () => hung,
      );
      const sent = cases.slice(0, results.length);
      debug(cfg, `batch ${start}: sent ${sent.length}${hung ? ' (stopped at a hang)' : ''}`);
      const { problems, healthy } = await target.check();
      if (hung) problems.push({ signature: 'a case hung', detail: 'a case hung in the batch' });
      debug(cfg, `batch ${start}: ${problems.map((p) => p.signature).join('; ') || 'checks passed'}`);
      if (problems.length === 0 && healthy) continue;
      // Replaying costs a check per case: only for what no replay has named yet.
      if (problems.every((p) => named.has(p.signature)) || replayMs >= REPLAY_BUDGET_MS) {
        for (const p of problems)
          if (!named.has(p.signature))
            record(
              `${p.signature} (not replayed)`,
              `${p.detail}; after cases ${start}..${start + sent.length - 1}`,
            );
        if (!healthy) await target.restart();
        continue;
      }
      // Name the case: replay the batch one case at a time, each followed by the checks.
      const unnamed = problems.filter((p) => !named.has(p.signature)).map((p) => p.signature);
      debug(cfg, `batch ${start}: replaying for ${[...new Set(unnamed)].join('; ')}`);
      const replayStart = Date.now();
      await target.restart();
      let found = false;
      for (const c of sent) {
        if (target.restarts > MAX_RESTARTS) break;
        const t0 = Date.now();
        if ((await runOne(c, true)).hung) {
          named.add('a case hung');
          found = true;
        }
        const t1 = Date.now();
        const after = await target.check();
        debug(cfg, `replayed case ${c.index} in ${t1 - t0} ms, checked in ${Date.now() - t1} ms`);
        for (const p of after.problems) {
          record(p.signature, p.detail, c);
          named.add(p.signature);
          // A wedged worker explains the later cases of a batch that hung.
          if (!after.healthy) named.add('a case hung');
          found = true;
        }
        if (!after.healthy) await target.restart();
      }
      replayMs += Date.now() - replayStart;
      debug(cfg, `batch ${start}: replayed, ${target.restarts} restarts so far`);
      if (!found)
        for (const p of problems)
          record(
            `${p.signature} (batch only)`,
            `${p.detail}; after cases ${start}..${start + sent.length - 1} sent ${cfg.concurrency} at a time, and not after any one of them alone`,
          );
    }
    if (target.restarts > MAX_RESTARTS)
      record('gave up', `stopped after ${MAX_RESTARTS} fresh servers; later cases were not run`);

    // Connections that never finish a request: the server must close them.
    const probes = [Buffer.alloc(0), Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n', 'latin1')];
    const probe = async (bytes: Buffer) => {
      const r = await idleConnection(target.port, bytes, IDLE_DEADLINE_MS);
      if (!r.closed)
        record(
          `idle connection (${bytes.length === 0 ? 'sends nothing' : 'half a head'}) not closed`,
          `bytes ${escapeBytes(bytes)}: still open after ${r.ms} ms (--keep-alive ${KEEP_ALIVE_S})`,
        );
    };
    if (cfg.sync) {
      for (const bytes of probes) await probe(bytes);
    } else {
      const open = Promise.all(probes.map(probe));
      // Meanwhile an async worker serves others.
      const { problems } = await target.check();
      for (const p of problems) record(p.signature, `${p.detail} (while idle connections were open)`);
      await open;
    }
  } finally {
    await target.stop();
  }
  return failures;
}

function report(cfg: Config, failures: Failure[]): string {
  const groups = new Map<string, Failure[]>();
  for (const f of failures) groups.set(f.signature, [...(groups.get(f.signature) ?? []), f]);
  const parts = [`${cfg.name}: ${groups.size} distinct failures (seed ${SEED}, ${CASES} cases)`];
  for (const [signature, list] of groups) {
    parts.push(`\n== ${signature} (${list.length} cases)`);
    const examples = list
      .slice()
      .sort((x, y) => (x.case?.bytes.length ?? 0) - (y.case?.bytes.length ?? 0))
      .slice(0, 2);
    for (const f of examples)
      parts.push(`${f.case ? describeCase(f.case) : '(no single case)'}\n  -> ${f.detail}`);
  }
  return parts.join('\n');
}

describe('mutation fuzzer', { concurrency: 2 }, () => {
  for (const cfg of CONFIGS) {
    test(cfg.name, { timeout: 600_000 }, async () => {
      const failures = await runConfig(cfg);
      assert.equal(failures.length, 0, report(cfg, failures));
    });
  }
});
