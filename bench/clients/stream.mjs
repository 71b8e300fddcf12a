// Streams a large body through a target on loopback: `upload` POSTs BYTES to /upload with a
// Content-Length, writing 64 KiB chunks and waiting for 'drain' so this client never buffers more than
// the socket does; `download` GETs /download?bytes=BYTES and counts what arrives. The harness samples the
// workers' RSS while this runs. A hard time limit makes sure a stalled server cannot hang the benchmark.
//
// usage: node stream.mjs upload|download PORT BYTES TIMEOUT_S  -> one JSON line on stdout

import http from 'node:http';

const [mode, portText, bytesText, timeoutText] = process.argv.slice(2);
const port = Number(portText);
const total = Number(bytesText);
const chunk = Buffer.alloc(64 * 1024, 'y');
const start = performance.now();

setTimeout(() => {
  console.log(JSON.stringify({ ok: false, reason: `timed out after ${timeoutText} s` }));
  process.exit(1);
}, Number(timeoutText) * 1000).unref();

function finish(result) {
  const seconds = (performance.now() - start) / 1000;
  console.log(JSON.stringify({ ...result, seconds, mibPerSecond: total / 2 ** 20 / seconds }));
}

function fail(err) {
  console.log(JSON.stringify({ ok: false, reason: err.message }));
  process.exitCode = 1;
}

if (mode === 'upload') {
  const req = http.request(
    {
      host: '127.0.0.1',
      port,
      path: '/upload',
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/octet-stream', 'content-length': total },
    },
    (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => {
        const counted = Number(body);
        finish({
          ok: res.statusCode === 200 && counted === total,
          status: res.statusCode,
          serverCounted: counted,
        });
      });
    },
  );
  req.on('error', fail);
  let left = total;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      const more = req.write(n === chunk.length ? chunk : chunk.subarray(0, n));
      if (left === 0) break;
      if (!more) return req.once('drain', pump);
    }
    req.end();
  };
  pump();
} else {
  const req = http.get({ host: '127.0.0.1', port, path: `/download?bytes=${total}`, agent: false }, (res) => {
    let got = 0;
    res.on('data', (d) => {
      got += d.length;
    });
    res.on('end', () =>
      finish({ ok: res.statusCode === 200 && got === total, status: res.statusCode, received: got }),
    );
    res.on('error', fail);
  });
  req.on('error', fail);
}
