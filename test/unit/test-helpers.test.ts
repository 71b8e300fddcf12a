/** The test helpers must not hide a failure: checked here, since every integration test leans on them. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assertLoggable, logLevelOf } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

describe('waitFor', () => {
  test('an assertion failing inside the probe fails the wait at once, not at the deadline', async () => {
    let calls = 0;
    const started = Date.now();
    await assert.rejects(
      waitFor(
        'a verdict',
        () => {
          calls++;
          assert.equal(500, 200, 'every request must succeed');
          return true;
        },
        { timeoutMs: 10_000 },
      ),
      (err: Error) => err instanceof assert.AssertionError && /every request must succeed/.test(err.message),
    );
    assert.equal(calls, 1);
    assert.ok(Date.now() - started < 1000);
  });

  test('other errors mean "not yet": retried until the probe succeeds', async () => {
    let calls = 0;
    const value = await waitFor(
      'a server that starts',
      () => {
        calls++;
        if (calls < 3) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        return 'up';
      },
      { intervalMs: 1 },
    );
    assert.equal(value, 'up');
    assert.equal(calls, 3);
  });

  test('at the deadline the last error is in the message', async () => {
    await assert.rejects(
      waitFor(
        'never',
        () => {
          throw new Error('ECONNREFUSED');
        },
        { timeoutMs: 30, intervalMs: 5 },
      ),
      /timed out after 30 ms waiting for never \(last error: Error: ECONNREFUSED\)/,
    );
  });
});

describe('the Server helper and --log-level', () => {
  test('reads the level from the command line and UNICORN_TS_CMD_ARGS, the command line last', () => {
    assert.equal(logLevelOf(['app.mjs']), 'info');
    assert.equal(logLevelOf(['app.mjs', '--log-level', 'warning']), 'warning');
    assert.equal(logLevelOf(['--log-level=error']), 'error');
    assert.equal(logLevelOf([], { UNICORN_TS_CMD_ARGS: '--log-level debug' }), 'debug');
    assert.equal(logLevelOf(['--log-level', 'info'], { UNICORN_TS_CMD_ARGS: '--log-level error' }), 'info');
  });

  test('waiting for a line the level filters out throws a clear error; a line at or above it does not', () => {
    assert.throws(
      () => assertLoggable('master.ready', 'info', 'warning'),
      /master\.ready at info level can never succeed: the server runs with --log-level warning/,
    );
    assertLoggable('worker.exited', 'error', 'warning');
    assertLoggable('master.queueing', 'debug', 'debug');
  });
});
