// Renders a results JSON: plain-text tables for the terminal, docs/benchmarks.md and the SVG charts.
// Nothing here measures; every figure comes from summary.mjs so the docs can be regenerated from a file.

import { dimensions, evaluateGoals, fmtRps, lifecycleSummary, tableSummary } from './summary.mjs';
import { getTarget, TARGET_KEYS as TARGET_ORDER } from './targets.mjs';
import { LIFECYCLE, WORKLOADS } from './workloads.mjs';

const WORKLOAD_ORDER = Object.keys(WORKLOADS);
const THROUGHPUT = ['keepalive', 'close', 'nginx-default', 'nginx-keepalive'];

const label = (key) => {
  try {
    return getTarget(key).label;
  } catch {
    return key;
  }
};
const f1 = (v) => (Number.isFinite(v) ? v.toFixed(1) : '-');
const ms = (v) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v.toFixed(1)) : '-');
const range = (s, fmt) => (s && Number.isFinite(s.min) ? `${fmt(s.min)}–${fmt(s.max)}` : '-');
const x = (v) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '-');

/** A table as { title, headers, rows: string[][], note } - rendered as text or as markdown. */
function throughputTable(results, workers, workload) {
  const t = tableSummary(results, workers, workload);
  const ref = t.refKey ? `${label(t.refKey)} = 1.00×` : 'no reference measured';
  const order = [...t.rows.values()].sort((a, b) => (b.rps?.median ?? -1) - (a.rps?.median ?? -1));
  if (workload === 'mixed') {
    return {
      title: `${WORKLOADS[workload].label}, -w ${workers}`,
      note: `Light-request p99 relative to ${ref} (lower is better).`,
      headers: [
        'target',
        'light p99 ms',
        'min–max',
        '×ref',
        'light p50 ms',
        'heavy p99 ms',
        'req/s',
        'errors',
      ],
      rows: [...t.rows.values()]
        .sort((a, b) => (a.p99?.median ?? 1e9) - (b.p99?.median ?? 1e9))
        .map((r) =>
          r.ok
            ? [label(r.target), ms(r.p99.median), range(r.p99, ms), x(r.ratio), ms(r.p50.median)].concat([
                ms(r.heavyP99.median),
                fmtRps(r.rps.median),
                String(r.errors),
              ])
            : [label(r.target), `n/a: ${r.reason}`, '', '', '', '', '', ''],
        ),
    };
  }
  if (workload === 'upload' || workload === 'download') {
    return {
      title: `${WORKLOADS[workload].label} of ${fmtBytes(results.meta.options.streamBytes)}, -w ${workers}`,
      note: 'Worker RSS growth: peak during the transfer minus just before it, largest over the workers.',
      headers: ['target', 'RSS growth MiB', 'min–max', 'MiB/s'],
      rows: [...t.rows.values()].map((r) =>
        r.ok
          ? [label(r.target), f1(r.rssGrowthMiB.median), range(r.rssGrowthMiB, f1), f1(r.mibPerSecond.median)]
          : [label(r.target), `n/a: ${r.reason}`, '', ''],
      ),
    };
  }
  const messages = workload === 'ws-echo';
  return {
    title: `${WORKLOADS[workload].label}, -w ${workers}`,
    note: `${messages ? 'Echoed messages/s (each a round trip on one of 1,000 open WebSockets; p50/p99 are round-trip times)' : 'Requests/s'} relative to ${ref} (higher is better); median of ${results.meta.options.repeat} run(s).`,
    headers: [
      'target',
      messages ? 'msg/s' : 'req/s',
      'min–max',
      '×ref',
      'p50 ms',
      'p99 ms',
      'CPU µs/req',
      'errors',
    ],
    rows: order.map((r) =>
      r.ok
        ? [label(r.target), fmtRps(r.rps.median), range(r.rps, fmtRps), x(r.ratio), ms(r.p50.median)].concat([
            ms(r.p99.median),
            // Server CPU (master and workers) per request (per message for ws-echo); results from before it was recorded have none.
            r.cpuUsPerReq?.n ? r.cpuUsPerReq.median.toFixed(0) : '–',
            String(r.errors),
          ])
        : [label(r.target), `n/a: ${r.reason}`, '', '', '', '', '', ''],
    ),
  };
}

