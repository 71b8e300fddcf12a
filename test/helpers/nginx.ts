/**
 * A real nginx in front of a unicorn-ts under test. Each instance is private to the test: nginx runs
 * in the foreground as a child (its own process group, tracked for cleanup like every server), with
 * its config, pid file, logs and temp directories in a fresh temp dir, listening on 127.0.0.1 on a
 * port picked at random. What it runs is the shipped examples/nginx/unicorn-ts.conf with only the
 * listen address and the upstream server replaced (and, for the "default" mode, the four keep-alive
 * lines removed), so the tests exercise the file operators copy.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { request } from './http.js';
import { killGroup, track } from './processes.js';
import { ROOT } from './server.js';
import { waitFor } from './wait.js';

export const SHIPPED_CONFIG = join(ROOT, 'examples/nginx/unicorn-ts.conf');

function findNginx(): string | undefined {
  const dirs = [
    ...(process.env.PATH ?? '').split(delimiter),
    '/usr/sbin',
    '/usr/local/sbin',
    '/usr/local/nginx/sbin',
  ];
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(join(dir, 'nginx'), constants.X_OK);
      return join(dir, 'nginx');
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** The nginx binary, or undefined when it is not installed. */
export const NGINX = findNginx();

/** For `test(name, { skip: skipWithoutNginx }, ...)`: decided once, when the test file loads. */
export const skipWithoutNginx: string | false =
  NGINX === undefined ? 'nginx not installed: apt-get install nginx-light' : false;

/**
 * `keepalive`: the shipped config as it is (HTTP/1.1 to unicorn-ts, idle connections reused).
 * `default`: without its keep-alive lines, i.e. nginx's own defaults: HTTP/1.0 with
 * `Connection: close`, one upstream connection per request.
 */
export type UpstreamMode = 'default' | 'keepalive';

/** Replaces the one line of `text` that `pattern` matches; anything but exactly one match throws. */
function replaceLine(text: string, pattern: RegExp, replacement: string, what: string): string {
  const flags = pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}gm`;
  const global = new RegExp(pattern.source, flags);
  const count = [...text.matchAll(global)].length;
  if (count !== 1) {
    throw new Error(`${SHIPPED_CONFIG}: expected exactly one ${what} line, found ${count}`);
  }
  return text.replace(global, replacement);
}

/**
 * The shipped site config, made runnable here: `listen 80;` becomes 127.0.0.1:`port`, the upstream
 * `server 127.0.0.1:8000;` becomes `upstream` (`127.0.0.1:PORT` or `unix:/path`). Every line that
 * changes must be found exactly once, so an edit to the shipped file that the tests would silently
 * stop covering fails here instead.
 */
export function renderSiteConfig(
  template: string,
  { upstream, port, mode }: { upstream: string; port: number; mode: UpstreamMode },
): string {
  let text = replaceLine(template, /^(\s*)listen 80;/, `$1listen 127.0.0.1:${port};`, 'listen 80;');
  text = replaceLine(text, /^(\s*)server 127\.0\.0\.1:8000;/, `$1server ${upstream};`, 'upstream server');
  if (mode === 'default') {
    for (const [pattern, what] of [
      [/^\s*keepalive \d+;\n/, 'keepalive'],
      [/^\s*keepalive_timeout \S+;\n/, 'keepalive_timeout'],
      [/^\s*proxy_http_version 1\.1;\n/, 'proxy_http_version'],
      [/^\s*proxy_set_header Connection \$connection_upgrade;\n/, 'proxy_set_header Connection'],
    ] as const) {
      text = replaceLine(text, pattern, '', what);
    }
  }
  return text;
}

/** The nginx features this build has: a temp-path directive for a module nginx lacks is an error. */
function modulesMissing(): Set<string> {
  if (NGINX === undefined) return new Set();
  const { stderr } = spawnSync(NGINX, ['-V'], { encoding: 'utf8' });
  return new Set([...(stderr ?? '').matchAll(/--without-http_(\w+)_module/g)].map((m) => m[1]!));
}
let missing: Set<string> | undefined;

/**
 * The main nginx.conf around the site config: foreground, one worker, everything nginx writes inside
 * `dir`. As root, nginx would run its worker as `nobody`, which can neither enter the 0700 temp dirs
 * nor write to a unix socket unicorn-ts created with the default umask: so the worker stays root.
 */
function mainConfig(dir: string): string {
  missing ??= modulesMissing();
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .filter((name) => name === 'client_body' || !missing!.has(name))
    .map((name) => `    ${name}_temp_path ${join(dir, `${name}_temp`)};`);
  return [
    `# Written by test/helpers/nginx.ts: a private nginx whose files all live in ${dir}.`,
    'daemon off;',
    'master_process on;',
    'worker_processes 1;',
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    'events {',
    '    worker_connections 1024;',
    '}',
    'http {',
    // $upstream_status lists every upstream attempt ("502, 200" means nginx retried), so the access
    // log shows what the client cannot see.
    "    log_format upstream '$status $request_method $request_uri upstream=$upstream_status';",
    `    access_log ${join(dir, 'access.log')} upstream;`,
    ...temp,
    `    include ${join(dir, 'unicorn-ts.conf')};`,
    '}',
    '',
  ].join('\n');
}

