/**
 * The programmatic API on the real thing: a program (test/fixtures/run/program.mjs) starts the
 * master with run(), in its own process, and is driven through its standard input; the test talks
 * HTTP to the workers over loopback, reads the master's log events, and watches the program's
 * process end by itself once stop() has resolved.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from '../helpers/http.js';
import { fixture, ROOT, runCli, Server, stopAll } from '../helpers/server.js';
import { isAlive, waitFor } from '../helpers/wait.js';

const PROGRAM = fileURLToPath(new URL('../fixtures/run/program.mjs', import.meta.url));
const programs = new Set<Program>();
const others = new Set<Server>();

after(async () => {
  await Promise.all([...[...programs].map((p) => p.server), ...others].map((server) => server.stop()));
  await stopAll();
});

type Answer = Record<string, unknown>;

/** The program as a process: its JSON answers on standard output, its master's log on standard error. */
class Program {
  readonly server: Server;
  #seen = 0;

  constructor(
    mode:
      | 'string'
      | 'string-worker-hook'
      | 'handler'
      | 'object'
      | 'broken-worker'
      | 'silent-worker'
      | 'twice',
    options: Record<string, unknown>,
  ) {
    this.server = new Server([mode, JSON.stringify({ logFormat: 'json', ...options })], {
      cli: PROGRAM,
      stdin: 'pipe',
    });
    programs.add(this);
  }

  answers(): Answer[] {
    return this.server.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Answer);
  }

  /** The next answer with `key`, after the last one read (answers in between are skipped). */
  async next<T>(key: string, timeoutMs = 60_000): Promise<T> {
    const found = () => this.answers().findIndex((answer, i) => i >= this.#seen && key in answer);
    const index = await waitFor(
      `the program's answer "${key}"`,
      () => {
        const at = found();
        if (at !== -1) return at + 1;
        if (this.server.exited && found() === -1) {
          throw new assert.AssertionError({
            message: `the program exited without answering ${key}: ${this.server.stdout}\n${this.server.stderrText.slice(-3000)}`,
          });
        }
        return undefined;
      },
      { timeoutMs },
    );
    this.#seen = index;
    return this.answers()[index - 1]![key] as T;
  }

  command(line: string): void {
    this.server.child.stdin!.write(`${line}\n`);
  }
}

interface Pids {
  workerPids: number[];
}

/** The pid a worker answers with: the string test's app ends its text with it, the handler says it in JSON. */
async function servedBy(url: string): Promise<{ pid: number; body: string }> {
  const reply = await request(url);
  assert.equal(reply.status, 200, reply.body);
  const pid = reply.body.startsWith('{')
    ? (JSON.parse(reply.body) as { pid: number }).pid
    : Number(/(\d+)$/.exec(reply.body)?.[1]);
  return { pid, body: reply.body };
}

