// The hand-written node:cluster server the issue compares unicorn-ts with: what a Node developer writes
// without a process manager. The primary forks WORKERS workers, re-forks any that die (the kill -9 test
// times this), and on SIGTERM disconnects the workers and exits. Workers serve node-app.mjs.
// Env: PORT (required), WORKERS (default 2), HOST (default 127.0.0.1).
// Started through cluster-rr.mjs or cluster-shared.mjs, which only choose the scheduling policy.

import cluster from 'node:cluster';
import http from 'node:http';
import handler, { upgrade } from './node-app.mjs';

/** `serve` starts one worker's server; the default serves node-app.mjs on node:http. */
export function run(policy, serve = worker) {
  // Must be set before the first fork; afterwards node ignores it.
  cluster.schedulingPolicy = policy === 'rr' ? cluster.SCHED_RR : cluster.SCHED_NONE;
  if (cluster.isPrimary) primary();
  else serve({ port: Number(process.env.PORT), hostname: process.env.HOST ?? '127.0.0.1' });
}

function primary() {
  const workers = Number(process.env.WORKERS ?? 2);
  let stopping = false;
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('exit', () => {
    if (!stopping) cluster.fork();
  });
  const stop = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers)) w?.disconnect();
    // Workers with open keep-alive sockets may take a while to disconnect; the harness waits 10 s at most.
    setTimeout(() => process.exit(0), 3000).unref();
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers).length === 0) process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function worker({ port, hostname }) {
  http.createServer(handler).on('upgrade', upgrade).listen(port, hostname);
}
