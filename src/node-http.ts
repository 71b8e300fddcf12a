/**
 * `node:http`, loaded through `require`. Every module of unicorn-ts takes node:http from here.
 *
 * On Node 22 and 24 node:http has getters (`WebSocket`, `CloseEvent`, `MessageEvent`) that load
 * undici, Node's fetch implementation, the first time they are read. An ESM `import` of a built-in
 * module reads every export to build the module's namespace, so `import http from 'node:http'`
 * loads undici into every process that imports it: on Node 24, a process that only loads node:http
 * takes 58 MiB at rest that way, 45 MiB through `require`. The master and a node-interface worker
 * never use undici. Types still come from `import type ... from 'node:http'`, which is erased.
 * test/unit/node-http.test.ts keeps other modules from importing node:http directly;
 * test/integration/modules-loaded.test.ts checks that the master and a node-interface worker leave
 * undici unloaded.
 */

import { createRequire } from 'node:module';

type NodeHttp = typeof import('node:http');

const http = createRequire(import.meta.url)('node:http') as NodeHttp;

export default http;
