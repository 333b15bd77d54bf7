import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { BACKCHANNEL_LOGOUT_EVENT } from '../src/oidc/backchannel.js';
import { tokenFromAuthorization } from '../src/oidc/bearer.js';
import { startDevIssuer, type DevIssuer } from '../src/devissuer/issuer.js';
import { HttpBrowser } from './support/browser.js';
import { request } from './support/http.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import { ALICE, CLIENT_ID, CLIENT_SECRET, type Echoed } from './support/stack.js';
import { table } from './support/table.js';

const JSON_ACCEPT = { accept: 'application/json' };
const b64url = (v: string | Buffer): string => Buffer.from(v).toString('base64url');

/** A JWT access token from the issuer's client_credentials grant, for `audience`. */
async function clientToken(issuer: DevIssuer, aud: string): Promise<string> {
  const audience = aud.includes(':') ? aud : `urn:aud:${aud}`;
  const res = await fetch(issuer.endpoints.token, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: audience, scope: 'api' }),
  });
  const body = await res.json() as { access_token?: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.access_token!;
}

/** The same header and claims, signed by a key the issuer never published (same kid): a forgery. */
async function forge(token: string, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return new SignJWT({ ...decodeJwt(token), ...claims }).setProtectedHeader({ ...decodeProtectedHeader(token), alg: 'RS256', ...header }).sign(privateKey);
}

function get(url: string, headers: Record<string, string> = {}): ReturnType<typeof request> {
  return request(url, { headers: { ...JSON_ACCEPT, ...headers } });
}

test('where an Authorization header carries a JWT, as oauth2-proxy finds it', () => {
  const jwt = `${b64url('{"alg":"RS256"}')}.${b64url('{"sub":"x"}')}.c2ln`;
  const basic = (s: string): string => `Basic ${Buffer.from(s).toString('base64')}`;
  table<string, string | undefined>([
    [`Bearer ${jwt}`, jwt],
    [`bearer ${jwt}`, jwt],
    [`Bearer  ${jwt} `, jwt],
    [basic(`${jwt}:`), jwt],
    [basic(`${jwt}:x-oauth-basic`), jwt],
    [basic(`someone:${jwt}`), jwt],
    [basic(`${jwt}:other-password`), undefined],
    [basic('user:password'), undefined],
    ['Bearer opaque-token-123', undefined],
    [`Bearer ${b64url('{"alg":"none"}')}.${b64url('{"sub":"x"}')}.`, undefined],
    [`Digest ${jwt}`, undefined],
    [jwt, undefined],
    ['', undefined],
  ], tokenFromAuthorization);
});

