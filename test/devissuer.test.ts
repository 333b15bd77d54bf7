// Smoke tests for the dev issuer: a complete authorization-code + PKCE flow with openid-client as
// the relying party, for both shapes, plus the test hooks (stop/start, mangleNextIdToken).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { startDevIssuer, type DevIssuer, type DevIssuerOptions } from '../src/devissuer/issuer.js';

const CLIENT = { client_id: 'portcullis-test', client_secret: 'test-secret', redirect_uris: ['http://127.0.0.1:9/oauth2/callback'] };
const REDIRECT = CLIENT.redirect_uris[0];
const T = { timeout: 20_000 };

const issuers: DevIssuer[] = [];
after(async () => { await Promise.all(issuers.map((i) => i.stop())); });

async function start(opts: Omit<DevIssuerOptions, 'clients'>): Promise<DevIssuer> {
  const issuer = await startDevIssuer({ clients: [CLIENT], ...opts });
  issuers.push(issuer);
  return issuer;
}

async function configFor(iss: DevIssuer, shape: 'hydra' | 'crossid'): Promise<client.Configuration> {
  if (shape === 'hydra') {
    // Hydra shape through discovery, client authentication with HTTP Basic.
    return client.discovery(new URL(iss.issuer), CLIENT.client_id, CLIENT.client_secret,
      client.ClientSecretBasic(CLIENT.client_secret), { execute: [client.allowInsecureRequests], timeout: 5 });
  }
  // Crossid shape: endpoints carry ?audience=; client authentication with client_secret_post (default).
  const config = new client.Configuration({
    issuer: iss.issuer,
    authorization_endpoint: `${iss.endpoints.authorization}?audience=oauth2proxy`,
    token_endpoint: `${iss.endpoints.token}?audience=oauth2proxy`,
    userinfo_endpoint: iss.endpoints.userinfo,
    jwks_uri: iss.endpoints.jwks,
  }, CLIENT.client_id, CLIENT.client_secret);
  client.allowInsecureRequests(config);
  return config;
}

/** A minimal browser: follows redirects by hand and carries the issuer's cookies. */
class Browser {
  jar = new Map<string, string>();
  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, {
      ...init, redirect: 'manual', signal: AbortSignal.timeout(5000),
      headers: { ...(init.headers as Record<string, string>), ...(cookie ? { cookie } : {}) },
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*expires=.*1970/i.test(a));
      if (!value || expired) this.jar.delete(name); else this.jar.set(name, value);
    }
    return res;
  }
  /** Follows redirects from url until one points at the client's redirect URI; returns that URL. */
  async follow(url: string, init?: RequestInit): Promise<URL> {
    let next = url;
    for (let hop = 0; hop < 10; hop++) {
      const res = await this.request(next, hop === 0 ? init : undefined);
      await res.arrayBuffer();
      const location = res.headers.get('location');
      assert.ok(res.status >= 300 && res.status < 400 && location, `expected a redirect from ${next}, got ${res.status}`);
      next = new URL(location, next).href;
      if (next.startsWith(`${REDIRECT}?`)) return new URL(next);
    }
    throw new Error('too many redirects');
  }
}

function authRequest(config: client.Configuration, scope = 'openid email profile groups') {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  return client.calculatePKCECodeChallenge(verifier).then((challenge) => ({
    verifier, state, nonce,
    url: client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope, state, nonce, code_challenge: challenge, code_challenge_method: 'S256',
    }).href,
  }));
}

