import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { PAGES } from '../../src/tools/gen-docs.js';

for (const [path, page] of Object.entries(PAGES)) {
  test(`${path} matches the table it is generated from (run \`npm run docs\` after changing it)`, () => {
    const committed = readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
    assert.equal(committed, page());
  });
}
