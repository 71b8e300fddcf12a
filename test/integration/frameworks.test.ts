/**
 * The frameworks, each run for real: every example in examples/ for Fastify, Koa, NestJS and
 * Next.js is started by the real CLI as docs/frameworks.md says, exercised over HTTP (routing, a
 * JSON body, a streamed response, an error route) and stopped with TERM, after which its own close
 * or shutdown code has run. And an app that still calls listen() itself is refused.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request, streamLines } from '../helpers/http.js';
import { killGroup, track } from '../helpers/processes.js';
import { fixture, ROOT, runCli, type Server, startServer, stopAll } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const dirs: string[] = [];
after(async () => {
  await stopAll();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const example = (name: string) => `${ROOT}examples/${name}`;

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `unicorn-ts-${prefix}-`));
  dirs.push(dir);
  return dir;
}

const json = (body: string): unknown => JSON.parse(body);
const JSON_BODY = { 'content-type': 'application/json' };

/** The single worker's pid, once it logged worker.ready. */
function workerPid(server: Server): number {
  const [pid] = server.liveWorkerPids();
  assert.ok(pid !== undefined, 'no ready worker');
  return pid;
}

function assertLoadedAs(server: Server, framework: string): void {
  const [loaded] = server.events('worker.app_loaded');
  assert.ok(loaded, 'no worker.app_loaded event');
  assert.equal(loaded.interface, 'node');
  assert.match(
    String(loaded.reason),
    new RegExp(`^the app is a ${framework.replace('.', '\\.')} app, served through`),
  );
}

/** The common routes of every framework example, under `prefix`. */
async function exerciseExample(server: Server, prefix = ''): Promise<void> {
  const base = `${server.url}${prefix}`;
  const pid = workerPid(server);

  const hello = await request(`${base}/hello/Ada`);
  assert.equal(hello.status, 200, hello.body);
  assert.match(String(hello.headers['content-type']), /^application\/json/);
  assert.deepEqual((json(hello.body) as { greeting: string; worker: number }).greeting, 'Hello, Ada!');
  assert.equal((json(hello.body) as { worker: number }).worker, pid);

  const created = await request(`${base}/notes`, {
    method: 'POST',
    headers: JSON_BODY,
    body: '{"text":"hi"}',
  });
  assert.equal(created.status, 201, created.body);
  assert.deepEqual(json(created.body), { id: 1, text: 'hi' });
  const invalid = await request(`${base}/notes`, { method: 'POST', headers: JSON_BODY, body: '{}' });
  assert.equal(invalid.status, 400, invalid.body);

  const streamed = await streamLines(`${base}/stream?n=5`);
  assert.equal(streamed.status, 200);
  assert.equal(streamed.headers['transfer-encoding'], 'chunked');
  assert.match(String(streamed.headers['content-type']), /^text\/plain/);
  assert.deepEqual(
    streamed.lines,
    Array.from({ length: 5 }, (_, i) => `line ${i + 1} of 5`),
  );

  const boom = await request(`${base}/boom`);
  assert.equal(boom.status, 500);
  // The app's error route is the framework's business: the worker serves on.
  assert.equal(server.events('request.error').length, 0);
  assert.equal((await request(`${base}/hello/Bob`)).status, 200);
}

/** TERM: the master exits 0 once the worker ran `line` (its close or shutdown code) and exited. */
async function stopsGracefully(server: Server, line: (pid: number) => string): Promise<void> {
  const pid = workerPid(server);
  server.signal('SIGTERM');
  const { code } = await server.waitForExit(60_000);
  assert.equal(code, 0, server.stderrText.slice(-2000));
  assert.ok(server.stdout.includes(`${line(pid)}\n`), `stdout: ${server.stdout}`);
  const exited = server.events('worker.exited').find((l) => l.workerPid === pid);
  assert.equal(exited?.code, 0);
}

describe('Fastify: the exported instance', () => {
  test('is recognised, started with ready(), served through routing, closed on TERM', async () => {
    const server = await startServer([example('fastify-app.mjs')]);
    assertLoadedAs(server, 'Fastify');
    await exerciseExample(server);
    const invalid = await request(`${server.url}/notes`, { method: 'POST', headers: JSON_BODY, body: '{}' });
    assert.equal((json(invalid.body) as { code: string }).code, 'FST_ERR_VALIDATION');
    const missing = await request(`${server.url}/nope`);
    assert.equal(missing.status, 404);
    assert.deepEqual(json(missing.body), { error: 'no route for GET /nope' });
    // trustProxy: '127.0.0.1' (the test client is the proxy here).
    const proxied = await request(`${server.url}/hello/Ada`, {
      headers: { 'x-forwarded-for': '203.0.113.7' },
    });
    assert.equal((json(proxied.body) as { ip: string }).ip, '203.0.113.7');
    await stopsGracefully(server, (pid) => `fastify-app: onClose in worker ${pid}`);
  });
});

