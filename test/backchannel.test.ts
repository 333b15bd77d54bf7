import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { HttpBrowser } from './support/browser.js';
import type { InProcess } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import { startRedis, type RedisServer, startReady } from './support/redis.js';
import { ALICE, CLIENT_ID, CLIENT_SECRET, type Echoed } from './support/stack.js';
import { startDevIssuer, type DevIssuer } from '../src/devissuer/issuer.js';
import { startEchoUpstream } from '../src/demo/echo.js';
import { BACKCHANNEL_LOGOUT_EVENT } from '../src/oidc/backchannel.js';

const JSON_ACCEPT = { accept: 'application/json' };

interface Setup {
  issuer: DevIssuer;
  /** Proxies; the issuer's back-channel logout goes to the first. */
  proxies: InProcess[];
  env: Record<string, string>;
  close(): Promise<void>;
}

/** The real issuer with this client's backchannel_logout_uri pointing at the first proxy; `n` proxies with `extra` variables. */
async function setup(n: number, extra: Record<string, string>): Promise<Setup> {
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()));
  const issuer = await startDevIssuer({
    shape: 'hydra', accounts: [ALICE],
    clients: [{
      client_id: CLIENT_ID, client_secret: CLIENT_SECRET,
      redirect_uris: ports.map((p) => `http://127.0.0.1:${p}/oauth2/callback`),
      backchannel_logout_uri: `http://127.0.0.1:${ports[0]}/oauth2/backchannel_logout`,
    }],
  });
  const echo = await startEchoUpstream();
  const env = {
    OAUTH2_PROXY_OIDC_ISSUER_URL: issuer.issuer, OAUTH2_PROXY_CLIENT_ID: CLIENT_ID, OAUTH2_PROXY_CLIENT_SECRET: CLIENT_SECRET,
    OAUTH2_PROXY_COOKIE_SECRET: randomBytes(32).toString('base64url'), OAUTH2_PROXY_COOKIE_SECURE: 'false',
    OAUTH2_PROXY_EMAIL_DOMAINS: '*', OAUTH2_PROXY_UPSTREAMS: echo.url, ...extra,
  };
  const proxies: InProcess[] = [];
  for (const p of ports) proxies.push(await startReady(env, p));
  return {
    issuer, proxies, env,
    close: async () => {
      for (const p of proxies) await p.close();
      await Promise.all([issuer.stop(), echo.close()]);
    },
  };
}

/** Signs in through `proxy` in a browser of its own: a session of its own at the issuer too (its own `sid`). */
async function signIn(proxy: InProcess): Promise<{ browser: HttpBrowser; cookie: string }> {
  const browser = new HttpBrowser();
  const res = await browser.navigate(`${proxy.url}/oauth2/start?rd=/x`);
  assert.equal(res.status, 200, res.body.slice(0, 200));
  return { browser, cookie: `_oauth2_proxy=${browser.cookies().get('_oauth2_proxy')}` };
}

async function userAt(proxy: InProcess, cookie: string): Promise<string> {
  const res = await new HttpBrowser().request(`${proxy.url}/x`, { headers: { ...JSON_ACCEPT, cookie } });
  return res.status === 200 ? String((JSON.parse(res.body) as Echoed).headers['x-forwarded-user']) : String(res.status);
}

/** Polls (bounded) until the session is refused: the other replica hears of it through Redis within milliseconds. */
async function refusedSoon(proxy: InProcess, cookie: string): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if ((await userAt(proxy, cookie)) === '401') return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** RP-initiated logout at the issuer, confirmed as its page's form would: the issuer then sends back-channel logout. */
async function logoutAtIssuer(issuer: DevIssuer, browser: HttpBrowser): Promise<void> {
  const page = await browser.request(`${issuer.endpoints.endSession}?client_id=${CLIENT_ID}`);
  assert.equal(page.status, 200, page.body.slice(0, 300));
  const action = /<form[^>]*action="([^"]+)"/.exec(page.body)?.[1];
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)?.[1];
  assert.ok(action && xsrf, `the issuer's logout form: ${page.body.slice(0, 300)}`);
  const done = await browser.request(new URL(action, issuer.endpoints.endSession).href, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `xsrf=${encodeURIComponent(xsrf)}&logout=yes`,
  });
  assert.ok(done.status < 400, `logout confirmed: ${done.status}`);
}

