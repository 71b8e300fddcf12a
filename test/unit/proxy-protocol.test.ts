import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ipv6Text,
  type ProxyHeader,
  type ProxyParse,
  parseProxyHeader,
  proxiedClient,
  V1_MAX_LENGTH,
  V2_MAX_LENGTH,
} from '../../src/http/proxy-protocol.js';

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1');

/** A v2 header: version/command byte, family/transport byte, then the address block (and TLVs). */
function v2(verCmd: number, famProto: number, body: Buffer, length = body.length): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = verCmd;
  fixed[1] = famProto;
  fixed.writeUInt16BE(length, 2);
  return Buffer.concat([SIGNATURE, fixed, body]);
}

function ipv4Block(src: number[], dst: number[], sport: number, dport: number): Buffer {
  const b = Buffer.alloc(12);
  Buffer.from(src).copy(b, 0);
  Buffer.from(dst).copy(b, 4);
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return b;
}

function done(result: ProxyParse): ProxyHeader {
  assert.equal(result.status, 'done', JSON.stringify(result));
  return (result as { header: ProxyHeader }).header;
}

function invalidReason(result: ProxyParse): string {
  assert.equal(result.status, 'invalid', JSON.stringify(result));
  return (result as { reason: string }).reason;
}

/**
 * The header arriving a piece at a time: every proper prefix is incomplete, and the whole header
 * (followed by a request) parses to the same result as in one piece.
 */
function assertSplitSafe(header: Buffer): ProxyHeader {
  for (let n = 0; n < header.length; n++) {
    assert.deepEqual(
      parseProxyHeader(header.subarray(0, n)),
      { status: 'incomplete' },
      `prefix of ${n} bytes`,
    );
  }
  const whole = done(parseProxyHeader(Buffer.concat([header, REQUEST])));
  assert.equal(whole.length, header.length, 'the header ends where the request starts');
  return whole;
}

