import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { startLoad } from '../helpers/load.js';
import { fixture, runCli, startServer, stopAll } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

after(stopAll);

describe('timeouts and recycling limits', () => {
  test('a handler that blocks the event loop is killed after --timeout, the log says which request, and a replacement serves', async () => {
    const server = await startServer([fixture('block.mjs'), '-w', '1', '-t', '2']);
    const [pid] = server.liveWorkerPids();
    const blocked = request(`${server.url}/block`).catch((err: Error) => err);
    const line = await server.waitForEvent('worker.timeout', (l) => l.workerPid === pid);
    assert.match(
      String(line.msg),
      /event loop blocked for \d+ s at spin \(test\/fixtures\/apps\/block\.mjs:3\); it was handling GET \/block/,
    );
    assert.equal(line.request, 'GET /block');
    assert.deepEqual((line.stack as string[]).slice(0, 2), [
      'spin (test/fixtures/apps/block.mjs:3)',
      'block (test/fixtures/apps/block.mjs:6)',
    ]);
    const exited = await server.waitForEvent('worker.exited', (l) => l.workerPid === pid);
    assert.match(String(exited.hint), /--timeout/);
    assert.ok((await blocked) instanceof Error, 'the blocked request cannot be answered');
    await waitFor('replacement', () => server.liveWorkerPids().length === 1);
    const reply = await request(`${server.url}/`);
    assert.notEqual(reply.body, String(pid));
  });

  test('--timeout names the function, file and line of a blocked TypeScript handler, from its source map', async () => {
    const server = await startServer([fixture('block.ts'), '-w', '1', '-t', '2']);
    const [pid] = server.liveWorkerPids();
    const blocked = request(`${server.url}/spin`).catch((err: Error) => err);
    const line = await server.waitForEvent('worker.timeout', (l) => l.workerPid === pid);
    assert.match(String(line.msg), /blocked for \d+ s at crunch \(test\/fixtures\/apps\/block\.ts:15\)/);
    assert.deepEqual((line.stack as string[]).slice(0, 2), [
      'crunch (test/fixtures/apps/block.ts:15)',
      'handler (test/fixtures/apps/block.ts:21)',
    ]);
    await blocked;
  });

  test('--timeout on a worker blocked outside JavaScript says there is no stack, and still kills it', async () => {
    const server = await startServer([fixture('block.ts'), '-w', '1', '-t', '2']);
    const [pid] = server.liveWorkerPids();
    const blocked = request(`${server.url}/native`).catch((err: Error) => err);
    const line = await server.waitForEvent('worker.timeout', (l) => l.workerPid === pid);
    assert.match(String(line.msg), /blocked for \d+ s \(no stack: not running JavaScript/);
    assert.deepEqual(line.stack, []);
    await server.waitForEvent('worker.exited', (l) => l.workerPid === pid);
    await blocked;
  });

  test('--no-timeout-stack: the timeout is logged without a stack', async () => {
    const server = await startServer([fixture('block.mjs'), '-w', '1', '-t', '2', '--no-timeout-stack']);
    const [pid] = server.liveWorkerPids();
    const blocked = request(`${server.url}/block`).catch((err: Error) => err);
    const line = await server.waitForEvent('worker.timeout', (l) => l.workerPid === pid);
    assert.match(String(line.msg), /event loop blocked for \d+ s; it was handling GET \/block/);
    assert.equal(line.stack, null);
    await blocked;
  });

  test('a worker that never becomes ready is killed after --boot-timeout: exit 3 at first boot', async () => {
    const result = await runCli([
      fixture('slow-boot.mjs'),
      '--boot-timeout',
      '2',
      '-b',
      '127.0.0.1:0',
      '--log-format',
      'json',
    ]);
    assert.equal(result.code, 3, result.stderr);
    assert.ok(result.logs.some((l) => l.event === 'worker.boot_timeout'));
    assert.match(
      String(result.logs.find((l) => l.event === 'master.halt')?.msg),
      /not ready within 2 s \(--boot-timeout\)/,
    );
  });

  test('a slow boot within --boot-timeout is not taken for a hang, even with a short --timeout', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const file = `${mkdtempSync(`${tmpdir()}/unicorn-slowboot-`)}/app.mjs`;
    // Blocks the worker's event loop for 3 s while loading, longer than --timeout 1.
    writeFileSync(
      file,
      'const end = Date.now() + 3000; while (Date.now() < end) {}\nexport default () => new Response("booted");\n',
    );
    const server = await startServer([file, '-t', '1', '--boot-timeout', '30']);
    assert.equal((await request(`${server.url}/`)).body, 'booted');
    assert.equal(server.events('worker.timeout').length, 0);
  });

  test('--request-timeout answers 503, aborts info.signal, and the worker serves on', async () => {
    const server = await startServer([fixture('abortable.mjs'), '-w', '1', '--request-timeout', '1']);
    const [pid] = server.liveWorkerPids();
    const reply = await request(`${server.url}/slow`);
    assert.equal(reply.status, 503);
    await server.waitForEvent('request.timeout', (l) => l.url === '/slow');
    await waitFor('the app saw the abort', () => server.logs.find((l) => l.outcome === 'aborted'));
    assert.equal((await request(`${server.url}/`)).body, `ok ${pid}`);
    assert.equal((await request(`${server.url}/slow?ms=100`)).body, 'finished');
  });

  test('--max-memory recycles a worker over the limit: replacement first, and no request fails', async () => {
    const server = await startServer([fixture('grow.mjs'), '-w', '1', '--max-memory', '150']);
    const [pid] = server.liveWorkerPids();
    const load = startLoad(server.url, { keepAlive: 2, fresh: 1 });
    assert.equal((await request(`${server.url}/grow?mb=200`)).status, 200);
    const retired = await server.waitForEvent('worker.retire', (l) => l.workerPid === pid);
    assert.equal(retired.reason, 'max-memory');
    await server.waitForEvent('worker.exited', (l) => l.workerPid === pid);
    const before = load.result.ok;
    await waitFor('load after recycling', () => load.result.ok > before + 50);
    const result = await load.stop();
    assert.equal(result.failed, 0, result.errors.slice(0, 5).join('; '));
    assert.ok(!server.liveWorkerPids().includes(pid!));
  });
});
