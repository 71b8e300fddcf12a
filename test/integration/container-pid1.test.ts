/**
 * The master as a container runs it (docs/deploy.md, "Docker"), in a PID namespace of its own
 * (`unshare --pid --fork`, as a container runtime does; there is none on the machines the tests run
 * on), stopped by a SIGTERM sent from outside the namespace, as `docker stop` does.
 *
 * - The master alone as PID 1 (exec-form CMD, no init): the kernel drops a signal sent to a
 *   namespace's PID 1 unless PID 1 handles it, and the master does, so TERM drains. But Node waits
 *   only for the children it started, so an orphaned subprocess of the app stays a zombie: the master
 *   says so at start.
 * - tini as PID 1, the master its child (examples/docker/Dockerfile's ENTRYPOINT): orphans are reaped,
 *   and tini passes TERM on, so the master drains as before.
 */

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { PidNamespace } from '../helpers/pid-namespace.js';
import { CLI, fixture, ROOT } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'unicorn-pid1-'));
const namespaces: PidNamespace[] = [];
after(() => {
  for (const ns of namespaces) ns.kill();
  rmSync(dir, { recursive: true, force: true });
});

function start(name: string, init: string[]) {
  const lifecycle = join(dir, `${name}.log`);
  const ns = new PidNamespace(
    [
      ...init,
      process.execPath,
      CLI,
      fixture('orphan.mjs'),
      '-w',
      '2',
      '-b',
      '127.0.0.1:0',
      '--log-format',
      'json',
      '--graceful-timeout',
      '20',
    ],
    { cwd: ROOT, env: { LIFECYCLE_LOG: lifecycle } },
  );
  namespaces.push(ns);
  return { ns, lifecycle };
}

/**
 * Children of `parent` (a pid outside the namespace) named `name` (any name when undefined), with their
 * state (Z: zombie).
 */
function childrenNamed(parent: number, name?: string): Array<{ pid: number; state: string }> {
  const found: Array<{ pid: number; state: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${entry}/status`, 'utf8');
    } catch {
      continue; // Gone meanwhile.
    }
    const field = (key: string) => new RegExp(`^${key}:\\s*(\\S+)`, 'm').exec(status)?.[1];
    if (Number(field('PPid')) === parent && (name === undefined || field('Name') === name))
      found.push({ pid: Number(entry), state: field('State') ?? '?' });
  }
  return found;
}

/** A request held in flight, a TERM to the namespace's PID 1: the request completes, shutdown() runs. */
async function termDrains(
  ns: PidNamespace,
  lifecycle: string,
  url: string,
  masterPid: number,
): Promise<void> {
  const inFlight = request(`${url}/?ms=1500`);
  await ns.event('app.waiting');
  process.kill(ns.init(), 'SIGTERM');
  const reply = await inFlight;
  assert.equal(reply.status, 200);
  const stopped = await ns.event('master.stopped', (l) => l.pid === masterPid);
  assert.equal(stopped.exitCode, 0);
  assert.equal((await ns.exit).code, 0);
  assert.equal(existsSync(lifecycle), true, 'shutdown() ran');
  assert.equal(readFileSync(lifecycle, 'utf8').match(/^shutdown \d+$/gm)?.length, 2, 'in both workers');
}

describe('the master in a container', () => {
  test('as PID 1 itself: TERM from outside drains; an orphaned subprocess stays a zombie, as the start-up warning says', async () => {
    const { ns, lifecycle } = start('bare', []);
    const warning = await ns.event('master.pid1');
    assert.equal(warning.pid, 1);
    const ready = await ns.event('master.ready');
    assert.equal(ready.pid, 1, 'the master is PID 1 in its namespace');
    const url = String((await ns.event('master.listening')).url);

    assert.equal((await request(`${url}/orphan`)).body, 'orphaned');
    const zombie = await waitFor(
      'the orphaned sleep to exit',
      () => childrenNamed(ns.init(), 'sleep').find((c) => c.state === 'Z'),
      { timeoutMs: 10_000 },
    );
    assert.equal(zombie.state, 'Z');

    await termDrains(ns, lifecycle, url, 1);
  });

  test('under tini (the Dockerfile ENTRYPOINT): orphans are reaped, TERM to tini drains the master', async () => {
    const { ns, lifecycle } = start('tini', ['tini', '--']);
    const ready = await ns.event('master.ready');
    assert.equal(ready.pid, 2, 'the master is tini’s child');
    assert.equal(ns.logs.filter((l) => l.event === 'master.pid1').length, 0);
    const url = String((await ns.event('master.listening')).url);

    const before = childrenNamed(ns.init()).map((c) => c.pid);
    assert.equal(before.length, 1, 'tini has one child, the master');
    assert.equal((await request(`${url}/orphan`)).body, 'orphaned');
    // The background job is tini's child from the moment sh exits. It is matched by pid, not by name:
    // on a loaded machine it may not have exec'd `sleep` yet, and is still called sh. Once the sleep
    // (2 s) has exited, tini reaps it.
    const orphans = childrenNamed(ns.init()).filter((c) => !before.includes(c.pid));
    assert.equal(orphans.length, 1, 'the orphan was reparented to tini');
    const orphan = orphans[0]!.pid;
    await waitFor(
      'tini to reap the orphaned sleep',
      () => !childrenNamed(ns.init()).some((c) => c.pid === orphan),
      { timeoutMs: 10_000 },
    );

    await termDrains(ns, lifecycle, url, 2);
  });
});
