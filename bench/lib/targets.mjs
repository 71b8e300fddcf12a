// The servers the benchmark compares. Each target knows how to check it can run, how to launch itself
// on a port with N workers (pinned to the server CPUs), which pids are its master and its workers, and
// how to stop. launch() returns at once (the launch-time measurement polls for the first 200 itself);
// start() is launch + wait for 200.

import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GUNICORN, PYTHON } from './deps.mjs';
import { nginxArgs, writeCeilingConfig } from './nginx.mjs';
import {
  addCleanup,
  childrenOf,
  cmdline,
  groupAlive,
  httpGet,
  runBounded,
  spawnTracked,
  stopTracked,
  trackGroup,
  untrackGroup,
  waitFor200,
} from './proc.mjs';

/** Collects the JSON log lines unicorn-ts writes on stderr, and lets callers wait for one. */
function eventLog() {
  const events = [];
  const waiters = new Set();
  return {
    events,
    onLine(line) {
      if (!line.startsWith('{')) return;
      let ev;
      try {
        ev = JSON.parse(line);
      } catch {
        return;
      }
      if (typeof ev.event !== 'string') return;
      ev.receivedAt = performance.now();
      events.push(ev);
      for (const w of waiters) w(ev);
    },
    /** Resolve with the first event (at index >= `from`) matching `pred`, or null after `timeoutMs`. */
    wait(pred, { from = 0, timeoutMs = 30_000 } = {}) {
      const seen = events.slice(from).find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => {
        const w = (ev) => {
          if (!pred(ev)) return;
          waiters.delete(w);
          clearTimeout(timer);
          resolve(ev);
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          resolve(null);
        }, timeoutMs);
        waiters.add(w);
      });
    },
  };
}

/** Handle for targets that are one process tree we spawned (everything except PM2). */
function treeHandle(target, proc, port, { single = false, workerFilter = () => true, events = null } = {}) {
  return {
    target: target.key,
    port,
    proc,
    pid: proc.pid,
    events,
    masterPid: () => (single ? null : proc.pid),
    workerPids: () => (single ? [proc.pid] : childrenOf(proc.pid).filter((p) => workerFilter(cmdline(p)))),
    stop: () => stopTracked(proc),
    logTail: () => (proc.tail.length ? proc.tail.slice(-15).join('\n') : readTail(proc.logFile)),
  };
}

function readTail(file) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}

function nodeEnv(port, workers) {
  return { ...process.env, PORT: String(port), WORKERS: String(workers), HOST: '127.0.0.1' };
}

function unicornTarget(key, label, { iface, worker, extra = [], lifecycleOnly = false, only = null }) {
  const target = {
    key,
    label,
    family: 'unicorn-ts',
    command:
      `node dist/src/bin.js bench/apps/${iface}-app.mjs -w N -b 127.0.0.1:PORT -k ${worker} ` +
      `--interface ${iface}${extra.length ? ` ${extra.join(' ')}` : ''} --log-level warning`,
    /** Measured in the lifecycle workloads only (it serves exactly like the target without the flag). */
    lifecycleOnly,
    /** The load workloads it is measured in, when not all (null: all). */
    only,
    unavailable: (ctx) =>
      existsSync(ctx.unicornCli) ? null : `${ctx.unicornCli} not found (unicorn-ts not built: npm run build)`,
    launch(ctx, { port, workers, logLevel = 'warning' }) {
      const app = join(ctx.appsDir, iface === 'fetch' ? 'fetch-app.mjs' : 'node-app.mjs');
      const args = [ctx.unicornCli, app, '-w', String(workers), '-b', `127.0.0.1:${port}`];
      args.push('-k', worker, '--interface', iface, ...extra, '--log-level', logLevel);
      const log = eventLog();
      const proc = spawnTracked(process.execPath, args, {
        label: key,
        cpus: ctx.serverCpus,
        cwd: ctx.repoRoot,
        env: process.env,
        logFile: join(ctx.tmpDir, `${key}-${port}.stdout.log`),
        onLine: log.onLine,
      });
      return treeHandle(target, proc, port, { events: log });
    },
  };
  return target;
}

