// Runs wrk pinned to the client CPU(s) and turns its output into numbers. The primary source is the JSON
// line printed by wrk-json.lua; wrk's own text ("Requests/sec:", the --latency table) is parsed as a
// fallback and as a cross-check, so a wrk without Lua support still yields results.

import { fileURLToPath } from 'node:url';
import { runBounded } from './proc.mjs';

const LUA = fileURLToPath(new URL('./wrk-json.lua', import.meta.url));

const UNIT_TO_MS = { us: 1e-3, ms: 1, s: 1000, m: 60_000 };

/** "1.23ms" -> 1.23 ; "850.00us" -> 0.85 */
export function parseDuration(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  return m ? Number(m[1]) * UNIT_TO_MS[m[2]] : null;
}

/** Parse wrk's stdout. Returns { rps, p50, p99, requests, errors, ... } with latencies in milliseconds. */
export function parseWrkOutput(stdout) {
  const json = /^WRK_JSON (.*)$/m.exec(stdout);
  if (json) {
    const r = JSON.parse(json[1]);
    const seconds = r.duration_us / 1e6;
    const e = r.errors;
    return {
      requests: r.requests,
      seconds,
      rps: r.requests / seconds,
      p50: r.latency_us.p50 / 1000,
      p90: r.latency_us.p90 / 1000,
      p99: r.latency_us.p99 / 1000,
      mean: r.latency_us.mean / 1000,
      max: r.latency_us.max / 1000,
      errors: e.connect + e.read + e.write + e.status + e.timeout,
      errorDetail: e,
      source: 'lua',
    };
  }
  // Fallback: the text report (needs --latency for the percentile table).
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  if (!rps) return null;
  const pct = (p) => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(stdout);
    return m ? parseDuration(m[1]) : null;
  };
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(stdout);
  const total = /(\d+) requests in/.exec(stdout);
  return {
    requests: total ? Number(total[1]) : null,
    rps: Number(rps[1]),
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    errors: (errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0),
    source: 'text',
  };
}

/**
 * One bounded wrk run. `headers` are extra request headers (e.g. Connection: close for a connection per
 * request). wrk is killed if it overruns its own duration by 20 s (a stuck server must not hang the run).
 */
export async function runWrk({ url, seconds, connections, threads = 1, headers = [], cpus }) {
  const args = [
    '-t',
    String(threads),
    '-c',
    String(connections),
    '-d',
    `${seconds}s`,
    '--latency',
    '-s',
    LUA,
  ];
  for (const h of headers) args.push('-H', h);
  args.push(url);
  const r = await runBounded('wrk', args, { cpus, timeoutMs: (seconds + 20) * 1000, label: 'wrk' });
  const parsed = parseWrkOutput(r.stdout);
  if (!parsed) {
    const why = r.timedOut ? 'timed out' : `exit ${r.code}`;
    return { ok: false, reason: `wrk ${why}: ${(r.stderr || r.stdout).trim().slice(0, 300)}` };
  }
  // wrk counts a request as done even when the server answered 5xx; those are errors for us.
  return { ok: true, ...parsed };
}
