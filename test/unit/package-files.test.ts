/**
 * What the published package holds, as `npm pack` lists it: every source map in it points at sources
 * that are in the package too (so a stack or a `worker.timeout` line that names `workers/worker.ts:120`
 * names a file the user has), and package.json says where the repository, its home page and its
 * issues are (the registry resolves the README's relative links against `repository`).
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;

/** The files `npm pack` would put in the tarball, relative to the package root. */
function packedFiles(): Set<string> {
  // --ignore-scripts: the prepare script would rebuild dist/; the test reads the build already there.
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const [listing] = JSON.parse(out) as Array<{ files: Array<{ path: string }> }>;
  assert.ok(listing, 'npm pack listed nothing');
  return new Set(listing.files.map((f) => f.path));
}

describe('the packed package', () => {
  test('every source map in it resolves to sources in it (or carries them)', () => {
    assert.ok(existsSync(join(ROOT, 'dist/src/index.js')), 'dist/ is missing: run npm run build first');
    const files = packedFiles();
    const maps = [...files].filter((f) => f.endsWith('.js.map'));
    assert.ok(maps.length > 20, `only ${maps.length} source maps in the package`);
    assert.ok(
      maps.some((m) => m.startsWith('dist/workers/')),
      'no source maps for dist/workers/ in the package',
    );
    const dangling: string[] = [];
    for (const map of maps) {
      const { sources, sourceRoot, sourcesContent } = JSON.parse(readFileSync(join(ROOT, map), 'utf8')) as {
        sources: string[];
        sourceRoot?: string;
        sourcesContent?: Array<string | null>;
      };
      sources.forEach((source, i) => {
        if (typeof sourcesContent?.[i] === 'string') return;
        const path = posix.normalize(posix.join(dirname(map), sourceRoot ?? '', source));
        if (!files.has(path)) dangling.push(`${map} -> ${path}`);
      });
    }
    assert.deepEqual(
      dangling,
      [],
      `source maps pointing at files the package lacks:\n${dangling.join('\n')}`,
    );
  });

  test('package.json names the repository, its home page and its issue tracker', () => {
    assert.deepEqual(pkg.repository, {
      type: 'git',
      url: 'git+https://github.com/unicorn-ts/unicorn-ts.git',
    });
    assert.equal(pkg.homepage, 'https://github.com/unicorn-ts/unicorn-ts#readme');
    assert.deepEqual(pkg.bugs, { url: 'https://github.com/unicorn-ts/unicorn-ts/issues' });
  });
});
