/**
 * The deployment examples (examples/systemd, examples/docker, examples/kubernetes) as an operator
 * copies them: each is checked by the tool that will read it (systemd-analyze, the Kubernetes OpenAPI
 * schemas), its command line is resolved by the real CLI, and the numbers that must agree across
 * files (a stop timeout longer than --graceful-timeout, probe paths) are compared.
 */

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EXIT_CODES } from '../../src/ipc.js';
import { splitShellWords } from '../../src/shell-words.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist/src/bin.js');
const example = (path: string) => readFileSync(join(ROOT, 'examples', path), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'unicorn-examples-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The settings a command line resolves to, as the real CLI prints them (`--print-config`). */
export function resolvedSettings(args: readonly string[]): Record<string, unknown> {
  const out = execFileSync(process.execPath, [CLI, ...args, '--print-config'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  const settings: Record<string, unknown> = {};
  for (const line of out.split('\n')) {
    const match = /^(\w+)\s+= (.*) {2}\(([^)]*)\)$/.exec(line);
    if (match) settings[match[1]!] = JSON.parse(match[2]!);
  }
  return settings;
}

/** `Key=value` lines of a unit file's section (the last one wins, as systemd reads a scalar key). */
function unitSection(text: string, section: string): Map<string, string> {
  const keys = new Map<string, string>();
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1]!;
    else if (current === section) {
      const eq = line.indexOf('=');
      keys.set(line.slice(0, eq), line.slice(eq + 1));
    }
  }
  return keys;
}

describe('examples/systemd', () => {
  const service = example('systemd/myapp.service');
  const socket = example('systemd/myapp.socket');
  const unit = unitSection(service, 'Service');
  const [binary, ...args] = splitShellWords(unit.get('ExecStart') ?? '');

  test('systemd-analyze verify finds nothing to say about the units', () => {
    // ExecStart must name an executable that exists: the checkout's CLI stands in for the install's.
    const units = mkdtempSync(join(dir, 'units-'));
    writeFileSync(join(units, 'myapp.service'), service.replace(binary!, `${process.execPath} ${CLI}`));
    writeFileSync(join(units, 'myapp.socket'), socket);
    const result = spawnSync(
      'systemd-analyze',
      ['verify', join(units, 'myapp.service'), join(units, 'myapp.socket')],
      { encoding: 'utf8' },
    );
    assert.equal(result.error, undefined, 'systemd-analyze cannot run (Debian/Ubuntu: the systemd package)');
    // It exits 0 on unknown keys and bad values, and only warns: any output is a finding.
    assert.equal(`${result.stdout}${result.stderr}`, '');
    assert.equal(result.status, 0);
  });

  test('Type=notify with NotifyAccess=all: the readiness message comes from systemd-notify, a child of the master', () => {
    assert.equal(unit.get('Type'), 'notify');
    assert.equal(unit.get('NotifyAccess'), 'all');
    assert.equal(unit.get('ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.equal(unit.get('KillMode'), 'mixed');
  });

  test('systemd waits longer than --graceful-timeout before it kills', () => {
    assert.equal(binary, '/srv/myapp/node_modules/.bin/unicorn-ts');
    const settings = resolvedSettings(args);
    const stopSec = Number(unit.get('TimeoutStopSec'));
    assert.ok(
      stopSec > Number(settings.gracefulTimeout),
      `TimeoutStopSec=${stopSec} > --graceful-timeout ${settings.gracefulTimeout}`,
    );
  });

  test('the exit codes that will not fix themselves are not restarted', () => {
    const codes = (unit.get('RestartPreventExitStatus') ?? '').split(/\s+/).map(Number);
    assert.deepEqual(codes, [
      EXIT_CODES.CONFIG_ERROR,
      EXIT_CODES.WORKER_BOOT_ERROR,
      EXIT_CODES.APP_LOAD_ERROR,
    ]);
  });

  test('the service requires the socket it is activated by', () => {
    const deps = unitSection(service, 'Unit');
    assert.equal(deps.get('Requires'), 'myapp.socket');
    assert.match(unitSection(socket, 'Socket').get('ListenStream') ?? '', /^127\.0\.0\.1:\d+$/);
  });
});
