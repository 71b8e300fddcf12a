// Hand-written node:cluster, shared socket: every worker accepts on the same listening socket and the
// kernel decides which one wakes up (known to spread connections unevenly).
import { run } from './cluster-server.mjs';

run('shared');