function fmtBytes(n) {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(n % 2 ** 30 ? 2 : 0)} GiB`;
  return `${(n / 2 ** 20).toFixed(0)} MiB`;
}

function lifecycleTables(results) {
  const lc = results.lifecycle ?? {};
  const tables = [];
  const naRow = (s, n) => [label(s.target), `n/a: ${s.reason}`, ...Array(n).fill('')];
  if (lc.launch) {
    const s = lifecycleSummary(lc.launch, 'ms');
    const hand = ['cluster-rr', 'cluster-shared'].map((k) => s.get(k)).filter((r) => r?.ok);
    const ref = hand.sort((a, b) => a.median - b.median)[0];
    tables.push({
      title: LIFECYCLE.launch,
      note: ref
        ? `Relative to ${label(ref.target)} = 1.00× (lower is better).`
        : 'No hand-written reference.',
      headers: ['target', 'ms', 'min–max', '×ref'],
      rows: [...s.values()].map((r) =>
        r.ok
          ? [label(r.target), f1(r.median), range(r, f1), x(ref ? r.median / ref.median : null)]
          : naRow(r, 3),
      ),
    });
  }
  if (lc.respawn) {
    const s = lifecycleSummary(lc.respawn, 'ms');
    tables.push({
      title: `${LIFECYCLE.respawn}, -w 2`,
      note: 'Polled with fresh connections to /pid until a pid not seen before answers.',
      headers: ['target', 'ms', 'min–max', 'worker.ready event ms'],
      rows: [...s.values()].map((r) => {
        if (!r.ok) return naRow(r, 3);
        const ev = r.extra.map((e) => e.readyEventMs).filter(Number.isFinite);
        return [label(r.target), f1(r.median), range(r, f1), ev.length ? f1(median(ev)) : '-'];
      }),
    });
  }
  if (lc.reload) {
    const s = lifecycleSummary(lc.reload, 'ms');
    tables.push({
      title: LIFECYCLE.reload,
      note: 'SIGHUP to the master until its `reload.done` event; requests polled meanwhile on fresh connections.',
      headers: ['target', 'ms', 'min–max', 'failed requests', 'old workers left'],
      rows: [...s.values()].map((r) =>
        r.ok
          ? [label(r.target), f1(r.median), range(r, f1)].concat([
              String(r.extra.reduce((a, e) => a + e.errors, 0)),
              String(Math.max(...r.extra.map((e) => e.workersKept))),
            ])
          : naRow(r, 4),
      ),
    });
  }
  if (lc['idle-rss']) {
    const m = lifecycleSummary(lc['idle-rss'], 'masterMiB');
    const w = lifecycleSummary(lc['idle-rss'], 'workerMiB');
    const bare = w.get('bare-http');
    tables.push({
      title: `${LIFECYCLE['idle-rss']}, -w 2`,
      note: 'After boot, 200 requests and 1 s idle. Worker = the largest worker. bare node:http is one process.',
      headers: ['target', 'master MiB', 'worker MiB', 'worker ×bare node:http'],
      rows: [...w.values()].map((r) =>
        r.ok
          ? [label(r.target), f1(m.get(r.target)?.median), f1(r.median)].concat([
              x(bare?.ok ? r.median / bare.median : null),
            ])
          : naRow(r, 3),
      ),
    });
  }
  return tables;
}

function median(v) {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function allTables(results) {
  const { workers, workloads } = dimensions(results, WORKLOAD_ORDER);
  const tables = [];
  for (const workload of workloads)
    for (const w of workers) tables.push(throughputTable(results, w, workload));
  return [...tables, ...lifecycleTables(results)];
}

// ---- text --------------------------------------------------------------------------------------

function textTable(t) {
  const widths = t.headers.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells) =>
    cells
      .map((c, i) => (i === 0 ? (c ?? '').padEnd(widths[i]) : (c ?? '').padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [`== ${t.title}`, `   ${t.note}`, line(t.headers), ...t.rows.map(line)].join('\n');
}

export function renderText(results) {
  const parts = allTables(results).map(textTable);
  const goals = evaluateGoals(results);
  const gw = Math.max(...goals.map((g) => g.text.length));
  parts.push(
    [
      '== issue targets (-w 2)',
      ...goals.map((g) => `${g.text.padEnd(gw)}  ${g.status.padEnd(6)}  ${g.display ?? g.reason ?? ''}`),
    ].join('\n'),
  );
  return parts.join('\n\n');
}

// ---- markdown ------------------------------------------------------------------------------------

const mdEscape = (s) => String(s).replaceAll('|', '\\|').replaceAll('\n', ' ');

function mdTable(t) {
  const right = t.headers.map((_, i) => (i === 0 ? '---' : '---:'));
  return [
    `#### ${t.title}`,
    '',
    t.note,
    '',
    `| ${t.headers.map(mdEscape).join(' | ')} |`,
    `| ${right.join(' | ')} |`,
    ...t.rows.map((r) => `| ${r.map(mdEscape).join(' | ')} |`),
  ].join('\n');
}

