import http from 'node:http';
import { escapeHtml } from '../pages/pages.js';

/**
 * An httpbin-like upstream for the demo and the tests: it answers every request with what it
 * received (method, path, headers), as JSON, or as a small page for a browser.
 */
export function startEchoUpstream(port = 0, host = '127.0.0.1'): Promise<{ url: string; server: http.Server; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => { if (chunks.length < 64) chunks.push(c); });
    req.on('end', () => {
      const body = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      if ((req.headers.accept ?? '').includes('text/html')) {
        const who = req.headers['x-forwarded-email'] ?? req.headers['x-forwarded-user'] ?? 'nobody';
        const rows = Object.entries(req.headers).map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(String(v))}</td></tr>`).join('');
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(`<!doctype html><html><head><meta charset="utf-8"><title>Echo upstream</title></head><body style="font-family:system-ui,sans-serif">
<h1 id="hello">Hello, ${escapeHtml(String(who))}</h1><p>This page is the demo upstream. It shows the request Portcullis forwarded.</p>
<p><a href="/oauth2/sign_out">Sign out</a></p><table>${rows}</table></body></html>`);
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      }
    });
  });
  // An upgrade (websocket handshake) is accepted and the connection echoes bytes back, after a
  // first line telling what the upstream received.
  server.on('upgrade', (req: http.IncomingMessage, socket: import('node:stream').Duplex) => {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: ${String(req.headers.upgrade)}\r\nconnection: Upgrade\r\n\r\n`);
    socket.write(`${JSON.stringify({ method: req.method, url: req.url, headers: req.headers })}\n`);
    socket.pipe(socket);
    socket.on('error', () => socket.destroy());
  });
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const a = server.address() as { port: number };
      resolve({
        url: `http://${host}:${a.port}/`,
        server,
        close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}
