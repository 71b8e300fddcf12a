// A single node:http process serving node-app.mjs: the floor any prefork server is compared with.
// PM2 runs this same file in cluster mode (its workers call listen() and PM2's master shares the port).
// Env: PORT (required), HOST (default 127.0.0.1).

import http from 'node:http';
import handler from './node-app.mjs';

const server = http.createServer(handler);
server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
// close() waits for idle keep-alive sockets; do not let a lingering client hold the exit.
process.on('SIGTERM', () => setTimeout(() => process.exit(0), 2000).unref());