describe('Koa: the exported app', () => {
  test('is recognised and served through callback(); shutdown() runs on TERM', async () => {
    const server = await startServer([example('koa-app.mjs')], { env: { BEHIND_PROXY: '1' } });
    assertLoadedAs(server, 'Koa');
    await exerciseExample(server);
    assert.deepEqual(json((await request(`${server.url}/boom`)).body), { error: 'internal error' });
    // The example logs the stack of a 500 through Koa's 'error' event.
    await waitFor('the stack of /boom', () => /koa-app: Error: boom\n\s+at /.test(server.stderrText));
    assert.equal((await request(`${server.url}/nope`)).status, 404);
    // app.proxy = true (BEHIND_PROXY=1).
    const proxied = await request(`${server.url}/hello/Ada`, {
      headers: { 'x-forwarded-for': '203.0.113.7' },
    });
    assert.equal((json(proxied.body) as { ip: string }).ip, '203.0.113.7');
    await stopsGracefully(server, (pid) => `koa-app: shutdown in worker ${pid}`);
  });
});

describe('NestJS: a compiled app from a createApp() factory', () => {
  test('is recognised, init()ed, served through its Express instance, and close()d on TERM', async () => {
    const server = await startServer([`${example('nest-app.mjs')}:createApp()`]);
    assertLoadedAs(server, 'NestJS');
    await exerciseExample(server);
    // Nest's exception filter: a JSON 500, the stack in the log.
    assert.deepEqual(json((await request(`${server.url}/boom`)).body), {
      statusCode: 500,
      message: 'Internal server error',
    });
    await waitFor('the stack of /boom', () =>
      /Error: boom\n\s+at AppController\.boom/.test(server.stderrText),
    );
    const missing = await request(`${server.url}/nope`);
    assert.equal(missing.status, 404);
    assert.equal((json(missing.body) as { message: string }).message, 'Cannot GET /nope');
    // app.set('trust proxy', 'loopback'): @Ip() reads X-Forwarded-For from the loopback peer.
    const proxied = await request(`${server.url}/hello/Ada`, {
      headers: { 'x-forwarded-for': '203.0.113.7' },
    });
    assert.equal((json(proxied.body) as { ip: string }).ip, '203.0.113.7');
    await stopsGracefully(server, (pid) => `nest-app: onApplicationShutdown in worker ${pid}`);
  });
});

