// Lifecycle measurements: launch time, worker replacement after kill -9, HUP rolling reload, idle RSS.
// Each returns a list of per-repeat records ({ target, rep, ok, ... } or { ok: false, reason }) that the
// report summarizes. Targets are interleaved across repeats like the load runs are.

import { setTimeout as sleep } from 'node:timers/promises';
import { httpGet, pidAlive, rssBytes, throwIfStopping, waitFor200 } from './proc.mjs';
import { getTarget, startTarget } from './targets.mjs';

const MIB = 2 ** 20;

/** Alternate the order on every repeat (A B C, C B A, ...) so slow drift does not favour one target. */
export function interleave(keys, rep) {
  return rep % 2 === 0 ? [...keys] : [...keys].reverse();
}

/** Time from spawn to the first HTTP 200, polling every 2 ms. */
export async function measureLaunch(ctx, opts, keys) {
  const records = [];
  for (let rep = 0; rep < opts.repeat; rep++) {
    for (const key of interleave(keys, rep)) {
      throwIfStopping();
      const target = getTarget(key);
      const port = await ctx.ports.next();
      const t0 = performance.now();
      const handle = target.launch(ctx, { port, workers: 4 });
      const ready = await waitFor200(port, {
        timeoutMs: 60_000,
        intervalMs: 2,
        proc: key === 'pm2' ? null : handle.proc,
      });
      handle.afterReady?.();
      const rec = ready.ok
        ? { target: key, rep, ok: true, ms: ready.at - t0 }
        : { target: key, rep, ok: false, reason: ready.reason };
      await handle.stop();
      records.push(rec);
      ctx.log(`  launch ${key.padEnd(15)} ${rec.ok ? `${rec.ms.toFixed(0)} ms` : `n/a: ${rec.reason}`}`);
    }
  }
  return records;
}

/** Wait until the target reports `n` worker processes (a replacement can take a moment to be forked). */
async function waitForWorkers(handle, n, timeoutMs = 15_000) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const pids = handle.workerPids().filter(pidAlive);
    if (pids.length === n) return pids;
    await sleep(20);
  }
  return null;
}

/**
 * Poll GET /pid on fresh connections (two pollers, ~1 ms apart, so the polling itself does not starve a
 * booting worker of CPU) until a pid outside `oldPids` answers, or until `deadlineMs`.
 * Also counts failed or non-200 answers, which the reload test reports (it passes `oldPids` null: count only).
 */
function pollForNewPid(port, oldPids, { deadlineMs, stop }) {
  let errors = 0;
  let answered = 0;
  let found = null;
  const end = performance.now() + deadlineMs;
  const poller = async () => {
    while (!found && !stop?.() && performance.now() < end) {
      const r = await httpGet(port, '/pid', { timeoutMs: 2000 });
      if (r.status === 200) {
        answered++;
        const pid = Number(r.body);
        if (oldPids && !oldPids.has(pid) && !found) found = { pid, at: performance.now() };
      } else {
        errors++;
      }
      await sleep(1);
    }
  };
  return Promise.all([poller(), poller()]).then(() => ({ found, errors, answered }));
}

/** The pid of the live spare of a --standby target, from its `worker.standby` events. */
async function sparePid(handle, timeoutMs = 15_000) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const ready = new Set(
      handle.events.events.filter((e) => e.event === 'worker.promoted').map((e) => e.workerPid),
    );
    const spare = handle.events.events
      .filter((e) => e.event === 'worker.standby' && !ready.has(e.workerPid) && pidAlive(e.workerPid))
      .at(-1);
    if (spare) return spare.workerPid;
    await sleep(20);
  }
  return null;
}

/** kill -9 one worker, time until a replacement (a pid not seen before) answers a request. */
export async function measureRespawn(ctx, opts, keys) {
  const workers = 2;
  const records = [];
  const handles = new Map();
  for (const key of keys) {
    try {
      const port = await ctx.ports.next();
      handles.set(key, await startTarget(ctx, getTarget(key), { port, workers, logLevel: 'info' }));
    } catch (err) {
      records.push({ target: key, rep: 0, ok: false, reason: err.reason ?? err.message });
      ctx.log(`  respawn ${key}: n/a (${err.reason ?? err.message})`);
    }
  }
  try {
    for (let rep = 0; rep < opts.repeat; rep++) {
      for (const key of interleave([...handles.keys()], rep)) {
        throwIfStopping();
        const handle = handles.get(key);
        // With --standby the spare is a worker process too, but it serves nothing until promoted.
        const spares = getTarget(key).lifecycleOnly ? 1 : 0;
        const all = await waitForWorkers(handle, workers + spares);
        const spare = spares ? await sparePid(handle) : null;
        const pids = all?.filter((pid) => pid !== spare);
        if (!pids || pids.length !== workers) {
          records.push({ target: key, rep, ok: false, reason: `never had ${workers} live workers` });
          continue;
        }
        await sleep(300);
        const victim = pids[rep % pids.length];
        const oldPids = new Set(pids);
        const fromEvent = handle.events?.events.length ?? 0;
        const t0 = performance.now();
        process.kill(victim, 'SIGKILL');
        const { found } = await pollForNewPid(handle.port, oldPids, { deadlineMs: 10_000 });
        const rec = { target: key, rep, victim };
        if (found) Object.assign(rec, { ok: true, ms: found.at - t0, newPid: found.pid });
        else Object.assign(rec, { ok: false, reason: 'no new worker answered within 10 s' });
        // unicorn-ts also says when the replacement is ready; keep that for comparison with the poll.
        const ev = handle.events?.events
          .slice(fromEvent)
          .find((e) => e.event === 'worker.ready' && !oldPids.has(e.pid));
        if (ev) rec.readyEventMs = ev.receivedAt - t0;
        records.push(rec);
        ctx.log(`  respawn ${key.padEnd(15)} ${rec.ok ? `${rec.ms.toFixed(1)} ms` : `n/a: ${rec.reason}`}`);
        await sleep(300);
      }
    }
  } finally {
    for (const h of handles.values()) await h.stop();
  }
  return records;
}

