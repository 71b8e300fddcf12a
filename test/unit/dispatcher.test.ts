import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mayStartRequest } from '../../src/master/dispatcher.js';

describe('mayStartRequest: what a parked connection sent first', () => {
  test('a method token and a space, after any empty lines, may start a request', () => {
    for (const head of ['GET / HTTP/1.1\r\n', 'POST /x', '\r\nGET /', '\n\nPUT ', 'M-SEARCH *', 'GET'])
      assert.equal(mayStartRequest(Buffer.from(head, 'latin1')), true, JSON.stringify(head));
  });

  test('only empty lines so far may still start one', () => {
    for (const head of ['\r\n', '\r', '\n\r\n'])
      assert.equal(mayStartRequest(Buffer.from(head, 'latin1')), true, JSON.stringify(head));
  });

  test('anything else cannot', () => {
    for (const head of ['XYZ\r\n', ' GET /', '\x16\x03\x01', 'GET\t/', '{"a":1}', '\x00', 'GET\r\n'])
      assert.equal(mayStartRequest(Buffer.from(head, 'latin1')), false, JSON.stringify(head));
  });
});