/** Runs a command to completion in its own process group, killed at the deadline. */
function run(
  command: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
) {
  return new Promise<string>((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child);
    let output = '';
    child.stdout!.on('data', (c: Buffer) => (output += c));
    child.stderr!.on('data', (c: Buffer) => (output += c));
    const timer = setTimeout(() => killGroup(child.pid!), opts.timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      killGroup(child.pid!);
      if (code === 0) resolve(output);
      else
        reject(
          new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}:\n${output.slice(-4000)}`),
        );
    });
  });
}

describe('Next.js: a production build', () => {
  test('the exported next() server is prepare()d, served through getRequestHandler(), and closed on TERM', async () => {
    // A copy, so the build writes its .next/ outside the repository; node_modules is this one's.
    const dir = tempDir('next');
    cpSync(example('next-app'), dir, { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1', NODE_ENV: 'production' };
    await run(process.execPath, [join(ROOT, 'node_modules/next/dist/bin/next'), 'build', '--webpack'], {
      cwd: dir,
      env,
      timeoutMs: 600_000,
    });

    const server = await startServer([join(dir, 'server.mjs')], { env, timeoutMs: 120_000 });
    assertLoadedAs(server, 'Next.js');
    const pid = workerPid(server);

    const home = await request(`${server.url}/`);
    assert.equal(home.status, 200);
    assert.match(home.body, /<h1>Hello from Next\.js<\/h1>/);
    const hello = await request(`${server.url}/hello/Ada`);
    assert.equal(hello.status, 200);
    assert.match(
      hello.body,
      new RegExp(`Hello, (<!-- -->)?Ada(<!-- -->)?! \\(worker (<!-- -->)?${pid}(<!-- -->)?\\)`),
    );

    const created = await request(`${server.url}/api/notes`, {
      method: 'POST',
      headers: JSON_BODY,
      body: '{"text":"hi"}',
    });
    assert.equal(created.status, 201, created.body);
    assert.deepEqual(json(created.body), { id: 1, text: 'hi' });
    assert.equal(
      (await request(`${server.url}/api/notes`, { method: 'POST', headers: JSON_BODY, body: '{}' })).status,
      400,
    );

    const streamed = await streamLines(`${server.url}/api/stream?n=5`);
    assert.equal(streamed.status, 200);
    assert.equal(streamed.headers['transfer-encoding'], 'chunked');
    assert.deepEqual(
      streamed.lines,
      Array.from({ length: 5 }, (_, i) => `line ${i + 1} of 5`),
    );

    assert.equal((await request(`${server.url}/api/boom`)).status, 500);
    await waitFor('the stack of /api/boom', () => /Error: boom\n\s+at /.test(server.stderrText));
    assert.equal((await request(`${server.url}/nope`)).status, 404);
    await stopsGracefully(server, (p) => `next-app: shutdown in worker ${p}`);
  });
});

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Whether something accepts connections on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('an app that calls listen() itself', () => {
  async function refusedAtBoot(app: string, port: number | null): Promise<Server> {
    const env = port === null ? {} : { APP_PORT: String(port) };
    const server = await startServer([fixture(app)], { env, waitFor: null });
    const { code } = await server.waitForExit(60_000);
    assert.equal(code, 4, server.stderrText.slice(-3000));
    const failed = server.events('worker.boot_failed');
    assert.ok(failed.length > 0, 'no worker.boot_failed');
    assert.equal(failed[0]!.code, 'UNICORN_APP_LISTENS');
    const halt = server.events('master.halt')[0];
    assert.ok(halt, 'no master.halt');
    assert.match(String(halt.msg), /^App failed to load: the app called listen\(\) on /);
    assert.equal(server.events('master.ready').length, 0);
    return server;
  }

  test('Express app.listen(0) while imported: the worker refuses it, and the master stops with exit 4', async () => {
    const server = await refusedAtBoot('express-listens.mjs', null);
    assert.match(String(server.events('master.halt')[0]!.msg), /listen\(\) on port 0 \(a random port\)/);
    // The stack of the refusal shows the app's own line.
    const failed = server.events('worker.boot_failed')[0]!;
    assert.match(String((failed.err as { stack: string }).stack), /express-listens\.mjs:\d+/);
  });

  test('http.createServer().listen(port) while imported: refused, naming the port, which nobody serves', async () => {
    const port = await freePort();
    const server = await refusedAtBoot('http-listens.mjs', port);
    assert.match(
      String(server.events('master.halt')[0]!.msg),
      new RegExp(`listen\\(\\) on port ${port} itself`),
    );
    assert.equal(await accepts(port), false, `something listens on port ${port}`);
  });

  test('a listen() from a timer once the worker serves: it throws, is logged, and the worker serves on', async () => {
    const port = await freePort();
    const server = await startServer([fixture('listens-later.mjs')], {
      env: { APP_PORT: String(port), LISTEN_AFTER_MS: '500' },
    });
    const refused = await server.waitForEvent('worker.listen_refused', () => true, { level: 'error' });
    assert.equal(refused.code, 'UNICORN_APP_LISTENS');
    assert.match(String(refused.msg), new RegExp(`listen\\(\\) on port ${port} itself`));
    const reply = await request(server.url);
    assert.deepEqual(json(reply.body), { refused: 'UNICORN_APP_LISTENS' });
    assert.equal(await accepts(port), false, `something listens on port ${port}`);
    assert.equal(server.events('worker.exited').length, 0);
  });

  test('--check-config reports it too, without binding in the master', async () => {
    const port = await freePort();
    const result = await runCli([fixture('http-listens.mjs'), '--check-config'], {
      env: { APP_PORT: String(port) },
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`the app called listen\\(\\) on port ${port} itself`));
    assert.match(result.stderr, /\[UNICORN_APP_LISTENS\] Remove the listen\(\) call/);
  });

  test('a second server with exclusive: true binds in the worker, and both serve', async () => {
    const server = await startServer([fixture('exclusive-listen.mjs')]);
    const { sidePort } = json((await request(server.url)).body) as { sidePort: number };
    assert.notEqual(sidePort, server.port);
    const side = await request(`http://127.0.0.1:${sidePort}/`);
    assert.equal(side.body, `side server of ${workerPid(server)}`);
  });
});

describe('emitDecoratorMetadata in a TypeScript app', () => {
  function project(emit: boolean): string {
    const dir = tempDir('decorators');
    mkdirSync(join(dir, 'src'));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      `{\n  // as \`nest new\` writes it\n  "compilerOptions": { "experimentalDecorators": true, "emitDecoratorMetadata": ${emit}, },\n}\n`,
    );
    writeFileSync(
      join(dir, 'src/app.ts'),
      'export default (request: Request): Response => new Response("ok");\n',
    );
    return join(dir, 'src/app.ts');
  }

  test('warns at start, naming the tsconfig and the build step', async () => {
    const app = project(true);
    const server = await startServer([app]);
    const [warning] = server.events('master.app_warning');
    assert.ok(warning, 'no master.app_warning');
    assert.equal(warning.level, 'warn');
    assert.match(
      String(warning.msg),
      /tsconfig\.json sets emitDecoratorMetadata, which Node's type stripping and tsx cannot emit/,
    );
    assert.match(String(warning.msg), /Compile it with tsc/);
    assert.equal((await request(server.url)).body, 'ok');
  });

  test('--check-config warns and still passes', async () => {
    const result = await runCli([project(true), '--check-config']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /^unicorn-ts: warning: .*tsconfig\.json sets emitDecoratorMetadata/m);
    assert.match(result.stdout, /^OK: /);
  });

  test('no warning when the tsconfig does not set it', async () => {
    const result = await runCli([project(false), '--check-config']);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /emitDecoratorMetadata/);
  });
});