/**
 * SIGHUP to the unicorn-ts master with 4 workers; time until it logs `reload.done`. Fresh-connection
 * polling runs during the reload and counts failed requests (a rolling reload should drop none).
 */
export async function measureReload(ctx, opts) {
  const key = 'unicorn-node';
  const records = [];
  let handle;
  try {
    handle = await startTarget(ctx, getTarget(key), {
      port: await ctx.ports.next(),
      workers: 4,
      logLevel: 'info',
    });
  } catch (err) {
    return [{ target: key, rep: 0, ok: false, reason: err.reason ?? err.message }];
  }
  try {
    for (let rep = 0; rep < opts.repeat; rep++) {
      throwIfStopping();
      const oldPids = await waitForWorkers(handle, 4);
      if (!oldPids) {
        records.push({ target: key, rep, ok: false, reason: 'never had 4 live workers' });
        break;
      }
      await sleep(300);
      const from = handle.events.events.length;
      let reloading = true;
      const polling = pollForNewPid(handle.port, null, { deadlineMs: 65_000, stop: () => !reloading });
      const t0 = performance.now();
      process.kill(handle.pid, 'SIGHUP');
      // A master without a SIGHUP handler dies of the signal: stop waiting as soon as it is gone.
      const ev = await Promise.race([
        handle.events.wait((e) => e.event === 'reload.done' || e.event === 'reload.failed', {
          from,
          timeoutMs: 60_000,
        }),
        handle.proc.exited.then(() => null),
      ]);
      reloading = false;
      const { errors, answered } = await polling;
      if (!ev) {
        const why = pidAlive(handle.pid)
          ? 'no reload.done event within 60 s (SIGHUP rolling reload not supported yet?)'
          : 'the master exited on SIGHUP (no SIGHUP handler yet)';
        records.push({ target: key, rep, ok: false, reason: why });
        ctx.log(`  reload n/a: ${why}`);
        break;
      }
      if (ev.event === 'reload.failed') {
        records.push({
          target: key,
          rep,
          ok: false,
          reason: `reload.failed: ${ev.msg ?? ev.message ?? ''}`.trim(),
        });
        ctx.log('  reload n/a: the master logged reload.failed');
        break;
      }
      const newPids = (await waitForWorkers(handle, 4, 5000)) ?? handle.workerPids();
      const kept = newPids.filter((p) => oldPids.includes(p)).length;
      const rec = { target: key, rep, ok: true, ms: ev.receivedAt - t0, errors, answered, workersKept: kept };
      records.push(rec);
      ctx.log(
        `  reload ${rec.ms.toFixed(0)} ms, ${errors} failed requests of ${answered + errors}, kept ${kept}`,
      );
    }
  } finally {
    await handle.stop();
  }
  return records;
}

/** RSS of the master (if any) and of each worker after boot, 200 requests and 1 s of quiet. */
export async function measureIdleRss(ctx, opts, keys) {
  const workers = 2;
  const records = [];
  for (let rep = 0; rep < opts.repeat; rep++) {
    for (const key of interleave(keys, rep)) {
      throwIfStopping();
      let handle;
      try {
        handle = await startTarget(ctx, getTarget(key), { port: await ctx.ports.next(), workers });
      } catch (err) {
        records.push({ target: key, rep, ok: false, reason: err.reason ?? err.message });
        continue;
      }
      try {
        for (let i = 0; i < 200; i++) await httpGet(handle.port, '/');
        const expect = getTarget(key).singleProcess ? 1 : workers;
        const pids = (await waitForWorkers(handle, expect)) ?? handle.workerPids();
        await sleep(1000);
        const master = handle.masterPid();
        const workerMiB = pids.map((p) => (rssBytes(p) ?? 0) / MIB);
        const rec = {
          target: key,
          rep,
          ok: workerMiB.length > 0,
          masterMiB: master ? (rssBytes(master) ?? 0) / MIB : null,
          workerMiB: Math.max(...workerMiB),
          workersMiB: workerMiB,
        };
        records.push(rec);
        const m = rec.masterMiB === null ? '-' : rec.masterMiB.toFixed(1);
        ctx.log(`  idle-rss ${key.padEnd(15)} master ${m} MiB, worker ${rec.workerMiB.toFixed(1)} MiB`);
      } finally {
        await handle.stop();
      }
    }
  }
  return records;
}
