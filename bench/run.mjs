#!/usr/bin/env node
// Benchmark harness for unicorn-ts: `npm run bench` (see bench/README.md and --help).
// This file is the CLI and the order of operations; measuring, process control and rendering live in
// bench/lib. Every process it starts is in a process group it tracks (lib/proc.mjs) and is stopped by pid
// at the end, on error and on Ctrl-C.

import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureTools, machineFacts } from './lib/deps.mjs';
import {
  interleave,
  measureIdleRss,
  measureLaunch,
  measureReload,
  measureRespawn,
} from './lib/lifecycle.mjs';
import { nginxArgs, writeProxyConfig } from './lib/nginx.mjs';
import { DEFAULT_NODE, rerunUnder, resolveNode } from './lib/node-runtime.mjs';
import {
  cleanupAll,
  cpuSeconds,
  installExitHandlers,
  runBounded,
  spawnTracked,
  stopTracked,
  throwIfStopping,
  waitFor200,
} from './lib/proc.mjs';
import { CHART_WORKLOADS, renderMarkdown, renderSvg, renderText } from './lib/report.mjs';
import { getTarget, startTarget, TARGET_KEYS } from './lib/targets.mjs';
import {
  appliesTo,
  LIFECYCLE,
  mixedRun,
  streamRun,
  throughputRun,
  WORKLOADS,
  wsRun,
} from './lib/workloads.mjs';
import { runWrk } from './lib/wrk.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const REPO = dirname(BENCH);
const RESULTS = join(BENCH, 'results');
const DOCS = join(REPO, 'docs');

const ALL_WORKLOADS = [...Object.keys(WORKLOADS), ...Object.keys(LIFECYCLE)];
const QUICK_TARGETS = ['unicorn-fetch', 'unicorn-node', 'cluster-rr', 'cluster-shared', 'bare-http', 'nginx'];
const LIFECYCLE_TARGETS = {
  launch: ['unicorn-node', 'cluster-rr', 'cluster-shared', 'pm2', 'uvicorn', 'gunicorn'],
  respawn: ['unicorn-node', 'unicorn-standby', 'cluster-rr', 'cluster-shared'],
  reload: ['unicorn-node'],
  'idle-rss': ['unicorn-node', 'cluster-rr', 'bare-http', 'pm2'],
};

const HELP = `Usage: npm run bench -- [options]      (or: node bench/run.mjs [options])

Starts every target, loads it with wrk (or the clients in bench/clients), stops it, and prints tables of
medians and ratios to a reference measured in the same run. Writes raw JSON to bench/results/ and, for a
complete run, regenerates docs/benchmarks.md and its SVG charts.

Modes:
  (default)              worker count 2, every target and workload, 3 repeats of 5 s
  --full                 worker counts 1, 2 and 4
  --quick                1 repeat of 2 s, keep-alive and connection-per-request only, targets:
                         ${QUICK_TARGETS.join(', ')}
Options (override the mode):
  --workers LIST         worker counts, e.g. 1,2,4
  --repeat N             runs per target and workload (interleaved A B C, C B A, ...)
  --duration S           seconds per load run (default 5)
  --warmup S             keep-alive warm-up per target after start (default 2; quick 1)
  --connections N        concurrent connections (default 64)
  --only LIST            targets: ${TARGET_KEYS.join(', ')}
  --workload LIST        ${ALL_WORKLOADS.join(', ')}
  --stream-bytes N       size of the streamed upload/download (default 1G; accepts K, M, G)
  --stream-repeat N      repeats of each streamed transfer (default 1, --full: --repeat); a GiB takes
                         seconds to move and the RSS figure varies little from one transfer to the next
  --server-cpus LIST     CPUs for the servers (default: all but the last)
  --client-cpus LIST     CPUs for wrk and the clients (default: the last one)
  --proxy-workers N      worker_processes of the nginx in front of targets (default 1)
  --port-base N          first port to try (default 20000)
  --docs / --no-docs     force writing (or not) docs/benchmarks.md and bench/results/latest.json
                         (default: written by complete runs only, not by --quick or filtered runs)
  --node SPEC            the Node that runs every Node process: a major version (default ${DEFAULT_NODE}: the
                         official binary from the npm registry, installed once into .tmp/node-N), a
                         path to a node binary, or "current" (the Node running this harness)
  --report FILE          only re-render the tables and docs from a results JSON; runs nothing
  --no-build             do not run "npm run build" when dist/ is missing or older than src/
  --keep-tmp             keep the temp dir (logs, nginx configs) for inspection
  -h, --help             this text
`;

