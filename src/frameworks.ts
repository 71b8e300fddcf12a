/**
 * The app objects of frameworks that have no request handler of their own to export: a Fastify
 * instance, a Koa app, a NestJS app and a Next.js server are recognised by their shape, once, when
 * the app is loaded. A worker starts the recognised app (Fastify's `ready()`, Nest's `init()`,
 * Next's `prepare()`), serves the node `(req, res)` handler the framework itself would give its
 * own server, and closes the app when it stops. Requests then go straight to that handler: nothing
 * of this module runs per request. docs/frameworks.md is the user's side of this.
 */

import { describeError, UnicornError } from './errors.js';

export type Framework = 'Fastify' | 'Koa' | 'NestJS' | 'Next.js';

export interface Recognised {
  readonly framework: Framework;
  /** How it is served, for the `worker.app_loaded` reason. */
  readonly how: string;
}

/** What a worker serves: the handler for the request pipeline, and how to close the app. */
export interface ServedApp {
  readonly handler: unknown;
  readonly framework: Framework | null;
  readonly close: (() => Promise<unknown>) | null;
}

type Fn = (...args: unknown[]) => unknown;
type Shape = Record<string, unknown>;

function has(app: Shape, ...methods: string[]): boolean {
  return methods.every((m) => typeof app[m] === 'function');
}

interface Adapter {
  readonly framework: Framework;
  readonly how: string;
  matches(app: Shape): boolean;
  start(app: Shape): Promise<ServedApp>;
}

const ADAPTERS: readonly Adapter[] = [
  {
    framework: 'Fastify',
    how: 'served through fastify.routing after ready()',
    // `routing` is the handler Fastify gives its own server (and a serverFactory).
    matches: (app) => has(app, 'routing', 'ready', 'close', 'register', 'addHook'),
    start: async (app) => {
      await step('Fastify', 'ready()', () => (app.ready as Fn).call(app));
      return {
        handler: app.routing,
        framework: 'Fastify',
        close: () => step('Fastify', 'close()', () => (app.close as Fn).call(app)),
      };
    },
  },
  {
    framework: 'Koa',
    how: 'served through app.callback()',
    matches: (app) => has(app, 'callback', 'use') && Array.isArray(app.middleware),
    start: async (app) => ({
      handler: await step('Koa', 'callback()', () => (app.callback as Fn).call(app)),
      framework: 'Koa',
      close: null,
    }),
  },
  {
    framework: 'NestJS',
    how: "served through its HTTP adapter's instance after init()",
    matches: (app) => has(app, 'getHttpAdapter', 'init', 'close', 'useGlobalPipes'),
    start: async (app) => {
      await step('NestJS', 'init()', () => (app.init as Fn).call(app));
      const adapter = (app.getHttpAdapter as Fn).call(app) as Shape;
      const instance = (adapter.getInstance as Fn).call(adapter);
      // The platform's own app (Express, or a Fastify instance, started like an exported one);
      // Nest's close() closes it.
      const inner = await serveApp(instance);
      return {
        handler: inner.handler,
        framework: 'NestJS',
        close: () => step('NestJS', 'close()', () => (app.close as Fn).call(app)),
      };
    },
  },
  {
    framework: 'Next.js',
    how: 'served through getRequestHandler() after prepare()',
    matches: (app) => has(app, 'prepare', 'getRequestHandler', 'close', 'render'),
    start: async (app) => {
      await step('Next.js', 'prepare()', () => (app.prepare as Fn).call(app));
      return {
        handler: (app.getRequestHandler as Fn).call(app),
        framework: 'Next.js',
        close: () => step('Next.js', 'close()', () => (app.close as Fn).call(app)),
      };
    },
  },
];

function adapterOf(app: unknown): Adapter | undefined {
  if (typeof app !== 'object' || app === null) return undefined;
  return ADAPTERS.find((a) => a.matches(app as Shape));
}

/** The framework an exported object belongs to, or null for a plain handler (or anything else). */
export function recogniseFramework(app: unknown): Recognised | null {
  const adapter = adapterOf(app);
  return adapter === undefined ? null : { framework: adapter.framework, how: adapter.how };
}

/** Starts a recognised app and returns its handler; anything else is served as it is. */
export async function serveApp(app: unknown): Promise<ServedApp> {
  const adapter = adapterOf(app);
  if (adapter === undefined) return { handler: app, framework: null, close: null };
  return adapter.start(app as Shape);
}

async function step<T>(framework: Framework, call: string, run: () => T): Promise<Awaited<T>> {
  try {
    return await run();
  } catch (err) {
    throw new UnicornError('UNICORN_APP_LIFECYCLE', `${framework} ${call} failed: ${describeError(err)}`, {
      cause: err,
    });
  }
}
