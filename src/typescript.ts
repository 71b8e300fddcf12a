/**
 * Loading TypeScript apps and config files. Node 20 cannot import .ts files; tsx's loader hooks can,
 * on every Node version we support, so they are registered in a process the first time it imports a
 * TypeScript file (and never otherwise: plain JavaScript apps pay nothing).
 */

import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { pathToFileURL } from 'node:url';

const TS_EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.tsx']);
let registered: Promise<void> | null = null;

export function isTypeScriptFile(file: string): boolean {
  return TS_EXTENSIONS.has(extname(file));
}

export function ensureTypeScriptLoader(): Promise<void> {
  registered ??= (async () => {
    const [esm, cjs] = await Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')]);
    esm.register();
    cjs.register();
  })();
  return registered;
}

let generation = 0;

/**
 * import() a file by absolute path, registering the TypeScript loader first when it needs one.
 * `fresh` bypasses the module cache (a HUP re-reads the config file): a query string makes a new
 * module URL, and a CommonJS file is dropped from require's cache.
 */
export async function importFile(file: string, { fresh = false } = {}): Promise<Record<string, unknown>> {
  if (isTypeScriptFile(file)) await ensureTypeScriptLoader();
  const url = pathToFileURL(file).href;
  if (fresh) delete createRequire(import.meta.url).cache[file];
  const ns = (await import(fresh ? `${url}?reload=${++generation}` : url)) as Record<string, unknown>;
  return unwrapTranspiledCommonJs(ns);
}

/**
 * A module compiled to CommonJS from ESM (tsc, Babel, or tsx for a .ts file outside a
 * `"type": "module"` package) arrives as `{ default: { __esModule: true, default, ...named } }`:
 * hand back its own exports, so `export default` means the same thing everywhere.
 */
function unwrapTranspiledCommonJs(ns: Record<string, unknown>): Record<string, unknown> {
  const cjs = ns.default as Record<string, unknown> | undefined;
  if (typeof cjs === 'object' && cjs !== null && cjs.__esModule === true) return { ...cjs };
  return ns;
}
