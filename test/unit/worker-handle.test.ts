import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { Worker as ClusterWorker } from 'node:cluster';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { countAfterTtou, exitHint, planWorkers, poolSettled } from '../../src/master/arbiter.js';
import { describeHeld, WorkerHandle, type WorkerState } from '../../src/master/worker-handle.js';

/** A node:cluster worker as far as the handle looks at it: a pid, and an IPC channel that is closed. */
function fakeClusterWorker(pid: number): ClusterWorker {
  return { process: { pid }, isConnected: () => false, send: () => true } as unknown as ClusterWorker;
}

/** A handle on a fake worker; the signals it sends are recorded instead of delivered. */
function handle(age = 1, opts: { now?: number; spare?: boolean } = {}) {
  const sent: NodeJS.Signals[] = [];
  const w = new WorkerHandle(
    fakeClusterWorker(1000 + age),
    age,
    opts.now ?? 0,
    opts.spare ?? false,
    (pid, sig) => {
      assert.equal(pid, 1000 + age);
      sent.push(sig);
    },
  );
  return { w, sent };
}

/** A handle brought to `state` through its own transitions. */
function inState(state: WorkerState, age = 1, spare = false): WorkerHandle {
  const { w } = handle(age, { spare });
  const steps: Record<WorkerState, () => boolean> = {
    booting: () => true,
    standby: () => w.markStandby(),
    ready: () => w.markReady(0),
    retiring: () => w.markReady(0) && w.retire('max-requests'),
    stopping: () => w.stop('test', 0, 1000),
    exited: () => w.exited() !== null,
  };
  assert.ok(steps[state](), `cannot reach ${state}`);
  assert.equal(w.state, state);
  return w;
}

