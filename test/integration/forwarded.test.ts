import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { fixture, runCli, startServer, stopAll } from '../helpers/server.js';

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

describe('which headers are believed (--forwarder-headers)', () => {
  const app = `${fixture('echo.mjs')}:handler`;
  const forged = {
    forwarded: 'for=6.6.6.6;proto=https',
    'x-forwarded-for': '203.0.113.1',
    'x-forwarded-proto': 'http',
  };

  test('by default Forwarded is not believed even from a trusted peer: proxies relay it from the client', async () => {
    const server = await startServer([app]);
    assert.deepEqual(await seen(server.url, forged).then(({ address, scheme }) => ({ address, scheme })), {
      address: '203.0.113.1',
      scheme: 'http',
    });
    assert.deepEqual(
      await seen(server.url, { forwarded: 'for="<script>";proto=https' }).then(({ address, scheme }) => ({
        address,
        scheme,
      })),
      { address: '127.0.0.1', scheme: 'http' },
    );
  });

  test('listed, Forwarded sets address and scheme and takes precedence over X-Forwarded-*', async () => {
    const server = await startServer([
      app,
      '--forwarded-allow-ips',
      '127.0.0.1,10.0.0.0/8',
      '--forwarder-headers',
      'X-Forwarded-For,X-Forwarded-Proto,Forwarded',
    ]);
    const client = await seen(server.url, {
      forwarded: 'for=6.6.6.6, for="198.51.100.7:4711";proto=https, for=10.0.0.2;proto=http',
      'x-forwarded-for': '203.0.113.1',
    });
    assert.equal(client.address, '198.51.100.7');
    // The proto recorded with the client's element, by the trusted proxy that saw the client.
    assert.equal(client.scheme, 'https');
    const v6 = await seen(server.url, { forwarded: 'for="[2001:db8::7]:80";proto=https' });
    assert.equal(v6.address, '2001:db8::7');
    assert.match(v6.url, /^https:\/\//);
  });

  test('X-Forwarded-Proto alone: the scheme follows it, the address stays the peer', async () => {
    const server = await startServer([app, '--forwarder-headers', 'x-forwarded-proto']);
    const client = await seen(server.url, forged);
    assert.equal(client.address, '127.0.0.1');
    assert.equal(client.scheme, 'http');
    assert.equal((await seen(server.url, { 'x-forwarded-proto': 'https' })).scheme, 'https');
  });

  test('a name that is not a forwarding header is a configuration error', async () => {
    const { code, stderr } = await runCli([app, '--forwarder-headers', 'X-Forwarded-For,X-Real-IP']);
    assert.equal(code, 1);
    assert.match(stderr, /invalid value for --forwarder-headers: "X-Forwarded-For,X-Real-IP"/);
    assert.match(stderr, /X-Forwarded-For, X-Forwarded-Proto, Forwarded/);
  });
});

describe('forwarded values that are not addresses, and the scheme', () => {
  const app = `${fixture('echo.mjs')}:handler`;

  test('Forwarded with proto= but no for=: the peer is the client, with the proto', async () => {
    const server = await startServer([app, '--forwarder-headers', 'Forwarded']);
    const client = await seen(server.url, { forwarded: 'proto=https' });
    assert.equal(client.address, '127.0.0.1');
    assert.equal(client.scheme, 'https');
  });

  test('for=unknown, obfuscated and garbage nodes are not addresses: the peer instead', async () => {
    const server = await startServer([app, '--forwarder-headers', 'Forwarded']);
    for (const node of ['unknown', '_hidden', '"<script>"', '"[::1"']) {
      const client = await seen(server.url, { forwarded: `for=${node};proto=https` });
      assert.equal(client.address, '127.0.0.1', node);
      assert.equal(client.scheme, 'https', node);
    }
  });

  test("a client's unclosed quote cannot swallow the Forwarded element the proxy appended", async () => {
    const server = await startServer([app, '--forwarder-headers', 'Forwarded']);
    // What a proxy that appends its element produces from a client that sent `for=6.6.6.6;host="`.
    const client = await seen(server.url, { forwarded: 'for=6.6.6.6;host=", for=198.51.100.7;proto=https' });
    assert.equal(client.address, '127.0.0.1');
    assert.equal(client.scheme, 'http');
  });

  test('an X-Forwarded-For entry that is not an address is not the client', async () => {
    const server = await startServer([app]);
    assert.equal((await seen(server.url, { 'x-forwarded-for': '<script>' })).address, '127.0.0.1');
    assert.equal(
      (await seen(server.url, { 'x-forwarded-for': '198.51.100.1, unknown' })).address,
      '127.0.0.1',
    );
  });

  test('the scheme is the last X-Forwarded-Proto value, the one the nearest proxy added', async () => {
    const server = await startServer([app]);
    assert.equal((await seen(server.url, { 'x-forwarded-proto': 'https, http' })).scheme, 'http');
    assert.equal((await seen(server.url, { 'x-forwarded-proto': 'http, https' })).scheme, 'https');
    assert.equal((await seen(server.url, { 'x-forwarded-proto': 'https, wss' })).scheme, 'http');
  });

  test('from an untrusted peer, Forwarded is ignored even when listed', async () => {
    const server = await startServer([
      app,
      '--forwarded-allow-ips',
      '10.0.0.1',
      '--forwarder-headers',
      'Forwarded',
    ]);
    const client = await seen(server.url, { forwarded: 'for=198.51.100.7;proto=https' });
    assert.equal(client.address, '127.0.0.1');
    assert.equal(client.scheme, 'http');
  });
});
