import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DevIssuer } from '../src/devissuer/issuer.js';
import { HttpBrowser } from './support/browser.js';
import { ALICE, CLIENT_ID, CLIENT_SECRET, startStack, type Echoed, type Stack } from './support/stack.js';

/**
 * Crossid's oauth2-proxy article, hosts moved to loopback: no discovery, hand-given endpoints whose
 * URLs carry ?audience=oauth2proxy (the issuer refuses requests without it), httpbin-style upstream
 * with a path.
 */
function crossidArticleEnv(withJwks: boolean) {
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
  describe(`Crossid article variables (hand-given endpoints, ${withJwks ? 'with' : 'without'} a JWKS)`, () => {
    let stack: Stack;
    before(async () => { stack = await startStack({ shape: 'crossid', env: crossidArticleEnv(withJwks) }); });
    after(async () => { await stack?.close(); });

    test('logs in, keeping ?audience= on the login redirect and the token request, and forwards subject and email', async () => {
      const b = new HttpBrowser();
      const first = await b.request(`${stack.proxy.url}/anything/profile`);
      assert.equal(first.status, 302);
      assert.equal(first.headers.location, '/oauth2/start?rd=%2Fanything%2Fprofile', 'skip_provider_button goes straight to start');
      const start = await b.request(new URL(first.headers.location!, stack.proxy.url).href);
      const auth = new URL(start.headers.location!);
      assert.equal(auth.searchParams.get('audience'), 'oauth2proxy');
      assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
      // The issuer refuses the token request without the audience, so a finished login proves it was kept.
      const done = await b.navigate(auth.href);
      assert.equal(done.url, `${stack.proxy.url}/anything/profile`, done.body.slice(0, 300));
      const res = await b.request(`${stack.proxy.url}/anything/profile`, { headers: { accept: 'application/json' } });
      const e = JSON.parse(res.body) as Echoed;
      assert.equal(e.url, '/anything/profile', 'the upstream path routes, and the request path is kept');
      assert.equal(e.headers['x-forwarded-user'], ALICE.sub);
      assert.equal(e.headers['x-forwarded-email'], ALICE.email);
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
        ...crossidArticleEnv(true)(issuer, upstreamUrl, port),
        OAUTH2_PROXY_LOGIN_URL: `${issuer.issuer}auth`,
        OAUTH2_PROXY_REDEEM_URL: `${issuer.issuer}token`,
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