for (const shape of ['hydra', 'crossid'] as const) {
  test(`${shape}: discovery document, code + PKCE flow, ID token and userinfo`, T, async () => {
    const iss = await start({ shape });
    const base = shape === 'hydra' ? `http://127.0.0.1:${iss.port}/` : `http://127.0.0.1:${iss.port}/oauth2/`;
    assert.equal(iss.issuer, base);

    const doc = await (await fetch(iss.endpoints.discovery)).json() as Record<string, unknown>;
    assert.equal(doc.issuer, iss.issuer);
    assert.equal(doc.authorization_endpoint, iss.endpoints.authorization);
    assert.equal(doc.token_endpoint, iss.endpoints.token);
    assert.equal(doc.userinfo_endpoint, iss.endpoints.userinfo);
    assert.equal(doc.jwks_uri, iss.endpoints.jwks);
    assert.equal(doc.end_session_endpoint, iss.endpoints.endSession);
    for (const [key, value] of Object.entries(doc)) {
      if (key.endsWith('_endpoint') || key === 'jwks_uri') assert.ok(String(value).startsWith(base), `${key}=${value}`);
    }
    if (shape === 'hydra') {
      assert.equal(iss.endpoints.authorization, `${base}oauth2/auth`);
      assert.equal(iss.endpoints.userinfo, `${base}userinfo`);
    }

    const config = await configFor(iss, shape);
    const req = await authRequest(config);
    const callback = await new Browser().follow(req.url);
    assert.ok(callback.searchParams.get('code'));
    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: req.verifier, expectedState: req.state, expectedNonce: req.nonce,
    });
    const claims = tokens.claims();
    assert.equal(claims?.sub, 'demo-user-1');
    assert.equal(claims?.email, undefined, 'oidc-provider default: email only from userinfo');
    const info = await client.fetchUserInfo(config, tokens.access_token, 'demo-user-1');
    assert.equal(info.email, 'demo@example.com');
    assert.deepEqual(info.groups, ['demo']);
    assert.equal(info.preferred_username, 'demo');
  });
}

test('crossid: 400 without the audience parameter on authorization and token requests', T, async () => {
  const iss = await start({ shape: 'crossid' });
  const config = await configFor(iss, 'crossid');
  const req = await authRequest(config);

  const noAudience = new URL(req.url);
  noAudience.searchParams.delete('audience');
  for (const url of [noAudience.href, noAudience.href.replace('?', '?audience=other&')]) {
    const res = await fetch(url, { redirect: 'manual' });
    assert.equal(res.status, 400);
    const body = await res.json() as { error: string; error_description: string };
    assert.equal(body.error, 'invalid_request');
    assert.match(body.error_description, /audience.*required/);
  }

  const callback = await new Browser().follow(req.url);
  const res = await fetch(iss.endpoints.token, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: REDIRECT,
      code_verifier: req.verifier, client_id: CLIENT.client_id, client_secret: CLIENT.client_secret }),
  });
  assert.equal(res.status, 400);
  assert.equal((await res.json() as { error: string }).error, 'invalid_request');
});

test('stop() takes the port down (keep-alive included), start() brings it back', T, async () => {
  const iss = await start({ shape: 'hydra' });
  assert.equal((await fetch(iss.endpoints.discovery)).status, 200); // leaves a keep-alive connection open
  await iss.stop();
  await assert.rejects(fetch(iss.endpoints.discovery), (err: Error & { cause?: { code?: string } }) => {
    assert.equal(err.cause?.code, 'ECONNREFUSED');
    return true;
  });
  await iss.start();
  const doc = await (await fetch(iss.endpoints.discovery)).json() as { issuer: string };
  assert.equal(doc.issuer, iss.issuer);
});

test('mangleNextIdToken: a re-signed ID token for another audience is rejected, the next one is fine', T, async () => {
  const iss = await start({ shape: 'hydra' });
  const config = await configFor(iss, 'hydra');
  const browser = new Browser();

  iss.mangleNextIdToken((claims) => ({ ...claims, aud: 'someone-else' }));
  const req1 = await authRequest(config);
  await assert.rejects(
    client.authorizationCodeGrant(config, await browser.follow(req1.url), {
      pkceCodeVerifier: req1.verifier, expectedState: req1.state, expectedNonce: req1.nonce,
    }),
    (err: Error & { cause?: Error }) => {
      // openid-client: "unexpected JWT claim value encountered"; oauth4webapi's cause names the claim.
      assert.match(String(err.cause?.message), /"aud"/);
      return true;
    },
  );

  const req2 = await authRequest(config); // one-shot: this one is untouched (and reuses the session)
  const tokens = await client.authorizationCodeGrant(config, await browser.follow(req2.url), {
    pkceCodeVerifier: req2.verifier, expectedState: req2.state, expectedNonce: req2.nonce,
  });
  assert.equal(tokens.claims()?.aud, CLIENT.client_id);
});

