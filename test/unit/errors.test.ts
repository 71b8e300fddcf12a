import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeError, ERRORS, type ErrorCode, isUnicornError, UnicornError } from '../../src/errors.js';

const codes = Object.keys(ERRORS) as ErrorCode[];

describe('the error catalogue', () => {
  test('every code says when it happens and what to do about it', () => {
    assert.ok(codes.length > 0);
    for (const code of codes) {
      const spec = ERRORS[code];
      assert.equal(typeof spec.when, 'string', code);
      assert.equal(typeof spec.hint, 'string', code);
      assert.ok(spec.when.trim().length > 10, `${code} has a real "when"`);
      assert.ok(spec.hint.trim().length > 10, `${code} has a real "hint"`);
    }
  });

  test('every code is an upper-case name under the UNICORN_ prefix', () => {
    for (const code of codes) assert.match(code, /^UNICORN_[A-Z_]+$/);
  });

  test('no two codes share a hint, so each one tells the user something specific', () => {
    const hints = codes.map((code) => ERRORS[code].hint);
    assert.equal(new Set(hints).size, hints.length);
  });
});

describe('UnicornError', () => {
  test('carries its code, its message and the catalogue hint', () => {
    const err = new UnicornError('UNICORN_BIND', 'cannot bind 1.2.3.4:80: permission denied');
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'UnicornError');
    assert.equal(err.code, 'UNICORN_BIND');
    assert.equal(err.message, 'cannot bind 1.2.3.4:80: permission denied');
    assert.equal(err.hint, ERRORS.UNICORN_BIND.hint);
  });

  test('a hint given to the constructor replaces the catalogue hint', () => {
    const err = new UnicornError('UNICORN_HOOK', 'onStarting threw', { hint: 'look at onStarting' });
    assert.equal(err.hint, 'look at onStarting');
  });

  test('keeps the original error as its cause, and has no cause when none was given', () => {
    const original = new Error('ENOENT');
    assert.equal(new UnicornError('UNICORN_PIDFILE', 'x', { cause: original }).cause, original);
    assert.equal('cause' in new UnicornError('UNICORN_PIDFILE', 'x'), false);
  });

  test('isUnicornError tells our errors from other errors and from non-errors', () => {
    assert.equal(isUnicornError(new UnicornError('UNICORN_APP_SPEC', 'x')), true);
    assert.equal(isUnicornError(new Error('x')), false);
    assert.equal(isUnicornError({ code: 'UNICORN_APP_SPEC', message: 'x' }), false);
    assert.equal(isUnicornError(undefined), false);
  });
});

describe('describeError', () => {
  test('keeps every line of a message, on one line (compilers put the useful part on later lines)', () => {
    assert.equal(
      describeError(new Error('Transform failed with 1 error:\n  app.ts:3:1: ERROR: Unexpected "}"\n')),
      'Transform failed with 1 error: | app.ts:3:1: ERROR: Unexpected "}"',
    );
  });

  test('caps a very long message', () => {
    assert.equal(describeError(new Error('x'.repeat(1000))).length, 600);
  });

  test('gives a one-line message whole', () => {
    assert.equal(describeError(new TypeError('x is not a function')), 'x is not a function');
  });

  test('turns a thrown non-error into a string', () => {
    assert.equal(describeError('plain string'), 'plain string');
    assert.equal(describeError(42), '42');
    assert.equal(describeError(null), 'null');
    assert.equal(describeError(undefined), 'undefined');
  });

  test("gives the error's name for an error with an empty message", () => {
    assert.equal(describeError(new TypeError('')), 'TypeError');
  });
});
