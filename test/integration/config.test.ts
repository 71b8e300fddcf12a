import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { helpText, SETTINGS } from '../../src/settings.js';
import { request, unixGet } from '../helpers/http.js';
import { fixture, runCli, startServer, stopAll } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

after(stopAll);

const dir = mkdtempSync(join(tmpdir(), 'unicorn-config-'));
const configFile = join(dir, 'unicorn.config.mjs');
writeFileSync(
  configFile,
  'export default { workers: 3, timeout: 11, maxRequests: 7, gracefulTimeout: 9 };\n',
);

function printed(stdout: string): Record<string, { value: unknown; source: string }> {
  const out: Record<string, { value: unknown; source: string }> = {};
  for (const line of stdout.trim().split('\n')) {
    const m = /^(\w+)\s+= (.*) {2}\((.+)\)$/.exec(line);
    if (m) out[m[1]!] = { value: m[2] === '<function>' ? '<function>' : JSON.parse(m[2]!), source: m[3]! };
  }
  return out;
}

describe('configuration precedence: defaults < env < config file < UNICORN_TS_CMD_ARGS < command line', () => {
  const app = fixture('pid.mjs');

  test('defaults', async () => {
    const { code, stdout } = await runCli([app, '--print-config'], {
      cwd: tmpdir(),
      env: { WEB_CONCURRENCY: undefined, PORT: undefined },
    });
    assert.equal(code, 0);
    const c = printed(stdout);
    assert.deepEqual(c.workers, { value: 1, source: 'default' });
    assert.deepEqual(c.bind, { value: ['127.0.0.1:8000'], source: 'default' });
    assert.deepEqual(c.timeout, { value: 30, source: 'default' });
  });

  test('environment: WEB_CONCURRENCY and PORT', async () => {
    const { stdout } = await runCli([app, '--print-config'], {
      cwd: tmpdir(),
      env: { WEB_CONCURRENCY: '5', PORT: '9123' },
    });
    const c = printed(stdout);
    assert.deepEqual(c.workers, { value: 5, source: 'environment' });
    assert.deepEqual(c.bind, { value: ['0.0.0.0:9123'], source: 'environment' });
  });

  test('config file over environment', async () => {
    const { stdout } = await runCli([app, '-c', configFile, '--print-config'], {
      env: { WEB_CONCURRENCY: '5' },
    });
    const c = printed(stdout);
    assert.deepEqual(c.workers, { value: 3, source: 'config file' });
    assert.deepEqual(c.timeout, { value: 11, source: 'config file' });
  });

  test('./unicorn.config.* is picked up from the working directory', async () => {
    const { stdout } = await runCli([app, '--print-config'], { cwd: dir });
    assert.deepEqual(printed(stdout).maxRequests, { value: 7, source: 'config file' });
  });

  test('UNICORN_TS_CMD_ARGS over the config file', async () => {
    const { stdout } = await runCli([app, '-c', configFile, '--print-config'], {
      env: { UNICORN_TS_CMD_ARGS: "-w 4 --timeout 12 --env 'GREETING=hello world'" },
    });
    const c = printed(stdout);
    assert.deepEqual(c.workers, { value: 4, source: 'UNICORN_TS_CMD_ARGS' });
    assert.deepEqual(c.timeout, { value: 12, source: 'UNICORN_TS_CMD_ARGS' });
    assert.deepEqual(c.env, { value: ['GREETING=hello world'], source: 'UNICORN_TS_CMD_ARGS' });
    assert.deepEqual(c.maxRequests, { value: 7, source: 'config file' });
  });

  test('the command line over everything', async () => {
    const { stdout } = await runCli([app, '-c', configFile, '-w', '2', '--print-config'], {
      env: { UNICORN_TS_CMD_ARGS: '-w 4', WEB_CONCURRENCY: '5' },
    });
    const c = printed(stdout);
    assert.deepEqual(c.workers, { value: 2, source: 'command line' });
    assert.deepEqual(c.gracefulTimeout, { value: 9, source: 'config file' });
  });

  test('the resolved settings take effect: -w from the config file starts that many workers', async () => {
    const server = await startServer([app, '-c', configFile]);
    assert.equal(server.liveWorkerPids().length, 3);
  });

  test('-e sets environment variables in the workers', async () => {
    const envApp = join(dir, 'env-app.mjs');
    writeFileSync(envApp, 'export default () => new Response(process.env.GREETING ?? "unset");\n');
    const server = await startServer([envApp, '-e', 'GREETING=hi there']);
    assert.equal((await request(`${server.url}/`)).body, 'hi there');
  });
});