describe('WorkerHandle transitions', () => {
  test('booting -> ready -> retiring -> stopping -> exited', () => {
    const { w, sent } = handle(1, { now: 10 });
    assert.equal(w.state, 'booting');
    assert.equal(w.counted, true);
    assert.equal(w.markReady(20), true);
    assert.equal(w.state, 'ready');
    assert.equal(w.readyAt, 20);
    assert.equal(w.retire('max-requests'), true);
    assert.equal(w.state, 'retiring');
    assert.equal(w.counted, false);
    assert.equal(w.reason, 'max-requests');
    assert.equal(w.stop('worker count reduced', 30, 5000), true);
    assert.equal(w.state, 'stopping');
    assert.equal(w.reason, 'max-requests', 'the first reason is the one logged');
    assert.equal(w.killAt, 5030);
    assert.deepEqual(sent, ['SIGTERM']);
    assert.deepEqual(w.exited(), { wasBooting: false, expected: true });
    assert.equal(w.state, 'exited');
    assert.equal(w.exited(), null, 'exits once');
  });

  test('stoppingOnSignal: a stop the worker began on a signal from outside; expected, escalated, never twice', () => {
    const { w, sent } = handle(1);
    w.markReady(0);
    assert.equal(w.stoppingOnSignal('SIGTERM', 100, 5000), true);
    assert.equal(w.state, 'stopping');
    assert.equal(w.counted, false, 'replaced at once');
    assert.equal(w.signaledFromOutside, 'SIGTERM');
    assert.equal(w.reason, 'SIGTERM sent to the worker');
    assert.deepEqual(sent, [], 'the master sends nothing: the worker stops already');
    assert.equal(w.killDue(5099), false);
    assert.equal(w.killDue(5100), true);
    assert.equal(w.stoppingOnSignal('SIGINT', 200, 1000), false, 'once');
    assert.deepEqual(w.exited(), { wasBooting: false, expected: true });
    // The master's own stop came first: the worker's report of that signal changes nothing.
    const other = handle(2).w;
    other.stop('master stopping', 0, 1000);
    assert.equal(other.stoppingOnSignal('SIGTERM', 0, 1000), false);
    assert.equal(other.signaledFromOutside, null);
  });

  test('a spare waits in standby, uncounted, until promoted; then it boots again', () => {
    const { w } = handle(2, { now: 0, spare: true });
    assert.equal(w.counted, false);
    assert.equal(w.isSpare, true);
    assert.equal(w.retire('reload'), false, 'a spare is not retired');
    assert.equal(w.promote(5), false, 'not before it has loaded the app');
    assert.equal(w.markStandby(), true);
    assert.equal(w.state, 'standby');
    assert.equal(w.promote(50), true);
    assert.equal(w.state, 'booting');
    assert.equal(w.spare, false);
    assert.equal(w.isSpare, false);
    assert.equal(w.counted, true);
    assert.equal(w.bootingSince, 50, '--boot-timeout counts again from the promotion');
    assert.equal(w.markStandby(), false, 'a promoted worker never goes back to standby');
    assert.equal(w.markReady(60), true);
    assert.equal(w.state, 'ready');
  });

  test('retire: from a counted worker, or again (a reload) with the newer reason; rolled back by unretire', () => {
    const w = inState('retiring');
    assert.equal(w.retire('reload'), true);
    assert.equal(w.reason, 'reload');
    assert.equal(w.unretire(), true);
    assert.equal(w.state, 'ready');
    assert.equal(w.reason, null);
    assert.equal(w.unretire(), false);
    const booting = inState('booting');
    assert.equal(booting.retire('max-memory'), true);
    assert.equal(booting.state, 'retiring');
  });

  test('a worker that reports ready while retiring or stopping stays so', () => {
    for (const state of ['retiring', 'stopping'] as const) {
      const w = inState(state);
      assert.equal(w.markReady(99), true);
      assert.equal(w.state, state);
      assert.equal(w.readyAt, 99);
    }
  });

  test('illegal transitions are refused and change nothing', () => {
    const refused: [WorkerState, (w: WorkerHandle) => boolean][] = [
      ['booting', (w) => w.markStandby()],
      ['booting', (w) => w.promote(1)],
      ['booting', (w) => w.unretire()],
      ['booting', (w) => w.abort(1, 1000)],
      ['booting', (w) => w.kill()],
      ['ready', (w) => w.markStandby()],
      ['ready', (w) => w.promote(1)],
      ['ready', (w) => w.killBootTimeout(3, 'late')],
      ['standby', (w) => w.retire('reload')],
      ['standby', (w) => w.abort(1, 1000)],
      ['stopping', (w) => w.retire('reload')],
      ['stopping', (w) => w.stop('again', 1, 1)],
      ['stopping', (w) => w.abort(1, 1000)],
      ['stopping', (w) => w.promote(1)],
      ['exited', (w) => w.markReady(1)],
      ['exited', (w) => w.stop('late', 1, 1)],
      ['exited', (w) => w.quickStop(1, 1)],
      ['exited', (w) => w.retire('late')],
      ['exited', (w) => w.kill()],
    ];
    for (const [state, transition] of refused) {
      const w = inState(state, 1, state === 'standby');
      const before = { state: w.state, reason: w.reason, killAt: w.killAt, spare: w.spare };
      assert.equal(transition(w), false, `${transition} from ${state}`);
      assert.deepEqual({ state: w.state, reason: w.reason, killAt: w.killAt, spare: w.spare }, before);
    }
  });

  test('exited() tells how it left: a boot failure, an unexpected death, an asked-for exit', () => {
    assert.deepEqual(inState('booting').exited(), { wasBooting: true, expected: false });
    assert.deepEqual(inState('ready').exited(), { wasBooting: false, expected: false });
    assert.deepEqual(inState('retiring').exited(), { wasBooting: false, expected: true });
    assert.deepEqual(inState('stopping').exited(), { wasBooting: false, expected: true });
  });
});

describe('USR1 (reopen the logs) and a worker that has not said hello', () => {
  test('is held until the worker says hello, then sent once; afterwards it goes at once', () => {
    const { w, sent } = handle();
    w.reopenLogs();
    w.reopenLogs();
    assert.deepEqual(sent, [], 'its listeners may not be installed yet');
    w.listening();
    assert.deepEqual(sent, ['SIGUSR1'], 'owed, and sent once however many came');
    w.reopenLogs();
    assert.deepEqual(sent, ['SIGUSR1', 'SIGUSR1']);
  });

  test('a worker that says hello with nothing owed gets nothing', () => {
    const { w, sent } = handle();
    w.listening();
    assert.deepEqual(sent, []);
  });
});

