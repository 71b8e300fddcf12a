// The other fetch-interface reference: srvx's Node adapter serving fetch-app.mjs on node:cluster
// (the default scheduling policy, round-robin on Linux).
// Env: PORT (required), WORKERS (default 2), HOST (default 127.0.0.1).
import { serve } from 'srvx';
import { run } from './cluster-server.mjs';
import app from './fetch-app.mjs';

run('rr', ({ port, hostname }) => serve({ fetch: app, port, hostname, silent: true }));
