// nginx configuration writer. nginx is used twice: as a target (the ceiling: `return 200` costs nearly
// nothing, so it measures the machine and the load generator) and as a reverse proxy in front of every
// other target. Each instance gets its own prefix under the harness's temp dir: own pid file, logs and
// temp paths, `daemon off` so the harness owns the master process and can stop it by pid.

import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function common(prefix, workers) {
  const tmp = join(prefix, 'tmp');
  mkdirSync(tmp, { recursive: true });
  // Workers drop to `nobody` when the master runs as root; they must be able to reach the prefix.
  chmodSync(prefix, 0o755);
  chmodSync(tmp, 0o777);
  return [
    'daemon off;',
    'master_process on;',
    `worker_processes ${workers};`,
    `pid ${join(prefix, 'nginx.pid')};`,
    `error_log ${join(prefix, 'error.log')} warn;`,
    'events { worker_connections 8192; }',
  ];
}

function httpCommon(prefix) {
  const tmp = join(prefix, 'tmp');
  return [
    '  access_log off;',
    `  client_body_temp_path ${tmp}/body;`,
    `  proxy_temp_path ${tmp}/proxy;`,
    `  fastcgi_temp_path ${tmp}/fastcgi;`,
    `  uwsgi_temp_path ${tmp}/uwsgi;`,
    `  scgi_temp_path ${tmp}/scgi;`,
    // nginx closes a client keep-alive connection after 1000 requests by default; Node servers never do.
    // Raised so wrk's keep-alive connections to nginx are never recycled mid-run.
    '  keepalive_requests 1000000;',
  ];
}

/** The ceiling target: every request answered from nginx config, 13-byte body, text/plain. */
export function writeCeilingConfig(prefix, { port, workers }) {
  const lines = [
    ...common(prefix, workers),
    'http {',
    ...httpCommon(prefix),
    '  server {',
    `    listen 127.0.0.1:${port} backlog=4096;`,
    '    default_type text/plain;',
    "    location / { return 200 'Hello, World!'; }",
    '  }',
    '}',
  ];
  const file = join(prefix, 'nginx.conf');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/**
 * One reverse-proxy nginx in front of all targets. For each upstream it listens on two ports:
 * - `defaultPort`: nginx's default upstream behaviour (HTTP/1.0 to the upstream, a new connection per
 *   request), i.e. only `proxy_pass`;
 * - `keepalivePort`: upstream keep-alive as nginx documents it (`keepalive 64` in the upstream block,
 *   `proxy_http_version 1.1`, an empty Connection header).
 * `upstreams`: [{ name, port, defaultPort, keepalivePort }]
 */
export function writeProxyConfig(prefix, { workers, upstreams }) {
  const lines = [...common(prefix, workers), 'http {', ...httpCommon(prefix)];
  for (const u of upstreams) {
    const id = u.name.replace(/[^a-z0-9]/gi, '_');
    lines.push(
      `  upstream ka_${id} {`,
      `    server 127.0.0.1:${u.port};`,
      '    keepalive 64;',
      '  }',
      '  server {',
      `    listen 127.0.0.1:${u.defaultPort} backlog=4096;`,
      `    location / { proxy_pass http://127.0.0.1:${u.port}; }`,
      '  }',
      '  server {',
      `    listen 127.0.0.1:${u.keepalivePort} backlog=4096;`,
      '    location / {',
      `      proxy_pass http://ka_${id};`,
      '      proxy_http_version 1.1;',
      '      proxy_set_header Connection "";',
      '    }',
      '  }',
    );
  }
  lines.push('}');
  const file = join(prefix, 'nginx.conf');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** nginx command line for a prefix written by one of the functions above. */
export function nginxArgs(prefix, confFile) {
  return ['-p', prefix, '-c', confFile, '-e', join(prefix, 'error.log')];
}