function parseSize(text) {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)(i?B)?$/i.exec(String(text).trim());
  if (!m) throw usageError(`bad size: ${text}`);
  const mult = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 }[m[2].toUpperCase()];
  return Math.round(Number(m[1]) * mult);
}

const list = (v) =>
  v
    ? String(v)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : null;

function usageError(message) {
  return Object.assign(new Error(message), { usage: true });
}

function options() {
  const { values } = parseArgs({
    options: {
      help: { type: 'boolean', short: 'h' },
      quick: { type: 'boolean' },
      full: { type: 'boolean' },
      workers: { type: 'string' },
      repeat: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      only: { type: 'string' },
      workload: { type: 'string' },
      'stream-bytes': { type: 'string' },
      'stream-repeat': { type: 'string' },
      'server-cpus': { type: 'string' },
      'client-cpus': { type: 'string' },
      'proxy-workers': { type: 'string' },
      'port-base': { type: 'string' },
      docs: { type: 'boolean' },
      'no-docs': { type: 'boolean' },
      report: { type: 'string' },
      'no-build': { type: 'boolean' },
      'keep-tmp': { type: 'boolean' },
      node: { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const quick = Boolean(values.quick);
  const full = Boolean(values.full);
  const o = {
    mode: quick ? 'quick' : full ? 'full' : 'default',
    workers: (list(values.workers) ?? (full ? ['1', '2', '4'] : ['2'])).map(Number),
    repeat: Number(values.repeat ?? (quick ? 1 : 3)),
    // wrk only takes whole seconds.
    duration: Math.max(1, Math.round(Number(values.duration ?? (quick ? 2 : 5)))),
    warmup: Math.max(1, Math.round(Number(values.warmup ?? (quick ? 1 : 2)))),
    connections: Number(values.connections ?? 64),
    targets: list(values.only) ?? (quick ? QUICK_TARGETS : TARGET_KEYS),
    workloads: list(values.workload) ?? (quick ? ['keepalive', 'close'] : ALL_WORKLOADS),
    streamBytes: parseSize(values['stream-bytes'] ?? '1G'),
    streamRepeat: values['stream-repeat'] ? Number(values['stream-repeat']) : null,
    proxyWorkers: Number(values['proxy-workers'] ?? 1),
    portBase: Number(values['port-base'] ?? 20000),
    serverCpus: values['server-cpus'],
    clientCpus: values['client-cpus'],
    build: !values['no-build'],
    keepTmp: Boolean(values['keep-tmp']),
    report: values.report,
    node: values.node ?? DEFAULT_NODE,
    nodeExplicit: values.node !== undefined,
  };
  o.streamRepeat ??= full ? o.repeat : 1;
  const filtered = Boolean(values.only || values.workload || values.workers);
  o.docs = values['no-docs'] ? false : (values.docs ?? (!quick && !filtered));
  for (const t of o.targets) if (!TARGET_KEYS.includes(t)) throw usageError(`unknown target "${t}"`);
  for (const w of o.workloads) if (!ALL_WORKLOADS.includes(w)) throw usageError(`unknown workload "${w}"`);
  for (const [k, v] of Object.entries({
    'stream-repeat': o.streamRepeat,
    repeat: o.repeat,
    duration: o.duration,
    connections: o.connections,
  })) {
    if (!(v > 0)) throw usageError(`--${k} must be a positive number`);
  }
  if (o.workers.some((w) => !(w >= 1))) throw usageError('--workers must be positive integers');
  return o;
}

const T0 = performance.now();
/** Progress goes to stderr with the elapsed time, so stdout carries only the final tables. */
const log = (msg) => console.error(`${((performance.now() - T0) / 1000).toFixed(0).padStart(5)}s ${msg}`);

/**
 * wrk gets one core, the servers the rest: on a 2-core machine that is CPU 1 for the load generator and
 * CPU 0 for every server process (master, workers, and the nginx in front), so a server with 2 or 4
 * workers time-shares one core. The harness itself also moves to the client CPU so its polling and RSS
 * sampling do not steal server time.
 */
function cpuSplit(o, haveTaskset) {
  const n = os.availableParallelism();
  if (!haveTaskset) return { description: 'taskset not available: nothing pinned.' };
  if (o.serverCpus || o.clientCpus) {
    return {
      serverCpus: o.serverCpus,
      clientCpus: o.clientCpus,
      description: `as given: servers on CPU ${o.serverCpus ?? 'any'}, wrk and clients on CPU ${o.clientCpus ?? 'any'}.`,
    };
  }
  if (n < 2) return { description: 'one CPU: nothing pinned (servers and wrk share it).' };
  const serverCpus = n === 2 ? '0' : `0-${n - 2}`;
  const clientCpus = String(n - 1);
  return {
    serverCpus,
    clientCpus,
    description:
      `${n} CPUs: wrk and the other load clients pinned to CPU ${clientCpus} with \`taskset -c ${clientCpus}\`; ` +
      `every server process (masters, workers, the nginx in front) pinned to CPU ${serverCpus}` +
      `${n === 2 ? ', so 2 or 4 workers share one core' : ''}. The harness itself runs on the client CPU.`,
  };
}

function pinSelf(cpus) {
  if (!cpus) return;
  try {
    execFileSync('taskset', ['-a', '-pc', cpus, String(process.pid)], { stdio: 'ignore' });
  } catch {
    log(`[bench] could not pin the harness to CPU ${cpus}; continuing unpinned`);
  }
}

/** Hands out ports below the ephemeral range (so clients' source ports never collide), skipping busy ones. */
function portAllocator(base) {
  let next = base;
  const free = (port) =>
    new Promise((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  return {
    async next() {
      while (next < 32_000) {
        const p = next++;
        if (await free(p)) return p;
      }
      throw new Error('ran out of ports below 32000');
    },
  };
}

function newest(dir) {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const name of readdirSync(dir, { recursive: true })) {
    if (String(name).endsWith('.ts')) t = Math.max(t, statSync(join(dir, String(name))).mtimeMs);
  }
  return t;
}

/** Build dist/ when it is missing or older than the sources, so the numbers are for the code in the tree. */
async function maybeBuild(o, notes) {
  const cli = join(REPO, 'dist/src/bin.js');
  if (!existsSync(join(REPO, 'src/cli.ts'))) return;
  const stale =
    !existsSync(cli) ||
    statSync(cli).mtimeMs < Math.max(newest(join(REPO, 'src')), newest(join(REPO, 'workers')));
  if (!stale) return;
  if (!o.build) {
    notes.push('dist/ is missing or older than src/ and --no-build was given');
    return;
  }
  log('[bench] building unicorn-ts (npm run build)...');
  const r = await runBounded('npm', ['run', 'build'], {
    cwd: REPO,
    timeoutMs: 300_000,
    label: 'npm run build',
  });
  if (r.code !== 0) {
    const msg = `npm run build failed (exit ${r.code}${r.timedOut ? ', timed out' : ''})`;
    notes.push(msg);
    log(`[bench] ${msg}:\n${(r.stdout + r.stderr).split('\n').slice(-15).join('\n')}`);
  }
}

function estimateSeconds(o, targetCount) {
  // A streamed GiB moves at roughly 100-300 MiB/s here; the other shapes cost their duration plus a pause.
  const per = (w) =>
    w === 'upload' || w === 'download' ? 1 + (o.streamBytes / 2 ** 20) * 0.007 : o.duration + 0.6;
  let s = 0;
  const reps = (w) => (WORKLOADS[w].kind === 'stream' ? o.streamRepeat : o.repeat);
  for (const w of o.workloads) if (WORKLOADS[w]) s += reps(w) * targetCount * per(w);
  s = s * o.workers.length + o.workers.length * targetCount * (o.warmup + 3);
  if (o.workloads.includes('launch')) s += o.repeat * 6 * 4;
  if (o.workloads.includes('respawn')) s += o.repeat * 3 * 2 + 10;
  if (o.workloads.includes('reload')) s += o.repeat * 5 + 5;
  if (o.workloads.includes('idle-rss')) s += o.repeat * 4 * 4;
  return Math.round(s);
}

/**
 * CPU seconds used so far by a target's master and workers (the processes that exist now). Per request,
 * it says what the throughput alone hides: how much of the machine each request costs.
 */
function serverCpu(h) {
  const pids = [h.masterPid(), ...h.workerPids()].filter((p) => p !== null);
  if (pids.length === 0) return null;
  return pids.reduce((sum, pid) => sum + (cpuSeconds(pid) ?? 0), 0);
}

function progress(workers, workload, rep, reps, key, r) {
  const head = `[w${workers} ${workload} ${rep + 1}/${reps}] ${key.padEnd(15)}`;
  if (!r.ok) return log(`${head} n/a: ${r.reason}`);
  if (workload === 'upload' || workload === 'download') {
    return log(`${head} RSS +${r.rssGrowthMiB.toFixed(1)} MiB, ${r.mibPerSecond.toFixed(0)} MiB/s`);
  }
  const rps = Math.round(r.rps).toLocaleString('en-US');
  const cpu = r.cpuUsPerReq === undefined ? '' : `  cpu ${r.cpuUsPerReq.toFixed(1)} µs/req`;
  log(
    `${head} ${rps.padStart(8)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}${cpu}`,
  );
}

/** Start every target at this worker count, run the load workloads interleaved, stop everything. */
async function runWorkerCount(ctx, o, results, workers, keys) {
  const handles = new Map();
  const loads = o.workloads.filter((w) => WORKLOADS[w]);
  if (loads.length === 0) return;
  for (const key of keys) {
    try {
      handles.set(key, await startTarget(ctx, getTarget(key), { port: await ctx.ports.next(), workers }));
      log(`[bench] -w ${workers}: ${key} ready on port ${handles.get(key).port}`);
    } catch (err) {
      log(`[bench] -w ${workers}: ${key} n/a: ${err.message}`);
      results.failures.push({ workers, target: key, reason: err.reason ?? err.message.split('\n')[0] });
    }
  }
  let proxy = null;
  let frontFailure = 'no nginx front';
  const fronts = new Map();
  try {
    if (loads.some((w) => ['default', 'keepalive'].includes(WORKLOADS[w].via))) {
      const upstreams = [];
      for (const [key, h] of handles) {
        if (key === 'nginx') continue;
        const u = {
          name: key,
          port: h.port,
          defaultPort: await ctx.ports.next(),
          keepalivePort: await ctx.ports.next(),
        };
        upstreams.push(u);
        fronts.set(key, u);
      }
      const prefix = join(ctx.tmpDir, `nginx-front-w${workers}`);
      mkdirSync(prefix, { recursive: true });
      const conf = writeProxyConfig(prefix, { workers: o.proxyWorkers, upstreams });
      proxy = spawnTracked('nginx', nginxArgs(prefix, conf), {
        label: 'nginx front',
        cpus: ctx.serverCpus,
        logFile: join(prefix, 'stdout.log'),
      });
      const first = upstreams[0];
      const ok = first
        ? await waitFor200(first.keepalivePort, { timeoutMs: 10_000, proc: proxy })
        : { ok: false };
      if (!ok.ok) {
        frontFailure = `front nginx did not start: ${ok.reason ?? 'no upstream'}`;
        log(`[bench] ${frontFailure}`);
        fronts.clear();
      }
    }
    for (const [key, h] of handles) {
      await runWrk({
        url: `http://127.0.0.1:${h.port}/`,
        seconds: o.warmup,
        connections: o.connections,
        cpus: ctx.clientCpus,
      });
      log(`[bench] -w ${workers}: warmed up ${key}`);
    }
    for (const workload of loads) {
      const w = WORKLOADS[workload];
      const keysHere = [...handles.keys()].filter(
        (k) => appliesTo(workload, k) && (getTarget(k).only?.includes(workload) ?? true),
      );
      const reps = w.kind === 'stream' ? o.streamRepeat : o.repeat;
      for (let rep = 0; rep < reps; rep++) {
        for (const key of interleave(keysHere, rep)) {
          throwIfStopping();
          const h = handles.get(key);
          let r;
          if (w.kind === 'wrk') {
            const port = w.via === 'direct' ? h.port : fronts.get(key)?.[`${w.via}Port`];
            const cpuBefore = serverCpu(h);
            r = port
              ? await throughputRun({ ...o, clientCpus: ctx.clientCpus }, { port, workload })
              : { ok: false, reason: frontFailure };
            if (r.ok && r.requests > 0 && cpuBefore !== null) {
              const used = serverCpu(h) - cpuBefore;
              r.cpuUsPerReq = (used * 1e6) / r.requests;
            }
          } else if (w.kind === 'mixed') {
            r = await mixedRun({ ...o, clientCpus: ctx.clientCpus, tmpDir: ctx.tmpDir }, { port: h.port });
          } else if (w.kind === 'ws') {
            const cpuBefore = serverCpu(h);
            r = await wsRun({ ...o, clientCpus: ctx.clientCpus, tmpDir: ctx.tmpDir }, { port: h.port });
            if (r.ok && r.requests > 0 && cpuBefore !== null) {
              r.cpuUsPerReq = ((serverCpu(h) - cpuBefore) * 1e6) / r.requests;
            }
          } else {
            r = await streamRun(
              { ...o, clientCpus: ctx.clientCpus, tmpDir: ctx.tmpDir },
              { handle: h, workload },
            );
          }
          // The 1-minute load average at the end of the run: the machine may be shared.
          results.runs.push({ workers, workload, target: key, rep, ...r, load1: os.loadavg()[0] });
          progress(workers, workload, rep, reps, key, r);
          await sleep(300);
        }
      }
      // Let TIME_WAIT sockets and stray work from the previous shape settle.
      await sleep(1000);
    }
  } finally {
    if (proxy) await stopTracked(proxy);
    for (const [key, h] of handles) {
      const { forced, stragglers } = await h.stop();
      const how = forced
        ? ' (did not exit on SIGTERM within 10 s: SIGKILLed)'
        : stragglers
          ? ' (stragglers SIGKILLed)'
          : '';
      log(`[bench] -w ${workers}: stopped ${key}${how}`);
    }
  }
}

async function runLifecycle(ctx, o, results) {
  const usable = (keys) => keys.filter((k) => o.targets.includes(k) && !ctx.unavailable.has(k));
  results.lifecycle = {};
  const skipped = (kind) =>
    LIFECYCLE_TARGETS[kind]
      .filter((k) => o.targets.includes(k) && ctx.unavailable.has(k))
      .map((k) => ({ target: k, rep: 0, ok: false, reason: ctx.unavailable.get(k) }));
  if (o.workloads.includes('launch')) {
    log('[bench] launch to first 200, -w 4');
    results.lifecycle.launch = [
      ...(await measureLaunch(ctx, o, usable(LIFECYCLE_TARGETS.launch))),
      ...skipped('launch'),
    ];
  }
  if (o.workloads.includes('respawn')) {
    log('[bench] kill -9 of a worker to replacement serving, -w 2');
    results.lifecycle.respawn = [
      ...(await measureRespawn(ctx, o, usable(LIFECYCLE_TARGETS.respawn))),
      ...skipped('respawn'),
    ];
  }
  if (o.workloads.includes('reload') && o.targets.includes('unicorn-node')) {
    log('[bench] HUP rolling reload, -w 4');
    results.lifecycle.reload = ctx.unavailable.has('unicorn-node')
      ? skipped('reload')
      : await measureReload(ctx, o);
  }
  if (o.workloads.includes('idle-rss')) {
    log('[bench] idle RSS, -w 2');
    results.lifecycle['idle-rss'] = [
      ...(await measureIdleRss(ctx, o, usable(LIFECYCLE_TARGETS['idle-rss']))),
      ...skipped('idle-rss'),
    ];
  }
}

function writeReport(results, { docs, file }) {
  mkdirSync(RESULTS, { recursive: true });
  if (file) {
    writeFileSync(file, `${JSON.stringify(results, null, 1)}\n`);
    log(`[bench] raw results: ${relative(process.cwd(), file)}`);
  }
  if (docs) {
    writeFileSync(join(RESULTS, 'latest.json'), `${JSON.stringify(results, null, 1)}\n`);
    mkdirSync(DOCS, { recursive: true });
    const charts = {};
    const present = new Set(results.runs.map((r) => r.workload));
    for (const w of CHART_WORKLOADS) {
      if (!present.has(w)) continue;
      writeFileSync(join(DOCS, `benchmarks-${w}.svg`), renderSvg(results, w));
      charts[w] = `benchmarks-${w}.svg`;
    }
    writeFileSync(join(DOCS, 'benchmarks.md'), renderMarkdown(results, charts));
    log('[bench] wrote docs/benchmarks.md, its SVG charts and bench/results/latest.json');
  }
  console.log(renderText(results));
}

/** Set once the temp dir exists; every way out of the harness calls it. */
let removeTmp = () => {};

async function main() {
  const o = options();
  if (o.report) {
    const results = JSON.parse(readFileSync(o.report, 'utf8'));
    writeReport(results, { docs: o.docs !== false });
    return;
  }
  const runtime = resolveNode(o.node, {
    repoRoot: REPO,
    explicit: o.nodeExplicit,
    log: (m) => log(`[bench] ${m}`),
  });
  if (runtime.path !== null) {
    log(`[bench] running under ${runtime.path}`);
    rerunUnder(runtime.path, fileURLToPath(import.meta.url), process.argv.slice(2));
  }
  const tmpDir = mkdtempSync(join(os.tmpdir(), 'unicorn-bench-'));
  removeTmp = () => {
    if (!o.keepTmp) rmSync(tmpDir, { recursive: true, force: true });
  };
  installExitHandlers(() => removeTmp());
  const notes = runtime.note ? [runtime.note] : [];
  if (runtime.note) log(`[bench] ${runtime.note}`);
  const tools = ensureTools({ log: (m) => log(`[bench] ${m}`) });
  notes.push(...tools.notes);
  for (const n of tools.notes) log(`[bench] ${n}`);
  if (!tools.have.wrk) throw new Error('wrk is required (apt-get install wrk) and could not be installed');
  const split = cpuSplit(o, tools.have.taskset);
  // Read before pinning: nproc counts only the CPUs this process may use.
  const machine = machineFacts(REPO);
  pinSelf(split.clientCpus);
  await maybeBuild(o, notes);
  const ctx = {
    repoRoot: REPO,
    appsDir: join(BENCH, 'apps'),
    tmpDir,
    serverCpus: split.serverCpus,
    clientCpus: split.clientCpus,
    have: tools.have,
    unicornCli: join(REPO, 'dist/src/bin.js'),
    pm2Bin: join(REPO, 'node_modules/pm2/bin/pm2'),
    ports: portAllocator(o.portBase),
    unavailable: new Map(),
    log,
  };
  const results = {
    meta: {
      startedAt: new Date().toISOString(),
      loadAverageAtStart: os.loadavg(),
      mode: o.mode,
      command: `node bench/run.mjs${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
      options: { ...o, report: undefined },
      machine,
      cpuSplit: split,
      targetInfo: { uvicorn: getTarget('uvicorn').detail(ctx) },
      notes,
    },
    runs: [],
    failures: [],
    lifecycle: {},
  };
  const keys = [];
  for (const key of o.targets) {
    const why = getTarget(key).unavailable(ctx);
    if (why) {
      ctx.unavailable.set(key, why);
      for (const workers of o.workers) results.failures.push({ workers, target: key, reason: why });
      log(`[bench] ${key}: n/a (${why})`);
    } else keys.push(key);
  }
  log(`[bench] ${split.description}`);
  const [load1] = os.loadavg();
  if (load1 > machine.nproc / 2) {
    log(
      `[bench] warning: load average ${load1.toFixed(1)} on ${machine.nproc} CPUs; other work will add noise`,
    );
  }
  log(`[bench] estimated time: ~${Math.ceil(estimateSeconds(o, keys.length) / 60)} min; temp dir ${tmpDir}`);
  const loadKeys = keys.filter((k) => !getTarget(k).lifecycleOnly);
  for (const workers of o.workers) await runWorkerCount(ctx, o, results, workers, loadKeys);
  if (o.workloads.some((w) => LIFECYCLE[w])) await runLifecycle(ctx, o, results);
  results.meta.finishedAt = new Date().toISOString();
  results.meta.loadAverageAtEnd = os.loadavg();
  const stamp = results.meta.startedAt.replace(/[:.]/g, '-');
  writeReport(results, { docs: o.docs, file: join(RESULTS, `${stamp}-${o.mode}.json`) });
  removeTmp();
}

main().catch(async (err) => {
  // Ctrl-C: the signal handler is already stopping everything and will exit with the right code.
  if (err.message === 'interrupted') return;
  // Bad options are the user's to fix: the message is enough. Anything else gets its stack.
  const usage = err.usage || err.code?.startsWith('ERR_PARSE_ARGS');
  console.error(`[bench] ${usage ? `${err.message} (see --help)` : (err.stack ?? err.message)}`);
  await cleanupAll();
  removeTmp();
  process.exit(1);
});
