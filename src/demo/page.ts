import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { escapeHtml } from '../pages/pages.js';

/**
 * How the demo app checks the identity JWT, as a real app would: the JWKS URL, issuer and audience
 * are its own settings, never taken from the request (a request that could name the JWKS could bring
 * its own keys).
 */
export interface JwtCheck {
  readonly jwksUrl: string;
  /** The header the proxy puts the token in (identity_jwt_header). */
  readonly header: string;
  /** The `iss` to expect: the proxy's public URL. Unset: not checked. */
  readonly issuer?: string;
  /** The `aud` to expect: by default the proxy uses the upstream's host:port. */
  readonly audience: string;
}

export type JwtReport =
  | { readonly state: 'off' }
  | { readonly state: 'absent'; readonly header: string }
  | { readonly state: 'valid'; readonly header: string; readonly payload: JWTPayload; readonly kid?: string; readonly alg: string; readonly keyIndex: number; readonly keyCount: number }
  | { readonly state: 'invalid'; readonly header: string; readonly reason: string; readonly payload?: JWTPayload; readonly kid?: string; readonly alg?: string };

/** A checker bound to one JWKS: the key set is fetched once and again only for an unknown kid. */
export function jwtChecker(c: JwtCheck): (headers: IncomingHttpHeaders) => Promise<JwtReport> {
  const jwks = createRemoteJWKSet(new URL(c.jwksUrl), { timeoutDuration: 3000 });
  const name = c.header.toLowerCase();
  return async (headers) => {
    const raw = headers[name];
    if (typeof raw !== 'string' || raw === '') return { state: 'absent', header: c.header };
    const token = raw.replace(/^Bearer\s+/i, '');
    try {
      const { payload, protectedHeader } = await jwtVerify(token, jwks, {
        algorithms: ['ES256', 'EdDSA'], audience: c.audience, ...(c.issuer ? { issuer: c.issuer } : {}),
      });
      const keys = jwks.jwks()?.keys ?? [];
      return { state: 'valid', header: c.header, payload, kid: protectedHeader.kid, alg: protectedHeader.alg, keyIndex: keys.findIndex((k) => k.kid === protectedHeader.kid), keyCount: keys.length };
    } catch (e) {
      const reason = e instanceof errors.JOSEError
        ? `${e.message} (${e.code})`
        : `the JWKS at ${c.jwksUrl} could not be read (${(e as Error)?.message ?? String(e)})`;
      // Shown so the reader sees what was refused; marked untrusted on the page.
      let payload: JWTPayload | undefined;
      let head: { kid?: string; alg?: string } = {};
      try { payload = decodeJwt(token); head = decodeProtectedHeader(token); } catch { /* not even a JWT */ }
      return { state: 'invalid', header: c.header, reason, payload, kid: head.kid, alg: head.alg };
    }
  };
}

/** Headers that carry who the user is: what the proxy vouches for (x-auth-request-* and gap-* are its reserved names). */
const IDENTITY = /^(x-forwarded-(user|email|groups|preferred-username|access-token|id-token)|x-auth-request-.+|gap-auth)$/;

const CSS = `body{font-family:system-ui,sans-serif;margin:0;color:#1d2330;background:#f4f5f7;line-height:1.45}
.demo{margin:0;background:#7a1d12;color:#fff;padding:.6rem 1.5rem;font-size:.95rem}
main{max-width:64rem;margin:1.5rem auto;background:#fff;border-radius:10px;box-shadow:0 2px 12px #0002;padding:1.5rem 2rem}
header{display:flex;justify-content:space-between;align-items:center;gap:1rem}h1{font-size:1.4rem;margin:0}
h2{font-size:1.1rem;margin:1.6rem 0 .4rem}h2 small{font-weight:400;color:#667;font-size:.85rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25rem .7rem;border-bottom:1px solid #e3e6eb;font-size:.88rem;vertical-align:top}
th{font-weight:600;white-space:nowrap;width:1%}td{overflow-wrap:anywhere;font-family:ui-monospace,monospace;font-size:.82rem}
#identity tr{background:#fff6d6}.ok,.bad{font-weight:700;padding:.05rem .5rem;border-radius:4px;color:#fff}.ok{background:#117a37}.bad{background:#b42318}
code{font-size:.85rem;overflow-wrap:anywhere}.muted{color:#667;font-size:.9rem}
a.button{background:#2b59c3;color:#fff;border-radius:6px;padding:.5rem 1rem;text-decoration:none;white-space:nowrap}`;

/**
 * No script at all, and the one inline style allowed by its hash: header values are whatever a
 * client sent, so even a missed escape must not run.
 */
const CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`;

/** Response headers of the page: it shows tokens, so no cache; the CSP above. */
export const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8', 'content-security-policy': CSP, 'cache-control': 'no-store',
  'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', vary: 'accept',
} as const;

/** Long values (cookies, tokens) are cut here so the page stays small. */
const MAX_VALUE = 2000;

function cell(v: string): string {
  return escapeHtml(v.length > MAX_VALUE ? `${v.slice(0, MAX_VALUE)}… (${v.length - MAX_VALUE} more characters)` : v);
}

const table = (id: string, rows: Array<[string, string]>): string =>
  `<table id="${id}">${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${cell(v)}</td></tr>`).join('')}</table>`;

function inSeconds(t: number, now: number): string {
  const d = t - now;
  return d >= 0 ? `in ${d} s` : `${-d} s ago`;
}

function claimRows(p: JWTPayload, now: number): Array<[string, string]> {
  return Object.entries(p).map(([k, v]) => {
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    return [k, ['exp', 'iat', 'nbf'].includes(k) && typeof v === 'number' ? `${text} (${new Date(v * 1000).toISOString()}, ${inSeconds(v, now)})` : text];
  });
}

function jwtSection(jwt: JwtReport, jwksUrl: string | undefined): string {
  if (jwt.state === 'off') return '';
  const now = Math.floor(Date.now() / 1000);
  const how = `<p class="muted">Checked here, as your app would: signature against the proxy's public keys at <code>${escapeHtml(jwksUrl ?? '')}</code>, then issuer, audience and expiry.</p>`;
  if (jwt.state === 'absent') {
    return `<h2>Identity JWT <span id="jwt-status" class="bad">absent</span></h2><p>No token arrived in <code>${escapeHtml(jwt.header)}</code>: the proxy sends one with <code>pass_identity_jwt=true</code>.</p>`;
  }
  if (jwt.state === 'invalid') {
    return `<h2>Identity JWT <span id="jwt-status" class="bad">invalid</span></h2>${how}
<p>Refused: <strong id="jwt-reason">${escapeHtml(jwt.reason)}</strong></p>${jwt.payload
      ? `<p class="muted">Its claims, decoded but <strong>not to be trusted</strong>${jwt.kid ? ` (key id <code>${escapeHtml(jwt.kid)}</code>)` : ''}:</p>${table('claims', claimRows(jwt.payload, now))}` : ''}`;
  }
  const left = typeof jwt.payload.exp === 'number' ? jwt.payload.exp - now : undefined;
  const where = jwt.keyIndex >= 0 ? `key ${jwt.keyIndex + 1} of ${jwt.keyCount} in the JWKS` : 'a key of the JWKS';
  return `<h2>Identity JWT <span id="jwt-status" class="ok">valid</span> <small>from <code>${escapeHtml(jwt.header)}</code></small></h2>${how}
<p>Signed with ${escapeHtml(jwt.alg)} by ${where}, key id <code id="jwt-kid">${escapeHtml(jwt.kid ?? '(none)')}</code>${left !== undefined ? `; expires in <span id="jwt-expires">${left}</span> s (the proxy signs a fresh one before then)` : ''}.</p>
${table('claims', claimRows(jwt.payload, now))}`;
}

export interface PageInput {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly jwt: JwtReport;
  readonly jwksUrl?: string;
  /** The proxy's sign-out endpoint ({proxy_prefix}/sign_out). */
  readonly signOutPath: string;
}

/**
 * The page a browser gets from the demo's app: what the proxy forwarded, the identity picked out
 * of it, and the identity JWT checked. Every value is escaped: headers and the path are client input.
 */
export function echoPage(i: PageInput): string {
  const jwtHeader = i.jwt.state === 'off' ? undefined : i.jwt.header.toLowerCase();
  const isIdentity = (k: string): boolean => IDENTITY.test(k) || k === jwtHeader;
  const entries = Object.entries(i.headers).map(([k, v]): [string, string] => [k, Array.isArray(v) ? v.join(', ') : String(v)]);
  const identity = entries.filter(([k]) => isIdentity(k));
  const others = entries.filter(([k]) => !isIdentity(k));
  const who = i.headers['x-forwarded-email'] ?? i.headers['x-forwarded-user'];
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>Portcullis demo: what your app receives</title><style>${CSS}</style></head>
<body><p class="demo" id="demo-banner"><strong>Portcullis demo: not for production.</strong> A built-in test issuer and this echo app run with throwaway secrets; configure your own issuer and upstream for real use (see the README).</p>
<main><header><h1 id="hello">${who ? `Hello, ${escapeHtml(String(who))}` : 'No one is signed in'}</h1><a class="button" id="sign-out" href="${escapeHtml(i.signOutPath)}">Sign out</a></header>
<p>This page is the app behind the proxy. It shows the request Portcullis forwarded to it, <code>${escapeHtml(`${i.method} ${i.url}`)}</code>: who signed in, as plain headers and as a signed token the app can verify.</p>
<h2>Identity headers <small>set by Portcullis; any copy the client sent was removed</small></h2>
${identity.length ? table('identity', identity) : '<p id="identity">None.</p>'}
${jwtSection(i.jwt, i.jwksUrl)}
<h2>Other request headers</h2>
${table('headers', others)}
<p class="muted">A client that does not ask for HTML (curl, an API client) gets the same request back as JSON.</p></main></body></html>`;
}
