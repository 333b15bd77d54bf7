import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, decodeJwt } from 'jose';
import { HttpBrowser, type Response } from './support/browser.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { ALICE, CLIENT_ID, CLIENT_SECRET, type Echoed } from './support/stack.js';
import { startTamperer, type Hooks, type Tamper, type Tamperer } from './support/tamperer.js';

// The OpenID Connect protocol at its edges: malformed callbacks, and an issuer whose token and
// userinfo answers go wrong. The issuer is the real one (oidc-provider); what it will not do by
// itself, a tampering proxy in front of it does, on the way: it alters the token request (so the
// issuer's own error comes back) or the issuer's answer (status, body, delay, a re-signed ID token
// with the issuer's own key). Every row must end in a clear 4xx, 502 or 503 page with its code,
// never a 500, and never with a session cookie.

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const now = (): number => Math.floor(Date.now() / 1000);

let peers: Peers;

/** The token answer with its ID token replaced by what `make` returns from the original's claims. */
const idToken = (make: (claims: Record<string, unknown>) => Promise<string> | string): Tamper => async (a) => {
  const body = JSON.parse(a.body) as Record<string, unknown>;
  body.id_token = await make({ ...decodeJwt(String(body.id_token)) });
  return { ...a, body: JSON.stringify(body) };
};
/** The ID token re-signed with the issuer's own key after `fn` changed its claims: only the change can be wrong. */
const resigned = (fn: (c: Record<string, unknown>) => Record<string, unknown>): Tamper => idToken((c) => peers.issuer.sign(fn(c)));
const json = (status: number, body: unknown): Tamper => async () => ({ status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const raw = (status: number, type: string, body: string): Tamper => async () => ({ status, headers: { 'content-type': type }, body });

interface Row {
  readonly name: string;
  readonly hooks: Hooks;
  readonly status: number;
  /** The error code on the page; undefined for a row that must sign in. */
  readonly code?: string;
  /** For a row that signs in: who the upstream then sees (no email: userinfo's claims were not used). */
  readonly seen?: { user: string };
}

const TOKEN_ROWS: readonly Row[] = [
  // The issuer's own refusals, provoked by altering the request it gets.
  { name: 'a code the issuer does not know → its invalid_grant', hooks: { tokenRequest: (f) => f.set('code', 'not-a-code-the-issuer-gave') }, status: 401, code: 'LOGIN_REDEEM_FAILED' },
  { name: 'a PKCE verifier that does not match → its invalid_grant', hooks: { tokenRequest: (f) => f.set('code_verifier', 'x'.repeat(64)) }, status: 401, code: 'LOGIN_REDEEM_FAILED' },
  { name: 'another redirect_uri → its invalid_grant', hooks: { tokenRequest: (f) => f.set('redirect_uri', 'http://127.0.0.1:1/oauth2/callback') }, status: 401, code: 'LOGIN_REDEEM_FAILED' },
  {
    name: 'wrong client credentials → its invalid_client',
    hooks: { tokenRequest: (f, h) => { h.authorization = `Basic ${Buffer.from(`${CLIENT_ID}:wrong-secret`).toString('base64')}`; f.delete('client_secret'); } },
    status: 401, code: 'LOGIN_REDEEM_FAILED',
  },
  // Answers the issuer would not give.
  { name: '500 with an OAuth error', hooks: { token: json(500, { error: 'server_error' }) }, status: 503, code: 'ISSUER_UNAVAILABLE' },
  { name: '502 with an HTML page (a load balancer\'s)', hooks: { token: raw(502, 'text/html', '<html><body>Bad Gateway</body></html>') }, status: 503, code: 'ISSUER_UNAVAILABLE' },
  { name: '200 with an HTML page', hooks: { token: raw(200, 'text/html', '<html><body>Welcome</body></html>') }, status: 502, code: 'ISSUER_BAD_RESPONSE' },
  { name: '200 with JSON cut short', hooks: { token: async (a) => ({ ...a, body: a.body.slice(0, a.body.length / 2) }) }, status: 502, code: 'ISSUER_BAD_RESPONSE' },
  { name: '200 with a JSON array', hooks: { token: json(200, []) }, status: 502, code: 'ISSUER_BAD_RESPONSE' },
  { name: '200 without access_token', hooks: { token: async (a) => { const b = JSON.parse(a.body) as Record<string, unknown>; delete b.access_token; return { ...a, body: JSON.stringify(b) }; } }, status: 502, code: 'ISSUER_BAD_RESPONSE' },
  { name: '200 with token_type mac', hooks: { token: async (a) => ({ ...a, body: JSON.stringify({ ...JSON.parse(a.body) as object, token_type: 'mac' }) }) }, status: 502, code: 'ISSUER_BAD_RESPONSE' },
  { name: '400 with a body that is not OAuth', hooks: { token: raw(400, 'text/plain', 'nope') }, status: 502, code: 'ISSUER_BAD_RESPONSE' },
  { name: 'the connection reset', hooks: { token: async () => 'reset' }, status: 503, code: 'ISSUER_UNAVAILABLE' },
  { name: 'slow, within the 10 s limit → signed in', hooks: { token: async (a) => { await sleep(1500); return a; } }, status: 200 },
  { name: 'slower than the 10 s limit', hooks: { token: async (a) => { await sleep(11_000); return a; } }, status: 503, code: 'ISSUER_UNAVAILABLE' },
];

const ID_TOKEN_ROWS: readonly Row[] = [
  { name: 'untampered → signed in (the tampering proxy itself changes nothing)', hooks: { token: resigned((c) => c) }, status: 200 },
  { name: 'another issuer (iss)', hooks: { token: resigned((c) => ({ ...c, iss: 'https://evil.example/' })) }, status: 401, code: 'LOGIN_TOKEN_INVALID' },
  { name: 'another audience (aud)', hooks: { token: resigned((c) => ({ ...c, aud: 'some-other-client' })) }, status: 401, code: 'LOGIN_TOKEN_INVALID' },
  { name: 'two audiences, ours among them, and azp another client', hooks: { token: resigned((c) => ({ ...c, aud: [CLIENT_ID, 'other'], azp: 'other' })) }, status: 401, code: 'LOGIN_TOKEN_INVALID' },
  { name: 'another nonce', hooks: { token: resigned((c) => ({ ...c, nonce: 'not-the-nonce-we-sent' })) }, status: 401, code: 'LOGIN_TOKEN_INVALID' },
  { name: 'no nonce', hooks: { token: resigned(({ nonce: _n, ...c }) => c) }, status: 401, code: 'LOGIN_TOKEN_INVALID' },
  { name: 'expired (exp an hour ago)', hooks: { token: resigned((c) => ({ ...c, iat: now() - 7200, exp: now() - 3600 })) }, status: 401, code: 'LOGIN_CLOCK_SKEW' }, // fresh from the token endpoint yet expired: the clocks disagree
  { name: 'not yet valid (nbf in an hour)', hooks: { token: resigned((c) => ({ ...c, nbf: now() + 3600 })) }, status: 401, code: 'LOGIN_CLOCK_SKEW' },
  { name: 'no exp', hooks: { token: resigned(({ exp: _e, ...c }) => c) }, status: 401, code: 'LOGIN_TOKEN_INVALID' },
  { name: 'alg none, unsigned', hooks: { token: idToken((c) => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(c)}.`) }, status: 401, code: 'LOGIN_TOKEN_INVALID' },
  {
    name: 'HS256 keyed with the client secret (algorithm confusion)',
    hooks: { token: idToken((c) => new SignJWT(c).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(CLIENT_SECRET))) },
    status: 401, code: 'LOGIN_TOKEN_INVALID',
  },
  { name: 'signed by a key the issuer never published, with its kid', hooks: { token: idToken((c) => peers.issuer.sign({ ...c, sub: 'someone-else' }, {}, 'foreign')) }, status: 401, code: 'LOGIN_TOKEN_INVALID' },
  { name: 'signed by an unknown kid', hooks: { token: idToken((c) => peers.issuer.sign(c, { kid: 'no-such-key' }, 'foreign')) }, status: 401, code: 'LOGIN_TOKEN_INVALID' },
  { name: 'its signature cut off', hooks: { token: idToken(async (c) => (await peers.issuer.sign(c)).replace(/\.[^.]+$/, '.')) }, status: 401, code: 'LOGIN_TOKEN_INVALID' },
  { name: 'not a JWT at all', hooks: { token: idToken(() => 'not-a-jwt') }, status: 401, code: 'LOGIN_TOKEN_INVALID' },
  { name: 'no ID token in the answer', hooks: { token: async (a) => { const b = JSON.parse(a.body) as Record<string, unknown>; delete b.id_token; return { ...a, body: JSON.stringify(b) }; } }, status: 502, code: 'ISSUER_BAD_RESPONSE' },
  // OIDC Core 5.3.2: userinfo for another subject than the ID token's MUST NOT be used. The ID token
  // (checked) still says who signed in; the claims only userinfo has (email, groups) are left out.
  {
    // The dev issuer, like many, gives the email in userinfo only: without the real one's userinfo
    // claims the login has no email, and a login needs one (as in oauth2-proxy).
    name: 'another subject, re-signed with the issuer\'s key: that subject, without the real one\'s userinfo claims (so no email)',
    hooks: { token: resigned((c) => ({ ...c, sub: 'someone-else' })) }, status: 403, code: 'EMAIL_MISSING',
  },
  {
    name: 'userinfo answering for another subject: unused, so not mallory\'s email but none',
    hooks: { userinfo: async (a) => ({ ...a, body: JSON.stringify({ ...JSON.parse(a.body) as object, sub: 'someone-else', email: 'mallory@evil.example' }) }) },
    status: 403, code: 'EMAIL_MISSING',
  },
];

/** Status and error code of the answer (the page shows "401 · CODE" in its support box); a 3xx/2xx landing has none. */
function outcome(r: Response): { status: number; code?: string } {
  const code = /<code id="error-code">\d{3} · ([A-Z_]+)<\/code>/.exec(r.body)?.[1];
  return { status: r.status, ...(code ? { code } : {}) };
}

function sessionOf(b: HttpBrowser): string | undefined {
  return [...b.cookies()].find(([n]) => /^_oauth2_proxy(_\d+)?$/.test(n))?.[1];
}

describe('the protocol at its edges: malformed callbacks, and token and userinfo answers gone wrong', () => {
  let tamperer: Tamperer;
  let proxy: InProcess;
  before(async () => {
    peers = await startPeers();
    tamperer = await startTamperer(new URL(peers.issuer.issuer).origin);
    proxy = await startInProcess({
      ...peers.env,
      OAUTH2_PROXY_REDEEM_URL: `${tamperer.url}/oauth2/token`,
      OAUTH2_PROXY_VALIDATE_URL: `${tamperer.url}/userinfo`,
    }, peers.port);
  });
  after(async () => { await proxy?.close(); await tamperer?.close(); await peers?.close(); });

  /** A login this browser started, stopped where the issuer sends it back: the callback URL. */
  async function atCallback(b: HttpBrowser): Promise<URL> {
    const r = await b.navigate(`${proxy.url}/oauth2/start?rd=/landed`, { stopAt: (u) => u.pathname === '/oauth2/callback' });
    assert.equal(r.status, 0, 'stopped at the callback');
    return new URL(r.url);
  }

  for (const [kind, rows] of [['token answer', TOKEN_ROWS], ['ID token', ID_TOKEN_ROWS]] as const) {
    for (const row of rows) {
      test(`${kind}: ${row.name} → ${row.code ?? 'signed in'}`, async () => {
        Object.assign(tamperer.hooks, row.hooks);
        try {
          const b = new HttpBrowser({ timeoutMs: 20_000 });
          const r = await b.navigate(`${proxy.url}/oauth2/start?rd=/landed`);
          if (!row.code) {
            assert.equal(r.status, 200, r.body.slice(0, 300));
            assert.equal(r.url, `${proxy.url}/landed`);
            assert.ok(sessionOf(b));
            if (row.seen) {
              const e = JSON.parse((await b.request(`${proxy.url}/landed`, { headers: { accept: 'application/json' } })).body) as Echoed;
              assert.equal(e.headers['x-forwarded-user'], row.seen.user);
              assert.equal(e.headers['x-forwarded-email'], undefined, 'userinfo for another subject is not used');
            }
            return;
          }
          assert.deepEqual(outcome(r), { status: row.status, code: row.code }, r.body.slice(0, 400));
          assert.equal(sessionOf(b), undefined, 'no session');
        } finally {
          for (const k of Object.keys(tamperer.hooks) as Array<keyof Hooks>) delete tamperer.hooks[k];
        }
      });
    }
  }

  /** [name, the callback URL made from the real one, expected status, expected code] */
  const CALLBACK_ROWS: ReadonlyArray<readonly [string, (u: URL) => string, number, string]> = [
    ['no parameters at all', (u) => `${u.origin}${u.pathname}`, 400, 'LOGIN_BAD_REQUEST'],
    ['a code without state', (u) => `${u.origin}${u.pathname}?code=${u.searchParams.get('code')}`, 400, 'LOGIN_BAD_REQUEST'],
    ['the state without a code', (u) => `${u.origin}${u.pathname}?state=${u.searchParams.get('state')}`, 400, 'LOGIN_BAD_REQUEST'],
    ['a state one character off', (u) => { const s = u.searchParams.get('state')!; u.searchParams.set('state', `${s.slice(0, -1)}${s.endsWith('A') ? 'B' : 'A'}`); return u.href; }, 400, 'LOGIN_STATE_MISSING'],
    ['a state of 8 KB', (u) => { u.searchParams.set('state', 's'.repeat(8192)); return u.href; }, 400, 'LOGIN_STATE_MISSING'],
    ['a code of 8 KB', (u) => { u.searchParams.set('code', 'c'.repeat(8192)); return u.href; }, 401, 'LOGIN_REDEEM_FAILED'],
    ['a code the issuer never gave', (u) => { u.searchParams.set('code', 'made-up'); return u.href; }, 401, 'LOGIN_REDEEM_FAILED'],
    // A repeated parameter is refused by openid-client's check of the authorization response.
    ['the state twice, the real one first', (u) => `${u.href}&state=other`, 401, 'LOGIN_TOKEN_INVALID'],
    ['the state twice, the real one second', (u) => `${u.origin}${u.pathname}?state=other&${u.search.slice(1)}`, 400, 'LOGIN_STATE_MISSING'],
    ['the code twice', (u) => `${u.href}&code=other`, 401, 'LOGIN_TOKEN_INVALID'],
    ['another issuer named in iss (RFC 9207)', (u) => { u.searchParams.set('iss', 'https://evil.example/'); return u.href; }, 401, 'LOGIN_TOKEN_INVALID'],
    ['a state with bad percent-encoding', (u) => `${u.origin}${u.pathname}?code=x&state=%zz`, 400, 'LOGIN_STATE_MISSING'],
  ];

  for (const [name, craft, status, code] of CALLBACK_ROWS) {
    test(`callback: ${name} → ${status} ${code}`, async () => {
      const b = new HttpBrowser();
      const real = await atCallback(b);
      const r = await b.request(craft(new URL(real.href)));
      assert.deepEqual(outcome(r), { status, code }, r.body.slice(0, 400));
      assert.equal(sessionOf(b), undefined, 'no session');
    });
  }

  test('callback: the state of another browser\'s login → 400 LOGIN_STATE_MISSING, and the owner can still finish', async () => {
    const owner = new HttpBrowser();
    const real = await atCallback(owner);
    const other = new HttpBrowser();
    await atCallback(other); // a login of its own in progress, so it has login-state cookies too
    const r = await other.request(real.href);
    assert.deepEqual(outcome(r), { status: 400, code: 'LOGIN_STATE_MISSING' });
    assert.equal(sessionOf(other), undefined);
    const done = await owner.navigate(real.href);
    assert.equal(done.url, `${proxy.url}/landed`);
  });

  test('callback: replayed after the login finished → 400 LOGIN_STATE_MISSING, the session untouched', async () => {
    const b = new HttpBrowser();
    const real = await atCallback(b);
    assert.equal((await b.navigate(real.href)).status, 200);
    const session = sessionOf(b);
    assert.ok(session);
    const again = await b.request(real.href);
    assert.deepEqual(outcome(again), { status: 400, code: 'LOGIN_STATE_MISSING' });
    assert.equal(sessionOf(b), session);
  });

  test('callback: a code over the 32 KiB head limit → 431, and the proxy serves on', async () => {
    const b = new HttpBrowser();
    const real = await atCallback(b);
    real.searchParams.set('code', 'c'.repeat(40 * 1024));
    assert.equal((await b.request(real.href)).status, 431);
    assert.equal((await b.request(`${proxy.url}/ping`)).status, 200);
  });

  test('after every row: no 500 of its own, and each failure logged with its code', () => {
    assert.deepEqual(proxy.logs.lines.filter((l) => l.msg === 'unexpected error'), []);
    const codes = new Set(proxy.logs.lines.filter((l) => l.event === 'login_failed').map((l) => l.code));
    for (const c of ['LOGIN_REDEEM_FAILED', 'LOGIN_TOKEN_INVALID', 'ISSUER_BAD_RESPONSE', 'ISSUER_UNAVAILABLE', 'LOGIN_STATE_MISSING', 'LOGIN_BAD_REQUEST']) assert.ok(codes.has(c), c);
  });
});
