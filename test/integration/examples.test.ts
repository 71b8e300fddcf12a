/**
 * The examples in examples/ run as documented: each is started with the real CLI and no --interface
 * flag, and answers over real sockets.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { request, streamLines, streamUpload } from '../helpers/http.js';
import { ROOT, runCli, type Server, startServer, stopAll } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { openSocket, wsUrl } from '../helpers/websocket.js';

after(stopAll);

const example = (name: string) => `${ROOT}examples/${name}`;

/** Every worker loaded the app with this interface, chosen by auto-detection. */
function assertInterface(server: Server, expected: 'fetch' | 'node', reason: RegExp): void {
  const loaded = server.events('worker.app_loaded');
  assert.ok(loaded.length > 0, 'no worker.app_loaded event');
  for (const line of loaded) {
    assert.equal(line.interface, expected, `interface chosen: ${String(line.reason)}`);
    assert.match(String(line.reason), reason);
  }
}

/** The pids of the `count` workers once each has logged `worker.ready` (it may do so just after `master.ready`). */
function workerPids(server: Server, count: number): Promise<number[]> {
  return waitFor(`${count} ready worker(s)`, () => {
    const pids = server.liveWorkerPids();
    return pids.length === count && pids.sort((a, b) => a - b);
  });
}

function json(body: string): unknown {
  return JSON.parse(body);
}

