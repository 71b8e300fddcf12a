import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { fixture, runCli, type Server, startServer, stopAll } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

after(stopAll);
const dir = mkdtempSync(join(tmpdir(), 'unicorn-hooks-'));

function config(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
}

/**
 * A config whose every hook logs `{ hookRan: NAME }` through the logger it is given; the master's
 * hooks that concern one worker add its pid as `about`.
 */
const RECORDING = `
const ran = (name, log, about) => log.info({ hookRan: name, about }, name);
export default {
  onStarting: (s) => ran('onStarting', s.log),
  onReload: (s) => ran('onReload', s.log),
  whenReady: (s) => ran('whenReady', s.log),
  preFork: (s) => ran('preFork', s.log),
  postFork: (s, w) => ran('postFork', s.log, w.pid),
  postWorkerInit: (w) => ran('postWorkerInit', w.log),
  preRequest: (w) => ran('preRequest', w.log),
  postRequest: (w) => ran('postRequest', w.log),
  childExit: (s, w) => ran('childExit', s.log, w.pid),
  workerExit: (w) => ran('workerExit', w.log),
  workerInt: (w) => ran('workerInt', w.log),
  workerAbort: (w) => ran('workerAbort', w.log),
  nworkersChanged: (s) => ran('nworkersChanged', s.log),
  onExit: (s) => ran('onExit', s.log),
};
`;

interface HookLine {
  hook: string;
  role: string;
  pid: number;
  /** The worker a master hook is about. */
  about: number | undefined;
  /** Position in the log: the master and the workers write the same pipe synchronously, so a line
   * caused by another (a worker's ready message, the master's signal) always comes after it. */
  at: number;
}

function hookLines(server: Server): HookLine[] {
  return server.logs.flatMap((l, at) =>
    typeof l.hookRan === 'string'
      ? [
          {
            hook: l.hookRan,
            role: String(l.role),
            pid: l.pid as number,
            about: l.about as number | undefined,
            at,
          },
        ]
      : [],
  );
}

/** The hooks the master ran, in order. */
const masterHooks = (lines: HookLine[]) => lines.filter((l) => l.role === 'master').map((l) => l.hook);
/** The hooks worker `pid` ran, in order. */
const workerHooks = (lines: HookLine[], pid: number) =>
  lines.filter((l) => l.role === 'worker' && l.pid === pid).map((l) => l.hook);

/** The one line for this hook (in this worker, or about it); fails if it ran never or twice. */
function only(lines: HookLine[], hook: string, pid?: number): HookLine {
  const found = lines.filter(
    (l) => l.hook === hook && (pid === undefined || (l.role === 'worker' ? l.pid : l.about) === pid),
  );
  assert.equal(found.length, 1, `${hook}${pid === undefined ? '' : ` for ${pid}`} ran once: ${found.length}`);
  return found[0]!;
}

function ranBefore(a: HookLine, b: HookLine): void {
  assert.ok(a.at < b.at, `${a.role}:${a.hook} (${a.pid}) before ${b.role}:${b.hook} (${b.pid})`);
}

