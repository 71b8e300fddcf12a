// Hand-written node:cluster, round-robin: the primary accepts and hands connections to workers in turn.
import { run } from './cluster-server.mjs';

run('rr');
