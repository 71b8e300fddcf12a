// Process control for the harness. Every server, load generator and client is spawned through here so that
// one registry knows every process group the harness owns, and can take all of them down on a normal
// exit, on an exception and on Ctrl-C. Children are spawned with `detached: true`, which puts each one in
// a process group of its own (pgid === pid): killing `-pid` then reaches workers forked by a master too.

import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/** Process groups we started and have not seen stopped yet: pgid -> label. */
const groups = new Map();
/** Async clean-up steps for processes that are not our children (the PM2 daemon puts itself in a new session). */
const cleanups = new Set();

/**
 * A sleep that does not keep the harness alive: used as the losing side of Promise.race time limits,
 * where a normal timer would hold the process open for the whole limit after the race is decided.
 */
export function deadline(ms) {
  return sleep(ms, undefined, { ref: false });
}

export function trackGroup(pgid, label) {
  groups.set(pgid, label);
}

export function untrackGroup(pgid) {
  groups.delete(pgid);
}

export function addCleanup(fn) {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** True while any process of the group exists (signal 0 only checks). */
export function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

export function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    // A zombie still answers signal 0; it is gone for our purposes.
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

function killGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Spawn `cmd args` in its own process group, optionally pinned to `cpus` with taskset (taskset execs the
 * command, so the pid we get is the command's own pid). stdout/stderr go to `logFile` unless `onLine` is
 * given, in which case stderr is read line by line (unicorn-ts logs JSON events there) and also kept.
 */
export function spawnTracked(cmd, args, { label, cpus, env, cwd, logFile, onLine } = {}) {
  const argv = cpus ? ['taskset', '-c', cpus, cmd, ...args] : [cmd, ...args];
  const fd = logFile ? openSync(logFile, 'a') : 'ignore';
  const stdio = onLine ? ['ignore', fd, 'pipe'] : ['ignore', fd, fd];
  const child = spawn(argv[0], argv.slice(1), { detached: true, stdio, env: env ?? process.env, cwd });
  if (typeof fd === 'number') closeSync(fd);
  const tail = [];
  if (onLine) {
    let buf = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      buf += chunk;
      let i = buf.indexOf('\n');
      while (i >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        tail.push(line);
        if (tail.length > 200) tail.shift();
        onLine(line);
        i = buf.indexOf('\n');
      }
    });
  }
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
  });
  if (child.pid) trackGroup(child.pid, label ?? cmd);
  return { child, pid: child.pid, label: label ?? cmd, exited, tail, logFile };
}

/**
 * Graceful stop: `signal` to the leader only (a master drains its workers itself), then SIGKILL the whole
 * group if the leader is still there after `timeoutMs`, and in any case sweep stragglers left in the group.
 */
export async function stopTracked(proc, { signal = 'SIGTERM', timeoutMs = 10_000 } = {}) {
  if (!proc?.pid) return { forced: false };
  let forced = false;
  try {
    process.kill(proc.pid, signal);
  } catch {
    // Leader already gone; the sweep below still runs.
  }
  const done = await Promise.race([proc.exited.then(() => true), deadline(timeoutMs).then(() => false)]);
  if (!done) {
    forced = true;
    killGroup(proc.pid, 'SIGKILL');
    await Promise.race([proc.exited, deadline(2000)]);
  }
  // Workers should have left with their master; anything still in the group after 3 s is killed.
  let stragglers = false;
  for (let i = 0; i < 60 && groupAlive(proc.pid); i++) await sleep(50);
  if (groupAlive(proc.pid)) {
    stragglers = true;
    killGroup(proc.pid, 'SIGKILL');
  }
  untrackGroup(proc.pid);
  return { forced, stragglers };
}

/** Run a short command to completion with a hard time limit; resolves with its output. */
export async function runBounded(cmd, args, { cpus, env, cwd, timeoutMs = 60_000, label } = {}) {
  const argv = cpus ? ['taskset', '-c', cpus, cmd, ...args] : [cmd, ...args];
  const child = spawn(argv[0], argv.slice(1), {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
    cwd,
  });
  if (child.pid) trackGroup(child.pid, label ?? cmd);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d) => {
    stderr += d;
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid, 'SIGKILL');
  }, timeoutMs);
  const { code, signal, error } = await new Promise((resolve) => {
    child.once('close', (c, s) => resolve({ code: c, signal: s }));
    child.once('error', (e) => resolve({ code: null, signal: null, error: e }));
  });
  clearTimeout(timer);
  if (child.pid) untrackGroup(child.pid);
  return { code, signal, stdout, stderr, timedOut, error };
}

