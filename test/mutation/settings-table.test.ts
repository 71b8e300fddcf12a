/**
 * The unit test files that check the settings table (src/settings.ts, from parseEnvList to
 * SETTINGS_BY_NAME), in one process, for stryker.settings-table.mjs. Every mutant of the table is
 * static (it runs when the module loads), so Stryker runs it against every test file it is given:
 * one process with these, instead of a node and tsx start per file or every unit test file, keeps a
 * run of the table's several hundred mutants to minutes. docs-fresh comes first: it compares the
 * generated docs (docs/settings.md, from every name, flag, default and doc string) with the
 * committed pages. docs-contract.test.ts would belong here too, but it reads the whole docs tree,
 * which other work changes: a failure there would stop every run.
 */
import '../unit/docs-fresh.test.js';
import '../unit/settings.test.js';
import '../unit/config.test.js';
// These read a setting's parser or default too: --forwarder-headers, --reload-include/-exclude,
// the access log format.
import '../unit/forwarded.test.js';
import '../unit/reloader.test.js';
import '../unit/access-log.test.js';