test('RP-initiated logout over plain http ends the session', T, async () => {
  const iss = await start({ shape: 'hydra' });
  const config = await configFor(iss, 'hydra');
  const browser = new Browser();
  const req = await authRequest(config);
  const tokens = await client.authorizationCodeGrant(config, await browser.follow(req.url), {
    pkceCodeVerifier: req.verifier, expectedState: req.state, expectedNonce: req.nonce,
  });
  assert.ok(browser.jar.has('_devissuer_session'));

  const logoutUrl = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'http://127.0.0.1:9/',
  });
  assert.ok(logoutUrl.href.startsWith(iss.endpoints.endSession));
  const page = await (await browser.request(logoutUrl.href)).text();
  const action = /<form[^>]*action="([^"]+)"/.exec(page)?.[1];
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)?.[1];
  assert.ok(action && xsrf, page);
  const res = await browser.request(new URL(action, logoutUrl).href, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
  });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), 'http://127.0.0.1:9/');
  assert.ok(!browser.jar.has('_devissuer_session'));
});

test('interactive login page, claimsInIdToken and loginAs', T, async () => {
  const accounts = [
    { sub: 'alice', email: 'alice@example.com', email_verified: true, groups: ['admins'] },
    { sub: 'bob', email: 'bob@example.com', groups: ['users'] },
  ];
  const iss = await start({ shape: 'crossid', interactive: true, claimsInIdToken: true, accounts });
  const config = await configFor(iss, 'crossid');
  const req = await authRequest(config);
  const browser = new Browser();

  const first = await browser.request(req.url);
  await first.arrayBuffer();
  const pageUrl = new URL(first.headers.get('location')!, req.url).href;
  assert.match(pageUrl, /\/oauth2\/interaction\//);
  const page = await (await browser.request(pageUrl)).text();
  assert.match(page, /Sign in as alice@example\.com/);
  assert.match(page, /Sign in as bob@example\.com/);
  const action = /<form method="post" action="([^"]+)">(?:(?!<\/form>).)*value="bob"/.exec(page)?.[1];
  assert.ok(action);

  const callback = await browser.follow(new URL(action, pageUrl).href, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'sub=bob',
  });
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: req.verifier, expectedState: req.state, expectedNonce: req.nonce,
  });
  // Back on the used sign-in step (the browser's back button): a page that explains, with a way
  // back to the app (the client's redirect URI's origin), not a bare 400.
  const again = await browser.request(pageUrl);
  assert.equal(again.status, 400);
  assert.match(again.headers.get('content-type') ?? '', /text\/html/);
  const stale = await again.text();
  assert.match(stale, /<h1>This sign-in step is over<\/h1>/);
  assert.match(stale, /<a class="button" id="back-to-app" href="http:\/\/127\.0\.0\.1:9\/">Back to the app<\/a>/);
  const claims = tokens.claims();
  assert.equal(claims?.sub, 'bob');
  assert.equal(claims?.email, 'bob@example.com');
  assert.deepEqual(claims?.groups, ['users']);

  // Non-interactive issuer: loginAs picks the account.
  const plain = await start({ shape: 'hydra', accounts });
  plain.loginAs('bob');
  assert.throws(() => plain.loginAs('nobody'));
  const plainConfig = await configFor(plain, 'hydra');
  const req2 = await authRequest(plainConfig, 'openid');
  const tokens2 = await client.authorizationCodeGrant(plainConfig, await new Browser().follow(req2.url), {
    pkceCodeVerifier: req2.verifier, expectedState: req2.state, expectedNonce: req2.nonce,
  });
  assert.equal(tokens2.claims()?.sub, 'bob');
});
