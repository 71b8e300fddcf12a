import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import Koa from 'koa';
import { chooseInterface } from '../../src/app-interface.js';
import { isUnicornError } from '../../src/errors.js';
import { recogniseFramework, serveApp } from '../../src/frameworks.js';
import { listenTarget, refuseListen } from '../../src/listen-guard.js';

describe('recogniseFramework', () => {
  test('a Fastify instance, a Koa app', () => {
    assert.equal(recogniseFramework(Fastify())?.framework, 'Fastify');
    assert.equal(recogniseFramework(new Koa())?.framework, 'Koa');
  });

  test('plain handlers and other objects are not frameworks', () => {
    assert.equal(
      recogniseFramework((req: unknown, res: unknown) => [req, res]),
      null,
    );
    assert.equal(recogniseFramework({ fetch: () => new Response('x') }), null);
    assert.equal(recogniseFramework({ ready() {}, close() {} }), null);
    assert.equal(recogniseFramework(null), null);
  });

  test('the interface is node, and the reason names the framework', () => {
    assert.deepEqual(chooseInterface(new Koa(), 'auto'), {
      interface: 'node',
      reason: 'the app is a Koa app, served through app.callback()',
    });
  });
});

describe('serveApp', () => {
  test('Fastify: ready() before serving, routing as the handler, close() closes the instance', async () => {
    const app = Fastify();
    let closed = false;
    app.addHook('onClose', async () => {
      closed = true;
    });
    const served = await serveApp(app);
    assert.equal(served.handler, app.routing);
    assert.throws(() => app.get('/late', async () => 'x'), /already booted/);
    await served.close?.();
    assert.equal(closed, true);
  });

  test('a framework that fails to start is UNICORN_APP_LIFECYCLE, naming the call', async () => {
    const app = Fastify();
    app.register(async () => {
      throw new Error('no database');
    });
    await assert.rejects(serveApp(app), (err: unknown) => {
      assert.ok(isUnicornError(err));
      assert.equal(err.code, 'UNICORN_APP_LIFECYCLE');
      assert.match(err.message, /^Fastify ready\(\) failed: no database/);
      return true;
    });
  });

  test('anything else is served as it is', async () => {
    const handler = () => new Response('x');
    assert.deepEqual(await serveApp(handler), { handler, framework: null, close: null });
  });
});

describe('listenTarget names what a listen() call asked for', () => {
  for (const [args, expected] of [
    [[3000], 'port 3000'],
    [['8080', '0.0.0.0'], 'port 8080 (host 0.0.0.0)'],
    [[0], 'port 0 (a random port)'],
    [[], 'a random port (no port given)'],
    [[() => {}], 'a random port (no port given)'],
    [[{ port: 3000, host: '::' }], 'port 3000 (host ::)'],
    [['/run/app.sock'], 'unix socket /run/app.sock'],
    [[{ path: '/run/app.sock' }], 'unix socket /run/app.sock'],
    [[{ fd: 3 }], 'file descriptor 3'],
  ] as const) {
    test(`listen(${JSON.stringify(args)}): ${expected}`, () => {
      assert.equal(listenTarget(args), expected);
    });
  }
});

describe('refuseListen', () => {
  test('listen() throws UNICORN_APP_LISTENS and binds nothing; exclusive listens pass; restore undoes it', async () => {
    const seen: string[] = [];
    const restore = refuseListen((err) => seen.push(err.code));
    const server = net.createServer();
    try {
      assert.throws(() => server.listen(0), /the app called listen\(\) on port 0 \(a random port\) itself/);
      assert.deepEqual(seen, ['UNICORN_APP_LISTENS']);
      assert.equal(server.listening, false);
      await new Promise<void>((resolve) =>
        server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, resolve),
      );
      assert.equal(server.listening, true);
      await new Promise((resolve) => server.close(resolve));
    } finally {
      restore();
    }
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    assert.equal(seen.length, 1);
    await new Promise((resolve) => server.close(resolve));
  });
});
