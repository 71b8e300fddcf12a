import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, test } from 'node:test';
import {
  type ConfigLayer,
  formatConfig,
  resolveConfig,
  serializableSettings,
  unknownSetting,
} from '../../src/config.js';
import { SETTINGS } from '../../src/settings.js';

const fileLayer = (values: Record<string, unknown>, origin = '/srv/app/unicorn.config.mjs'): ConfigLayer => ({
  source: 'config file',
  origin,
  values,
});
const cmdArgsLayer = (values: Record<string, unknown>): ConfigLayer => ({
  source: 'UNICORN_TS_CMD_ARGS',
  origin: '$UNICORN_TS_CMD_ARGS',
  values,
});
const cliLayer = (values: Record<string, unknown>): ConfigLayer => ({
  source: 'command line',
  origin: 'the command line',
  values,
});

/** The four layers as the CLI stacks them, each setting `workers`. */
const env = { WEB_CONCURRENCY: '2' };
const file = fileLayer({ workers: 3 });
const cmdArgs = cmdArgsLayer({ workers: 4 });
const cli = cliLayer({ workers: 5 });

describe('resolveConfig: layers and precedence', () => {
  test('with no layers and no environment, every setting has its default', () => {
    const { settings, sources } = resolveConfig([], {});
    for (const spec of SETTINGS) {
      assert.deepEqual((settings as Record<string, unknown>)[spec.name], spec.default, spec.name);
      assert.equal(sources[spec.name], 'default', spec.name);
    }
  });

  test('WEB_CONCURRENCY overrides the default number of workers', () => {
    const { settings, sources } = resolveConfig([], env);
    assert.equal(settings.workers, 2);
    assert.equal(sources.workers, 'environment');
  });

  test('PORT overrides the default bind with 0.0.0.0:$PORT', () => {
    const { settings, sources } = resolveConfig([], { PORT: '5000' });
    assert.deepEqual(settings.bind, ['0.0.0.0:5000']);
    assert.equal(sources.bind, 'environment');
  });

  test('an empty environment variable counts as unset', () => {
    const { settings, sources } = resolveConfig([], { WEB_CONCURRENCY: '', PORT: '' });
    assert.equal(settings.workers, 1);
    assert.deepEqual(settings.bind, ['127.0.0.1:8000']);
    assert.equal(sources.workers, 'default');
  });

  test('WEB_CONCURRENCY=auto means one worker per available CPU', () => {
    const { settings } = resolveConfig([], { WEB_CONCURRENCY: 'auto' });
    assert.ok(settings.workers >= 1 && settings.workers <= availableParallelism());
  });

  test('a bad WEB_CONCURRENCY is an error that names the variable', () => {
    assert.throws(() => resolveConfig([], { WEB_CONCURRENCY: 'many' }), {
      code: 'UNICORN_CONFIG_INVALID_VALUE',
      message: /\$WEB_CONCURRENCY/,
    });
  });

  test('a bad PORT is an error that names the variable', {}, () => {
    assert.throws(() => resolveConfig([], { PORT: 'abc' }), { message: /\$PORT/ });
  });

  test('a bad PORT is still an error when the configuration is resolved, not later in the master', () => {
    assert.throws(() => resolveConfig([], { PORT: 'abc' }), {
      code: 'UNICORN_CONFIG_INVALID_VALUE',
      message: /invalid value for \$PORT: invalid bind address "0\.0\.0\.0:abc": "abc" is not a port number/,
    });
  });

  test('environment variables that are not settings are ignored', () => {
    const { settings } = resolveConfig([], { WORKERS: '9', TIMEOUT: '1' });
    assert.equal(settings.workers, 1);
    assert.equal(settings.timeout, 30);
  });

  test('the config file overrides the environment', () => {
    const { settings, sources } = resolveConfig([file], env);
    assert.equal(settings.workers, 3);
    assert.equal(sources.workers, 'config file');
  });

  test('UNICORN_TS_CMD_ARGS overrides the config file', () => {
    const { settings, sources } = resolveConfig([file, cmdArgs], env);
    assert.equal(settings.workers, 4);
    assert.equal(sources.workers, 'UNICORN_TS_CMD_ARGS');
  });

  test('the command line overrides UNICORN_TS_CMD_ARGS', () => {
    const { settings, sources } = resolveConfig([file, cmdArgs, cli], env);
    assert.equal(settings.workers, 5);
    assert.equal(sources.workers, 'command line');
  });

  test('a layer overrides only the settings it names', () => {
    const { settings, sources } = resolveConfig([fileLayer({ timeout: 10 }), cliLayer({ workers: 7 })], env);
    assert.equal(settings.timeout, 10);
    assert.equal(sources.timeout, 'config file');
    assert.equal(settings.workers, 7);
    assert.equal(settings.backlog, 2048);
    assert.equal(sources.backlog, 'default');
  });

  test('a value left undefined in a layer does not hide the layer below', () => {
    const { settings, sources } = resolveConfig([file, cliLayer({ workers: undefined, preload: true })], {});
    assert.equal(settings.workers, 3);
    assert.equal(sources.workers, 'config file');
    assert.equal(settings.preload, true);
  });

  test('layer values go through the parser: strings become numbers, a single bind becomes a list', () => {
    const { settings } = resolveConfig(
      [fileLayer({ workers: '6', bind: 'unix:/tmp/app.sock', preload: 'yes' })],
      {},
    );
    assert.equal(settings.workers, 6);
    assert.deepEqual(settings.bind, ['unix:/tmp/app.sock']);
    assert.equal(settings.preload, true);
  });

  test('a hook from the config file is kept as the function it is', () => {
    const onStarting = () => {};
    const { settings, sources } = resolveConfig([fileLayer({ onStarting })], {});
    assert.equal(settings.onStarting, onStarting);
    assert.equal(sources.onStarting, 'config file');
  });

  test('a bad value in a layer is an error that names the setting', () => {
    assert.throws(() => resolveConfig([fileLayer({ timeout: 'soon' })], {}), {
      code: 'UNICORN_CONFIG_INVALID_VALUE',
      message: 'invalid value for timeout: "soon" (expected an integer >= 0)',
    });
  });
});

