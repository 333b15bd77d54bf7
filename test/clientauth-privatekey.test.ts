import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { PrivateKeyJwtCredential, chooseAlgorithm, jwkThumbprint, parseClientKey } from '../src/oidc/clientkey.js';
import { HttpBrowser } from './support/browser.js';
import { docBlock } from './support/docblock.js';
import { envBlock, runShell, substitute } from './support/docenv.js';
import { validateEnv } from './support/config.js';
import { loginThrough } from './support/rig.js';
import { makeCertificates } from './support/tls.js';
import { ACCOUNT, logLine, startSecretless, type Secretless } from './support/secretless.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-pkjwt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const rsa = (): KeyObject => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const ec = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const pem = (k: KeyObject): string => k.export({ format: 'pem', type: 'pkcs8' }).toString();
/** The public JWK a client registers at the issuer, kid as Portcullis computes it (RFC 7638) unless given. */
const publicJwk = (k: KeyObject, kid?: string): Record<string, unknown> => {
  const jwk = createPublicKey(k).export({ format: 'jwk' });
  return { ...jwk, kid: kid ?? jwkThumbprint(jwk) };
};
const write = (name: string, text: string): string => { const f = join(dir, name); writeFileSync(f, text); return f; };

describe('private_key_jwt: keys as files give the algorithm, kid and a fresh short assertion each time', () => {
  const as = { issuer: 'https://issuer.example/', token_endpoint: 'https://issuer.example/oauth2/token' };

  test('PEM and JWK files of RSA, EC and Ed25519 keys; kid from the JWK, else the thumbprint; what each can sign with', () => {
    const r = rsa();
    const fromPem = parseClientKey(pem(r));
    assert.equal(fromPem.kid, jwkThumbprint(createPublicKey(r).export({ format: 'jwk' })));
    assert.deepEqual(fromPem.algorithms.slice(0, 2), ['RS256', 'PS256']);
    const fromPkcs1 = parseClientKey(r.export({ format: 'pem', type: 'pkcs1' }).toString());
    assert.equal(fromPkcs1.kid, fromPem.kid);
    const e = ec();
    const fromJwk = parseClientKey(JSON.stringify({ ...e.export({ format: 'jwk' }), kid: 'my-ec-key' }));
    assert.equal(fromJwk.kid, 'my-ec-key');
    assert.deepEqual(fromJwk.algorithms, ['ES256']);
    const sec1 = parseClientKey(e.export({ format: 'pem', type: 'sec1' }).toString());
    assert.equal(sec1.describe, 'EC P-256');
    const ed = parseClientKey(pem(generateKeyPairSync('ed25519').privateKey));
    assert.deepEqual(ed.algorithms, ['EdDSA', 'Ed25519']);
    // RFC 7638's own example: the thumbprint of its RSA key.
    assert.equal(jwkThumbprint({ kty: 'RSA', e: 'AQAB', n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw' }), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  test('files that are not a usable private key say what they should hold', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['a public key', createPublicKey(ec()).export({ format: 'pem', type: 'spki' }).toString(), /PEM private key/],
      ['a public JWK', JSON.stringify(createPublicKey(ec()).export({ format: 'jwk' })), /no "d"/],
      ['a small RSA key', pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey), /at least 2048 bits/],
      ['an encrypted key', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'x' }).toString(), /passphrase/],
      ['a JWKS of two keys', JSON.stringify({ keys: [ec().export({ format: 'jwk' }), ec().export({ format: 'jwk' })] }), /exactly one key/],
      ['an X25519 key', pem(generateKeyPairSync('x25519').privateKey), /RSA, EC or Ed25519/],
      ['nothing', '', /PEM private key/],
    ];
    for (const [what, text, expected] of cases) assert.throws(() => parseClientKey(text), expected, what);
  });

  test('the algorithm: the key\'s first the issuer lists; FAPI keeps PS256, ES256 and EdDSA', () => {
    const rsaKey = { algorithms: ['RS256', 'PS256', 'RS384', 'PS384', 'RS512', 'PS512'] };
    const table: Array<[readonly string[] | undefined, readonly string[] | undefined, string | undefined]> = [
      [undefined, undefined, 'RS256'],
      [['RS256', 'PS256', 'ES256'], undefined, 'RS256'],
      [['PS256', 'ES256'], undefined, 'PS256'],
      [['ES256'], undefined, undefined],
      [['RS256', 'PS256'], ['PS256', 'ES256', 'EdDSA'], 'PS256'],
      [['RS256'], ['PS256', 'ES256', 'EdDSA'], undefined],
    ];
    for (const [supported, only, expected] of table) assert.equal(chooseAlgorithm(rsaKey, supported, only), expected, `${supported} / ${only}`);
    assert.equal(chooseAlgorithm({ algorithms: ['EdDSA', 'Ed25519'] }, ['Ed25519'], ['PS256', 'ES256', 'EdDSA']), 'Ed25519');
  });

  test('each assertion: new jti, exp 60 s after iat, iss = sub = client_id, aud as configured, x5t#S256 from a certificate', async () => {
    const key = ec();
    const file = write('unit.pem', pem(key));
    const made: string[] = [];
    for (const audience of ['issuer', 'token_endpoint'] as const) {
      const cred = new PrivateKeyJwtCredential({ keyFile: file, audience });
      const body = new URLSearchParams();
      await cred.auth(as as never, { client_id: 'c1' } as never, body, new Headers());
      assert.equal(body.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      const jwt = body.get('client_assertion')!;
      made.push(jwt);
      const claims = decodeJwt(jwt);
      assert.equal(claims.iss, 'c1');
      assert.equal(claims.sub, 'c1');
      assert.equal(claims.aud, audience === 'issuer' ? as.issuer : as.token_endpoint);
      assert.equal(claims.exp! - claims.iat!, 60);
      assert.ok(Math.abs(claims.iat! - Date.now() / 1000) < 5);
      assert.equal(decodeProtectedHeader(jwt).alg, 'ES256');
    }
    assert.notEqual(decodeJwt(made[0]!).jti, decodeJwt(made[1]!).jti);
  });

  test('client_private_key_certificate_file puts the certificate\'s SHA-256 thumbprint in x5t#S256 (Entra ID); another key\'s certificate is refused', async () => {
    const certs = makeCertificates(['portcullis-client']);
    try {
      const cred = new PrivateKeyJwtCredential({ keyFile: certs.keyFile, certificateFile: certs.certFile, audience: 'token_endpoint' });
      const body = new URLSearchParams();
      await cred.auth(as as never, { client_id: 'c1' } as never, body, new Headers());
      const der = new X509Certificate(readFileSync(certs.certFile)).raw;
      assert.equal(decodeProtectedHeader(body.get('client_assertion')!)['x5t#S256'], createHash('sha256').update(der).digest('base64url'));
      const v = validateEnv({ OAUTH2_PROXY_CLIENT_SECRET: '', OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE: certs.otherKeyFile, OAUTH2_PROXY_CLIENT_PRIVATE_KEY_CERTIFICATE_FILE: certs.certFile });
      assert.ok(!v.ok && v.errors.some((e) => /OAUTH2_PROXY_CLIENT_PRIVATE_KEY_CERTIFICATE_FILE.*certifies another key/.test(e)), v.ok ? 'accepted' : v.errors.join('\n'));
    } finally {
      certs.remove();
    }
  });
});

