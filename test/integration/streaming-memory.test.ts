import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { streamDownload, streamUpload } from '../helpers/http.js';
import { fixture, startServer, stopAll } from '../helpers/server.js';

after(stopAll);

const MiB = 1024 * 1024;
const SIZE_MIB = 512;
/**
 * A body held in memory would grow the worker by at least SIZE_MIB. A streamed one grows it only by
 * the garbage the young generation holds before a scavenge: about 30 MiB on Node 20, about 110 MiB
 * on Node 24, whose V8 sizes the young generation larger. The bound sits between the two cases.
 */
const BOUND_MIB = 192;

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

/** Samples a worker's RSS every 20 ms while `work` runs; resolves with the peak. */
async function peakDuring(pid: number, work: () => Promise<void>): Promise<number> {
  let peak = rssMiB(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMiB(pid));
  }, 20);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, rssMiB(pid));
}

describe('bodies stream through with backpressure: a large body never sits in memory', () => {
  for (const iface of ['fetch', 'node'] as const) {
    test(`${iface} interface: ${SIZE_MIB} MiB up and ${SIZE_MIB} MiB down, worker RSS grows by far less`, async () => {
      const app = iface === 'fetch' ? fixture('stream.mjs') : fixture('node-stream.mjs');
      const server = await startServer([app, '-w', '1']);
      const pid = server.liveWorkerPids()[0]!;
      const before = rssMiB(pid);
      const peak = await peakDuring(pid, async () => {
        const uploaded = (await streamUpload(`${server.url}/upload`, SIZE_MIB, MiB)).body;
        assert.match(uploaded, new RegExp(String(SIZE_MIB * MiB)));
        const downloaded = await streamDownload(`${server.url}/download?mb=${SIZE_MIB}`);
        assert.equal(downloaded, SIZE_MIB * MiB);
      });
      assert.ok(
        peak - before < BOUND_MIB,
        `worker RSS grew by ${(peak - before).toFixed(0)} MiB moving ${SIZE_MIB} MiB each way`,
      );
    });
  }
});