describe('WorkerHandle stop-then-kill escalation, with an injected clock', () => {
  test('graceful stop: TERM, then KILL once the grace has run out, and only once', () => {
    const { w, sent } = handle();
    w.markReady(0);
    w.stop('master stopping', 1_000, 30_000);
    assert.equal(w.killDue(30_999), false);
    assert.equal(w.killDue(31_000), true);
    assert.equal(w.kill(), true);
    assert.deepEqual(sent, ['SIGTERM', 'SIGKILL']);
    assert.equal(w.reason, 'graceful-timeout');
    assert.equal(exitHint(null, 'SIGKILL', w)?.includes('--graceful-timeout'), true);
    assert.equal(w.killDue(99_999), false);
    assert.equal(w.kill(), false);
    assert.deepEqual(sent, ['SIGTERM', 'SIGKILL']);
  });

  test('quick stop: QUIT, and it shortens a graceful stop under way but never lengthens one', () => {
    const { w, sent } = handle();
    w.markReady(0);
    w.stop('master stopping', 0, 30_000);
    assert.equal(w.quickStop(1_000, 2_000), true);
    assert.equal(w.killAt, 3_000);
    assert.equal(w.quickStop(2_500, 2_000), true);
    assert.equal(w.killAt, 3_000);
    assert.deepEqual(sent, ['SIGTERM', 'SIGQUIT', 'SIGQUIT']);
    assert.equal(w.state, 'stopping');
  });

  test('--timeout: silent past it (ready or retiring only), then ABRT, then KILL; the reason stays timeout', () => {
    const { w, sent } = handle(1, { now: 0 });
    assert.equal(w.timedOut(60_000, 30_000), false, 'a booting worker is watched by --boot-timeout');
    w.markReady(100);
    w.lastHeartbeat = 1_000;
    assert.equal(w.timedOut(31_000, 30_000), false);
    assert.equal(w.timedOut(31_001, 30_000), true);
    assert.equal(w.timedOut(31_001, 0), false, '--timeout 0 is off');
    assert.equal(w.abort(31_001, 1_000), true);
    assert.equal(w.state, 'stopping');
    assert.equal(w.timedOut(99_999, 30_000), false, 'a stopping worker is left to its kill deadline');
    assert.equal(w.killDue(32_000), false);
    assert.equal(w.killDue(32_001), true);
    w.kill();
    assert.deepEqual(sent, ['SIGABRT', 'SIGKILL']);
    assert.equal(w.reason, 'timeout');
  });

  test('--boot-timeout counts from the fork, KILLs at once and records the boot failure', () => {
    const { w, sent } = handle(1, { now: 1_000 });
    assert.equal(w.bootTimedOut(31_000, 30_000), false);
    assert.equal(w.bootTimedOut(31_001, 30_000), true);
    assert.equal(w.killBootTimeout(3, 'not ready within 30 s (--boot-timeout)'), true);
    assert.deepEqual(sent, ['SIGKILL']);
    assert.equal(w.reason, 'boot-timeout');
    assert.deepEqual(w.bootError, { code: 3, message: 'not ready within 30 s (--boot-timeout)' });
    w.markReady(31_002);
    assert.equal(w.bootTimedOut(99_999, 30_000), false, 'a ready worker is past booting');
  });

  test('a process already gone is not an error', () => {
    const w = new WorkerHandle(fakeClusterWorker(7), 1, 0, false, () => {
      throw Object.assign(new Error('kill ESRCH'), { code: 'ESRCH' });
    });
    assert.equal(w.stop('master stopping', 0, 1), true);
    assert.equal(w.state, 'stopping');
  });
});

