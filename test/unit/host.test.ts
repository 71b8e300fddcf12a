/** The Host check (RFC 9110 `uri-host [ ":" port ]`, and a URL the WHATWG parser accepts) and the request authority. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { authorityOf, isValidHost } from '../../src/http/host.js';

describe('isValidHost', () => {
  test('accepts names, IPv4 and IPv6 literals, with or without a port', () => {
    for (const host of [
      'example.com',
      'example.com:8080',
      'EXAMPLE.com',
      'exa_mple-1.test~',
      '127.0.0.1',
      '127.0.0.1:65535',
      '[::1]',
      '[::1]:8080',
      '[2001:db8::7]:443',
      '%41bc',
    ]) {
      assert.equal(isValidHost(host), true, host);
    }
  });

  test('accepts an empty value, and an empty port after the colon', () => {
    assert.equal(isValidHost(''), true);
    assert.equal(isValidHost('example.com:'), true);
    assert.equal(isValidHost('[::1]:'), true);
  });

  test('refuses a port above 65535 or longer than five digits, or not made of digits', () => {
    assert.equal(isValidHost('example.com:65535'), true);
    assert.equal(isValidHost('example.com:65536'), false);
    assert.equal(isValidHost('example.com:99999'), false);
    assert.equal(isValidHost('example.com:000080'), false);
    assert.equal(isValidHost('example.com:8o'), false);
    assert.equal(isValidHost('example.com:-1'), false);
  });

  test('refuses characters outside the grammar, so the path cannot move', () => {
    for (const host of ['x/admin?', 'x/admin', 'a b', 'a@b', 'a#b', 'a\\b', '%zz', '%4', 'a"b']) {
      assert.equal(isValidHost(host), false, host);
    }
  });

  test('refuses a malformed IP literal', () => {
    for (const host of ['[::1', '[zz]', '[::1]x', '[]', '::1', '[::1]:80x', 'x[::1]']) {
      assert.equal(isValidHost(host), false, host);
    }
  });

  test('refuses a value the grammar allows but a URL cannot hold', () => {
    assert.equal(isValidHost('256.0.0.1'), false);
    assert.equal(isValidHost(':80'), false);
  });

  test('gives the same answer when asked again, for a valid and then an invalid value', () => {
    assert.equal(isValidHost('repeat.example'), true);
    assert.equal(isValidHost('repeat.example'), true);
    assert.equal(isValidHost('repeat.example/x'), false);
    assert.equal(isValidHost('repeat.example/x'), false);
    assert.equal(isValidHost('repeat.example'), true);
  });
});

describe('authorityOf', () => {
  test('is the Host header when it names one', () => {
    assert.equal(
      authorityOf('example.com:8080', { localAddress: '127.0.0.1', localPort: 9 }),
      'example.com:8080',
    );
  });

  test('is the local address and port without a Host, or with an empty one', () => {
    assert.equal(authorityOf(undefined, { localAddress: '127.0.0.1', localPort: 8000 }), '127.0.0.1:8000');
    assert.equal(authorityOf('', { localAddress: '127.0.0.1', localPort: 8000 }), '127.0.0.1:8000');
  });

  test('puts an IPv6 local address in brackets', () => {
    assert.equal(authorityOf(undefined, { localAddress: '::1', localPort: 8443 }), '[::1]:8443');
  });

  test('is localhost when the connection has no local address (a unix socket)', () => {
    assert.equal(authorityOf(undefined, {}), 'localhost');
    assert.equal(authorityOf('', { localAddress: '' }), 'localhost');
  });
});
