import http from 'node:http';
import type net from 'node:net';

/** An issuer's answer as the tampering proxy holds it: status, content type and body. */
export interface Answer { status: number; headers: Record<string, string>; body: string }
/** Changes an answer on its way back, or resets the connection instead. */
export type Tamper = (a: Answer) => Promise<Answer | 'reset'>;

/** A request that passed through, as the issuer received it (after tokenRequest altered it). */
export interface Seen { readonly method: string; readonly path: string; readonly headers: http.IncomingHttpHeaders; readonly body: string }

export interface Hooks {
  /** Alters the token request before the issuer sees it. */
  tokenRequest?: (body: URLSearchParams, headers: http.OutgoingHttpHeaders) => void;
  token?: Tamper;
  userinfo?: Tamper;
  /** The JWKS answer (only when the proxy is pointed at the tamperer's /.well-known/jwks.json with oidc_jwks_url). */
  jwks?: Tamper;
}

export interface Tamperer {
  readonly url: string;
  /** Set and cleared by each test; empty: the tamperer changes nothing. */
  readonly hooks: Hooks;
  /** Every request forwarded, oldest first (a test may empty it). */
  readonly seen: Seen[];
  close(): Promise<void>;
}

/**
 * An HTTP server that forwards everything to the issuer, applying `hooks` to the token, userinfo
 * and JWKS exchanges: what the real issuer (oidc-provider) will not do by itself, done on the way.
 * It alters the token request (so the issuer's own error comes back) or the issuer's answer
 * (status, body, delay, a re-signed ID token with the issuer's own key). The proxy reaches those
 * endpoints through it (redeem_url, validate_url, oidc_jwks_url); discovery and the authorization
 * endpoint stay the issuer's own.
 */
export async function startTamperer(issuerOrigin: string): Promise<Tamperer> {
  const hooks: Hooks = {};
  const seen: Seen[] = [];
  const target = new URL(issuerOrigin);
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void (async () => {
      const path = req.url ?? '/';
      const headers: http.OutgoingHttpHeaders = { ...req.headers, host: target.host };
      delete headers['accept-encoding'];
      let body = Buffer.concat(chunks);
      if (path.startsWith('/oauth2/token') && hooks.tokenRequest) {
        const form = new URLSearchParams(body.toString('utf8'));
        hooks.tokenRequest(form, headers);
        body = Buffer.from(form.toString());
      }
      headers['content-length'] = String(body.length);
      seen.push({ method: req.method ?? 'GET', path, headers: { ...req.headers }, body: body.toString('utf8') });
      const answer = await new Promise<Answer>((resolve, reject) => {
        const out = http.request({ host: target.hostname, port: target.port, method: req.method, path, headers }, (up) => {
          const parts: Buffer[] = [];
          up.on('data', (c: Buffer) => parts.push(c));
          up.on('end', () => resolve({ status: up.statusCode ?? 502, headers: { 'content-type': String(up.headers['content-type'] ?? '') }, body: Buffer.concat(parts).toString('utf8') }));
        });
        out.on('error', reject);
        out.end(body);
      });
      const tamper = path.startsWith('/oauth2/token') ? hooks.token
        : path.startsWith('/userinfo') ? hooks.userinfo
          : path.startsWith('/.well-known/jwks.json') ? hooks.jwks : undefined;
      const final = tamper ? await tamper(answer) : answer;
      if (final === 'reset') return void req.socket.resetAndDestroy();
      res.writeHead(final.status, { ...final.headers, 'content-length': Buffer.byteLength(final.body), 'cache-control': 'no-store' });
      res.end(final.body);
    })().catch(() => res.destroy()));
  });
  server.on('connection', (s: net.Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    hooks,
    seen,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}
