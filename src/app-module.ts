/**
 * APP_MODULE: `PATH[:EXPORT]`, where EXPORT is a name (`app:handler`), a factory call
 * (`app:createApp()`), or absent (the default export). PATH is resolved from the working directory,
 * trying the extensions Node and tsx load and then PATH/index.*.
 */

import { existsSync, statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { describeError, isUnicornError, UnicornError } from './errors.js';
import { recogniseFramework } from './frameworks.js';
import type { RequestInfo } from './http/request-info.js';
import { importFile } from './typescript.js';

export interface AppSpec {
  readonly path: string;
  /** null for the default export. */
  readonly exportName: string | null;
  /** `module:createApp()`: call the export, once per worker, and use what it returns. */
  readonly factory: boolean;
}

const EXTENSIONS = ['', '.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'] as const;

export function parseAppSpec(spec: string): AppSpec {
  const text = spec.trim();
  // The export is after the last colon, unless that colon belongs to a Windows drive letter.
  const colon = text.lastIndexOf(':');
  const hasExport = colon > 1 || colon === 0 || (colon === 1 && !/^[A-Za-z]:[\\/]/.test(text));
  const path = hasExport ? text.slice(0, colon) : text;
  let exportPart = hasExport ? text.slice(colon + 1) : null;
  let factory = false;
  if (exportPart?.endsWith('()')) {
    factory = true;
    exportPart = exportPart.slice(0, -2);
  }
  if (path === '' || (exportPart !== null && !/^[A-Za-z_$][\w$]*$/.test(exportPart))) {
    throw new UnicornError('UNICORN_APP_SPEC', `invalid APP_MODULE "${spec}"`);
  }
  return { path, exportName: exportPart, factory };
}

export function resolveAppFile(path: string, cwd: string): string {
  const base = resolve(cwd, path);
  const tried: string[] = [];
  for (const candidate of [
    ...EXTENSIONS.map((ext) => base + ext),
    ...EXTENSIONS.slice(1).map((ext) => `${base}/index${ext}`),
  ]) {
    tried.push(candidate);
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  throw new UnicornError(
    'UNICORN_APP_NOT_FOUND',
    `cannot find app module "${path}" from ${cwd} (tried ${EXTENSIONS.slice(1).join(' ')} and ${path}/index.*)`,
  );
}

export interface LoadedApp {
  readonly file: string;
  /** The handler or app object, after calling the factory when there is one. */
  readonly app: unknown;
  readonly startup: (() => unknown) | null;
  readonly shutdown: (() => unknown) | null;
  /**
   * Node interface: the module's `upgrade(req, socket, head, info)` export, which takes the
   * connections that ask to leave HTTP (WebSocket handshakes); null without one.
   */
  readonly upgrade: UpgradeHandler | null;
}

/** A node app's `upgrade` export: node:http's 'upgrade' event, with the request info. */
export type UpgradeHandler = (
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  info: RequestInfo,
) => unknown;

export async function loadApp(specText: string, cwd: string): Promise<LoadedApp> {
  const spec = parseAppSpec(specText);
  const file = resolveAppFile(spec.path, cwd);
  let mod: Record<string, unknown>;
  try {
    mod = await importFile(file);
  } catch (err) {
    // Already says what is wrong and what to install.
    if (isUnicornError(err) && err.code === 'UNICORN_TSX_REQUIRED') throw err;
    throw new UnicornError(
      'UNICORN_APP_IMPORT',
      `failed to import app module ${file}: ${describeError(err)}`,
      {
        cause: err,
      },
    );
  }
  const name = spec.exportName ?? 'default';
  let exported = mod[name];
  // A CommonJS module's exports object is its default export: `app.cjs:handler` finds module.exports.handler.
  if (exported === undefined && spec.exportName !== null && isObject(mod.default)) {
    exported = (mod.default as Record<string, unknown>)[spec.exportName];
  }
  if (exported === undefined) {
    const names = Object.keys(mod).filter((k) => k !== '__esModule');
    throw new UnicornError(
      'UNICORN_APP_EXPORT_MISSING',
      `app module ${file} has no ${spec.exportName === null ? 'default export' : `export named "${name}"`} (it exports: ${names.length ? names.join(', ') : 'nothing'})`,
    );
  }
  let app: unknown = exported;
  if (spec.factory) {
    if (typeof exported !== 'function') {
      throw new UnicornError(
        'UNICORN_APP_FACTORY',
        `${file}: "${name}" is not a function, so "${name}()" cannot be called`,
      );
    }
    try {
      app = (await (exported as () => unknown)()) as unknown;
    } catch (err) {
      throw new UnicornError(
        'UNICORN_APP_FACTORY',
        `app factory ${name}() in ${file} failed: ${describeError(err)}`,
        {
          cause: err,
        },
      );
    }
    if (app === undefined || app === null) {
      throw new UnicornError(
        'UNICORN_APP_FACTORY',
        `app factory ${name}() in ${file} returned ${String(app)}`,
      );
    }
  }
  if (!isHandler(app)) {
    throw new UnicornError(
      'UNICORN_APP_NOT_HANDLER',
      `${file}: "${name}${spec.factory ? '()' : ''}" is ${describeType(app)}, not a handler function, an object with fetch(), or a Fastify, Koa, NestJS or Next.js app${promiseAdvice(app, spec.path, spec.factory)}`,
    );
  }
  return {
    file,
    app,
    startup: lifecycleHook(mod, 'startup'),
    shutdown: lifecycleHook(mod, 'shutdown'),
    upgrade: lifecycleHook(mod, 'upgrade') as UpgradeHandler | null,
  };
}

/** A handler function, an object with a fetch() method, or a framework's app: what an app must be. */
export function isHandler(app: unknown): boolean {
  return (
    typeof app === 'function' ||
    (isObject(app) && typeof (app as { fetch?: unknown }).fetch === 'function') ||
    recogniseFramework(app) !== null
  );
}

/**
 * run() with a handler: the app as the program's run() call gave it. `startup` and `shutdown` are
 * looked up on it as on a default-exported object; `file` is the program.
 */
export function handlerApp(app: unknown, file: string): LoadedApp {
  if (!isHandler(app)) {
    throw new UnicornError(
      'UNICORN_APP_NOT_HANDLER',
      `${file}: the app given to run() is ${describeType(app)}, not a handler function or an object with fetch()`,
    );
  }
  const asModule = { default: app };
  return {
    file,
    app,
    startup: lifecycleHook(asModule, 'startup'),
    shutdown: lifecycleHook(asModule, 'shutdown'),
    upgrade: lifecycleHook(asModule, 'upgrade') as UpgradeHandler | null,
  };
}

function lifecycleHook(
  mod: Record<string, unknown>,
  name: 'startup' | 'shutdown' | 'upgrade',
): (() => unknown) | null {
  const fn =
    mod[name] ?? (isObject(mod.default) ? (mod.default as Record<string, unknown>)[name] : undefined);
  return typeof fn === 'function' ? (fn as () => unknown) : null;
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

/**
 * `export default NestFactory.create(AppModule)` exports a Promise: the export the user meant is a
 * factory, which a worker calls and awaits.
 */
function promiseAdvice(value: unknown, file: string, factory: boolean): string {
  if (factory || !isThenable(value)) return '';
  return `; export a function that returns it (\`export const createApp = () => NestFactory.create(AppModule)\`) and start \`${file}:createApp()\``;
}

function isThenable(value: unknown): boolean {
  return isObject(value) && typeof (value as { then?: unknown }).then === 'function';
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (isThenable(value)) return 'a Promise';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
