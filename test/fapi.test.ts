import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as client from 'openid-client';
import { jwkThumbprint } from '../src/oidc/clientkey.js';
import { issuerShortfalls, type IssuerNeeds } from '../src/oidc/requirements.js';
import { HttpBrowser } from './support/browser.js';
import { validateEnv } from './support/config.js';
import { docBlock } from './support/docblock.js';
import { envBlock, runShell, substitute } from './support/docenv.js';
import { logLine, startSecretless } from './support/secretless.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-fapi-'));
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const keyFile = join(dir, 'client.pem');
writeFileSync(keyFile, key.export({ format: 'pem', type: 'pkcs8' }));
const jwk = createPublicKey(key).export({ format: 'jwk' });
const FAPI_CLIENT = { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ ...jwk, kid: jwkThumbprint(jwk) }] }, dpop_bound_access_tokens: true };
const FAPI_ENV = { OAUTH2_PROXY_FAPI_PROFILE: '2.0', OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE: keyFile };

describe('the FAPI 2.0 Security Profile as one switch', () => {
  test('against oidc-provider in FAPI 2.0 mode: PAR, PKCE S256, private_key_jwt (aud the issuer, ES256), DPoP, an ES256 ID token; a callback whose iss is not the issuer is refused', async () => {
    const s = await startSecretless({ issuer: { fapi2: true }, client: FAPI_CLIENT, env: () => FAPI_ENV });
    try {
      await pushedDpopLogin(s);
      const ready = s.proxy.logs.lines.find((l) => l.msg === 'issuer ready')!;
      assert.equal(ready.profile, 'FAPI 2.0 Security Profile');
      assert.equal(ready.tokenEndpointAuth, 'private_key_jwt');

      // RFC 9207: the callback's iss must be the issuer (a mix-up attack sends another issuer's code here).
      const b2 = new HttpBrowser();
      let callback: URL | undefined;
      await b2.navigate(`${s.proxy.url}/oauth2/start?rd=/`, { stopAt: (u) => { if (u.pathname === '/oauth2/callback') { callback = u; return true; } return false; } });
      const cb = callback as URL | undefined;
      if (!cb) throw new Error('the issuer never sent the browser back to the callback');
      assert.ok(cb.searchParams.get('iss'), 'the issuer sends iss');
      cb.searchParams.set('iss', 'https://attacker.example/');
      const mixed = await b2.request(cb.href);
      assert.ok(mixed.status >= 400, `refused: ${mixed.status}`);
      const line = await logLine(s.proxy, (l) => l.event === 'login_failed');
      assert.equal(line.code, 'LOGIN_TOKEN_INVALID');
      const b3 = new HttpBrowser();
      callback = undefined;
      await b3.navigate(`${s.proxy.url}/oauth2/start?rd=/`, { stopAt: (u) => { if (u.pathname === '/oauth2/callback') { callback = u; return true; } return false; } });
      callback!.searchParams.delete('iss');
      assert.ok((await b3.request(callback!.href)).status >= 400, 'a callback without iss is refused too');
    } finally {
      await s.close();
    }
  });

  test('against an issuer without PAR (nor the rest): never ready, and each missing piece is named', async () => {
    const s = await startSecretless({ issuer: { clientAuthSigningAlgs: ['RS256', 'ES256'] }, client: { token_endpoint_auth_method: 'private_key_jwt', jwks: FAPI_CLIENT.jwks }, env: () => FAPI_ENV, waitReady: false });
    try {
      const line = await logLine(s.proxy, (l) => l.event === 'issuer_shortfall');
      const problems = line.problems as string[];
      assert.ok(problems.some((p) => /no pushed_authorization_request_endpoint, and FAPI 2.0 needs PAR/.test(p)), problems.join('\n'));
      assert.ok(problems.some((p) => /signs ID tokens with RS256.*FAPI 2.0 allows only PS256, ES256, EdDSA/.test(p)), problems.join('\n'));
      assert.equal((await fetch(`${s.proxy.url}/ready`)).status, 503);
    } finally {
      await s.close();
    }
  });

  test('configuration: the switch turns on PAR and DPoP, keeps ID tokens to PS256/ES256/EdDSA, and refuses a client secret', () => {
    const v = validateEnv({ ...FAPI_ENV, OAUTH2_PROXY_CLIENT_SECRET: '' });
    assert.ok(v.ok, v.ok ? '' : v.errors.join('\n'));
    const p = v.ok ? v.config.provider : undefined;
    assert.equal(p?.pushedAuthorizationRequests, true);
    assert.equal(p?.dpop, true);
    assert.deepEqual(p?.signingAlgs, ['PS256', 'ES256', 'EdDSA']);
    const secret = validateEnv({ OAUTH2_PROXY_FAPI_PROFILE: '2.0' });
    assert.ok(!secret.ok && secret.errors.some((e) => /OAUTH2_PROXY_FAPI_PROFILE.*private_key_jwt.*mTLS.*a client secret is not allowed/.test(e)), secret.ok ? 'accepted' : secret.errors.join('\n'));
    const rs = validateEnv({ ...FAPI_ENV, OAUTH2_PROXY_CLIENT_SECRET: '', OAUTH2_PROXY_OIDC_ENABLED_SIGNING_ALGS: 'RS256,ES256' });
    assert.ok(!rs.ok && rs.errors.some((e) => /OAUTH2_PROXY_OIDC_ENABLED_SIGNING_ALGS.*RS256 is not allowed by FAPI 2.0/.test(e)), rs.ok ? 'accepted' : rs.errors.join('\n'));
  });
});

