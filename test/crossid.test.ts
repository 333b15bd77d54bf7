import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { mergeSources } from '../src/config/load.js';
import { validateConfig } from '../src/config/validate.js';
import type { DevIssuer } from '../src/devissuer/issuer.js';
import { HttpBrowser } from './support/browser.js';
import { ALICE, CLIENT_ID, CLIENT_SECRET, startStack, type Echoed, type Stack } from './support/stack.js';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/**
 * The `docker run` variables of Crossid's oauth2-proxy article (crossid/developer-site,
 * blog/2021-09-01-oauth2-proxy.md), exactly as written but for the hosts: https://<tenant>.crossid.io
 * becomes the dev issuer on loopback, http://httpbin.org the echo upstream, 0.0.0.0:4180 and
 * 127.0.0.1:4180 a free loopback port. Nothing is added: no issuer URL, no provider, no JWKS. The
 * secret, COOKIE_SECURE=true over plain http, the ?audience= query strings and the OAUTH_PROXY_VALIDATE
 * typo are the article's own.
 */
function crossidArticleAsWritten(issuer: DevIssuer, upstreamUrl: string, port: number): Record<string, string> {
  const tenant = `http://127.0.0.1:${issuer.port}`;
  const httpbin = upstreamUrl.replace(/\/$/, '');
  return {
    OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}`,
    OAUTH2_PROXY_SCOPE: 'openid email profile',
    OAUTH2_PROXY_REDIRECT_URL: `http://127.0.0.1:${port}/oauth2/callback`,
    OAUTH2_PROXY_LOGIN_URL: `${tenant}/oauth2/auth?audience=oauth2proxy`,
    OAUTH2_PROXY_REDEEM_URL: `${tenant}/oauth2/token?audience=oauth2proxy`,
    OAUTH2_PROXY_VALIDATE_URL: `${tenant}/oauth2/userinfo`,
    OAUTH_PROXY_VALIDATE: `${tenant}/oauth2/userinfo`,
    OAUTH2_PROXY_EMAIL_DOMAINS: '*',
    OAUTH2_PROXY_COOKIE_SECRET: 'someSecret123456',
    OAUTH2_PROXY_COOKIE_SECURE: 'true',
    OAUTH2_PROXY_CLIENT_ID: CLIENT_ID,
    OAUTH2_PROXY_CLIENT_SECRET: CLIENT_SECRET,
    OAUTH2_PROXY_UPSTREAMS: `${httpbin}/anything`,
    OAUTH2_PROXY_SKIP_PROVIDER_BUTTON: 'true',
  };
}

