import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isUnicornError } from '../../src/errors.js';
import { type TlsSettings, tlsOptions } from '../../src/http/tls.js';

// tlsOptions only reads the files; node:https parses them later, so any bytes do here.
const dir = mkdtempSync(join(tmpdir(), 'unicorn-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const cert = file('cert.pem', 'CERT');
const key = file('key.pem', 'KEY');
const ca = file('ca.pem', 'CA');
const off: TlsSettings = { certfile: null, keyfile: null, caCerts: null, certReqs: 'none' };

const tlsError = (message: string) => (err: unknown) => {
  assert.ok(isUnicornError(err));
  assert.equal(err.code, 'UNICORN_TLS');
  assert.equal(err.message, message);
  return true;
};

describe('tlsOptions: the https options for the TLS settings', () => {
  test('no certificate and no key: TLS is off', () => {
    assert.equal(tlsOptions(off), null);
    assert.equal(tlsOptions({ ...off, caCerts: ca, certReqs: 'required' }), null);
  });

  test('a certificate without a key, or a key without a certificate, is an error', () => {
    const message = 'TLS needs both --certfile and --keyfile';
    assert.throws(() => tlsOptions({ ...off, certfile: cert }), tlsError(message));
    assert.throws(() => tlsOptions({ ...off, keyfile: key }), tlsError(message));
  });

  test('reads the certificate and the key; no client certificates by default', () => {
    const options = tlsOptions({ ...off, certfile: cert, keyfile: key });
    assert.deepEqual(options, {
      cert: Buffer.from('CERT'),
      key: Buffer.from('KEY'),
      requestCert: false,
      rejectUnauthorized: false,
    });
  });

  test('--ca-certs is read too, and --cert-reqs decides whether a client certificate is asked for and required', () => {
    const base = { ...off, certfile: cert, keyfile: key, caCerts: ca };
    const optional = tlsOptions({ ...base, certReqs: 'optional' });
    assert.deepEqual(optional?.ca, Buffer.from('CA'));
    assert.equal(optional?.requestCert, true);
    assert.equal(optional?.rejectUnauthorized, false);
    const required = tlsOptions({ ...base, certReqs: 'required' });
    assert.equal(required?.requestCert, true);
    assert.equal(required?.rejectUnauthorized, true);
  });

  test('a file that cannot be read is an error naming the flag and the file', () => {
    const missing = join(dir, 'missing.pem');
    const reason = `ENOENT: no such file or directory, open '${missing}'`;
    assert.throws(
      () => tlsOptions({ ...off, certfile: missing, keyfile: key }),
      tlsError(`cannot read --certfile ${missing}: ${reason}`),
    );
    assert.throws(
      () => tlsOptions({ ...off, certfile: cert, keyfile: missing }),
      tlsError(`cannot read --keyfile ${missing}: ${reason}`),
    );
    assert.throws(
      () => tlsOptions({ ...off, certfile: cert, keyfile: key, caCerts: missing }),
      tlsError(`cannot read --ca-certs ${missing}: ${reason}`),
    );
  });
});
