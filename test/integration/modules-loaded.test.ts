import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { fixture, startServer, stopAll } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

after(stopAll);
const dir = mkdtempSync(join(tmpdir(), 'unicorn-modules-'));

/** A config whose whenReady hook logs whether the master has loaded undici. */
const config = join(dir, 'unicorn.config.mjs');
writeFileSync(
  config,
  `export default {
  whenReady: (s) =>
    s.log.info(
      {
        undiciInMaster: process.moduleLoadList.some((m) => m.includes('deps/undici')),
        tlsInMaster: process.moduleLoadList.includes('NativeModule tls'),
      },
      'modules',
    ),
};
`,
);

// On Node 22 and 24 an ESM import of node:http reads its undici-backed getters and loads undici
// (about 13 MiB a process); src/node-http.ts loads it through require instead. On Node 20 the
// import loads nothing more, and these hold either way.
describe('what a process loads at rest', () => {
  test('neither the master nor a node-interface worker loads undici, zlib, node:tls or node:crypto until something asks for them', async () => {
    const server = await startServer([fixture('modules-loaded.mjs'), '-c', config]);
    const line = await waitFor('the whenReady hook to log', () =>
      server.logs.find((l) => typeof l.undiciInMaster === 'boolean'),
    );
    assert.equal(line.undiciInMaster, false, 'the master loaded undici');
    // node:tls (about 2.7 MiB on Node 24) is for the workers' https servers; the master serves none.
    assert.equal(line.tlsInMaster, false, 'the master loaded node:tls');
    const worker = JSON.parse((await request(`${server.url}/`)).body) as Record<string, boolean>;
    assert.deepEqual(worker, { undici: false, zlib: false, tls: false, crypto: false });
  });

  test('the probes name what a process loads', async () => {
    await import('node:tls');
    assert.ok(process.moduleLoadList.includes('NativeModule tls'));
    assert.ok(process.moduleLoadList.includes('NativeModule crypto'), 'node:tls loads node:crypto');
  });

  test('a fetch-interface worker does load undici: the probe can tell', async () => {
    const app = join(dir, 'fetch-modules.mjs');
    writeFileSync(
      app,
      `export default {
  fetch: () => Response.json({ undici: process.moduleLoadList.some((m) => m.includes('deps/undici')) }),
};
`,
    );
    const server = await startServer([app]);
    assert.deepEqual(JSON.parse((await request(`${server.url}/`)).body), { undici: true });
  });
});
