/**
 * A master holding PATH, then a second master on PATH after the file was made to name HOLDER: prints
 * what the second `create` did (`refused CODE` or `took over`). Run as a child process so that it can
 * run as another user than the test (see pidfile.test.ts: as root, every pid can be signalled). With
 * a UID, it becomes that user (and group) once everything it needs is loaded: the code it runs may sit
 * where only the test's user can read it (Stryker's sandbox is private to root).
 */

import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Pidfile } from '../../../src/master/pidfile.js';

const [path, holder, uid] = process.argv.slice(2) as [string, string, string | undefined];
// Pidfile loads proper-lockfile on first use; loaded now, that is from the module cache.
createRequire(import.meta.url)('proper-lockfile');
if (uid !== undefined) {
  process.setgroups!([]);
  process.setgid!(Number(uid));
  process.setuid!(Number(uid));
}
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
