// Hand-written node:cluster where every worker binds its own socket with SO_REUSEPORT (`reusePort`,
// Node 22.12 and newer, Linux): the kernel spreads new connections over the workers' separate accept
// queues by a hash of the connection, instead of one queue shared by all. `exclusive` makes each
// worker listen itself rather than through the primary. Measured against cluster-shared (one queue,
// what unicorn-ts does) for docs/design.md.
import cluster from 'node:cluster';
import http from 'node:http';
import { run } from './cluster-server.mjs';
import handler, { upgrade } from './node-app.mjs';

if (cluster.isPrimary) {
  run('shared');
} else {
  http
    .createServer(handler)
    .on('upgrade', upgrade)
    .listen({
      port: Number(process.env.PORT),
      host: process.env.HOST ?? '127.0.0.1',
      reusePort: true,
      exclusive: true,
    });
}
