// Session lifetime against a real issuer (oidc-provider) whose token lifetimes the test sets short:
// cookie_refresh with the refresh token (single flight, rotation, invalid_grant, outages) and
// cookie_expire. The proxy runs in this process; every wait is a real one, bounded.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { HttpBrowser, type Response } from './support/browser.js';
import { COOKIE_SECRET, events as logEvents, loginThrough, startRig, type Rig } from './support/rig.js';
import type { DevIssuer, DevIssuerOptions } from '../src/devissuer/issuer.js';
import { cookieSecretBytes, deriveSealPasswords } from '../src/config/secret.js';
import { SessionCodec } from '../src/session/codec.js';
import { envBlock } from './support/docenv.js';

const JSON_ACCEPT = { accept: 'application/json' };
const COOKIE = '_oauth2_proxy';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * An upstream that echoes the headers it got as JSON and sets a cookie of its own, so that a
 * refreshed session's cookies must go out beside the application's.
 */
function startUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': ['app=kept; Path=/', 'app2=kept; Path=/'] });
    res.end(JSON.stringify({ headers: req.headers }));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  })));
}

const rigs: Rig[] = [];
after(async () => { for (const r of rigs) await r.close(); });
async function rig(env: Record<string, string>, issuer?: Partial<DevIssuerOptions>): Promise<Rig> {
  const r = await startRig({ env, issuer, upstream: await startUpstream() });
  rigs.push(r);
  return r;
}

const login = (r: Rig): Promise<HttpBrowser> => loginThrough(r.proxy.url);

