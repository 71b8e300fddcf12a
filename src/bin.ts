#!/usr/bin/env node
/** The `unicorn-ts` executable: the command line is src/cli.ts. */
import { holdUsr1 } from './early-usr1.js';

// Before anything else loads: a USR1 now would otherwise open Node's debugger (src/early-usr1.ts).
holdUsr1();
const { main } = await import('./cli.js');
process.exitCode = await main(process.argv);
// The master's own handles (signal listeners, cluster) would keep it alive: it is done.
process.exit();
