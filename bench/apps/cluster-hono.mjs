// The fetch-interface reference: @hono/node-server serving fetch-app.mjs on node:cluster, as a Node
// developer would write it (the default scheduling policy, round-robin on Linux). Its lightweight
// Request and Response, which become undici's only when an app asks for what only those have, are
// the bar unicorn-ts's fetch interface is measured against.
// Env: PORT (required), WORKERS (default 2), HOST (default 127.0.0.1).
import { serve } from '@hono/node-server';
import { run } from './cluster-server.mjs';
import app from './fetch-app.mjs';

run('rr', ({ port, hostname }) => serve({ fetch: app, port, hostname }));
