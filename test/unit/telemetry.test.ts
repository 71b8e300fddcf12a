import assert from 'node:assert/strict';
import type { Worker as ClusterWorker } from 'node:cluster';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { bindsOverlap, parseBind } from '../../src/bind.js';
import { resolveConfig } from '../../src/config.js';
import { isUnicornError } from '../../src/errors.js';
import { restartReason } from '../../src/master/telemetry.js';
import { WorkerHandle } from '../../src/master/worker-handle.js';
import { COUNT_SLOTS, countSlot, slotLabels } from '../../src/request-metrics.js';
import { loadHotShots } from '../../src/statsd.js';
import { RequestCounts } from '../../workers/metrics.js';

function handle(): { w: WorkerHandle; sent: NodeJS.Signals[] } {
  const sent: NodeJS.Signals[] = [];
  const cluster = {
    process: { pid: 1001 },
    isConnected: () => false,
    send: () => true,
  } as unknown as ClusterWorker;
  const w = new WorkerHandle(cluster, 1, 0, false, (_pid, sig) => sent.push(sig));
  w.markReady(0);
  return { w, sent };
}

describe('request counting slots', () => {
  test('methods and status classes map to their labels, unknown methods to OTHER', () => {
    assert.deepEqual(slotLabels(countSlot('GET', 200)), { method: 'GET', status: '2xx' });
    assert.deepEqual(slotLabels(countSlot('DELETE', 503)), { method: 'DELETE', status: '5xx' });
    assert.deepEqual(slotLabels(countSlot('PROPFIND', 207)), { method: 'OTHER', status: '2xx' });
    assert.deepEqual(slotLabels(countSlot(undefined, 404)), { method: 'OTHER', status: '4xx' });
    assert.deepEqual(slotLabels(countSlot('GET', 101)), { method: 'GET', status: '1xx' });
    assert.deepEqual(slotLabels(countSlot('GET', 0)), { method: 'GET', status: 'closed' });
    assert.deepEqual(slotLabels(countSlot('GET', 599)), { method: 'GET', status: '5xx' });
    assert.equal(countSlot('OTHER', 599), COUNT_SLOTS - 1);
  });

  test('a worker counts totals and latency buckets (le is inclusive); refused requests are not timed', () => {
    const counts = new RequestCounts([0.1, 1]);
    const req = (method: string) => ({ method }) as IncomingMessage;
    counts.record(req('GET'), 200, 0.1);
    counts.record(req('GET'), 200, 0.5);
    counts.record(req('POST'), 500, 3);
    counts.record(req('GET'), 414, null);
    counts.shed();
    const report = counts.report(7);
    assert.equal(report.counts[countSlot('GET', 200)], 2);
    assert.equal(report.counts[countSlot('POST', 500)], 1);
    assert.equal(report.counts[countSlot('GET', 414)], 1);
    assert.deepEqual(report.buckets, [1, 1, 1]);
    assert.equal(report.seconds, 3.6);
    assert.equal(report.shed, 1);
    assert.equal(report.connections, 7);
    counts.record(req('GET'), 200, 0.01);
    assert.equal(report.buckets[0], 1, 'a report is a copy, not a view');
  });
});

describe('restart reasons', () => {
  test('an exit the master did not ask for is a crash; a boot timeout a timeout', () => {
    const { w } = handle();
    assert.equal(restartReason(w, false, false), 'crash');
    assert.equal(
      restartReason(
        { reason: 'boot-timeout', stopReason: 'boot-timeout', signaledFromOutside: null },
        false,
        false,
      ),
      'timeout',
    );
  });

  test('retirements count by their reason, and a kill after the grace keeps it', () => {
    for (const [why, reason] of [
      ['reload', 'reload'],
      ['max-requests', 'max-requests'],
      ['max-memory', 'memory'],
      ['uncaught exception', 'crash'],
    ] as const) {
      const { w } = handle();
      w.retire(why);
      w.stop(why, 0, 1000);
      assert.ok(w.killDue(1000));
      w.kill();
      assert.equal(w.reason, 'graceful-timeout', 'the exit hint still names the kill');
      assert.equal(restartReason(w, true, false), reason);
    }
    const { w } = handle();
    w.abort(0, 1000);
    assert.equal(restartReason(w, true, false), 'timeout');
  });

  test('a stop signal sent to the worker from outside the master is a signal restart, not a crash', () => {
    const { w } = handle();
    w.markReady(0);
    assert.equal(w.stoppingOnSignal('SIGTERM', 0, 1000), true);
    assert.equal(restartReason(w, true, false), 'signal');
  });

  test('stops that replace nothing are not restarts', () => {
    for (const why of ['worker count reduced', 'standby no longer needed', 'reload rolled back']) {
      const { w } = handle();
      w.stop(why, 0, 1000);
      assert.equal(restartReason(w, true, false), null, why);
    }
    const { w } = handle();
    assert.equal(restartReason(w, false, true), null, 'the master is stopping');
  });
});

