import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, importJWK } from 'jose';
import { cookieSecretBytes, deriveSealPasswords } from '../src/config/secret.js';
import { SessionCodec } from '../src/session/codec.js';
import { HttpBrowser } from './support/browser.js';
import { validateEnv } from './support/config.js';
import { envBlock } from './support/docenv.js';
import { loginThrough } from './support/rig.js';
import { ACCOUNT, COOKIE_SECRET, logLine, startSecretless, type Secretless } from './support/secretless.js';

const SECRET = 'dpop-client-secret-0123456789';
const JSON_ACCEPT = { accept: 'application/json' };

/** The public key a DPoP proof names (its header's jwk), as text to compare. */
const proofKey = (proof: string | undefined): string => {
  assert.ok(proof, 'a DPoP proof was sent');
  const jwk = decodeProtectedHeader(proof).jwk as Record<string, unknown>;
  return `${jwk.x}.${jwk.y}`;
};

describe('DPoP (RFC 9449): tokens bound to a key of each session\'s own', () => {
  let s: Secretless;
  before(async () => {
    s = await startSecretless({
      // The client's tokens must be DPoP-bound: a token request without a proof is refused.
      client: { client_secret: SECRET, token_endpoint_auth_method: 'client_secret_basic', dpop_bound_access_tokens: true },
      env: () => ({
        OAUTH2_PROXY_CLIENT_SECRET: SECRET, OAUTH2_PROXY_DPOP: 'true', OAUTH2_PROXY_PASS_ACCESS_TOKEN: 'true',
        OAUTH2_PROXY_COOKIE_REFRESH: '1s', OAUTH2_PROXY_PROMPT: 'consent',
      }),
    });
  });
  after(async () => { await s?.close(); });

  test('the code is bound to the login\'s key (dpop_jkt); token endpoint and userinfo get proofs of it; another login has another key', async () => {
    const b = new HttpBrowser();
    const start = await b.request(`${s.proxy.url}/oauth2/start?rd=/`);
    assert.match(new URL(start.headers.location!).searchParams.get('dpop_jkt') ?? '', /^[A-Za-z0-9_-]{43}$/);
    const landed = await b.navigate(start.headers.location!);
    assert.equal(landed.status, 200, landed.body.slice(0, 300));
    const tokenKey = proofKey(s.issuer.seen.get('/oauth2/token')?.dpop);
    const userinfo = s.issuer.seen.get('/userinfo')!;
    assert.match(userinfo.authorization ?? '', /^DPoP /, 'userinfo is called with the DPoP scheme');
    assert.equal(proofKey(userinfo.dpop), tokenKey);
    await loginThrough(s.proxy.url);
    assert.notEqual(proofKey(s.issuer.seen.get('/oauth2/token')?.dpop), tokenKey, 'each session its own key');
  });

  test('a refresh uses the session\'s key again; the token passed upstream is DPoP-bound: useless as a Bearer token, and a replayed proof is refused', async () => {
    const b = await loginThrough(s.proxy.url);
    const loginKey = proofKey(s.issuer.seen.get('/oauth2/token')?.dpop);
    await new Promise((r) => setTimeout(r, 1100));
    const before = s.issuer.refreshGrants.succeeded;
    const res = await b.request(`${s.proxy.url}/x`, { headers: JSON_ACCEPT });
    assert.equal(res.status, 200);
    assert.equal(s.issuer.refreshGrants.succeeded, before + 1);
    assert.equal(proofKey(s.issuer.seen.get('/oauth2/token')?.dpop), loginKey, 'the refresh proves the same key');
    const headers = JSON.parse(res.body).headers as Record<string, string>;
    assert.equal(headers['x-forwarded-user'], ACCOUNT.sub);
    const token = headers['x-forwarded-access-token']!;
    const seen = { ...s.issuer.seen.get('/userinfo')! };
    assert.equal(seen.authorization, `DPoP ${token}`, 'the refresh read userinfo with the new token and a proof');
    // What an upstream (or whoever it leaks the token to) can do with it: nothing without the key.
    const asBearer = await fetch(s.issuer.endpoints.userinfo, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(asBearer.status, 401);
    // The key is in the session, sealed: read with the proxy's secret, a fresh proof of it is accepted...
    const session = await new SessionCodec(deriveSealPasswords([cookieSecretBytes(COOKIE_SECRET)!], 'session'), 86_400_000).unseal(b.cookies().get('_oauth2_proxy')!);
    assert.ok(session?.dpopKey, 'the session holds its DPoP key');
    const key = await importJWK({ kty: 'EC', ...session.dpopKey }, 'ES256');
    const { d: _private, ...publicJwk } = { kty: 'EC', ...session.dpopKey };
    const fresh = await new SignJWT({ htm: 'GET', htu: s.issuer.endpoints.userinfo, ath: createHash('sha256').update(token).digest('base64url'), jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: publicJwk }).setIssuedAt().sign(key);
    assert.equal((await fetch(s.issuer.endpoints.userinfo, { headers: { authorization: `DPoP ${token}`, dpop: fresh } })).status, 200, 'a fresh proof of the session\'s key');
    // ...and the proof the proxy sent, replayed, is not.
    const replayed = await fetch(s.issuer.endpoints.userinfo, { headers: { authorization: seen.authorization!, dpop: seen.dpop! } });
    const replayedBody = await replayed.text();
    assert.equal(replayed.status, 401, `the proof the proxy sent cannot be sent again: ${replayed.status} ${replayed.headers.get('www-authenticate')} ${replayedBody}`);
    assert.match(replayed.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });

  test('an issuer that demands a nonce (use_dpop_nonce) mid-session: the refresh and a new login learn it and retry', async () => {
    const b = await loginThrough(s.proxy.url);
    s.issuer.requireDpopNonce(true);
    try {
      await new Promise((r) => setTimeout(r, 1100));
      const calls = s.issuer.seen.get('/oauth2/token')!.count;
      const before = s.issuer.refreshGrants.succeeded;
      const res = await b.request(`${s.proxy.url}/x`, { headers: JSON_ACCEPT });
      assert.equal(res.status, 200);
      assert.equal(s.issuer.refreshGrants.succeeded, before + 1, 'the refresh went through');
      assert.equal(s.issuer.seen.get('/oauth2/token')!.count, calls + 2, 'refused once for the nonce, then retried with it');
      assert.ok(decodeProtectedHeader(s.issuer.seen.get('/oauth2/token')!.dpop!) && JSON.parse(Buffer.from(s.issuer.seen.get('/oauth2/token')!.dpop!.split('.')[1]!, 'base64url').toString()).nonce, 'the retry carries the nonce');
      await loginThrough(s.proxy.url);
    } finally {
      s.issuer.requireDpopNonce(false);
    }
  });
});

describe('DPoP configuration', () => {
  test('with pass_access_token the operator is told the upstream gets a bound token', () => {
    const v = validateEnv({ OAUTH2_PROXY_DPOP: 'true', OAUTH2_PROXY_PASS_ACCESS_TOKEN: 'true' });
    assert.ok(v.ok && v.warnings.some((w) => /OAUTH2_PROXY_PASS_ACCESS_TOKEN with DPoP: the upstream gets a DPoP-bound access token/.test(w)), JSON.stringify(v));
    const off = validateEnv({ OAUTH2_PROXY_DPOP: 'true' });
    assert.ok(off.ok && !off.warnings.some((w) => /DPoP-bound/.test(w)));
  });
});

describe('DPoP against an issuer without it', () => {
  test('never ready; the log says the issuer does not support DPoP', async () => {
    const s = await startSecretless({
      issuer: { dpop: { enabled: false } },
      client: { client_secret: SECRET, token_endpoint_auth_method: 'client_secret_basic' },
      env: () => ({ OAUTH2_PROXY_CLIENT_SECRET: SECRET, OAUTH2_PROXY_DPOP: 'true' }),
      waitReady: false,
    });
    try {
      const line = await logLine(s.proxy, (l) => l.event === 'issuer_shortfall');
      assert.match(String(line.msg), /the issuer does not support DPoP \(no dpop_signing_alg_values_supported\), which dpop=true needs/);
    } finally {
      await s.close();
    }
  });
});

describe('docs/client-auth.md as written: the DPoP environment', () => {
  test('against a client whose tokens must be DPoP-bound: a login, the token call and userinfo with proofs of one key', async () => {
    const env = envBlock('clientauth-dpop-env');
    assert.deepEqual(Object.keys(env), ['OAUTH2_PROXY_DPOP']);
    // Added: the client secret and, by startSecretless, the issuer's URL, client id, cookie secret,
    // email domains, upstream, address.
    const s = await startSecretless({
      client: { client_secret: SECRET, token_endpoint_auth_method: 'client_secret_basic', dpop_bound_access_tokens: true },
      env: () => ({ OAUTH2_PROXY_CLIENT_SECRET: SECRET, ...env }),
    });
    try {
      const b = await loginThrough(s.proxy.url);
      const userinfo = s.issuer.seen.get('/userinfo')!;
      assert.match(userinfo.authorization ?? '', /^DPoP /);
      assert.equal(proofKey(userinfo.dpop), proofKey(s.issuer.seen.get('/oauth2/token')?.dpop));
      assert.equal((await b.request(`${s.proxy.url}/x`, { headers: JSON_ACCEPT })).status, 200);
    } finally {
      await s.close();
    }
  });
});