describe('private_key_jwt against oidc-provider', () => {
  const keys = { a: rsa(), b: ec(), unknown: rsa() };
  const keyFile = join(dir, 'client.pem');
  let s: Secretless;
  before(async () => {
    writeFileSync(keyFile, pem(keys.a));
    s = await startSecretless({
      client: { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk(keys.a), publicJwk(keys.b, 'key-b')] } },
      env: () => ({ OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE: keyFile, OAUTH2_PROXY_COOKIE_REFRESH: '1s', OAUTH2_PROXY_PROMPT: 'consent' }),
    });
  });
  after(async () => { await s?.close(); });

  test('a login and a refresh with no client secret: the RSA key from its PEM file, never a Basic header', async () => {
    const b = await loginThrough(s.proxy.url);
    const token = s.issuer.seen.get('/oauth2/token');
    assert.ok(token && token.count >= 1);
    assert.equal(token.authorization, undefined, 'no client secret sent');
    assert.match(JSON.stringify(s.proxy.logs.lines.find((l) => l.msg === 'issuer ready')), /"tokenEndpointAuth":"private_key_jwt"/);
    // cookie_refresh=1s: the next request refreshes, authenticated with a new assertion (a reused jti would be refused).
    await new Promise((r) => setTimeout(r, 1100));
    const before = s.issuer.refreshGrants.succeeded;
    const res = await b.request(`${s.proxy.url}/x`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).headers['x-forwarded-user'], ACCOUNT.sub);
    assert.equal(s.issuer.refreshGrants.succeeded, before + 1);
  });

  test('the key rotated on disk (to an EC JWK with its kid) is used from the next login; an unknown key is refused naming its kid', async () => {
    writeFileSync(keyFile, JSON.stringify({ ...keys.b.export({ format: 'jwk' }), kid: 'key-b' }));
    await loginThrough(s.proxy.url);
    const rotated = await logLine(s.proxy, (l) => l.event === 'client_key_rotated');
    assert.equal(rotated.kid, 'key-b');
    assert.equal(rotated.key, 'EC P-256');

    writeFileSync(keyFile, pem(keys.unknown));
    const b = new HttpBrowser();
    const res = await b.navigate(`${s.proxy.url}/oauth2/start?rd=/`);
    assert.equal(res.status, 502, res.body.slice(0, 300));
    assert.match(res.body, /could not prove its own identity/);
    const failed = await logLine(s.proxy, (l) => l.event === 'login_failed' && l.code === 'CLIENT_AUTH_FAILED');
    const kid = jwkThumbprint(createPublicKey(keys.unknown).export({ format: 'jwk' }));
    assert.match(String(failed.detail), new RegExp(`invalid_client.*kid ${kid}`));
  });
});

