/**
 * A master holding PATH, then a second master on PATH after the file was made to name HOLDER: prints
 * what the second `create` did (`refused CODE` or `took over`). Run as a child process so that it can
 * run as another user than the test (see pidfile.test.ts: as root, every pid can be signalled).
 */

import { writeFileSync } from 'node:fs';
import { Pidfile } from '../../../src/master/pidfile.js';

const [path, holder] = process.argv.slice(2) as [string, string];
const first = new Pidfile(path);
first.create(process.pid);
writeFileSync(path, `${holder}\n`);
const second = new Pidfile(path);
try {
  second.create(process.pid);
  process.stdout.write('took over\n');
  second.remove(process.pid);
} catch (err) {
  process.stdout.write(`refused ${(err as { code?: string }).code}\n`);
} finally {
  first.remove(process.pid);
}