describe('what a worker held when it is killed (the worker.killed line)', () => {
  test('from its heartbeats: in flight, and once it drains, streams, WebSockets and connections; the oldest request and its age', () => {
    const { w } = handle();
    w.markReady(0);
    w.lastHeartbeat = 40_000;
    w.inflight = 2;
    w.oldest = { request: 'GET /poll', startedAt: 9_600 };
    w.holding = { streaming: 1, websockets: 0, connections: 3 };
    const held = w.held(40_400);
    assert.deepEqual(held, {
      inflight: 2,
      streaming: 1,
      websockets: 0,
      connections: 3,
      request: 'GET /poll',
      requestAgeSeconds: 31,
      heartbeatAgeSeconds: 0,
    });
    assert.equal(
      describeHeld(held),
      '2 requests in flight (1 streaming response), 0 WebSockets, 3 connections; the oldest, GET /poll, started 31 s ago',
    );
  });

  test('before it drained (killed after --timeout): the requests only, and how old the news is', () => {
    const { w } = handle();
    w.markReady(0);
    w.lastHeartbeat = 10_000;
    w.inflight = 1;
    w.oldest = { request: 'POST /report', startedAt: 9_000 };
    const held = w.held(15_000);
    assert.equal(held.streaming, null);
    assert.equal(held.websockets, null);
    assert.equal(held.connections, null);
    assert.equal(
      describeHeld(held),
      '1 request in flight; the oldest, POST /report, started 6 s ago (as of its last heartbeat, 5 s ago)',
    );
    w.inflight = 0;
    w.oldest = null;
    w.holding = { streaming: 0, websockets: 2, connections: 1 };
    w.lastHeartbeat = 15_000;
    assert.equal(describeHeld(w.held(15_000)), '0 requests in flight, 2 WebSockets, 1 connection');
  });
});

describe('keeping the count (planWorkers), with fake handles', () => {
  const base = { target: 2, reloading: false, standby: 0, anyReady: true };
  const ages = (ws: readonly WorkerHandle[]) => ws.map((w) => w.age);

  test('the first boot forks one worker alone, then the rest once one is ready', () => {
    assert.equal(planWorkers([], { ...base, target: 4, anyReady: false }).spawn, 1);
    assert.equal(planWorkers([inState('booting')], { ...base, target: 4, anyReady: false }).spawn, 0);
    assert.equal(planWorkers([inState('ready')], { ...base, target: 4 }).spawn, 3);
  });

  test('TTOU stops the oldest counted workers beyond the target; never below one', () => {
    const ws = [inState('ready', 3), inState('ready', 1), inState('booting', 2)];
    const plan = planWorkers(ws, { ...base, target: countAfterTtou(3) });
    assert.deepEqual(ages(plan.reduce), [1]);
    assert.equal(plan.spawn, 0);
    assert.equal(countAfterTtou(1), 1);
    assert.equal(countAfterTtou(0), 0, 'a master emptied by WINCH stays empty');
  });

  test('a retiring worker is stopped only once enough replacements are ready', () => {
    const old = [inState('retiring', 1), inState('retiring', 2)];
    const booting = planWorkers([...old, inState('ready', 3), inState('booting', 4)], base);
    assert.deepEqual(ages(booting.retire), [1]);
    assert.equal(booting.spawn, 0);
    const none = planWorkers([...old, inState('booting', 3), inState('booting', 4)], base);
    assert.deepEqual(none.retire, []);
    const all = planWorkers([...old, inState('ready', 3), inState('ready', 4)], base);
    assert.deepEqual(ages(all.retire), [1, 2]);
  });

  test('a standby takes the place of a worker that left, the oldest first; not during a reload', () => {
    const ws = [inState('ready', 1), inState('standby', 3, true), inState('standby', 2, true)];
    const plan = planWorkers(ws, { ...base, standby: 2 });
    assert.deepEqual(ages(plan.promote), [2]);
    assert.equal(plan.spawn, 0);
    assert.equal(plan.spawnSpares, 1, 'the promoted spare is replaced');
    const reloading = planWorkers(ws, { ...base, standby: 2, reloading: true });
    assert.deepEqual(reloading.promote, []);
    assert.equal(reloading.spawn, 1);
    assert.equal(reloading.spawnSpares, 0);
    assert.deepEqual(reloading.dropSpares, []);
  });

  test('spares beyond --standby go, the oldest first', () => {
    const ws = [
      inState('ready', 1),
      inState('ready', 2),
      inState('standby', 4, true),
      inState('booting', 3, true),
    ];
    const plan = planWorkers(ws, { ...base, standby: 1 });
    assert.deepEqual(ages(plan.dropSpares), [3]);
    assert.equal(plan.spawnSpares, 0);
    assert.deepEqual(ages(planWorkers(ws, { ...base, target: 0, standby: 0 }).dropSpares), [3, 4]);
  });

  test('during a reload the old spares wait even beyond --standby, and none boots', () => {
    const ws = [inState('ready', 1), inState('ready', 2), inState('standby', 3, true)];
    const plan = planWorkers(ws, { ...base, standby: 0, reloading: true });
    assert.deepEqual(plan.dropSpares, []);
    assert.equal(plan.spawnSpares, 0);
    assert.equal(plan.spawn, 0);
  });

  test('TTOU takes one worker off the target', () => {
    assert.equal(countAfterTtou(3), 2);
    assert.equal(countAfterTtou(2), 1);
  });
});