describe('private_key_jwt: what the issuer lists decides', () => {
  test('the algorithm comes from token_endpoint_auth_signing_alg_values_supported (PS256 only: an RSA key signs PS256), aud the token endpoint, Ed25519', async () => {
    const key = rsa();
    const s = await startSecretless({
      issuer: { clientAuthSigningAlgs: ['PS256', 'ES256'] },
      client: { token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'PS256', jwks: { keys: [publicJwk(key)] } },
      env: () => ({ OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE: write('ps.pem', pem(key)), OAUTH2_PROXY_CLIENT_ASSERTION_AUDIENCE: 'token_endpoint' }),
    });
    try {
      await loginThrough(s.proxy.url);
    } finally {
      await s.close();
    }
    const ed = generateKeyPairSync('ed25519').privateKey;
    const e = await startSecretless({
      client: { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk(ed)] } },
      env: () => ({ OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE: write('ed.pem', pem(ed)) }),
    });
    try {
      await loginThrough(e.proxy.url);
    } finally {
      await e.close();
    }
  });

  test('an issuer that does not list private_key_jwt: never ready, and the log names both sides', async () => {
    const key = ec();
    const s = await startSecretless({
      issuer: { clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'] },
      client: { token_endpoint_auth_method: 'none' },
      env: () => ({ OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE: write('nolist.pem', pem(key)) }),
      waitReady: false,
    });
    try {
      const line = await logLine(s.proxy, (l) => l.event === 'issuer_shortfall');
      assert.equal(line.level, 50);
      assert.match(String(line.msg), /the issuer does not list private_key_jwt in token_endpoint_auth_methods_supported; it lists client_secret_basic, client_secret_post, none/);
      assert.equal((await fetch(`${s.proxy.url}/ready`)).status, 503);
    } finally {
      await s.close();
    }
  });

  test('an EC key and an issuer that takes only RSA assertions: the log says what each side can do', async () => {
    const key = ec();
    const s = await startSecretless({
      issuer: { clientAuthSigningAlgs: ['RS256', 'PS256'] },
      client: { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk(key)] } },
      env: () => ({ OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE: write('ec-only.pem', pem(key)) }),
      waitReady: false,
    });
    try {
      const line = await logLine(s.proxy, (l) => l.event === 'issuer_shortfall');
      assert.match(String(line.msg), /no algorithm the EC P-256 client key can sign with: its token_endpoint_auth_signing_alg_values_supported are RS256, PS256; the key can sign with ES256/);
    } finally {
      await s.close();
    }
  });
});

