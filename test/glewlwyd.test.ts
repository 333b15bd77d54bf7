// Any issuer: Glewlwyd, an OpenID Provider written in C, beside the oidc-provider tests. Its token
// endpoint answers RFC 6749's strictly form-encoded Basic credentials (`-` sent as %2D) with
// unauthorized_client (issue 17 §3). Portcullis escapes them as Go's url.QueryEscape does
// (oidc/basicauth.ts), so a client id with a `-` signs in with client_secret_basic alone: the client
// here is registered for Basic only, and Glewlwyd must refuse nothing. CI installs Glewlwyd
// (.ci/run); without it this test fails, it does not skip.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import { startEchoUpstream } from '../src/demo/echo.js';
import { startDevIssuer, type DevIssuer } from '../src/devissuer/issuer.js';
import { firstClientAuthMethod, isClientAuthRefusal } from '../src/oidc/clientauth.js';
import { queryEscape } from '../src/oidc/basicauth.js';
import { HttpBrowser } from './support/browser.js';
import { startGlewlwyd, type Glewlwyd, type GlewlwydUser } from './support/glewlwyd.js';
import { freePort, startProxy, type ProxyProcess } from './support/proxy.js';
import { waitReady, type Echoed } from './support/stack.js';

const CLIENT_ID = 'portcullis-glewlwyd';
const CLIENT_SECRET = randomBytes(24).toString('base64url');
const CAROL: GlewlwydUser = { username: 'carol', password: randomBytes(12).toString('base64url'), name: 'Carol', email: 'carol@example.com' };
// Glewlwyd counts every refused token request here, a refused client authentication included.
const REFUSED = 'glewlwyd_oidc_invalid_code_total';

describe('Glewlwyd with a client id containing "-" (discovery, real login through the proxy)', () => {
  let glewlwyd: Glewlwyd | undefined;
  let proxy: ProxyProcess | undefined;
  let closeEcho: (() => Promise<void>) | undefined;

  before(async () => {
    const port = await freePort();
    glewlwyd = await startGlewlwyd({
      clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [`http://127.0.0.1:${port}/oauth2/callback`], authMethods: ['client_secret_basic'] }],
      users: [CAROL],
    });
    const echo = await startEchoUpstream();
    closeEcho = echo.close;
    proxy = await startProxy({
      OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}`,
      OAUTH2_PROXY_OIDC_ISSUER_URL: glewlwyd.issuer,
      OAUTH2_PROXY_CLIENT_ID: CLIENT_ID,
      OAUTH2_PROXY_CLIENT_SECRET: CLIENT_SECRET,
      OAUTH2_PROXY_REDIRECT_URL: `http://127.0.0.1:${port}/oauth2/callback`,
      OAUTH2_PROXY_COOKIE_SECRET: randomBytes(32).toString('base64url'),
      OAUTH2_PROXY_COOKIE_SECURE: 'false',
      OAUTH2_PROXY_EMAIL_DOMAINS: 'example.com',
      OAUTH2_PROXY_UPSTREAMS: echo.url,
      OAUTH2_PROXY_PASS_ACCESS_TOKEN: 'true',
    });
    await waitReady(proxy.url);
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all([glewlwyd?.stop(), closeEcho?.()]);
  });

  /** A whole login through the proxy; Glewlwyd's login page is driven as its own page would. */
  async function logIn(): Promise<Echoed> {
    const b = new HttpBrowser();
    const atLogin = await b.navigate(`${proxy!.url}/oauth2/start?rd=%2Fhello`, { stopAt: (u) => u.pathname === '/login.html' });
    assert.equal(new URL(atLogin.url).origin, glewlwyd!.url, `the proxy sends the browser to Glewlwyd; ended at ${atLogin.url}: ${atLogin.body.slice(0, 200)}`);
    const done = await glewlwyd!.signIn(b, atLogin.url, CAROL);
    assert.equal(done.status, 200, `the login must reach the upstream; ended at ${done.url} with ${done.status}: ${done.body.slice(0, 300)}\n${proxy!.lines.slice(-5).join('\n')}`);
    assert.equal(done.url, `${proxy!.url}/hello`);
    const res = await b.request(`${proxy!.url}/hello`, { headers: { accept: 'application/json' } });
    return JSON.parse(res.body) as Echoed;
  }

  test('discovery lists client_secret_basic first, so Portcullis starts with it', async () => {
    const ready = await proxy!.waitForLog((l) => l.msg === 'issuer ready');
    assert.equal(ready.mode, 'discovery');
    assert.equal(ready.identity, 'ID token (signature verified)');
    assert.equal(ready.tokenEndpointAuth, 'client_secret_basic');
  });

  test('the login reaches the upstream with X-Forwarded-User (Glewlwyd\'s subject) and X-Forwarded-Email, with Basic credentials Glewlwyd takes', async () => {
    const e = await logIn();
    assert.equal(e.headers['x-forwarded-email'], CAROL.email);
    // The subject as Glewlwyd's own userinfo endpoint gives it for the token the proxy forwarded.
    const token = String(e.headers['x-forwarded-access-token']);
    const userinfo = await (await fetch(`${glewlwyd!.issuer}/userinfo`, { headers: { authorization: `Bearer ${token}` } })).json() as { sub?: string };
    assert.ok(userinfo.sub, 'Glewlwyd knows the user behind the token');
    assert.equal(e.headers['x-forwarded-user'], userinfo.sub);
    assert.equal(await glewlwyd!.metric(REFUSED), 0, 'Glewlwyd refused no token request: the dashed client id came through Basic as written');
    assert.equal(proxy!.logs().filter((l) => l.event === 'token_auth_switch').length, 0, 'no fallback to client_secret_post');
  });

  test('later logins too: Glewlwyd refuses nothing', async () => {
    for (let i = 0; i < 2; i++) assert.equal((await logIn()).headers['x-forwarded-email'], CAROL.email);
    assert.equal(await glewlwyd!.metric(REFUSED), 0, 'no refused token request');
    assert.equal(proxy!.logs().filter((l) => l.event === 'token_auth_switch').length, 0);
    const logs = proxy!.lines.join('\n');
    assert.ok(!logs.includes(CLIENT_SECRET) && !logs.includes(CAROL.password), 'no secret in the proxy log');
  });
});

