/**
 * Loading TypeScript apps and config files. Node strips types itself from 22.18 and 23.6
 * (`process.features.typescript`), and there a .ts, .mts or .cts file is imported like any other.
 * tsx, an optional peer dependency, is loaded only where Node cannot do it (docs/design.md):
 *
 * - the runtime has no type stripping (Node 20, Node 22 before 22.18): tsx's loader hooks are
 *   registered in the process the first time it imports a TypeScript file;
 * - a .tsx file (JSX is not TypeScript Node strips);
 * - a file Node refused: syntax stripping cannot erase (enum, namespace, parameter properties), a
 *   TypeScript file under node_modules, `import './x.js'` naming a file that exists only as x.ts
 *   (the TypeScript convention tsx resolves and Node does not), or import/export in a file its
 *   package makes CommonJS. These fail while Node builds the module graph or compiles the file,
 *   before it runs, so tsx then loads the graph again from the start, in its own namespace (fresh
 *   module URLs, none of them the failed ones).
 *
 * Without tsx, those cases end in UNICORN_TSX_REQUIRED, which says what to install. Plain
 * JavaScript apps never load tsx.
 */

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describeError, UnicornError } from './errors.js';

const TS_EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.tsx']);

type TsxApi = typeof import('tsx/esm/api');
type TsxCjsApi = typeof import('tsx/cjs/api');

export function isTypeScriptFile(file: string): boolean {
  return TS_EXTENSIONS.has(extname(file));
}

/** Whether this Node strips types itself ('strip' or 'transform'; false or absent before 22.18). */
export function runtimeStripsTypes(): boolean {
  const features = process.features as { typescript?: string | false };
  return typeof features.typescript === 'string';
}

let generation = 0;

/**
 * import() a file by absolute path, with tsx only when Node cannot load it. `fresh` bypasses the
 * module cache (a HUP re-reads the config file): a query string makes a new module URL, and a
 * CommonJS file is dropped from require's cache.
 */
export async function importFile(file: string, { fresh = false } = {}): Promise<Record<string, unknown>> {
  const url = pathToFileURL(file).href;
  if (fresh) delete createRequire(import.meta.url).cache[file];
  const target = fresh ? `${url}?reload=${++generation}` : url;
  if (!isTypeScriptFile(file)) return normalize(await import(target));
  if (!runtimeStripsTypes()) {
    await registerTsx(file, `Node.js ${process.version} cannot load TypeScript (${file}) by itself`);
    return normalize(await import(target));
  }
  if (extname(file) === '.tsx') {
    return normalize(await tsxImport(file, target, `Node.js does not load .tsx files (${file})`));
  }
  try {
    return normalize(await import(target));
  } catch (err) {
    const why = tsxCanLoad(err);
    if (why === null) throw err;
    return normalize(await tsxImport(file, target, `${why} (${describeError(err)})`, err));
  }
}

/**
 * Why tsx could load what Node refused, or null when the failure is one tsx would meet too (the
 * module threw, a dependency is really missing).
 */
function tsxCanLoad(err: unknown): string | null {
  if (err instanceof SyntaxError && ESM_IN_COMMONJS.test(err.message)) {
    return 'the file uses import/export and its package.json makes it CommonJS (no "type": "module")';
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  if (code === 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX') {
    return "Node's type stripping does not support this TypeScript syntax";
  }
  if (code === 'ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING') {
    return 'Node does not strip types from files under node_modules';
  }
  if (code === 'ERR_UNKNOWN_FILE_EXTENSION' && /\.tsx\b/.test(String((err as Error).message))) {
    return 'Node.js does not load .tsx files';
  }
  if (code === 'ERR_MODULE_NOT_FOUND') {
    const missing = (err as { url?: unknown }).url;
    if (typeof missing === 'string' && missing.startsWith('file:')) {
      const path = fileURLToPath(missing);
      const asTs = path.replace(/\.(m|c)?js$/, (_, m: string | undefined) => `.${m ?? ''}ts`);
      if (asTs !== path && existsSync(asTs)) {
        return 'an import names a .js file that exists only as TypeScript, which Node does not resolve';
      }
    }
  }
  return null;
}

/**
 * Node's errors for ESM syntax in a file it loads as CommonJS: a .ts file in a package without
 * `"type": "module"` (`npm init` writes `"type": "commonjs"`), which tsx compiles to CommonJS.
 */
const ESM_IN_COMMONJS = /Unexpected token 'export'|Cannot use import statement outside a module/;

let registered: Promise<void> | null = null;

/** Node without type stripping: tsx's hooks for the whole process, so every import and require of TypeScript works. */
function registerTsx(file: string, why: string): Promise<void> {
  registered ??= (async () => {
    const esm = await loadTsx<TsxApi>('tsx/esm/api', file, why);
    const cjs = await loadTsx<TsxCjsApi>('tsx/cjs/api', file, why);
    esm.register();
    cjs.register();
  })();
  // A failed attempt is not remembered: tsx may be installed before the next one (HUP).
  registered.catch(() => {
    registered = null;
  });
  return registered;
}

async function tsxImport(file: string, target: string, why: string, cause?: unknown): Promise<unknown> {
  const tsx = await loadTsx<TsxApi>('tsx/esm/api', file, why, cause);
  return tsx.tsImport(target, import.meta.url);
}

/**
 * tsx from where unicorn-ts is installed (npm puts a peer dependency beside it), else from the
 * file's own project (unicorn-ts installed globally or elsewhere).
 */
async function loadTsx<T>(specifier: string, file: string, why: string, cause?: unknown): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (err) {
    if (!isModuleNotFound(err)) throw err;
  }
  let resolved: string;
  try {
    resolved = createRequire(file).resolve(specifier);
  } catch (err) {
    if (!isModuleNotFound(err)) throw err;
    throw new UnicornError('UNICORN_TSX_REQUIRED', `${why}, and tsx is not installed`, {
      ...(cause === undefined ? {} : { cause }),
    });
  }
  const ns = (await import(pathToFileURL(resolved).href)) as T & { default?: T };
  // The CommonJS build of tsx's API arrives as a default export.
  return (ns as { register?: unknown }).register === undefined && ns.default !== undefined ? ns.default : ns;
}

