import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { interfaceHint } from '../../src/http/errors.js';

describe('interfaceHint: a hint when a node-style app was run as a fetch one', () => {
  const hint = 'if the app is a (req, res) handler, start unicorn-ts with --interface node';

  test('a fetch app failing as a (req, res) handler called with a Request would', () => {
    assert.equal(interfaceHint(new TypeError('res.setHeader is not a function'), 'fetch'), hint);
    assert.equal(
      interfaceHint(new TypeError("Cannot read properties of undefined (reading 'end')"), 'fetch'),
      hint,
    );
  });

  test('no hint for other errors, or under --interface node', () => {
    assert.equal(interfaceHint(new Error('database is down'), 'fetch'), undefined);
    assert.equal(interfaceHint(new TypeError('res.setHeader is not a function'), 'node'), undefined);
    assert.equal(
      interfaceHint(new TypeError("Cannot read properties of undefined (reading 'x')"), 'node'),
      undefined,
    );
  });

  test('only an Error is read: a thrown plain object with such a message gets no hint', () => {
    assert.equal(interfaceHint({ message: 'x is not a function' }, 'fetch'), undefined);
    assert.equal(interfaceHint('x is not a function', 'fetch'), undefined);
  });
});
