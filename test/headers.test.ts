import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { HttpBrowser } from './support/browser.js';
import { exchange, type Exchange } from './support/http.js';
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

/** The echo upstream's view of a raw request's answer, or the status when it is not a 200. */
function echoedOf(x: Exchange): Echoed | number {
  if (x.status !== 200) return x.status;
  const body = x.text.slice(x.text.indexOf('\r\n\r\n') + 4);
  // A chunked answer: the JSON is the first chunk's data.
  const json = /^[0-9a-f]+\r\n/i.test(body) ? body.replace(/^[0-9a-f]+\r\n/i, '').replace(/\r\n0\r\n\r\n$/, '') : body;
  return JSON.parse(json) as Echoed;
}

describe('identity-header smuggling: what a client sends in the proxy\'s names never reaches the upstream or a forward-auth answer', () => {
  let peers: Peers;
  let proxy: InProcess;
  let cookie: string;
  before(async () => {
    peers = await startPeers({ issuerOptions: { claimsInIdToken: true } });
    proxy = await startInProcess({ ...peers.env, OAUTH2_PROXY_SET_XAUTHREQUEST: 'true', OAUTH2_PROXY_SKIP_AUTH_ROUTES: '^/public/', OAUTH2_PROXY_REQUEST_LOGGING: 'false' }, peers.port);
    const b = await login(proxy.url);
    cookie = b.cookieHeader(new URL(proxy.url));
  });
  after(async () => { await proxy?.close(); await peers?.close(); });

  const REAL = { user: ALICE.sub, email: ALICE.email, groups: ALICE.groups!.join(','), username: ALICE.preferred_username };
  /** The identity headers the upstream saw, by their proxy names. */
  const identity = (e: Echoed): Record<string, unknown> => ({
    user: e.headers['x-forwarded-user'], email: e.headers['x-forwarded-email'], groups: e.headers['x-forwarded-groups'], username: e.headers['x-forwarded-preferred-username'],
  });
  /** No header whose value a client planted, in any name. */
  const planted = (e: Echoed): string[] => Object.entries(e.headers).filter(([, v]) => /mallory|forged|6\.6\.6\.6/.test(String(v))).map(([k]) => k);

  // [row, extra request head lines (raw, so duplicates and odd spellings go out as written), signed in?]
  const ROWS: ReadonlyArray<readonly [string, string[], boolean]> = [
    ['lower case', ['x-forwarded-user: mallory', 'x-forwarded-email: mallory@evil.test', 'x-forwarded-groups: admins,mallory', 'x-forwarded-preferred-username: mallory'], true],
    ['upper case', ['X-FORWARDED-USER: mallory', 'X-FORWARDED-EMAIL: mallory@evil.test'], true],
    ['underscores (read as dashes by some servers)', ['X_Forwarded_User: mallory', 'x_forwarded_email: mallory@evil.test', 'X_Forwarded_Groups: mallory'], true],
    ['dots and mixed', ['X.Forwarded.User: mallory', 'x_forwarded.email: mallory@evil.test'], true],
    ['repeated, before and after', ['X-Forwarded-User: mallory', 'X-Forwarded-User: mallory2-forged', 'X-Forwarded-Email: mallory@evil.test', 'X-Forwarded-Email: forged@evil.test'], true],
    ['the forward-auth names', ['X-Auth-Request-User: mallory', 'X-Auth-Request-Email: mallory@evil.test', 'X-Auth-Request-Groups: mallory', 'X-Auth-Request-Access-Token: forged'], true],
    ['an access token and Gap-Auth', ['X-Forwarded-Access-Token: forged', 'Gap-Auth: mallory'], true],
    ['named in Connection, to have a hop behind drop the real ones', ['Connection: X-Forwarded-User, X-Forwarded-Email, X-Forwarded-Groups', 'X-Forwarded-User: mallory'], true],
    ['X-Real-IP and X-Forwarded-For', ['X-Real-IP: 6.6.6.6', 'X-Forwarded-For: 6.6.6.6'], true],
    ['on a route without login, anonymous', ['X-Forwarded-User: mallory', 'X_Forwarded_Email: mallory@evil.test', 'X-Auth-Request-User: mallory', 'X-Forwarded-Groups: admins'], false],
  ];

  for (const [name, lines, signedIn] of ROWS) {
    test(`${name} → ${signedIn ? 'the session\'s identity only' : 'no identity at all'}`, async () => {
      const path = signedIn ? '/app' : '/public/x';
      const head = [`GET ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Accept: application/json', 'Connection: close', ...(signedIn ? [`Cookie: ${cookie}`] : []), ...lines];
      const e = echoedOf(await exchange(proxy.url, [`${head.join('\r\n')}\r\n\r\n`]));
      assert.notEqual(typeof e, 'number', `status ${String(e)}`);
      const seen = e as Echoed;
      assert.deepEqual(planted(seen), [], 'no planted value reached the upstream');
      assert.deepEqual(identity(seen), signedIn ? REAL : { user: undefined, email: undefined, groups: undefined, username: undefined });
      for (const k of Object.keys(seen.headers)) assert.doesNotMatch(k, /^x[-_.]auth[-_.]request|[_.]forwarded|^gap-auth$/i, `${k} reached the upstream`);
    });
  }

  test('a forward-auth answer (/oauth2/auth) carries the session\'s identity, never the client\'s', async () => {
    const head = ['GET /oauth2/auth HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close', `Cookie: ${cookie}`,
      'X-Auth-Request-User: mallory', 'X-Auth-Request-Email: mallory@evil.test', 'X_Auth_Request_Groups: mallory', 'X-Auth-Request-Preferred-Username: mallory'];
    const x = await exchange(proxy.url, [`${head.join('\r\n')}\r\n\r\n`]);
    assert.equal(x.status, 202, x.text.slice(0, 300));
    assert.doesNotMatch(x.text, /mallory/);
    assert.match(x.text, new RegExp(`\\r\\nx-auth-request-email: ${ALICE.email.replace('.', '\\.')}\\r\\n`, 'i'));
    assert.match(x.text, new RegExp(`\\r\\nx-auth-request-user: ${ALICE.sub}\\r\\n`, 'i'));
    const anon = await exchange(proxy.url, ['GET /oauth2/auth HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Auth-Request-User: mallory\r\n\r\n']);
    assert.equal(anon.status, 401);
    assert.doesNotMatch(anon.text, /mallory/);
  });

  test('a websocket handshake: the upstream sees the session\'s identity only', async () => {
    const head = ['GET /ws HTTP/1.1', 'Host: 127.0.0.1', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      `Cookie: ${cookie}`, 'X-Forwarded-User: mallory', 'X_Forwarded_Email: mallory@evil.test', 'X-Auth-Request-User: mallory'];
    const x = await exchange(proxy.url, [`${head.join('\r\n')}\r\n\r\n`], 1000);
    assert.equal(x.status, 101, x.text.slice(0, 300));
    // The echo upstream's first line after the handshake is what it received, as JSON.
    const seen = JSON.parse(x.text.slice(x.text.indexOf('\r\n\r\n') + 4).split('\n')[0]!) as Echoed;
    assert.deepEqual(planted(seen), []);
    assert.deepEqual(identity(seen), REAL);
  });
});
