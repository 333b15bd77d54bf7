import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { parse } from 'yaml';
import { HttpBrowser } from './support/browser.js';
import { docBlock } from './support/docblock.js';
import { envBlock, substitute } from './support/docenv.js';
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

describe('docs/client-auth.md as written: the workload-identity environment, and the pod spec that writes its file', () => {
  // Substituted: the folder /var/run/secrets/tokens (a temporary one; the test plays the kubelet
  // writing the token). Added by startSecretless to reach the test's issuer: its URL, the cookie
  // secret (Secure off: plain http), email domains, upstream, address.
  const tokens = mkdtempSync(join(tmpdir(), 'portcullis-tokens-'));
  after(() => rmSync(tokens, { recursive: true, force: true }));

  test('the file the environment names gets a fresh JWT from the platform: a login with no key and no secret', async () => {
    const env = substitute(envBlock('clientauth-workload-identity-env'), { '/var/run/secrets/tokens': tokens });
    assert.deepEqual(Object.keys(env).sort(), ['OAUTH2_PROXY_CLIENT_ASSERTION_FILE', 'OAUTH2_PROXY_CLIENT_ID']);
    const platformKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    writeFileSync(env.OAUTH2_PROXY_CLIENT_ASSERTION_FILE!, 'not yet'); // the file is there when the container starts; its JWT needs the issuer's URL
    const s = await startSecretless({
      clientId: env.OAUTH2_PROXY_CLIENT_ID!,
      client: { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ ...createPublicKey(platformKey).export({ format: 'jwk' }), kid: 'platform' }] } },
      env: () => env,
    });
    try {
      const iat = Math.floor(Date.now() / 1000);
      writeFileSync(env.OAUTH2_PROXY_CLIENT_ASSERTION_FILE!, await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'platform' }).setIssuer(env.OAUTH2_PROXY_CLIENT_ID!)
        .setSubject(env.OAUTH2_PROXY_CLIENT_ID!).setAudience(s.issuer.issuer).setIssuedAt(iat).setExpirationTime(iat + 600).setJti(`jti-${iat}`).sign(platformKey));
      await loginThrough(s.proxy.url);
      assert.equal(s.issuer.seen.get('/oauth2/token')?.authorization, undefined);
    } finally {
      await s.close();
    }
  });

  test('the pod spec (not run: no Kubernetes here) mounts a projected token at the very file the environment names', () => {
    const spec = parse(docBlock('clientauth-workload-identity-volume', 'yaml')) as {
      containers: Array<{ volumeMounts: Array<{ name: string; mountPath: string }> }>;
      volumes: Array<{ name: string; projected: { sources: Array<{ serviceAccountToken?: { path: string; audience: string; expirationSeconds: number } }> } }>;
    };
    const file = envBlock('clientauth-workload-identity-env').OAUTH2_PROXY_CLIENT_ASSERTION_FILE!;
    const mount = spec.containers[0]!.volumeMounts[0]!;
    const volume = spec.volumes.find((v) => v.name === mount.name);
    assert.ok(volume, `a volume named ${mount.name}`);
    const token = volume.projected.sources[0]!.serviceAccountToken!;
    assert.equal(`${mount.mountPath}/${token.path}`, file);
    assert.ok(token.audience.length > 0 && token.expirationSeconds >= 600, 'an audience, and a lifetime the kubelet may set (at least 10 minutes)');
  });
});
