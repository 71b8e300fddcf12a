/** A small HTTP client over real sockets, with no connection pooling unless an agent is passed. */
import http from 'node:http';
import net from 'node:net';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function request(
  url: string,
  {
    method = 'GET',
    headers = {},
    body,
    agent = false,
    timeoutMs = 30_000,
  }: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    agent?: http.Agent | false;
    timeoutMs?: number;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Sends raw bytes and collects everything the server writes until it closes or goes quiet.
 * `halfClose`: the bytes go with a FIN (`socket.end(bytes)`), as a client that has nothing more to send.
 */
export function rawExchange(
  port: number,
  bytes: Buffer,
  { host = '127.0.0.1', idleMs = 1500, timeoutMs = 10_000, halfClose = false } = {},
): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    const chunks: Buffer[] = [];
    let idle: NodeJS.Timeout | undefined;
    const finish = (closed: boolean) => {
      clearTimeout(idle);
      clearTimeout(overall);
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), closed });
    };
    const overall = setTimeout(() => finish(false), timeoutMs);
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => finish(false), idleMs);
    };
    socket.on('connect', () => {
      if (halfClose) socket.end(bytes);
      else socket.write(bytes);
      armIdle();
    });
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      armIdle();
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET') finish(true);
      else reject(err);
    });
  });
}

/** GET over a unix socket; resolves with the body (the status is checked by the caller's body). */
export function unixGet(socketPath: string, path = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

/** POSTs `count` chunks of `size` bytes with chunked encoding, honouring backpressure. */
export function streamUpload(
  url: string,
  count: number,
  size: number,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.setTimeout(60_000, () => req.destroy(new Error(`upload to ${url} timed out`)));
    req.on('error', reject);
    const chunk = Buffer.alloc(size, 120);
    let left = count;
    const pump = () => {
      while (left > 0) {
        left--;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

/** GETs a URL and counts the body's bytes as they stream in, without keeping them. */
export function streamDownload(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => resolve(n));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** GET a streamed response, collecting its lines with the time each arrived; `stopAfter` hangs up early. */
export function streamLines(url: string, { stopAfter = Number.POSITIVE_INFINITY } = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; lines: string[]; times: number[] }>(
    (resolve, reject) => {
      const req = http.get(url, { agent: false }, (res) => {
        const lines: string[] = [];
        const times: number[] = [];
        let pending = '';
        const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, lines, times });
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const parts = (pending + chunk).split('\n');
          pending = parts.pop()!;
          for (const line of parts) {
            lines.push(line);
            times.push(performance.now());
          }
          if (lines.length >= stopAfter) {
            req.destroy();
            done();
          }
        });
        res.on('end', done);
        res.on('error', reject);
      });
      req.setTimeout(60_000, () => req.destroy(new Error(`streaming ${url} timed out`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (!req.destroyed || err.code !== 'ECONNRESET') reject(err);
      });
    },
  );
}