describe('resolveConfig: settings valid alone but not together', () => {
  const why =
    'that connection state lives in the worker that accepted the connection, so the connection cannot move to another worker';

  test('--dispatch request with --certfile or --proxy-protocol is an error naming the clashing flag', () => {
    assert.throws(
      () => resolveConfig([cliLayer({ dispatch: 'request', certfile: '/etc/tls/cert.pem' })], {}),
      {
        code: 'UNICORN_CONFIG_INVALID_VALUE',
        message: `--dispatch request cannot be used with --certfile: ${why}`,
      },
    );
    assert.throws(() => resolveConfig([cliLayer({ dispatch: 'request', proxyProtocol: true })], {}), {
      code: 'UNICORN_CONFIG_INVALID_VALUE',
      message: `--dispatch request cannot be used with --proxy-protocol: ${why}`,
    });
  });

  test('--dispatch request alone, and --dispatch accept with either, are fine', () => {
    assert.equal(resolveConfig([cliLayer({ dispatch: 'request' })], {}).settings.dispatch, 'request');
    const accept = resolveConfig([cliLayer({ certfile: '/etc/tls/cert.pem', proxyProtocol: true })], {});
    assert.equal(accept.settings.dispatch, 'accept');
    assert.equal(accept.settings.proxyProtocol, true);
    const explicit = resolveConfig([cliLayer({ dispatch: 'accept', proxyProtocol: true })], {});
    assert.equal(explicit.settings.dispatch, 'accept');
  });
});

describe('resolveConfig: only the settings that name an environment variable read one', () => {
  test('a variable literally named "undefined" changes nothing', () => {
    assert.deepEqual(resolveConfig([], { undefined: '7' }).settings, resolveConfig([], {}).settings);
  });
});

