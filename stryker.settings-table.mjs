// The settings table (src/settings.ts from parseEnvList to SETTINGS_BY_NAME: the table, HOOKS and the
// constants it uses), measured against the test files that check it (test/mutation/settings-table.test.ts;
// docs/testing.md, "Mutation testing"). Its mutants are static: each runs those files whole.
//   node test/mutation/settings-table.mjs   (runs Stryker with this file on a copy: see there why)
//   node test/mutation/settings-table.mjs --mutate src/settings.ts:227-420   (a part of it)
import { readFileSync } from 'node:fs';

const base = JSON.parse(readFileSync(new URL('./stryker.config.json', import.meta.url), 'utf8'));
delete base.$schema;

export default {
  ...base,
  tap: { ...base.tap, testFiles: ['test/mutation/settings-table.test.ts'] },
  mutate: ['src/settings.ts:177-832'],
  concurrency: 1,
  incremental: false,
  tempDirName: '.tmp/stryker-settings-table',
  jsonReporter: { fileName: 'reports/mutation/settings-table.json' },
  htmlReporter: { fileName: 'reports/mutation/settings-table.html' },
};
