/**
 * The deployment examples (examples/systemd, examples/docker, examples/kubernetes) as an operator
 * copies them: each is checked by the tool that will read it (systemd-analyze, the Kubernetes OpenAPI
 * schemas), its command line is resolved by the real CLI, and the numbers that must agree across
 * files (a stop timeout longer than --graceful-timeout, probe paths) are compared.
 */

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { availableWorkerCount } from '../../src/cpus.js';
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

/** The value after `flag` in an argument list (`--flag value`), or undefined. */
function flagValue(args: readonly string[], ...flags: string[]): string | undefined {
  const at = args.findIndex((arg) => flags.includes(arg));
  return at < 0 ? undefined : args[at + 1];
}

/** The port of a HOST:PORT address. */
const portOf = (address: string | undefined) => Number(/:(\d+)$/.exec(address ?? '')?.[1]);

/** Dockerfile instructions, continuation lines joined, each with the stage (FROM) it belongs to. */
function dockerInstructions(text: string): Array<{ stage: number; op: string; rest: string }> {
  const joined = text.replace(/\\\n/g, ' ');
  let stage = -1;
  const out: Array<{ stage: number; op: string; rest: string }> = [];
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [op, ...rest] = line.split(/\s+/);
    if (op!.toUpperCase() === 'FROM') stage++;
    out.push({ stage, op: op!.toUpperCase(), rest: rest.join(' ') });
  }
  return out;
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
const dockerfile = dockerInstructions(example('docker/Dockerfile'));
const finalStage = Math.max(...dockerfile.map((i) => i.stage));
const final = (op: string) => dockerfile.filter((i) => i.stage === finalStage && i.op === op);
/** An exec-form instruction's JSON array, or null for the shell form. */
function execForm(rest: string | undefined): string[] | null {
  try {
    const value: unknown = JSON.parse(rest ?? '');
    return Array.isArray(value) ? (value as string[]) : null;
  } catch {
    return null;
  }
}
const cmd = execForm(final('CMD').at(-1)?.rest) ?? [];