describe("a settled pool (what run()'s scale() waits for), with fake handles", () => {
  test('settled: exactly the target ready, and nothing else but spares in standby', () => {
    assert.equal(poolSettled([inState('ready', 1), inState('ready', 2)], 2), true);
    assert.equal(
      poolSettled([inState('ready', 1), inState('ready', 2), inState('standby', 3, true)], 2),
      true,
    );
    assert.equal(poolSettled([], 0), true);
  });

  test('not settled: too few or too many ready, or a worker booting, retiring or stopping', () => {
    assert.equal(poolSettled([inState('ready', 1)], 2), false);
    assert.equal(poolSettled([inState('ready', 1), inState('ready', 2)], 1), false);
    for (const state of ['booting', 'retiring', 'stopping'] as const) {
      assert.equal(poolSettled([inState('ready', 1), inState(state, 2)], 1), false, state);
    }
    assert.equal(
      poolSettled([inState('ready', 1), inState('booting', 2, true)], 1),
      false,
      'a spare booting',
    );
  });
});

describe('WorkerHandle, the rest of its record', () => {
  test('a new handle: born now, its pid from the cluster worker (0 when it has none), nothing counted yet', () => {
    const { w } = handle(3, { now: 1_234 });
    assert.equal(w.pid, 1003);
    assert.equal(w.age, 3);
    assert.equal(w.bornAt, 1_234);
    assert.equal(w.bootingSince, 1_234);
    assert.equal(w.lastHeartbeat, 1_234);
    assert.equal(w.readyAt, null);
    assert.equal(w.reason, null);
    assert.equal(w.killAt, null);
    assert.equal(w.spare, false);
    assert.equal(w.isSpare, false);
    assert.equal(w.heardSinceHandback, true, 'a new worker has handed nothing back');
    assert.equal(w.bootError, null);
    const noPid = { process: {}, isConnected: () => false } as unknown as ClusterWorker;
    const signalled: number[] = [];
    const pidless = new WorkerHandle(noPid, 1, 0, false, (pid) => signalled.push(pid));
    assert.equal(pidless.pid, 0);
    assert.equal(pidless.stop('master stopping', 0, 1_000), true);
    assert.equal(pidless.kill(), true);
    assert.deepEqual(signalled, [], 'pid 0 would be the master process group');
  });

  test('send: through the IPC channel while connected (done once written), done at once when it is gone', () => {
    const sentMessages: unknown[][] = [];
    let connected = true;
    let written: (() => void) | undefined;
    const worker = {
      process: { pid: 5 },
      isConnected: () => connected,
      send: (message: unknown, sendHandle: unknown, callback?: () => void) => {
        sentMessages.push([message, sendHandle, callback === undefined]);
        written = callback;
        return true;
      },
    } as unknown as ClusterWorker;
    const w = new WorkerHandle(worker, 1, 0, false, () => {});
    const socket = {};
    let doneCalls = 0;
    w.send({ type: 'stop' } as never, socket, () => doneCalls++);
    assert.deepEqual(sentMessages, [[{ type: 'stop' }, socket, false]]);
    assert.equal(doneCalls, 0, 'not before the message is written');
    written?.();
    assert.equal(doneCalls, 1);
    w.send({ type: 'stop' } as never);
    assert.deepEqual(
      sentMessages[1],
      [{ type: 'stop' }, undefined, true],
      'no callback when none is asked for',
    );
    connected = false;
    w.send({ type: 'stop' } as never, undefined, () => doneCalls++);
    assert.equal(sentMessages.length, 2, 'nothing is sent to a worker that is gone');
    assert.equal(doneCalls, 2);
    w.send({ type: 'stop' } as never);
    assert.equal(sentMessages.length, 2);
  });

  test('counted and isSpare in each state', () => {
    const cases: [WorkerState, boolean, boolean, boolean][] = [
      // state, spare, counted, isSpare
      ['booting', false, true, false],
      ['booting', true, false, true],
      ['standby', true, false, true],
      ['ready', false, true, false],
      ['retiring', false, false, false],
      ['stopping', false, false, false],
      ['exited', false, false, false],
    ];
    for (const [state, spare, counted, isSpare] of cases) {
      const w = inState(state, 1, spare);
      assert.equal(w.counted, counted, `counted ${state} spare=${spare}`);
      assert.equal(w.isSpare, isSpare, `isSpare ${state} spare=${spare}`);
    }
    const stoppedSpare = handle(1, { spare: true }).w;
    stoppedSpare.stop('spare dropped', 0, 1_000);
    assert.equal(stoppedSpare.isSpare, false, 'a spare being stopped is no longer one');
    assert.equal(stoppedSpare.counted, false);
  });

  test('a stop remembers its own reason when none was given before', () => {
    const w = inState('ready');
    assert.equal(w.stop('worker count reduced', 0, 1_000), true);
    assert.equal(w.reason, 'worker count reduced');
    assert.equal(w.killAt, 1_000);
  });

  test('a quick stop of a worker that was not stopping: QUIT, and KILL at now + grace', () => {
    const { w, sent } = handle();
    w.markReady(0);
    assert.equal(w.quickStop(500, 2_000), true);
    assert.equal(w.state, 'stopping');
    assert.equal(w.killAt, 2_500);
    assert.deepEqual(sent, ['SIGQUIT']);
    assert.equal(w.killDue(2_499), false);
    assert.equal(w.killDue(2_500), true);
  });

  test('a retiring worker can time out and be aborted too; the reason becomes timeout', () => {
    const { w, sent } = handle();
    w.markReady(0);
    w.retire('reload');
    w.lastHeartbeat = 0;
    assert.equal(w.timedOut(1_001, 1_000), true);
    assert.equal(w.abort(1_001, 500), true);
    assert.equal(w.reason, 'timeout');
    assert.equal(w.killAt, 1_501);
    assert.deepEqual(sent, ['SIGABRT']);
    assert.equal(w.kill(), true);
    assert.equal(w.reason, 'timeout');
  });

  test('--boot-timeout of a promoted standby counts from the promotion; only a booting worker is killed for it', () => {
    const { w } = handle(1, { now: 0, spare: true });
    w.markStandby();
    assert.equal(w.bootTimedOut(99_999, 1_000), false, 'a standby waits as long as it must');
    assert.equal(w.killBootTimeout(3, 'late'), false);
    w.promote(10_000);
    assert.equal(w.bootTimedOut(11_000, 1_000), false);
    assert.equal(w.bootTimedOut(11_001, 1_000), true);
  });

  test('kill after a stop with no timeout says the grace ran out; exited() clears the kill deadline', () => {
    const w = inState('stopping');
    assert.equal(w.killAt, 1_000);
    assert.equal(w.exited()?.expected, true);
    assert.equal(w.killAt, null);
    assert.equal(w.killDue(5_000), false);
  });

  test('a spare being stopped cannot go to standby any more', () => {
    const { w } = handle(1, { spare: true });
    w.stop('spare dropped', 0, 1_000);
    assert.equal(w.markStandby(), false);
    assert.equal(w.state, 'stopping');
  });

  test('by default a handle is no spare, and signals its process for real', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      assert.ok(child.pid);
      // Bounded: a handle that sends nothing fails here instead of hanging the file.
      const exited = once(child, 'exit', { signal: AbortSignal.timeout(10_000) });
      const w = new WorkerHandle(fakeClusterWorker(child.pid), 1, 0);
      assert.equal(w.spare, false);
      assert.equal(w.counted, true);
      assert.equal(w.stop('master stopping', 0, 1_000), true);
      assert.deepEqual(await exited, [null, 'SIGTERM']);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
