// The floors for forward-auth: a Node server that answers every request with the same empty 202
// that Portcullis's /oauth2/auth sends for a good session (Cache-Control, X-Request-Id,
// Content-Length: 0), given the same session cookie, doing only the work its mode names:
//   zero     nothing at all (the one check it makes, that a Cookie header is there, 401 without,
//            is what lets the benchmark's "no cookie, no entry" check pass behind nginx);
//   unseal   + reads the session: iron-unseals the same cookie with the same password (HKDF of the
//            cookie secret, config/secret.ts) on EVERY request, as a server without a cache must;
//   session  + reads the session as Portcullis does, the cheapest way that still never trusts one
//            session's verdict for another: SHA-256 of the cookie value, looked up among sessions
//            this process has unsealed (src/session/codec.ts; the first request unseals);
//   log      + the request-log line Portcullis writes (src/log.ts's RequestLog, the same fields,
//            a fixed user) through the same stdout sink (src/logsink.ts), on the response's finish;
//   floor    session + log + a fresh request id (randomUUID): everything Portcullis's road must do
//            for a signed-in forward-auth request, and nothing else.
// Same server timeouts as Portcullis (src/server/listen.ts).
// Usage: node dist/bench/zero-auth.js [port] [zero|unseal|session|log|floor]
// The session modes need PORTCULLIS_BENCH_COOKIE_SECRET (the Portcullis targets' cookie secret).
// Prints `{"port":N}` on its first stdout line.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { unsealData } from 'iron-session';
import { cookieSecretBytes, deriveSealPasswords } from '../src/config/secret.js';
import { requestLogger } from '../src/log.js';
import { NOT_CACHED, SessionCodec, isSession, type Session } from '../src/session/codec.js';

export const ZERO_AUTH_MODES = ['zero', 'unseal', 'session', 'log', 'floor'] as const;
type Mode = typeof ZERO_AUTH_MODES[number];

const mode = (process.argv[3] ?? 'zero') as Mode;
if (!ZERO_AUTH_MODES.includes(mode)) {
  process.stderr.write(`usage: zero-auth.js [port] [${ZERO_AUTH_MODES.join('|')}]\n`);
  process.exit(2);
}
const readsSession = mode === 'unseal' || mode === 'session' || mode === 'floor';
const logs = mode === 'log' || mode === 'floor';

// The length of a UUID, as Portcullis's X-Request-Id: the same bytes on the wire.
const ID = '00000000-0000-4000-8000-000000000000';
const COOKIE = '_oauth2_proxy=';
const TTL_MS = 168 * 3600 * 1000; // cookie_expire's default, as the Portcullis targets run
const secret = process.env.PORTCULLIS_BENCH_COOKIE_SECRET ?? '';
const secretBytes = readsSession ? cookieSecretBytes(secret) : undefined;
if (readsSession && !secretBytes) {
  process.stderr.write(`zero-auth.js ${mode}: PORTCULLIS_BENCH_COOKIE_SECRET must hold the Portcullis targets' cookie secret\n`);
  process.exit(2);
}
const passwords = secretBytes && deriveSealPasswords([secretBytes], 'session');
const codec = passwords && new SessionCodec(passwords, TTL_MS);
const reqLog = logs ? requestLogger('info') : undefined;

/** The session cookie's value: the one `_oauth2_proxy=` pair, up to its `;` (a 1.4 KB session is one chunk). */
function sealedOf(header: string): string | undefined {
  const at = header.startsWith(COOKIE) ? 0 : header.indexOf(`; ${COOKIE}`);
  if (at < 0) return undefined;
  const start = at === 0 ? COOKIE.length : at + 2 + COOKIE.length;
  const end = header.indexOf(';', start);
  return end < 0 ? header.slice(start) : header.slice(start, end);
}

function refuse(res: http.ServerResponse): void {
  res.writeHead(401, { 'cache-control': 'no-store', 'content-length': '0' }).end();
}

function accept(req: http.IncomingMessage, res: http.ServerResponse, started: bigint, session: Session | undefined): void {
  const id = mode === 'floor' ? randomUUID() : ID;
  if (reqLog) {
    const user = session?.user ?? 'bench-user-0000000000000000';
    res.on('finish', () => reqLog.write({
      method: req.method, path: req.url ?? '/', status: res.statusCode, durationMs: Number(process.hrtime.bigint() - started) / 1e6,
      user, client: req.socket.remoteAddress, requestId: id, upgrade: false,
    }));
  }
  res.writeHead(202, { 'x-request-id': id, 'cache-control': 'no-store', 'content-length': '0' }).end();
}

const server = http.createServer({ requestTimeout: 60_000, headersTimeout: 20_000, keepAliveTimeout: 65_000 }, (req, res) => {
  const started = logs ? process.hrtime.bigint() : 0n;
  const cookie = req.headers.cookie;
  if (cookie === undefined) return refuse(res);
  if (!readsSession) return accept(req, res, started, undefined);
  const sealed = sealedOf(cookie);
  if (sealed === undefined) return refuse(res);
  if (mode === 'unseal') {
    unsealData(sealed, { password: passwords!.unseal, ttl: TTL_MS / 1000 }).then(
      (s) => (isSession(s) && s.expiresAt > Date.now() ? accept(req, res, started, s) : refuse(res)),
      () => refuse(res),
    );
    return;
  }
  const hit = codec!.cached(sealed);
  if (hit !== NOT_CACHED) return hit ? accept(req, res, started, hit) : refuse(res);
  codec!.unseal(sealed).then((s) => (s ? accept(req, res, started, s) : refuse(res)), () => refuse(res));
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port, mode })}\n`);
});
process.once('SIGTERM', () => process.exit(0));