function clusterTarget(key, label, file, { unavailable = () => null, only = null } = {}) {
  const target = {
    key,
    label,
    family: 'node:cluster',
    command: `WORKERS=N PORT=PORT node bench/apps/${file}`,
    unavailable,
    /** The load workloads it is measured in, when not all (null: all). */
    only,
    launch(ctx, { port, workers }) {
      const proc = spawnTracked(process.execPath, [join(ctx.appsDir, file)], {
        label: key,
        cpus: ctx.serverCpus,
        env: nodeEnv(port, workers),
        logFile: join(ctx.tmpDir, `${key}-${port}.log`),
      });
      return treeHandle(target, proc, port);
    },
  };
  return target;
}

const bareHttp = {
  key: 'bare-http',
  label: 'bare node:http (1 process)',
  family: 'node:http',
  command: 'PORT=PORT node bench/apps/bare-http.mjs',
  singleProcess: true,
  unavailable: () => null,
  launch(ctx, { port }) {
    const proc = spawnTracked(process.execPath, [join(ctx.appsDir, 'bare-http.mjs')], {
      label: 'bare-http',
      cpus: ctx.serverCpus,
      env: nodeEnv(port, 1),
      logFile: join(ctx.tmpDir, `bare-http-${port}.log`),
    });
    return treeHandle(bareHttp, proc, port, { single: true });
  },
};

/**
 * PM2 cluster mode. The pm2 CLI starts a daemon ("God") that detaches into its own session, so it is not
 * in our process group: we read its pid from the private PM2_HOME, kill it with `pm2 kill`, then SIGKILL its
 * group (its cluster workers) by pid in case anything is left. A fresh PM2_HOME per launch means the launch
 * time includes the daemon's start, as it does for anyone running `pm2 start` on a fresh machine.
 */
const pm2 = {
  key: 'pm2',
  label: 'PM2 cluster mode',
  family: 'pm2',
  command: 'PM2_HOME=$(mktemp -d) PORT=PORT pm2 start bench/apps/bare-http.mjs -i N --name hello',
  unavailable: (ctx) => (existsSync(ctx.pm2Bin) ? null : `${ctx.pm2Bin} missing (npm install)`),
  launch(ctx, { port, workers }) {
    const home = join(ctx.tmpDir, `pm2-home-${port}-${Date.now()}`);
    mkdirSync(home, { recursive: true });
    const env = { ...nodeEnv(port, workers), PM2_HOME: home };
    const daemonPid = () => {
      try {
        return Number(readFileSync(join(home, 'pm2.pid'), 'utf8').trim()) || null;
      } catch {
        return null;
      }
    };
    let stopped = false;
    const stop = async () => {
      if (stopped) return { forced: false };
      stopped = true;
      await runBounded(process.execPath, [ctx.pm2Bin, 'kill'], { env, timeoutMs: 20_000, label: 'pm2 kill' });
      const pid = daemonPid();
      let forced = false;
      // `pm2 kill` normally returns once the daemon is gone; give its workers a moment, then force.
      for (let i = 0; pid && i < 40 && groupAlive(pid); i++) await sleep(50);
      if (pid && groupAlive(pid)) {
        forced = true;
        trackGroup(pid, 'pm2 daemon');
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // Gone in between.
        }
      }
      if (pid) untrackGroup(pid);
      // The `pm2 start` CLI has normally exited long ago; if it hangs, it goes too.
      await stopTracked(cli, { signal: 'SIGKILL', timeoutMs: 1000 });
      rmSync(home, { recursive: true, force: true });
      removeCleanup();
      return { forced };
    };
    const removeCleanup = addCleanup(stop);
    const app = join(ctx.appsDir, 'bare-http.mjs');
    const cli = spawnTracked(
      process.execPath,
      [ctx.pm2Bin, 'start', app, '-i', String(workers), '--name', 'hello'],
      {
        label: 'pm2 start',
        cpus: ctx.serverCpus,
        env,
        logFile: join(ctx.tmpDir, `pm2-${port}.log`),
      },
    );
    return {
      target: 'pm2',
      port,
      proc: cli,
      pid: null,
      events: null,
      masterPid: daemonPid,
      workerPids: () => {
        const pid = daemonPid();
        return pid ? childrenOf(pid) : [];
      },
      stop,
      // Once the daemon exists, own its process group too so a hard exit of the harness still reaches it.
      afterReady: () => {
        const pid = daemonPid();
        if (pid) trackGroup(pid, 'pm2 daemon');
      },
      logTail: () => readTail(cli.logFile) + readTail(join(home, 'pm2.log')),
    };
  },
};