function isModuleNotFound(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

/**
 * One shape for every kind of module. A module compiled to CommonJS from ESM (tsc, Babel, or tsx
 * for a .ts file outside a `"type": "module"` package) arrives as
 * `{ default: { __esModule: true, default, ...named } }`: hand back its own exports, so `export
 * default` means the same thing everywhere. Node 23 and later add a `module.exports` name to a
 * CommonJS module's namespace, the same object as its default: not an export of the user's.
 */
function normalize(imported: unknown): Record<string, unknown> {
  const ns = imported as Record<string, unknown>;
  const cjs = ns.default as Record<string, unknown> | undefined;
  if (typeof cjs === 'object' && cjs !== null && cjs.__esModule === true) return { ...cjs };
  if (!('module.exports' in ns)) return ns;
  const { 'module.exports': _, ...rest } = ns;
  return rest;
}

/**
 * Why a TypeScript app would lose its decorator metadata, or null. Node's type stripping and tsx
 * (esbuild) erase types and emit no `design:type`/`design:paramtypes` metadata, whatever the
 * tsconfig says: NestJS then cannot resolve constructor injection, and class-validator or TypeORM
 * decorators see `undefined`. Only a compiler that reads the types (tsc, swc with
 * decoratorMetadata) emits it, so such an app is built first and started from its JavaScript. The
 * nearest tsconfig.json above the file decides (following a relative `extends`), as for tsc.
 */
export function decoratorMetadataWarning(file: string): string | null {
  if (!isTypeScriptFile(file)) return null;
  const tsconfig = nearestTsconfig(dirname(file));
  if (tsconfig === null || !emitsDecoratorMetadata(tsconfig, 0)) return null;
  return `${tsconfig} sets emitDecoratorMetadata, which Node's type stripping and tsx cannot emit: decorators that read design:paramtypes (NestJS dependency injection, class-validator, TypeORM) get nothing when ${file} is loaded as TypeScript. Compile it with tsc (npm run build) and start the compiled JavaScript, e.g. \`unicorn-ts dist/main.js:createApp()\``;
}

function nearestTsconfig(dir: string): string | null {
  for (let current = dir; ; current = dirname(current)) {
    const candidate = join(current, 'tsconfig.json');
    if (existsSync(candidate)) return candidate;
    if (dirname(current) === current) return null;
  }
}

function emitsDecoratorMetadata(tsconfig: string, depth: number): boolean {
  let config: { extends?: unknown; compilerOptions?: { emitDecoratorMetadata?: unknown } };
  try {
    config = JSON.parse(stripJsonComments(readFileSync(tsconfig, 'utf8'))) as typeof config;
  } catch {
    return false; // tsc's to complain about; the app may load all the same
  }
  const own = config.compilerOptions?.emitDecoratorMetadata;
  if (typeof own === 'boolean') return own;
  const base = config.extends;
  if (depth < 5 && typeof base === 'string' && base.startsWith('.')) {
    const path = resolve(dirname(tsconfig), base);
    const file = existsSync(path) ? path : `${path}.json`;
    return existsSync(file) && emitsDecoratorMetadata(file, depth + 1);
  }
  return false;
}

/** tsconfig.json is JSON with comments and trailing commas. Strings are kept as they are. */
function stripJsonComments(text: string): string {
  return text
    .replace(
      /("(?:\\.|[^"\\])*")|\/\/[^\n]*|\/\*[\s\S]*?\*\//g,
      (_, string: string | undefined) => string ?? '',
    )
    .replace(/,(\s*[}\]])/g, '$1');
}