describe('resolveConfig: unknown settings', () => {
  test('an unknown key is an error naming the key and the file, and suggesting the nearest name', () => {
    assert.throws(
      () => resolveConfig([fileLayer({ worker: 4 }, '/srv/app/unicorn.config.ts')], {}),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'UNICORN_CONFIG_UNKNOWN_KEY');
        assert.equal(
          err.message,
          'unknown setting "worker" in /srv/app/unicorn.config.ts (did you mean "workers"?)',
        );
        return true;
      },
    );
  });

  test('an unknown key names UNICORN_TS_CMD_ARGS when it came from there', () => {
    assert.throws(() => resolveConfig([cmdArgsLayer({ max_requests: 5 })], {}), {
      code: 'UNICORN_CONFIG_UNKNOWN_KEY',
      message: 'unknown setting "max_requests" in $UNICORN_TS_CMD_ARGS (did you mean "maxRequests"?)',
    });
  });

  test('an unknown key far from every name suggests nothing', () => {
    assert.throws(() => resolveConfig([fileLayer({ frobnicate: true }, 'cfg.mjs')], {}), {
      message: 'unknown setting "frobnicate" in cfg.mjs',
    });
  });

  test('unknownSetting builds the same error on its own', () => {
    const err = unknownSetting('bnd', 'the command line');
    assert.equal(err.code, 'UNICORN_CONFIG_UNKNOWN_KEY');
    assert.equal(err.message, 'unknown setting "bnd" in the command line (did you mean "bind"?)');
    assert.ok(err.hint.length > 0);
  });
});

describe('resolveConfig: the result', () => {
  test('is frozen: settings and sources cannot be changed afterwards', () => {
    const config = resolveConfig([file], {});
    assert.ok(Object.isFrozen(config.settings));
    assert.ok(Object.isFrozen(config.sources));
    assert.throws(() => {
      (config.settings as { workers: number }).workers = 99;
    }, TypeError);
    assert.throws(() => {
      (config.sources as Record<string, string>).workers = 'default';
    }, TypeError);
  });

  test('records a source for every setting, and a value for every setting', () => {
    const { settings, sources } = resolveConfig([file], env);
    for (const spec of SETTINGS) {
      assert.ok(spec.name in settings, spec.name);
      assert.ok(
        ['default', 'environment', 'config file', 'UNICORN_TS_CMD_ARGS', 'command line'].includes(
          sources[spec.name]!,
        ),
      );
    }
  });

  test('does not change the layers it was given', () => {
    const values = { workers: '6' };
    resolveConfig([fileLayer(values)], {});
    assert.deepEqual(values, { workers: '6' });
  });
});

describe('formatConfig', () => {
  const onExit = () => {};
  const config = resolveConfig([fileLayer({ onExit, procName: 'web' }), cliLayer({ workers: 3 })], {
    PORT: '5000',
  });
  const lines = formatConfig(config).split('\n');

  test('prints one line per setting, in table order', () => {
    assert.equal(lines.length, SETTINGS.length);
    SETTINGS.forEach((spec, i) => {
      assert.ok(lines[i]!.startsWith(`${spec.name} `), lines[i]);
    });
  });

  test('shows each value as JSON followed by where it came from', () => {
    const line = (name: string) => lines.find((l) => l.startsWith(`${name} `))!;
    assert.match(line('workers'), /^workers += 3 {2}\(command line\)$/);
    assert.match(line('bind'), /= \["0\.0\.0\.0:5000"\] {2}\(environment\)$/);
    assert.match(line('procName'), /= "web" {2}\(config file\)$/);
    assert.match(line('pidfile'), /= null {2}\(default\)$/);
  });

  test('shows a hook by its presence only', () => {
    assert.match(lines.find((l) => l.startsWith('onExit '))!, /= <function> {2}\(config file\)$/);
    assert.match(lines.find((l) => l.startsWith('onStarting '))!, /= null {2}\(default\)$/);
  });

  test('lines the "=" signs up in one column', () => {
    const columns = new Set(lines.map((l) => l.indexOf(' = ')));
    assert.equal(columns.size, 1);
  });
});

describe('serializableSettings', () => {
  const onStarting = () => {};
  const { settings } = resolveConfig([fileLayer({ onStarting, workers: 2, env: ['A=1'] })], {});
  const out = serializableSettings(settings);

  test('drops every hook, set or not', () => {
    for (const spec of SETTINGS.filter((s) => s.type === 'hook'))
      assert.equal(spec.name in out, false, spec.name);
  });

  test('keeps every other setting, with its value', () => {
    for (const spec of SETTINGS.filter((s) => s.type !== 'hook')) {
      assert.deepEqual(out[spec.name], (settings as Record<string, unknown>)[spec.name], spec.name);
    }
  });

  test('survives a round trip through JSON unchanged', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(out)), out);
  });
});
