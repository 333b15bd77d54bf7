// Sign-out: the local session, RP-Initiated Logout at the real issuer's end_session_endpoint (in
// Chromium, and at the HTTP level), backend_logout_url, and the ID token kept only when sign-out
// needs it.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { cookieSecretBytes, deriveSealPasswords } from '../src/config/secret.js';
import { SessionCodec, type Session } from '../src/session/codec.js';
import { HttpBrowser } from './support/browser.js';
import { docBlock } from './support/docblock.js';
import { envBlock, substitute } from './support/docenv.js';
import { ARTIFACTS, launchChromium } from './support/chromium.js';
import { COOKIE_SECRET, events, loginThrough, startRig, type Rig } from './support/rig.js';
import { CLIENT_ID } from './support/stack.js';

const COOKIE = '_oauth2_proxy';
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const fn of cleanups.reverse()) await Promise.race([fn().catch(() => {}), new Promise((r) => setTimeout(r, 5_000).unref())]);
});
async function rig(o: Parameters<typeof startRig>[0]): Promise<Rig> {
  const r = await startRig(o);
  cleanups.push(() => r.close());
  return r;
}

/** What the session cookie holds, read with the proxy's own secret (the browser only ever sees the seal). */
async function sessionIn(b: HttpBrowser): Promise<Session> {
  const c = b.cookies();
  const sealed = c.get(COOKIE) ?? [0, 1, 2, 3].map((i) => c.get(`${COOKIE}_${i}`) ?? '').join('');
  const s = await new SessionCodec(deriveSealPasswords([cookieSecretBytes(COOKIE_SECRET)!], 'session'), 7 * 86_400_000).unseal(sealed);
  assert.ok(s, 'the session cookie unseals');
  return s;
}

