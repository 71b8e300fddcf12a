import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request, unixGet } from '../helpers/http.js';
import { fixture, runCli, startServer, stopAll } from '../helpers/server.js';
import { isAlive, waitFor } from '../helpers/wait.js';

after(stopAll);
const dir = mkdtempSync(join(tmpdir(), 'unicorn-binds-'));

describe('binds', () => {
  test('several binds at once: IPv4, IPv6 and a unix socket, all served by the same workers', async () => {
    const sock = join(dir, 'several.sock');
    const server = await startServer([
      fixture('pid.mjs'),
      '-b',
      '127.0.0.1:0',
      '-b',
      '[::1]:0',
      '-b',
      `unix:${sock}`,
    ]);
    const urls = server.events('master.listening').map((l) => String(l.url));
    assert.equal(urls.length, 3);
    const v6 = urls.find((u) => u.startsWith('http://[::1]'))!;
    const pid = String(server.liveWorkerPids()[0]);
    assert.equal((await request(`${urls[0]}/`)).body, pid);
    assert.equal((await request(`${v6}/`)).body, pid);
    assert.equal(await unixGet(sock), pid);
    await server.stop();
    assert.equal(existsSync(sock), false, 'the unix socket is removed on exit');
  });

  test('connections made before the first worker is ready wait for it instead of being refused', async () => {
    const sock = join(dir, 'early.sock');
    const server = await startServer(
      [fixture('slow-import.mjs'), '-b', '127.0.0.1:0', '-b', `unix:${sock}`, '--log-level', 'debug'],
      { waitFor: 'master.queueing', waitForLevel: 'debug' },
    );
    const urls = server.events('master.queueing')[0]!.urls as string[];
    assert.equal(server.events('master.queueing')[0]!.level, 'debug', 'the sockets listen early');
    const tcp = request(`${urls[0]}/`);
    const unix = unixGet(sock);
    // Sent while the app is still importing: no worker is ready yet.
    assert.equal(server.events('worker.ready').length, 0);
    assert.deepEqual(await Promise.all([tcp.then((r) => [r.status, r.body]), unix]), [
      [200, 'imported\n'],
      'imported\n',
    ]);
    assert.equal(server.events('worker.ready').length, 1);
  });

  test('a stale unix socket file left by a killed master is replaced', async () => {
    const sock = join(dir, 'stale.sock');
    const first = await startServer([fixture('pid.mjs'), '-b', `unix:${sock}`]);
    process.kill(-first.pid, 'SIGKILL');
    await waitFor('first master gone', () => !isAlive(first.pid));
    assert.ok(existsSync(sock));
    const second = await startServer([fixture('pid.mjs'), '-b', `unix:${sock}`]);
    assert.equal(await unixGet(sock), String(second.liveWorkerPids()[0]));
  });

  test('a malformed bind names the address', async () => {
    const { code, stderr } = await runCli([fixture('pid.mjs'), '-b', '::1:80', '--log-format', 'json']);
    assert.equal(code, 1);
    assert.match(stderr, /invalid bind address "::1:80": IPv6 addresses go in brackets/);
  });
});