function post(proxy: InProcess, token: string | undefined, type = 'application/x-www-form-urlencoded'): Promise<Response> {
  return fetch(`${proxy.url}/oauth2/backchannel_logout`, { method: 'POST', headers: { 'content-type': type }, body: token === undefined ? '' : `logout_token=${encodeURIComponent(token)}` });
}

function logoutClaims(issuer: DevIssuer, o: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: issuer.issuer, aud: CLIENT_ID, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, sub: ALICE.sub, ...o };
}

describe('back-channel logout with Redis sessions (two replicas)', () => {
  let redis: RedisServer;
  let s: Setup;
  before(async () => {
    redis = await startRedis();
    s = await setup(2, { OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_CONNECTION_URL: redis.url });
  });
  after(async () => {
    await s?.close();
    await redis?.close();
  });

  test('signing out at the issuer ends that issuer session (its sid) on every replica; another session of the user stays', async () => {
    const [a, b] = s.proxies as [InProcess, InProcess];
    const one = await signIn(a);
    const two = await signIn(b);
    for (const p of [a, b]) for (const c of [one.cookie, two.cookie]) assert.equal(await userAt(p, c), ALICE.sub);
    await logoutAtIssuer(s.issuer, one.browser);
    const line = a.logs.lines.find((l) => l.event === 'backchannel_logout');
    assert.ok(line, 'the issuer called the proxy');
    assert.equal(line.ended, 1);
    assert.ok(typeof line.sid === 'string', 'the logout token named the issuer session');
    assert.equal(await userAt(a, one.cookie), '401');
    assert.ok(await refusedSoon(b, one.cookie), 'ended on the other replica too');
    assert.equal(await userAt(a, two.cookie), ALICE.sub, 'the other issuer session is untouched');
    assert.equal(await userAt(b, two.cookie), ALICE.sub);
  });

  test('a logout token with sub only ends every session of the subject; a replayed jti is refused', async () => {
    const [a, b] = s.proxies as [InProcess, InProcess];
    const one = await signIn(a);
    const two = await signIn(b);
    const token = await s.issuer.sign(logoutClaims(s.issuer), { typ: 'logout+jwt' });
    assert.equal((await post(a, token)).status, 200);
    for (const c of [one.cookie, two.cookie]) {
      assert.equal(await userAt(a, c), '401');
      assert.ok(await refusedSoon(b, c));
    }
    const replay = await post(b, token);
    assert.equal(replay.status, 400, 'the same jti, even at another replica');
    assert.equal((await replay.json() as { error: string }).error, 'BACKCHANNEL_LOGOUT_INVALID');
    const three = await signIn(a);
    assert.equal(await userAt(b, three.cookie), ALICE.sub, 'a later login is a new session');
  });
});