/** Serve, reload, scale up and down, stop: the same steps for a string app and a handler. */
async function wholeLife(
  program: Program,
  checkBody: (body: string, reloaded: boolean) => void,
  beforeReload: () => void = () => {},
): Promise<void> {
  const { server } = program;
  const ready = await program.next<{ pid: number; urls: string[]; workerPids: number[] }>('ready');
  assert.equal(ready.pid, server.pid, 'the master is the program’s own process');
  assert.equal(ready.workerPids.length, 2);
  const url = ready.urls[0]!;
  const first = await servedBy(url);
  assert.ok(ready.workerPids.includes(first.pid), `${first.pid} is not one of ${ready.workerPids}`);
  checkBody(first.body, false);

  // One master per process; and scale() takes what the workers setting takes.
  program.command('run-again');
  assert.equal((await program.next<{ code: string }>('failed')).code, 'UNICORN_RUN_USAGE');
  program.command('scale 0');
  assert.equal((await program.next<{ code: string }>('failed')).code, 'UNICORN_CONFIG_INVALID_VALUE');

  beforeReload();
  program.command('reload');
  const reloaded = await program.next<Pids>('reloaded');
  assert.equal(reloaded.workerPids.length, 2);
  for (const pid of reloaded.workerPids) assert.ok(!ready.workerPids.includes(pid), 'new workers');
  // Resolved once the reload is done: the old workers are gone, the next request meets a new one.
  for (const pid of ready.workerPids) assert.equal(isAlive(pid), false, `old worker ${pid} still alive`);
  assert.ok(server.events('reload.done').length === 1, 'reload.done logged');
  const afterReload = await servedBy(url);
  assert.ok(reloaded.workerPids.includes(afterReload.pid));
  checkBody(afterReload.body, true);

  program.command('scale 3');
  const up = await program.next<Pids>('scaled');
  assert.equal(up.workerPids.length, 3);
  for (const pid of reloaded.workerPids) assert.ok(up.workerPids.includes(pid), 'the two kept');
  assert.ok(server.events('workers.count').some((l) => l.from === 2 && l.to === 3));
  const added = up.workerPids.find((pid) => !reloaded.workerPids.includes(pid))!;
  assert.ok(
    server.events('worker.ready').some((l) => l.pid === added),
    `worker.ready for ${added}`,
  );

  program.command('scale 1');
  const down = await program.next<Pids>('scaled');
  assert.equal(down.workerPids.length, 1);
  assert.ok(server.events('workers.count').some((l) => l.from === 3 && l.to === 1));
  for (const pid of up.workerPids.filter((p) => p !== down.workerPids[0])) {
    assert.ok(
      server.events('worker.exited').some((l) => l.workerPid === pid),
      `worker.exited for ${pid}`,
    );
    assert.equal(isAlive(pid), false, `retired worker ${pid} still alive`);
  }
  assert.equal((await servedBy(url)).pid, down.workerPids[0]);

  program.command('stop');
  const stopped = await program.next<{
    code: number;
    exited: number;
    late: { reload: string; scale: string };
    after: { listeners: Record<string, number>; title: string };
    before: { listeners: Record<string, number>; title: string };
  }>('stopped');
  assert.equal(stopped.code, 0);
  assert.equal(stopped.exited, 0);
  assert.deepEqual(stopped.late, { reload: 'UNICORN_RUN_STOPPED', scale: 'UNICORN_RUN_STOPPED' });
  assert.deepEqual(stopped.after, stopped.before, 'listeners, title, umask and open files as before run()');
  assert.equal(isAlive(down.workerPids[0]!), false, 'the last worker is gone');
  // Nothing run() left holds the program: it ends by itself, with no signal sent to it.
  const exit = await server.waitForExit(20_000);
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.equal(server.events('master.stopped').at(-1)?.exitCode, 0);
}

