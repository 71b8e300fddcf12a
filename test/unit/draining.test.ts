/**
 * src/draining.ts: one drain signal per process, shared by every copy of the module (an app's own
 * node_modules may hold another copy of unicorn-ts than the one running it), aborted once, taking
 * any number of listeners. Each test file runs in a process of its own, so aborting it here is safe.
 */

import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { drainingSignal, startDraining, whenDraining } from '../../src/draining.js';
import { createClientResolver } from '../../src/http/forwarded.js';
import { WorkerRequestInfo } from '../../src/http/request-info.js';
import { draining } from '../../src/index.js';
import type { Logger } from '../../src/log.js';

type DrainingModule = typeof import('../../src/draining.js');

/** The same file loaded again as a module of its own, as a second copy of the package would be. */
async function anotherCopy(): Promise<DrainingModule> {
  const copy = (await import(new URL('../../src/draining.ts?copy', import.meta.url).href)) as DrainingModule;
  assert.notEqual(copy.drainingSignal, drainingSignal, 'a separate module instance');
  return copy;
}

function info(): WorkerRequestInfo {
  return new WorkerRequestInfo(
    { method: 'GET', url: '/', socket: {} } as IncomingMessage,
    createClientResolver('127.0.0.1'),
    '',
    { id: 1, pid: 1 },
    new AbortController(),
    {} as Logger,
  );
}

describe('the drain signal', () => {
  test('is one signal for the process: the package export, every request info, every copy of the module', async () => {
    const signal = drainingSignal();
    assert.equal(drainingSignal(), signal);
    assert.equal(draining, signal);
    assert.equal(info().draining, signal);
    assert.equal(info().draining, info().draining);
    assert.equal((await anotherCopy()).drainingSignal(), signal);
    assert.equal(signal.aborted, false, 'nothing aborts it until a drain starts');
  });

  test('takes more listeners than Node allows an EventTarget before it warns, without a warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const listeners = Array.from({ length: 50 }, () => () => {});
      for (const listener of listeners) drainingSignal().addEventListener('abort', listener);
      await new Promise((resolve) => setImmediate(resolve));
      for (const listener of listeners) drainingSignal().removeEventListener('abort', listener);
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(
      warnings.map((w) => w.name),
      [],
    );
  });

  test('a drain started from another copy aborts it once, with an AbortError naming the cause; whenDraining() resolves', async () => {
    let fired = 0;
    drainingSignal().addEventListener('abort', () => fired++);
    const resolved = whenDraining();
    (await anotherCopy()).startDraining('SIGTERM');
    startDraining('a second stop');
    await resolved;
    const signal = drainingSignal();
    assert.equal(signal.aborted, true);
    assert.equal(fired, 1);
    assert.ok(signal.reason instanceof DOMException);
    assert.equal(signal.reason.name, 'AbortError');
    assert.equal(signal.reason.message, 'the worker is draining (SIGTERM)');
    await whenDraining();
    assert.equal(
      info().draining.aborted,
      true,
      'a request that arrives after the drain began sees it at once',
    );
  });
});
