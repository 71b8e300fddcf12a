import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RequestBoard } from '../../workers/request-board.js';

describe('RequestBoard: the request a worker is busy with, readable from another thread', () => {
  test('a new board shows nothing', () => {
    assert.equal(new RequestBoard().read(), null);
  });

  test('shows what was posted last, method and target joined by a space', () => {
    const board = new RequestBoard();
    board.post('GET', '/fast', 1_000);
    board.post('POST', '/orders?id=7', 2_500.5);
    assert.deepEqual(board.read(), { request: 'POST /orders?id=7', startedAt: 2_500.5 });
  });

  test('clear() empties it, and a post after that shows again', () => {
    const board = new RequestBoard();
    board.post('GET', '/a', 1);
    board.clear();
    assert.equal(board.read(), null);
    board.post('GET', '/b', 2);
    assert.deepEqual(board.read(), { request: 'GET /b', startedAt: 2 });
  });

  test('a long target is cut at the board size, never past it, and non-ASCII text survives', () => {
    const board = new RequestBoard();
    board.post('GET', `/${'x'.repeat(2_000)}`, 3);
    const long = board.read();
    assert.ok(long !== null);
    assert.equal(long.request.length, 512);
    assert.ok(long.request.startsWith('GET /xxx'));
    board.post('GET', '/café', 4);
    assert.equal(board.read()?.request, 'GET /café');
  });

  // The probe thread builds its view from the buffer the worker passed it; the real two-thread path
  // is covered by the WORKER TIMEOUT tests in test/integration/hardening.test.ts.
  test('a view made from the same buffer reads what the other posted, and sees it cleared', () => {
    const board = new RequestBoard();
    const view = new RequestBoard(board.buffer);
    assert.equal(view.read(), null);
    board.post('PUT', '/from-main', 42);
    assert.deepEqual(view.read(), { request: 'PUT /from-main', startedAt: 42 });
    board.clear();
    assert.equal(view.read(), null);
  });

  // The sequence number is odd while a post is being written. The probe thread can catch the main
  // thread there (it is blocked mid-post only in theory, but a read racing a post sees it often):
  // what it gets is nothing, never half a post, and it gives up rather than spin.
  test('while a post is being written (odd sequence) it reads nothing, and the post once it is whole', () => {
    const board = new RequestBoard();
    board.post('GET', '/a', 1);
    const sequence = new Int32Array(board.buffer, 0, 1);
    Atomics.add(sequence, 0, 1);
    assert.equal(board.read(), null);
    Atomics.add(sequence, 0, 1);
    assert.deepEqual(board.read(), { request: 'GET /a', startedAt: 1 });
  });
});