describe('issuerShortfalls: the issuer\'s metadata held against the configuration', () => {
  const FULL: client.ServerMetadata = {
    issuer: 'https://as.example/', token_endpoint_auth_methods_supported: ['private_key_jwt', 'tls_client_auth'],
    token_endpoint_auth_signing_alg_values_supported: ['PS256', 'ES256'], pushed_authorization_request_endpoint: 'https://as.example/par',
    dpop_signing_alg_values_supported: ['ES256'], authorization_response_iss_parameter_supported: true, code_challenge_methods_supported: ['S256'],
    id_token_signing_alg_values_supported: ['ES256'], tls_client_certificate_bound_access_tokens: true,
  };
  const FAPI: IssuerNeeds = { method: 'private_key_jwt', key: { algorithms: ['ES256'], describe: 'EC P-256' }, par: true, dpop: true, certificateBound: false, fapi2: true };
  const table: Array<[string, Partial<client.ServerMetadata>, IssuerNeeds, RegExp | undefined]> = [
    ['everything there', {}, FAPI, undefined],
    ['no PAR endpoint', { pushed_authorization_request_endpoint: undefined }, FAPI, /no pushed_authorization_request_endpoint, and FAPI 2.0 needs PAR/],
    ['no iss in responses', { authorization_response_iss_parameter_supported: undefined }, FAPI, /authorization_response_iss_parameter_supported: true.*RFC 9207/],
    ['no S256', { code_challenge_methods_supported: ['plain'] }, FAPI, /does not list S256 in code_challenge_methods_supported \(it lists plain\)/],
    ['no DPoP', { dpop_signing_alg_values_supported: undefined }, FAPI, /does not support DPoP/],
    ['DPoP without ES256', { dpop_signing_alg_values_supported: ['PS256'] }, FAPI, /does not list ES256 in dpop_signing_alg_values_supported; it lists PS256/],
    ['RS256 ID tokens only', { id_token_signing_alg_values_supported: ['RS256'] }, FAPI, /signs ID tokens with RS256/],
    ['method not listed', { token_endpoint_auth_methods_supported: ['client_secret_basic'] }, FAPI, /does not list private_key_jwt in token_endpoint_auth_methods_supported; it lists client_secret_basic/],
    ['method list omitted: basic only (RFC 8414)', { token_endpoint_auth_methods_supported: undefined }, FAPI, /it lists client_secret_basic \(by omission/],
    ['no algorithm for the key', { token_endpoint_auth_signing_alg_values_supported: ['RS256'] }, FAPI, /lists no algorithm the EC P-256 client key can sign with/],
    ['mTLS-bound tokens not offered', { tls_client_certificate_bound_access_tokens: undefined }, { ...FAPI, method: 'tls_client_auth', dpop: false, certificateBound: true }, /tls_client_certificate_bound_access_tokens: true/],
    ['without FAPI, iss and S256 are not asked', { authorization_response_iss_parameter_supported: undefined, code_challenge_methods_supported: undefined }, { ...FAPI, fapi2: false }, undefined],
  ];
  for (const [name, change, needs, expected] of table) {
    test(name, () => {
      const problems = issuerShortfalls({ ...FULL, ...change }, needs);
      if (!expected) assert.deepEqual(problems, []);
      else assert.ok(problems.length === 1 && expected.test(problems[0]!), problems.join('\n'));
    });
  }
});

describe('docs/client-auth.md as written: the FAPI 2.0 environment with the key its openssl command makes', () => {
  test('against oidc-provider in FAPI 2.0 mode: ready, pushed, DPoP, a login', async () => {
    // Substituted: the folder /etc/portcullis (a temporary one). Added: the client id of the page's
    // private_key_jwt block (portcullis) and, by startSecretless, the issuer's URL, cookie secret,
    // email domains, upstream, address.
    const etc = mkdtempSync(join(dir, 'etc-'));
    runShell(docBlock('clientauth-genpkey', 'sh'), { cwd: etc });
    const env = substitute(envBlock('clientauth-fapi-env'), { '/etc/portcullis': etc });
    assert.deepEqual(Object.keys(env).sort(), ['OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE', 'OAUTH2_PROXY_FAPI_PROFILE']);
    const pub = createPublicKey(createPrivateKey(readFileSync(env.OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE!))).export({ format: 'jwk' });
    const clientId = envBlock('clientauth-private-key-jwt-env').OAUTH2_PROXY_CLIENT_ID!;
    const s = await startSecretless({ clientId, issuer: { fapi2: true }, client: { ...FAPI_CLIENT, jwks: { keys: [{ ...pub, kid: jwkThumbprint(pub) }] } }, env: () => env });
    try {
      await pushedDpopLogin(s);
      assert.equal(s.proxy.logs.lines.find((l) => l.msg === 'issuer ready')?.profile, 'FAPI 2.0 Security Profile');
    } finally {
      await s.close();
    }
  });
});

/** A login through a FAPI 2.0 issuer: the authorization request pushed (PAR), the code redeemed with DPoP. */
async function pushedDpopLogin(s: Awaited<ReturnType<typeof startSecretless>>): Promise<void> {
  const b = new HttpBrowser();
  const start = await b.request(`${s.proxy.url}/oauth2/start?rd=/`);
  assert.deepEqual([...new URL(start.headers.location!).searchParams.keys()].sort(), ['client_id', 'request_uri'], 'pushed');
  const landed = await b.navigate(start.headers.location!);
  assert.equal(landed.status, 200, JSON.stringify(s.proxy.logs.lines.filter((l) => l.event === 'login_failed' || l.event === 'request_failed')));
  assert.ok(s.issuer.seen.get('/oauth2/token')?.dpop, 'DPoP at the token endpoint');
}
