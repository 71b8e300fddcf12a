/**
 * The same greeting with the node interface: `(req, res)` from node:http, as Express, Connect and
 * plain http.createServer() handlers use.
 *
 *   npx unicorn-ts examples/hello-node.mjs -w 2
 *
 * unicorn-ts picks the node interface because the handler takes two parameters and the second is
 * named `res` (pass `--interface node` to skip the guess). What a fetch handler gets as its second
 * argument, `info`, is on `req.unicorn` here: the client address, the worker, an AbortSignal and a
 * logger.
 */
export default function hello(req, res) {
  const { remoteAddress, worker } = req.unicorn;
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`Hello, World! (${req.url}, worker ${worker.pid}, client ${remoteAddress})\n`);
}
