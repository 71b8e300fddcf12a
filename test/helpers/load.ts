/**
 * A bounded load loop for "nothing is dropped" tests: several clients on keep-alive connections and
 * several opening a new connection per request, hammering until stopped (or a hard cap of requests
 * and time), counting every failure with its reason.
 */
import http from 'node:http';
import { request } from './http.js';

export interface LoadResult {
  ok: number;
  failed: number;
  errors: string[];
  bodies: Map<string, number>;
}

export function startLoad(
  url: string,
  { keepAlive = 4, fresh = 2, path = '/', maxRequests = 200_000, maxMs = 120_000 } = {},
): { stop(): Promise<LoadResult>; result: LoadResult } {
  const result: LoadResult = { ok: 0, failed: 0, errors: [], bodies: new Map() };
  const agent = new http.Agent({ keepAlive: true, maxSockets: keepAlive });
  const deadline = Date.now() + maxMs;
  let running = true;
  const loop = async (useAgent: boolean) => {
    while (running && Date.now() < deadline && result.ok + result.failed < maxRequests) {
      try {
        const reply = await request(`${url}${path}`, { agent: useAgent ? agent : false, timeoutMs: 30_000 });
        if (reply.status === 200) {
          result.ok++;
          result.bodies.set(reply.body, (result.bodies.get(reply.body) ?? 0) + 1);
        } else {
          result.failed++;
          result.errors.push(`status ${reply.status}`);
        }
      } catch (err) {
        result.failed++;
        result.errors.push(String(err));
      }
    }
  };
  const loops = [
    ...Array.from({ length: keepAlive }, () => loop(true)),
    ...Array.from({ length: fresh }, () => loop(false)),
  ];
  return {
    result,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return result;
    },
  };
}
