/**
 * The public API of unicorn-ts: types for apps and config files, `defineConfig`, and `run()`, which
 * starts a server from a program (src/run.ts). Importing it starts nothing.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UpgradeHandler } from './app-module.js';
import { drainingSignal } from './draining.js';
import type { FetchApp, FetchHandler } from './http/fetch-adapter.js';
import type { RequestInfo as UnicornRequestInfo } from './http/request-info.js';
import type { UnicornWebSocket, UpgradeWebSocketOptions, WebSocketUpgrade } from './http/websocket.js';
import type { Logger } from './log.js';
import type { ServerApi } from './master/arbiter.js';
import type { RunHandle } from './run.js';
import type { HookName, Settings } from './settings.js';

export { whenDraining } from './draining.js';
export { ERRORS, type ErrorCode, UnicornError } from './errors.js';
export { LOG_EVENTS, type LogEvent } from './log-events.js';
export type {
  FetchApp,
  FetchHandler,
  Logger,
  RunHandle,
  ServerApi,
  UnicornRequestInfo,
  UnicornWebSocket,
  UpgradeHandler,
  UpgradeWebSocketOptions,
  WebSocketUpgrade,
};

/**
 * Aborts when the worker this code runs in begins a graceful stop (a reload, TERM, recycling, an
 * uncaught error, the master gone): the signal every request sees as `info.draining`, for code
 * outside a request (a broadcast hub, a background job). Outside a worker it never aborts.
 */
export const draining: AbortSignal = drainingSignal();

/**
 * @deprecated Use `UnicornRequestInfo`. Without an import, `RequestInfo` is the DOM's global type
 * (`Request | string`), so code that forgets the import still compiles against the wrong type.
 */
export type RequestInfo = UnicornRequestInfo;

/**
 * A node-interface app: Express, Connect, Koa's callback(), or a plain (req, res) function. The
 * server sets `req.unicorn` before it calls the app, so it is never missing.
 */
export type NodeHandler = (
  req: IncomingMessage & { unicorn: UnicornRequestInfo },
  res: ServerResponse,
) => unknown;

/** What worker-side hooks receive as `worker`. */
export interface WorkerApi {
  readonly pid: number;
  /** node:cluster's worker id. */
  readonly id: number;
  /** 1, 2, 3... in spawn order over the master's life. */
  readonly age: number;
  readonly log: Logger;
}

/** What master-side hooks receive about a worker. */
export interface WorkerInfo {
  readonly pid: number;
  readonly age: number;
  readonly state: string;
}

/** Server hooks, by where they run; see docs/hooks.md. */
export interface ServerHooks {
  onStarting?(server: ServerApi): unknown;
  onReload?(server: ServerApi): unknown;
  whenReady?(server: ServerApi): unknown;
  preFork?(server: ServerApi, worker: { age: number }): unknown;
  postFork?(server: ServerApi, worker: WorkerInfo): unknown;
  postWorkerInit?(worker: WorkerApi): unknown;
  workerInt?(worker: WorkerApi): unknown;
  workerAbort?(worker: WorkerApi): unknown;
  preRequest?(worker: WorkerApi, req: IncomingMessage): unknown;
  postRequest?(worker: WorkerApi, req: IncomingMessage, res: ServerResponse): unknown;
  childExit?(server: ServerApi, worker: WorkerInfo): unknown;
  workerExit?(worker: WorkerApi): unknown;
  nworkersChanged?(server: ServerApi, newCount: number, oldCount: number): unknown;
  onExit?(server: ServerApi): unknown;
}

type SettingValues = Omit<Settings, HookName>;

/** A config file's default export: any settings by name, and hooks. */
export type UnicornConfig = {
  -readonly [K in keyof SettingValues]?: K extends 'workers' ? number | 'auto' : SettingValues[K];
} & ServerHooks;

/** Type-checks a config object; returns it unchanged. */
export function defineConfig(config: UnicornConfig): UnicornConfig {
  return config;
}

// Compile-time check: ServerHooks names exactly the hooks in the settings table.
type _HooksAgree = [HookName] extends [keyof ServerHooks]
  ? [keyof ServerHooks] extends [HookName]
    ? true
    : never
  : never;
const _hooksAgree: _HooksAgree = true;
void _hooksAgree;

/** Any app run() takes: an APP_MODULE string (`'app.js:handler'`), or the handler itself. */
export type RunApp = string | FetchHandler | FetchApp | NodeHandler;

/** run()'s options: the app, and settings and hooks by name, as in a config file. */
export type RunOptions = UnicornConfig & { app: RunApp };

/**
 * Starts the master in this process, as the `unicorn-ts` command does, and resolves once its first
 * workers are ready. See "Programmatic API" in docs/contract.md.
 */
export async function run(options: RunOptions): Promise<RunHandle> {
  // Loaded on first use: an app that imports this package for its types or `draining` does not load
  // the master.
  const { startRun } = await import('./run.js');
  return startRun(options as unknown as Readonly<Record<string, unknown>>);
}