describe('skip_jwt_bearer_tokens against the real issuer', () => {
  let peers: Peers;
  let partner: DevIssuer;
  let gone: DevIssuer;
  let goneToken: string;
  let proxy: InProcess;
  let strict: InProcess;
  let jwks: http.Server;
  let jwksHits = 0;
  let idToken: string;

  before(async () => {
    const ports = [await freePort(), await freePort()];
    // Tokens for audience "urn:short" live 3 s (long enough for a first request on a loaded machine); the others an hour.
    const jwtAccessTokens = { ttlSeconds: (aud: string) => (aud === 'urn:short' ? 3 : 3600) };
    peers = await startPeers({ ports, issuerOptions: { claimsInIdToken: true, jwtAccessTokens } });
    const client = { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: ['http://127.0.0.1:1/cb'] };
    partner = await startDevIssuer({ shape: 'hydra', clients: [client], jwtAccessTokens });
    gone = await startDevIssuer({ shape: 'hydra', clients: [client], jwtAccessTokens });
    goneToken = await clientToken(gone, 'urn:partner');
    await gone.stop();
    // The issuer's JWKS through a relay that counts fetches.
    jwks = http.createServer((_req, res) => {
      jwksHits++;
      void fetch(peers.issuer.endpoints.jwks).then(async (r) => { res.writeHead(r.status, { 'content-type': 'application/json' }); res.end(await r.text()); });
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    const env = {
      ...peers.env,
      OAUTH2_PROXY_OIDC_JWKS_URL: `http://127.0.0.1:${(jwks.address() as { port: number }).port}/jwks`,
      OAUTH2_PROXY_SKIP_JWT_BEARER_TOKENS: 'true',
      OAUTH2_PROXY_EXTRA_JWT_ISSUERS: `${peers.issuer.issuer}=urn:portcullis:api,${partner.issuer}=urn:partner,${gone.issuer}=urn:partner`,
      OAUTH2_PROXY_PASS_AUTHORIZATION_HEADER: 'true',
      OAUTH2_PROXY_SKIP_AUTH_ROUTES: 'GET=^/public/',
    };
    proxy = await startInProcess(env, ports[0]);
    strict = await startInProcess({ ...env, OAUTH2_PROXY_BEARER_TOKEN_LOGIN_FALLBACK: 'false' }, ports[1]);

    // A real login; pass_authorization_header hands the upstream the ID token, the client's own
    // Authorization header removed.
    const b = new HttpBrowser();
    assert.equal((await b.navigate(`${proxy.url}/oauth2/start?rd=/`)).status, 200);
    const seen = JSON.parse((await b.request(`${proxy.url}/app`, { headers: { ...JSON_ACCEPT, authorization: 'Basic bWFsbG9yeTpwdw==' } })).body) as Echoed;
    const auth = String(seen.headers.authorization);
    assert.match(auth, /^Bearer ey/);
    idToken = auth.slice('Bearer '.length);
    assert.equal(decodeJwt(idToken).aud, CLIENT_ID);
  });
  after(async () => {
    await proxy?.close();
    await strict?.close();
    jwks?.close();
    await Promise.all([peers?.close(), partner?.stop()]);
  });

  test('the ID token from a real login lets an API client in without a cookie, with the identity in it', async () => {
    const r = await get(`${proxy.url}/api`, { authorization: `Bearer ${idToken}` });
    assert.equal(r.status, 200, r.text());
    const seen = JSON.parse(r.text()) as Echoed;
    assert.equal(seen.headers['x-forwarded-user'], ALICE.sub);
    assert.equal(seen.headers['x-forwarded-email'], ALICE.email);
    assert.equal(seen.headers['x-forwarded-groups'], ALICE.groups!.join(','));
    assert.equal(seen.headers.authorization, `Bearer ${idToken}`, 'pass_authorization_header gives the token back');
    assert.equal((await get(`${proxy.url}/oauth2/auth`, { authorization: `Bearer ${idToken}` })).status, 202, 'forward-auth takes it too');
    const info = await get(`${proxy.url}/oauth2/userinfo`, { authorization: `Bearer ${idToken}` });
    assert.equal(JSON.parse(info.text()).email, ALICE.email);
    // The same token inside Basic credentials, as git sends it.
    const basic = Buffer.from(`${idToken}:x-oauth-basic`).toString('base64');
    assert.equal((await get(`${proxy.url}/api`, { authorization: `Basic ${basic}` })).status, 200);
  });

  test('a JWT access token passes for the client_id audience, or an issuer=audience pair', async () => {
    for (const [issuer, audience] of [[peers.issuer, CLIENT_ID], [peers.issuer, 'urn:portcullis:api'], [partner, 'urn:partner']] as const) {
      const token = await clientToken(issuer, audience);
      const r = await get(`${proxy.url}/api`, { authorization: `Bearer ${token}` });
      assert.equal(r.status, 200, `${issuer.issuer} aud=${audience}: ${r.text()}`);
      assert.equal((JSON.parse(r.text()) as Echoed).headers['x-forwarded-user'], CLIENT_ID);
    }
  });

  test('forged, tampered, wrong-audience, foreign, alg-none and HS256-with-public-key tokens fail', async () => {
    const good = await clientToken(peers.issuer, CLIENT_ID);
    const [h, p] = good.split('.') as [string, string, string];
    const publicJwk = (await (await fetch(peers.issuer.endpoints.jwks)).json() as { keys: Array<Record<string, string>> }).keys[0]!;
    const publicPem = createPublicKey({ key: publicJwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
    const hs256 = (secret: string | Buffer): string => {
      const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: publicJwk.kid }));
      return `${head}.${p}.${createHmac('sha256', secret).update(`${head}.${p}`).digest('base64url')}`;
    };
    const none = `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${p}`;
    const cases: Array<[string, string]> = [
      ['signed by a foreign key with the issuer\'s kid', await forge(good)],
      ['signed by a foreign key with a new kid', await forge(good, {}, { kid: randomUUID() })],
      ['tampered claims, original signature', `${h}.${b64url(JSON.stringify({ ...decodeJwt(good), sub: 'admin' }))}.${good.split('.')[2]}`],
      ['wrong audience', await clientToken(peers.issuer, 'urn:somebody-else')],
      ['a pair\'s audience at another issuer', await clientToken(partner, CLIENT_ID)],
      ['unknown issuer', await forge(good, { iss: 'https://evil.example/' })],
      ['issuer with a different trailing slash', await forge(good, { iss: peers.issuer.issuer.replace(/\/$/, '') })],
      ['alg none, empty signature', `${none}.`],
      ['alg none, some signature', `${none}.c2ln`],
      ['HS256 keyed with the public key (PEM)', hs256(publicPem)],
      ['HS256 keyed with the public key (n)', hs256(Buffer.from(publicJwk.n!, 'base64url'))],
      ['HS256 keyed with the JWK text', hs256(JSON.stringify(publicJwk))],
      ['an opaque token', 'opaque-access-token'],
      // Found by test/prop-tokens.test.ts: the issuer's own logout token (same key, iss, aud; with exp) passed as a bearer token.
      ['a logout token of the issuer (typ logout+jwt)', await peers.issuer.sign({ iss: peers.issuer.issuer, aud: CLIENT_ID, sub: 'alice', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 120, jti: randomUUID(), events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } }, { typ: 'logout+jwt' })],
      ['a logout token of the issuer (no typ)', await peers.issuer.sign({ iss: peers.issuer.issuer, aud: CLIENT_ID, sub: 'alice', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 120, jti: randomUUID(), events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } })],
    ];
    const failures: string[] = [];
    for (const [what, token] of cases) {
      const loose = await get(`${proxy.url}/api`, { authorization: `Bearer ${token}` });
      if (loose.status !== 401 || JSON.parse(loose.text()).error !== 'UNAUTHENTICATED') failures.push(`${what}: ${loose.status} ${loose.text().slice(0, 100)}`);
      const hard = await get(`${strict.url}/api`, { authorization: `Bearer ${token}` });
      if (hard.status !== 401 || JSON.parse(hard.text()).error !== 'BEARER_TOKEN_INVALID') failures.push(`${what} (fallback off): ${hard.status} ${hard.text().slice(0, 100)}`);
      else if (hard.headers['www-authenticate'] !== 'Bearer error="invalid_token"') failures.push(`${what}: no WWW-Authenticate`);
    }
    assert.deepEqual(failures, []);
    assert.ok(proxy.logs.lines.some((l) => l.event === 'bearer_token_refused'), 'refusals are logged');
    assert.ok(!JSON.stringify(proxy.logs.lines).includes(good.split('.')[2]!), 'no token in the log');
  });

  test('with the fallback on, a bad token leaves the cookie to decide; with it off, the token decides', async () => {
    const b = new HttpBrowser();
    assert.equal((await b.navigate(`${proxy.url}/oauth2/start?rd=/`)).status, 200);
    const cookie = b.cookieHeader(new URL(proxy.url));
    assert.equal((await get(`${proxy.url}/api`, { cookie, authorization: 'Bearer not-a-jwt' })).status, 200);
    assert.equal((await get(`${strict.url}/api`, { cookie, authorization: 'Bearer not-a-jwt' })).status, 401);
    // A route without login never looks at the token's worth.
    assert.equal((await get(`${strict.url}/public/x`, { authorization: 'Bearer not-a-jwt' })).status, 200);
  });

  test('an expired token fails, also after it was cached as good', async () => {
    // Tokens for urn:short live 3 s: accepted, cached, then refused from the cache.
    const proxyShort = await startInProcess({ ...peers.env, OAUTH2_PROXY_SKIP_JWT_BEARER_TOKENS: 'true', OAUTH2_PROXY_EXTRA_JWT_ISSUERS: `${peers.issuer.issuer}=urn:short` });
    try {
      const t = await clientToken(peers.issuer, 'urn:short');
      assert.equal((await get(`${proxyShort.url}/api`, { authorization: `Bearer ${t}` })).status, 200);
      const exp = (decodeJwt(t).exp as number) * 1000;
      assert.ok(exp - Date.now() <= 3000, 'a token of at most 3 s');
      await new Promise((r) => setTimeout(r, Math.max(0, exp - Date.now()) + 50));
      assert.equal((await get(`${proxyShort.url}/api`, { authorization: `Bearer ${t}` })).status, 401);
      assert.ok(proxyShort.logs.lines.some((l) => l.event === 'bearer_token_refused' && l.reason === 'expired'), 'refused from the cache of verified tokens');
      const fresh = await clientToken(peers.issuer, 'urn:short');
      await new Promise((r) => setTimeout(r, Math.max(0, (decodeJwt(fresh).exp as number) * 1000 - Date.now()) + 50));
      assert.equal((await get(`${proxyShort.url}/api`, { authorization: `Bearer ${fresh}` })).status, 401);
      assert.ok(proxyShort.logs.lines.some((l) => l.event === 'bearer_token_refused' && /ERR_JWT_EXPIRED/.test(String(l.reason))), 'refused by verification');
    } finally {
      await proxyShort.close();
    }
  });

  test('unknown kids refresh the JWKS at most once per cooldown, however many arrive', async () => {
    const good = await clientToken(peers.issuer, CLIENT_ID);
    assert.equal((await get(`${proxy.url}/api`, { authorization: `Bearer ${good}` })).status, 200);
    const before = jwksHits;
    for (let i = 0; i < 20; i++) {
      const r = await get(`${proxy.url}/api`, { authorization: `Bearer ${await forge(good, { jti: randomUUID() }, { kid: randomUUID() })}` });
      assert.equal(r.status, 401);
    }
    assert.ok(jwksHits - before <= 1, `${jwksHits - before} JWKS fetches for 20 unknown kids`);
  });

  test('an issuer whose keys cannot be fetched gets 503, not "invalid token"', async () => {
    const r = await get(`${proxy.url}/api`, { authorization: `Bearer ${goneToken}` });
    assert.equal(r.status, 503, r.text());
    assert.equal(JSON.parse(r.text()).error, 'ISSUER_UNAVAILABLE');
  });
});
