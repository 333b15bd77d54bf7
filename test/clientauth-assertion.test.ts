import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { HttpBrowser } from './support/browser.js';
import { validateEnv } from './support/config.js';
import { loginThrough } from './support/rig.js';
import { SECRETLESS_CLIENT, logLine, startSecretless, type Secretless } from './support/secretless.js';

/**
 * Workload identity: the platform (the kubelet for a projected service-account token, a
 * federation agent) writes a signed JWT to a file and replaces it before it expires; the proxy
 * holds no key. Here the test plays the platform, signing with a key the client registered.
 */
describe('client_assertion_file: a JWT the platform keeps on disk, read fresh for each call', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-assertion-'));
  const file = join(dir, 'token');
  const platformKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  let s: Secretless;
  /** What the platform writes: iss and sub the client, aud the issuer, valid `ttl` seconds from `iat`. */
  const writeAssertion = async (o: { ttl?: number; iat?: number } = {}): Promise<void> => {
    const iat = o.iat ?? Math.floor(Date.now() / 1000);
    const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'platform' }).setIssuer(SECRETLESS_CLIENT).setSubject(SECRETLESS_CLIENT)
      .setAudience(s.issuer.issuer).setIssuedAt(iat).setExpirationTime(iat + (o.ttl ?? 600)).setJti(`jti-${Math.random()}`).sign(platformKey);
    writeFileSync(file, `${jwt}\n`);
  };
  before(async () => {
    writeFileSync(file, 'not yet');
    s = await startSecretless({
      client: { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ ...createPublicKey(platformKey).export({ format: 'jwk' }), kid: 'platform' }] } },
      env: () => ({ OAUTH2_PROXY_CLIENT_ASSERTION_FILE: file }),
    });
  });
  after(async () => { await s?.close(); rmSync(dir, { recursive: true, force: true }); });

  test('each login sends the assertion now in the file: one rewritten while running is used at once (the old one would be refused as replayed)', async () => {
    await writeAssertion();
    await loginThrough(s.proxy.url);
    await writeAssertion();
    await loginThrough(s.proxy.url);
    assert.equal(s.issuer.seen.get('/oauth2/token')?.authorization, undefined);
  });

  test('an expired assertion is not sent: the login ends with CLIENT_AUTH_FAILED naming the file and when it expired', async () => {
    const before = s.issuer.seen.get('/oauth2/token')?.count ?? 0;
    await writeAssertion({ iat: Math.floor(Date.now() / 1000) - 3600, ttl: 600 });
    const res = await new HttpBrowser().navigate(`${s.proxy.url}/oauth2/start?rd=/`);
    assert.equal(res.status, 502, res.body.slice(0, 200));
    const line = await logLine(s.proxy, (l) => l.event === 'login_failed' && l.code === 'CLIENT_AUTH_FAILED');
    assert.match(String(line.detail), new RegExp(`the client assertion in ${file} expired at .* \\(300[01] s ago\\): whatever writes it .* has stopped refreshing it`));
    assert.equal(s.issuer.seen.get('/oauth2/token')?.count ?? 0, before, 'the expired assertion never reached the issuer');
  });

  test('one the issuer does not trust (signed by another key) is its refusal, told as ours', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const iat = Math.floor(Date.now() / 1000);
    writeFileSync(file, await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setIssuer(SECRETLESS_CLIENT).setSubject(SECRETLESS_CLIENT)
      .setAudience(s.issuer.issuer).setIssuedAt(iat).setExpirationTime(iat + 600).setJti('x').sign(other));
    const res = await new HttpBrowser().navigate(`${s.proxy.url}/oauth2/start?rd=/`);
    assert.equal(res.status, 502);
    const line = await logLine(s.proxy, (l) => l.event === 'login_failed' && /client_assertion_file/.test(String(l.detail)));
    assert.match(String(line.detail), new RegExp(`the issuer refused private_key_jwt \\(client_assertion_file\\) \\(invalid_client.*${file}.*iss ${SECRETLESS_CLIENT}`));
  });

  test('configuration: the file implies private_key_jwt and needs no secret; a missing file stops start-up', () => {
    const ok = validateEnv({ OAUTH2_PROXY_CLIENT_SECRET: '', OAUTH2_PROXY_CLIENT_ASSERTION_FILE: file });
    assert.ok(ok.ok, ok.ok ? '' : ok.errors.join('\n'));
    assert.deepEqual(ok.ok && ok.config.provider.clientAuth, { method: 'private_key_jwt', assertionFile: file });
    const missing = validateEnv({ OAUTH2_PROXY_CLIENT_SECRET: '', OAUTH2_PROXY_CLIENT_ASSERTION_FILE: '/nonexistent/token' });
    assert.ok(!missing.ok && missing.errors.some((e) => /OAUTH2_PROXY_CLIENT_ASSERTION_FILE.*\/nonexistent\/token: ENOENT/.test(e)));
  });
});