describe('bad configuration is a clear error naming what is wrong', () => {
  const app = fixture('pid.mjs');

  test('an unknown flag names the flag and suggests the nearest', async () => {
    const { code, stderr } = await runCli([app, '--wrokers', '2']);
    assert.equal(code, 1);
    assert.match(stderr, /unknown option '--wrokers'/);
    assert.match(stderr, /--workers/);
  });

  test('a bad value names the flag and what it accepts', async () => {
    const { code, stderr } = await runCli([app, '-w', 'many']);
    assert.equal(code, 1);
    assert.match(stderr, /--workers/);
    assert.match(stderr, /invalid value for --workers: "many" \(expected an integer from 1 to 1024\)/);
  });

  test('a bad choice lists the choices', async () => {
    const { code, stderr } = await runCli([app, '-k', 'gevent']);
    assert.equal(code, 1);
    assert.match(stderr, /async, sync/);
  });

  test('an unknown key in the config file names the key and the file and suggests the nearest', async () => {
    const bad = join(dir, 'bad.config.mjs');
    writeFileSync(bad, 'export default { wrokers: 2 };\n');
    const { code, stderr } = await runCli([app, '-c', bad, '--check-config']);
    assert.equal(code, 1);
    assert.match(stderr, /unknown setting "wrokers" in .*bad\.config\.mjs \(did you mean "workers"\?\)/);
    assert.match(stderr, /UNICORN_CONFIG_UNKNOWN_KEY/);
  });

  test('a bad value in the config file names the key', async () => {
    const bad = join(dir, 'bad-value.config.mjs');
    writeFileSync(bad, 'export default { timeout: "soon" };\n');
    const { code, stderr } = await runCli([app, '-c', bad, '--check-config']);
    assert.equal(code, 1);
    assert.match(stderr, /invalid value for timeout: "soon"/);
  });

  test('an unknown flag in UNICORN_TS_CMD_ARGS says where it came from', async () => {
    const { code, stderr } = await runCli([app, '--print-config'], {
      env: { UNICORN_TS_CMD_ARGS: '--bogus' },
    });
    assert.equal(code, 1);
    assert.match(stderr, /UNICORN_TS_CMD_ARGS/);
    assert.match(stderr, /--bogus/);
  });

  test('--check-config exits 0 when config and app load', async () => {
    const { code, stdout } = await runCli([app, '-c', configFile, '--check-config']);
    assert.equal(code, 0);
    assert.match(stdout, /^OK: .*pid\.mjs \(fetch interface/);
  });

  test('--check-config exits 1 with the reason when the app does not load', async () => {
    const { code, stderr } = await runCli([fixture('import-throws.mjs'), '--check-config']);
    assert.equal(code, 1);
    assert.match(stderr, /import-throws\.mjs: this module refuses to load/);
  });

  test('--version prints the package version', async () => {
    const { code, stdout } = await runCli(['--version']);
    assert.equal(code, 0);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    assert.equal(stdout.trim(), pkg.version);
  });

  test('--help groups options by section', async () => {
    const { code, stdout } = await runCli(['--help']);
    assert.equal(code, 0);
    for (const section of ['Server Socket:', 'Worker Processes:', 'Logging:'])
      assert.ok(stdout.includes(section), section);
    assert.match(stdout, /-w, --workers <INT\|auto>/);
  });

  test("--help shows every option's whole first sentence, its default and its env var, from the settings table", async () => {
    const { code, stdout } = await runCli(['--help']);
    assert.equal(code, 0);
    // Commander wraps descriptions to the terminal's width: compare with the whitespace folded.
    const help = stdout.replace(/\s+/g, ' ');
    for (const spec of SETTINGS.filter((s) => s.flags.length > 0)) {
      assert.ok(
        help.includes(helpText(spec).replace(/\s+/g, ' ')),
        `--help shows ${spec.name}: ${helpText(spec)}`,
      );
    }
    assert.ok(
      help.includes("(WSGI's SCRIPT_NAME), e.g. `/api`. (default: none; env: SCRIPT_NAME)"),
      'root-path',
    );
    assert.match(help, /--backlog <INT> The most connections .*\(default: 2048\)/);
    assert.match(
      help,
      /-w, --workers <INT\|auto> The number of worker processes\. \(default: 1, or \$WEB_CONCURRENCY when set; env: WEB_CONCURRENCY\)/,
    );
    assert.match(
      help,
      /--log-level <LEVEL> .*\(choices: trace, debug, info, warn, warning, error, critical; default: info\)/,
    );
  });

  test('--log-level takes warn, the name the log lines carry, and warning', async () => {
    for (const level of ['warn', 'warning']) {
      const printed_ = await runCli([app, '--log-level', level, '--print-config']);
      assert.equal(printed_.code, 0, `${level}: ${printed_.stderr}`);
      assert.deepEqual(printed(printed_.stdout).logLevel, { value: 'warning', source: 'command line' });
      const checked = await runCli([app, '--log-level', level, '--check-config']);
      assert.equal(checked.code, 0, `${level}: ${checked.stderr}`);
    }
  });

  test('a server started with --log-level warn serves and writes no info lines', async () => {
    const sock = join(dir, 'warn.sock');
    const server = await startServer([app, '--log-level', 'warn', '-b', `unix:${sock}`], { waitFor: null });
    await waitFor('a response on the unix socket', async () => /^\d+$/.test(await unixGet(sock)));
    assert.equal(server.exited, false);
    assert.deepEqual(
      server.logs.filter((l) => l.level === 'info').map((l) => l.event),
      [],
    );
  });

  test('--print-config names the config file it loaded on its first line, and how it was chosen', async () => {
    const found = await runCli([app, '--print-config'], { cwd: dir });
    assert.equal(
      found.stdout.split('\n')[0],
      `# config file: ${configFile} (found in the working directory)`,
    );
    const named = await runCli([app, '-c', configFile, '--print-config']);
    assert.equal(named.stdout.split('\n')[0], `# config file: ${configFile} (from --config)`);
    const none = await runCli([app, '--print-config'], { cwd: tmpdir() });
    assert.match(
      none.stdout.split('\n')[0]!,
      /^# config file: none \(no --config, and no unicorn\.config\.ts, .*unicorn\.config\.cjs in /,
    );
  });

  test('two default config files in the working directory are an error naming both; -c settles it', async () => {
    const twoDir = mkdtempSync(join(tmpdir(), 'unicorn-two-configs-'));
    writeFileSync(join(twoDir, 'unicorn.config.ts'), 'export default { workers: 2 };\n');
    writeFileSync(join(twoDir, 'unicorn.config.js'), 'export default { workers: 3 };\n');
    const { code, stdout, stderr } = await runCli([app, '--print-config'], { cwd: twoDir });
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.ok(stderr.includes(join(twoDir, 'unicorn.config.ts')), stderr);
    assert.ok(stderr.includes(join(twoDir, 'unicorn.config.js')), stderr);
    assert.match(stderr, /pass -c FILE/);
    assert.match(stderr, /UNICORN_CONFIG_FILE_AMBIGUOUS/);
    const chosen = await runCli([app, '-c', 'unicorn.config.js', '--print-config'], { cwd: twoDir });
    assert.equal(chosen.code, 0, chosen.stderr);
    assert.deepEqual(printed(chosen.stdout).workers, { value: 3, source: 'config file' });
  });

  test('a bind that is in use is a clear error', async () => {
    const server = await startServer([app]);
    const { code, stderr } = await runCli([app, '-b', `127.0.0.1:${server.port}`, '--log-format', 'json']);
    assert.equal(code, 1);
    assert.match(stderr, /cannot bind 127\.0\.0\.1:\d+: address already in use/);
  });
});

describe('the access log', () => {
  test("is off by default, and in Gunicorn's default format with --access-logfile", async () => {
    const logFile = join(dir, 'access.log');
    const server = await startServer([fixture('pid.mjs'), '--access-logfile', logFile]);
    await request(`${server.url}/path?x=1`, {
      headers: { 'user-agent': 'test-agent/1.0', referer: 'http://ref/' },
    });
    await server.stop();
    const line = await waitFor('access log line', () => readFileSync(logFile, 'utf8').trim() || undefined);
    assert.match(
      line,
      /^127\.0\.0\.1 - - \[\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "GET \/path\?x=1 HTTP\/1\.1" 200 \d+ "http:\/\/ref\/" "test-agent\/1\.0"$/,
    );
  });

  test('logs a request its client left before any answer as 499 (nginx: client closed request), with its client named', async () => {
    const logFile = join(dir, 'access-left.log');
    const server = await startServer([fixture('abortable.mjs'), '-w', '1', '--access-logfile', logFile]);
    const lines = () => readFileSync(logFile, 'utf8').trim().split('\n').filter(Boolean);
    // One client resets its connection, the next one ends it (a FIN): either way it is gone.
    for (const [i, leave] of [
      [1, (s: net.Socket) => s.resetAndDestroy()],
      [2, (s: net.Socket) => s.end()],
    ] as const) {
      const socket = net.connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write(`GET /slow?ms=20000&n=${i} HTTP/1.1\r\nHost: a\r\n\r\n`);
      await waitFor('the app to start the request', () =>
        server.logs.filter((l) => l.msg === 'slow request started').length === i ? true : undefined,
      );
      leave(socket);
      await waitFor('the app to see its client go', () =>
        server.logs.filter((l) => l.msg === 'slow request aborted').length === i ? true : undefined,
      );
      // The access log is written at least once a second.
      await waitFor('the access log line', () =>
        existsSync(logFile) && lines().length === i ? true : undefined,
      );
    }
    const [reset, ended] = lines();
    assert.match(reset!, /^127\.0\.0\.1 - - \[.*\] "GET \/slow\?ms=20000&n=1 HTTP\/1\.1" 499 - "-" "-"$/);
    assert.match(ended!, /^127\.0\.0\.1 - - \[.*\] "GET \/slow\?ms=20000&n=2 HTTP\/1\.1" 499 - "-" "-"$/);
    await server.stop();
  });

  test('--access-logformat takes atoms: timing, headers in and out', async () => {
    const server = await startServer([
      fixture('pid.mjs'),
      '--access-logfile',
      '-',
      '--access-logformat',
      '%(m)s %(U)s %(q)s %(s)s %(D)s %(L)s %({x-trace}i)s %({content-type}o)s %(B)s',
    ]);
    await request(`${server.url}/a/b?k=v`, { headers: { 'x-trace': 'abc123' } });
    const line = await waitFor('access log on stdout', () =>
      server.stdout
        .trim()
        .split('\n')
        .find((l) => l.startsWith('GET')),
    );
    const [m, U, q, s, D, L, trace, ctype, B] = line.split(' ');
    assert.deepEqual([m, U, q, s, trace, ctype], ['GET', '/a/b', 'k=v', '200', 'abc123', 'text/plain']);
    assert.match(D!, /^\d+$/);
    assert.match(L!, /^\d+\.\d{6}$/);
    assert.equal(B, String(String(server.liveWorkerPids()[0]).length));
  });
});

describe('logging formats', () => {
  test('--log-format pretty writes lines for people, not JSON', async () => {
    const { Server } = await import('../helpers/server.js');
    const server = new Server([fixture('pid.mjs'), '--log-format', 'pretty', '-b', '127.0.0.1:0']);
    try {
      await waitFor('a pretty ready line', () => /Ready: 1 worker\(s\) serving/.test(server.stderrText));
      const line = server.stderrText.split('\n').find((l) => l.includes('Ready: 1 worker(s) serving'))!;
      assert.doesNotMatch(line, /^\{/);
      assert.match(line, /INFO/);
    } finally {
      await server.stop();
    }
  });
});

describe('--max-requests-jitter', () => {
  test("adds up to that many requests to each worker's limit", async () => {
    const server = await startServer([
      fixture('pid.mjs'),
      '-w',
      '1',
      '--max-requests',
      '3',
      '--max-requests-jitter',
      '10',
    ]);
    const served = new Map<string, number>();
    await waitFor(
      'three recycles',
      async () => {
        const body = (await request(`${server.url}/`)).body;
        served.set(body, (served.get(body) ?? 0) + 1);
        return server.events('worker.retire').length >= 3;
      },
      { intervalMs: 5, timeoutMs: 60_000 },
    );
    const limits = server.logs
      .filter((l) => l.event === 'worker.exiting' && l.reason === 'max-requests')
      .map((l) => Number(/\((\d+)\)/.exec(String(l.msg))?.[1]));
    assert.ok(limits.length >= 3);
    for (const limit of limits) assert.ok(limit >= 3 && limit <= 13, `limit ${limit} within 3..13`);
    // Each limit is 3 plus 0..10 at random: all of them at 3 would mean no jitter (odds 1 in 1,331).
    assert.ok(
      limits.some((l) => l > 3),
      `jitter applied: ${limits.join(', ')}`,
    );
  });
});