describe('server hooks', () => {
  test('run where and when Gunicorn runs them, each once, in order (start, request, HUP, TTIN, TERM)', async () => {
    const lifecycleLog = join(dir, 'order.lifecycle');
    const server = await startServer(
      [fixture('lifecycle.mjs'), '-w', '1', '-c', config('recording.mjs', RECORDING)],
      { env: { LIFECYCLE_LOG: lifecycleLog } },
    );
    const [first] = server.liveWorkerPids();
    await request(`${server.url}/`);
    // postRequest runs when the response is over, which may be just after the client has it.
    await waitFor('postRequest', () => hookLines(server).some((l) => l.hook === 'postRequest'));
    server.signal('SIGHUP');
    const reloaded = await server.waitForEvent('reload.done');
    const [second] = reloaded.workerPids as number[];
    const mark = server.logs.length;
    server.signal('SIGTTIN');
    const third = (await server.waitForEvent('worker.ready', () => true, { after: mark })).pid as number;
    server.signal('SIGTERM');
    assert.equal((await server.waitForExit()).code, 0);

    const lines = hookLines(server);
    assert.deepEqual(masterHooks(lines), [
      'onStarting',
      'preFork',
      'postFork',
      'whenReady',
      'onReload',
      'preFork',
      'postFork',
      'childExit',
      'nworkersChanged',
      'preFork',
      'postFork',
      'childExit',
      'childExit',
      'onExit',
    ]);
    assert.deepEqual(workerHooks(lines, first!), [
      'postWorkerInit',
      'preRequest',
      'postRequest',
      'workerExit',
    ]);
    assert.deepEqual(workerHooks(lines, second!), ['postWorkerInit', 'workerExit']);
    assert.deepEqual(workerHooks(lines, third), ['postWorkerInit', 'workerExit']);
    for (const pid of [first!, second!, third]) {
      ranBefore(only(lines, 'postFork', pid), only(lines, 'postWorkerInit', pid));
      ranBefore(only(lines, 'workerExit', pid), only(lines, 'childExit', pid));
    }
    ranBefore(only(lines, 'postWorkerInit', first), only(lines, 'whenReady'));
    ranBefore(only(lines, 'postRequest'), only(lines, 'onReload'));
    // Rolling: the old worker is stopped only once its replacement is ready.
    ranBefore(only(lines, 'postWorkerInit', second), only(lines, 'workerExit', first));
    ranBefore(only(lines, 'childExit', first), only(lines, 'nworkersChanged'));
    // workerExit comes after shutdown() has run.
    const lifecycle = readFileSync(lifecycleLog, 'utf8').trim().split('\n');
    for (const pid of [first!, second!, third])
      assert.ok(lifecycle.includes(`shutdown ${pid}`), lifecycle.join('; '));
  });

  for (const signal of ['SIGINT', 'SIGQUIT'] as const) {
    test(`a quick stop (${signal}) runs workerInt in every worker, not shutdown() nor workerExit`, async () => {
      const lifecycleLog = join(dir, `${signal}.lifecycle`);
      const server = await startServer(
        [fixture('lifecycle.mjs'), '-w', '2', '-c', config('recording.mjs', RECORDING)],
        { env: { LIFECYCLE_LOG: lifecycleLog } },
      );
      const pids = server.liveWorkerPids();
      server.signal(signal);
      assert.equal((await server.waitForExit()).code, 0);
      const lines = hookLines(server);
      for (const pid of pids) {
        assert.deepEqual(workerHooks(lines, pid), ['postWorkerInit', 'workerInt']);
        ranBefore(only(lines, 'workerInt', pid), only(lines, 'childExit', pid));
        ranBefore(only(lines, 'childExit', pid), only(lines, 'onExit'));
      }
      assert.deepEqual(masterHooks(lines).slice(-3), ['childExit', 'childExit', 'onExit']);
      // The workers were sent QUIT, not TERM: no drain, so shutdown() never ran.
      const lifecycle = readFileSync(lifecycleLog, 'utf8').trim().split('\n');
      assert.deepEqual(
        lifecycle.map((l) => l.split(' ')[0]),
        ['startup', 'startup'],
      );
    });
  }

  test('--timeout: SIGABRT runs workerAbort in a worker still able to run it, and it exits 1 before the SIGKILL', async () => {
    const server = await startServer([
      fixture('abort-probe.mjs'),
      '-w',
      '1',
      '-t',
      '2',
      '--no-timeout-stack',
      '-c',
      config('recording.mjs', RECORDING),
    ]);
    const [pid] = server.liveWorkerPids();
    assert.equal((await request(`${server.url}/mute`)).body, String(pid));
    await server.waitForEvent('worker.timeout', (l) => l.workerPid === pid, { level: 'critical' });
    const exited = await server.waitForEvent('worker.exited', (l) => l.workerPid === pid, { level: 'error' });
    assert.equal(exited.code, 1, 'the worker exited on its own after workerAbort, before SIGKILL');
    assert.equal(exited.signal, null);
    // childExit runs just after the worker.exited line.
    await waitFor('childExit', () =>
      hookLines(server).some((l) => l.hook === 'childExit' && l.about === pid),
    );
    const lines = hookLines(server);
    const notPerRequest = workerHooks(lines, pid!).filter((h) => h !== 'preRequest' && h !== 'postRequest');
    assert.deepEqual(notPerRequest, ['postWorkerInit', 'workerAbort']);
    ranBefore(only(lines, 'workerAbort', pid), only(lines, 'childExit', pid));
    await waitFor('a replacement', () => server.liveWorkerPids().some((p) => p !== pid));
  });

  test('an error in postWorkerInit is a worker boot error: logged with the hook name, exit 3', async () => {
    const file = config(
      'bad-init.mjs',
      "export const postWorkerInit = () => { throw new Error('no database'); };\n",
    );
    const result = await runCli([
      fixture('pid.mjs'),
      '-c',
      file,
      '-b',
      '127.0.0.1:0',
      '--log-format',
      'json',
    ]);
    assert.equal(result.code, 3, result.stderr);
    const line = result.logs.find((l) => l.event === 'hook.error');
    assert.equal(line?.hook, 'postWorkerInit');
    assert.match(String(line?.msg), /no database/);
  });

  test('an error in onStarting stops the start, naming the hook', async () => {
    const file = config(
      'bad-start.mjs',
      "export const onStarting = () => { throw new Error('not today'); };\n",
    );
    const result = await runCli([
      fixture('pid.mjs'),
      '-c',
      file,
      '-b',
      '127.0.0.1:0',
      '--log-format',
      'json',
    ]);
    assert.equal(result.code, 1);
    assert.equal(result.logs.find((l) => l.event === 'hook.error')?.hook, 'onStarting');
  });

  test('an error in a request hook is logged and the request is still served', async () => {
    const file = config('bad-pre.mjs', "export const preRequest = () => { throw new Error('hook bug'); };\n");
    const server = await startServer([fixture('pid.mjs'), '-c', file]);
    assert.equal((await request(`${server.url}/`)).status, 200);
    const line = await server.waitForEvent('hook.error', (l) => l.hook === 'preRequest');
    assert.match(String(line.msg), /hook bug/);
  });

  test("postRequest reads a fetch-interface response's headers, and the client gets them too", async () => {
    const app = config(
      'typed-fetch.mjs',
      "export default { fetch: () => new Response('typed', { headers: { 'content-type': 'text/x-typed' } }) };\n",
    );
    const file = config(
      'post-headers.mjs',
      "export const postRequest = (w, req, res) => w.log.info({ seenType: res.getHeader('content-type'), seenServer: res.getHeader('server') }, 'post');\n",
    );
    const server = await startServer([app, '-c', file]);
    const reply = await request(`${server.url}/`);
    assert.equal(reply.headers['content-type'], 'text/x-typed');
    assert.equal(reply.headers.server, 'unicorn-ts');
    const line = await waitFor('the postRequest line', () =>
      server.logs.find((l) => l.seenType !== undefined || l.seenServer !== undefined),
    );
    assert.equal(line.seenType, 'text/x-typed');
    assert.equal(line.seenServer, 'unicorn-ts');
  });
});