/** uvicorn --workers N with the fastest loop/parser this machine has (recorded in the results). */
const uvicorn = {
  key: 'uvicorn',
  label: 'uvicorn (ASGI)',
  family: 'python',
  command:
    '/usr/bin/python3 -m uvicorn asgi_app:app --app-dir bench/apps --host 127.0.0.1 --port PORT --workers N ' +
    '--log-level warning --no-access-log --lifespan off --loop uvloop --http httptools',
  unavailable: (ctx) =>
    ctx.have.uvicorn ? null : `${PYTHON} -m uvicorn not available (apt-get install python3-uvicorn)`,
  detail: (ctx) =>
    `loop=${ctx.have.uvloop ? 'uvloop' : 'asyncio'}, http=${ctx.have.httptools ? 'httptools' : 'h11'}`,
  launch(ctx, { port, workers }) {
    const args = ['-m', 'uvicorn', 'asgi_app:app', '--app-dir', ctx.appsDir, '--host', '127.0.0.1'];
    args.push('--port', String(port), '--workers', String(workers), '--log-level', 'warning');
    args.push('--no-access-log', '--lifespan', 'off');
    args.push(
      '--loop',
      ctx.have.uvloop ? 'uvloop' : 'asyncio',
      '--http',
      ctx.have.httptools ? 'httptools' : 'h11',
    );
    const proc = spawnTracked(PYTHON, args, {
      label: 'uvicorn',
      cpus: ctx.serverCpus,
      logFile: join(ctx.tmpDir, `uvicorn-${port}.log`),
    });
    // With one worker uvicorn serves in-process; with more, multiprocessing also starts a resource tracker.
    return treeHandle(uvicorn, proc, port, {
      single: workers === 1,
      workerFilter: (cmd) => !cmd.includes('resource_tracker'),
    });
  },
};

const gunicorn = {
  key: 'gunicorn',
  label: 'Gunicorn sync (WSGI)',
  family: 'python',
  command:
    '/usr/bin/gunicorn -w N -k sync -b 127.0.0.1:PORT --chdir bench/apps --log-level warning wsgi_app:app',
  unavailable: (ctx) => (ctx.have.gunicorn ? null : `${GUNICORN} not installed (apt-get install gunicorn)`),
  launch(ctx, { port, workers }) {
    const args = ['-w', String(workers), '-k', 'sync', '-b', `127.0.0.1:${port}`, '--chdir', ctx.appsDir];
    args.push('--log-level', 'warning', 'wsgi_app:app');
    const proc = spawnTracked(GUNICORN, args, {
      label: 'gunicorn',
      cpus: ctx.serverCpus,
      logFile: join(ctx.tmpDir, `gunicorn-${port}.log`),
    });
    return treeHandle(gunicorn, proc, port);
  },
};

const nginx = {
  key: 'nginx',
  label: 'nginx return 200 (ceiling)',
  family: 'nginx',
  command: "nginx -p TMP -c TMP/nginx.conf  # worker_processes N; location / { return 200 'Hello, World!'; }",
  unavailable: (ctx) => (ctx.have.nginx ? null : 'nginx not installed (apt-get install nginx-light)'),
  launch(ctx, { port, workers }) {
    const prefix = join(ctx.tmpDir, `nginx-ceiling-${port}`);
    mkdirSync(prefix, { recursive: true });
    const conf = writeCeilingConfig(prefix, { port, workers });
    const proc = spawnTracked('nginx', nginxArgs(prefix, conf), {
      label: 'nginx',
      cpus: ctx.serverCpus,
      logFile: join(prefix, 'stdout.log'),
    });
    // nginx reads SIGQUIT as "graceful"; SIGTERM is a fast stop, which is all we need here.
    return treeHandle(nginx, proc, port);
  },
};

