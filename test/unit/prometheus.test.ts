/**
 * The master's /metrics collection (src/master/prometheus.ts) with stand-in worker handles: what a
 * scrape asks of the workers. Over real sockets and workers, test/integration/metrics.test.ts.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PrometheusMetrics } from '../../src/master/prometheus.js';
import type { MasterView } from '../../src/master/telemetry.js';
import type { WorkerHandle } from '../../src/master/worker-handle.js';

/** A ready worker that records the pulls it is sent and answers each when told to. */
function fakeWorker(age: number) {
  const pulls: number[] = [];
  const handle = {
    age,
    state: 'ready',
    isSpare: false,
    inflight: 0,
    rss: 0,
    cluster: { isConnected: () => true },
    send: (message: { act: string; id: number }) => {
      if (message.act === 'metrics-pull') pulls.push(message.id);
    },
  };
  return { handle: handle as unknown as WorkerHandle, pulls };
}

function metricsOf(workers: WorkerHandle[]): PrometheusMetrics {
  const view: MasterView = {
    stopping: false,
    lastTurnAt: Date.now(),
    target: workers.length,
    workers: () => workers,
  };
  return new PrometheusMetrics([0.1, 1], view, new Map());
}

describe('/metrics: scrapes that come together', () => {
  test('share one pull of the workers: each worker is asked once, and every scrape gets the same text', async () => {
    const a = fakeWorker(1);
    const b = fakeWorker(2);
    const metrics = metricsOf([a.handle, b.handle]);
    const scrapes = Array.from({ length: 20 }, () => metrics.scrape());
    assert.equal(a.pulls.length, 1);
    assert.equal(b.pulls.length, 1);
    metrics.pulled(a.handle, a.pulls[0]!, []);
    metrics.pulled(b.handle, b.pulls[0]!, []);
    const texts = await Promise.all(scrapes);
    assert.equal(new Set(texts).size, 1);
    assert.match(texts[0]!, /^# HELP unicorn_/m);
  });

  test('a scrape after the last one finished asks the workers again', async () => {
    const a = fakeWorker(1);
    const metrics = metricsOf([a.handle]);
    const first = metrics.scrape();
    metrics.pulled(a.handle, a.pulls[0]!, []);
    await first;
    const second = metrics.scrape();
    assert.equal(a.pulls.length, 2);
    assert.notEqual(a.pulls[1], a.pulls[0]);
    metrics.pulled(a.handle, a.pulls[1]!, []);
    await second;
  });
});
