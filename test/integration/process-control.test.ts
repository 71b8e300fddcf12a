import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { killGroup } from '../helpers/processes.js';
import { fixture, runCli, startServer, stopAll } from '../helpers/server.js';
import { isAlive, waitFor } from '../helpers/wait.js';

after(stopAll);
const dir = mkdtempSync(join(tmpdir(), 'unicorn-proc-'));
chmodSync(dir, 0o755);
const isRoot = process.getuid?.() === 0;

function statusField(pid: number, field: string): string {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  return line?.split(/\s+/)[1] ?? '';
}

describe('process controls', () => {
  test('-u and -g: workers drop to that user and group; the master keeps its own', {
    skip: isRoot ? false : 'needs root',
  }, async () => {
    const app = join(dir, 'whoami.mjs');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: this is app source written to a file
    writeFileSync(app, 'export default () => new Response(`${process.getuid()} ${process.getgid()}`);\n');
    chmodSync(app, 0o644);
    const server = await startServer([app, '-u', 'nobody', '-g', 'nogroup']);
    const nobody = Number(statusField(server.liveWorkerPids()[0]!, 'Uid'));
    assert.notEqual(nobody, 0);
    assert.equal((await request(`${server.url}/`)).body.split(' ')[0], String(nobody));
    assert.equal(statusField(server.pid, 'Uid'), '0', 'the master is still root');
  });

  test('--umask applies to files the master creates (the pidfile and unix sockets)', async () => {
    const pidfile = join(dir, 'umask.pid');
    const sock = join(dir, 'umask.sock');
    await startServer([fixture('pid.mjs'), '--umask', '0o077', '-p', pidfile, '-b', `unix:${sock}`]);
    assert.equal(statSync(pidfile).mode & 0o777, 0o600);
    assert.equal(statSync(sock).mode & 0o077, 0);
  });

  test('-D detaches: the command returns, the master runs in the background, --pid finds it', async () => {
    const pidfile = join(dir, 'daemon.pid');
    const log = join(dir, 'daemon.log');
    const result = await runCli([
      fixture('pid.mjs'),
      '-D',
      '-p',
      pidfile,
      '--error-logfile',
      log,
      '-b',
      '127.0.0.1:0',
      '--log-format',
      'json',
    ]);
    assert.equal(result.code, 0);
    const pid = await waitFor('pidfile', () =>
      existsSync(pidfile) ? Number(readFileSync(pidfile, 'utf8').trim()) || undefined : undefined,
    );
    try {
      assert.notEqual(pid, Number(/pid (\d+)/.exec(result.stdout)?.[1] ?? 0) === pid ? -1 : pid);
      const url = await waitFor(
        'listening',
        () => /"url":"(http:[^"]+)"/.exec(existsSync(log) ? readFileSync(log, 'utf8') : '')?.[1],
      );
      await waitFor('serving', async () => (await request(`${url}/`)).status === 200);
      process.kill(pid, 'SIGTERM');
      await waitFor('daemon exit', () => !isAlive(pid));
      assert.equal(existsSync(pidfile), false);
    } finally {
      killGroup(pid);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  });

  test('--reload: a changed file restarts the workers; a breaking change keeps the old ones until it is fixed', async () => {
    const appDir = mkdtempSync(join(tmpdir(), 'unicorn-reload-'));
    const app = join(appDir, 'app.mjs');
    writeFileSync(app, "export default () => new Response('v1');\n");
    const server = await startServer([app, '--reload', '-w', '1']);
    assert.equal((await request(`${server.url}/`)).body, 'v1');
    writeFileSync(app, "export default () => new Response('v2');\n");
    await server.waitForEvent('reload.done');
    assert.equal((await request(`${server.url}/`)).body, 'v2');
    const mark = server.logs.length;
    writeFileSync(app, 'export default () => {\n');
    await server.waitForEvent('reload.failed', () => true, { after: mark });
    assert.equal((await request(`${server.url}/`)).body, 'v2', 'the old worker keeps serving');
    writeFileSync(app, "export default () => new Response('v3');\n");
    await server.waitForEvent('reload.done', () => true, { after: mark });
    assert.equal((await request(`${server.url}/`)).body, 'v3');
    assert.equal(server.exited, false);
  });
});
