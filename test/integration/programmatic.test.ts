/**
 * The programmatic API on the real thing: a program (test/fixtures/run/program.mjs) starts the
 * master with run(), in its own process, and is driven through its standard input; the test talks
 * HTTP to the workers over loopback, reads the master's log events, and watches the program's
 * process end by itself once stop() has resolved.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from '../helpers/http.js';
import { fixture, runCli, Server, stopAll } from '../helpers/server.js';
import { isAlive, waitFor } from '../helpers/wait.js';

const PROGRAM = fileURLToPath(new URL('../fixtures/run/program.mjs', import.meta.url));
const programs = new Set<Program>();

after(async () => {
  await Promise.all([...programs].map((p) => p.server.stop()));
  await stopAll();
});

type Answer = Record<string, unknown>;

/** The program as a process: its JSON answers on standard output, its master's log on standard error. */
class Program {
  readonly server: Server;
  #seen = 0;

  constructor(mode: 'string' | 'handler', options: Record<string, unknown>) {
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

  /** The next answer (each is read once): `key` names what it must be. */
  async next<T>(key: string, timeoutMs = 60_000): Promise<T> {
    const answer = await waitFor(
      `the program's answer "${key}"`,
      () => {
        if (this.server.exited && this.answers().length <= this.#seen) {
          throw new assert.AssertionError({
            message: `the program exited before answering ${key}\n${this.server.stderrText.slice(-3000)}`,
          });
        }
        return this.answers()[this.#seen];
      },
      { timeoutMs },
    );
    this.#seen++;
    assert.ok(key in answer, `expected "${key}", the program answered ${JSON.stringify(answer)}`);
    return answer[key] as T;
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
    after: { listeners: Record<string, number>; title: string };
    before: { listeners: Record<string, number>; title: string };
  }>('stopped');
  assert.equal(stopped.code, 0);
  assert.equal(stopped.exited, 0);
  assert.deepEqual(stopped.after, stopped.before, 'signal listeners and process title as before run()');
  assert.equal(isAlive(down.workerPids[0]!), false, 'the last worker is gone');
  // Nothing run() left holds the program: it ends by itself, with no signal sent to it.
  const exit = await server.waitForExit(20_000);
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.equal(server.events('master.stopped').at(-1)?.exitCode, 0);
}

describe('run() starts the master in the calling process', () => {
  test('with an APP_MODULE string: serves, reloads onto new code, scales to 3 and to 1, stops and lets the program end', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'unicorn-run-'));
    const app = join(dir, 'app.mjs');
    const version = (v: string) =>
      writeFileSync(app, `export default () => new Response('${v} ' + process.pid);\n`);
    version('v1');
    const program = new Program('string', { app, workers: 2, bind: ['127.0.0.1:0'] });
    await wholeLife(
      program,
      (body, reloaded) => assert.match(body, reloaded ? /^v2 \d+$/ : /^v1 \d+$/),
      () => version('v2'),
    );
  });

  test('with a handler function: the workers run the program again and serve the function', async () => {
    const program = new Program('handler', { workers: 2, bind: ['127.0.0.1:0'] });
    await wholeLife(program, (body) => {
      const answer = JSON.parse(body) as { pid: number; from: string; worker: number };
      assert.equal(answer.from, 'handler');
      assert.equal(answer.worker, answer.pid, 'info.worker is the serving worker');
    });
    // Each worker ran the program: its title names the program, and it loaded the handler.
    const loaded = program.server.events('worker.app_loaded');
    assert.ok(loaded.length >= 2 && loaded.every((l) => l.file === PROGRAM && l.interface === 'fetch'));
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
