import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { forwardingHeaders, highestWeight, route } from '../../src/master/sticky.js';

const keys = Array.from({ length: 3000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.${i % 7}`);

function assignment(slots: number[]): Map<string, number> {
  return new Map(keys.map((key) => [key, highestWeight(key, slots)!]));
}

describe('highestWeight: rendezvous hashing of client addresses over worker slots', () => {
  test('the same address always picks the same slot, whatever the order slots are listed in', () => {
    for (const key of keys.slice(0, 200)) {
      assert.equal(highestWeight(key, [0, 1, 2, 3]), highestWeight(key, [3, 1, 0, 2]));
    }
  });

  test('clients spread evenly over the slots', () => {
    const counts = [0, 0, 0, 0];
    for (const slot of assignment([0, 1, 2, 3]).values()) counts[slot]!++;
    for (const count of counts) assert.ok(count > 600 && count < 900, `uneven: ${counts}`);
  });

  test('removing a slot moves only its own clients; adding one takes clients only from the others', () => {
    const four = assignment([0, 1, 2, 3]);
    const three = assignment([0, 1, 3]);
    for (const key of keys) {
      if (four.get(key) !== 2) assert.equal(three.get(key), four.get(key), key);
    }
    const five = assignment([0, 1, 2, 3, 4]);
    for (const key of keys) {
      if (five.get(key) !== 4) assert.equal(five.get(key), four.get(key), key);
    }
    assert.ok([...five.values()].filter((slot) => slot === 4).length > 400, 'the new slot takes its share');
  });

  test('no slots, no pick', () => {
    assert.equal(highestWeight('10.0.0.1', []), null);
  });
});

describe('route: the worker for a client', () => {
  const key = keys.find((k) => highestWeight(k, [0, 1, 2]) === 1)!;

  test("its slot's worker when that slot has one", () => {
    const serving = new Map([
      [0, 'w0'],
      [1, 'w1'],
      [2, 'w2'],
    ]);
    assert.equal(route(key, { serving, expected: [0, 1, 2] }, false), 'w1');
  });

  test('while its slot’s worker boots: none (it waits), then, past the wait, the best slot serving', () => {
    const serving = new Map([
      [0, 'w0'],
      [2, 'w2'],
    ]);
    assert.equal(route(key, { serving, expected: [0, 1, 2] }, false), null);
    const fallback = route(key, { serving, expected: [0, 1, 2] }, true);
    assert.equal(fallback, `w${highestWeight(key, [0, 2])}`);
  });

  test('a slot nobody boots for is not waited for', () => {
    const serving = new Map([
      [0, 'w0'],
      [2, 'w2'],
    ]);
    assert.equal(route(key, { serving, expected: [0, 2] }, false), `w${highestWeight(key, [0, 2])}`);
  });

  test('no worker at all: none, even past the wait', () => {
    assert.equal(route(key, { serving: new Map(), expected: [0] }, true), null);
  });
});

describe('forwardingHeaders: what the master reads of a request head', () => {
  test('the forwarding fields, names in lower case, repeated ones joined as node:http joins them', () => {
    const head = [
      'GET /socket.io/?EIO=4 HTTP/1.1',
      'Host: example.com',
      'X-Forwarded-For: 203.0.113.7',
      'x-forwarded-for:  10.0.0.1 ',
      'Forwarded: for=192.0.2.60;proto=https',
      'X-Forwarded-Proto: https',
      'Cookie: a=b',
    ].join('\r\n');
    assert.deepEqual(forwardingHeaders(head), {
      'x-forwarded-for': '203.0.113.7, 10.0.0.1',
      forwarded: 'for=192.0.2.60;proto=https',
      'x-forwarded-proto': 'https',
    });
  });

  test('the request line and lines without a name are not fields', () => {
    assert.deepEqual(forwardingHeaders('GET /x-forwarded-for:1 HTTP/1.1\r\n: nothing\r\nnoColon'), {});
  });
});