describe('run() starts the master in the calling process', () => {
  test('with an APP_MODULE string: serves, reloads onto new code, scales to 3 and to 1, stops and lets the program end', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'unicorn-run-'));
    const version = (v: string) =>
      writeFileSync(
        join(dir, 'app.mjs'),
        `export default () => new Response('${v} ' + process.cwd() + ' ' + process.pid);\n`,
      );
    version('v1');
    // chdir: the app is resolved from there, and the workers run there; the program stays put.
    const program = new Program('string', { app: 'app.mjs', chdir: dir, workers: 2, bind: ['127.0.0.1:0'] });
    await wholeLife(
      program,
      (body, reloaded) => assert.equal(body.replace(/ \d+$/, ''), `${reloaded ? 'v2' : 'v1'} ${dir}`),
      () => version('v2'),
    );
    const ready = program.answers().find((a) => 'ready' in a)!.ready as { cwd: string };
    assert.equal(ready.cwd, ROOT.replace(/\/$/, ''));
  });

  test('reload() rejects with the configuration error, or UNICORN_RELOAD_FAILED when rolled back; the old worker serves on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'unicorn-run-reload-'));
    const config = join(dir, 'unicorn.config.mjs');
    const app = join(dir, 'app.mjs');
    writeFileSync(config, 'export default { workers: 1 };\n');
    writeFileSync(app, "export default () => new Response('ok ' + process.pid);\n");
    const program = new Program('string', { app, config, bind: ['127.0.0.1:0'] });
    const ready = await program.next<{ urls: string[]; workerPids: number[] }>('ready');
    assert.equal(ready.workerPids.length, 1, 'workers from the config file');

    writeFileSync(config, "export default { workers: 'lots' };\n");
    program.command('reload');
    assert.equal((await program.next<{ code: string }>('failed')).code, 'UNICORN_CONFIG_INVALID_VALUE');

    writeFileSync(config, 'export default { workers: 1 };\n');
    writeFileSync(app, 'export default (;\n');
    program.command('reload');
    const failed = await program.next<{ code: string; message: string }>('failed');
    assert.equal(failed.code, 'UNICORN_RELOAD_FAILED', failed.message);
    assert.equal((await servedBy(ready.urls[0]!)).pid, ready.workerPids[0]);

    program.command('stop');
    assert.equal((await program.next<{ code: number }>('stopped')).code, 0);
    assert.deepEqual(await program.server.waitForExit(20_000), { code: 0, signal: null });
  });

  test('with a handler function: the workers run the program again and serve the function, with the hooks and env given to run()', async () => {
    const program = new Program('handler', {
      workers: 2,
      bind: ['127.0.0.1:0'],
      env: ['RUN_FIXTURE_ENV=workers-only'],
      // Set in the program while the master runs; wholeLife checks it is put back.
      umask: 0o027,
    });
    await wholeLife(program, (body) => {
      const answer = JSON.parse(body) as {
        pid: number;
        from: string;
        worker: number;
        initialised: string;
        env: string;
      };
      assert.equal(answer.from, 'handler');
      assert.equal(answer.worker, answer.pid, 'info.worker is the serving worker');
      // postWorkerInit ran in the worker that serves; env reached the workers.
      assert.equal(answer.initialised, `postWorkerInit ${answer.pid}`);
      assert.equal(answer.env, 'workers-only');
    });
    const ready = program.answers().find((a) => 'ready' in a)!.ready as { pid: number; env: string | null };
    assert.equal(ready.env, null, "env is the workers', not the calling process's");
    // whenReady ran in the master, once: the program's process.
    const whenReady = program.answers().filter((a) => 'whenReady' in a);
    assert.deepEqual(
      whenReady.map((a) => a.whenReady),
      [{ pid: ready.pid, serverPid: ready.pid }],
    );
    // Each worker ran the program: it loaded the handler from it.
    const loaded = program.server.events('worker.app_loaded');
    assert.ok(loaded.length >= 2 && loaded.every((l) => l.file === PROGRAM && l.interface === 'fetch'));
  });

  test('with a { fetch } object: its startup() and shutdown() run in each worker', async () => {
    // With an error log file: closed when the master stops, as the open-files count shows.
    const errorLogfile = join(mkdtempSync(join(tmpdir(), 'unicorn-run-log-')), 'error.log');
    const program = new Program('object', { bind: ['127.0.0.1:0'], errorLogfile });
    const ready = await program.next<{ urls: string[]; workerPids: number[] }>('ready');
    const answer = JSON.parse((await request(ready.urls[0]!)).body) as { initialised: string; pid: number };
    assert.equal(answer.initialised, 'startup');
    program.command('stop');
    const stopped = await program.next<{ code: number; after: unknown; before: unknown }>('stopped');
    assert.equal(stopped.code, 0);
    assert.deepEqual(stopped.after, stopped.before, 'listeners, title, umask and open files as before run()');
    assert.match(readFileSync(errorLogfile, 'utf8'), /"event":"master.stopped"/);
    assert.ok(program.server.events('fixture.shutdown').some((l) => l.pid === ready.workerPids[0]));
    assert.deepEqual(await program.server.waitForExit(20_000), { code: 0, signal: null });
  });
});

