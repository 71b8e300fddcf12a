import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { fixture, startServer, stopAll } from '../helpers/server.js';

after(stopAll);

async function seen(url: string, headers: Record<string, string>) {
  const body = JSON.parse((await request(`${url}/`, { headers })).body);
  return { address: body.remoteAddress as string, scheme: body.scheme as string, url: body.url as string };
}

describe('client address and scheme behind a trusted proxy', () => {
  const app = `${fixture('echo.mjs')}:handler`;
  const forwarded = { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' };

  test('from a trusted peer (127.0.0.1 by default), X-Forwarded-For and X-Forwarded-Proto set address and scheme', async () => {
    const server = await startServer([app]);
    const client = await seen(server.url, forwarded);
    assert.equal(client.address, '203.0.113.7');
    assert.equal(client.scheme, 'https');
    assert.match(client.url, /^https:\/\//);
  });

  test('the nearest untrusted hop in a chain is the client: a spoofed leftmost entry is not believed', async () => {
    const server = await startServer([app, '--forwarded-allow-ips', '127.0.0.1,10.0.0.0/8']);
    const client = await seen(server.url, { 'x-forwarded-for': '6.6.6.6, 198.51.100.1, 10.1.2.3' });
    assert.equal(client.address, '198.51.100.1');
  });

  test('spoofing: from a peer that is not trusted, the headers are ignored', async () => {
    const server = await startServer([app, '--forwarded-allow-ips', '10.0.0.1']);
    const client = await seen(server.url, forwarded);
    assert.equal(client.address, '127.0.0.1');
    assert.equal(client.scheme, 'http');
  });

  test('CIDRs and * are accepted', async () => {
    const cidr = await startServer([app, '--forwarded-allow-ips', '127.0.0.0/8']);
    assert.equal((await seen(cidr.url, forwarded)).address, '203.0.113.7');
    const any = await startServer([app], { env: { FORWARDED_ALLOW_IPS: '*' } });
    assert.equal((await seen(any.url, forwarded)).address, '203.0.113.7');
  });

  test('the node interface sees the same resolution on req.unicorn', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const file = `${mkdtempSync(`${tmpdir()}/unicorn-fwd-`)}/node-app.mjs`;
    writeFileSync(
      file,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: this is app source written to a file
      'export default (req, res) => res.end(`${req.unicorn.remoteAddress} ${req.unicorn.scheme}`);\n',
    );
    const server = await startServer([file]);
    assert.equal((await request(`${server.url}/`, { headers: forwarded })).body, '203.0.113.7 https');
  });
});

describe('--root-path (the prefix a proxy mounts the app under)', () => {
  test('strips the prefix from the path the app sees and reports it in info.rootPath', async () => {
    const server = await startServer([`${fixture('echo.mjs')}:handler`, '--root-path', '/api/']);
    const mounted = JSON.parse((await request(`${server.url}/api/users?x=1`)).body);
    assert.equal(new URL(mounted.url).pathname, '/users');
    assert.equal(new URL(mounted.url).search, '?x=1');
    assert.equal(mounted.rootPath, '/api');
    const bare = JSON.parse((await request(`${server.url}/api`)).body);
    assert.equal(new URL(bare.url).pathname, '/');
    const other = JSON.parse((await request(`${server.url}/apiary`)).body);
    assert.equal(new URL(other.url).pathname, '/apiary', 'only whole path segments match');
  });
});

describe('RFC 7239 Forwarded', () => {
  const app = `${fixture('echo.mjs')}:handler`;

  test('from a trusted peer it sets address and scheme, and takes precedence over X-Forwarded-*', async () => {
    const server = await startServer([app, '--forwarded-allow-ips', '127.0.0.1,10.0.0.0/8']);
    const client = await seen(server.url, {
      forwarded: 'for=6.6.6.6, for="198.51.100.7:4711", for=10.0.0.2;proto=https',
      'x-forwarded-for': '203.0.113.1',
    });
    assert.equal(client.address, '198.51.100.7');
    assert.equal(client.scheme, 'https');
  });

  test('from an untrusted peer it is ignored', async () => {
    const server = await startServer([app, '--forwarded-allow-ips', '10.0.0.1']);
    const client = await seen(server.url, { forwarded: 'for=198.51.100.7;proto=https' });
    assert.equal(client.address, '127.0.0.1');
    assert.equal(client.scheme, 'http');
  });
});