describe('back-channel logout with cookie sessions', () => {
  let s: Setup;
  before(async () => { s = await setup(1, {}); });
  after(async () => { await s?.close(); });

  test('the issuer session\'s sid is remembered as revoked: that cookie is refused, another session stays', async () => {
    const [a] = s.proxies as [InProcess];
    const one = await signIn(a);
    const two = await signIn(a);
    await logoutAtIssuer(s.issuer, one.browser);
    assert.equal(await userAt(a, one.cookie), '401');
    assert.equal(await userAt(a, two.cookie), ALICE.sub);
  });

  test('sub only: every session that started before the token ends; a login after it works', async () => {
    const [a] = s.proxies as [InProcess];
    const before = await signIn(a);
    assert.equal((await post(a, await s.issuer.sign(logoutClaims(s.issuer)))).status, 200);
    assert.equal(await userAt(a, before.cookie), '401');
    await new Promise((r) => setTimeout(r, 5));
    const later = await signIn(a);
    assert.equal(await userAt(a, later.cookie), ALICE.sub);
  });

  test('forged and malformed logout tokens get 400 BACKCHANNEL_LOGOUT_INVALID and end nothing', async () => {
    const [a] = s.proxies as [InProcess];
    const kept = await signIn(a);
    const i = s.issuer;
    const iat = Math.floor(Date.now() / 1000);
    const cases: Array<[string, Promise<string | undefined>, string?]> = [
      ['foreign signature', i.sign(logoutClaims(i), {}, 'foreign')],
      ['wrong audience', i.sign(logoutClaims(i, { aud: 'someone-else' }))],
      ['wrong issuer', i.sign(logoutClaims(i, { iss: 'http://evil.example/' }))],
      ['no events claim', i.sign(logoutClaims(i, { events: undefined }))],
      ['events without the logout event', i.sign(logoutClaims(i, { events: { 'http://example.com/other': {} } }))],
      ['a nonce (an ID token, not a logout token)', i.sign(logoutClaims(i, { nonce: 'n' }))],
      ['neither sid nor sub', i.sign(logoutClaims(i, { sub: undefined }))],
      ['no jti', i.sign(logoutClaims(i, { jti: undefined }))],
      ['no iat', i.sign(logoutClaims(i, { iat: undefined }))],
      ['issued an hour ago', i.sign(logoutClaims(i, { iat: iat - 3600 }))],
      ['issued in the future', i.sign(logoutClaims(i, { iat: iat + 3600 }))],
      ['typ of an access token', i.sign(logoutClaims(i), { typ: 'at+jwt' })],
      // Found by test/prop-tokens.test.ts: a typ that is not a string was a TypeError, a 500.
      ['a typ that is not a string', i.sign(logoutClaims(i), { typ: false })],
      ['a typ that is a list', i.sign(logoutClaims(i), { typ: ['logout+jwt'] })],
      ['alg none', Promise.resolve(`${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(logoutClaims(i))).toString('base64url')}.`)],
      ['not a JWT', Promise.resolve('garbage')],
      ['no logout_token', Promise.resolve(undefined)],
      ['a JSON body', i.sign(logoutClaims(i)), 'application/json'],
    ];
    for (const [what, token, type] of cases) {
      const res = await post(a, await token, type);
      assert.equal(res.status, 400, what);
      assert.equal((await res.json() as { error: string }).error, 'BACKCHANNEL_LOGOUT_INVALID', what);
    }
    assert.equal((await fetch(`${a.url}/oauth2/backchannel_logout`)).status, 400, 'GET');
    assert.equal(await userAt(a, kept.cookie), ALICE.sub, 'nothing was ended');
    assert.equal(a.logs.lines.filter((l) => l.event === 'backchannel_logout_refused').length, cases.length + 1);
  });
});

describe('back-channel logout with cookie sessions and Redis for revocations (two replicas)', () => {
  let redis: RedisServer;
  let s: Setup;
  before(async () => {
    redis = await startRedis();
    s = await setup(2, { OAUTH2_PROXY_REDIS_CONNECTION_URL: redis.url });
  });
  after(async () => {
    await s?.close();
    await redis?.close();
  });

  test('the revocation reaches the replica that did not get the logout token, and one started later', async () => {
    const [a, b] = s.proxies as [InProcess, InProcess];
    const one = await signIn(a);
    const two = await signIn(b);
    assert.equal(await userAt(b, one.cookie), ALICE.sub);
    await logoutAtIssuer(s.issuer, one.browser);
    assert.equal(await userAt(a, one.cookie), '401');
    assert.ok(await refusedSoon(b, one.cookie));
    assert.equal(await userAt(b, two.cookie), ALICE.sub);
    const c = await startReady(s.env);
    try {
      assert.equal(await userAt(c, one.cookie), '401', 'a replica started afterwards reads the revocation from Redis');
      assert.equal(await userAt(c, two.cookie), ALICE.sub);
    } finally {
      await c.close();
    }
  });
});
