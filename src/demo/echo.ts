import http from 'node:http';
import type { Duplex } from 'node:stream';
import { echoPage, jwtChecker, PAGE_HEADERS, type JwtCheck, type JwtReport } from './page.js';

export interface EchoOptions {
  /**
   * The proxy's JWKS and the header its identity JWT comes in: with them the page verifies the
   * token. The audience defaults to this upstream's own host:port, the proxy's default `aud`.
   */
  readonly jwt?: Omit<JwtCheck, 'audience'> & { readonly audience?: string };
  /** Where the page's sign-out button goes; default /oauth2/sign_out. */
  readonly signOutPath?: string;
}

/**
 * An httpbin-like upstream for the demo and the tests: it answers every request with what it
 * received (method, path, headers), as JSON, or for a browser (Accept has text/html) as a page that
 * shows what an app behind Portcullis gets — see page.ts.
 */
export function startEchoUpstream(port = 0, host = '127.0.0.1', o: EchoOptions = {}): Promise<{ url: string; server: http.Server; close(): Promise<void> }> {
  let checkJwt: ((h: http.IncomingHttpHeaders) => Promise<JwtReport>) | undefined;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => { if (chunks.length < 64) chunks.push(c); });
    req.on('end', () => {
      if (!(req.headers.accept ?? '').includes('text/html')) {
        res.writeHead(200, { 'content-type': 'application/json', vary: 'accept' });
        res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }));
        return;
      }
      void (checkJwt ? checkJwt(req.headers) : Promise.resolve<JwtReport>({ state: 'off' })).then((jwt) => {
        res.writeHead(200, PAGE_HEADERS);
        res.end(echoPage({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, jwt, jwksUrl: o.jwt?.jwksUrl, signOutPath: o.signOutPath ?? '/oauth2/sign_out' }));
      });
    });
  });
  // An upgrade (websocket handshake) is accepted and the connection echoes bytes back, after a
  // first line telling what the upstream received.
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
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
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${a.port}/`;
      if (o.jwt) checkJwt = jwtChecker({ ...o.jwt, audience: o.jwt.audience ?? new URL(url).host });
      resolve({
        url,
        server,
        close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}
