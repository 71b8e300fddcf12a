import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fixture, runCli, startServer, stopAll } from '../helpers/server.js';
import { makeCertificates } from '../helpers/tls.js';

after(stopAll);
const dir = mkdtempSync(join(tmpdir(), 'unicorn-tls-'));
const file = (name: string) => join(dir, name);

function get(url: string, options: https.RequestOptions = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca: readFileSync(file('ca.pem')), agent: false, ...options }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('TLS termination', () => {
  before(() => makeCertificates(dir));
  const app = `${fixture('echo.mjs')}:handler`;

  test('--certfile and --keyfile serve HTTPS, and the app sees scheme https', async () => {
    const server = await startServer([
      app,
      '--certfile',
      file('server.pem'),
      '--keyfile',
      file('server.key'),
    ]);
    const url = server.url.replace('http:', 'https:');
    const reply = await get(`${url}/secure`);
    assert.equal(reply.status, 200);
    const body = JSON.parse(reply.body);
    assert.equal(body.scheme, 'https');
    assert.match(body.url, /^https:\/\/127\.0\.0\.1:\d+\/secure$/);
  });

  test('--cert-reqs required with --ca-certs refuses a client without a certificate and serves one with', async () => {
    const server = await startServer([
      app,
      '--certfile',
      file('server.pem'),
      '--keyfile',
      file('server.key'),
      '--ca-certs',
      file('ca.pem'),
      '--cert-reqs',
      'required',
    ]);
    const url = server.url.replace('http:', 'https:');
    await assert.rejects(get(`${url}/`));
    const reply = await get(`${url}/`, {
      cert: readFileSync(file('client.pem')),
      key: readFileSync(file('client.key')),
    });
    assert.equal(reply.status, 200);
  });

  test('a missing key file is a boot error naming the file', async () => {
    const result = await runCli([
      app,
      '--certfile',
      file('server.pem'),
      '--keyfile',
      file('nope.key'),
      '-b',
      '127.0.0.1:0',
      '--log-format',
      'json',
    ]);
    assert.equal(result.code, 3);
    assert.match(
      String(result.logs.find((l) => l.event === 'master.halt')?.msg),
      /cannot read --keyfile .*nope\.key/,
    );
  });
});