/** Kill everything we own. Synchronous so it can run from an 'exit' handler. */
export function killAllSync(signal = 'SIGKILL') {
  for (const pgid of groups.keys()) killGroup(pgid, signal);
}

/** Best-effort full clean-up for signal and error paths: polite first, then forceful. */
export async function cleanupAll() {
  for (const fn of [...cleanups]) {
    try {
      await fn();
    } catch {
      // Keep going: the remaining processes still need stopping.
    }
  }
  killAllSync('SIGTERM');
  for (let i = 0; i < 30 && [...groups.keys()].some(groupAlive); i++) await sleep(100);
  killAllSync('SIGKILL');
  groups.clear();
}

let stopping = false;

/** Measurement loops call this between runs so an interrupted harness stops starting new work. */
export function throwIfStopping() {
  if (stopping) throw new Error('interrupted');
}

/** Install handlers so Ctrl-C, SIGTERM, a crash or a plain exit never leave servers behind. */
export function installExitHandlers(onBeforeExit) {
  const bail = async (why, code) => {
    if (stopping) {
      killAllSync('SIGKILL');
      process.exit(code);
    }
    stopping = true;
    console.error(`\n[bench] ${why}: stopping every process the harness started...`);
    await cleanupAll();
    await onBeforeExit?.();
    process.exit(code);
  };
  process.on('SIGINT', () => bail('interrupted', 130));
  process.on('SIGTERM', () => bail('terminated', 143));
  process.on('SIGHUP', () => bail('hang-up', 129));
  process.on('uncaughtException', (err) => {
    console.error(err);
    bail('uncaught exception', 1);
  });
  process.on('unhandledRejection', (err) => {
    console.error(err);
    bail('unhandled rejection', 1);
  });
  process.on('exit', () => killAllSync('SIGKILL'));
}

/** Parent pid of every process, read from /proc (no dependency on ps). */
function ppidTable() {
  const table = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Field 4 (ppid) follows the command in parentheses, which may itself contain spaces.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (rest[0] === 'Z') continue;
      table.set(Number(name), Number(rest[1]));
    } catch {
      // The process exited while we were reading.
    }
  }
  return table;
}

export function childrenOf(pid) {
  const out = [];
  for (const [p, pp] of ppidTable()) if (pp === pid) out.push(p);
  return out.sort((a, b) => a - b);
}

export function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

/** Resident set size in bytes from /proc/PID/status (VmRSS), or null when the process is gone. */
/**
 * CPU time (user + system) a process has used so far, in seconds, from /proc/PID/stat; null when it is gone.
 * Clock ticks are 100 a second on Linux (CLK_TCK); over a 5 s run of a busy server that is ample resolution.
 */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // utime and stime are fields 14 and 15; the command in parentheses may contain spaces.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return null;
  }
}

export function rssBytes(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * One HTTP GET on a fresh connection (no agent, so no pooling), bounded by `timeoutMs`.
 * Resolves { status, body } or { error } - never rejects, which keeps polling loops simple.
 */
export function httpGet(port, path = '/', { timeoutMs = 1000, host = '127.0.0.1' } = {}) {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        if (body.length < 4096) body += d;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode, body, contentType: res.headers['content-type'] }),
      );
      res.on('error', (error) => resolve({ error }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve({ error }));
  });
}

/**
 * Poll until GET returns 200 or the deadline passes. `intervalMs` is small because the same loop measures
 * launch time; a refused connection on loopback costs microseconds.
 */
export async function waitFor200(port, { timeoutMs = 20_000, intervalMs = 5, path = '/', proc } = {}) {
  const deadline = performance.now() + timeoutMs;
  let last = null;
  while (performance.now() < deadline) {
    const r = await httpGet(port, path, { timeoutMs: 1000 });
    if (r.status === 200) return { ok: true, at: performance.now() };
    last = r.error ? r.error.message : `status ${r.status}`;
    if (proc && !pidAlive(proc.pid))
      return { ok: false, reason: `process exited before answering (${last})` };
    await sleep(intervalMs);
  }
  return { ok: false, reason: `no 200 within ${timeoutMs} ms (last: ${last})` };
}
