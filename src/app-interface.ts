/**
 * Which interface an app speaks. `--interface auto` decides from the shape of the export, and the
 * decision and its reason are logged at boot. Where the shape is ambiguous, a wrong guess shows up as
 * an error that names the flag to pass (see the adapters in src/http/).
 */

import { recogniseFramework } from './frameworks.js';

export type AppInterface = 'fetch' | 'node';

export interface InterfaceChoice {
  readonly interface: AppInterface;
  readonly reason: string;
}

const NODE_SECOND_PARAMS = /^(res|response|resp|reply|out|rs)$/i;
const FETCH_SECOND_PARAMS = /^(info|ctx|context|env|c|conn|connInfo|server|meta)$/i;

export function chooseInterface(app: unknown, setting: 'auto' | AppInterface): InterfaceChoice {
  if (setting !== 'auto') return { interface: setting, reason: `--interface ${setting}` };
  // Their handlers are node handlers (src/frameworks.ts), whatever else the object carries.
  const framework = recogniseFramework(app);
  if (framework !== null) {
    return { interface: 'node', reason: `the app is a ${framework.framework} app, ${framework.how}` };
  }
  if (typeof app === 'object' && app !== null && typeof (app as { fetch?: unknown }).fetch === 'function') {
    return { interface: 'fetch', reason: 'the app is an object with a fetch() method' };
  }
  if (typeof app !== 'function') return { interface: 'fetch', reason: 'the app is not a function' };
  const fn = app as ((...args: unknown[]) => unknown) & Record<string, unknown>;
  // Express and Connect apps are functions that also carry use()/handle().
  if (typeof fn.handle === 'function' && typeof fn.use === 'function') {
    return {
      interface: 'node',
      reason: 'the app looks like an Express/Connect app (has use() and handle())',
    };
  }
  if (fn.length >= 3) return { interface: 'node', reason: 'the handler takes (req, res, next)' };
  if (fn.length <= 1)
    return { interface: 'fetch', reason: `the handler takes ${fn.length} argument(s): (request)` };
  const second = secondParameterName(fn);
  if (second !== null && FETCH_SECOND_PARAMS.test(second)) {
    return { interface: 'fetch', reason: `the handler's second parameter is named "${second}"` };
  }
  if (second !== null && NODE_SECOND_PARAMS.test(second)) {
    return { interface: 'node', reason: `the handler's second parameter is named "${second}"` };
  }
  return { interface: 'node', reason: 'the handler takes two arguments; assuming (req, res)' };
}

/** The name of a function's second parameter, read from its source, or null when it cannot be read. */
function secondParameterName(fn: (...args: unknown[]) => unknown): string | null {
  const source = Function.prototype.toString
    .call(fn)
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/[^\n]*/g, '');
  const open = source.indexOf('(');
  if (open === -1) return null;
  // Walk the parameter list, skipping destructuring patterns and defaults, to the first top-level comma.
  let depth = 0;
  for (let i = open + 1; i < source.length; i++) {
    const c = source[i];
    if (c === '(' || c === '{' || c === '[') depth++;
    else if (c === ')' || c === '}' || c === ']') {
      if (depth === 0) return null;
      depth--;
    } else if (c === ',' && depth === 0) {
      return /^\s*([A-Za-z_$][\w$]*)/.exec(source.slice(i + 1))?.[1] ?? null;
    }
  }
  return null;
}