function methodSection(results) {
  const o = results.meta.options;
  const split = results.meta.cpuSplit;
  return [
    '## How it was measured',
    '',
    `- **CPU split.** ${split.description}`,
    `- **Load generator.** \`wrk -t 1 -c ${o.connections} -d ${o.duration}s --latency\` with a Lua \`done()\` hook ` +
      'that prints the exact counts and percentiles as JSON. Connection per request adds ' +
      "`-H 'Connection: close'`. Each target gets a " +
      `${o.warmup} s keep-alive warm-up after it starts.`,
    `- **Repeats.** ${o.repeat} run(s) per target and workload, targets interleaved (A B C, then C B A, ...). ` +
      'Tables show the median and the min–max spread.',
    '- **References.** Ratios compare figures of the same run: throughput with the better of the two ' +
      'hand-written `node:cluster` servers (round-robin or shared socket, named under each table), mixed ' +
      'latency with the shared-socket cluster, launch time with the faster hand-written cluster, idle RSS ' +
      'with the bare `node:http` process.',
    '- **Same app everywhere.** 13-byte `Hello, World!` as `text/plain` (bench/apps): one node-interface ' +
      'handler shared by unicorn-ts `--interface node`, both cluster servers, bare node:http and PM2; a fetch ' +
      'version for `--interface fetch`; ASGI and WSGI versions for uvicorn and Gunicorn.',
    '- **All targets up at once.** Every target of a worker count is started before the first run and ' +
      'stopped after the last, so runs can be interleaved; idle, the others use a few percent of the ' +
      'server CPU between them (timers, heartbeats), the same background for every target.',
    '- **Behind nginx.** One nginx (1 worker, on the server CPUs) in front of every target: the default ' +
      'upstream settings (`proxy_pass` only: HTTP/1.0, a new upstream connection per request) and ' +
      'upstream keep-alive (`keepalive 64`, `proxy_http_version 1.1`, `proxy_set_header Connection ""`). ' +
      'wrk keeps its connections to nginx alive in both.',
    '- **Mixed workload.** bench/clients/mixed.mjs (not wrk: wrk cannot attribute latency to a request ' +
      `type): ${o.connections} keep-alive connections in a closed loop for ${o.duration} s, exactly every 20th ` +
      'request goes to `/heavy` (a 20 ms busy loop in the app), the others to `/`. Reported: p50/p99 of the ' +
      'light requests only.',
    `- **Streaming.** ${o.streamRepeat ?? o.repeat} transfer(s) each way per target. ` +
      `bench/clients/stream.mjs uploads ${fmtBytes(o.streamBytes)} to \`/upload\` (the app ` +
      `discards it) and downloads ${fmtBytes(o.streamBytes)} from \`/download\` (the app generates it in ` +
      '64 KiB chunks), with back-pressure on both sides; VmRSS of every worker is sampled from /proc every ' +
      '20 ms. Growth = peak minus the value just before the transfer.',
    '- **Lifecycle.** Launch: spawn to first HTTP 200, polled every 2 ms, `-w 4` (PM2 from a fresh ' +
      'PM2_HOME, so its daemon start counts). Replacement: `kill -9` of one worker of `-w 2`, then GET `/pid` ' +
      'on fresh connections (two pollers, 1 ms apart) until a new pid answers. Reload: SIGHUP to a `-w 4` ' +
      'master until it logs `reload.done`. Idle RSS: VmRSS after boot, 200 requests and 1 s idle, `-w 2`.',
  ].join('\n');
}

function targetsSection(results) {
  const lifecycle = Object.values(results.lifecycle ?? {}).flatMap((list) => list.map((r) => r.target));
  const keys = new Set([...results.runs.map((r) => r.target), ...lifecycle]);
  const rows = TARGET_ORDER.filter((k) => keys.has(k)).map((k) => {
    const t = getTarget(k);
    return `| ${mdEscape(t.label)} | \`${mdEscape(t.command)}\` |`;
  });
  const head = [
    '## Targets',
    '',
    '| target | started as (N workers, PORT chosen by the harness) |',
    '| --- | --- |',
  ];
  return [...head, ...rows].join('\n');
}