describe('examples', () => {
  test('hello.ts: the fetch hello world', async () => {
    const server = await startServer([example('hello.ts')]);
    assertInterface(server, 'fetch', /1 argument/);
    const reply = await request(`${server.url}/abc`);
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(reply.body, `Hello, World! (/abc, worker ${(await workerPids(server, 1))[0]})\n`);
  });

  test('hello-node.mjs: the node (req, res) hello world, with req.unicorn', async () => {
    const server = await startServer([example('hello-node.mjs')]);
    assertInterface(server, 'node', /second parameter is named "res"/);
    const reply = await request(`${server.url}/xyz?q=1`);
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], 'text/plain; charset=utf-8');
    const [pid] = await workerPids(server, 1);
    assert.equal(reply.body, `Hello, World! (/xyz?q=1, worker ${pid}, client 127.0.0.1)\n`);
  });

  test('express-app.mjs: JSON routes, statuses and the 404 fallback', async () => {
    const server = await startServer([example('express-app.mjs')]);
    assertInterface(server, 'node', /Express/);

    const hello = await request(`${server.url}/api/hello?name=Ada`);
    assert.equal(hello.status, 200);
    assert.match(String(hello.headers['content-type']), /^application\/json/);
    assert.deepEqual(json(hello.body), { greeting: 'Hello, Ada!', worker: (await workerPids(server, 1))[0] });
    assert.equal(
      (json((await request(`${server.url}/api/hello`)).body) as { greeting: string }).greeting,
      'Hello, World!',
    );

    const headers = { 'content-type': 'application/json' };
    const created = await request(`${server.url}/api/notes`, {
      method: 'POST',
      headers,
      body: '{"text":"hi"}',
    });
    assert.equal(created.status, 201);
    assert.deepEqual(json(created.body), { id: 1, text: 'hi' });
    const second = await request(`${server.url}/api/notes`, {
      method: 'POST',
      headers,
      body: '{"text":"again"}',
    });
    assert.deepEqual(json(second.body), { id: 2, text: 'again' });

    const invalid = await request(`${server.url}/api/notes`, { method: 'POST', headers, body: '{}' });
    assert.equal(invalid.status, 400);
    assert.match((json(invalid.body) as { error: string }).error, /text/);

    const missing = await request(`${server.url}/nope`);
    assert.equal(missing.status, 404);
    assert.deepEqual(json(missing.body), { error: 'no route for GET /nope' });
  });

  test('websocket-node.mjs: an upgrade export with ws, beside the (req, res) handler', async () => {
    const server = await startServer([example('websocket-node.mjs')]);
    assertInterface(server, 'node', /second parameter is named "res"/);
    const [pid] = await workerPids(server, 1);
    const socket = await openSocket(wsUrl(server.url, '/?room=1'));
    assert.equal(await socket.next(), `hello from worker ${pid} (/?room=1)`);
    assert.equal(await socket.ask('shout'), 'SHOUT');
    socket.ws.close(1000);
    await socket.waitClosed();
    await assert.rejects(openSocket(wsUrl(server.url, '/elsewhere')), /handshake answered 404/);
    assert.match((await request(`${server.url}/`)).body, /^Connect a WebSocket client/);
  });

  test('websocket-hono.ts: Hono upgradeWebSocket from unicorn-ts/hono', async () => {
    const server = await startServer([example('websocket-hono.ts'), '--ws-max-message', '65536']);
    assertInterface(server, 'fetch', /fetch\(\) method/);
    const [pid] = await workerPids(server, 1);
    const socket = await openSocket(wsUrl(server.url, '/ws'));
    assert.equal(await socket.next(), `hello from worker ${pid}`);
    assert.equal(await socket.ask('hi'), 'echo: hi');
    assert.equal(await socket.ask('pid'), String(pid));
    socket.ws.close(1000);
    await socket.waitClosed();
  });

  test('express-app.mjs: a streamed response, the error route, and shutdown() on TERM', async () => {
    const server = await startServer([example('express-app.mjs')]);
    const [pid] = await workerPids(server, 1);
    const streamed = await streamLines(`${server.url}/api/stream?n=4`);
    assert.equal(streamed.status, 200);
    assert.equal(streamed.headers['transfer-encoding'], 'chunked');
    assert.deepEqual(streamed.lines, ['line 1 of 4', 'line 2 of 4', 'line 3 of 4', 'line 4 of 4']);
    assert.equal((await request(`${server.url}/api/boom`)).status, 500);
    await waitFor('the stack of /api/boom', () => /Error: boom\n\s+at /.test(server.stderrText));
    assert.equal(server.events('request.error').length, 0);
    server.signal('SIGTERM');
    assert.equal((await server.waitForExit(60_000)).code, 0);
    assert.ok(server.stdout.includes(`express-app: shutdown in worker ${pid}\n`), server.stdout);
  });

  test('hono-app.ts: a streamed response, the error route, and shutdown() on TERM', async () => {
    const server = await startServer([example('hono-app.ts')]);
    const [pid] = await workerPids(server, 1);
    const streamed = await streamLines(`${server.url}/stream?n=4`);
    assert.equal(streamed.status, 200);
    assert.equal(streamed.headers['transfer-encoding'], 'chunked');
    assert.deepEqual(streamed.lines, ['line 1 of 4', 'line 2 of 4', 'line 3 of 4', 'line 4 of 4']);
    const boom = await request(`${server.url}/boom`);
    assert.equal(boom.status, 500);
    assert.equal(boom.body, 'Internal Server Error');
    await waitFor('the error of /boom', () => /Error: boom\n\s+at /.test(server.stderrText));
    server.signal('SIGTERM');
    assert.equal((await server.waitForExit(60_000)).code, 0);
    assert.ok(server.stdout.includes(`hono-app: shutdown in worker ${pid}\n`), server.stdout);
  });

  test('hono-app.ts: text, JSON, POST and not-found routes', async () => {
    const server = await startServer([example('hono-app.ts')]);
    assertInterface(server, 'fetch', /fetch\(\) method/);

    const root = await request(`${server.url}/`);
    assert.equal(root.status, 200);
    assert.match(String(root.headers['content-type']), /^text\/plain/);
    assert.equal(root.body, `Hello from Hono (worker ${(await workerPids(server, 1))[0]})\n`);

    const hello = await request(`${server.url}/hello/Ada?lang=fr`);
    assert.equal(hello.status, 200);
    assert.match(String(hello.headers['content-type']), /^application\/json/);
    assert.deepEqual(json(hello.body), { greeting: 'Bonjour, Ada!' });
    assert.deepEqual(json((await request(`${server.url}/hello/Bob`)).body), { greeting: 'Hello, Bob!' });

    const echo = await request(`${server.url}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":[1,2]}',
    });
    assert.equal(echo.status, 201);
    assert.deepEqual(json(echo.body), { received: { a: [1, 2] } });

    const missing = await request(`${server.url}/nope`);
    assert.equal(missing.status, 404);
    assert.deepEqual(json(missing.body), { error: 'no route for GET /nope' });
  });

  describe('streaming.ts', () => {
    test('streams every line, and counts a streamed upload', async () => {
      const server = await startServer([example('streaming.ts')]);
      assertInterface(server, 'fetch', /second parameter is named "info"/);

      const streamed = await streamLines(`${server.url}/lines?n=8&ms=50`);
      assert.equal(streamed.status, 200);
      assert.equal(streamed.headers['transfer-encoding'], 'chunked');
      assert.deepEqual(
        streamed.lines,
        Array.from({ length: 8 }, (_, i) => `line ${i + 1} of 8`),
      );

      // 4 MiB in 64 KiB chunks, with no content-length: the handler reads it as it arrives.
      const upload = await streamUpload(`${server.url}/upload`, 64, 64 * 1024);
      assert.equal(upload.status, 200);
      const counted = json(upload.body) as { bytes: number; chunks: number };
      assert.equal(counted.bytes, 4 * 1024 * 1024);
      assert.ok(counted.chunks > 1, `the body arrived in ${counted.chunks} chunk(s)`);

      const empty = await request(`${server.url}/upload`, { method: 'POST' });
      assert.deepEqual(json(empty.body), { bytes: 0, chunks: 0 });
      assert.equal((await request(`${server.url}/other`)).status, 404);
    });

    test('stops producing lines when the client leaves (info.signal)', async () => {
      const server = await startServer([example('streaming.ts')]);
      const partial = await streamLines(`${server.url}/lines?n=1000&ms=20`, { stopAfter: 3 });
      assert.deepEqual(partial.lines.slice(0, 3), ['line 1 of 1000', 'line 2 of 1000', 'line 3 of 1000']);
      // The example logs through info.log, whose lines carry the request but no event name.
      const left = await waitFor('the "client left" log line', () =>
        server.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('client left after')),
      );
      assert.equal(left.url, '/lines?n=1000&ms=20');
      assert.equal(left.total, 1000);
      assert.ok((left.sent as number) < 1000, `sent ${String(left.sent)} lines`);
      // The worker is fine and serves the next request.
      assert.equal((await streamLines(`${server.url}/lines?n=2&ms=10`)).lines.length, 2);
    });

    test('sends each line as it is produced, not held back until the next one', async () => {
      const server = await startServer([example('streaming.ts')]);
      const streamed = await streamLines(`${server.url}/lines?n=2&ms=1000`);
      assert.equal(streamed.lines.length, 2);
      const gap = streamed.times[1]! - streamed.times[0]!;
      // Produced 1000 ms apart, so they should arrive about 1000 ms apart, not together.
      assert.ok(gap >= 500, `the first line arrived only ${gap.toFixed(0)} ms before the second`);
    });
  });

  describe('unicorn.config.ts', () => {
    const config = example('unicorn.config.ts');

    test('its settings take effect and its hooks run', async () => {
      const server = await startServer([example('hello.ts'), '-c', config], {
        env: { SLOW_REQUEST_MS: '0' },
      });
      const hook = (name: string) => server.logs.filter((l) => l.event === 'app.hook' && l.hook === name);

      // workers: 2
      assert.equal(server.events('master.starting')[0]!.workers, 2);
      assert.equal(server.events('master.ready')[0]!.workers, 2);
      const pids = await workerPids(server, 2);
      assertInterface(server, 'fetch', /1 argument/);
      // bind: the command line's -b 127.0.0.1:0 (added by startServer) wins over the file's port 8000.
      assert.notEqual(server.port, 8000);

      // Master hooks: onStarting before anything else, postFork once per worker, whenReady once all are up.
      assert.equal(hook('onStarting')[0]!.role, 'master');
      assert.equal(hook('onStarting')[0]!.msg, 'Starting with 2 workers');
      assert.deepEqual(
        hook('postFork')
          .map((l) => l.workerPid as number)
          .sort((a, b) => a - b),
        pids,
      );
      const ready = await server.waitForEvent('app.hook', (l) => l.hook === 'whenReady');
      assert.deepEqual(
        (ready.workerPids as number[]).slice().sort((a, b) => a - b),
        pids,
      );
      // Worker hook: postWorkerInit ran in each worker.
      const inits = hook('postWorkerInit');
      assert.deepEqual(
        inits.map((l) => l.role),
        ['worker', 'worker'],
      );
      assert.deepEqual(
        inits.map((l) => l.pid as number).sort((a, b) => a - b),
        pids,
      );

      // accessLogfile: '-': one access line on standard output per request.
      const reply = await request(`${server.url}/hooked`, { headers: { 'user-agent': 'examples-test' } });
      assert.equal(reply.status, 200);
      await waitFor('the access log line', () =>
        /"GET \/hooked HTTP\/1\.1" 200 \d+ "-" "examples-test"/.test(server.stdout),
      );
      // preRequest and postRequest: with SLOW_REQUEST_MS=0 every request is logged with its duration.
      const slow = await server.waitForEvent('app.hook', (l) => l.hook === 'postRequest');
      assert.match(String(slow.msg), /^Slow request: GET \/hooked took \d+\.\d ms$/);
      assert.ok(Number.isFinite(slow.ms) && (slow.ms as number) >= 0, `duration ${String(slow.ms)}`);

      // nworkersChanged: TTIN adds a worker.
      const before = server.logs.length;
      server.signal('SIGTTIN');
      const changed = await server.waitForEvent('app.hook', (l) => l.hook === 'nworkersChanged', {
        after: before,
      });
      assert.deepEqual([changed.before, changed.now], [2, 3]);
      await waitFor('a third worker', () => server.liveWorkerPids().length === 3, { timeoutMs: 60_000 });

      // childExit: TTOU retires the oldest worker, and the hook sees it go.
      const beforeTtou = server.logs.length;
      server.signal('SIGTTOU');
      const gone = await server.waitForEvent('app.hook', (l) => l.hook === 'childExit', {
        after: beforeTtou,
        timeoutMs: 60_000,
      });
      assert.ok(
        pids.includes(gone.workerPid as number),
        `an original worker left, not ${String(gone.workerPid)}`,
      );

      // onExit: runs when the master stops.
      await server.stop(30_000);
      assert.equal((await server.exit).code, 0);
      assert.equal(hook('onExit').length, 1);
    });

    test('--print-config shows the values the file sets', async () => {
      const result = await runCli([example('hello.ts'), '-c', config, '--print-config']);
      assert.equal(result.code, 0, result.stderr);
      const line = (name: string) => result.stdout.split('\n').find((l) => l.startsWith(`${name} `)) ?? '';
      assert.match(line('workers'), /= 2 {2}\(config file\)$/);
      assert.match(line('bind'), /= \["127\.0\.0\.1:8000"\] {2}\(config file\)$/);
      assert.match(line('timeout'), /= 20 {2}\(config file\)$/);
      assert.match(line('accessLogfile'), /= "-" {2}\(config file\)$/);
      for (const name of [
        'onStarting',
        'whenReady',
        'postFork',
        'postWorkerInit',
        'preRequest',
        'postRequest',
        'onExit',
      ]) {
        assert.match(line(name), /= <function> {2}\(config file\)$/, name);
      }
      assert.match(line('workerClass'), /\(default\)$/);
    });
  });
});