/** A port that was free a moment ago; nginx may still lose it to someone else, so callers retry. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export class Nginx {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly url: string;
  stderrText = '';
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly dir: string,
    readonly port: number,
    readonly upstream: string,
    readonly mode: UpstreamMode,
    /** What runs nginx, program first (`ip netns exec NS`); empty to run it directly. */
    command: readonly string[] = [],
  ) {
    this.url = `http://127.0.0.1:${port}`;
    const args = ['-p', dir, '-c', 'nginx.conf', '-e', join(dir, 'error.log')];
    const [program, ...leading] = [...command, NGINX!];
    this.child = spawn(program!, [...leading, ...args], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    track(this.child);
    this.pid = this.child.pid!;
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderrText += chunk;
    });
    this.exit = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  #read(name: string): string {
    const file = join(this.dir, name);
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  errorLog(): string {
    return this.#read('error.log');
  }

  /** One line per request: `STATUS METHOD URI upstream=UPSTREAM_STATUSES`. */
  accessLog(): string[] {
    return this.#read('access.log').split('\n').filter(Boolean);
  }

  /** The site config this instance runs (the shipped file, rendered). */
  siteConfig(): string {
    return this.#read('unicorn-ts.conf');
  }

  describe(): string {
    return `nginx (${this.mode}) -> ${this.upstream}: exit ${this.child.exitCode ?? this.child.signalCode ?? '-'}\n${this.stderrText}${this.errorLog().slice(-3000)}`;
  }

  /** Resolves when nginx answers HTTP on its port; rejects as soon as it has exited. */
  async ready(timeoutMs: number): Promise<void> {
    await waitFor(
      `nginx on ${this.url}`,
      async () => {
        if (this.exited) return { failed: true };
        // Any answer from nginx counts (even a 502: the upstream is the caller's business).
        const reply = await request(`${this.url}/`, { timeoutMs: 2000 });
        return String(reply.headers.server).startsWith('nginx') && { failed: false };
      },
      { timeoutMs, intervalMs: 100 },
    ).then(({ failed }) => {
      if (failed) throw new Error(`nginx exited at start\n${this.describe()}`);
    });
  }

  /** SIGQUIT (finish in-flight requests, then exit), SIGKILL to the whole group after the deadline. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (!this.exited) {
      try {
        process.kill(this.pid, 'SIGQUIT');
      } catch {
        // Already gone.
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.exit, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
      clearTimeout(timer);
    }
    killGroup(this.pid);
  }
}

const running = new Set<Nginx>();

/**
 * Starts nginx in front of `upstream` (`127.0.0.1:PORT` or `unix:/path.sock`). A port lost between
 * picking it and nginx binding it is retried with another.
 */
export async function startNginx({
  upstream,
  mode,
  timeoutMs = 30_000,
}: {
  upstream: string;
  mode: UpstreamMode;
  timeoutMs?: number;
}): Promise<Nginx> {
  if (NGINX === undefined) throw new Error(String(skipWithoutNginx));
  const template = readFileSync(SHIPPED_CONFIG, 'utf8');
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'unicorn-nginx-'));
    const port = await freePort();
    writeFileSync(join(dir, 'unicorn-ts.conf'), renderSiteConfig(template, { upstream, port, mode }));
    writeFileSync(join(dir, 'nginx.conf'), mainConfig(dir));
    const nginx = new Nginx(dir, port, upstream, mode);
    running.add(nginx);
    try {
      await nginx.ready(timeoutMs);
      return nginx;
    } catch (err) {
      const lost = /Address already in use/.test(nginx.describe());
      await nginx.stop();
      running.delete(nginx);
      if (!lost || attempt >= 5) throw err;
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/**
 * Starts nginx on `site`, a complete site config, with `command` running it (`ip netns exec NS`
 * for a network namespace). The test process cannot reach a namespace's addresses, so nginx counts
 * as ready once its pid file exists: nginx writes it after binding every listen socket.
 */
export async function startNginxWith(
  command: readonly string[],
  site: string,
  { port, timeoutMs = 30_000 }: { port: number; timeoutMs?: number },
): Promise<Nginx> {
  if (NGINX === undefined) throw new Error(String(skipWithoutNginx));
  const dir = mkdtempSync(join(tmpdir(), 'unicorn-nginx-'));
  writeFileSync(join(dir, 'unicorn-ts.conf'), site);
  writeFileSync(join(dir, 'nginx.conf'), mainConfig(dir));
  const nginx = new Nginx(dir, port, 'several', 'keepalive', command);
  running.add(nginx);
  const started = await waitFor(
    'nginx pid file',
    () => (nginx.exited ? { ok: false } : existsSync(join(dir, 'nginx.pid')) && { ok: true }),
    { timeoutMs, intervalMs: 50 },
  );
  if (!started.ok) throw new Error(`nginx exited at start\n${nginx.describe()}`);
  return nginx;
}

/** For `after()`: stops every nginx this file started and removes its files. */
export async function stopAllNginx(): Promise<void> {
  await Promise.all(
    [...running].map(async (nginx) => {
      await nginx.stop();
      rmSync(nginx.dir, { recursive: true, force: true });
    }),
  );
  running.clear();
}

/**
 * Runs `nginx -t` on the shipped file exactly as it is, inside the same main config the tests use:
 * the file operators copy parses, not only its rendered copies.
 */
export function checkShippedConfig(): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'unicorn-nginx-t-'));
  try {
    writeFileSync(join(dir, 'unicorn-ts.conf'), readFileSync(SHIPPED_CONFIG, 'utf8'));
    writeFileSync(join(dir, 'nginx.conf'), mainConfig(dir));
    const result = spawnSync(NGINX!, ['-t', '-p', dir, '-c', 'nginx.conf', '-e', join(dir, 'error.log')], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { ok: result.status === 0, output: `${result.stderr ?? ''}${result.stdout ?? ''}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
