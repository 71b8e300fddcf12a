/**
 * TLS termination, for when no proxy sits in front. Behind nginx, leave these unset and let the
 * proxy terminate TLS (docs/deploy.md). Files are read once per worker, at boot.
 */

import { readFileSync } from 'node:fs';
import type { ServerOptions } from 'node:https';
import { describeError, UnicornError } from '../errors.js';

export interface TlsSettings {
  certfile: string | null;
  keyfile: string | null;
  caCerts: string | null;
  certReqs: 'none' | 'optional' | 'required';
}

/** The https options for these settings, or null when TLS is off. */
export function tlsOptions(s: TlsSettings): ServerOptions | null {
  if (s.certfile === null && s.keyfile === null) return null;
  if (s.certfile === null || s.keyfile === null) {
    throw new UnicornError('UNICORN_TLS', 'TLS needs both --certfile and --keyfile');
  }
  const read = (flag: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new UnicornError('UNICORN_TLS', `cannot read ${flag} ${file}: ${describeError(err)}`);
    }
  };
  return {
    cert: read('--certfile', s.certfile),
    key: read('--keyfile', s.keyfile),
    ...(s.caCerts === null ? {} : { ca: read('--ca-certs', s.caCerts) }),
    // Client certificates: asked for unless `none`; a connection without a valid one is refused
    // only when `required` (with `optional`, the app can inspect req.socket.authorized).
    requestCert: s.certReqs !== 'none',
    rejectUnauthorized: s.certReqs === 'required',
  };
}