describe('--metrics-bind', () => {
  test('overlaps an app bind on the same port of the same or a wildcard host, or the same unix path', () => {
    const overlap = (a: string, b: string) => bindsOverlap(parseBind(a), parseBind(b));
    assert.ok(overlap('127.0.0.1:9000', '127.0.0.1:9000'));
    assert.ok(overlap('0.0.0.0:9000', '127.0.0.1:9000'));
    assert.ok(overlap('127.0.0.1:9000', '[::]:9000'));
    assert.ok(overlap('unix:/tmp/a.sock', 'unix:/tmp/a.sock'));
    assert.ok(!overlap('127.0.0.1:9000', '127.0.0.1:9001'));
    assert.ok(!overlap('127.0.0.1:9000', '127.0.0.2:9000'));
    assert.ok(!overlap('127.0.0.1:0', '127.0.0.1:0'), 'port 0 is a new port each time');
    assert.ok(!overlap('unix:/tmp/a.sock', '127.0.0.1:9000'));
  });

  test('the configuration refuses a clash and an inherited descriptor, and parses buckets', () => {
    const resolve = (values: Record<string, unknown>) =>
      resolveConfig([{ source: 'command line', origin: 'the command line', values }], {});
    assert.throws(
      () => resolve({ bind: ['0.0.0.0:9000'], metricsBind: '127.0.0.1:9000' }),
      /--metrics-bind 127\.0\.0\.1:9000 is the app's --bind 0\.0\.0\.0:9000/,
    );
    assert.throws(() => resolve({ metricsBind: 'fd://3' }), /invalid value for metricsBind/);
    assert.equal(resolve({ metricsBind: '127.0.0.1:9100' }).settings.metricsBind, '127.0.0.1:9100');
    assert.deepEqual(resolve({ metricsBuckets: '0.01, 0.1,1' }).settings.metricsBuckets, [0.01, 0.1, 1]);
    assert.deepEqual(resolve({ metricsBuckets: [0.5, 2] }).settings.metricsBuckets, [0.5, 2]);
    for (const bad of ['1,0.5', '0,1', 'a', '']) {
      assert.throws(() => resolve({ metricsBuckets: bad }), /invalid value for metricsBuckets/, bad);
    }
  });
});

describe('--statsd-host', () => {
  test('takes HOST:PORT, and the prefix ends in a dot', () => {
    const resolve = (values: Record<string, unknown>) =>
      resolveConfig([{ source: 'command line', origin: 'the command line', values }], {}).settings;
    assert.equal(resolve({ statsdHost: 'localhost:8125' }).statsdHost, 'localhost:8125');
    assert.equal(resolve({ statsdHost: '[::1]:8125' }).statsdHost, '[::1]:8125');
    assert.throws(() => resolve({ statsdHost: 'localhost' }), /expected HOST:PORT/);
    assert.throws(() => resolve({ statsdHost: 'localhost:70000' }), /expected HOST:PORT/);
    assert.equal(resolve({ statsdPrefix: 'shop' }).statsdPrefix, 'shop.');
    assert.equal(resolve({ statsdPrefix: 'shop.' }).statsdPrefix, 'shop.');
  });

  test('a missing hot-shots is UNICORN_STATSD_REQUIRED, naming what to install', async () => {
    await assert.rejects(loadHotShots(process.cwd(), 'hot-shots-not-installed'), (err: unknown) => {
      assert.ok(isUnicornError(err));
      assert.equal(err.code, 'UNICORN_STATSD_REQUIRED');
      assert.match(err.message, /needs hot-shots-not-installed, which is not installed/);
      assert.match(err.hint, /npm install hot-shots/);
      return true;
    });
  });

  test('the installed hot-shots is found', async () => {
    assert.equal(typeof (await loadHotShots(process.cwd())), 'function');
  });
});
