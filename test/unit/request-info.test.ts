import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WorkerRequestInfo } from '../../src/http/request-info.js';
import type { Logger } from '../../src/log.js';

/** A Logger that records the bindings of each child it makes. */
function recordingLogger(children: Record<string, unknown>[]): Logger {
  const noop = () => {};
  const logger: Logger = {
    trace: noop,
    debug: noop,
    info: noop,
    warn: noop,
    error: noop,
    child(bindings) {
      children.push(bindings);
      return recordingLogger(children);
    },
  };
  return logger;
}

describe('WorkerRequestInfo: the second argument of a fetch handler', () => {
  const make = (children: Record<string, unknown>[] = []) => {
    const abort = new AbortController();
    const info = new WorkerRequestInfo(
      '203.0.113.7',
      51234,
      'https',
      '/api',
      { id: 3, pid: 4242 },
      abort,
      { method: 'POST', url: '/orders?x=1' },
      recordingLogger(children),
    );
    return { info, abort };
  };

  test('carries the client, the scheme, the mount prefix and the worker as given', () => {
    const { info } = make();
    assert.equal(info.remoteAddress, '203.0.113.7');
    assert.equal(info.remotePort, 51234);
    assert.equal(info.scheme, 'https');
    assert.equal(info.rootPath, '/api');
    assert.deepEqual(info.worker, { id: 3, pid: 4242 });
  });

  test('signal is the abort signal of the request, and fires when the client goes away', () => {
    const { info, abort } = make();
    assert.equal(info.signal, abort.signal);
    assert.equal(info.signal.aborted, false);
    abort.abort();
    assert.equal(info.signal.aborted, true);
  });

  test('log is a child logger bound to the method and url, made once on first use', () => {
    const children: Record<string, unknown>[] = [];
    const { info } = make(children);
    assert.deepEqual(children, [], 'nothing is built for a request that never logs');
    const first = info.log;
    assert.equal(info.log, first);
    assert.deepEqual(children, [{ method: 'POST', url: '/orders?x=1' }]);
  });
});
