// The benchmark's upstream: a tiny HTTP server in its own process. Every path answers 200 with the
// same 100-byte JSON body, except /__echo, which answers the request's method, URL and headers as
// JSON (the benchmark uses it once, before measuring, to check what the proxy forwards), and
// /__download?bytes=N, which streams N bytes (64 KiB chunks, honouring backpressure) for the
// download mode: a proxy that buffers instead of streaming shows up in its RSS; and /__slow?ms=N,
// the fixed body after N ms (soak.ts: requests in flight at SIGTERM).
// Prints `{"port":N}` on its first stdout line.
import http from 'node:http';

const BODY_SIZE = 100;
const head = '{"ok":true,"from":"bench-upstream","pad":"';
const tail = '"}';
const FIXED_BODY = Buffer.from(head + 'x'.repeat(BODY_SIZE - head.length - tail.length) + tail, 'utf8');

const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  if (req.url === '/__echo') {
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  if (req.url?.startsWith('/__download?')) return download(req, res);
  if (req.url?.startsWith('/__slow?')) {
    // The fixed body after ?ms= milliseconds: a request still in flight when the proxy is told to stop.
    const ms = Math.min(30_000, Number(new URL(req.url, 'http://x').searchParams.get('ms')) || 0);
    req.resume();
    const timer = setTimeout(() => res.writeHead(200, { 'content-type': 'application/json', 'content-length': FIXED_BODY.length }).end(FIXED_BODY), ms);
    res.on('close', () => clearTimeout(timer));
    return;
  }
  // Drain any request body, then answer.
  req.resume();
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': FIXED_BODY.length });
  res.end(FIXED_BODY);
});

const CHUNK = Buffer.alloc(64 * 1024, 'x');
const MAX_DOWNLOAD = 2 ** 31;

function download(req: http.IncomingMessage, res: http.ServerResponse): void {
  const bytes = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('bytes'));
  if (!Number.isInteger(bytes) || bytes < 0 || bytes > MAX_DOWNLOAD) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end('bytes must be an integer from 0 to 2^31');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes });
  let left = bytes;
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) { res.once('drain', pump); return; }
    }
    res.end();
  };
  res.on('close', () => { left = 0; });
  pump();
}

const port = Number(process.argv[2] ?? 0);
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
// Exit on SIGTERM through process.exit so --cpu-prof can write its profile.
process.once('SIGTERM', () => process.exit(0));
