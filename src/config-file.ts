/**
 * Finding and reading the config file. A config file is a module that exports settings (by their
 * names in settings.ts) and server hooks, either as a default-exported object or as named exports.
 */

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describeError, isUnicornError, UnicornError } from './errors.js';
import { importFile } from './typescript.js';

export const CONFIG_FILE_NAMES = [
  'unicorn.config.ts',
  'unicorn.config.mts',
  'unicorn.config.mjs',
  'unicorn.config.js',
  'unicorn.config.cjs',
] as const;

/**
 * The config file to use: the one named, or the one default name present in `dir`, or none. Two
 * default names present is an error, not a choice: loading one would silently ignore the other,
 * whose settings the user may believe are in force (a stale compiled .js beside its .ts source).
 */
export function findConfigFile(named: string | null, dir: string): string | null {
  if (named !== null) {
    const file = resolve(dir, named);
    if (!existsSync(file)) {
      throw new UnicornError('UNICORN_CONFIG_FILE_LOAD', `config file not found: ${file}`);
    }
    return file;
  }
  const found = CONFIG_FILE_NAMES.map((name) => resolve(dir, name)).filter((file) => existsSync(file));
  if (found.length > 1) {
    throw new UnicornError(
      'UNICORN_CONFIG_FILE_AMBIGUOUS',
      `more than one config file in ${dir}: ${found.join(' and ')}; pass -c FILE to say which one to load`,
    );
  }
  return found[0] ?? null;
}

export async function loadConfigFile(file: string, { fresh = false } = {}): Promise<Record<string, unknown>> {
  let mod: Record<string, unknown>;
  try {
    mod = await importFile(file, { fresh });
  } catch (err) {
    // Already says what is wrong and what to install.
    if (isUnicornError(err) && err.code === 'UNICORN_TSX_REQUIRED') throw err;
    throw new UnicornError(
      'UNICORN_CONFIG_FILE_LOAD',
      `cannot load config file ${file}: ${describeError(err)}`,
      {
        cause: err,
      },
    );
  }
  const fromDefault = mod.default;
  if (fromDefault !== undefined) {
    if (typeof fromDefault !== 'object' || fromDefault === null || Array.isArray(fromDefault)) {
      throw new UnicornError(
        'UNICORN_CONFIG_FILE_SHAPE',
        `config file ${file}: the default export must be an object of settings`,
      );
    }
    // A CommonJS module.exports object arrives as the default export, with its keys mirrored as
    // named exports; an ES module may export hooks by name beside its default: take both.
    return { ...namedExports(mod), ...(fromDefault as Record<string, unknown>) };
  }
  return namedExports(mod);
}

function namedExports(mod: Record<string, unknown>): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(mod)) {
    if (key !== 'default' && key !== '__esModule') values[key] = value;
  }
  return values;
}
