import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { escapeHtml } from '../pages/pages.js';
import { BASE_CSS } from '../pages/style.js';

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

/**
 * The shared look, plus what this page adds: the demo strip, and tables whose first column has one
 * width everywhere on the page, stacked above the value on a narrow screen.
 */
const CSS = `${BASE_CSS}
.demo{margin:0;background:#7a1d12;color:#fff;padding:.6rem clamp(1rem,4vw,1.5rem);font-size:.95rem}.demo a{color:#fff}
.wrap{padding:1rem}.card.wide{margin:0 auto}
header{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;gap:.75rem}header h1{margin:0;overflow-wrap:anywhere;min-width:0}
header .button{flex:0 0 auto}
h2 small{font-weight:400;color:var(--muted);font-size:.85rem}
table{border-collapse:collapse;width:100%;table-layout:fixed}
th,td{text-align:left;padding:.35rem .7rem;border-bottom:1px solid var(--line);vertical-align:top;font-size:.88rem}
th{width:16rem;font-weight:600;overflow-wrap:anywhere}td{overflow-wrap:anywhere;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.82rem}
#identity th{background:var(--note)}
td details summary{cursor:pointer}td details[open] summary{margin-bottom:.3rem}
.ok,.bad{font-weight:700;padding:.05rem .5rem;border-radius:4px;color:#fff;font-size:.9rem}.ok{background:#117a37}.bad{background:#b42318}
.muted{color:var(--muted);font-size:.9rem}
pre{background:var(--code);padding:.75rem;border-radius:8px;white-space:pre-wrap}
@media (max-width:40rem){table,tbody,tr,th,td{display:block;width:auto}tr{border-bottom:1px solid var(--line);padding:.3rem 0}th,td{border:0;padding:.1rem .2rem}#identity th{background:none}}`;

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
/** Longer than this, a value is shown shortened, the whole of it one click away (<details>, no script). */
const SHORT_VALUE = 96;

function cell(v: string): string {
  const whole = escapeHtml(v.length > MAX_VALUE ? `${v.slice(0, MAX_VALUE)}… (${v.length - MAX_VALUE} more characters)` : v);
  if (v.length <= SHORT_VALUE) return whole;
  return `<details><summary>${escapeHtml(v.slice(0, 48))}… <span class="muted">(${v.length} characters: show all)</span></summary><span class="whole">${whole}</span></details>`;
}

const table = (id: string, rows: Array<[string, string]>): string =>
  `<table id="${id}">${rows.map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${cell(v)}</td></tr>`).join('')}</table>`;

/** "in 5 min", "3 s ago", "just now": how far a time is from now, in words. */
export function relativeTime(t: number, now: number): string {
  const d = t - now;
  if (d === 0) return 'just now';
  const a = Math.abs(d);
  const amount = a < 120 ? `${a} s` : a < 7200 ? `${Math.round(a / 60)} min` : a < 172_800 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86_400)} days`;
  return d > 0 ? `in ${amount}` : `${amount} ago`;
}

function claimRows(p: JWTPayload, now: number): Array<[string, string]> {
  return Object.entries(p).map(([k, v]) => {
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    return [k, ['exp', 'iat', 'nbf'].includes(k) && typeof v === 'number' ? `${text} (${new Date(v * 1000).toISOString()}, ${relativeTime(v, now)})` : text];
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
<meta name="robots" content="noindex"><meta name="color-scheme" content="light dark"><title>Portcullis demo: what your app receives</title><style>${CSS}</style></head>
<body><p class="demo" id="demo-banner"><strong>Portcullis demo: not for production.</strong> A stand-in identity provider and this echo app run on your machine with throwaway secrets. <a href="#for-real">Put Portcullis in front of your own app</a>.</p>
<div class="wrap"><main class="card wide"><header><h1 id="hello">${who ? `Hello, ${escapeHtml(String(who))}` : 'No one is signed in'}</h1><a class="button" id="sign-out" href="${escapeHtml(i.signOutPath)}">Sign out</a></header>
<p>This page is the app behind the proxy. It shows the request Portcullis forwarded to it, <code>${escapeHtml(`${i.method} ${i.url}`)}</code>: who signed in, as plain headers and as a signed token the app can verify.</p>
<h2>Identity headers <small>set by Portcullis; any copy the client sent was removed</small></h2>
${identity.length ? table('identity', identity) : '<p id="identity">None.</p>'}
${jwtSection(i.jwt, i.jwksUrl)}
<h2>Other request headers</h2>
${table('headers', others)}
<p class="muted">A client that does not ask for HTML (curl, an API client) gets the same request back as JSON.</p>
<h2 id="for-real">Put Portcullis in front of your own app</h2>
<p>Stop the demo (Ctrl+C), register Portcullis as a client at your identity provider with the redirect URL <code>https://YOUR-HOST/oauth2/callback</code>, and start it with five settings:</p>
<pre>OAUTH2_PROXY_OIDC_ISSUER_URL=https://login.example.com/
OAUTH2_PROXY_CLIENT_ID=my-app  OAUTH2_PROXY_CLIENT_SECRET=…
OAUTH2_PROXY_COOKIE_SECRET=$(openssl rand -base64 32 | tr -- '+/' '-_')
OAUTH2_PROXY_EMAIL_DOMAINS=example.com
OAUTH2_PROXY_UPSTREAMS=http://127.0.0.1:8080/  npx portcullis</pre>
<p class="muted">docs/issuers/ in the repository has them for Keycloak, Entra ID, Okta, Auth0, Google, Ory Hydra and others; <code>npx portcullis --help</code> lists the options by topic.</p></main></div></body></html>`;
}