describe('run() rejects, and leaves the program free to end', () => {
  async function rejected(program: Program): Promise<{ code: string; message: string }> {
    const answer = await program.next<{ code: string; message: string; after: unknown; before: unknown }>(
      'rejected',
    );
    assert.deepEqual(answer.after, answer.before, 'signal listeners, title and umask as before run()');
    assert.deepEqual(await program.server.waitForExit(20_000), { code: 0, signal: null });
    return answer;
  }

  test('when its address is in use: UNICORN_BIND, as the master logs it', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as net.AddressInfo).port;
      const program = new Program('string', { app: fixture('pid.mjs'), bind: [`127.0.0.1:${port}`] });
      const answer = await rejected(program);
      assert.equal(answer.code, 'UNICORN_BIND', answer.message);
      assert.ok(program.server.events('master.halt').length === 1);
    } finally {
      taken.close();
    }
  });

  test('when the app cannot be loaded: UNICORN_RUN_STOPPED with the reason', async () => {
    const answer = await rejected(
      new Program('string', { app: fixture('no-default.mjs'), bind: ['127.0.0.1:0'] }),
    );
    assert.equal(answer.code, 'UNICORN_RUN_STOPPED');
    assert.match(answer.message, /exit code 4.*no default export/);
  });

  test('when the program throws in a worker before it calls run(): an app load error', async () => {
    const answer = await rejected(new Program('broken-worker', { bind: ['127.0.0.1:0'] }));
    assert.equal(answer.code, 'UNICORN_RUN_STOPPED');
    assert.match(
      answer.message,
      /exit code 4.*the program failed before it called run\(\): broken before run\(\)/,
    );
  });

  test('with preload: the app is imported in the program first, and its own error is the rejection', async () => {
    const program = new Program('string', { app: fixture('no-default.mjs'), preload: true });
    const answer = await rejected(program);
    assert.equal(answer.code, 'UNICORN_APP_EXPORT_MISSING');
    assert.equal(program.server.events('worker.booting').length, 0, 'no worker was started');
  });

  test('when the program never calls run() in a worker: the worker is killed at boot-timeout', async () => {
    const answer = await rejected(new Program('silent-worker', { bind: ['127.0.0.1:0'], bootTimeout: 2 }));
    assert.equal(answer.code, 'UNICORN_RUN_STOPPED');
    assert.match(answer.message, /exit code 3/);
  });

  test('with a handler, in a process that runs no program file (node -e): UNICORN_RUN_USAGE', async () => {
    const code = `import('unicorn-ts').then((m) => m.run({ app: () => new Response('x') })).catch((err) => console.log(JSON.stringify({ rejected: { code: err.code, message: err.message } })));`;
    // The code takes the place of the script: `node --input-type=module -e CODE`.
    const server = new Server([], { command: [process.execPath, '--input-type=module', '-e'], cli: code });
    others.add(server);
    assert.deepEqual(await server.waitForExit(20_000), { code: 0, signal: null });
    const answer = JSON.parse(server.stdout.trim()) as { rejected: { code: string; message: string } };
    assert.equal(answer.rejected.code, 'UNICORN_RUN_USAGE');
    assert.match(answer.rejected.message, /runs no program file/);
  });

  test('in a worker the command line started (an app module that calls run()): refused, an app load error', async () => {
    const cli = await runCli([fixture('calls-run.mjs'), '--log-format', 'json', '-b', '127.0.0.1:0']);
    assert.equal(cli.code, 4);
    const failed = cli.logs.find((l) => l.event === 'worker.boot_failed');
    assert.match(String(failed?.msg), /run\(\) was called in a worker process/);
  });

  test('a second run() while the first is still starting: UNICORN_RUN_USAGE', async () => {
    const program = new Program('twice', { app: fixture('pid.mjs'), bind: ['127.0.0.1:0'] });
    assert.deepEqual((await program.next<string[]>('twice')).sort(), ['UNICORN_RUN_USAGE', 'started']);
    assert.deepEqual(await program.server.waitForExit(20_000), { code: 0, signal: null });
  });

  test('worker-side hooks with an APP_MODULE string: UNICORN_RUN_USAGE, naming them', async () => {
    const answer = await rejected(new Program('string-worker-hook', { app: fixture('pid.mjs') }));
    assert.equal(answer.code, 'UNICORN_RUN_USAGE');
    assert.match(answer.message, /postRequest run in the workers/);
  });
});

describe('run() validates settings as the command line and config files do', () => {
  const dir = mkdtempSync(join(tmpdir(), 'unicorn-run-config-'));

  for (const [name, values, code] of [
    ['a value of the wrong type', { workers: 'lots' }, 'UNICORN_CONFIG_INVALID_VALUE'],
    ['an unknown setting', { wrokers: 2 }, 'UNICORN_CONFIG_UNKNOWN_KEY'],
    ['a malformed bind', { bind: ['nohost:port'] }, 'UNICORN_CONFIG_INVALID_VALUE'],
  ] as const) {
    test(`${name}: run() rejects with ${code}, the same code the CLI gives for it in a config file`, async () => {
      const program = new Program('string', { app: fixture('pid.mjs'), ...values });
      const rejected = await program.next<{ code: string; message: string; after: unknown; before: unknown }>(
        'rejected',
      );
      assert.equal(rejected.code, code, rejected.message);
      assert.deepEqual(rejected.after, rejected.before, 'nothing installed');
      assert.deepEqual(await program.server.waitForExit(20_000), { code: 0, signal: null });
      if ('wrokers' in values) assert.match(rejected.message, /did you mean "workers"/);

      const config = join(dir, `${code}.config.mjs`);
      writeFileSync(config, `export default ${JSON.stringify(values)};\n`);
      const cli = await runCli(['-c', config, fixture('pid.mjs')]);
      assert.equal(cli.code, 1);
      assert.match(cli.stderr, new RegExp(`\\[${code}\\]`));
    });
  }
});
