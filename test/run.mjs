#!/usr/bin/env node
// Runs the test suite with node:test: `node test/run.mjs [unit|integration|corpus] [file-filter]`.
// TypeScript tests load through tsx. Integration files run two at a time: each spends most of its
// time waiting on child processes, and the machines this runs on have two cores.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const here = new URL('.', import.meta.url).pathname;
const [tier, filter] = process.argv.slice(2);
const tiers = tier ? [tier] : ['unit', 'integration', 'corpus'];

function files(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .flatMap((name) => {
      const full = join(dir, name);
      return statSync(full).isDirectory() ? files(full) : /\.test\.[mc]?[jt]s$/.test(name) ? [full] : [];
    })
    .sort();
}

// The filter is matched against the path below test/ (`integration/control.test.ts`), never the
// checkout's own location: a checkout in a directory named like a test would otherwise run them all.
const list = tiers
  .flatMap((t) => files(join(here, t)))
  .filter((f) => !filter || relative(here, f).includes(filter));
if (list.length === 0) {
  console.error(`no test files for ${tiers.join(', ')}${filter ? ` matching ${filter}` : ''}`);
  process.exit(1);
}
const args = ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...list];
const result = spawnSync(process.execPath, args, {
  stdio: 'inherit',
  env: { ...process.env, FORCE_COLOR: '0' },
});
process.exit(result.status ?? 1);
