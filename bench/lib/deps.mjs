// Finds the external tools the targets need and, when running as root, installs missing Debian packages
// with apt-get (the machine a benchmark runs on may be fresh). Without root it only explains what is
// missing; the targets that need it are then reported as n/a instead of failing the whole run.
// Python is always Debian's /usr/bin/python3: a pyenv python3 earlier on PATH lacks uvicorn and friends.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

export const PYTHON = '/usr/bin/python3';
export const GUNICORN = '/usr/bin/gunicorn';

/** stdout+stderr of a short command (versions go to either), or null when it failed to run or exited non-zero
 * with nothing useful to say. `strict` treats any non-zero exit as failure (git outside a commit). */
function run(cmd, args, { strict = false } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 });
  if (r.error || (strict && r.status !== 0)) return null;
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() || null;
}

function onPath(bin) {
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, bin))) return true;
  return ['/usr/bin', '/usr/sbin', '/bin', '/sbin'].some((d) => existsSync(join(d, bin)));
}

function pyHas(module) {
  if (!existsSync(PYTHON)) return false;
  try {
    execFileSync(PYTHON, ['-c', `import ${module}`], { stdio: 'ignore', timeout: 15_000 });
    return true;
  } catch {
    return false;
  }
}

/** What is present right now. */
export function probe() {
  return {
    wrk: onPath('wrk'),
    taskset: onPath('taskset'),
    nginx: onPath('nginx'),
    gunicorn: existsSync(GUNICORN),
    uvicorn: pyHas('uvicorn'),
    uvloop: pyHas('uvloop'),
    httptools: pyHas('httptools'),
  };
}

// Debian package for each tool. uvloop/httptools are optional: uvicorn falls back to asyncio/h11.
const PACKAGES = {
  wrk: 'wrk',
  taskset: 'util-linux',
  nginx: 'nginx-light',
  gunicorn: 'gunicorn',
  uvicorn: 'python3-uvicorn',
  uvloop: 'python3-uvloop',
  httptools: 'python3-httptools',
};

/** Install what is missing when we can (root + apt-get); return the final probe and messages. */
export function ensureTools({ log }) {
  let have = probe();
  const missing = Object.keys(PACKAGES).filter((k) => !have[k]);
  if (missing.length === 0) return { have, notes: [] };
  const pkgs = [...new Set(missing.map((k) => PACKAGES[k]))];
  const notes = [];
  const isRoot = process.getuid?.() === 0;
  if (isRoot && onPath('apt-get')) {
    log(`installing missing packages: ${pkgs.join(' ')}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () =>
      execFileSync('apt-get', ['install', '-y', '-q', ...pkgs], { stdio: 'ignore', env, timeout: 600_000 });
    try {
      install();
    } catch {
      // A fresh machine may have no package lists yet.
      try {
        execFileSync('apt-get', ['update', '-q'], { stdio: 'ignore', env, timeout: 300_000 });
        install();
      } catch (err) {
        notes.push(`apt-get install ${pkgs.join(' ')} failed: ${err.message.split('\n')[0]}`);
      }
    }
    have = probe();
  } else {
    notes.push(
      `missing: ${missing.join(', ')}. Install them with: sudo apt-get install -y ${pkgs.join(' ')} ` +
        '(not root, so the harness does not do it itself)',
    );
  }
  return { have, notes };
}

function firstLine(text) {
  return text ? text.split('\n')[0].trim() : null;
}

/** Facts printed in docs/benchmarks.md so a reader can judge the numbers. */
export function machineFacts(repoRoot) {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  cpuModel = cpuModel.replace(/\s+/g, ' ').trim();
  let pm2 = null;
  try {
    pm2 = JSON.parse(readFileSync(join(repoRoot, 'node_modules/pm2/package.json'), 'utf8')).version;
  } catch {
    // Not installed: the pm2 target will say so.
  }
  let unicorn = null;
  try {
    unicorn = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version;
  } catch {
    // Keep null.
  }
  const debian = existsSync('/etc/debian_version')
    ? readFileSync('/etc/debian_version', 'utf8').trim()
    : null;
  return {
    nproc: Number(run('nproc', [])) || os.availableParallelism(),
    cpuModel,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    os: debian ? `Debian ${debian}` : os.version(),
    node: process.version,
    wrk: firstLine(run('wrk', ['-v'])),
    nginx: firstLine(run('nginx', ['-v'])),
    gunicorn: firstLine(run(GUNICORN, ['--version'])),
    python: firstLine(run(PYTHON, ['--version'])),
    uvicorn: firstLine(run(PYTHON, ['-c', 'import uvicorn; print(uvicorn.__version__)'], { strict: true })),
    pm2,
    unicornTs: unicorn,
    gitCommit: firstLine(run('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], { strict: true })),
  };
}