describe('process settings', () => {
  test('--chdir resolves APP_MODULE from that directory', async () => {
    const server = await startServer(['pid.mjs', '--chdir', fixture('')]);
    assert.equal((await request(`${server.url}/`)).status, 200);
  });

  test('--pid writes the master pid, a second master on it refuses to start, and exit removes it', async () => {
    const pidfile = join(dir, 'master.pid');
    const server = await startServer([fixture('pid.mjs'), '-p', pidfile]);
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(server.pid));
    const second = await runCli([
      fixture('pid.mjs'),
      '-p',
      pidfile,
      '-b',
      '127.0.0.1:0',
      '--log-format',
      'json',
    ]);
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, new RegExp(`held by a running master \\(pid ${server.pid}\\)`));
    assert.equal((await request(`${server.url}/`)).status, 200, 'the first master still serves');
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(server.pid));
    await server.stop();
    assert.equal(existsSync(pidfile), false);
  });

  test('a pidfile left by a master killed with -9 is taken over', async () => {
    const pidfile = join(dir, 'stale.pid');
    const first = await startServer([fixture('pid.mjs'), '-p', pidfile]);
    process.kill(-first.pid, 'SIGKILL');
    await waitFor('first master gone', () => !isAlive(first.pid));
    const second = await startServer([fixture('pid.mjs'), '-p', pidfile]);
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(second.pid));
  });

  test('process titles name the role and --name', async () => {
    const server = await startServer([fixture('pid.mjs'), '-n', 'shop-api']);
    const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    assert.match(cmdline(server.pid), /^unicorn-ts: master \[shop-api\]/);
    assert.match(cmdline(server.liveWorkerPids()[0]!), /^unicorn-ts: worker \[shop-api\]/);
  });

  test('--error-logfile writes the error log to a file, and --log-level filters it', async () => {
    const file = join(dir, 'error.log');
    // At warning level neither master.listening nor worker.ready reaches the file: readiness is a
    // request over a unix socket, which queues in the master's socket until the worker serves.
    const sock = join(dir, 'filtered.sock');
    const server = await startServer(
      [fixture('pid.mjs'), '--error-logfile', file, '--log-level', 'warning', '-b', `unix:${sock}`],
      { waitFor: null },
    );
    await assert.rejects(server.waitForEvent('worker.ready'), /--log-level warning, which filters it out/);
    const pid = Number(await waitFor('a worker to answer', () => unixGet(sock)));
    assert.ok(pid > 0 && pid !== server.pid);
    process.kill(pid, 'SIGKILL');
    const line = await waitFor('worker.exited in the file', () =>
      readFileSync(file, 'utf8')
        .split('\n')
        .find((l) => l.includes('"worker.exited"')),
    );
    assert.equal(JSON.parse(line).level, 'error');
    assert.equal(JSON.parse(line).workerPid, pid);
    assert.ok(!readFileSync(file, 'utf8').includes('"level":"info"'), 'info lines are filtered out');
  });

  test('--max-requests recycles a worker: its replacement is ready first, and no request fails', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '1', '--max-requests', '5']);
    const first = server.liveWorkerPids()[0]!;
    const pids = new Set<string>();
    // Keep a client busy until two recycles have happened; every single request must succeed, so
    // a failed one ends the test at once instead of being retried.
    const deadline = Date.now() + 60_000;
    while (pids.size < 3) {
      assert.ok(
        Date.now() < deadline,
        `timed out waiting for two recycles (pids seen: ${[...pids].join(', ')})`,
      );
      const reply = await request(`${server.url}/`);
      assert.equal(reply.status, 200);
      pids.add(reply.body);
    }
    const retired = await server.waitForEvent('worker.retire', (l) => l.workerPid === first);
    assert.equal(retired.reason, 'max-requests');
    // The replacement was ready before the old worker was told to stop.
    const readyIndex = server.logs.findIndex((l) => l.event === 'worker.ready' && l.pid !== first);
    assert.ok(readyIndex !== -1 && readyIndex < server.logs.indexOf(retired));
  });
});

describe('a wrong interface guess names the flag to pass', () => {
  test('a fetch handler guessed as node: the 500 is logged with "--interface fetch", and the flag fixes it', async () => {
    const server = await startServer([fixture('ambiguous-fetch.mjs')]);
    assert.equal(server.events('worker.app_loaded')[0]!.interface, 'node');
    assert.equal((await request(`${server.url}/`)).status, 500);
    await server.waitForEvent('request.error', (l) => /--interface fetch/.test(String(l.msg)));
    const fixed = await startServer([fixture('ambiguous-fetch.mjs'), '--interface', 'fetch']);
    assert.equal((await request(`${fixed.url}/`)).body, 'fetch object object');
  });

  test('a node handler guessed as fetch: the 500 is logged with "--interface node", and the flag fixes it', async () => {
    const server = await startServer([fixture('rest-node.mjs')]);
    assert.equal((await request(`${server.url}/`)).status, 500);
    const line = await server.waitForEvent('request.error');
    assert.match(String(line.hint ?? line.msg), /--interface node/);
    const fixed = await startServer([fixture('rest-node.mjs'), '--interface', 'node']);
    assert.equal((await request(`${fixed.url}/`)).body, 'node');
  });
});
