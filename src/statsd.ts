/**
 * StatsD (--statsd-host) through hot-shots, an optional peer dependency: it is imported only when
 * the setting is on, since its own optional dependency (unix-dgram, native) runs an install script
 * that warns in every project that installs it. Found where unicorn-ts is installed (npm puts a peer
 * beside it), else in the app's own project; missing, it is UNICORN_STATSD_REQUIRED, which says what
 * to install. Only the master sends, from the totals the workers' heartbeats bring: a client in
 * each worker, a line a request, costs more than a request may (docs/design.md).
 */

import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UnicornError } from './errors.js';

/** The few calls unicorn-ts makes; hot-shots' client has many more. */
export interface StatsdClient {
  increment(stat: string, value: number): void;
  gauge(stat: string, value: number): void;
  close(done?: (err?: Error) => void): void;
}

type StatsDConstructor = new (options: {
  host: string;
  port: number;
  prefix: string;
  maxBufferSize: number;
  bufferFlushInterval: number;
  errorHandler: (err: Error) => void;
}) => StatsdClient;

/** How long the master holds its lines before one UDP packet takes them all. */
const FLUSH_MS = 1000;
/** Below a typical MTU, so a packet is never fragmented. */
const PACKET_BYTES = 1400;

/**
 * A client for `hostPort` (HOST:PORT), its lines batched into a packet a second. Send errors
 * (nobody listening) are dropped, as UDP would drop them anyway.
 */
export async function openStatsd(hostPort: string, prefix: string, appDir: string): Promise<StatsdClient> {
  const StatsD = await loadHotShots(appDir);
  const colon = hostPort.lastIndexOf(':');
  return new StatsD({
    host: hostPort.slice(0, colon).replace(/^\[(.*)\]$/, '$1'),
    port: Number(hostPort.slice(colon + 1)),
    prefix,
    maxBufferSize: PACKET_BYTES,
    bufferFlushInterval: FLUSH_MS,
    errorHandler: () => {},
  });
}

/** hot-shots' client class, from beside unicorn-ts or from `appDir`'s project. */
export async function loadHotShots(appDir: string, specifier = 'hot-shots'): Promise<StatsDConstructor> {
  let ns: { default?: unknown; StatsD?: unknown };
  try {
    ns = (await import(specifier)) as typeof ns;
  } catch (err) {
    if (!isModuleNotFound(err)) throw err;
    let resolved: string;
    try {
      resolved = createRequire(join(appDir, 'package.json')).resolve(specifier);
    } catch (inner) {
      if (!isModuleNotFound(inner)) throw inner;
      throw new UnicornError(
        'UNICORN_STATSD_REQUIRED',
        `--statsd-host needs ${specifier}, which is not installed`,
      );
    }
    ns = (await import(pathToFileURL(resolved).href)) as typeof ns;
  }
  const StatsD = ns.StatsD ?? (ns.default as { StatsD?: unknown } | undefined)?.StatsD ?? ns.default;
  if (typeof StatsD !== 'function') {
    throw new UnicornError('UNICORN_STATSD_REQUIRED', `${specifier} has no StatsD client class`);
  }
  return StatsD as StatsDConstructor;
}

function isModuleNotFound(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}
