#!/usr/bin/env node
/** The `unicorn-ts` executable: the command line is src/cli.ts. */
import { holdSignals } from './early-signals.js';

// Before anything else loads: until the master's own listeners, Node's defaults would open a
// debugger on USR1 and suspend the process on TTIN (src/early-signals.ts).
holdSignals();
const { main } = await import('./cli.js');
process.exitCode = await main(process.argv);
// The master's own handles (signal listeners, cluster) would keep it alive: it is done.
process.exit();