/** `reusePort` in net.Server#listen: Node 22.12 and newer, 23.1 and newer. */
function reusePortSupported() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** In report order. The reference for throughput is the better of the two cluster-* targets. */
export const TARGETS = [
  unicornTarget('unicorn-fetch', 'unicorn-ts fetch, async worker', { iface: 'fetch', worker: 'async' }),
  unicornTarget('unicorn-node', 'unicorn-ts node, async worker', { iface: 'node', worker: 'async' }),
  unicornTarget('unicorn-sync', 'unicorn-ts node, sync worker', { iface: 'node', worker: 'sync' }),
  unicornTarget('unicorn-dispatch', 'unicorn-ts node, async worker, --dispatch request', {
    iface: 'node',
    worker: 'async',
    extra: ['--dispatch', 'request'],
    only: ['mixed'],
  }),
  // The metrics' cost per request: unicorn-node with --metrics-bind, interleaved with it in the same
  // run. Nothing scrapes it during the run: the cost judged is the workers' counting and the totals
  // riding on their heartbeats (a scrape every 15 s or more costs the master, not a request).
  unicornTarget('unicorn-metrics', 'unicorn-ts node, async worker, --metrics-bind', {
    iface: 'node',
    worker: 'async',
    extra: ['--metrics-bind', '127.0.0.1:0'],
    only: ['keepalive', 'close'],
  }),
  // --sticky against the shared accept queue (unicorn-node): the master accepts, reads each head
  // from a trusted peer (loopback and nginx are) and hands every request over.
  unicornTarget('unicorn-sticky', 'unicorn-ts node, async worker, --sticky', {
    iface: 'node',
    worker: 'async',
    extra: ['--sticky'],
    only: ['keepalive', 'close', 'nginx-default', 'nginx-keepalive'],
  }),
  unicornTarget('unicorn-standby', 'unicorn-ts node, async worker, --standby 1', {
    iface: 'node',
    worker: 'async',
    extra: ['--standby', '1'],
    lifecycleOnly: true,
  }),
  clusterTarget('cluster-rr', 'node:cluster round-robin', 'cluster-rr.mjs'),
  clusterTarget('cluster-shared', 'node:cluster shared socket', 'cluster-shared.mjs'),
  clusterTarget(
    'cluster-reuseport',
    'node:cluster, SO_REUSEPORT socket per worker',
    'cluster-reuseport.mjs',
    {
      unavailable: () =>
        reusePortSupported() ? null : `reusePort needs Node 22.12 or newer (${process.version})`,
    },
  ),
  // The fetch-interface references: measured where the fetch interface's cost is judged.
  clusterTarget('cluster-hono', '@hono/node-server on node:cluster (fetch)', 'cluster-hono.mjs', {
    only: ['keepalive', 'close'],
  }),
  clusterTarget('cluster-srvx', 'srvx on node:cluster (fetch)', 'cluster-srvx.mjs', {
    only: ['keepalive', 'close'],
  }),
  pm2,
  uvicorn,
  bareHttp,
  gunicorn,
  nginx,
];

export const TARGET_KEYS = TARGETS.map((t) => t.key);

export function getTarget(key) {
  const t = TARGETS.find((x) => x.key === key);
  if (!t) throw new Error(`unknown target ${key}`);
  return t;
}

/**
 * Launch and wait for the first 200. On failure the target is stopped and the error carries the reason
 * and the tail of its log, which the report shows as "n/a".
 */
export async function startTarget(ctx, target, opts) {
  const t0 = performance.now();
  const handle = target.launch(ctx, opts);
  const ready = await waitFor200(opts.port, {
    timeoutMs: opts.readyTimeoutMs ?? 30_000,
    proc: target.key === 'pm2' ? null : handle.proc,
  });
  if (!ready.ok) {
    const tail = handle.logTail();
    await handle.stop();
    const err = new Error(`${target.key} did not start: ${ready.reason}${tail ? `\n${tail}` : ''}`);
    err.reason = ready.reason;
    throw err;
  }
  // Same app everywhere is the premise of every ratio: refuse a target that answers something else.
  const check = await httpGet(opts.port, '/');
  if (check.body !== 'Hello, World!' || !/^text\/plain/.test(check.contentType ?? '')) {
    await handle.stop();
    const got = `${JSON.stringify(check.body)}, content-type ${check.contentType}`;
    const err = new Error(`${target.key} answered ${got} instead of "Hello, World!" text/plain`);
    err.reason = err.message;
    throw err;
  }
  handle.launchMs = ready.at - t0;
  handle.afterReady?.();
  return handle;
}