function sessionCookieSet(res: Response): string | undefined {
  return (res.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${COOKIE}=`) && !/Max-Age=0/.test(c));
}

function upstreamHeaders(res: Response): Record<string, string> {
  assert.equal(res.status, 200, `expected the upstream, got ${res.status}: ${res.body.slice(0, 300)}`);
  return (JSON.parse(res.body) as { headers: Record<string, string> }).headers;
}

/** The issuer's userinfo answer for an access token: 200 while it is valid, 401 once expired. */
async function userinfoStatus(issuer: DevIssuer, accessToken: string): Promise<number> {
  return (await fetch(issuer.endpoints.userinfo, { headers: { authorization: `Bearer ${accessToken}` } })).status;
}

const events = (r: Rig, event: string): Array<Record<string, unknown>> => logEvents(r.proxy, event);

const REFRESHING = {
  OAUTH2_PROXY_COOKIE_REFRESH: '1s',
  OAUTH2_PROXY_PASS_ACCESS_TOKEN: 'true',
  // oidc-provider grants offline_access (and so a refresh token) only with prompt=consent (OIDC Core §11).
  OAUTH2_PROXY_PROMPT: 'consent',
};

describe('cookie_refresh', () => {
  test('a session older than cookie_refresh is refreshed: new cookie, fresh access token, claims read again', { timeout: 30_000 }, async () => {
    const r = await rig(REFRESHING, { ttl: { accessToken: 3 } });
    const b = await login(r);
    const first = upstreamHeaders(await b.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT }));
    const token1 = first['x-forwarded-access-token']!;
    assert.equal(first['x-forwarded-groups'], 'staff');
    assert.equal(await userinfoStatus(r.issuer, token1), 200);
    assert.ok(!b.cookies().get(COOKIE)!.includes('refresh'), 'sealed: no token in clear');

    // The issuer changes the account's groups; the refresh reads them again.
    r.account.groups = ['staff', 'ops'];
    await sleep(1_200);
    const res = await b.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT });
    const second = upstreamHeaders(res);
    assert.ok(sessionCookieSet(res), `a refreshed session gets a new cookie: ${res.headers['set-cookie']}`);
    assert.deepEqual((res.headers['set-cookie'] ?? []).filter((c) => c.startsWith('app')).map((c) => c.split(';')[0]), ['app=kept', 'app2=kept'],
      'the upstream\'s own cookies still go out, every one');
    assert.notEqual(second['x-forwarded-access-token'], token1, 'the upstream gets the new access token');
    assert.equal(second['x-forwarded-groups'], 'staff,ops', 'email and groups are read again at the refresh');
    assert.equal(r.issuer.refreshGrants.succeeded, 1);
    assert.equal(events(r, 'session_refreshed').length, 1);

    // Past the first access token's lifetime the proxy has kept the upstream's token valid.
    await sleep(2_200);
    const third = upstreamHeaders(await b.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT }));
    assert.equal(await userinfoStatus(r.issuer, token1), 401, 'the first access token has expired at the issuer');
    assert.equal(await userinfoStatus(r.issuer, third['x-forwarded-access-token']!), 200, 'the one the upstream gets now is valid');

    // Forward-auth answers carry the refreshed cookie too (nginx passes it on with auth_request_set).
    await sleep(1_100);
    const auth = await b.request(`${r.proxy.url}/oauth2/auth`, { headers: JSON_ACCEPT });
    assert.equal(auth.status, 202);
    assert.ok(sessionCookieSet(auth), 'the 202 carries the refreshed session cookie');
  });

  test('requests arriving together refresh once, and an older copy of the cookie gets the newer session (rotating refresh tokens)', { timeout: 30_000 }, async () => {
    const r = await rig(REFRESHING, { rotateRefreshTokens: true });
    const b = await login(r);
    const old = b.cookies().get(COOKIE)!;
    await sleep(1_200);
    const answers = await Promise.all(Array.from({ length: 8 }, () => b.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT })));
    assert.deepEqual(answers.map((a) => a.status), Array(8).fill(200));
    assert.equal(r.issuer.refreshGrants.succeeded, 1, 'one refresh for eight requests');
    assert.equal(r.issuer.refreshGrants.failed, 0);
    const fresh = sessionCookieSet(answers[0]!)!.split(';')[0]!.slice(COOKIE.length + 1);
    assert.ok(answers.every((a) => sessionCookieSet(a)?.includes(fresh)), 'every answer carries the same new session');

    // A tab that still sends the old cookie: no second refresh (its refresh token is spent, and
    // presenting it again would make the issuer revoke the grant); it is handed the new session.
    const stale = new HttpBrowser();
    stale.setCookie('127.0.0.1', COOKIE, old);
    const again = await stale.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT });
    assert.equal(again.status, 200);
    assert.ok(sessionCookieSet(again)?.includes(fresh));
    assert.equal(r.issuer.refreshGrants.succeeded, 1);
    assert.equal(r.issuer.refreshGrants.failed, 0);

    // And the next refresh uses the rotated token.
    await sleep(1_200);
    assert.equal((await b.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT })).status, 200);
    assert.equal(r.issuer.refreshGrants.succeeded, 2);
    assert.equal(r.issuer.refreshGrants.failed, 0);
  });

  test('invalid_grant ends the session: the API gets 401 with the cookie cleared, a browser is sent to sign in', { timeout: 30_000 }, async () => {
    const r = await rig(REFRESHING);
    const b = await login(r);
    const copy = b.cookies().get(COOKIE)!;
    assert.ok(r.issuer.revokeRefreshTokens(r.account.sub) >= 1);
    await sleep(1_200);
    const api = await b.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT });
    assert.equal(api.status, 401);
    assert.equal(JSON.parse(api.body).error, 'UNAUTHENTICATED');
    assert.ok((api.headers['set-cookie'] ?? []).some((c) => /^_oauth2_proxy=;.*Max-Age=0/.test(c)), 'the cookie is cleared');
    const refused = events(r, 'session_refresh_refused');
    assert.equal(refused.length, 1);
    assert.match(String(refused[0]!.detail), /invalid_grant/);

    const other = new HttpBrowser();
    other.setCookie('127.0.0.1', COOKIE, copy);
    const page = await other.request(`${r.proxy.url}/app?x=1`);
    assert.equal(page.status, 302);
    assert.equal(page.headers.location, '/oauth2/sign_in?rd=%2Fapp%3Fx%3D1');
    assert.equal(r.issuer.refreshGrants.failed, 1, 'the ended session is not tried again');
  });

  test('an issuer outage keeps the session, and the refresh is tried again once the issuer is back', { timeout: 30_000 }, async () => {
    const r = await rig(REFRESHING);
    const b = await login(r);
    await r.issuer.stop();
    await sleep(1_200);
    const during = await b.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT });
    upstreamHeaders(during);
    assert.equal(sessionCookieSet(during), undefined, 'no new cookie while the issuer is down');
    const failed = events(r, 'session_refresh_failed');
    assert.equal(failed.length, 1);
    assert.equal(failed[0]!.code, 'ISSUER_UNAVAILABLE');
    // Not tried on every request meanwhile: an outage must not add the issuer's timeout to each one.
    upstreamHeaders(await b.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT }));
    assert.equal(events(r, 'session_refresh_failed').length, 1);

    await r.issuer.start();
    await sleep(1_100);
    const back = await b.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT });
    upstreamHeaders(back);
    assert.ok(sessionCookieSet(back), 'refreshed once the issuer answers again');
    assert.equal(r.issuer.refreshGrants.succeeded, 1);
  });

  test('a 5xx or a load balancer\'s HTML error page from the token endpoint keeps the session too', { timeout: 30_000 }, async () => {
    const r = await rig(REFRESHING);
    const b = await login(r);
    r.issuer.breakTokenEndpoint({ status: 502, contentType: 'text/html', body: '<html><body><h1>502 Bad Gateway</h1></body></html>' });
    await sleep(1_200);
    upstreamHeaders(await b.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT }));
    r.issuer.breakTokenEndpoint({ status: 503, contentType: 'application/json', body: '{"error":"temporarily_unavailable"}' });
    await sleep(1_100);
    upstreamHeaders(await b.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT }));
    const failed = events(r, 'session_refresh_failed').map((l) => l.code);
    assert.deepEqual(failed.length, 2, `two failed attempts: ${JSON.stringify(failed)}`);
    assert.ok(failed.every((c) => c === 'ISSUER_UNAVAILABLE' || c === 'ISSUER_BAD_RESPONSE'), String(failed));
    r.issuer.breakTokenEndpoint(undefined);
    await sleep(1_100);
    assert.ok(sessionCookieSet(await b.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT })));
    assert.equal(events(r, 'session_refreshed').length, 1);
  });

  test('offline_access is asked for when the issuer lists it; without the consent oidc-provider wants, no refresh token and a warning', { timeout: 30_000 }, async () => {
    const r = await rig({ OAUTH2_PROXY_COOKIE_REFRESH: '1s' });
    const start = await new HttpBrowser().request(`${r.proxy.url}/oauth2/start`);
    const auth = new URL(start.headers.location!);
    assert.equal(auth.searchParams.get('scope'), 'openid email profile groups offline_access');
    assert.equal(auth.searchParams.get('prompt'), null, 'no prompt unless configured');
    const b = await login(r);
    assert.equal(events(r, 'no_refresh_token').length, 1, 'the operator is told why sessions will not be refreshed');
    await sleep(1_200);
    assert.equal((await b.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT })).status, 200, 'a session without a refresh token lives on');
    assert.equal(r.issuer.refreshGrants.succeeded + r.issuer.refreshGrants.failed, 0);

    const plain = await rig({});
    const scope = new URL((await new HttpBrowser().request(`${plain.proxy.url}/oauth2/start`)).headers.location!).searchParams.get('scope');
    assert.equal(scope, 'openid email profile groups', 'without cookie_refresh the scope is as configured');
  });
});

describe('cookie_expire', () => {
  test('ends a session: a browser is sent to sign in and an API gets 401, even with a kept copy of the cookie', { timeout: 30_000 }, async () => {
    const r = await rig({ OAUTH2_PROXY_COOKIE_EXPIRE: '2s' });
    const b = await login(r);
    const copy = b.cookies().get(COOKIE)!;
    upstreamHeaders(await b.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT }));
    await sleep(2_300);
    // The browser itself dropped the cookie (Max-Age=2)...
    const page = await b.request(`${r.proxy.url}/app`);
    assert.equal(page.status, 302);
    assert.equal(page.headers.location, '/oauth2/sign_in?rd=%2Fapp');
    // ...and a copy kept past its expiry is refused by the proxy itself.
    const replay = new HttpBrowser();
    replay.setCookie('127.0.0.1', COOKIE, copy);
    assert.equal((await replay.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT })).status, 401);
    assert.equal((await replay.request(`${r.proxy.url}/app`)).status, 302);
  });

  test('with cookie_refresh and the issuer down, the session lasts until cookie_expire and no longer', { timeout: 30_000 }, async () => {
    const r = await rig({ ...REFRESHING, OAUTH2_PROXY_COOKIE_EXPIRE: '3s' });
    const b = await login(r);
    const copy = b.cookies().get(COOKIE)!;
    await r.issuer.stop();
    await sleep(1_500);
    upstreamHeaders(await b.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT }));
    await sleep(1_800);
    const replay = new HttpBrowser();
    replay.setCookie('127.0.0.1', COOKIE, copy);
    assert.equal((await replay.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT })).status, 401, 'past cookie_expire');
  });
});

/** A real redis-server, the rig's proxy on it with cookie_refresh, and a second replica of it. */
async function twoReplicas(issuer: Partial<DevIssuerOptions> = {}) {
  const { startRedis, startReady } = await import('./support/redis.js');
  const { CLIENT_ID, CLIENT_SECRET } = await import('./support/stack.js');
  const { COOKIE_SECRET } = await import('./support/rig.js');
  const redis = await startRedis();
  const upstream = await startUpstream();
  const extra = { ...REFRESHING, OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_CONNECTION_URL: redis.url };
  const r = await startRig({ env: extra, upstream, issuer });
  const replica = await startReady({
    OAUTH2_PROXY_OIDC_ISSUER_URL: r.issuer.issuer, OAUTH2_PROXY_CLIENT_ID: CLIENT_ID, OAUTH2_PROXY_CLIENT_SECRET: CLIENT_SECRET,
    OAUTH2_PROXY_COOKIE_SECRET: COOKIE_SECRET, OAUTH2_PROXY_COOKIE_SECURE: 'false', OAUTH2_PROXY_EMAIL_DOMAINS: '*',
    OAUTH2_PROXY_UPSTREAMS: upstream.url, OAUTH2_PROXY_SCOPE: 'openid email profile groups', ...extra,
  });
  return { r, replica, redis, close: async () => { await replica.close(); await r.close(); await redis.close(); } };
}

describe('cookie_refresh with sessions in Redis (a real redis-server, two replicas)', () => {
  test('a sign-out while a refresh is under way stays a sign-out: the refresh does not write the session back, and its answer deletes the cookie', { timeout: 60_000 }, async () => {
    const { r, replica, redis, close } = await twoReplicas();
    try {
      const b = await login(r);
      const cookie = b.cookieHeader(new URL(r.proxy.url));
      await sleep(1_200);
      r.issuer.slowTokenEndpoint(1_000);
      const refreshing = new HttpBrowser().request(`${r.proxy.url}/`, { headers: { ...JSON_ACCEPT, cookie } });
      await sleep(300);
      const out = await new HttpBrowser().request(`${replica.url}/oauth2/sign_out`, { headers: { cookie } });
      assert.equal(out.status, 302);
      const during = await refreshing;
      assert.equal(during.status, 401, `the request whose refresh outlived the sign-out is not signed in: ${during.body.slice(0, 200)}`);
      assert.ok((during.headers['set-cookie'] ?? []).some((c) => /^_oauth2_proxy=; .*Max-Age=0/.test(c)), 'its answer deletes the session cookie');
      r.issuer.slowTokenEndpoint(0);
      assert.equal(redis.cli('--scan', '--pattern', 'portcullis:_oauth2_proxy:session:*').trim(), '', 'no session written back to Redis');
      assert.equal((await new HttpBrowser().request(`${replica.url}/`, { headers: { ...JSON_ACCEPT, cookie } })).status, 401);
      assert.equal(events(r, 'session_refresh_dropped').length, 1);
    } finally {
      await close();
    }
  });

  test('two replicas due at once refresh once (the other goes on with the session as it is); with rotating refresh tokens no spent token is presented, and the session lives on', { timeout: 60_000 }, async () => {
    const { r, replica, redis, close } = await twoReplicas({ rotateRefreshTokens: true });
    try {
      const b = await login(r);
      const cookie = b.cookieHeader(new URL(r.proxy.url));
      const ask = (url: string): Promise<Response> => new HttpBrowser().request(`${url}/`, { headers: { ...JSON_ACCEPT, cookie } });
      assert.equal((await ask(replica.url)).status, 200);
      await sleep(1_200);
      const both = await Promise.all([ask(r.proxy.url), ask(replica.url), ask(r.proxy.url), ask(replica.url)]);
      assert.deepEqual(both.map((x) => x.status), [200, 200, 200, 200]);
      assert.equal(r.issuer.refreshGrants.failed, 0, 'no refresh with a spent (rotated) refresh token');
      assert.equal(r.issuer.refreshGrants.succeeded, 1);
      await sleep(200);
      assert.equal((await ask(replica.url)).status, 200, 'the session lives on, on both replicas');
      assert.equal((await ask(r.proxy.url)).status, 200);
    } finally {
      await close();
    }
  });

  test('a refresh keeps the session id: the other replica drops its cached copy and serves the new session from an older cookie, without refreshing again; sign-out of either cookie ends both', { timeout: 60_000 }, async () => {
    const { r, replica, redis, close } = await twoReplicas();
    try {
      const b = await login(r);
      const older = b.cookieHeader(new URL(r.proxy.url));
      const viaReplica = (cookie: string): Promise<Response> => new HttpBrowser().request(`${replica.url}/`, { headers: { ...JSON_ACCEPT, cookie } });
      assert.equal(upstreamHeaders(await viaReplica(older))['x-forwarded-groups'], 'staff', 'the replica serves (and caches) the session');

      r.account.groups = ['staff', 'ops'];
      await sleep(1_200);
      const refreshed = await b.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT });
      assert.equal(upstreamHeaders(refreshed)['x-forwarded-groups'], 'staff,ops');
      assert.ok(sessionCookieSet(refreshed), 'the ticket cookie goes out again (new lifetime)');
      assert.equal(r.issuer.refreshGrants.succeeded, 1);
      const newer = b.cookieHeader(new URL(r.proxy.url));

      // The replica heard of the change (pub/sub): the older cookie names the same session, now refreshed.
      let groups = '';
      for (const until = Date.now() + 5_000; Date.now() < until && groups !== 'staff,ops'; await sleep(50)) {
        groups = upstreamHeaders(await viaReplica(older))['x-forwarded-groups'] ?? '';
      }
      assert.equal(groups, 'staff,ops', 'the replica serves the refreshed session, not its stale cached copy');
      assert.equal(r.issuer.refreshGrants.succeeded, 1, 'no second refresh with a spent refresh token');
      assert.equal(redis.cli('--scan', '--pattern', 'portcullis:_oauth2_proxy:session:*').trim().split('\n').filter(Boolean).length, 1, 'one session in Redis, not two');

      // Sign-out on the replica with the older cookie ends the session the newer cookie names too.
      const out = await new HttpBrowser().request(`${replica.url}/oauth2/sign_out`, { headers: { cookie: older } });
      assert.equal(out.status, 302);
      const after = await new HttpBrowser().request(`${r.proxy.url}/`, { headers: { ...JSON_ACCEPT, cookie: newer } });
      assert.equal(after.status, 401, 'the refreshed session ended everywhere');
    } finally {
      await close();
    }
  });
});

describe('cookie_refresh and step-up', () => {
  test('a refresh without a new ID token keeps how the user signed in: an acr that only userinfo states never meets a step-up rule', { timeout: 60_000 }, async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const rules = join(mkdtempSync(join(tmpdir(), 'portcullis-acr-')), 'routes.yaml');
    writeFileSync(rules, 'rules:\n  - match: { path: /mfa }\n    require: { acr_values: [urn:example:mfa] }\n');
    const r = await startRig({
      env: { ...REFRESHING, OAUTH2_PROXY_ROUTES_FILE: rules }, issuer: { noIdTokenOnRefresh: true }, upstream: await startUpstream(),
      account: { sub: 'rig-user-1', email: 'rita@example.com', email_verified: true, groups: ['staff'], claims: { acr: 'urn:example:mfa' } },
    });
    rigs.push(r);
    const b = await login(r);
    const token = upstreamHeaders(await b.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT }))['x-forwarded-access-token']!;
    const info = await (await fetch(r.issuer.endpoints.userinfo, { headers: { authorization: `Bearer ${token}` } })).json() as Record<string, unknown>;
    assert.equal(info.acr, 'urn:example:mfa', 'the precondition: userinfo states the acr');
    assert.equal((await b.request(`${r.proxy.url}/mfa`, { headers: JSON_ACCEPT })).status, 401, 'the login did not meet the rule');
    await sleep(1_200);
    const after = await b.request(`${r.proxy.url}/mfa`, { headers: JSON_ACCEPT });
    assert.equal(events(r, 'session_refreshed').length, 1, 'refreshed, without an ID token');
    assert.equal(after.status, 401, 'userinfo says who, not how: still STEP_UP_REQUIRED');
    assert.equal((JSON.parse(after.body) as { error: string }).error, 'STEP_UP_REQUIRED');
  });
});

describe('docs/sessions.md as written: the lifetime environment (12h, 30m, prompt=consent)', () => {
  test('a refresh token is asked for and kept; the cookie and the seal last 12 h; a session 31 minutes old is refreshed, one 29 minutes old is not', { timeout: 30_000 }, async () => {
    const env = envBlock('sessions-lifetime-env');
    assert.deepEqual(Object.keys(env), ['OAUTH2_PROXY_COOKIE_EXPIRE', 'OAUTH2_PROXY_COOKIE_REFRESH', 'OAUTH2_PROXY_PROMPT']);
    // Added by startRig to reach its issuer: its URL, client id and secret, the cookie secret
    // (Secure off: plain http), email domains, upstream, scope.
    const r = await rig(env);
    const auth = new URL((await new HttpBrowser().request(`${r.proxy.url}/oauth2/start`)).headers.location!);
    assert.equal(auth.searchParams.get('prompt'), 'consent');
    assert.match(auth.searchParams.get('scope') ?? '', /\boffline_access\b/);
    const b = await login(r);
    assert.equal(events(r, 'no_refresh_token').length, 0, 'the issuer sent a refresh token');
    // What the seal holds, and older copies of it: the test seals them with the proxy's own secret,
    // since no test waits half an hour.
    const codec = new SessionCodec(deriveSealPasswords([cookieSecretBytes(COOKIE_SECRET)!], 'session'), 86_400_000);
    const session = await codec.unseal(b.cookies().get(COOKIE)!);
    assert.ok(session?.refreshToken, 'the session keeps the refresh token');
    assert.equal(session.expiresAt - session.createdAt, 12 * 3600_000, 'cookie_expire=12h inside the seal');
    const aged = async (minutes: number): Promise<Response> => {
      const copy = new HttpBrowser();
      copy.setCookie('127.0.0.1', COOKIE, await codec.seal({ ...session, createdAt: Date.now() - minutes * 60_000 }));
      return copy.request(`${r.proxy.url}/`, { headers: JSON_ACCEPT });
    };
    const young = await aged(29);
    upstreamHeaders(young);
    assert.equal(sessionCookieSet(young), undefined, 'not yet due');
    assert.equal(r.issuer.refreshGrants.succeeded, 0);
    const due = await aged(31);
    upstreamHeaders(due);
    assert.match(sessionCookieSet(due) ?? '', /Max-Age=43200\b/, 'refreshed: a new cookie for a new 12 h window');
    assert.equal(r.issuer.refreshGrants.succeeded, 1);
  });
});