describe('PROXY protocol v1', () => {
  test('TCP4: the source is the client; the length covers the line and its CRLF', () => {
    const line = Buffer.from('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n', 'latin1');
    const header = assertSplitSafe(line);
    assert.deepEqual(header, {
      version: 1,
      command: 'PROXY',
      addresses: {
        family: 'IPv4',
        source: { address: '192.168.0.1', port: 56324, family: 'IPv4' },
        destination: { address: '192.168.0.11', port: 443, family: 'IPv4' },
      },
      length: line.length,
    });
    assert.deepEqual(proxiedClient(header), { address: '192.168.0.1', port: 56324, family: 'IPv4' });
  });

  test('TCP6', () => {
    const header = assertSplitSafe(Buffer.from('PROXY TCP6 2001:db8::1 ::1 65535 0\r\n', 'latin1'));
    assert.deepEqual(proxiedClient(header), { address: '2001:db8::1', port: 65535, family: 'IPv6' });
  });

  test('UNKNOWN, bare or followed by anything, keeps the real peer', () => {
    assert.equal(proxiedClient(assertSplitSafe(Buffer.from('PROXY UNKNOWN\r\n'))), null);
    const long = Buffer.from('PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n');
    assert.equal(done(parseProxyHeader(long)).addresses, null);
  });

  test('the longest legal line (107 bytes) is accepted; one byte more is refused', () => {
    const max = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    const line = `PROXY TCP6 ${max} ${max} 65535 65535\r\n`;
    assert.equal(line.length, 104);
    assert.equal(proxiedClient(done(parseProxyHeader(Buffer.from(line))))?.address, max);
    const padded = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_LENGTH - 16)}\r\n`);
    assert.equal(padded.length, V1_MAX_LENGTH);
    assert.equal(done(parseProxyHeader(padded)).length, V1_MAX_LENGTH);
    const tooLong = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_LENGTH - 15)}\r\n`);
    assert.match(invalidReason(parseProxyHeader(tooLong)), /no CRLF within the first 107 bytes/);
    // Without waiting for a CRLF that may never come: 107 bytes without one are enough to refuse.
    assert.match(invalidReason(parseProxyHeader(Buffer.from(`PROXY ${'x'.repeat(101)}`))), /107/);
    assert.deepEqual(parseProxyHeader(Buffer.from(`PROXY ${'x'.repeat(100)}`)), { status: 'incomplete' });
  });

  test('a line ending in a bare LF, or with a stray CR, is refused', () => {
    assert.match(
      invalidReason(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'))),
      /does not end with CRLF/,
    );
    assert.match(
      invalidReason(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n'))),
      /control/,
    );
  });

  test("Gunicorn's invalid corpus cases: truncated line, bad ports, an address that is no IP", () => {
    assert.match(
      invalidReason(parseProxyHeader(Buffer.from('PROXY TCP4 192.168.0.1 192.16...\r\n'))),
      /needs 4 fields/,
    );
    assert.match(
      invalidReason(parseProxyHeader(Buffer.from('PROXY TCP4 192.168.0.1 192.168.0.11 65iii 100000\r\n'))),
      /bad port/,
    );
    assert.match(
      invalidReason(parseProxyHeader(Buffer.from('PROXY TCP4 not-an-ip 192.168.0.11 56324 443\r\n'))),
      /not an IPv4 address/,
    );
  });

  test('ports outside 0..65535, signs and empty fields are refused', () => {
    for (const ports of ['65536 1', '1 -1', '+1 2', '1 2 3', '1  2', '0x10 1']) {
      const result = parseProxyHeader(Buffer.from(`PROXY TCP4 1.2.3.4 5.6.7.8 ${ports}\r\n`));
      assert.equal(result.status, 'invalid', ports);
    }
  });

  test('addresses of the wrong family, and unknown protocols, are refused', () => {
    assert.match(invalidReason(parseProxyHeader(Buffer.from('PROXY TCP4 ::1 ::1 1 2\r\n'))), /not an IPv4/);
    assert.match(
      invalidReason(parseProxyHeader(Buffer.from('PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n'))),
      /not an IPv6/,
    );
    assert.match(
      invalidReason(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n'))),
      /not an IPv4/,
    );
    assert.match(invalidReason(parseProxyHeader(Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'))), /UDP4/);
    assert.match(invalidReason(parseProxyHeader(Buffer.from('PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n'))), /tcp4/);
  });

  test('anything that cannot start a PROXY header is refused at its first wrong byte', () => {
    assert.match(invalidReason(parseProxyHeader(REQUEST)), /does not start with a PROXY header/);
    assert.equal(parseProxyHeader(Buffer.from('PROX')).status, 'incomplete');
    assert.equal(parseProxyHeader(Buffer.from('PROXX')).status, 'invalid');
    assert.equal(parseProxyHeader(Buffer.from('PROXY')).status, 'incomplete');
    assert.equal(parseProxyHeader(Buffer.from([0x16, 0x03, 0x01])).status, 'invalid', 'a TLS ClientHello');
    assert.equal(parseProxyHeader(Buffer.from('\r\n\r\nGET')).status, 'invalid');
  });
});

describe('PROXY protocol v2', () => {
  test("Gunicorn's valid/pp_04 (IPv4) and valid/pp_05 (IPv6) headers", () => {
    const pp04 = Buffer.from('DQoNCgANClFVSVQKIREADMCoAQrAqAEBMDkBuw==', 'base64');
    const four = assertSplitSafe(pp04);
    assert.deepEqual(four.addresses, {
      family: 'IPv4',
      source: { address: '192.168.1.10', port: 12345, family: 'IPv4' },
      destination: { address: '192.168.1.1', port: 443, family: 'IPv4' },
    });
    assert.equal(four.length, 28);
    const pp05 = Buffer.from(
      'DQoNCgANClFVSVQKISEAJCABDbgAAAAAAAAAAAAAAAEgAQ24AAAAAAAAAAAAAAAC1DEAUA==',
      'base64',
    );
    const six = assertSplitSafe(pp05);
    assert.deepEqual(proxiedClient(six), { address: '2001:db8::1', port: 54321, family: 'IPv6' });
    assert.equal(six.length, 52);
  });

  test('TLVs after the addresses are skipped, and counted in the length', () => {
    const tlvs = Buffer.from([0x01, 0x00, 0x02, 0x68, 0x32, 0x04, 0x00, 0x00]); // ALPN "h2", NOOP
    const header = v2(
      0x21,
      0x11,
      Buffer.concat([ipv4Block([203, 0, 113, 7], [10, 0, 0, 1], 40000, 80), tlvs]),
    );
    const parsed = assertSplitSafe(header);
    assert.equal(parsed.length, 16 + 12 + tlvs.length);
    assert.deepEqual(proxiedClient(parsed), { address: '203.0.113.7', port: 40000, family: 'IPv4' });
  });

  test('LOCAL keeps the real peer, whatever its address block holds', () => {
    const local = assertSplitSafe(v2(0x20, 0x00, Buffer.alloc(0)));
    assert.equal(local.command, 'LOCAL');
    assert.equal(proxiedClient(local), null);
    const withBlock = done(parseProxyHeader(v2(0x20, 0x11, ipv4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))));
    assert.equal(withBlock.addresses, null);
  });

  test('PROXY with the UNSPEC family keeps the real peer', () => {
    assert.equal(done(parseProxyHeader(v2(0x21, 0x00, Buffer.alloc(0)))).addresses, null);
  });

  test('unix addresses are read (NUL-terminated paths) but name no client address', () => {
    const block = Buffer.alloc(216);
    block.write('/run/haproxy/client.sock', 0);
    block.write('/run/app.sock', 108);
    const header = assertSplitSafe(v2(0x21, 0x31, block));
    assert.deepEqual(header.addresses, {
      family: 'unix',
      source: '/run/haproxy/client.sock',
      destination: '/run/app.sock',
    });
    assert.equal(proxiedClient(header), null);
  });

  test('an IPv4-mapped IPv6 source reads as Node writes such peers', () => {
    const block = Buffer.alloc(36);
    Buffer.from('00000000000000000000ffffcb007107', 'hex').copy(block, 0);
    block[31] = 1;
    const header = done(parseProxyHeader(v2(0x21, 0x21, block)));
    assert.equal(proxiedClient(header)?.address, '::ffff:203.0.113.7');
  });

  test('address blocks shorter than their family needs are refused', () => {
    assert.match(invalidReason(parseProxyHeader(v2(0x21, 0x11, Buffer.alloc(11)))), /IPv4 addresses need 12/);
    assert.match(invalidReason(parseProxyHeader(v2(0x21, 0x21, Buffer.alloc(35)))), /IPv6 addresses need 36/);
    assert.match(
      invalidReason(parseProxyHeader(v2(0x21, 0x31, Buffer.alloc(215)))),
      /unix addresses need 216/,
    );
  });

  test('wrong version, unknown command, unknown family or transport are refused', () => {
    const block = ipv4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2);
    assert.match(invalidReason(parseProxyHeader(v2(0x11, 0x11, block))), /version 1/);
    assert.match(invalidReason(parseProxyHeader(v2(0x22, 0x11, block))), /command 2/);
    assert.match(invalidReason(parseProxyHeader(v2(0x21, 0x41, block))), /family/);
    assert.match(invalidReason(parseProxyHeader(v2(0x21, 0x13, block))), /family/);
  });

  test('the announced length is bounded before any of it is awaited', () => {
    const huge = v2(0x21, 0x11, Buffer.alloc(0), V2_MAX_LENGTH + 1);
    assert.match(invalidReason(parseProxyHeader(huge)), /more than 2048/);
    const largest = v2(0x21, 0x11, Buffer.alloc(V2_MAX_LENGTH));
    assert.equal(done(parseProxyHeader(largest)).length, 16 + V2_MAX_LENGTH);
  });

  test('a broken signature is refused at its first wrong byte', () => {
    const bad = Buffer.from(SIGNATURE);
    bad[7] = 0x00;
    assert.equal(parseProxyHeader(bad.subarray(0, 7)).status, 'incomplete');
    assert.match(invalidReason(parseProxyHeader(bad.subarray(0, 8))), /does not start with a PROXY header/);
  });
});

describe('ipv6Text', () => {
  const text = (hex: string) => ipv6Text(Buffer.from(hex, 'hex'));

  test('compresses the longest run of zero groups (the first of equals), never a single one', () => {
    assert.equal(text('20010db8000000000000000000000001'), '2001:db8::1');
    assert.equal(text('00000000000000000000000000000001'), '::1');
    assert.equal(text('00000000000000000000000000000000'), '::');
    assert.equal(text('20010db8000000010000000000000000'), '2001:db8:0:1::');
    assert.equal(text('20010db8000000000001000000000001'), '2001:db8::1:0:0:1');
    assert.equal(text('20010db8000100010001000100010001'), '2001:db8:1:1:1:1:1:1');
    assert.equal(text('20010db8000000010001000100010001'), '2001:db8:0:1:1:1:1:1');
  });
});

describe('PROXY protocol parser, edges', () => {
  test('v1 errors name what is wrong: the field count, which port, which address', () => {
    assert.equal(
      invalidReason(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'))),
      'a PROXY v1 TCP4 line needs 4 fields, has 3',
    );
    assert.equal(
      invalidReason(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 x 2\r\n'))),
      'bad port in PROXY v1 line: "x"',
    );
    assert.equal(
      invalidReason(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 y\r\n'))),
      'bad port in PROXY v1 line: "y"',
    );
    assert.equal(
      invalidReason(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.x 1 2\r\n'))),
      '"5.6.7.x" is not an IPv4 address',
    );
    assert.equal(invalidReason(parseProxyHeader(Buffer.from('PROXY \r\n'))), 'unknown PROXY v1 protocol ""');
    assert.equal(
      invalidReason(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'))),
      'the PROXY v1 line does not end with CRLF',
    );
    assert.equal(
      invalidReason(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\x7f 2\r\n'))),
      'a PROXY v1 line with a control or non-ASCII byte',
    );
    assert.equal(
      invalidReason(parseProxyHeader(Buffer.from(`PROXY ${'x'.repeat(101)}`))),
      'no CRLF within the first 107 bytes of a PROXY v1 line',
    );
    assert.equal(
      invalidReason(parseProxyHeader(REQUEST)),
      'the connection does not start with a PROXY header',
    );
  });

  test('a v1 UNKNOWN header is a PROXY command without addresses; a v2 PROXY header says PROXY', () => {
    assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), {
      status: 'done',
      header: { version: 1, command: 'PROXY', addresses: null, length: 15 },
    });
    const four = done(parseProxyHeader(v2(0x21, 0x11, ipv4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))));
    assert.equal(four.command, 'PROXY');
    assert.equal(four.version, 2);
    assert.equal(
      invalidReason(parseProxyHeader(Buffer.from('PROXX'))),
      'the connection does not start with a PROXY header',
    );
  });

  test('v1 accepts every printable byte, the tilde included, after UNKNOWN', () => {
    assert.equal(done(parseProxyHeader(Buffer.from('PROXY UNKNOWN ~ !\r\n'))).length, 19);
  });

  test('v2: a header of exactly its announced length, with nothing after it, is done', () => {
    const local = v2(0x20, 0x00, Buffer.alloc(0));
    assert.equal(local.length, 16);
    assert.deepEqual(parseProxyHeader(local), {
      status: 'done',
      header: { version: 2, command: 'LOCAL', addresses: null, length: 16 },
    });
    const four = v2(0x21, 0x11, ipv4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2));
    assert.equal(done(parseProxyHeader(four)).length, 28);
  });

  test('v2 over UDP (transport 2) is read like TCP; transport 3 is refused with the family byte', () => {
    const udp = done(parseProxyHeader(v2(0x21, 0x12, ipv4Block([1, 2, 3, 4], [5, 6, 7, 8], 53, 5353))));
    assert.deepEqual(proxiedClient(udp), { address: '1.2.3.4', port: 53, family: 'IPv4' });
    assert.equal(
      invalidReason(parseProxyHeader(v2(0x21, 0x13, Buffer.alloc(12)))),
      'unknown PROXY v2 address family 0x13',
    );
    assert.equal(
      invalidReason(parseProxyHeader(v2(0x21, 0x41, Buffer.alloc(12)))),
      'unknown PROXY v2 address family 0x41',
    );
    assert.equal(
      invalidReason(parseProxyHeader(v2(0x31, 0x11, Buffer.alloc(12)))),
      'PROXY v2 signature with version 3',
    );
    assert.equal(
      invalidReason(parseProxyHeader(v2(0x2f, 0x11, Buffer.alloc(12)))),
      'unknown PROXY v2 command 15',
    );
    assert.equal(
      invalidReason(parseProxyHeader(v2(0x21, 0x11, Buffer.alloc(0), V2_MAX_LENGTH + 1))),
      'PROXY v2 header of 2049 bytes (more than 2048)',
    );
    assert.equal(
      invalidReason(parseProxyHeader(v2(0x21, 0x21, Buffer.alloc(35)))),
      'PROXY v2 IPv6 addresses need 36 bytes, have 35',
    );
    assert.equal(
      invalidReason(parseProxyHeader(v2(0x21, 0x31, Buffer.alloc(215)))),
      'PROXY v2 unix addresses need 216 bytes, have 215',
    );
  });

  test('v2 IPv6: both ends, their ports, and the destination address', () => {
    const block = Buffer.alloc(36);
    Buffer.from('20010db8000000000000000000000001', 'hex').copy(block, 0);
    Buffer.from('20010db8000000000000000000000002', 'hex').copy(block, 16);
    block.writeUInt16BE(1111, 32);
    block.writeUInt16BE(2222, 34);
    assert.deepEqual(done(parseProxyHeader(v2(0x21, 0x21, block))).addresses, {
      family: 'IPv6',
      source: { address: '2001:db8::1', port: 1111, family: 'IPv6' },
      destination: { address: '2001:db8::2', port: 2222, family: 'IPv6' },
    });
  });

  test('v2 unix paths that fill their 108 bytes, with no NUL, are read whole', () => {
    const block = Buffer.alloc(216, 'a');
    block.fill('b', 108);
    const header = done(parseProxyHeader(v2(0x21, 0x31, block)));
    assert.deepEqual(header.addresses, {
      family: 'unix',
      source: 'a'.repeat(108),
      destination: 'b'.repeat(108),
    });
  });

  test('ipv6Text: only ::ffff:0:0/96 is written in the dotted form', () => {
    const text = (hex: string) => ipv6Text(Buffer.from(hex, 'hex'));
    assert.equal(text('00000000000000000000ffff01020304'), '::ffff:1.2.3.4');
    assert.equal(text('00000000000000000000ff0001020304'), '::ff00:102:304');
    assert.equal(text('0000000000000000000000ff01020304'), '::ff:102:304');
    assert.equal(text('20010db8000000000000ffff01020304'), '2001:db8::ffff:102:304');
    assert.equal(text('00000000000000000001ffff01020304'), '::1:ffff:102:304');
    assert.equal(text('00010000000000000000000000000000'), '1::');
    assert.equal(text('00000000000100000000000000000000'), '0:0:1::');
  });
});
