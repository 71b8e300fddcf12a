/**
 * Long-lived responses (Server-Sent Events, long polls) through reloads, stops and recycling: the
 * app hears that its worker drains (`info.draining`, or the package's `draining` export), ends them
 * cleanly, and the worker exits long before --graceful-timeout, runs shutdown() and logs no error;
 * a response that ignores the signal is killed at --graceful-timeout, and the kill line says what
 * it held.
 */

import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { fixture, type LogLine, ROOT, type Server, startServer, stopAll } from '../helpers/server.js';
import { isAlive, waitFor } from '../helpers/wait.js';

after(stopAll);

/** Far longer than any clean drain takes, so a kill at it can only mean the drain did not work. */
const GRACEFUL_TIMEOUT_S = 30;
/** A clean drain, from the stop to the old worker's exit, stays well under this. */
const CLEAN_DRAIN_MS = 10_000;

/** How one streamed response ended, as the client saw it. */
interface Ended {
  status: number;
  body: string;
  /** The body ended as HTTP says it should (the chunked terminator), not with a cut connection. */
  complete: boolean;
}

interface OpenStream {
  /** The first chunk of the body: the worker is holding the response open. */
  readonly first: Promise<string>;
  readonly ended: Promise<Ended>;
}

/** A keep-alive client, as a browser's EventSource is: the server has to end the connection itself. */
const agents: http.Agent[] = [];
after(() => {
  for (const agent of agents) agent.destroy();
});

/**
 * A GET whose body is read as it streams in. `first` is its first event (up to a blank line);
 * `ended` fails only when no response came at all, never on a cut body.
 */
function openStream(url: string): OpenStream {
  const agent = new http.Agent({ keepAlive: true });
  agents.push(agent);
  let gotFirst!: (chunk: string) => void;
  let noFirst!: (err: Error) => void;
  const first = new Promise<string>((resolve, reject) => {
    gotFirst = resolve;
    noFirst = reject;
  });
  const ended = new Promise<Ended>((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const before = body.indexOf('\n\n');
        body += chunk;
        const end = body.indexOf('\n\n');
        if (before === -1 && end !== -1) gotFirst(body.slice(0, end + 2));
      });
      // An ECONNRESET on a cut body: the 'close' below tells it by `complete`.
      res.on('error', () => {});
      res.on('close', () => {
        noFirst(new Error(`the response to ${url} ended before its first chunk`));
        resolve({ status: res.statusCode ?? 0, body, complete: res.complete });
      });
    });
    req.on('error', (err) => {
      noFirst(err);
      reject(err);
    });
  });
  // Each may go unread (a test that expects the request to fail reads only `ended`).
  first.catch(() => {});
  ended.catch(() => {});
  return { first, ended };
}

/** Resolves with how the stream ended; fails if it is still open after `ms`. */
async function endsWithin(stream: OpenStream, ms: number, what: string): Promise<Ended> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} was still open ${ms} ms after the stop`)), ms);
  });
  try {
    return await Promise.race([stream.ended, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until the app has logged that it holds `kind` open in worker `pid`. */
function holding(server: Server, kind: string, pid?: number): Promise<LogLine> {
  return waitFor(`the app to hold a ${kind} response`, () =>
    server.logs.find(
      (l) => l.fixture === 'holding' && l.kind === kind && (pid === undefined || l.pid === pid),
    ),
  );
}

/** The old worker's stop: it exited by itself, with code 0, soon after it was told to stop. */
async function drainedCleanly(server: Server, pid: number, stoppedAt: number): Promise<void> {
  const exited = await server.waitForEvent('worker.exited', (l) => l.workerPid === pid);
  assert.equal(exited.level, 'info', `the old worker exited normally: ${JSON.stringify(exited)}`);
  assert.equal(exited.code, 0);
  assert.equal(exited.signal, null);
  const tookMs = Date.parse(String(exited.time)) - stoppedAt;
  assert.ok(tookMs < CLEAN_DRAIN_MS, `the old worker took ${tookMs} ms to exit after the stop`);
  assertNoErrors(server);
}

function assertNoErrors(server: Server): void {
  const bad = server.logs.filter(
    (l) => l.event === 'worker.killed' || l.level === 'error' || l.level === 'critical',
  );
  assert.deepEqual(bad, [], 'nothing was logged as an error, and no worker was killed');
}

function markerLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** A fetch app in a fresh directory whose answers and events carry `version`. */
function sseApp(version: string): { dir: string; app: string } {
  const dir = mkdtempSync(join(tmpdir(), 'unicorn-long-lived-'));
  const app = join(dir, 'app.mjs');
  writeSseApp(app, version);
  return { dir, app };
}

function writeSseApp(app: string, version: string): void {
  writeFileSync(
    app,
    `const encoder = new TextEncoder();
