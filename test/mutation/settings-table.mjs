// Mutation testing of the settings table: `node test/mutation/settings-table.mjs [stryker options]`,
// e.g. `--mutate src/settings.ts:227-420` for a part of it. See docs/testing.md, "Mutation testing".
//
// Stryker never mutates inside a TypeScript `as const` (it skips the whole expression as a type
// annotation), and the table is `[...] as const`: run on the repo as it is, it finds no mutant in the
// table. `as const` changes types only, so this runs Stryker on a copy of the working tree whose
// src/settings.ts has every ` as const` removed (line numbers unchanged; tsx does not type-check),
// with stryker.settings-table.mjs. The report is copied back to reports/mutation/settings-table.*.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const copy = join(repo, '.tmp/settings-table-copy');
rmSync(copy, { recursive: true, force: true });
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
  cwd: repo,
  encoding: 'utf8',
})
  .split('\0')
  .filter((f) => f !== '' && !f.startsWith('node_modules'));
for (const file of files) {
  mkdirSync(dirname(join(copy, file)), { recursive: true });
  try {
    cpSync(join(repo, file), join(copy, file));
  } catch (err) {
    if (err.code !== 'ENOENT') throw err; // deleted in the working tree, not yet in git
  }
}
symlinkSync(join(repo, 'node_modules'), join(copy, 'node_modules'));
const settings = join(copy, 'src/settings.ts');
writeFileSync(settings, readFileSync(settings, 'utf8').replaceAll(' as const', ''));

const run = spawnSync('npx', ['stryker', 'run', 'stryker.settings-table.mjs', ...process.argv.slice(2)], {
  cwd: copy,
  stdio: 'inherit',
});
mkdirSync(join(repo, 'reports/mutation'), { recursive: true });
for (const ext of ['json', 'html']) {
  cpSync(
    join(copy, `reports/mutation/settings-table.${ext}`),
    join(repo, `reports/mutation/settings-table.${ext}`),
  );
}
rmSync(copy, { recursive: true, force: true });
process.exit(run.status ?? 1);