describe("Crossid's oauth2-proxy article, as written (no issuer URL: identity from userinfo)", () => {
  let stack: Stack;
  before(async () => { stack = await startStack({ shape: 'crossid', env: crossidArticleAsWritten }); });
  after(async () => { await stack?.close(); });

  test('starts, says which mode it runs in, and warns about OAUTH_PROXY_VALIDATE naming OAUTH2_PROXY_VALIDATE_URL', async () => {
    const ready = await stack.proxy.waitForLog((l) => l.msg === 'issuer ready');
    assert.equal(ready.mode, 'endpoints without issuer');
    assert.equal(ready.identity, 'userinfo (with the access token)');
    assert.match(String(ready.idToken), /not used/);
    const warnings = stack.proxy.logs().filter((l) => l.event === 'config_warning').map((l) => String(l.msg));
    assert.equal(warnings.length, 1, `one warning, about the typo; got:\n${warnings.join('\n')}`);
    assert.match(warnings[0]!, /^OAUTH_PROXY_VALIDATE \(environment\) is ignored: .*did you mean OAUTH2_PROXY_VALIDATE_URL\?$/);
  });

  test('logs in with ?audience= kept, a Secure session cookie on http://127.0.0.1, and forwards the user and email', async () => {
    const b = new HttpBrowser();
    const first = await b.request(`${stack.proxy.url}/anything`);
    assert.equal(first.status, 302);
    assert.equal(first.headers.location, '/oauth2/start?rd=%2Fanything', 'skip_provider_button goes straight to start');
    const start = await b.request(new URL(first.headers.location!, stack.proxy.url).href);
    const auth = new URL(start.headers.location!);
    assert.equal(auth.searchParams.get('audience'), 'oauth2proxy');
    assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(auth.searchParams.get('state'), 'state is sent');
    // The issuer refuses a token request without ?audience=, so a finished login proves it was kept.
    const done = await b.navigate(auth.href);
    assert.equal(done.url, `${stack.proxy.url}/anything`, done.body.slice(0, 300));
    const session = b.jar.get('127.0.0.1')?.find((c) => c.name === '_oauth2_proxy');
    assert.ok(session?.secure, 'COOKIE_SECURE=true: the session cookie is Secure, and kept on a loopback origin as Chromium keeps it');
    const res = await b.request(`${stack.proxy.url}/anything`, { headers: { accept: 'application/json' } });
    const e = JSON.parse(res.body) as Echoed;
    assert.equal(e.url, '/anything');
    assert.equal(e.headers['x-forwarded-user'], ALICE.sub);
    assert.equal(e.headers['x-forwarded-email'], ALICE.email);
  });

  test('the ID token is not trusted for identity: a forged one changes nothing, userinfo decides', async () => {
    stack.issuer.mangleNextIdToken((claims) => ({ ...claims, sub: 'mallory', email: 'mallory@evil.example', iss: 'https://evil.example/' }), 'foreign');
    const b = new HttpBrowser();
    const done = await b.navigate(`${stack.proxy.url}/oauth2/start?rd=%2Fanything`);
    assert.equal(done.status, 200, done.body.slice(0, 300));
    const e = JSON.parse((await b.request(`${stack.proxy.url}/anything`, { headers: { accept: 'application/json' } })).body) as Echoed;
    assert.equal(e.headers['x-forwarded-user'], ALICE.sub);
    assert.equal(e.headers['x-forwarded-email'], ALICE.email);
  });

  test('a real browser (Chromium) logs in with these variables over plain http on 127.0.0.1', { timeout: 60_000 }, async () => {
    assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (apt-get install -y chromium; .ci/run does it), or set CHROMIUM_PATH`);
    const browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true, timeout: 20_000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const context = await browser.newContext();
      const page = await context.newPage();
      page.setDefaultNavigationTimeout(15_000);
      await page.goto(`${stack.proxy.url}/anything`);
      await page.waitForURL(`${stack.proxy.url}/anything`);
      const rows = new Map(await page.$$eval('table tr', (trs) => trs.map((tr) => [tr.querySelector('th')?.textContent ?? '', tr.querySelector('td')?.textContent ?? ''] as [string, string])));
      assert.equal(rows.get('x-forwarded-user'), ALICE.sub);
      assert.equal(rows.get('x-forwarded-email'), ALICE.email);
      const session = (await context.cookies(stack.proxy.url)).find((c) => c.name === '_oauth2_proxy');
      assert.equal(session?.secure, true, 'the Secure session cookie is stored by Chromium on http://127.0.0.1');
    } finally {
      await browser.close();
    }
  });
});

describe('without an issuer URL, hand-given endpoints must be complete', () => {
  const article = crossidArticleAsWritten({ port: 4444 } as DevIssuer, 'http://127.0.0.1:8080/', 4180);
  const errorsOf = (env: Record<string, string>): string => {
    const v = validateConfig(mergeSources({ flags: {}, env, dotenv: {} }));
    return v.ok ? '' : v.errors.join('\n');
  };

  test('the article set is valid as it is', () => {
    assert.equal(errorsOf(article), '');
  });

  test('each missing endpoint is named, with the reason', () => {
    const { OAUTH2_PROXY_REDEEM_URL: _r, OAUTH2_PROXY_VALIDATE_URL: _v, ...rest } = article;
    const text = errorsOf(rest);
    assert.match(text, /OAUTH2_PROXY_REDEEM_URL \(or --redeem-url\) is required: the token endpoint, because OAUTH2_PROXY_OIDC_ISSUER_URL is unset/);
    assert.match(text, /OAUTH2_PROXY_VALIDATE_URL \(or --validate-url\) is required: the userinfo endpoint/);
    assert.doesNotMatch(text, /OAUTH2_PROXY_OIDC_ISSUER_URL \(or/, 'the issuer URL itself is not demanded');
  });

  test('a JWKS URL without an issuer URL is refused, saying what to do', () => {
    const text = errorsOf({ ...article, OAUTH2_PROXY_OIDC_JWKS_URL: 'http://127.0.0.1:4444/oauth2/.well-known/jwks.json' });
    assert.match(text, /OAUTH2_PROXY_OIDC_JWKS_URL: got "http:\/\/127\.0\.0\.1:4444\/oauth2\/\.well-known\/jwks\.json", expected no JWKS URL without OAUTH2_PROXY_OIDC_ISSUER_URL/);
  });

  test('with no issuer and no endpoints, the issuer URL is required and the message names the alternative', () => {
    const { OAUTH2_PROXY_LOGIN_URL: _l, OAUTH2_PROXY_REDEEM_URL: _r, OAUTH2_PROXY_VALIDATE_URL: _v, ...rest } = article;
    assert.match(errorsOf(rest), /OAUTH2_PROXY_OIDC_ISSUER_URL \(or --oidc-issuer-url\) is required: .*OAUTH2_PROXY_LOGIN_URL, OAUTH2_PROXY_REDEEM_URL and OAUTH2_PROXY_VALIDATE_URL/);
  });
});

/**
 * Crossid with its issuer URL given as well, discovery skipped (an earlier version of the article and
 * of this README): the ID token is checked against that issuer, and verified when a JWKS is known.
 */
function crossidWithIssuerEnv(withJwks: boolean) {
  return (issuer: DevIssuer, upstreamUrl: string, port: number): Record<string, string> => {
    const base = issuer.issuer; // http://127.0.0.1:PORT/oauth2/
    return {
      OAUTH2_PROXY_PROVIDER: 'oidc',
      OAUTH2_PROXY_CLIENT_ID: CLIENT_ID,
      OAUTH2_PROXY_CLIENT_SECRET: CLIENT_SECRET,
      OAUTH2_PROXY_REDIRECT_URL: `http://127.0.0.1:${port}/oauth2/callback`,
      OAUTH2_PROXY_OIDC_ISSUER_URL: base,
      OAUTH2_PROXY_SKIP_OIDC_DISCOVERY: 'true',
      OAUTH2_PROXY_LOGIN_URL: `${base}auth?audience=oauth2proxy`,
      OAUTH2_PROXY_REDEEM_URL: `${base}token?audience=oauth2proxy`,
      OAUTH2_PROXY_VALIDATE_URL: `${base}userinfo?audience=oauth2proxy`,
      ...(withJwks ? { OAUTH2_PROXY_OIDC_JWKS_URL: `${base}.well-known/jwks.json` } : {}),
      OAUTH2_PROXY_SCOPE: 'openid email profile',
      OAUTH2_PROXY_EMAIL_DOMAINS: '*',
      OAUTH2_PROXY_UPSTREAMS: `${upstreamUrl}anything`,
      OAUTH2_PROXY_COOKIE_SECURE: 'false',
      OAUTH2_PROXY_SKIP_PROVIDER_BUTTON: 'true',
    };
  };
}

for (const withJwks of [true, false]) {
  describe(`Crossid with its issuer URL and skip_oidc_discovery (${withJwks ? 'with' : 'without'} a JWKS)`, () => {
    let stack: Stack;
    before(async () => { stack = await startStack({ shape: 'crossid', env: crossidWithIssuerEnv(withJwks) }); });
    after(async () => { await stack?.close(); });

    test('says which mode it runs in, logs in keeping ?audience=, and forwards subject and email', async () => {
      const ready = await stack.proxy.waitForLog((l) => l.msg === 'issuer ready');
      assert.equal(ready.mode, 'endpoints');
      assert.equal(ready.issuer, stack.issuer.issuer);
      assert.equal(ready.identity, withJwks ? 'ID token (signature verified)' : 'userinfo (with the access token)');
      const b = new HttpBrowser();
      const first = await b.request(`${stack.proxy.url}/anything/profile`);
      assert.equal(first.status, 302);
      assert.equal(first.headers.location, '/oauth2/start?rd=%2Fanything%2Fprofile', 'skip_provider_button goes straight to start');
      const start = await b.request(new URL(first.headers.location!, stack.proxy.url).href);
      const auth = new URL(start.headers.location!);
      assert.equal(auth.searchParams.get('audience'), 'oauth2proxy');
      assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
      const done = await b.navigate(auth.href);
      assert.equal(done.url, `${stack.proxy.url}/anything/profile`, done.body.slice(0, 300));
      const res = await b.request(`${stack.proxy.url}/anything/profile`, { headers: { accept: 'application/json' } });
      const e = JSON.parse(res.body) as Echoed;
      assert.equal(e.url, '/anything/profile', 'the upstream path routes, and the request path is kept');
      assert.equal(e.headers['x-forwarded-user'], ALICE.sub);
      assert.equal(e.headers['x-forwarded-email'], ALICE.email);
    });

    test('an ID token from another issuer is refused: with an issuer URL it is checked', async () => {
      stack.issuer.mangleNextIdToken((claims) => ({ ...claims, iss: 'https://evil.example/' }));
      const b = new HttpBrowser();
      const res = await b.navigate(`${stack.proxy.url}/oauth2/start?rd=%2Fanything`);
      assert.notEqual(res.status, 200, 'the login must fail');
      assert.equal(res.url.startsWith(`${stack.proxy.url}/oauth2/callback`), true, res.url);
    });

    test('a path outside the upstream route is 404 even when signed in', async () => {
      const b = new HttpBrowser();
      await b.navigate(`${stack.proxy.url}/oauth2/start?rd=/anything`);
      const res = await b.request(`${stack.proxy.url}/elsewhere`, { headers: { accept: 'application/json' } });
      assert.equal(res.status, 404);
      assert.equal(JSON.parse(res.body).error, 'NO_UPSTREAM');
      const prefixOnly = await b.request(`${stack.proxy.url}/anythingelse`, { headers: { accept: 'application/json' } });
      assert.equal(prefixOnly.status, 404, '/anything does not serve /anythingelse');
    });
  });
}

describe('Crossid without the audience parameter', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({
      shape: 'crossid',
      env: (issuer, upstreamUrl, port) => ({
        ...crossidArticleAsWritten(issuer, upstreamUrl, port),
        OAUTH2_PROXY_LOGIN_URL: `http://127.0.0.1:${issuer.port}/oauth2/auth`,
        OAUTH2_PROXY_REDEEM_URL: `http://127.0.0.1:${issuer.port}/oauth2/token`,
      }),
    });
  });
  after(async () => { await stack?.close(); });

  test('the issuer refuses the login (proving the audience check in the test issuer is real)', async () => {
    const b = new HttpBrowser();
    const res = await b.navigate(`${stack.proxy.url}/oauth2/start`);
    assert.equal(res.status, 400);
    assert.match(res.body, /audience/);
  });
});