describe('examples/docker', () => {
  test('CMD is exec form (a JSON array) and runs the bin package.json declares', () => {
    assert.notEqual(
      execForm(final('CMD').at(-1)?.rest),
      null,
      'CMD is a JSON array: no shell between the init and the master',
    );
    const [bin] = Object.keys(pkg.bin);
    assert.equal(cmd[0], `node_modules/.bin/${bin}`);
  });

  test('tini is PID 1 (ENTRYPOINT, exec form): it reaps orphans and passes TERM on', () => {
    assert.deepEqual(execForm(final('ENTRYPOINT').at(-1)?.rest), ['/usr/bin/tini', '--']);
    assert.ok(
      final('RUN').some((i) => /apt-get install .*\btini\b/.test(i.rest)),
      'the runtime stage installs tini',
    );
  });

  test('multi-stage: the runtime stage installs production dependencies only and runs as a non-root user', () => {
    assert.ok(finalStage >= 1, 'a build stage and a runtime stage');
    assert.ok(final('RUN').some((i) => /\bnpm ci --omit=dev\b/.test(i.rest)));
    assert.ok(!final('RUN').some((i) => /\bnpm (ci|install)(?!.*--omit=dev)/.test(i.rest)));
    assert.ok(
      final('COPY').some((i) => i.rest.startsWith('--from=')),
      'the build output comes from the build stage',
    );
    const user = final('USER').at(-1)?.rest;
    assert.ok(user !== undefined && user !== 'root' && user !== '0', `USER ${user}`);
  });

  test('STOPSIGNAL is TERM, the graceful stop', () => {
    assert.equal(final('STOPSIGNAL').at(-1)?.rest, 'SIGTERM');
  });

  test('HEALTHCHECK asks /readyz on the --metrics-bind port', () => {
    const check = final('HEALTHCHECK').at(-1)?.rest ?? '';
    const url = /http:\/\/127\.0\.0\.1:(\d+)(\/\w+)/.exec(check);
    assert.ok(url, `no URL in HEALTHCHECK ${check}`);
    assert.equal(url[2], '/readyz');
    assert.equal(Number(url[1]), portOf(flagValue(cmd, '--metrics-bind')));
    assert.match(check, /CMD \[/, 'exec form: the slim image has no shell tools to rely on');
  });

  test('.dockerignore keeps the host’s node_modules and build output out of the build context', () => {
    const ignored = example('docker/.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const entry of ['node_modules', 'dist', '.git', '.env']) assert.ok(ignored.includes(entry), entry);
  });
});

describe('examples/kubernetes', () => {
  const documents = (name: string) =>
    parseAllDocuments(example(`kubernetes/${name}`)).map((doc) => {
      assert.deepEqual(doc.errors, [], `${name} is valid YAML`);
      return doc.toJS() as Record<string, unknown>;
    });
  const [deploymentObject] = documents('deployment.yaml');
  const [serviceObject] = documents('service.yaml');
  const [hpaObject] = documents('hpa.yaml');
  const deployment = new Deployment(deploymentObject as never);
  const service = new Service(serviceObject as never);
  const hpa = new HorizontalPodAutoscaler(hpaObject as never);
  const pod = deployment.spec!.template.spec!;
  const container = pod.containers[0]!;
  const args = container.args ?? [];
  const port = (name: string | number) =>
    typeof name === 'number' ? name : container.ports?.find((p) => p.name === name)?.containerPort;

  test('each manifest validates against the Kubernetes OpenAPI schema (kubernetes-models)', () => {
    deployment.validate();
    service.validate();
    hpa.validate();
    assert.equal(deployment.kind, 'Deployment');
    assert.equal(service.kind, 'Service');
    assert.equal(hpa.apiVersion, 'autoscaling/v2');
  });

  test('a manifest with a wrong type fails the same validation', () => {
    const broken = structuredClone(deploymentObject) as {
      spec: { template: { spec: Record<string, unknown> } };
    };
    broken.spec.template.spec.terminationGracePeriodSeconds = '40';
    assert.throws(
      () => new Deployment(broken as never).validate(),
      /terminationGracePeriodSeconds must be integer/,
    );
  });

  test('the container runs the image’s command line (Dockerfile CMD)', () => {
    assert.deepEqual(args, cmd);
  });

  test('readiness on /readyz, liveness on /healthz, both on the --metrics-bind port', () => {
    const metricsPort = portOf(flagValue(args, '--metrics-bind'));
    assert.equal(container.readinessProbe?.httpGet?.path, '/readyz');
    assert.equal(container.livenessProbe?.httpGet?.path, '/healthz');
    assert.equal(port(container.readinessProbe!.httpGet!.port), metricsPort);
    assert.equal(port(container.livenessProbe!.httpGet!.port), metricsPort);
  });

  test('terminationGracePeriodSeconds covers the preStop pause and --graceful-timeout', () => {
    const command = container.lifecycle?.preStop?.exec?.command ?? [];
    assert.equal(command[0], 'sleep');
    const preStop = Number(command[1]);
    assert.ok(preStop > 0, 'preStop pauses so endpoints update before the drain');
    const graceful = Number(flagValue(args, '--graceful-timeout'));
    assert.ok(graceful > 0);
    assert.ok(
      pod.terminationGracePeriodSeconds! > preStop + graceful,
      `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} > preStop ${preStop} + --graceful-timeout ${graceful}`,
    );
  });

  test('the Service selects the pods and targets the port the master binds', () => {
    assert.deepEqual(service.spec!.selector, deployment.spec!.template.metadata!.labels);
    assert.deepEqual(deployment.spec!.selector.matchLabels, deployment.spec!.template.metadata!.labels);
    const target = service.spec!.ports![0]!.targetPort!;
    assert.equal(port(target as string | number), portOf(flagValue(args, '-b', '--bind')));
  });

  test('the HPA scales this Deployment on CPU, from a floor of two pods', () => {
    assert.deepEqual(
      { ...hpa.spec!.scaleTargetRef },
      { apiVersion: deployment.apiVersion, kind: deployment.kind, name: deployment.metadata!.name },
    );
    assert.ok(hpa.spec!.minReplicas! >= 2);
    assert.equal(hpa.spec!.metrics![0]!.resource?.name, 'cpu');
    assert.deepEqual(container.resources?.requests?.cpu, container.resources?.limits?.cpu);
  });

  test('-w auto under the CPU limit: the cgroup quota the kubelet writes gives that many workers', () => {
    assert.equal(flagValue(args, '-w', '--workers'), 'auto');
    const cpus = Number(container.resources?.limits?.cpu);
    const root = mkdtempSync(join(dir, 'pod-'));
    // cgroup v2 with a cgroup namespace (containerd's default): the limit is the mount's cpu.max.
    for (const [file, text] of Object.entries({
      'proc/self/cgroup': '0::/\n',
      'proc/self/mountinfo': '30 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n',
      'sys/fs/cgroup/cpu.max': `${cpus * 100000} 100000\n`,
    })) {
      mkdirSync(dirname(join(root, file)), { recursive: true });
      writeFileSync(join(root, file), text);
    }
    assert.equal(availableWorkerCount(root), Math.min(cpus, availableParallelism()));
  });
});
