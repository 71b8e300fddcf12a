// Mixed-workload load generator: closed loop over C keep-alive connections for D seconds where exactly
// one request in N (a global counter, not a coin toss) goes to /heavy (20 ms of CPU in the app) and the
// rest to /. Each request is timed on its own, so light and heavy latencies are reported separately:
// the question is how much a heavy request delays the light ones queued behind it. wrk cannot attribute a
// latency to a request type, hence this small client; at the ~1-2k req/s a 20 ms-per-20-requests workload
// reaches on this machine, a Node client on its own core is far from being the bottleneck.
//
// usage: node mixed.mjs PORT CONNECTIONS SECONDS HEAVY_EVERY  -> one JSON line on stdout

import http from 'node:http';

const [port, connections, seconds, every] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const light = [];
const heavy = [];
let issued = 0;
let errors = 0;

function get(path) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
      );
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

const start = performance.now();
const deadline = start + seconds * 1000;

async function loop() {
  while (performance.now() < deadline) {
    const isHeavy = issued++ % every === every - 1;
    const t0 = performance.now();
    try {
      await get(isHeavy ? '/heavy' : '/');
      (isHeavy ? heavy : light).push(performance.now() - t0);
    } catch {
      errors++;
    }
  }
}

function pct(values, p) {
  if (values.length === 0) return null;
  const v = Float64Array.from(values).sort();
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))];
}

await Promise.all(Array.from({ length: connections }, loop));
const elapsed = (performance.now() - start) / 1000;
agent.destroy();
const stats = (v) => ({ count: v.length, p50: pct(v, 50), p99: pct(v, 99), max: pct(v, 100) });
const out = { seconds: elapsed, rps: (light.length + heavy.length) / elapsed, errors };
console.log(JSON.stringify({ ...out, light: stats(light), heavy: stats(heavy) }));
