/**
 * What docs/contract.md (section 7) and docs/troubleshooting.md say about a request the async worker
 * sheds with a 503: it is in the access log like any response, and the error log has a
 * `request.shed` line at most once a second per worker, whose `shed` field counts the 503s so far.
 */

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { fixture, startServer, stopAll } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

after(stopAll);

describe('a request shed at --worker-connections', () => {
  test('is in the access log, and counted in request.shed lines at most a second apart', async () => {
    const server = await startServer([
      fixture('node-pid.mjs'),
      '--worker-connections',
      '1',
      '--access-logfile',
      '-',
      '--access-logformat',
      '%(U)s %(s)s',
    ]);
    // Holds the worker's one place for 5 s; app.burning says it has been admitted.
    const held = request(`${server.url}/held?burn=1&ms=5000`);
    await server.waitForEvent('app.burning');
    const shed = await Promise.all(Array.from({ length: 6 }, (_, i) => request(`${server.url}/shed${i}`)));
    assert.deepEqual(
      shed.map((r) => r.status),
      [503, 503, 503, 503, 503, 503],
    );
    assert.equal((await held).status, 200);

    const lines = await waitFor('every response in the access log', () => {
      const got = server.stdout.trim().split('\n');
      return got.length >= 7 ? got : undefined;
    });
    assert.deepEqual(
      lines.filter((l) => l.endsWith(' 503')).sort(),
      [0, 1, 2, 3, 4, 5].map((i) => `/shed${i} 503`),
    );
    assert.ok(lines.includes('/held 200'), lines.join('\n'));

    const logged = server.events('request.shed');
    assert.ok(logged.length >= 1, 'no request.shed line');
    assert.equal(logged[0]!.level, 'warn');
    assert.ok(logged.length < 6, `${logged.length} request.shed lines for 6 shed requests`);
    const counts = logged.map((l) => l.shed as number);
    assert.ok(
      counts.every((n, i) => n >= 1 && n <= 6 && (i === 0 || n > counts[i - 1]!)),
      `shed counts ${counts.join(', ')}`,
    );
    const times = logged.map((l) => Date.parse(String(l.time)));
    for (let i = 1; i < times.length; i++) {
      assert.ok(
        times[i]! - times[i - 1]! >= 1000,
        `request.shed lines ${times[i]! - times[i - 1]!} ms apart`,
      );
    }
  });
});
