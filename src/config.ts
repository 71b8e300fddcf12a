/**
 * Resolving the configuration. Layers apply in this order, each overriding the one before:
 *
 *   defaults < setting env vars (WEB_CONCURRENCY, PORT) < config file < UNICORN_TS_CMD_ARGS < command line
 *
 * (run() has the same layers, with its options in place of the last two.)
 *
 * Every value goes through its setting's parser, unknown names are errors that suggest the nearest
 * name, and the result is frozen.
 */

import { bindsOverlap, parseBind } from './bind.js';
import { UnicornError } from './errors.js';
import {
  nearestSettingName,
  SETTINGS,
  SETTINGS_BY_NAME,
  type Settings,
  type WorkerSettings,
} from './settings.js';

export type ConfigSource =
  | 'default'
  | 'environment'
  | 'config file'
  | 'UNICORN_TS_CMD_ARGS'
  | 'command line'
  | 'run() options';

export interface ConfigLayer {
  readonly source: Exclude<ConfigSource, 'default' | 'environment'>;
  /** Where the values came from, for error messages (a file path, or the layer's name). */
  readonly origin: string;
  readonly values: Readonly<Record<string, unknown>>;
}

export interface ResolvedConfig {
  readonly settings: Settings;
  readonly sources: Readonly<Record<string, ConfigSource>>;
}

export function resolveConfig(
  layers: readonly ConfigLayer[],
  env: NodeJS.ProcessEnv = process.env,
): ResolvedConfig {
  const values: Record<string, unknown> = {};
  const sources: Record<string, ConfigSource> = {};

  for (const spec of SETTINGS) {
    const fromEnv = spec.env === undefined ? undefined : env[spec.env];
    if (fromEnv !== undefined && fromEnv !== '') {
      values[spec.name] = spec.parse(spec.fromEnv ? spec.fromEnv(fromEnv) : fromEnv, `$${spec.env}`);
      sources[spec.name] = 'environment';
    } else {
      values[spec.name] = spec.default;
      sources[spec.name] = 'default';
    }
  }

  for (const layer of layers) {
    for (const [name, raw] of Object.entries(layer.values)) {
      if (raw === undefined) continue;
      const spec = SETTINGS_BY_NAME.get(name);
      if (spec === undefined) throw unknownSetting(name, layer.origin);
      values[name] = spec.parse(raw, name);
      sources[name] = layer.source;
    }
  }

  checkCombinations(values);
  return { settings: Object.freeze(values) as unknown as Settings, sources: Object.freeze(sources) };
}

/** Settings that are valid alone but not together. */
function checkCombinations(values: Record<string, unknown>): void {
  checkMetricsBind(values);
  if (values.sticky === true) {
    const clash =
      values.certfile !== null ? '--certfile' : values.dispatch === 'request' ? '--dispatch request' : null;
    if (clash !== null) {
      throw new UnicornError(
        'UNICORN_CONFIG_INVALID_VALUE',
        clash === '--certfile'
          ? '--sticky cannot be used with --certfile: the master reads the client address from the request head, which TLS hides from it; terminate TLS in the proxy in front'
          : '--sticky cannot be used with --dispatch request: that mode moves a kept-alive connection to any free worker, and --sticky keeps each client on its own',
      );
    }
  }
  if (values.dispatch !== 'request') return;
  const clash =
    values.certfile !== null ? '--certfile' : values.proxyProtocol === true ? '--proxy-protocol' : null;
  if (clash === null) return;
  throw new UnicornError(
    'UNICORN_CONFIG_INVALID_VALUE',
    `--dispatch request cannot be used with ${clash}: that connection state lives in the worker that accepted the connection, so the connection cannot move to another worker`,
  );
}

/** The master answers /metrics and the health checks on its own socket, never on one of the app's. */
function checkMetricsBind(values: Record<string, unknown>): void {
  const metrics = values.metricsBind;
  if (typeof metrics !== 'string') return;
  const clash = (values.bind as string[]).find((bind) => bindsOverlap(parseBind(metrics), parseBind(bind)));
  if (clash === undefined) return;
  throw new UnicornError(
    'UNICORN_CONFIG_INVALID_VALUE',
    `--metrics-bind ${metrics} is the app's --bind ${clash}: metrics and health checks need an address of their own, so that clients of the app never reach them`,
  );
}

export function unknownSetting(name: string, origin: string): UnicornError {
  const near = nearestSettingName(name);
  return new UnicornError(
    'UNICORN_CONFIG_UNKNOWN_KEY',
    `unknown setting "${name}" in ${origin}${near === undefined ? '' : ` (did you mean "${near}"?)`}`,
  );
}

/** `--print-config`: one setting a line, `name = value  (source)`, hooks shown by presence only. */
export function formatConfig(config: ResolvedConfig): string {
  const width = Math.max(...SETTINGS.map((s) => s.name.length));
  return SETTINGS.map((spec) => {
    const value = (config.settings as Record<string, unknown>)[spec.name];
    const shown = typeof value === 'function' ? '<function>' : JSON.stringify(value);
    return `${spec.name.padEnd(width)} = ${shown}  (${config.sources[spec.name]})`;
  }).join('\n');
}

/** The settings a worker is given through its environment: JSON-safe, hooks left out. */
export function serializableSettings(settings: Settings): WorkerSettings {
  const out: Record<string, unknown> = {};
  for (const spec of SETTINGS) {
    if (spec.type !== 'hook') out[spec.name] = (settings as Record<string, unknown>)[spec.name];
  }
  return out as WorkerSettings;
}