/** A server standing for an issuer's logout URL: records what it was asked, answers `status`. */
async function recorder(status: number): Promise<{ url: string; calls: URL[]; close(): Promise<void> }> {
  const calls: URL[] = [];
  const server = http.createServer((req, res) => { calls.push(new URL(req.url!, 'http://x')); res.writeHead(status).end(); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, calls,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

describe('sign-out at the issuer (RP-Initiated Logout 1.0)', () => {
  test('in Chromium: sign-out ends the issuer session too, so the next sign-in asks who you are again', { timeout: 90_000 }, async () => {
    const r = await rig({ issuer: { interactive: true } });
    const origin = r.proxy.url;
    const browser = await launchChromium();
    cleanups.push(() => browser.close());
    const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const toEndSession: URL[] = [];
    page.on('request', (req) => { const u = new URL(req.url()); if (u.origin + u.pathname === r.issuer.endpoints.endSession) toEndSession.push(u); });
    const issuerOrigin = new URL(r.issuer.issuer).origin;
    const account = page.getByRole('button', { name: `Sign in as ${r.account.email}` });
    try {
      await page.goto(`${origin}/oauth2/start?rd=/first`);
      await account.click();
      await page.waitForURL(`${origin}/first`);
      await page.locator('#hello').waitFor();

      // Signed in at the issuer: a second login goes straight through, nobody is asked anything.
      await page.goto(`${origin}/oauth2/start?rd=/again`);
      await page.waitForURL(`${origin}/again`);

      await page.goto(`${origin}/oauth2/sign_out?rd=/bye`);
      // The issuer's logout page confirms by itself and sends the browser back to sign_out, then /bye,
      // which without a session is the sign-in page.
      await page.waitForURL((u) => u.origin === origin && u.pathname === '/oauth2/sign_in');
      assert.equal(new URL(page.url()).searchParams.get('rd'), '/bye');
      await page.screenshot({ path: join(ARTIFACTS, 'logout-signed-out.png') });
      assert.equal(toEndSession.length >= 1, true, 'the browser went to the end_session_endpoint');
      const asked = toEndSession[0]!;
      assert.equal(asked.searchParams.get('post_logout_redirect_uri'), `${origin}/oauth2/sign_out`);
      assert.equal(asked.searchParams.get('state'), '/bye');
      assert.equal(asked.searchParams.get('client_id'), CLIENT_ID);
      const hint = asked.searchParams.get('id_token_hint')!;
      const { payload } = await jwtVerify(hint, createRemoteJWKSet(new URL(r.issuer.endpoints.jwks)), { issuer: r.issuer.issuer, audience: CLIENT_ID, clockTolerance: 3600 });
      assert.equal(payload.sub, r.account.sub, 'id_token_hint is the session\'s own ID token, signed by the issuer');
      assert.deepEqual((await context.cookies(origin)).filter((c) => c.name.startsWith(COOKIE)).map((c) => c.name), []);

      // The issuer forgot the user: signing in again shows its account choice.
      await page.locator('#sign-in').click();
      await page.waitForURL((u) => u.origin === issuerOrigin && u.pathname.startsWith('/interaction/'));
      await account.waitFor();
      await page.screenshot({ path: join(ARTIFACTS, 'logout-issuer-asks-again.png') });
    } catch (err) {
      await page.screenshot({ path: join(ARTIFACTS, 'logout-failure.png'), fullPage: true }).catch(() => {});
      throw Object.assign(err as Error, { message: `${(err as Error).message}\n  at page ${page.url()} (screenshot: test-results/logout-failure.png)` });
    }
  });

  test('the redirect carries the ID token, the post-logout URI and rd as state; coming back lands on rd, never at the issuer twice', async () => {
    const r = await rig({});
    const b = await loginThrough(r.proxy.url);
    const s = await sessionIn(b);
    assert.ok(s.idToken, 'the issuer has an end_session_endpoint: the session keeps the ID token for it');
    const out = await b.request(`${r.proxy.url}/oauth2/sign_out?rd=${encodeURIComponent('/after?x=1')}`);
    assert.equal(out.status, 302);
    const to = new URL(out.headers.location!);
    assert.equal(to.origin + to.pathname, r.issuer.endpoints.endSession);
    assert.equal(to.searchParams.get('id_token_hint'), s.idToken);
    assert.equal(to.searchParams.get('post_logout_redirect_uri'), `${r.proxy.url}/oauth2/sign_out`);
    assert.equal(to.searchParams.get('state'), '/after?x=1');
    assert.ok((out.headers['set-cookie'] ?? []).some((c) => /^_oauth2_proxy=;.*Max-Age=0/.test(c)), 'the local session is cleared before leaving');

    // Back from the issuer: rd from state, checked like any rd.
    assert.equal((await b.request(`${r.proxy.url}/oauth2/sign_out?state=${encodeURIComponent('/after?x=1')}`)).headers.location, '/after?x=1');
    // An unsafe state falls back to the page that says the sign-out is done (issue 22), as no state does.
    assert.equal((await b.request(`${r.proxy.url}/oauth2/sign_out?state=${encodeURIComponent('//evil.example/')}`)).headers.location, '/oauth2/sign_in?signed_out=1');
    assert.equal((await b.request(`${r.proxy.url}/oauth2/sign_out`)).headers.location, '/oauth2/sign_in?signed_out=1');
    // Even with a session somehow still there, a return from the issuer does not go back to it.
    const again = await loginThrough(r.proxy.url);
    const back = await again.request(`${r.proxy.url}/oauth2/sign_out?state=%2Fdone`);
    assert.equal(back.headers.location, '/done');
    // Without a session there is nothing to end at the issuer.
    assert.equal((await new HttpBrowser().request(`${r.proxy.url}/oauth2/sign_out?rd=/x`)).headers.location, '/x');
    // The token never reaches the log.
    assert.doesNotMatch(r.proxy.logs.lines.map((l) => JSON.stringify(l)).join('\n'), /eyJ[\w-]+\.[\w-]+\./);
  });

  test('oauth2-proxy\'s own way: an rd (or X-Auth-Request-Redirect) on a whitelisted host with {id_token} is the issuer\'s logout URL, filled with the session\'s ID token', async () => {
    const r = await rig({ env: (issuer) => ({ OAUTH2_PROXY_WHITELIST_DOMAINS: `${new URL(issuer.issuer).host},pages.example.com` }) });
    const target = (proxyUrl: string): string =>
      // The post-logout URI the issuer knows for this client (it refuses others).
      `${r.issuer.endpoints.endSession}?id_token_hint={id_token}&post_logout_redirect_uri=${encodeURIComponent(`${proxyUrl}/oauth2/sign_out`)}&state=%2Fbye`;
    for (const how of ['rd', 'header'] as const) {
      const b = await loginThrough(r.proxy.url);
      const s = await sessionIn(b);
      const out = how === 'rd'
        ? await b.request(`${r.proxy.url}/oauth2/sign_out?rd=${encodeURIComponent(target(r.proxy.url))}`)
        : await b.request(`${r.proxy.url}/oauth2/sign_out`, { headers: { 'x-auth-request-redirect': target(r.proxy.url) } });
      assert.equal(out.status, 302, how);
      const to = new URL(out.headers.location!);
      assert.equal(to.origin + to.pathname, r.issuer.endpoints.endSession, `${how}: straight to the URL given, not a second logout of the proxy's own`);
      assert.equal(to.searchParams.get('id_token_hint'), s.idToken, `${how}: {id_token} filled`);
      assert.equal(to.searchParams.get('post_logout_redirect_uri'), `${r.proxy.url}/oauth2/sign_out`);
      assert.equal(to.searchParams.get('state'), '/bye', `${how}: ${out.headers.location}`);
      assert.ok((out.headers['set-cookie'] ?? []).some((c) => /^_oauth2_proxy=;.*Max-Age=0/.test(c)), `${how}: the local session is cleared`);
      assert.equal((await b.request(`${r.proxy.url}/x`, { headers: { accept: 'application/json', cookie: `_oauth2_proxy=${b.cookies().get('_oauth2_proxy') ?? ''}` } })).status, 401);
    }
    // The issuer's own end-session check takes the filled-in token: the browser follows it and is signed out there.
    const b = await loginThrough(r.proxy.url);
    const out = await b.request(`${r.proxy.url}/oauth2/sign_out?rd=${encodeURIComponent(target(r.proxy.url))}`);
    const atIssuer = await b.request(out.headers.location!);
    assert.ok(atIssuer.status < 400, `the issuer accepted the id_token_hint (status ${atIssuer.status})`);
    // On a host not whitelisted, nothing is filled in anywhere: the rd is refused as any other.
    const other = await loginThrough(r.proxy.url);
    const refused = await other.request(`${r.proxy.url}/oauth2/sign_out?rd=${encodeURIComponent('https://evil.example/logout?t={id_token}')}`);
    assert.doesNotMatch(refused.headers.location ?? '', /evil/);
    assert.equal(new URL(refused.headers.location!).searchParams.get('state'), '/oauth2/sign_in?signed_out=1', 'the usual sign-out at the issuer, landing on the signed-out page');
    // The token goes only to the issuer's origin, and only for an rd asked for: never to a local path
    // (an app's open redirect would carry it off), another whitelisted host, or a state coming back.
    for (const [query, what] of [
      [`rd=${encodeURIComponent('/app/redirect?to=https://evil.example/&t={id_token}')}`, 'a local path'],
      [`rd=${encodeURIComponent('https://pages.example.com/?t={id_token}')}`, 'another whitelisted host'],
      [`state=${encodeURIComponent(target(r.proxy.url))}`, 'the state'],
    ] as const) {
      const victim = await loginThrough(r.proxy.url);
      const res = await victim.request(`${r.proxy.url}/oauth2/sign_out?${query}`);
      assert.equal(res.status, 302, what);
      const location = res.headers.location ?? '';
      const filled = new URL(location, r.proxy.url);
      const carried = [...filled.searchParams.entries()].filter(([k]) => k !== 'id_token_hint' || filled.origin + filled.pathname !== r.issuer.endpoints.endSession);
      assert.ok(!carried.some(([, v]) => /eyJ[\w-]+\./.test(v)), `${what}: no token outside the issuer's own id_token_hint: ${location.slice(0, 200)}`);
    }
    // nginx sets X-Auth-Request-Redirect to the request's own URI on /oauth2/ paths: never a target (it would loop).
    const viaNginx = await loginThrough(r.proxy.url);
    const own = await viaNginx.request(`${r.proxy.url}/oauth2/sign_out`, { headers: { 'x-auth-request-redirect': '/oauth2/sign_out' } });
    assert.equal(new URL(own.headers.location!).origin + new URL(own.headers.location!).pathname, r.issuer.endpoints.endSession, 'the usual sign-out at the issuer');
    assert.equal(new URL(own.headers.location!).searchParams.get('state'), '/oauth2/sign_in?signed_out=1', 'and back to the signed-out page');
    assert.doesNotMatch(r.proxy.logs.lines.map((l) => JSON.stringify(l)).join('\n'), /eyJ[\w-]+\.[\w-]+\./, 'the token never reaches the log');
  });

  test('a session too large for the cookie with its ID token is kept without it, and sign-out goes without id_token_hint', async () => {
    // Groups in the ID token as well (claimsInIdToken) make the token as large as the session.
    const groups = Array.from({ length: 200 }, (_, i) => `group-number-${String(i).padStart(5, '0')}`);
    const r = await rig({ issuer: { claimsInIdToken: true }, account: { sub: 'big-1', email: 'big@example.com', email_verified: true, groups } });
    const b = await loginThrough(r.proxy.url);
    const s = await sessionIn(b);
    assert.equal(s.groups.length, 200);
    assert.equal(s.idToken, undefined);
    assert.equal(events(r.proxy, 'session_id_token_dropped').length, 1);
    const to = new URL((await b.request(`${r.proxy.url}/oauth2/sign_out`)).headers.location!);
    assert.equal(to.origin + to.pathname, r.issuer.endpoints.endSession);
    assert.equal(to.searchParams.get('id_token_hint'), null);
    assert.equal(to.searchParams.get('client_id'), CLIENT_ID, 'client_id tells the issuer whose post-logout URI it is');
  });
});

describe('backend_logout_url', () => {
  test('is called by the proxy at sign-out with {id_token} replaced; the token is never logged', async () => {
    const logoutAt = await recorder(200);
    cleanups.push(() => logoutAt.close());
    const r = await rig({ env: { OAUTH2_PROXY_BACKEND_LOGOUT_URL: `${logoutAt.url}/realms/x/protocol/openid-connect/logout?id_token_hint={id_token}` } });
    const b = await loginThrough(r.proxy.url);
    const s = await sessionIn(b);
    const out = await b.request(`${r.proxy.url}/oauth2/sign_out?rd=/bye`);
    assert.equal(out.status, 302);
    assert.equal(logoutAt.calls.length, 1, 'called before the answer');
    assert.equal(logoutAt.calls[0]!.pathname, '/realms/x/protocol/openid-connect/logout');
    assert.equal(logoutAt.calls[0]!.searchParams.get('id_token_hint'), s.idToken);
    const logged = events(r.proxy, 'backend_logout');
    assert.equal(logged.length, 1);
    assert.equal(logged[0]!.status, 200);
    assert.doesNotMatch(JSON.stringify(r.proxy.logs.lines), /eyJ[\w-]+\.[\w-]+\./, 'no token in the log');
  });

  test('a failing backend logout is logged and the sign-out still completes', async () => {
    const logoutAt = await recorder(500);
    cleanups.push(() => logoutAt.close());
    const r = await rig({ env: { OAUTH2_PROXY_BACKEND_LOGOUT_URL: `${logoutAt.url}/logout?token={id_token}` } });
    const b = await loginThrough(r.proxy.url);
    const out = await b.request(`${r.proxy.url}/oauth2/sign_out`);
    assert.equal(out.status, 302);
    assert.ok((out.headers['set-cookie'] ?? []).some((c) => /^_oauth2_proxy=;.*Max-Age=0/.test(c)));
    assert.equal(events(r.proxy, 'backend_logout_failed')[0]?.status, 500);
    await logoutAt.close();
    const b2 = await loginThrough(r.proxy.url);
    assert.equal((await b2.request(`${r.proxy.url}/oauth2/sign_out`)).status, 302, 'an unreachable one too');
    assert.equal(events(r.proxy, 'backend_logout_failed').length, 2);
  });
});

describe('docs/sessions.md as written: the logout environment, and an rd that is the issuer\'s logout URL', () => {
  test('backend_logout_url: the proxy GETs the issuer\'s logout endpoint with the session\'s ID token, then sends the browser to its end_session_endpoint', async () => {
    const env = envBlock('sessions-logout-env');
    assert.deepEqual(Object.keys(env), ['OAUTH2_PROXY_BACKEND_LOGOUT_URL']);
    // Substituted: Keycloak's logout URL (https://idp.example.com/realms/main/…/logout) by the test
    // issuer's own (oidc-provider, plain http; its query as written). startRig adds the rest to reach
    // it, and registers the proxy's /oauth2/sign_out as a post-logout redirect URI as the page says.
    const r = await rig({ env: (issuer) => substitute(env, { 'https://idp.example.com/realms/main/protocol/openid-connect/logout': issuer.endpoints.endSession }) });
    const endSessionPath = new URL(r.issuer.endpoints.endSession).pathname;
    const b = await loginThrough(r.proxy.url);
    const s = await sessionIn(b);
    const before = r.issuer.seen.get(endSessionPath)?.count ?? 0;
    const out = await b.request(`${r.proxy.url}/oauth2/sign_out?rd=/goodbye`);
    assert.equal(out.status, 302);
    assert.equal(r.issuer.seen.get(endSessionPath)?.count, before + 1, 'the proxy called the issuer itself');
    assert.equal(events(r.proxy, 'backend_logout')[0]?.status, 200, 'and the issuer took the ID token it was given');
    const to = new URL(out.headers.location!);
    assert.equal(to.origin + to.pathname, r.issuer.endpoints.endSession);
    assert.equal(to.searchParams.get('id_token_hint'), s.idToken);
    assert.equal(to.searchParams.get('post_logout_redirect_uri'), `${r.proxy.url}/oauth2/sign_out`);
    assert.equal(to.searchParams.get('state'), '/goodbye');
    assert.ok((await b.request(out.headers.location!)).status < 400, 'the issuer accepts the redirect (its post-logout URI registered)');
  });

  test('whitelist_domains and the rd as written: straight to that URL, {id_token} filled with the session\'s ID token', async () => {
    const block = docBlock('sessions-sign-out-rd', 'sh');
    const whitelist = /^\s*# whitelist_domains=(\S+)/m.exec(block)?.[1];
    const path = block.split('\n').map((l) => l.trim()).find((l) => l.startsWith('/oauth2/sign_out'));
    assert.ok(whitelist && path, block);
    // Substituted: https://idp.example.com by the test issuer's origin (plain http, a port) and
    // https://app.example.com by the proxy's, in the whitelist and (URL-encoded) in the rd.
    const r = await rig({ env: (issuer) => ({ OAUTH2_PROXY_WHITELIST_DOMAINS: whitelist.replace('idp.example.com', new URL(issuer.issuer).host) }) });
    const idp = new URL(r.issuer.issuer).origin;
    const query = path.replaceAll(encodeURIComponent('https://idp.example.com'), encodeURIComponent(idp)).replaceAll(encodeURIComponent('https://app.example.com'), encodeURIComponent(r.proxy.url));
    const b = await loginThrough(r.proxy.url);
    const s = await sessionIn(b);
    const out = await b.request(`${r.proxy.url}${query}`);
    assert.equal(out.status, 302);
    const to = new URL(out.headers.location!);
    assert.equal(to.origin + to.pathname, `${idp}/logout`);
    assert.equal(to.searchParams.get('id_token_hint'), s.idToken);
    assert.equal(to.searchParams.get('post_logout_redirect_uri'), `${r.proxy.url}/`);
    assert.ok((out.headers['set-cookie'] ?? []).some((c) => /^_oauth2_proxy=;.*Max-Age=0/.test(c)), 'the local session is cleared');
  });
});

describe('what a session keeps', () => {
  test('no ID token, refresh token or access token unless a feature needs it', async () => {
    // Endpoints by hand (no discovery): no end_session_endpoint, so sign-out is local.
    const local = await rig({
      env: (issuer) => ({
        OAUTH2_PROXY_SKIP_OIDC_DISCOVERY: 'true',
        OAUTH2_PROXY_LOGIN_URL: issuer.endpoints.authorization,
        OAUTH2_PROXY_REDEEM_URL: issuer.endpoints.token,
        OAUTH2_PROXY_OIDC_JWKS_URL: issuer.endpoints.jwks,
        OAUTH2_PROXY_VALIDATE_URL: issuer.endpoints.userinfo,
      }),
    });
    const b = await loginThrough(local.proxy.url);
    const s = await sessionIn(b);
    assert.deepEqual([s.idToken, s.refreshToken, s.accessToken], [undefined, undefined, undefined]);
    assert.equal((await b.request(`${local.proxy.url}/oauth2/sign_out?rd=/x`)).headers.location, '/x', 'no end_session_endpoint: local sign-out');

    const all = await rig({ env: { OAUTH2_PROXY_PASS_ACCESS_TOKEN: 'true', OAUTH2_PROXY_COOKIE_REFRESH: '1h', OAUTH2_PROXY_PROMPT: 'consent' } });
    const full = await sessionIn(await loginThrough(all.proxy.url));
    assert.ok(full.idToken && full.refreshToken && full.accessToken, 'each kept when its feature is on');
  });
});
