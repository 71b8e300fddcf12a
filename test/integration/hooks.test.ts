import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { fixture, runCli, startServer, stopAll } from '../helpers/server.js';

after(stopAll);
const dir = mkdtempSync(join(tmpdir(), 'unicorn-hooks-'));

function config(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
}

/** A config whose every hook logs `{ hookRan: NAME }` through the logger it is given. */
const RECORDING = `
const ran = (name, log) => log.info({ hookRan: name }, name);
export default {
  onStarting: (s) => ran('onStarting', s.log),
  onReload: (s) => ran('onReload', s.log),
  whenReady: (s) => ran('whenReady', s.log),
  preFork: (s) => ran('preFork', s.log),
  postFork: (s) => ran('postFork', s.log),
  postWorkerInit: (w) => ran('postWorkerInit', w.log),
  preRequest: (w) => ran('preRequest', w.log),
  postRequest: (w) => ran('postRequest', w.log),
  childExit: (s) => ran('childExit', s.log),
  workerExit: (w) => ran('workerExit', w.log),
  nworkersChanged: (s) => ran('nworkersChanged', s.log),
  onExit: (s) => ran('onExit', s.log),
};
`;

describe('server hooks', () => {
  test('run where and when Gunicorn runs them, in order', async () => {
    const server = await startServer([fixture('pid.mjs'), '-c', config('recording.mjs', RECORDING)]);
    await request(`${server.url}/`);
    server.signal('SIGHUP');
    await server.waitForEvent('reload.done');
    server.signal('SIGTTIN');
    await server.waitForEvent('workers.count', (l) => l.to === 2);
    await server.stop();
    const order = server.logs
      .filter((l) => typeof l.hookRan === 'string')
      .map((l) => `${l.role}:${l.hookRan}`);
    const first = (name: string) => order.indexOf(name);
    assert.ok(first('master:onStarting') === 0, order.join(' '));
    assert.ok(first('master:preFork') < first('master:postFork'));
    assert.ok(first('worker:postWorkerInit') < first('master:whenReady'));
    assert.ok(first('worker:preRequest') < first('worker:postRequest'));
    assert.ok(first('master:onReload') > first('worker:postRequest'));
    assert.ok(
      first('worker:workerExit') < first('master:childExit'),
      'workerExit runs in the worker, before it exits',
    );
    assert.ok(order.includes('master:nworkersChanged'));
    assert.equal(order.at(-1), 'master:onExit');
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
});
