/**
 * --body-timeout's clock (watchBodyIdle in src/http/limits.ts) on a real IncomingMessage, fed the way
 * node:http's parser feeds it (push), with mocked timers so every assertion is exact. What the
 * server does when it fires (408, the app's stream failing) is in test/integration/body-timeout.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { hasBody, watchBodyIdle } from '../../src/http/limits.js';

const MS = 1000;
/** The request stream's buffer: a push that fills it returns false, as node:http's parser sees. */
const HIGH_WATER_MARK = 16;

function setup() {
  // Only what IncomingMessage reads from its socket: no real socket is needed to push and read.
  const socket = { readable: false, destroyed: true, readableHighWaterMark: HIGH_WATER_MARK };
  const req = new IncomingMessage(socket as unknown as Socket);
  const res = new EventEmitter();
  let expired = 0;
  // The clock is Date.now, which the mocked timers move (they do not move the monotonic clock).
  watchBodyIdle(
    req,
    res,
    MS,
    () => expired++,
    () => Date.now(),
  );
  return { req, res, expired: () => expired };
}

describe('watchBodyIdle', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }));
  afterEach(() => mock.timers.reset());

  test('fires once, when no body data has come for the whole timeout', () => {
    const { expired } = setup();
    mock.timers.tick(MS - 1);
    assert.equal(expired(), 0);
    mock.timers.tick(1);
    assert.equal(expired(), 1);
    mock.timers.tick(10 * MS);
    assert.equal(expired(), 1);
  });

  test('is an idle timeout between pieces, not a deadline for the body', () => {
    const { req, expired } = setup();
    for (let i = 0; i < 20; i++) {
      mock.timers.tick(MS / 2);
      req.push(Buffer.from('x'));
      req.read(); // the app keeps up
    }
    assert.equal(expired(), 0, 'ten timeouts long in all, never a silence as long as one');
    mock.timers.tick(MS - 1);
    assert.equal(expired(), 0);
    mock.timers.tick(1);
    assert.equal(expired(), 1, 'a timeout after the last piece');
  });

  test('does not run while the app is not reading (the buffer is full), and restarts when it reads', () => {
    const { req, expired } = setup();
    assert.equal(req.push(Buffer.alloc(HIGH_WATER_MARK)), false, 'the buffer is full');
    mock.timers.tick(10 * MS);
    assert.equal(expired(), 0, 'the server is waiting for the app, not for the client');
    assert.equal(req.read()?.length, HIGH_WATER_MARK); // the app reads; the stream asks for more
    mock.timers.tick(MS - 1);
    assert.equal(expired(), 0);
    mock.timers.tick(1);
    assert.equal(expired(), 1, 'now the server waits for the client again');
  });

  test('a wait that restarts before the previous timer ran out still gets its full timeout', () => {
    const { req, expired } = setup();
    mock.timers.tick(MS / 2);
    req.push(Buffer.alloc(HIGH_WATER_MARK));
    mock.timers.tick(MS / 4);
    req.read();
    mock.timers.tick(MS - 1);
    assert.equal(expired(), 0);
    mock.timers.tick(1);
    assert.equal(expired(), 1);
  });

  test('stops at the end of the body', () => {
    const { req, expired } = setup();
    req.push(Buffer.from('abc'));
    req.push(null);
    mock.timers.tick(10 * MS);
    assert.equal(expired(), 0);
  });

  test('stops when the response closes (node:http discards the rest of the body)', () => {
    const { res, expired } = setup();
    res.emit('close');
    mock.timers.tick(10 * MS);
    assert.equal(expired(), 0);
  });

  test('stops when the request closes', () => {
    const { req, expired } = setup();
    req.emit('close');
    mock.timers.tick(10 * MS);
    assert.equal(expired(), 0);
  });

  test('once stopped, a late piece or a read does not start the clock again', () => {
    const { req, res, expired } = setup();
    res.emit('close');
    req.push(Buffer.from('x'));
    req.read();
    mock.timers.tick(10 * MS);
    assert.equal(expired(), 0);
  });
});

describe('hasBody', () => {
  const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;

  test('a chunked body or a Content-Length above 0; nothing else', () => {
    assert.equal(hasBody(req({ 'transfer-encoding': 'chunked' })), true);
    assert.equal(hasBody(req({ 'content-length': '10' })), true);
    assert.equal(hasBody(req({ 'content-length': '0' })), false);
    assert.equal(hasBody(req({})), false);
  });
});
