import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseForwarded } from '../../src/http/forwarded.js';

describe('parseForwarded (RFC 7239)', () => {
  test('reads elements and pairs, tokens and quoted strings', () => {
    assert.deepEqual(parseForwarded('for=192.0.2.43, for="[2001:db8:cafe::17]:4711";proto=https'), [
      { for: '192.0.2.43' },
      { for: '2001:db8:cafe::17', proto: 'https' },
    ]);
  });

  test('drops an IPv4 port, keeps unknown and obfuscated nodes, ignores unknown parameters', () => {
    assert.deepEqual(parseForwarded('for="192.0.2.1:80";by=_proxy;secret=x, for=unknown;host=example.com'), [
      { for: '192.0.2.1', by: '_proxy' },
      { for: 'unknown', host: 'example.com' },
    ]);
  });

  test('several header lines form one list', () => {
    assert.deepEqual(parseForwarded(['for=198.51.100.1', 'for=10.0.0.2;proto=http']), [
      { for: '198.51.100.1' },
      { for: '10.0.0.2', proto: 'http' },
    ]);
  });
});
