import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { reloadFilter } from '../../src/master/reloader.js';
import { SETTINGS_BY_NAME } from '../../src/settings.js';

const defaults = reloadFilter(
  SETTINGS_BY_NAME.get('reloadInclude')!.default as string[],
  SETTINGS_BY_NAME.get('reloadExclude')!.default as string[],
);

describe('--reload-include and --reload-exclude matching (paths relative to the watched directory)', () => {
  test("by default, the app's sources reload at any depth", () => {
    for (const rel of ['app.ts', 'app.mjs', 'src/routes/users.tsx', 'lib/x.cjs', 'config/settings.json'])
      assert.equal(defaults.reloads(rel), true, rel);
  });

  test('by default, other files, editor temporaries, node_modules and dot-paths do not', () => {
    for (const rel of [
      'README.md',
      'notes.txt',
      'app.ts~',
      '.app.ts.swp',
      'app.ts___jb_tmp___',
      '4913',
      'node_modules/dep/index.js',
      'packages/a/node_modules/dep/index.js',
      '.git/index.json',
      'src/.cache/x.js',
      '.eslintrc.json',
    ])
      assert.equal(defaults.reloads(rel), false, rel);
  });

  test('an excluded directory is pruned itself, so the watcher never descends into it', () => {
    assert.equal(defaults.excluded('node_modules'), true);
    assert.equal(defaults.excluded('.git'), true);
    assert.equal(defaults.excluded('src'), false);
    assert.equal(defaults.excluded(''), false, 'the watched directory itself');
  });

  test('a glob with a slash matches the path from the watched directory; without one, a name', () => {
    const f = reloadFilter(['views/**/*.hbs', '*.mjs'], ['generated', 'src/vendor/**']);
    assert.equal(f.reloads('views/a/b/page.hbs'), true);
    assert.equal(f.reloads('other/page.hbs'), false);
    assert.equal(f.reloads('deep/down/x.mjs'), true);
    assert.equal(f.reloads('generated/x.mjs'), false);
    assert.equal(f.reloads('a/generated/x.mjs'), false);
    assert.equal(f.reloads('src/vendor/lib/x.mjs'), false);
    assert.equal(f.reloads('src/x.mjs'), true);
  });

  test('exclusion wins over inclusion', () => {
    const f = reloadFilter(['*.mjs'], ['*.skip.mjs']);
    assert.equal(f.reloads('a.mjs'), true);
    assert.equal(f.reloads('a.skip.mjs'), false);
  });
});
