/** Test certificates made with openssl: a CA, a server certificate for 127.0.0.1 and localhost, a client one. */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes ca.pem/ca.key, server.pem/server.key and client.pem/client.key into `dir`. */
export function makeCertificates(dir: string): void {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const key = ['-newkey', 'rsa:2048', '-nodes'];
  /** A key and a certificate for `name`, signed by the CA. */
  const issue = (name: string, subject: string, extensions: string[] = []) => {
    openssl('req', ...key, '-subj', subject, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      ...extensions,
      '-out',
      `${name}.pem`,
    );
  };
  openssl(
    'req',
    '-x509',
    ...key,
    '-days',
    '2',
    '-subj',
    '/CN=test-ca',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  issue('server', '/CN=127.0.0.1', ['-extfile', 'server.ext']);
  issue('client', '/CN=client');
}