export default function sse(request, info) {
  if (new URL(request.url).pathname !== '/events') return new Response('${version} ' + process.pid);
  let tick;
  let bye;
  const body = new ReadableStream({
    start(controller) {
      controller.enqueue(encoder.encode('data: ${version} ' + process.pid + '\\n\\n'));
      tick = setInterval(() => controller.enqueue(encoder.encode(': tick\\n\\n')), 200);
      bye = () => {
        clearInterval(tick);
        controller.enqueue(encoder.encode('event: bye\\ndata: reconnect\\n\\n'));
        controller.close();
      };
      if (info.draining.aborted) bye();
      else info.draining.addEventListener('abort', bye, { once: true });
    },
    cancel() {
      clearInterval(tick);
      info.draining.removeEventListener('abort', bye);
    },
  });
  return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
}
`,
  );
}

describe('long-lived responses through a drain', () => {
  test('HUP: an SSE stream (fetch, info.draining) ends cleanly, and the next connection reaches a new worker running the new code', async () => {
    const { app } = sseApp('v1');
    const server = await startServer([app, '-w', '1', '--graceful-timeout', String(GRACEFUL_TIMEOUT_S)]);
    const [oldPid] = server.liveWorkerPids();
    const stream = openStream(`${server.url}/events`);
    assert.equal(await stream.first, `data: v1 ${oldPid}\n\n`);

    writeSseApp(app, 'v2');
    const mark = server.logs.length;
    server.signal('SIGHUP');
    const stopping = await server.waitForEvent('worker.exiting', (l) => l.pid === oldPid, { after: mark });
    const ended = await endsWithin(stream, CLEAN_DRAIN_MS, 'the SSE stream');
    assert.equal(ended.status, 200);
    assert.equal(ended.complete, true, 'the stream ended with its terminator, not a cut connection');
    assert.ok(ended.body.endsWith('event: bye\ndata: reconnect\n\n'), `the app said goodbye: ${ended.body}`);

    // The client reconnects, as EventSource does.
    const again = openStream(`${server.url}/events`);
    const [, version, pid] = /^data: (\S+) (\d+)\n\n$/.exec(await again.first) ?? [];
    assert.equal(version, 'v2');
    assert.notEqual(Number(pid), oldPid);
    await server.waitForEvent('worker.ready', (l) => l.pid === Number(pid), { after: mark });
    await drainedCleanly(server, oldPid!, Date.parse(String(stopping.time)));
    await server.waitForEvent('reload.done', () => true, { after: mark });
  });

  test('a stream that ends on the drain takes its keep-alive connection with it: a request sent on that connection afterwards never reaches the old worker', async () => {
    const { app } = sseApp('v1');
    const server = await startServer([app, '-w', '1', '--graceful-timeout', String(GRACEFUL_TIMEOUT_S)]);
    const [oldPid] = server.liveWorkerPids();
    const socket = net.connect(server.port, '127.0.0.1');
    let data = '';
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    socket.setEncoding('latin1').on('data', (chunk: string) => {
      data += chunk;
    });
    socket.write('GET /events HTTP/1.1\r\nHost: long-lived.test\r\n\r\n');
    await waitFor('the first event', () => data.includes(`data: v1 ${oldPid}`));

    server.signal('SIGHUP');
    // An EventSource reconnects on the same connection when it can.
    const end = await waitFor(
      'the end of the chunked stream',
      () => {
        const at = data.indexOf('\r\n0\r\n\r\n');
        return at === -1 ? undefined : at + 7;
      },
      { timeoutMs: CLEAN_DRAIN_MS },
    );
    socket.write('GET / HTTP/1.1\r\nHost: long-lived.test\r\n\r\n');
    await waitFor('the server to close the connection', () => socket.destroyed || socket.readableEnded, {
      timeoutMs: CLEAN_DRAIN_MS,
    });
    socket.destroy();
    await closed;
    assert.match(data.slice(0, end), /event: bye\ndata: reconnect\n\n/);
    assert.equal(data.slice(end), '', 'nothing was answered on the connection after the stream ended');
  });

  test('TERM: a dozen SSE streams and a long poll (node, req.unicorn.draining) end cleanly, with no listener warning, shutdown() runs, and the master exits 0 long before --graceful-timeout', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'unicorn-long-lived-')), 'marker');
    const server = await startServer(
      [fixture('long-lived.mjs'), '-w', '1', '--graceful-timeout', String(GRACEFUL_TIMEOUT_S)],
      { env: { MARKER: marker } },
    );
    const [pid] = server.liveWorkerPids();
    // More listeners on the one shared signal than Node allows an EventTarget before it warns.
    const streams = Array.from({ length: 12 }, () => openStream(`${server.url}/events`));
    for (const stream of streams) assert.equal(await stream.first, `data: ${pid}\n\n`);
    const poll = openStream(`${server.url}/poll`);
    await holding(server, 'poll');

    const stoppedAt = Date.now();
    server.signal('SIGTERM');
    for (const stream of streams) {
      const sse = await endsWithin(stream, CLEAN_DRAIN_MS, 'an SSE stream');
      assert.equal(sse.complete, true, 'the SSE stream ended with its terminator');
      assert.ok(sse.body.endsWith('event: bye\ndata: reconnect\n\n'));
    }
    const answer = await endsWithin(poll, CLEAN_DRAIN_MS, 'the long poll');
    assert.deepEqual(answer, { status: 200, body: '{"retry":true}', complete: true });

    const exit = await server.waitForExit();
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(Date.now() - stoppedAt < CLEAN_DRAIN_MS, `the stop took ${Date.now() - stoppedAt} ms`);
    assert.deepEqual(markerLines(marker), [`shutdown ${pid}`]);
    await drainedCleanly(server, pid!, stoppedAt);
    assert.doesNotMatch(server.stderrText, /MaxListenersExceededWarning/);
  });

  test('--max-requests: a worker recycled under an open SSE stream ends it cleanly, and the client reconnects to its replacement', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'unicorn-long-lived-')), 'marker');
    const server = await startServer(
      [
        fixture('long-lived.mjs'),
        '-w',
        '1',
        '--max-requests',
        '2',
        '--max-requests-jitter',
        '0',
        '--graceful-timeout',
        String(GRACEFUL_TIMEOUT_S),
      ],
      { env: { MARKER: marker } },
    );
    const [oldPid] = server.liveWorkerPids();
    const stream = openStream(`${server.url}/events`);
    assert.equal(await stream.first, `data: ${oldPid}\n\n`);
    // The SSE request counts once it ends: two more requests reach the limit.
    const mark = server.logs.length;
    for (let i = 0; i < 2; i++) assert.equal((await request(`${server.url}/`)).body, String(oldPid));
    const stopping = await server.waitForEvent(
      'worker.exiting',
      (l) => l.pid === oldPid && l.inflight !== undefined,
      {
        after: mark,
      },
    );
    const ended = await endsWithin(stream, CLEAN_DRAIN_MS, 'the SSE stream');
    assert.equal(ended.complete, true, 'the stream ended with its terminator');
    assert.ok(ended.body.endsWith('event: bye\ndata: reconnect\n\n'));

    const again = openStream(`${server.url}/events`);
    const pid = Number(/^data: (\d+)\n\n$/.exec(await again.first)?.[1]);
    assert.notEqual(pid, oldPid);
    await drainedCleanly(server, oldPid!, Date.parse(String(stopping.time)));
    assert.deepEqual(markerLines(marker), [`shutdown ${oldPid}`]);
  });

  test('an uncaught error retires the worker: its SSE stream ends cleanly and the client reconnects to the replacement', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'unicorn-long-lived-')), 'marker');
    const server = await startServer(
      [fixture('long-lived.mjs'), '-w', '1', '--graceful-timeout', String(GRACEFUL_TIMEOUT_S)],
      { env: { MARKER: marker } },
    );
    const [oldPid] = server.liveWorkerPids();
    const stream = openStream(`${server.url}/events`);
    assert.equal(await stream.first, `data: ${oldPid}\n\n`);

    assert.equal((await request(`${server.url}/crash`)).body, String(oldPid));
    await server.waitForEvent('worker.uncaught', (l) => l.pid === oldPid, { level: 'error' });
    const ended = await endsWithin(stream, CLEAN_DRAIN_MS, 'the SSE stream');
    assert.equal(ended.complete, true, 'the stream ended with its terminator');
    assert.ok(ended.body.endsWith('event: bye\ndata: reconnect\n\n'));
    const again = openStream(`${server.url}/events`);
    assert.notEqual(Number(/^data: (\d+)\n\n$/.exec(await again.first)?.[1]), oldPid);
    const exited = await server.waitForEvent('worker.exited', (l) => l.workerPid === oldPid);
    assert.deepEqual([exited.code, exited.signal], [0, null]);
    assert.deepEqual(markerLines(marker), [`shutdown ${oldPid}`]);
  });

  test('the master gone (kill -9): the orphaned worker ends its SSE stream cleanly, runs shutdown() and exits', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'unicorn-long-lived-')), 'marker');
    const server = await startServer(
      [fixture('long-lived.mjs'), '-w', '1', '--graceful-timeout', String(GRACEFUL_TIMEOUT_S)],
      { env: { MARKER: marker } },
    );
    const [pid] = server.liveWorkerPids();
    const stream = openStream(`${server.url}/events`);
    assert.equal(await stream.first, `data: ${pid}\n\n`);

    process.kill(server.pid, 'SIGKILL');
    const ended = await endsWithin(stream, CLEAN_DRAIN_MS, 'the SSE stream');
    assert.equal(ended.complete, true, 'the stream ended with its terminator');
    assert.ok(ended.body.endsWith('event: bye\ndata: reconnect\n\n'));
    await waitFor('the orphaned worker to exit', () => !isAlive(pid!), { timeoutMs: CLEAN_DRAIN_MS });
    assert.deepEqual(markerLines(marker), [`shutdown ${pid}`]);
    const orphaned = server.logs.find((l) => l.event === 'worker.orphaned');
    assert.equal(orphaned?.pid, pid);
  });

  test('a long poll and a stream that ignore the signal are killed at --graceful-timeout, and the kill line names what the worker held', async () => {
    const server = await startServer([fixture('long-lived.mjs'), '-w', '1', '--graceful-timeout', '3']);
    const [pid] = server.liveWorkerPids();
    const poll = openStream(`${server.url}/poll?ignore`);
    await holding(server, 'poll');
    const events = openStream(`${server.url}/events?ignore`);
    assert.equal(await events.first, `data: ${pid}\n\n`);

    server.signal('SIGTERM');
    const killed = await server.waitForEvent('worker.killed', (l) => l.workerPid === pid, {
      level: 'warning',
    });
    assert.equal(killed.inflight, 2);
    assert.equal(killed.streaming, 1, 'the SSE response had sent its head');
    assert.equal(killed.websockets, 0);
    assert.equal(killed.connections, 2);
    assert.equal(killed.request, 'GET /poll?ignore');
    assert.ok(Number(killed.requestAgeSeconds) >= 3, `the oldest request's age: ${killed.requestAgeSeconds}`);
    assert.equal(killed.reason, 'master stopping');
    assert.match(
      String(killed.msg),
      /did not stop in time; killing it with 2 requests in flight \(1 streaming response\), 0 WebSockets, 2 connections; the oldest, GET \/poll\?ignore, started \d+ s ago/,
    );
    const exited = await server.waitForEvent('worker.exited', (l) => l.workerPid === pid, { level: 'error' });
    assert.equal(exited.signal, 'SIGKILL');
    assert.match(String(exited.hint), /--graceful-timeout/);
    assert.equal((await events.ended).complete, false, 'the stream was cut');
    await assert.rejects(poll.ended, /socket hang up|ECONNRESET/, 'the long poll never got an answer');
    assert.deepEqual(await server.waitForExit(), { code: 0, signal: null });
  });
});

