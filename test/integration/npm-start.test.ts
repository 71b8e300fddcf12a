/**
 * `npm start` as a container or a service runs it (docs/deploy.md, "npm scripts"): npm is PID 1 of a
 * PID namespace with no terminal, and the stop is a SIGTERM sent to it from outside, as `docker stop`
 * sends it. npm runs the script through `sh -c`; only with `exec` in the script does the master get the
 * signal and drain.
 */

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { PidNamespace } from '../helpers/pid-namespace.js';
import { CLI, fixture } from '../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'unicorn-npm-start-'));
const namespaces: PidNamespace[] = [];
after(() => {
  for (const ns of namespaces) ns.kill();
  rmSync(dir, { recursive: true, force: true });
});

/** A project whose start script runs the CLI, prefixed or not by `exec`; `npm start` run as PID 1. */
function npmStart(name: string, exec: boolean) {
  const project = join(dir, name);
  const lifecycle = join(project, 'lifecycle.log');
  const command = `node ${CLI} ${fixture('drain-shutdown.mjs')} -w 1 -b 127.0.0.1:0 --log-format json --graceful-timeout 20`;
  const scripts = { start: exec ? `exec ${command}` : command };
  mkdirSync(project);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name, version: '1.0.0', private: true, scripts }),
  );
  const ns = new PidNamespace(['npm', 'start', '--no-update-notifier'], {
    cwd: project,
    env: { LIFECYCLE_LOG: lifecycle },
  });
  namespaces.push(ns);
  return { ns, lifecycle };
}

describe('npm start in a container, stopped with SIGTERM to npm', () => {
  test('"start": "exec unicorn-ts ...": the in-flight request completes, shutdown() runs, no warning', async () => {
    const { ns, lifecycle } = npmStart('with-exec', true);
    const ready = await ns.event('master.ready');
    const url = String((await ns.event('master.listening')).url);
    assert.equal(ns.logs.filter((l) => l.event === 'master.shell_parent').length, 0);
    const inFlight = request(`${url}/?ms=1500`);
    await ns.event('app.waiting');

    process.kill(ns.init(), 'SIGTERM');

    const reply = await inFlight;
    assert.equal(reply.status, 200);
    const stopped = await ns.event('master.stopped', (l) => l.pid === ready.pid);
    assert.equal(stopped.exitCode, 0);
    assert.equal((await ns.exit).code, 0);
    assert.match(readFileSync(lifecycle, 'utf8'), /^shutdown \d+$/m, 'shutdown() ran');
  });

  test('"start": "unicorn-ts ..." (no exec): the master warns at start that sh -c will not pass the stop on', async () => {
    const { ns, lifecycle } = npmStart('without-exec', false);
    const warning = await ns.event('master.shell_parent');
    assert.equal(warning.shell, 'sh');
    assert.equal(warning.script, 'start');
    assert.match(String(warning.msg), /exec unicorn-ts/);
    const ready = await ns.event('master.ready');
    const url = String((await ns.event('master.listening')).url);
    const inFlight = request(`${url}/?ms=1500`).then(
      (reply) => ({ reply, error: null }),
      (error: Error) => ({ reply: null, error }),
    );
    await ns.event('app.waiting');

    process.kill(ns.init(), 'SIGTERM');

    // What docs/deploy.md says happens: npm passes TERM to sh, which dies of it; npm exits with it,
    // and the kernel kills the rest of the namespace, the master and its worker included.
    const outcome = await inFlight;
    assert.equal(outcome.reply, null, 'the request in flight was lost');
    // npm reports the script killed by the signal and exits 1.
    assert.equal((await ns.exit).code, 1);
    assert.match(ns.stderr, /signal SIGTERM/);
    assert.equal(ns.logs.filter((l) => l.event === 'master.stopping' && l.pid === ready.pid).length, 0);
    assert.equal(existsSync(lifecycle), false, 'shutdown() never ran');
  });
});
