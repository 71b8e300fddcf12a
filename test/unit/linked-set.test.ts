import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LinkedSet } from '../../src/linked-set.js';

const items = (n: number) => Array.from({ length: n }, (_, i) => ({ i }));
const ids = (set: LinkedSet<{ i: number }>) => [...set].map((x) => x.i);

describe('LinkedSet: the set of open connections', () => {
  test('adds once, counts, and iterates in the order of adding', () => {
    const set = new LinkedSet<{ i: number }>();
    const [a, b, c] = items(3) as [{ i: number }, { i: number }, { i: number }];
    assert.equal(set.add(a), true);
    assert.equal(set.add(b), true);
    assert.equal(set.add(a), false, 'already in');
    assert.equal(set.add(c), true);
    assert.equal(set.size, 3);
    assert.deepEqual(ids(set), [0, 1, 2]);
    assert.equal(set.has(b), true);
    assert.equal(set.has({ i: 9 }), false);
  });

  test('deletes from the head, the middle and the tail, and takes an item back after', () => {
    const set = new LinkedSet<{ i: number }>();
    const all = items(5);
    for (const x of all) set.add(x);
    assert.equal(set.delete(all[2]!), true);
    assert.equal(set.delete(all[2]!), false, 'already gone');
    assert.deepEqual(ids(set), [0, 1, 3, 4]);
    set.delete(all[0]!);
    set.delete(all[4]!);
    assert.deepEqual(ids(set), [1, 3]);
    assert.equal(set.size, 2);
    assert.equal(set.has(all[0]!), false);
    set.add(all[0]!);
    assert.deepEqual(ids(set), [1, 3, 0], 'added again, at the end');
    set.delete(all[1]!);
    set.delete(all[3]!);
    set.delete(all[0]!);
    assert.equal(set.size, 0);
    assert.deepEqual(ids(set), []);
    set.add(all[4]!);
    assert.deepEqual(ids(set), [4], 'an emptied set works as a new one');
  });

  test('iterates what it held when iteration began: deleted items are skipped, added ones not visited', () => {
    const set = new LinkedSet<{ i: number }>();
    const all = items(6);
    for (const x of all.slice(0, 5)) set.add(x);
    const seen: number[] = [];
    for (const x of set) {
      seen.push(x.i);
      // Closing the current connection and the next one while draining, and a new one arriving.
      if (x.i === 1) {
        set.delete(x);
        set.delete(all[2]!);
        set.add(all[5]!);
      }
    }
    assert.deepEqual(seen, [0, 1, 3, 4]);
    assert.deepEqual(ids(set), [0, 3, 4, 5]);
  });

  test('one object can be in two sets', () => {
    const first = new LinkedSet<{ i: number }>();
    const second = new LinkedSet<{ i: number }>();
    const [x] = items(1) as [{ i: number }];
    first.add(x);
    second.add(x);
    first.delete(x);
    assert.equal(first.has(x), false);
    assert.equal(second.has(x), true);
    assert.deepEqual(ids(second), [0]);
  });
});
