// The load shapes. Throughput workloads are wrk runs; the mixed workload and the streaming tests use the
// small Node clients in bench/clients (see there for why). All load generators run on the client CPU(s).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deadline, rssBytes, spawnTracked, stopTracked } from './proc.mjs';
import { runWrk } from './wrk.mjs';

const CLIENTS = fileURLToPath(new URL('../clients/', import.meta.url));
const MIB = 2 ** 20;

/**
 * `via`: where wrk sends traffic - straight to the target, or to the front nginx on the port that uses
 * the default upstream settings or the one with upstream keep-alive. `except`: targets it does not apply
 * to (nginx cannot proxy to itself meaningfully, has no /heavy and cannot stream a generated body).
 */
export const WORKLOADS = {
  keepalive: { kind: 'wrk', via: 'direct', headers: [], label: 'keep-alive (wrk default)' },
  close: {
    kind: 'wrk',
    via: 'direct',
    headers: ['Connection: close'],
    label: 'connection per request (Connection: close)',
  },
  'nginx-default': {
    kind: 'wrk',
    via: 'default',
    headers: [],
    except: ['nginx'],
    label: 'behind nginx, default upstream (HTTP/1.0, connection per request)',
  },
  'nginx-keepalive': {
    kind: 'wrk',
    via: 'keepalive',
    headers: [],
    except: ['nginx'],
    label: 'behind nginx, upstream keep-alive (HTTP/1.1, keepalive 64)',
  },
  mixed: { kind: 'mixed', except: ['nginx'], label: 'mixed: 1 request in 20 burns 20 ms CPU (keep-alive)' },
  'ws-echo': {
    kind: 'ws',
    // The targets that serve a WebSocket: unicorn-ts's fetch and node interfaces and the hand-written
    // node:cluster + ws servers (the reference). The others have no WebSocket endpoint to measure.
    except: ['unicorn-sync', 'pm2', 'uvicorn', 'bare-http', 'gunicorn', 'nginx'],
    label: 'WebSocket echo, 1,000 open connections (messages/s)',
  },
  upload: { kind: 'stream', except: ['nginx'], label: 'streamed upload' },
  download: { kind: 'stream', except: ['nginx'], label: 'streamed download' },
};

/** Lifecycle measurements, selectable with --workload like the load shapes. */
export const LIFECYCLE = {
  launch: 'launch to first 200, -w 4',
  respawn: 'kill -9 of a worker to its replacement serving',
  reload: 'HUP rolling reload of 4 workers',
  'idle-rss': 'master and worker idle RSS',
};

export function appliesTo(workload, targetKey) {
  return !(WORKLOADS[workload].except ?? []).includes(targetKey);
}

/** One wrk run of a throughput workload; `port` is already the right one (direct or the nginx front). */
export async function throughputRun(opts, { port, workload }) {
  const w = WORKLOADS[workload];
  const r = await runWrk({
    url: `http://127.0.0.1:${port}/`,
    seconds: opts.duration,
    connections: opts.connections,
    headers: w.headers,
    cpus: opts.clientCpus,
  });
  if (!r.ok) return r;
  return { ok: true, rps: r.rps, p50: r.p50, p99: r.p99, p90: r.p90, errors: r.errors, requests: r.requests };
}

/** Spawn one of the JSON-printing clients, bounded by `timeoutMs`, and parse its last line. */
async function runClient(script, args, { cpus, timeoutMs, tmpDir }) {
  const out = `${tmpDir}/${script}-${Date.now()}.out`;
  const proc = spawnTracked(process.execPath, [`${CLIENTS}${script}`, ...args.map(String)], {
    label: script,
    cpus,
    logFile: out,
  });
  const done = await Promise.race([proc.exited.then(() => true), deadline(timeoutMs).then(() => false)]);
  await stopTracked(proc, { signal: 'SIGKILL', timeoutMs: 1000 });
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  try {
    return { done, result: JSON.parse(lines.at(-1)) };
  } catch {
    return { done, result: { ok: false, reason: lines.slice(-3).join(' ').slice(0, 300) || 'no output' } };
  }
}

/** Mixed workload: light p50/p99 are what the report compares; heavy latency is kept for context. */
export async function mixedRun(opts, { port }) {
  const { done, result } = await runClient('mixed.mjs', [port, opts.connections, opts.duration, 20], {
    cpus: opts.clientCpus,
    timeoutMs: (opts.duration + 30) * 1000,
    tmpDir: opts.tmpDir,
  });
  if (!done || !result.light) return { ok: false, reason: result.reason ?? 'mixed client did not finish' };
  return {
    ok: true,
    rps: result.rps,
    p50: result.light.p50,
    p99: result.light.p99,
    heavyP50: result.heavy.p50,
    heavyP99: result.heavy.p99,
    lightCount: result.light.count,
    heavyCount: result.heavy.count,
    errors: result.errors,
  };
}

/** WebSocket echo: WS_CONNECTIONS sockets held open, each a closed send/echo loop for the duration. */
export const WS_CONNECTIONS = 1000;

export async function wsRun(opts, { port }) {
  const { done, result } = await runClient('ws-echo.mjs', [port, WS_CONNECTIONS, opts.duration, '/'], {
    cpus: opts.clientCpus,
    timeoutMs: (opts.duration + 60) * 1000,
    tmpDir: opts.tmpDir,
  });
  if (!done || !result.ok) return { ok: false, reason: result.reason ?? 'ws-echo client did not finish' };
  return {
    ok: true,
    rps: result.mps,
    p50: result.p50,
    p99: result.p99,
    errors: result.errors,
    requests: result.messages,
  };
}

/**
 * Streamed upload or download of `opts.streamBytes` while sampling VmRSS of every worker every 20 ms.
 * Growth = peak during the transfer minus the value just before it, per worker; the report takes the
 * largest (we do not know in advance which worker the connection lands on).
 */
export async function streamRun(opts, { handle, workload }) {
  const pids = handle.workerPids();
  if (pids.length === 0) return { ok: false, reason: 'no worker pids found' };
  const before = new Map(pids.map((p) => [p, rssBytes(p)]));
  const peak = new Map(before);
  const timer = setInterval(() => {
    for (const p of pids) {
      const v = rssBytes(p);
      if (v !== null && v > (peak.get(p) ?? 0)) peak.set(p, v);
    }
  }, 20);
  const { done, result } = await runClient('stream.mjs', [workload, handle.port, opts.streamBytes, 300], {
    cpus: opts.clientCpus,
    timeoutMs: 310_000,
    tmpDir: opts.tmpDir,
  });
  clearInterval(timer);
  const perWorker = pids.map((p) => ({
    pid: p,
    beforeMiB: (before.get(p) ?? 0) / MIB,
    peakMiB: (peak.get(p) ?? 0) / MIB,
  }));
  const growth = Math.max(...perWorker.map((w) => w.peakMiB - w.beforeMiB));
  if (!done || !result.ok) {
    return {
      ok: false,
      reason: result.reason ?? `transfer incomplete (${JSON.stringify(result)})`,
      perWorker,
    };
  }
  return {
    ok: true,
    rssGrowthMiB: growth,
    mibPerSecond: result.mibPerSecond,
    seconds: result.seconds,
    perWorker,
  };
}