describe('the package export `draining`, outside a request', () => {
  /** A copy of the built package in a directory of its own, as an app's own node_modules holds it. */
  function appWithOwnCopy(): string {
    const dir = mkdtempSync(join(tmpdir(), 'unicorn-draining-export-'));
    const pkg = join(dir, 'node_modules', 'unicorn-ts');
    mkdirSync(pkg, { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
    cpSync(join(ROOT, 'dist', 'src'), join(pkg, 'dist', 'src'), { recursive: true });
    const app = join(dir, 'app.mjs');
    cpSync(fixture('draining-export.mjs'), app);
    return app;
  }

  for (const [name, app] of [
    [
      'the package by name (its self-reference, the copy the server runs)',
      () => fixture('draining-export.mjs'),
    ],
    ['a copy of the package in the app’s own node_modules', appWithOwnCopy],
  ] as const) {
    test(`imported from ${name}: a hub ends its streams on the signal's event, whenDraining() resolves, shutdown() runs; the master (--preload) never fires`, async () => {
      const marker = join(mkdtempSync(join(tmpdir(), 'unicorn-draining-export-')), 'marker');
      const server = await startServer(
        [app(), '-w', '1', '--preload', '--graceful-timeout', String(GRACEFUL_TIMEOUT_S)],
        { env: { MARKER: marker } },
      );
      const [pid] = server.liveWorkerPids();
      const state = JSON.parse((await request(`${server.url}/state`)).body) as unknown;
      assert.deepEqual(state, { pid, aborted: false, same: true });
      const streams = [openStream(`${server.url}/events`), openStream(`${server.url}/events`)];
      for (const stream of streams) assert.equal(await stream.first, `data: ${pid}\n\n`);

      const stoppedAt = Date.now();
      server.signal('SIGTERM');
      for (const stream of streams) {
        const ended = await endsWithin(stream, CLEAN_DRAIN_MS, 'an SSE stream of the hub');
        assert.equal(ended.complete, true);
        assert.ok(ended.body.endsWith('event: bye\ndata: reconnect\n\n'));
      }
      assert.deepEqual(await server.waitForExit(), { code: 0, signal: null });
      // The master imported the app too (--preload) and stopped: its listeners never ran.
      assert.deepEqual(markerLines(marker), [`abort ${pid}`, `promise ${pid}`, `shutdown ${pid}`]);
      await drainedCleanly(server, pid!, stoppedAt);
    });
  }

  test('in plain node, outside any worker, it never aborts', async () => {
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import { draining, whenDraining } from 'unicorn-ts'; let fired = false; whenDraining().then(() => { fired = true; }); draining.addEventListener('abort', () => { fired = true; }); process.on('beforeExit', () => console.log(JSON.stringify({ aborted: draining.aborted, fired })));",
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 30_000 },
    );
    assert.deepEqual(JSON.parse(out), { aborted: false, fired: false });
  });
});