describe('Basic credentials escaped as Go\'s url.QueryEscape', () => {
  test('table: -_.~ stay, everything else as RFC 6749 form-encoding (space as +)', () => {
    // Expected values are Go's url.QueryEscape outputs.
    const rows: Array<[string, string]> = [
      ['portcullis-glewlwyd', 'portcullis-glewlwyd'], ['a_b.c~d', 'a_b.c~d'], ['a b', 'a+b'], ['a+b', 'a%2Bb'],
      ["x!'()*", 'x%21%27%28%29%2A'], ['c:d', 'c%3Ad'], ['p%q', 'p%25q'], ['ü', '%C3%BC'], ['a/b?c=d&e', 'a%2Fb%3Fc%3Dd%26e'],
    ];
    assert.deepEqual(rows.map(([raw]) => queryEscape(raw)), rows.map(([, esc]) => esc));
    // Whatever the escaping, form-decoding gives the text back.
    for (const [raw] of rows) assert.equal(new URLSearchParams(`x=${queryEscape(raw)}`).get('x'), raw);
  });
});

describe('client authentication choice', () => {
  test('the first method follows token_endpoint_auth_methods_supported', () => {
    const rows: Array<[string[] | undefined, string]> = [
      [undefined, 'client_secret_basic'], // RFC 8414: unlisted means basic
      [[], 'client_secret_basic'],
      [['client_secret_basic', 'client_secret_post'], 'client_secret_basic'],
      [['client_secret_post', 'client_secret_basic'], 'client_secret_basic'],
      [['client_secret_post'], 'client_secret_post'],
      [['private_key_jwt', 'client_secret_post'], 'client_secret_post'],
      [['private_key_jwt'], 'client_secret_basic'],
    ];
    assert.deepEqual(rows.map(([s]) => firstClientAuthMethod(s)), rows.map(([, m]) => m));
  });

  describe('refusals as a real issuer (oidc-provider) sends them', () => {
    let issuer: DevIssuer;
    const redirectUri = 'http://127.0.0.1:9/oauth2/callback';
    before(async () => {
      issuer = await startDevIssuer({ shape: 'hydra', clients: [{ client_id: 'portcullis-test', client_secret: 'right-secret-0123456789', redirect_uris: [redirectUri] }] });
    });
    after(async () => { await issuer?.stop(); });

    async function redeemBogusCode(secret: string, auth: (s: string) => client.ClientAuth): Promise<unknown> {
      const config = await client.discovery(new URL(issuer.issuer), 'portcullis-test', undefined, auth(secret), { execute: [client.allowInsecureRequests] });
      return client.genericGrantRequest(config, 'authorization_code', { code: 'not-a-code', redirect_uri: redirectUri }).then(() => undefined, (err: unknown) => err);
    }

    test('a wrong secret sent with Basic: 401 with a WWW-Authenticate challenge, a refusal', async () => {
      const err = await redeemBogusCode('wrong-secret', client.ClientSecretBasic);
      assert.ok(err instanceof client.WWWAuthenticateChallengeError, `got ${String(err)}`);
      assert.equal(isClientAuthRefusal(err), true);
    });

    test('a wrong secret in the form body: invalid_client in the JSON body, a refusal', async () => {
      const err = await redeemBogusCode('wrong-secret', client.ClientSecretPost);
      assert.ok(err instanceof client.ResponseBodyError && err.error === 'invalid_client', `got ${String(err)}`);
      assert.equal(isClientAuthRefusal(err), true);
    });

    test('the right secret and a bad code: invalid_grant, not a refusal (no retry)', async () => {
      const err = await redeemBogusCode('right-secret-0123456789', client.ClientSecretBasic);
      assert.ok(err instanceof client.ResponseBodyError && err.error === 'invalid_grant', `got ${String(err)}`);
      assert.equal(isClientAuthRefusal(err), false);
    });
  });
});