/** The machine may be shared: say how busy it was, from the load averages recorded in the results. */
function loadNote(results) {
  const { loadAverageAtStart: a, loadAverageAtEnd: b, machine } = results.meta;
  const loads = results.runs.map((r) => r.load1).filter(Number.isFinite);
  if (!a || !b) return 'load average not recorded';
  const peak = Math.max(a[0], b[0], ...loads);
  const busy = peak > machine.nproc ? ' (other work was running: treat small differences as noise)' : '';
  return `1-min load average ${a[0].toFixed(1)} at start, ${b[0].toFixed(1)} at end, ${peak.toFixed(1)} at most${busy}`;
}

function machineSection(results) {
  const m = results.meta.machine;
  const t = results.meta.targetInfo ?? {};
  return [
    '## Machine',
    '',
    `- nproc: ${m.nproc} (${m.cpuModel}), memory: ${m.memoryGiB} GiB`,
    `- kernel: ${m.kernel}; OS: ${m.os}`,
    `- node: ${m.node}; unicorn-ts: ${m.unicornTs}${m.gitCommit ? ` (${m.gitCommit})` : ''}; pm2: ${m.pm2 ?? 'n/a'}`,
    `- ${m.wrk ?? 'wrk: n/a'}`,
    `- ${m.nginx ?? 'nginx: n/a'}; ${m.gunicorn ?? 'gunicorn: n/a'}; ` +
      `uvicorn ${m.uvicorn ?? 'n/a'} (${t.uvicorn ?? '?'}) on ${m.python ?? 'python: n/a'}`,
    `- run: ${results.meta.startedAt} to ${results.meta.finishedAt}; ${loadNote(results)}`,
  ].join('\n');
}

/** For every family of targets missed in this run, what limits it. */
function limitsSection(goals) {
  const missed = [...new Set(goals.filter((g) => g.status === 'missed' && g.limit).map((g) => g.limit))];
  if (missed.length === 0) return [];
  return ['### What limits the missed targets', '', ...missed.map((l) => `- **${l.title}.** ${l.text}`), ''];
}

export function renderMarkdown(results, charts) {
  const goals = evaluateGoals(results);
  const o = results.meta.options;
  const { workers, workloads } = dimensions(results, WORKLOAD_ORDER);
  const out = [
    '# Benchmarks',
    '',
    '<!-- Generated by bench/run.mjs from bench/results/latest.json. Do not edit by hand: rerun',
    '     `npm run bench`, or `node bench/run.mjs --report bench/results/latest.json` to re-render. -->',
    '',
    'unicorn-ts against a hand-written `node:cluster` server (round-robin and shared socket), PM2 cluster ' +
      'mode, uvicorn, a single `node:http` process, Gunicorn sync workers and nginx (`return 200`, the ' +
      'ceiling of this machine and load generator), all serving the same hello-world app and measured in ' +
      `one run (${results.meta.mode} mode, worker counts ${workers.join(', ')}). Every comparison is a ` +
      'ratio to a reference measured in the same run, never to a number from another machine or day.',
    '',
    '## The issue\u2019s targets',
    '',
    `Evaluated from the results of this run at \`-w 2\`; unicorn-ts means the node interface with the ` +
      'async worker unless the line says otherwise.',
    '',
    '| target | measured | status |',
    '| --- | --- | --- |',
    ...goals.map((g) => `| ${mdEscape(g.text)} | ${mdEscape(g.display ?? g.reason ?? '')} | ${g.status} |`),
    '',
    ...limitsSection(goals),
    machineSection(results),
    '',
    targetsSection(results),
    '',
    methodSection(results),
    '',
    '## Results',
    '',
  ];
  for (const workload of workloads) {
    out.push(`### ${WORKLOADS[workload].label}`, '');
    if (charts[workload]) out.push(`![${WORKLOADS[workload].label}](${charts[workload]})`, '');
    for (const w of workers) out.push(mdTable(throughputTable(results, w, workload)), '');
  }
  const lc = lifecycleTables(results);
  if (lc.length) {
    out.push('### Lifecycle', '');
    for (const t of lc) out.push(mdTable(t), '');
  }
  const failures = results.failures ?? [];
  if (failures.length) {
    out.push('### Not measured', '');
    for (const f of failures) out.push(`- ${label(f.target)} (-w ${f.workers}): ${mdEscape(f.reason)}`);
    out.push('');
  }
  out.push(
    '## Reproduce',
    '',
    '```sh',
    '# Debian: the harness installs these itself when run as root and they are missing',
    'sudo apt-get install -y wrk nginx-light gunicorn python3-uvicorn python3-uvloop python3-httptools',
    'npm ci && npm run build',
    `${results.meta.command}   # the command that produced this page`,
    'npm run bench -- --full            # worker counts 1, 2 and 4',
    'npm run bench -- --quick           # a quick look while developing (does not rewrite this page)',
    '```',
    '',
    `Raw results: \`bench/results/latest.json\` (options: duration ${o.duration} s, repeat ${o.repeat}, ` +
      `${o.connections} connections).`,
    '',
  );
  return out.join('\n');
}

