import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import {
  compileTrust,
  createClientResolver,
  DEFAULT_FORWARDER_HEADERS,
  parseForwarded,
} from '../../src/http/forwarded.js';
import { SETTINGS } from '../../src/settings.js';

interface FakeSocket {
  remoteAddress?: string | undefined;
  encrypted?: boolean;
  destroyed?: boolean;
}

/**
 * The parts of a request the resolver reads: the socket's address, whether it is TLS, and the
 * headers (as node gives them: lower-case names, several lines of one header joined or an array).
 */
function request(
  headers: Record<string, string | string[]>,
  socket: FakeSocket = { remoteAddress: '127.0.0.1' },
) {
  return { socket, headers } as unknown as IncomingMessage;
}

const ALL = 'X-Forwarded-For,X-Forwarded-Proto,Forwarded';

describe('createClientResolver: whose headers are believed', () => {
  test('without forwarding headers: the peer and the connection scheme, whoever the peer is', () => {
    const resolve = createClientResolver('127.0.0.1', ALL);
    assert.deepEqual(resolve(request({})), { address: '127.0.0.1', scheme: 'http' });
    assert.deepEqual(resolve(request({}, { remoteAddress: '192.0.2.9', encrypted: true })), {
      address: '192.0.2.9',
      scheme: 'https',
    });
  });

  test('from a trusted peer, X-Forwarded-For and X-Forwarded-Proto set address and scheme', () => {
    const resolve = createClientResolver('127.0.0.1');
    const headers = { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' };
    assert.deepEqual(resolve(request(headers)), { address: '203.0.113.7', scheme: 'https' });
  });

  test('from an untrusted peer every header is ignored, including the scheme', () => {
    const resolve = createClientResolver('10.0.0.1', ALL);
    const peer = { remoteAddress: '127.0.0.1' };
    const spoof = {
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-proto': 'https',
      forwarded: 'for=6.6.6.6;proto=https',
    };
    assert.deepEqual(resolve(request(spoof, peer)), { address: '127.0.0.1', scheme: 'http' });
    // Each header alone is enough to ask the question, and the answer is the same.
    assert.deepEqual(resolve(request({ 'x-forwarded-proto': 'https' }, { remoteAddress: '127.0.0.2' })), {
      address: '127.0.0.2',
      scheme: 'http',
    });
    assert.deepEqual(resolve(request({ forwarded: 'proto=https' }, { remoteAddress: '127.0.0.3' })), {
      address: '127.0.0.3',
      scheme: 'http',
    });
    // Over TLS the scheme stays https even when a client claims http.
    assert.deepEqual(
      resolve(request({ 'x-forwarded-proto': 'http' }, { remoteAddress: '127.0.0.4', encrypted: true })),
      { address: '127.0.0.4', scheme: 'https' },
    );
  });

  test('a trusted peer with only X-Forwarded-Proto keeps its own address', () => {
    const resolve = createClientResolver('127.0.0.1');
    assert.deepEqual(resolve(request({ 'x-forwarded-proto': 'https' })), {
      address: '127.0.0.1',
      scheme: 'https',
    });
  });

  test('a trusted peer with only X-Forwarded-For keeps the connection scheme', () => {
    const resolve = createClientResolver('127.0.0.1');
    const tls = { remoteAddress: '127.0.0.1', encrypted: true };
    assert.deepEqual(resolve(request({ 'x-forwarded-for': '203.0.113.7' }, tls)), {
      address: '203.0.113.7',
      scheme: 'https',
    });
  });

  test('CIDR lists, with spaces and empty entries, and IPv6 peers', () => {
    const resolve = createClientResolver(' 10.0.0.0/8 , ,fd00::/8 ');
    const xff = { 'x-forwarded-for': '203.0.113.7' };
    assert.equal(resolve(request(xff, { remoteAddress: '10.200.3.4' })).address, '203.0.113.7');
    assert.equal(resolve(request(xff, { remoteAddress: 'fd12::1' })).address, '203.0.113.7');
    assert.equal(resolve(request(xff, { remoteAddress: '11.0.0.1' })).address, '11.0.0.1');
    assert.equal(resolve(request(xff, { remoteAddress: 'fe80::1' })).address, 'fe80::1');
  });

  test('an IPv4-mapped IPv6 peer matches its IPv4 entry', () => {
    const resolve = createClientResolver('127.0.0.1');
    const mapped = { remoteAddress: '::ffff:127.0.0.1' };
    assert.equal(resolve(request({ 'x-forwarded-for': '203.0.113.7' }, mapped)).address, '203.0.113.7');
  });

  test('* trusts any peer, also among other entries', () => {
    for (const allow of ['*', '10.0.0.1, *']) {
      const resolve = createClientResolver(allow);
      assert.equal(
        resolve(request({ 'x-forwarded-for': '203.0.113.7' }, { remoteAddress: '198.51.100.3' })).address,
        '203.0.113.7',
        allow,
      );
    }
  });

  test('an empty allow list trusts no address', () => {
    const resolve = createClientResolver('');
    assert.equal(resolve(request({ 'x-forwarded-for': '203.0.113.7' })).address, '127.0.0.1');
  });

  test('a unix-socket peer (no address) is trusted', () => {
    const resolve = createClientResolver('10.0.0.1');
    const unix = { remoteAddress: undefined };
    assert.deepEqual(
      resolve(request({ 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' }, unix)),
      {
        address: '203.0.113.7',
        scheme: 'https',
      },
    );
    assert.deepEqual(resolve(request({}, { remoteAddress: undefined })), { address: '', scheme: 'http' });
  });

  test('a destroyed TCP socket (no address any more) is not taken for a unix socket', () => {
    const resolve = createClientResolver('10.0.0.1');
    const gone = { remoteAddress: undefined, destroyed: true };
    assert.deepEqual(
      resolve(request({ 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' }, gone)),
      {
        address: '',
        scheme: 'http',
      },
    );
  });

  test('trust is decided once per connection: later requests on it reuse the answer', () => {
    const resolve = createClientResolver('127.0.0.1');
    // A socket whose address changes between two requests shows whether trust was decided again.
    const socket: FakeSocket = { remoteAddress: '127.0.0.1' };
    assert.equal(resolve(request({ 'x-forwarded-for': '203.0.113.7' }, socket)).address, '203.0.113.7');
    socket.remoteAddress = '10.9.9.9';
    assert.equal(resolve(request({ 'x-forwarded-for': '203.0.113.8' }, socket)).address, '203.0.113.8');
    // ... and an untrusted connection stays untrusted.
    const other: FakeSocket = { remoteAddress: '10.9.9.9' };
    assert.equal(resolve(request({ 'x-forwarded-for': '203.0.113.9' }, other)).address, '10.9.9.9');
    other.remoteAddress = '127.0.0.1';
    assert.equal(resolve(request({ 'x-forwarded-for': '203.0.113.9' }, other)).address, '127.0.0.1');
    // A request without forwarding headers does not decide it: the next one on the socket still asks.
    const late: FakeSocket = { remoteAddress: '10.9.9.9' };
    assert.equal(resolve(request({}, late)).address, '10.9.9.9');
    late.remoteAddress = '127.0.0.1';
    assert.equal(resolve(request({ 'x-forwarded-for': '203.0.113.9' }, late)).address, '203.0.113.9');
  });
});

describe('createClientResolver: which headers are believed (--forwarder-headers)', () => {
  const spoofed = {
    forwarded: 'for=6.6.6.6;proto=https',
    'x-forwarded-for': '203.0.113.7',
    'x-forwarded-proto': 'https',
  };

  test("the default is X-Forwarded-For and X-Forwarded-Proto: Forwarded is the client's own words", () => {
    assert.equal(DEFAULT_FORWARDER_HEADERS, 'X-Forwarded-For,X-Forwarded-Proto');
    const resolve = createClientResolver('127.0.0.1');
    assert.deepEqual(resolve(request(spoofed)), { address: '203.0.113.7', scheme: 'https' });
    assert.deepEqual(resolve(request({ forwarded: 'for=6.6.6.6;proto=https' })), {
      address: '127.0.0.1',
      scheme: 'http',
    });
  });

  test('Forwarded, when listed and present, decides both and X-Forwarded-* are not consulted', () => {
    const resolve = createClientResolver('127.0.0.1', ALL);
    assert.deepEqual(resolve(request(spoofed)), { address: '6.6.6.6', scheme: 'https' });
    const plain = { ...spoofed, forwarded: 'for=198.51.100.2' };
    assert.deepEqual(resolve(request(plain)), { address: '198.51.100.2', scheme: 'http' });
  });

  test('with Forwarded listed but absent, X-Forwarded-* are used', () => {
    const resolve = createClientResolver('127.0.0.1', ALL);
    const { forwarded: _, ...xf } = spoofed;
    assert.deepEqual(resolve(request(xf)), { address: '203.0.113.7', scheme: 'https' });
  });

  test('Forwarded alone: X-Forwarded-* are ignored, and a request with only them is the peer', () => {
    const resolve = createClientResolver('127.0.0.1', 'Forwarded');
    const { forwarded: _, ...xf } = spoofed;
    assert.deepEqual(resolve(request(xf)), { address: '127.0.0.1', scheme: 'http' });
    assert.deepEqual(resolve(request(spoofed)), { address: '6.6.6.6', scheme: 'https' });
  });

  test('each X-Forwarded header separately', () => {
    const forOnly = createClientResolver('127.0.0.1', 'X-Forwarded-For');
    assert.deepEqual(forOnly(request(spoofed)), { address: '203.0.113.7', scheme: 'http' });
    const protoOnly = createClientResolver('127.0.0.1', 'X-Forwarded-Proto');
    assert.deepEqual(protoOnly(request(spoofed)), { address: '127.0.0.1', scheme: 'https' });
  });

  test('names in any case, with spaces; an empty list believes nothing', () => {
    const mixed = createClientResolver('127.0.0.1', ' forwarded , x-forwarded-FOR ');
    assert.deepEqual(mixed(request(spoofed)), { address: '6.6.6.6', scheme: 'https' });
    const none = createClientResolver('127.0.0.1', '');
    assert.deepEqual(none(request(spoofed)), { address: '127.0.0.1', scheme: 'http' });
  });
});

describe('createClientResolver: the X-Forwarded-For chain', () => {
  const resolve = createClientResolver('127.0.0.1, 10.0.0.0/8, 2001:db8::/32');
  const from = (xff: string | string[]) => resolve(request({ 'x-forwarded-for': xff })).address;

  test('the nearest address that is not a trusted proxy, not the leftmost', () => {
    assert.equal(from('6.6.6.6, 198.51.100.1, 10.1.2.3, 10.0.0.9'), '198.51.100.1');
    assert.equal(from('6.6.6.6,198.51.100.1'), '198.51.100.1');
  });

  test('when every entry is a trusted proxy, the furthest one', () => {
    assert.equal(from('10.0.0.3, 10.0.0.2, 127.0.0.1'), '10.0.0.3');
    assert.equal(from('10.0.0.3'), '10.0.0.3');
  });

  test('IPv6 entries are walked and matched like IPv4 ones', () => {
    assert.equal(from('2001:db9::7, 2001:db8::1'), '2001:db9::7');
    assert.equal(from('198.51.100.1, 2001:db8::5'), '198.51.100.1');
  });

  test('several header lines form one chain, the last line nearest', () => {
    assert.equal(from(['6.6.6.6, 198.51.100.1', '10.0.0.2']), '198.51.100.1');
    assert.equal(from(['198.51.100.1', '10.0.0.2']), '198.51.100.1');
  });

  test('an entry that is not an IP address stops the walk at the last address known', () => {
    // The nearest entry is garbage: nothing in the header can be checked, so the peer.
    assert.equal(from('<script>'), '127.0.0.1');
    assert.equal(from('6.6.6.6, unknown'), '127.0.0.1');
    assert.equal(from(''), '127.0.0.1');
    assert.equal(from('203.0.113.1:4711'), '127.0.0.1', 'entries are bare addresses');
    // Behind a trusted proxy: that proxy is the last address known.
    assert.equal(from('6.6.6.6, _hidden, 10.0.0.2'), '10.0.0.2');
    assert.equal(from('6.6.6.6, , 10.0.0.2, 10.0.0.3'), '10.0.0.2');
    // Garbage to the left of the client does not matter: the walk stops before it.
    assert.equal(from('junk, 198.51.100.1, 10.0.0.2'), '198.51.100.1');
    // All trusted up to a garbage furthest entry: the furthest address.
    assert.equal(from('junk, 10.0.0.3, 10.0.0.2'), '10.0.0.3');
  });
});

describe('createClientResolver: a garbage entry with every address trusted (*)', () => {
  test('stops the walk all the same: the nearest address, not one further left', () => {
    const resolve = createClientResolver('*', ALL);
    assert.equal(
      resolve(request({ 'x-forwarded-for': '6.6.6.6, junk, 198.51.100.1' })).address,
      '198.51.100.1',
    );
    assert.equal(
      resolve(request({ forwarded: 'for=6.6.6.6, for=unknown, for=198.51.100.1' })).address,
      '198.51.100.1',
    );
    assert.equal(resolve(request({ 'x-forwarded-for': '6.6.6.6, 198.51.100.1' })).address, '6.6.6.6');
  });
});

describe('createClientResolver: X-Forwarded-Proto', () => {
  const resolve = createClientResolver('127.0.0.1');
  const scheme = (proto: string | string[], encrypted = false) =>
    resolve(request({ 'x-forwarded-proto': proto }, { remoteAddress: '127.0.0.1', encrypted })).scheme;

  test('http and https, in any case and with spaces', () => {
    assert.equal(scheme('https'), 'https');
    assert.equal(scheme(' HTTPS '), 'https');
    assert.equal(
      scheme('http', true),
      'http',
      'a proxy that spoke plain HTTP to the client overrides TLS to us',
    );
    assert.equal(scheme('HTTP', true), 'http');
  });

  test('the last value counts: the one the nearest trusted proxy added', () => {
    // A proxy that appends leaves the client's own value to the left of its own.
    assert.equal(scheme('https, http'), 'http');
    assert.equal(scheme('http, https'), 'https');
    assert.equal(scheme('https,http'), 'http');
    assert.equal(scheme(['https', 'http']), 'http');
    assert.equal(scheme(['http', 'https']), 'https');
  });

  test('other values are ignored: the connection scheme stays', () => {
    for (const value of ['ws', 'wss', 'ftp', '', 'https-ish', 'https, ws']) {
      assert.equal(scheme(value), 'http', value);
      assert.equal(scheme(value, true), 'https', value);
    }
  });
});

describe('createClientResolver: RFC 7239 Forwarded', () => {
  const resolve = createClientResolver('127.0.0.1, 10.0.0.0/8, ::1', 'Forwarded');
  const seen = (forwarded: string | string[], socket?: FakeSocket) => resolve(request({ forwarded }, socket));

  test('for= and proto= of one element', () => {
    assert.deepEqual(seen('for=198.51.100.7;proto=https'), { address: '198.51.100.7', scheme: 'https' });
    assert.deepEqual(seen('For=198.51.100.7;Proto=HTTPS'), { address: '198.51.100.7', scheme: 'https' });
    assert.deepEqual(seen('proto=http;for=198.51.100.7', { remoteAddress: '::1', encrypted: true }), {
      address: '198.51.100.7',
      scheme: 'http',
    });
  });

  test('IPv6 in brackets, with and without a port, and IPv4 with a port', () => {
    assert.equal(seen('for="[::1]:80", for="[2001:db8::1]:4711"').address, '2001:db8::1');
    assert.equal(seen('for="[2001:db8::2]"').address, '2001:db8::2');
    assert.equal(seen('for="198.51.100.7:4711"').address, '198.51.100.7');
    // A bracketed trusted proxy is walked past like a bare one.
    assert.equal(seen('for=198.51.100.8, for="[::1]:80"').address, '198.51.100.8');
  });

  test('the walk: nearest untrusted for=, or the furthest when all are trusted', () => {
    assert.equal(seen('for=6.6.6.6, for=198.51.100.7, for=10.0.0.2').address, '198.51.100.7');
    assert.equal(seen('for=10.0.0.3, for=10.0.0.2').address, '10.0.0.3');
    assert.equal(seen(['for=6.6.6.6, for=198.51.100.7', 'for=10.0.0.2']).address, '198.51.100.7');
  });

  test("the scheme is the client's element's proto, written by the trusted proxy that saw the client", () => {
    // The edge proxy saw https from the client; the inner proxy saw http from the edge proxy.
    assert.deepEqual(seen('for=198.51.100.7;proto=https, for=10.0.0.2;proto=http'), {
      address: '198.51.100.7',
      scheme: 'https',
    });
    // Elements left of the client's are the client's own: their proto is not believed.
    assert.deepEqual(seen('for=6.6.6.6;proto=https, for=198.51.100.7;proto=http, for=10.0.0.2;proto=http'), {
      address: '198.51.100.7',
      scheme: 'http',
    });
    // The client's element without proto: the connection scheme, not a neighbour's.
    assert.deepEqual(seen('for=6.6.6.6;proto=https, for=198.51.100.7, for=10.0.0.2;proto=https'), {
      address: '198.51.100.7',
      scheme: 'http',
    });
    assert.equal(seen('for=198.51.100.7', { remoteAddress: '127.0.0.1', encrypted: true }).scheme, 'https');
    // All trusted: the furthest element's.
    assert.equal(seen('for=10.0.0.3;proto=https, for=10.0.0.2;proto=http').scheme, 'https');
  });

  test('proto values other than http and https are ignored', () => {
    for (const proto of ['ws', 'wss', 'ftp', '""', 'https-ish']) {
      assert.equal(seen(`for=198.51.100.7;proto=${proto}`).scheme, 'http', proto);
      assert.equal(
        seen(`for=198.51.100.7;proto=${proto}`, { remoteAddress: '::1', encrypted: true }).scheme,
        'https',
      );
    }
  });

  test('proto= without for=: the peer is the client, and the proto is believed', () => {
    assert.deepEqual(seen('proto=https'), { address: '127.0.0.1', scheme: 'https' });
    assert.deepEqual(seen('proto=https;host=example.com'), { address: '127.0.0.1', scheme: 'https' });
  });

  test('unknown, obfuscated and garbage for= are never an address: the last address known instead', () => {
    for (const node of ['unknown', '_hidden', '"_SEVKISEK"', '"<script>"', '"[junk]"', 'not-an-ip', '""']) {
      assert.deepEqual(seen(`for=${node};proto=https`), { address: '127.0.0.1', scheme: 'https' }, node);
    }
    // Behind a trusted proxy that recorded an unknown client: that proxy's address, and the scheme
    // it recorded for the unknown client.
    assert.deepEqual(seen('for=6.6.6.6;proto=http, for=unknown;proto=https, for=10.0.0.2;proto=http'), {
      address: '10.0.0.2',
      scheme: 'https',
    });
    // An element without for= in the middle stops the walk the same way.
    assert.equal(seen('for=6.6.6.6, proto=https, for=10.0.0.2').address, '10.0.0.2');
    // All trusted but the furthest, which is garbage: the furthest address.
    assert.equal(seen('for=_hidden, for=10.0.0.3, for=10.0.0.2').address, '10.0.0.3');
  });

  test("a client's malformed prefix cannot swallow the element a trusted proxy appended", () => {
    // The client wrote the part before ", for=198.51.100.7"; read loosely, its unclosed quote or its
    // key without "=" would absorb the proxy's element and leave the client's 6.6.6.6 nearest.
    for (const prefix of [
      'for=6.6.6.6;host="',
      'for=6.6.6.6;proto',
      'for=6.6.6.6;x=a"b',
      'for=6.6.6.6 junk',
    ]) {
      assert.deepEqual(
        seen(`${prefix}, for=198.51.100.7;proto=http`),
        { address: '127.0.0.1', scheme: 'http' },
        prefix,
      );
      assert.deepEqual(seen([prefix, 'for=198.51.100.7']), { address: '127.0.0.1', scheme: 'http' }, prefix);
    }
  });

  test('a header with no elements leaves the peer and the connection scheme', () => {
    assert.deepEqual(seen(''), { address: '127.0.0.1', scheme: 'http' });
    assert.deepEqual(seen('garbage without pairs'), { address: '127.0.0.1', scheme: 'http' });
  });

  test('from a unix-socket peer, Forwarded is believed', () => {
    assert.deepEqual(seen('for="[2001:db8::9]";proto=https', { remoteAddress: undefined }), {
      address: '2001:db8::9',
      scheme: 'https',
    });
    assert.deepEqual(seen('proto=https', { remoteAddress: undefined }), { address: '', scheme: 'https' });
  });
});

describe('compileTrust', () => {
  test('addresses, CIDRs and *', () => {
    const trust = compileTrust('10.0.0.0/8, 192.0.2.1');
    assert.equal(trust('10.255.0.1', 0), true);
    assert.equal(trust('192.0.2.1', 0), true);
    assert.equal(trust('192.0.2.2', 0), false);
    assert.equal(compileTrust('*')('198.51.100.1', 0), true);
    assert.equal(compileTrust('')('127.0.0.1', 0), false);
  });
});

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

  test('quoted strings: escapes, and commas and semicolons inside them', () => {
    assert.deepEqual(parseForwarded('for="a\\"b";host="x,y;z", for=198.51.100.1'), [
      { for: 'a"b', host: 'x,y;z' },
      { for: '198.51.100.1' },
    ]);
  });

  test('spaces and tabs around elements and pairs', () => {
    assert.deepEqual(parseForwarded(' for=198.51.100.1 ;\tproto=https ,\tfor=10.0.0.2 '), [
      { for: '198.51.100.1', proto: 'https' },
      { for: '10.0.0.2' },
    ]);
  });

  test('an element without a known pair is still an element (it holds a place in the chain)', () => {
    assert.deepEqual(parseForwarded('for=198.51.100.1, secret=x, for=10.0.0.2'), [
      { for: '198.51.100.1' },
      {},
      { for: '10.0.0.2' },
    ]);
  });

  test('a header that does not parse as a whole gives no elements', () => {
    for (const text of [
      'for=198.51.100.1;',
      'for=198.51.100.1,',
      'for=198.51.100.1, , for=10.0.0.2',
      'for =198.51.100.1',
      'for= 198.51.100.1',
      'for=198.51.100.1 proto=https',
      'for="198.51.100.1',
      'for=198.51.100.1"x"',
      'for=a;proto',
      'f(r=198.51.100.1',
    ]) {
      assert.deepEqual(parseForwarded(text), [], text);
    }
  });

  test('only for= nodes lose brackets and ports: host and by are kept as written', () => {
    assert.deepEqual(parseForwarded('for="[::1]:80";host="example.com:8080";by="[2001:db8::1]:443"'), [
      { for: '::1', host: 'example.com:8080', by: '[2001:db8::1]:443' },
    ]);
  });

  test('an empty value, token or quoted, is a value', () => {
    assert.deepEqual(parseForwarded('for=;proto=""'), [{ for: '', proto: '' }]);
  });

  test('no pairs at all: no elements', () => {
    assert.deepEqual(parseForwarded(''), []);
    assert.deepEqual(parseForwarded('garbage'), []);
  });

  test('for= nodes: brackets and ports removed; a bare IPv6 address is kept whole', () => {
    const node = (value: string) => parseForwarded(`for=${value}`)[0]?.for;
    assert.equal(node('"[2001:db8::1]"'), '2001:db8::1');
    assert.equal(node('"[2001:db8::1]:80"'), '2001:db8::1');
    assert.equal(node('"[2001:db8::1]:_obf-1.x"'), '2001:db8::1', 'an obfuscated port');
    assert.equal(node('"[2001:db8::1"'), '[2001:db8::1', 'malformed: left as it is');
    assert.equal(node('"[2001:db8::1]x"'), '[2001:db8::1]x');
    assert.equal(node('"[2001:db8::1]:"'), '[2001:db8::1]:');
    assert.equal(node('"x[2001:db8::1]"'), 'x[2001:db8::1]');
    assert.equal(node('"2001:db8::1"'), '2001:db8::1');
    assert.equal(node('"192.0.2.1:80"'), '192.0.2.1');
    assert.equal(node('"_hidden:80"'), '_hidden');
    assert.equal(node('192.0.2.1'), '192.0.2.1');
  });
});

describe('the forwarderHeaders setting', () => {
  const spec = SETTINGS.find((s) => s.name === 'forwarderHeaders')!;
  const parse = (raw: unknown) => spec.parse(raw, '--forwarder-headers');

  test('defaults to the resolver default, and does not include Forwarded', () => {
    assert.equal(spec.default, DEFAULT_FORWARDER_HEADERS);
    assert.doesNotMatch(String(spec.default), /(^|,)Forwarded/);
  });

  test('names in any case and with spaces come out canonical; a list from a config file too', () => {
    assert.equal(parse(' forwarded ,x-forwarded-for'), 'Forwarded,X-Forwarded-For');
    assert.equal(parse(['X-FORWARDED-PROTO', 'forwarded']), 'X-Forwarded-Proto,Forwarded');
    assert.equal(parse(''), '');
    assert.equal(parse(',,'), '');
  });

  test('anything else is a configuration error naming the setting and the accepted names', () => {
    for (const raw of [
      'X-Real-IP',
      'X-Forwarded-For,X-Forwarded-Host',
      'Forwarded-For',
      42,
      ['Forwarded', 7],
    ]) {
      assert.throws(
        () => parse(raw),
        (err: Error & { code?: string }) =>
          err.code === 'UNICORN_CONFIG_INVALID_VALUE' && /--forwarder-headers/.test(err.message),
        JSON.stringify(raw),
      );
    }
    assert.throws(() => parse('X-Real-IP'), /X-Forwarded-For, X-Forwarded-Proto, Forwarded/);
  });
});
