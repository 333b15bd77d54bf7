import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { HttpBrowser } from './support/browser.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import { ALICE, CLIENT_ID, type Echoed } from './support/stack.js';

const JSON_ACCEPT = { accept: 'application/json' };

async function login(proxyUrl: string): Promise<HttpBrowser> {
  const b = new HttpBrowser();
  const res = await b.navigate(`${proxyUrl}/oauth2/start?rd=/`);
  assert.equal(res.status, 200, res.body.slice(0, 300));
  return b;
}

async function echoed(b: HttpBrowser, url: string, headers: Record<string, string> = {}): Promise<Echoed> {
  const r = await b.request(url, { headers: { ...JSON_ACCEPT, ...headers } });
  assert.equal(r.status, 200, r.body.slice(0, 300));
  return JSON.parse(r.body) as Echoed;
}

describe('what reaches the upstream, and what a forward-auth answer carries', () => {
  let peers: Peers;
  let basic: InProcess;
  let idToken: InProcess;
  let none: InProcess;
  before(async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    peers = await startPeers({ ports, issuerOptions: { claimsInIdToken: true } });
    // pass_basic_auth is on by default; with pass_user_headers=false it still sends the user headers.
    basic = await startInProcess({
      ...peers.env,
      OAUTH2_PROXY_BASIC_AUTH_PASSWORD: 'upstream-pw',
      OAUTH2_PROXY_PREFER_EMAIL_TO_USER: 'true',
      OAUTH2_PROXY_PASS_USER_HEADERS: 'false',
      OAUTH2_PROXY_SKIP_AUTH_ROUTES: '^/public/',
    }, ports[0]);
    idToken = await startInProcess({
      ...peers.env,
      OAUTH2_PROXY_SET_XAUTHREQUEST: 'true',
      OAUTH2_PROXY_SET_AUTHORIZATION_HEADER: 'true',
    }, ports[1]);
    none = await startInProcess({ ...peers.env, OAUTH2_PROXY_PASS_USER_HEADERS: 'false', OAUTH2_PROXY_PASS_BASIC_AUTH: 'false' }, ports[2]);
  });
  after(async () => { await basic?.close(); await idToken?.close(); await none?.close(); await peers?.close(); });

  test('pass_basic_auth with basic_auth_password and prefer_email_to_user: Basic email:password, the email as user, no X-Forwarded-Email', async () => {
    const b = await login(basic.url);
    const seen = await echoed(b, `${basic.url}/app`, { authorization: 'Bearer from-the-client', 'x-forwarded-email': 'mallory@evil.test' });
    assert.equal(seen.headers.authorization, `Basic ${Buffer.from(`${ALICE.email}:upstream-pw`).toString('base64')}`);
    assert.equal(seen.headers['x-forwarded-user'], ALICE.email);
    assert.equal(seen.headers['x-forwarded-email'], undefined);
    assert.equal(seen.headers['x-forwarded-groups'], ALICE.groups!.join(','));
    // On a route without login, the client's Authorization is removed too (skip_auth_strip_headers).
    const anon = await echoed(new HttpBrowser(), `${basic.url}/public/x`, { authorization: 'Basic bWFsbG9yeTpwdw==' });
    assert.equal(anon.headers.authorization, undefined);
    assert.equal(anon.headers['x-forwarded-user'], undefined);
  });

  test('set_authorization_header: /oauth2/auth answers carry the ID token; the client\'s Authorization reaches the upstream untouched', async () => {
    const b = await login(idToken.url);
    const auth = await b.request(`${idToken.url}/oauth2/auth`, { headers: JSON_ACCEPT });
    assert.equal(auth.status, 202);
    const bearer = String(auth.headers.authorization);
    assert.match(bearer, /^Bearer ey/);
    const claims = decodeJwt(bearer.slice(7));
    assert.equal(claims.sub, ALICE.sub);
    assert.equal(claims.aud, CLIENT_ID);
    assert.equal(auth.headers['x-auth-request-email'], ALICE.email);
    const seen = await echoed(b, `${idToken.url}/app`, { authorization: 'Bearer the-clients-own' });
    assert.equal(seen.headers.authorization, 'Bearer the-clients-own', 'pass_authorization_header is off');
    assert.equal(seen.headers['x-forwarded-user'], ALICE.sub);
  });

  test('pass_user_headers=false and pass_basic_auth=false: no identity headers at all', async () => {
    const b = await login(none.url);
    const seen = await echoed(b, `${none.url}/app`);
    for (const h of ['x-forwarded-user', 'x-forwarded-email', 'x-forwarded-groups', 'x-forwarded-preferred-username', 'authorization']) {
      assert.equal(seen.headers[h], undefined, h);
    }
  });
});