describe('private_key_jwt configuration', () => {
  const key = write('cfg.pem', pem(ec()));
  const noSecret = { OAUTH2_PROXY_CLIENT_SECRET: '' };

  test('no client secret is needed with a key file; the method is implied by it', () => {
    const v = validateEnv({ ...noSecret, OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE: key });
    assert.ok(v.ok, v.ok ? '' : v.errors.join('\n'));
    assert.deepEqual(v.ok && v.config.provider.clientAuth, { method: 'private_key_jwt', keyFile: key, audience: 'issuer' });
    assert.equal(v.ok && v.config.provider.clientSecret, '');
  });

  test('without any credential the secret is still asked for, naming the other ways', () => {
    const v = validateEnv(noSecret);
    assert.ok(!v.ok && v.errors.some((e) => /OAUTH2_PROXY_CLIENT_SECRET.*OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE/.test(e)), v.ok ? '' : v.errors.join('\n'));
  });

  test('mistakes name the variable and the file', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ OAUTH2_PROXY_CLIENT_AUTH_METHOD: 'private_key_jwt' }, /OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE.*private key/],
      [{ OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE: '/nonexistent/key.pem' }, /OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE.*\/nonexistent\/key\.pem: ENOENT/],
      [{ OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE: write('pub.pem', createPublicKey(ec()).export({ format: 'pem', type: 'spki' }).toString()) }, /OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE.*PEM private key.*pub\.pem/],
      [{ OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE: key, OAUTH2_PROXY_CLIENT_ASSERTION_FILE: key }, /only one of OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE/],
      [{ OAUTH2_PROXY_CLIENT_AUTH_METHOD: 'client_secret_basic', OAUTH2_PROXY_CLIENT_SECRET: 's', OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE: key }, /OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE.*unset with OAUTH2_PROXY_CLIENT_AUTH_METHOD=client_secret_basic/],
      [{ OAUTH2_PROXY_CLIENT_PRIVATE_KEY_CERTIFICATE_FILE: key, OAUTH2_PROXY_CLIENT_SECRET: 's' }, /OAUTH2_PROXY_CLIENT_PRIVATE_KEY_CERTIFICATE_FILE.*only with OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE/],
      [{ OAUTH2_PROXY_CLIENT_AUTH_METHOD: 'client_secret_jwt' }, /OAUTH2_PROXY_CLIENT_AUTH_METHOD/],
    ];
    for (const [env, expected] of cases) {
      const v = validateEnv({ ...noSecret, ...env });
      assert.ok(!v.ok && v.errors.some((e) => expected.test(e)), `${JSON.stringify(env)}: ${v.ok ? 'accepted' : v.errors.join('\n')}`);
    }
  });

  test('a secret beside a key file is warned about as unused', () => {
    const v = validateEnv({ OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE: key });
    assert.ok(v.ok);
    assert.ok(v.warnings.some((w) => /OAUTH2_PROXY_CLIENT_SECRET is not used: the client authenticates with private_key_jwt/.test(w)), v.warnings.join('\n'));
  });
});

describe('docs/client-auth.md as written: the openssl command makes the key, the private_key_jwt environment signs in', () => {
  // Substituted: the folder /etc/portcullis (a temporary one). Added by startSecretless to reach the
  // test's issuer: its URL, the cookie secret (Secure off: plain http), email domains, upstream, address.
  const etc = mkdtempSync(join(dir, 'etc-'));
  const sub = { '/etc/portcullis': etc };
  before(() => { runShell(docBlock('clientauth-genpkey', 'sh'), { cwd: etc }); });

  test('the key is an EC P-256 key; registered by its thumbprint, a login and the token call need no secret', async () => {
    const key = createPrivateKey(readFileSync(join(etc, 'client-key.pem')));
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const env = substitute(envBlock('clientauth-private-key-jwt-env'), sub);
    assert.deepEqual(Object.keys(env).sort(), ['OAUTH2_PROXY_CLIENT_ID', 'OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE']);
    const s = await startSecretless({ clientId: env.OAUTH2_PROXY_CLIENT_ID!, client: { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk(key)] } }, env: () => env });
    try {
      await loginThrough(s.proxy.url);
      assert.equal(s.issuer.seen.get('/oauth2/token')?.authorization, undefined, 'no client secret sent');
      assert.match(JSON.stringify(s.proxy.logs.lines.find((l) => l.msg === 'issuer ready')), /"tokenEndpointAuth":"private_key_jwt"/);
    } finally {
      await s.close();
    }
  });

  test('its commented-out lines, uncommented (the token endpoint as audience, a certificate of the key): still a login', async () => {
    const commented = substitute(envBlock('clientauth-private-key-jwt-env', { commented: true }), sub);
    assert.deepEqual(Object.keys(commented).sort(), ['OAUTH2_PROXY_CLIENT_ASSERTION_AUDIENCE', 'OAUTH2_PROXY_CLIENT_PRIVATE_KEY_CERTIFICATE_FILE']);
    // The certificate uploaded to the app registration: here one the test makes of the page's key.
    runShell(`openssl req -x509 -key client-key.pem -out ${commented.OAUTH2_PROXY_CLIENT_PRIVATE_KEY_CERTIFICATE_FILE} -days 2 -subj /CN=portcullis`, { cwd: etc });
    const env = { ...substitute(envBlock('clientauth-private-key-jwt-env'), sub), ...commented };
    const key = createPrivateKey(readFileSync(join(etc, 'client-key.pem')));
    const s = await startSecretless({ clientId: env.OAUTH2_PROXY_CLIENT_ID!, client: { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk(key)] } }, env: () => env });
    try {
      await loginThrough(s.proxy.url);
    } finally {
      await s.close();
    }
  });
});
