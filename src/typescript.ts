/**
 * Loading TypeScript apps and config files. Node 20 cannot import .ts files; tsx's loader hooks can,
 * on every Node version we support, so they are registered in a process the first time it imports a
 * TypeScript file (and never otherwise: plain JavaScript apps pay nothing).
 */

import { extname } from 'node:path';

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

/** import() a file by absolute path, registering the TypeScript loader first when it needs one. */
export async function importFile(file: string): Promise<Record<string, unknown>> {
  if (isTypeScriptFile(file)) await ensureTypeScriptLoader();
  const { pathToFileURL } = await import('node:url');
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}
