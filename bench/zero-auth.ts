// The floor for forward-auth: a Node server that does no work at all, answering every request with
// the same empty 202 that Portcullis's /oauth2/auth sends for a good session (Cache-Control,
// X-Request-Id, Content-Length: 0), given the same session cookie. The one check it makes, that a
// Cookie header is there (401 without), is what lets the benchmark's "no cookie, no entry" check
// pass behind nginx. Same server timeouts as Portcullis (src/server/listen.ts).
// Usage: node dist/bench/zero-auth.js [port]   Prints `{"port":N}` on its first stdout line.
import http from 'node:http';

// The length of a UUID, as Portcullis's X-Request-Id: the same bytes on the wire.
const ID = '00000000-0000-4000-8000-000000000000';
const server = http.createServer({ requestTimeout: 60_000, headersTimeout: 20_000, keepAliveTimeout: 65_000 }, (req, res) => {
  if (req.headers.cookie === undefined) {
    res.writeHead(401, { 'cache-control': 'no-store', 'content-length': '0' }).end();
    return;
  }
  res.writeHead(202, { 'x-request-id': ID, 'cache-control': 'no-store', 'content-length': '0' }).end();
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
process.once('SIGTERM', () => process.exit(0));
