#!/usr/bin/env node
/** The `unicorn-ts` executable: the command line is src/cli.ts. */
import { main } from './cli.js';

process.exitCode = await main(process.argv);
// The master's own handles (signal listeners, cluster) would keep it alive: it is done.
process.exit();
