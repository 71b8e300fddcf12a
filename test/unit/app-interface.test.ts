import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chooseInterface } from '../../src/app-interface.js';

// The handlers below are only inspected (their length and parameter names), never called.

describe('chooseInterface with --interface auto', () => {
  test('an object with a fetch() method speaks fetch', () => {
    assert.deepEqual(chooseInterface({ fetch: () => new Response('x') }, 'auto'), {
      interface: 'fetch',
      reason: 'the app is an object with a fetch() method',
    });
  });

  test('an object whose fetch is not a function is not treated as a fetch app', () => {
    assert.equal(chooseInterface({ fetch: 'nope' }, 'auto').reason, 'the app is not a function');
  });

  test('`async (req) => ...` speaks fetch: one argument is a Request', () => {
    assert.deepEqual(
      chooseInterface(async (req: Request) => new Response(req.url), 'auto'),
      { interface: 'fetch', reason: 'the handler takes 1 argument(s): (request)' },
    );
  });

  test('a handler that takes no arguments speaks fetch', () => {
    assert.deepEqual(
      chooseInterface(() => new Response('hi'), 'auto'),
      {
        interface: 'fetch',
        reason: 'the handler takes 0 argument(s): (request)',
      },
    );
  });

  test('`(req, res) => ...` speaks node, and the reason names the parameter', () => {
    assert.deepEqual(
      chooseInterface((req: { url: string }, res: { end(s: string): void }) => res.end(req.url), 'auto'),
      { interface: 'node', reason: 'the handler\'s second parameter is named "res"' },
    );
  });

  test('`(request, info) => ...` speaks fetch, and the reason names the parameter', () => {
    assert.deepEqual(
      chooseInterface(
        (request: Request, info: unknown) => new Response(`${request.url} ${String(info)}`),
        'auto',
      ),
      { interface: 'fetch', reason: 'the handler\'s second parameter is named "info"' },
    );
  });

  test('`(req, res, next)` speaks node', () => {
    assert.deepEqual(
      chooseInterface((req: unknown, res: unknown, next: (e?: unknown) => void) => next([req, res]), 'auto'),
      { interface: 'node', reason: 'the handler takes (req, res, next)' },
    );
  });

  test('a function with use() and handle() (Express, Connect) speaks node', () => {
    const app = Object.assign((req: unknown, res: unknown) => [req, res], { use() {}, handle() {} });
    assert.deepEqual(chooseInterface(app, 'auto'), {
      interface: 'node',
      reason: 'the app looks like an Express/Connect app (has use() and handle())',
    });
  });

  test('use() and handle() outweigh fetch-like parameter names', () => {
    const app = Object.assign((request: unknown, info: unknown) => [request, info], {
      use() {},
      handle() {},
    });
    assert.equal(chooseInterface(app, 'auto').interface, 'node');
  });

  test('use() without handle() is not enough to look like Express', () => {
    const app = Object.assign((request: unknown) => request, { use() {} });
    assert.equal(chooseInterface(app, 'auto').interface, 'fetch');
  });

  for (const name of ['info', 'ctx', 'context', 'env', 'c', 'conn', 'connInfo', 'server', 'meta', 'CTX']) {
    test(`a second parameter named "${name}" means fetch`, () => {
      const fn = new Function('request', name, 'return request;') as (a: unknown, b: unknown) => unknown;
      assert.equal(chooseInterface(fn, 'auto').interface, 'fetch');
    });
  }

  for (const name of ['res', 'response', 'resp', 'reply', 'out', 'rs', 'Res']) {
    test(`a second parameter named "${name}" means node`, () => {
      const fn = new Function('req', name, 'return req;') as (a: unknown, b: unknown) => unknown;
      assert.equal(chooseInterface(fn, 'auto').interface, 'node');
    });
  }

  test('two parameters with names it does not know are assumed to be (req, res)', () => {
    assert.deepEqual(
      chooseInterface((a: unknown, b: unknown) => [a, b], 'auto'),
      { interface: 'node', reason: 'the handler takes two arguments; assuming (req, res)' },
    );
  });

  test('parameter names are read from function declarations and async functions too', () => {
    async function handler(request: Request, ctx: unknown) {
      return new Response(`${request.url}${String(ctx)}`);
    }
    function legacy(req: unknown, response: unknown) {
      return [req, response];
    }
    assert.equal(chooseInterface(handler, 'auto').interface, 'fetch');
    assert.equal(chooseInterface(legacy, 'auto').interface, 'node');
  });

  // new Function keeps comments in the source; tsx strips them from functions written in this file.
  test('a comment after the first parameter does not hide the second name', () => {
    const fn = new Function('request /* a Request */', 'info', 'return request;') as (
      a: unknown,
      b: unknown,
    ) => unknown;
    assert.equal(chooseInterface(fn, 'auto').interface, 'fetch');
  });

  test('a JSDoc type before the second parameter does not hide its name: `(request, /** @type {Info} */ info)`', {}, () => {
    const fn = new Function('request', '/** @type {Info} */ info', 'return request;') as (
      a: unknown,
      b: unknown,
    ) => unknown;
    assert.equal(chooseInterface(fn, 'auto').interface, 'fetch');
  });

  test('a bound function, whose parameter names cannot be read, is assumed to be (req, res)', () => {
    const bound = ((request: unknown, info: unknown) => [request, info]).bind(null);
    assert.deepEqual(chooseInterface(bound, 'auto'), {
      interface: 'node',
      reason: 'the handler takes two arguments; assuming (req, res)',
    });
  });

  test('a destructured first parameter does not hide the second name: `({ url, method }, info)` is fetch', {}, () => {
    const fn = ({ url, method }: Request, info: unknown) => new Response(`${method} ${url} ${String(info)}`);
    assert.equal(chooseInterface(fn, 'auto').interface, 'fetch');
  });

  test('a value that is neither a function nor an object with fetch() falls back to fetch', () => {
    assert.deepEqual(chooseInterface(42, 'auto'), {
      interface: 'fetch',
      reason: 'the app is not a function',
    });
    assert.equal(chooseInterface(null, 'auto').interface, 'fetch');
  });
});

describe('chooseInterface with an explicit --interface', () => {
  test('--interface fetch wins over a (req, res) shape', () => {
    assert.deepEqual(
      chooseInterface((req: unknown, res: unknown) => [req, res], 'fetch'),
      { interface: 'fetch', reason: '--interface fetch' },
    );
  });

  test('--interface node wins over an object with fetch()', () => {
    assert.deepEqual(chooseInterface({ fetch() {} }, 'node'), {
      interface: 'node',
      reason: '--interface node',
    });
  });

  test('--interface node wins over a one-argument handler', () => {
    assert.equal(chooseInterface((request: unknown) => request, 'node').interface, 'node');
  });
});