// ---- SVG -----------------------------------------------------------------------------------------

const esc = (s) => String(s).replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
const COLORS = { 1: '#9ecae1', 2: '#4292c6', 4: '#08519c' };
const color = (workers) => COLORS[workers] ?? '#08306b';

/**
 * Horizontal grouped bars: one group per target, one bar per worker count, the value being the ratio to
 * the table's reference (a dashed line at 1.0×). Hand-written so the harness needs no plotting library.
 */
export function renderSvg(results, workload) {
  const { workers } = dimensions(results, WORKLOAD_ORDER);
  const tables = workers.map((w) => tableSummary(results, w, workload));
  const keys = [...new Set(tables.flatMap((t) => [...t.rows.keys()]))];
  // Order targets by their ratio at the middle worker count, best first.
  const mid = tables[Math.floor((tables.length - 1) / 2)];
  const lowerIsBetter = workload === 'mixed';
  const score = (k) => mid.rows.get(k)?.ratio ?? (lowerIsBetter ? 1e9 : -1);
  keys.sort((a, b) => (lowerIsBetter ? score(a) - score(b) : score(b) - score(a)));
  const ratios = tables.flatMap((t) => [...t.rows.values()].map((r) => r.ratio)).filter(Number.isFinite);
  const maxRatio = Math.max(1.2, ...ratios) * 1.08;
  const [left, barArea, bar, gap, top] = [250, 430, 13, 12, 62];
  const groupH = workers.length * bar + gap;
  const height = top + keys.length * groupH + 40;
  const width = left + barArea + 80;
  const sx = (v) => left + (v / maxRatio) * barArea;
  const ref = tables.find((t) => t.refKey)?.refKey;
  const what = lowerIsBetter ? 'light-request p99 latency' : 'requests/s';
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc(WORKLOADS[workload].label)}</text>`,
    `<text x="10" y="38" fill="#444">${esc(what)} as a ratio to ${esc(ref ? label(ref) : 'n/a')} ` +
      `(same run; ${lowerIsBetter ? 'lower' : 'higher'} is better)</text>`,
  ];
  workers.forEach((w, i) => {
    const lx = left + i * 70;
    out.push(`<rect x="${lx}" y="46" width="12" height="10" fill="${color(w)}"/>`);
    out.push(`<text x="${lx + 16}" y="55">-w ${w}</text>`);
  });
  // Grid lines at a step that leaves room for the labels (about 8 of them across the bar area).
  const step = [0.25, 0.5, 1, 2, 5, 10, 20].find((st) => maxRatio / st <= 8) ?? 50;
  for (let v = 0; v <= maxRatio; v += step) {
    const gx = sx(v).toFixed(1);
    out.push(`<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${height - 30}" stroke="#eee"/>`);
    out.push(`<text x="${gx}" y="${height - 16}" text-anchor="middle" fill="#666">${v.toFixed(2)}×</text>`);
  }
  keys.forEach((k, gi) => {
    const gy = top + gi * groupH;
    const ly = gy + (workers.length * bar) / 2 + 4;
    // unicorn-ts rows in bold: they are what the chart is about.
    const weight = k.startsWith('unicorn') ? ' font-weight="bold"' : '';
    out.push(`<text x="${left - 8}" y="${ly}" text-anchor="end"${weight}>${esc(label(k))}</text>`);
    tables.forEach((t, wi) => {
      const row = t.rows.get(k);
      const y = gy + wi * bar;
      if (!row || !Number.isFinite(row.ratio)) {
        out.push(`<text x="${left + 4}" y="${y + bar - 3}" fill="#999" font-size="10">n/a</text>`);
        return;
      }
      const w = Math.max(1, sx(row.ratio) - left);
      out.push(
        `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${bar - 2}" ` +
          `fill="${color(t.workers)}"/>`,
      );
      out.push(
        `<text x="${(left + w + 4).toFixed(1)}" y="${y + bar - 3}" font-size="10">${row.ratio.toFixed(2)}×</text>`,
      );
    });
  });
  const one = sx(1).toFixed(1);
  out.push(
    `<line x1="${one}" y1="${top - 4}" x2="${one}" y2="${height - 30}" stroke="#c00" stroke-dasharray="4 3"/>`,
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export const CHART_WORKLOADS = [...THROUGHPUT, 'mixed'];
