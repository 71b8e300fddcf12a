import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import { formatBind, parseBind } from '../../src/bind.js';
import { ERRORS } from '../../src/errors.js';

describe('parseBind', () => {
  test('HOST:PORT is a TCP address', () => {
    assert.deepEqual(parseBind('127.0.0.1:8000'), { kind: 'tcp', host: '127.0.0.1', port: 8000 });
    assert.deepEqual(parseBind('example.com:80'), { kind: 'tcp', host: 'example.com', port: 80 });
  });

  test('a host alone listens on port 8000', () => {
    assert.deepEqual(parseBind('localhost'), { kind: 'tcp', host: 'localhost', port: 8000 });
  });

  test(':PORT listens on every IPv4 interface', () => {
    assert.deepEqual(parseBind(':9000'), { kind: 'tcp', host: '0.0.0.0', port: 9000 });
  });

  test('[IPV6]:PORT is an IPv6 address, without the brackets', () => {
    assert.deepEqual(parseBind('[::1]:8080'), { kind: 'tcp', host: '::1', port: 8080 });
    assert.deepEqual(parseBind('[::]:80'), { kind: 'tcp', host: '::', port: 80 });
  });

  test('[IPV6] alone listens on port 8000', () => {
    assert.deepEqual(parseBind('[::1]'), { kind: 'tcp', host: '::1', port: 8000 });
  });

  test('HOST: and a bare colon, with the port left empty, listen on port 8000', () => {
    assert.deepEqual(parseBind('127.0.0.1:'), { kind: 'tcp', host: '127.0.0.1', port: 8000 });
    assert.deepEqual(parseBind(':'), { kind: 'tcp', host: '0.0.0.0', port: 8000 });
  });

  test('port 0 (any free port) and port 65535 are ports', () => {
    assert.deepEqual(parseBind('127.0.0.1:0'), { kind: 'tcp', host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseBind('127.0.0.1:65535'), { kind: 'tcp', host: '127.0.0.1', port: 65535 });
  });

  test('unix:PATH is a unix socket, its path made absolute', () => {
    assert.deepEqual(parseBind('unix:/tmp/x.sock'), { kind: 'unix', path: '/tmp/x.sock' });
    assert.deepEqual(parseBind('unix:run/app.sock'), { kind: 'unix', path: resolve('run/app.sock') });
  });

  test('fd://N is an inherited file descriptor', () => {
    assert.deepEqual(parseBind('fd://3'), { kind: 'fd', fd: 3 });
    assert.deepEqual(parseBind('fd://0'), { kind: 'fd', fd: 0 });
    assert.deepEqual(parseBind('fd://2147483647'), { kind: 'fd', fd: 2147483647 });
  });

  for (const fd of ['', 'x', '-1', '3.5', ' 3', '0x3', '2147483648']) {
    test(`fd://${fd} is not a file descriptor: UNICORN_BIND, quoting the address`, () => {
      assert.throws(() => parseBind(`fd://${fd}`), {
        code: 'UNICORN_BIND',
        message: `invalid bind address "fd://${fd}": "${fd}" is not a file descriptor number`,
      });
    });
  }

  test('unix: without a path is an error', () => {
    assert.throws(() => parseBind('unix:'), {
      code: 'UNICORN_BIND',
      message: 'invalid bind address "unix:": empty unix socket path',
    });
  });

  for (const port of ['65536', '99999', 'http', '-1', '80.5', '0x50']) {
    test(`"${port}" is not a port: UNICORN_BIND, quoting the address and the port`, () => {
      assert.throws(() => parseBind(`127.0.0.1:${port}`), {
        code: 'UNICORN_BIND',
        message: `invalid bind address "127.0.0.1:${port}": "${port}" is not a port number`,
      });
    });
  }

  test('a port after [IPV6] is checked too', () => {
    assert.throws(() => parseBind('[::1]:70000'), {
      code: 'UNICORN_BIND',
      message: 'invalid bind address "[::1]:70000": "70000" is not a port number',
    });
  });

  test('an IPv6 address without brackets is an error that shows the bracketed form', () => {
    for (const text of ['::1', '::1:8000', 'fe80::1:80']) {
      assert.throws(() => parseBind(text), {
        code: 'UNICORN_BIND',
        message: `invalid bind address "${text}": IPv6 addresses go in brackets: [::1]:8000`,
      });
    }
  });

  test('the bracketed form is the whole address: nothing before the bracket, only a port after it', () => {
    for (const text of ['x[::1]:8000', '[::1]:8000x', '[::1]x']) {
      assert.throws(() => parseBind(text), {
        code: 'UNICORN_BIND',
        message: `invalid bind address "${text}": IPv6 addresses go in brackets: [::1]:8000`,
      });
    }
  });

  test('brackets around something that is not an IPv6 address are an error', () => {
    assert.throws(() => parseBind('[localhost]:80'), {
      code: 'UNICORN_BIND',
      message: 'invalid bind address "[localhost]:80": "localhost" is not an IPv6 address',
    });
  });

  test('every address form the UNICORN_BIND hint offers is accepted (fd://N)', {}, () => {
    // Green once the hint and the parser agree, whichever of the two changes.
    if (/fd:\/\/N/.test(ERRORS.UNICORN_BIND.hint)) assert.doesNotThrow(() => parseBind('fd://3'));
  });
});

describe('formatBind', () => {
  test('writes each kind in --bind syntax, and parseBind reads it back', () => {
    const cases: Array<[Parameters<typeof formatBind>[0], string]> = [
      [{ kind: 'tcp', host: '127.0.0.1', port: 8000 }, '127.0.0.1:8000'],
      [{ kind: 'tcp', host: 'example.com', port: 0 }, 'example.com:0'],
      [{ kind: 'tcp', host: '::1', port: 80 }, '[::1]:80'],
      [{ kind: 'unix', path: '/run/a,b%c.sock' }, 'unix:/run/a,b%c.sock'],
      [{ kind: 'fd', fd: 3 }, 'fd://3'],
    ];
    for (const [bind, text] of cases) {
      assert.equal(formatBind(bind), text);
      assert.deepEqual(parseBind(text), bind);
    }
  });
});
