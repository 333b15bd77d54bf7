import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpBrowser } from './support/browser.js';
import { ALICE, CLIENT_SECRET, startStack, type Echoed, type Stack } from './support/stack.js';

const JSON_ACCEPT = { accept: 'application/json' };

/** Logs in through the proxy like a browser; returns the browser with its session cookie. */
async function login(stack: Stack, rd = '/'): Promise<{ browser: HttpBrowser; landed: string }> {
  const browser = new HttpBrowser();
  const res = await browser.navigate(`${stack.proxy.url}/oauth2/start?rd=${encodeURIComponent(rd)}`);
  assert.equal(res.status, 200, `login should end on the upstream, got ${res.status} at ${res.url}: ${res.body.slice(0, 300)}`);
  return { browser, landed: res.url };
}

async function echoed(browser: HttpBrowser, url: string, headers: Record<string, string> = {}): Promise<Echoed> {
  const res = await browser.request(url, { headers: { ...JSON_ACCEPT, ...headers } });
  assert.equal(res.status, 200, `expected the upstream, got ${res.status}: ${res.body.slice(0, 300)}`);
  return JSON.parse(res.body) as Echoed;
}

describe('login against a Hydra-shaped issuer (discovery)', () => {
  let stack: Stack;
  before(async () => { stack = await startStack({ shape: 'hydra' }); });
  after(async () => { await stack?.close(); });

  test('an anonymous browser is sent to sign in, keeping where it was going; an API call gets 401 JSON', async () => {
    const b = new HttpBrowser();
    const page = await b.request(`${stack.proxy.url}/app/page?x=1`);
    assert.equal(page.status, 302);
    assert.equal(page.headers.location, '/oauth2/sign_in?rd=%2Fapp%2Fpage%3Fx%3D1');
    const signIn = await b.request(new URL(page.headers.location!, stack.proxy.url).href);
    assert.equal(signIn.status, 200);
    assert.match(signIn.body, /href="\/oauth2\/start\?rd=%2Fapp%2Fpage%3Fx%3D1"/);
    const api = await b.request(`${stack.proxy.url}/app/page`, { headers: JSON_ACCEPT });
    assert.equal(api.status, 401);
    assert.equal(JSON.parse(api.body).error, 'UNAUTHENTICATED');
  });

  test('the start redirect carries PKCE S256, state and nonce', async () => {
    const b = new HttpBrowser();
    const res = await b.request(`${stack.proxy.url}/oauth2/start?rd=/x`);
    assert.equal(res.status, 302);
    const auth = new URL(res.headers.location!);
    assert.equal(auth.origin + auth.pathname, stack.issuer.endpoints.authorization);
    assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
    assert.match(auth.searchParams.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.ok((auth.searchParams.get('state') ?? '').length >= 32);
    assert.ok((auth.searchParams.get('nonce') ?? '').length >= 32);
    const stateCookie = (res.headers['set-cookie'] ?? []).find((c) => c.startsWith('_oauth2_proxy_csrf_'));
    assert.ok(stateCookie, 'a login-state cookie is set');
    assert.match(stateCookie, /; Path=\/oauth2;/);
    assert.match(stateCookie, /; HttpOnly/);
    assert.match(stateCookie, /; SameSite=Lax/);
  });

  test('after login the upstream gets the subject, email, groups and username, and never the session cookie', async () => {
    const { browser, landed } = await login(stack, '/anything/deep?q=1');
    assert.equal(landed, `${stack.proxy.url}/anything/deep?q=1`);
    browser.setCookie('127.0.0.1', 'app_cookie', 'kept');
    const e = await echoed(browser, `${stack.proxy.url}/anything/deep?q=1`);
    assert.equal(e.url, '/anything/deep?q=1');
    assert.equal(e.headers['x-forwarded-user'], ALICE.sub);
    assert.equal(e.headers['x-forwarded-email'], ALICE.email);
    assert.equal(e.headers['x-forwarded-groups'], 'admins,devs');
    assert.equal(e.headers['x-forwarded-preferred-username'], 'alice');
    assert.equal(e.headers['x-forwarded-access-token'], undefined, 'tokens are not passed unless asked');
    // Cookies are not isolated by port: the issuer's own cookies on 127.0.0.1 come along, as in a browser.
    const names = String(e.headers.cookie).split('; ').map((c) => c.split('=')[0]);
    assert.ok(names.includes('app_cookie'), 'the application\'s own cookie reaches the upstream');
    assert.deepEqual(names.filter((n) => n!.startsWith('_oauth2_proxy')), [], 'no proxy cookie reaches the upstream');
    const logLine = await stack.proxy.waitForLog((l) => l.event === 'login');
    assert.equal(logLine.user, ALICE.sub);
  });

  test('the session cookie is HttpOnly and SameSite=Lax, and lasts cookie_expire', async () => {
    const browser = new HttpBrowser();
    const toIssuer = await browser.navigate(`${stack.proxy.url}/oauth2/start`, { stopAt: (u) => u.pathname === '/oauth2/callback' });
    const callback = await browser.request(toIssuer.url);
    assert.equal(callback.status, 302);
    const session = (callback.headers['set-cookie'] ?? []).find((c) => c.startsWith('_oauth2_proxy='));
    assert.ok(session, `session cookie set: ${callback.headers['set-cookie']}`);
    assert.match(session, /; Path=\/;/);
    assert.match(session, /; Max-Age=604800;/);
    assert.match(session, /; HttpOnly/);
    assert.match(session, /; SameSite=Lax/);
    assert.doesNotMatch(session, /; Secure/, 'cookie_secure=false in this stack');
    assert.ok((callback.headers['set-cookie'] ?? []).some((c) => /^_oauth2_proxy_csrf_[\w-]+=;.*Max-Age=0/.test(c)), 'the login-state cookie is cleared');
  });

  test('identity headers sent by the client are removed in every spelling', async () => {
    const { browser } = await login(stack);
    const e = await echoed(browser, `${stack.proxy.url}/`, {
      'X-Forwarded-User': 'mallory',
      'X_Forwarded_Email': 'mallory@evil.example',
      'x-forwarded-groups': 'root',
      'X-Forwarded-Access-Token': 'forged',
      'X-Auth-Request-User': 'mallory',
      'X_Auth_Request_Email': 'mallory@evil.example',
      'X-Forwarded-Preferred_Username': 'mallory',
    });
    assert.equal(e.headers['x-forwarded-user'], ALICE.sub);
    assert.equal(e.headers['x-forwarded-email'], ALICE.email);
    assert.equal(e.headers['x-forwarded-groups'], 'admins,devs');
    assert.equal(e.headers['x-forwarded-preferred-username'], 'alice');
    const leaked = Object.entries(e.headers).filter(([k, v]) => /mallory|forged|root/.test(String(v)) || /^x[-_]auth[-_]request|_forwarded_|x-forwarded-access-token/.test(k));
    assert.deepEqual(leaked, []);
  });

  test('without reverse_proxy, client X-Forwarded-For/-Host/-Proto are replaced by the proxy\'s own', async () => {
    const { browser } = await login(stack);
    const e = await echoed(browser, `${stack.proxy.url}/`, {
      'X-Forwarded-For': '6.6.6.6', 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Proto': 'https', Forwarded: 'for=6.6.6.6',
    });
    assert.equal(e.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(e.headers['x-forwarded-host'], `127.0.0.1:${stack.proxy.port}`);
    assert.equal(e.headers['x-forwarded-proto'], 'http');
    assert.equal(e.headers.forwarded, undefined);
  });

  test('a client cannot get its own identity headers through without a session', async () => {
    const b = new HttpBrowser();
    const res = await b.request(`${stack.proxy.url}/`, { headers: { ...JSON_ACCEPT, 'X-Forwarded-User': 'mallory' } });
    assert.equal(res.status, 401);
  });

  test('/oauth2/userinfo answers the session as JSON, 401 without one', async () => {
    const { browser } = await login(stack);
    const res = await browser.request(`${stack.proxy.url}/oauth2/userinfo`, { headers: JSON_ACCEPT });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { user: ALICE.sub, email: ALICE.email, groups: ['admins', 'devs'], preferredUsername: 'alice' });
    const anon = await new HttpBrowser().request(`${stack.proxy.url}/oauth2/userinfo`, { headers: JSON_ACCEPT });
    assert.equal(anon.status, 401);
  });

  test('sign-out clears the session, follows a local rd only, and a replayed copy of the cookie is refused', async () => {
    const { browser } = await login(stack);
    const stolen = browser.cookies().get('_oauth2_proxy')!;
    const out = await browser.request(`${stack.proxy.url}/oauth2/sign_out?rd=${encodeURIComponent('/goodbye')}`);
    assert.equal(out.status, 302);
    // The issuer has an end_session_endpoint: sign-out goes on there (test/logout.test.ts follows
    // it), and comes back to sign_out with rd as state.
    const atIssuer = new URL(out.headers.location!);
    assert.equal(atIssuer.origin + atIssuer.pathname, stack.issuer.endpoints.endSession);
    assert.equal(atIssuer.searchParams.get('state'), '/goodbye');
    assert.ok((out.headers['set-cookie'] ?? []).some((c) => /^_oauth2_proxy=;.*Max-Age=0/.test(c)));
    const back = await browser.request(`${stack.proxy.url}/oauth2/sign_out?state=${encodeURIComponent('/goodbye')}`);
    assert.equal(back.headers.location, '/goodbye');
    assert.equal(browser.cookies().get('_oauth2_proxy'), undefined);
    const after = await browser.request(`${stack.proxy.url}/`, { headers: JSON_ACCEPT });
    assert.equal(after.status, 401);
    const replay = new HttpBrowser();
    replay.setCookie('127.0.0.1', '_oauth2_proxy', stolen);
    assert.equal((await replay.request(`${stack.proxy.url}/`, { headers: JSON_ACCEPT })).status, 401);
    const evil = await new HttpBrowser().request(`${stack.proxy.url}/oauth2/sign_out?rd=${encodeURIComponent('//evil.example/')}`);
    assert.equal(evil.headers.location, '/oauth2/sign_in?signed_out=1', 'an unsafe rd falls back to the signed-out page');
    await stack.proxy.waitForLog((l) => l.event === 'sign_out');
  });

  test('an unsafe rd falls back to /', async () => {
    const { landed } = await login(stack, 'https://evil.example/');
    assert.equal(landed, `${stack.proxy.url}/`);
  });

  test('a tampered or foreign session cookie is no session, never an error', async () => {
    const { browser } = await login(stack);
    const good = browser.cookies().get('_oauth2_proxy')!;
    const forged = [
      `${good.slice(0, -6)}AAAAAA`,
      good.replace(/\*(\w)/, '*X'),
      'Fe26.2**garbage',
      'not-a-seal',
      '',
      '%%%%',
    ];
    for (const value of forged) {
      const b = new HttpBrowser();
      b.setCookie('127.0.0.1', '_oauth2_proxy', value);
      const res = await b.request(`${stack.proxy.url}/`, { headers: JSON_ACCEPT });
      assert.equal(res.status, 401, `cookie ${JSON.stringify(value.slice(0, 20))} → ${res.status}`);
    }
    assert.ok(stack.proxy.alive());
  });

  test('several tabs can log in at once', async () => {
    const b = new HttpBrowser();
    const atIssuer = (u: URL): boolean => u.port === String(stack.issuer.port);
    const tab1 = await b.navigate(`${stack.proxy.url}/oauth2/start?rd=/tab1`, { stopAt: atIssuer });
    const tab2 = await b.navigate(`${stack.proxy.url}/oauth2/start?rd=/tab2`, { stopAt: atIssuer });
    const done2 = await b.navigate(tab2.url);
    assert.equal(done2.url, `${stack.proxy.url}/tab2`);
    const done1 = await b.navigate(tab1.url);
    assert.equal(done1.url, `${stack.proxy.url}/tab1`);
  });

  test('the callback refuses a missing state, an unknown state, a missing code and an issuer error', async () => {
    const cb = `${stack.proxy.url}/oauth2/callback`;
    const b = new HttpBrowser();
    const noState = await b.request(`${cb}?code=abc`);
    assert.equal(noState.status, 400);
    assert.match(noState.body, /LOGIN_BAD_REQUEST/);
    assert.match(noState.body, /missing what the identity provider adds to it/, 'in people\'s words, not "no state"');
    const unknown = await b.request(`${cb}?code=abc&state=${'x'.repeat(43)}`);
    assert.equal(unknown.status, 400);
    assert.match(unknown.body, /LOGIN_STATE_MISSING/);

    const started = await b.request(`${stack.proxy.url}/oauth2/start`);
    const state = new URL(started.headers.location!).searchParams.get('state')!;
    const noCode = await b.request(`${cb}?state=${state}`);
    assert.equal(noCode.status, 400);
    assert.match(noCode.body, /LOGIN_BAD_REQUEST/);

    const again = await b.request(`${stack.proxy.url}/oauth2/start`);
    const state2 = new URL(again.headers.location!).searchParams.get('state')!;
    const denied = await b.request(`${cb}?error=access_denied&error_description=${encodeURIComponent('<script>x</script>')}&state=${state2}`);
    assert.equal(denied.status, 403);
    assert.match(denied.body, /The identity provider said: access_denied/, 'the issuer\'s error is shown for this browser\'s login');
    assert.doesNotMatch(denied.body, /<script>/);
    const apiDenied = await b.request(`${cb}?error=access_denied`, { headers: JSON_ACCEPT });
    assert.equal(apiDenied.status, 403);
    assert.equal(JSON.parse(apiDenied.body).error, 'LOGIN_DENIED');
    // A crafted link with no login behind it: the proxy's page does not carry the link's text.
    const crafted = await new HttpBrowser().request(`${cb}?error=${encodeURIComponent('Session expired. Call IT at 555-0100')}&state=${state2}`);
    assert.equal(crafted.status, 403);
    assert.doesNotMatch(crafted.body, /Call IT|555-0100/);
    assert.ok(stack.proxy.alive());
  });

  test('a replayed authorization code is refused by the issuer and reported, not a crash', async () => {
    const b = new HttpBrowser();
    const atCallback = await b.navigate(`${stack.proxy.url}/oauth2/start`, { stopAt: (u) => u.pathname === '/oauth2/callback' });
    const stateCookies = [...b.cookies()].filter(([n]) => n.startsWith('_oauth2_proxy_csrf_'));
    const first = await b.request(atCallback.url);
    assert.equal(first.status, 302);
    const attacker = new HttpBrowser();
    for (const [n, v] of stateCookies) attacker.setCookie('127.0.0.1', n, v, '/oauth2');
    const replay = await attacker.request(atCallback.url);
    assert.equal(replay.status, 401);
    assert.match(replay.body, /LOGIN_REDEEM_FAILED/);
    assert.equal(attacker.cookies().get('_oauth2_proxy'), undefined);
  });

  test('an ID token for another audience is refused', async () => {
    stack.issuer.mangleNextIdToken((c) => ({ ...c, aud: 'some-other-client' }));
    const b = new HttpBrowser();
    const res = await b.navigate(`${stack.proxy.url}/oauth2/start`);
    assert.equal(res.status, 401);
    assert.match(res.body, /LOGIN_TOKEN_INVALID/);
    assert.equal(b.cookies().get('_oauth2_proxy'), undefined);
    // The next login is fine again.
    await login(stack);
  });

  test('an ID token with a forged signature (a key the issuer never published) is refused', async () => {
    stack.issuer.mangleNextIdToken((c) => ({ ...c, sub: 'someone-else' }), 'foreign');
    const b = new HttpBrowser();
    const res = await b.navigate(`${stack.proxy.url}/oauth2/start`);
    assert.equal(res.status, 401);
    assert.match(res.body, /LOGIN_TOKEN_INVALID/);
    assert.equal(b.cookies().get('_oauth2_proxy'), undefined);
  });

  test('an ID token with another nonce (a token from another login) is refused', async () => {
    const b = new HttpBrowser();
    stack.issuer.mangleNextIdToken((c) => ({ ...c, nonce: 'not-the-nonce-we-sent' }));
    const res = await b.navigate(`${stack.proxy.url}/oauth2/start`);
    assert.equal(res.status, 401);
    assert.match(res.body, /LOGIN_TOKEN_INVALID/);
  });

  // Runs last in this suite, over everything the proxy logged for the tests above.
  test('logs: one JSON line per request, login and sign-out events, and never a secret, token, code or cookie', async () => {
    const logs = stack.proxy.logs();
    const requests = logs.filter((l) => l.component === 'request');
    assert.ok(requests.length > 20);
    for (const r of requests) {
      assert.equal(typeof r.method, 'string');
      assert.equal(typeof r.status, 'number');
      assert.equal(typeof r.durationMs, 'number');
      assert.doesNotMatch(String(r.path), /\?/, 'paths are logged without their query (codes, states)');
    }
    assert.ok(requests.some((r) => r.user === ALICE.sub && r.status === 200));
    assert.ok(logs.some((l) => l.event === 'login') && logs.some((l) => l.event === 'sign_out'));
    const all = stack.proxy.lines.join('\n');
    assert.ok(!all.includes(CLIENT_SECRET), 'client secret');
    assert.ok(!all.includes(stack.cookieSecret), 'cookie secret');
    assert.doesNotMatch(all, /Fe26\.2/, 'sealed cookie values');
    assert.doesNotMatch(all, /eyJ[\w-]+\.[\w-]+\./, 'JWTs');
    assert.doesNotMatch(all, /code=|access_token|code_verifier/, 'codes and tokens');
  });
});
