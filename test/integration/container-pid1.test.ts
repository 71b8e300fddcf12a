/**
 * The master as a container runs it (docs/deploy.md, "Containers"): PID 1 of its own PID namespace,
 * started directly (exec-form CMD), stopped by a SIGTERM sent from outside the namespace, as
 * `docker stop` does. There is no container runtime here; `unshare --pid --fork` gives the master
 * the same position. The kernel drops a signal sent to a namespace's PID 1 unless PID 1 has a handler
 * for it, which is why this is worth a test.
 */

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { killGroup, track } from '../helpers/processes.js';
import { CLI, fixture, type LogLine, ROOT } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const canUnshare = spawnSync('unshare', ['--pid', '--fork', 'true']).status === 0;
const leaders: number[] = [];
after(() => {
  for (const pid of leaders) killGroup(pid);
});

describe('the master as PID 1 of a container', () => {
  test('a SIGTERM from outside drains the in-flight request and the master exits 0', {
    skip: canUnshare ? false : 'unshare --pid needs root or user namespaces',
  }, async () => {
    const child = spawn(
      'unshare',
      [
        '--pid',
        '--fork',
        '--kill-child',
        process.execPath,
        CLI,
        fixture('node-pid.mjs'),
        '-w',
        '2',
        '-b',
        '127.0.0.1:0',
        '--log-format',
        'json',
      ],
      {
        cwd: ROOT,
        env: { ...process.env, FORCE_COLOR: '0' },
        stdio: ['ignore', 'ignore', 'pipe'],
        detached: true,
      },
    );
    track(child);
    leaders.push(child.pid!);
    const logs: LogLine[] = [];
    let pending = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop()!;
      for (const line of lines) if (line.startsWith('{')) logs.push(JSON.parse(line) as LogLine);
    });
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const event = (name: string, predicate: (l: LogLine) => boolean = () => true) =>
      waitFor(name, () => logs.find((l) => l.event === name && predicate(l)), { timeoutMs: 60_000 });

    const ready = await event('master.ready');
    assert.equal(ready.pid, 1, 'the master is PID 1 in its namespace');
    const url = String((await event('master.listening')).url);
    const inFlight = request(`${url}/slow?burn=1&ms=1500`);
    await event('app.burning');

    // The master's pid as seen from outside: unshare's only child.
    const master = Number(
      readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)[0],
    );
    assert.ok(master > 1, `no child of unshare (${master})`);
    process.kill(master, 'SIGTERM');

    const reply = await inFlight;
    assert.equal(reply.status, 200);
    const stopped = await event('master.stopped');
    assert.equal(stopped.exitCode, 0);
    assert.equal(await exit, 0);
  });
});
