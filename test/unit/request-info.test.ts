import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { type ClientResolver, createClientResolver } from '../../src/http/forwarded.js';
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

/** A request as node:http gives it, on a socket whose peer address is read through a getter. */
function fakeRequest(headers: Record<string, string>, peerReads: string[] = []): IncomingMessage {
  const socket = {
    encrypted: true,
    get remoteAddress() {
      peerReads.push('remoteAddress');
      return '203.0.113.7';
    },
    get remotePort() {
      peerReads.push('remotePort');
      return 51234;
    },
  };
  return { method: 'POST', url: '/orders?x=1', headers, socket } as unknown as IncomingMessage;
}

describe('WorkerRequestInfo: the second argument of a fetch handler', () => {
  const make = (
    children: Record<string, unknown>[] = [],
    req = fakeRequest({}),
    resolver: ClientResolver = createClientResolver('127.0.0.1'),
  ) => {
    const abort = new AbortController();
    const info = new WorkerRequestInfo(
      req,
      resolver,
      '/api',
      { id: 3, pid: 4242 },
      abort,
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

  test('the forwarding headers are not looked at until someone reads the client', () => {
    const reads: string[] = [];
    let resolved = 0;
    const real = createClientResolver('127.0.0.1');
    const counting = Object.assign(
      (req: IncomingMessage) => {
        resolved++;
        return real(req);
      },
      {
        forwards: real.forwards,
      },
    );
    const { info } = make([], fakeRequest({}, reads), counting);
    assert.deepEqual(reads, [], 'nothing is read from the socket until someone asks');
    assert.equal(info.scheme, 'https', 'the connection is TLS and no proxy says otherwise');
    assert.equal(resolved, 0, 'no forwarding header: the scheme needs no resolving');
    assert.equal(info.remoteAddress, '203.0.113.7');
    assert.equal(info.remoteAddress, '203.0.113.7');
    assert.equal(resolved, 1, 'resolved once, on first read');
    assert.deepEqual(reads, ['remoteAddress']);
  });

  test("a forwarding header from an untrusted peer changes nothing; the scheme stays the connection's", () => {
    const { info } = make(
      [],
      fakeRequest({ 'x-forwarded-proto': 'http', 'x-forwarded-for': '198.51.100.1' }),
    );
    assert.equal(info.scheme, 'https');
    assert.equal(info.remoteAddress, '203.0.113.7');
  });

  test("a trusted proxy's forwarding headers give the client and its scheme", () => {
    const { info } = make(
      [],
      fakeRequest({ 'x-forwarded-proto': 'http', 'x-forwarded-for': '198.51.100.1' }),
      createClientResolver('203.0.113.7'),
    );
    assert.equal(info.scheme, 'http');
    assert.equal(info.remoteAddress, '198.51.100.1');
  });
});
