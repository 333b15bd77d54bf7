import http from 'node:http';
import type { Duplex } from 'node:stream';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { escapeHtml } from '../pages/pages.js';

export interface EchoOptions {
  /** The proxy's JWKS: with it, the page verifies the identity JWT the proxy sends in `jwtHeader`. */
  readonly jwksUrl?: string;
  readonly jwtHeader?: string;
}

/**
 * An httpbin-like upstream for the demo and the tests: it answers every request with what it
 * received (method, path, headers), as JSON, or for a browser as a page that shows what an app
 * behind Portcullis gets — the identity headers picked out, and the identity JWT verified against
 * the proxy's JWKS and decoded, as an app would do it.
 */
export function startEchoUpstream(port = 0, host = '127.0.0.1', o: EchoOptions = {}): Promise<{ url: string; server: http.Server; close(): Promise<void> }> {
  const jwks = o.jwksUrl ? createRemoteJWKSet(new URL(o.jwksUrl)) : undefined;
  const jwtHeader = o.jwtHeader?.toLowerCase();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => { if (chunks.length < 64) chunks.push(c); });
    req.on('end', () => {
      const body = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      if (!(req.headers.accept ?? '').includes('text/html')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
        return;
      }
      void jwtReport(req, jwks, jwtHeader).then((jwt) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(page(req, jwt));
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
      resolve({
        url: `http://${host}:${a.port}/`,
        server,
        close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}

type JwtReport = { state: 'absent' } | { state: 'verified'; payload: JWTPayload; kid?: string; alg: string } | { state: 'refused'; reason: string };

async function jwtReport(req: http.IncomingMessage, jwks: ReturnType<typeof createRemoteJWKSet> | undefined, header: string | undefined): Promise<JwtReport> {
  const raw = header ? req.headers[header] : undefined;
  if (!jwks || typeof raw !== 'string') return { state: 'absent' };
  const token = raw.replace(/^Bearer /i, '');
  try {
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { algorithms: ['ES256', 'EdDSA'] });
    return { state: 'verified', payload, kid: protectedHeader.kid, alg: protectedHeader.alg };
  } catch (e) {
    return { state: 'refused', reason: (e as Error).message };
  }
}

const IDENTITY = /^(x-forwarded-(user|email|groups|preferred-username|access-token|identity-jwt)|x-auth-request-.*)$/;

function page(req: http.IncomingMessage, jwt: JwtReport): string {
  const who = req.headers['x-forwarded-email'] ?? req.headers['x-forwarded-user'] ?? 'nobody';
  // The identity headers first: they are what the page is about.
  const entries = Object.entries(req.headers).sort(([a], [b]) => Number(IDENTITY.test(b)) - Number(IDENTITY.test(a)));
  const rows = entries.map(([k, v]) => {
    const mine = IDENTITY.test(k);
    const value = String(v);
    return `<tr${mine ? ' class="identity"' : ''}><th>${escapeHtml(k)}</th><td>${escapeHtml(value.length > 120 ? `${value.slice(0, 117)}…` : value)}</td></tr>`;
  }).join('');
  let jwtSection = '';
  if (jwt.state === 'verified') {
    const p = jwt.payload;
    const left = p.exp ? p.exp - Math.floor(Date.now() / 1000) : undefined;
    const claims = Object.entries(p).map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(JSON.stringify(v))}</td></tr>`).join('');
    jwtSection = `<h2>Identity JWT <span id="jwt-status" class="ok">verified</span></h2>
<p>Signed by the proxy (${escapeHtml(jwt.alg)}, key <code>${escapeHtml(jwt.kid ?? '?')}</code>), checked against its JWKS at <code>/oauth2/jwks.json</code>${left !== undefined ? `; expires in ${left} s` : ''}.</p>
<table>${claims}</table>`;
  } else if (jwt.state === 'refused') {
    jwtSection = `<h2>Identity JWT <span id="jwt-status" class="bad">not verified</span></h2><p>${escapeHtml(jwt.reason)}</p>`;
  }
  return `<!doctype html><html><head><meta charset="utf-8"><title>Echo upstream</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2330}table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{text-align:left;padding:.2rem .8rem;border-bottom:1px solid #e3e6eb;font-size:.9rem;vertical-align:top}th{font-weight:600;white-space:nowrap}
tr.identity{background:#fff6d6}.ok{color:#117a37}.bad{color:#b42318}code{font-size:.85rem}
a.button{display:inline-block;background:#2b59c3;color:#fff;border-radius:6px;padding:.5rem 1rem;text-decoration:none}</style></head>
<body><h1 id="hello">Hello, ${escapeHtml(String(who))}</h1>
<p>This page is the demo's application. It shows the request Portcullis forwarded: the highlighted headers are the identity the proxy vouches for (any copy a client sent was removed).</p>
<p><a class="button" href="/oauth2/sign_out">Sign out</a></p>
${jwtSection}<h2>Request headers</h2><table>${rows}</table></body></html>`;
}
