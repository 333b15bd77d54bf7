import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { HttpBrowser } from './support/browser.js';
import { envBlock, substitute } from './support/docenv.js';
import { validateEnv } from './support/config.js';
import { ACCOUNT, logLine, startSecretless, type Secretless } from './support/secretless.js';
import { makeCertificates, type TestCertificates } from './support/tls.js';

const SUBJECT = 'CN=portcullis-client,O=Portcullis tests';

/** Client certificates: one the test CA signs (tls_client_auth), a self-signed one, and one of another CA with the same subject. */
function clientCertificates(certs: TestCertificates): { signed: [string, string]; selfSigned: [string, string]; foreign: [string, string] } {
  const openssl = (...args: string[]): void => { execFileSync('openssl', args, { cwd: certs.dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 }); };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const subj = `/${SUBJECT.split(',').join('/')}`;
  writeFileSync(join(certs.dir, 'client.ext'), 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n');
  openssl('req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', subj);
  openssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '2', '-extfile', 'client.ext');
  openssl('req', '-x509', ...ec, '-keyout', 'self.key', '-out', 'self.crt', '-days', '2', '-subj', subj);
  openssl('req', '-x509', ...ec, '-keyout', 'foreign.key', '-out', 'foreign.crt', '-days', '2', '-subj', subj);
  const at = (f: string): string => join(certs.dir, f);
  return { signed: [at('client.crt'), at('client.key')], selfSigned: [at('self.crt'), at('self.key')], foreign: [at('foreign.crt'), at('foreign.key')] };
}

describe('mTLS (RFC 8705) through a local CA: the issuer serves https and asks for client certificates', () => {
  let certs: TestCertificates;
  let client: ReturnType<typeof clientCertificates>;
  let caFile: string;
  before(() => {
    certs = makeCertificates(['127.0.0.1', 'localhost']);
    caFile = join(certs.dir, 'ca.crt');
    client = clientCertificates(certs);
  });
  after(() => certs?.remove());

  const start = (o: { method: string; client: Record<string, unknown>; cert: [string, string]; env?: Record<string, string>; waitReady?: boolean }): Promise<Secretless> => startSecretless({
    issuer: { tls: { cert: readFileSync(certs.certFile, 'utf8'), key: readFileSync(certs.keyFile, 'utf8') }, mtls: { clientCa: certs.ca, aliasHost: 'localhost' } },
    client: { token_endpoint_auth_method: o.method, tls_client_certificate_bound_access_tokens: true, ...o.client },
    env: () => ({
      OAUTH2_PROXY_PROVIDER_CA_FILES: caFile, OAUTH2_PROXY_CLIENT_AUTH_METHOD: o.method,
      OAUTH2_PROXY_CLIENT_TLS_CERT_FILE: o.cert[0], OAUTH2_PROXY_CLIENT_TLS_KEY_FILE: o.cert[1], OAUTH2_PROXY_PASS_ACCESS_TOKEN: 'true', ...o.env,
    }),
    ...(o.waitReady === false ? { waitReady: false } : {}),
  });
  /** Signs in, then asks the upstream for JSON (the echo of its request) when the login worked. */
  const login = async (s: Secretless): Promise<{ status: number; body: string }> => {
    const b = new HttpBrowser({ ca: certs.ca });
    const landed = await b.navigate(`${s.proxy.url}/oauth2/start?rd=/`);
    return landed.status === 200 ? b.request(`${s.proxy.url}/x`, { headers: { accept: 'application/json' } }) : landed;
  };

  test('tls_client_auth: the token and userinfo calls go to the mtls_endpoint_aliases with the certificate; the token is bound to it', async () => {
    const s = await start({ method: 'tls_client_auth', client: { tls_client_auth_subject_dn: SUBJECT }, cert: client.signed });
    try {
      const res = await login(s);
      assert.equal(res.status, 200, JSON.stringify(s.proxy.logs.lines.filter((l) => l.event === 'login_failed')));
      const headers = JSON.parse(res.body).headers as Record<string, string>;
      assert.equal(headers['x-forwarded-user'], ACCOUNT.sub);
      const port = new URL(s.issuer.issuer).port;
      assert.equal(s.issuer.seen.get('/oauth2/token')?.host, `localhost:${port}`, 'the token endpoint alias');
      assert.equal(s.issuer.seen.get('/userinfo')?.host, `localhost:${port}`, 'the userinfo alias, with the same certificate (else the bound token is refused)');
      // Certificate-bound: the token alone (no client certificate, or another one) is refused at userinfo.
      const token = headers['x-forwarded-access-token']!;
      const call = (cert?: [string, string]): Promise<number> => new Promise((resolve, reject) => {
        https.get(s.issuer.endpoints.userinfo, { ca: certs.ca, headers: { authorization: `Bearer ${token}` }, ...(cert ? { cert: readFileSync(cert[0]), key: readFileSync(cert[1]) } : {}) }, (r) => { r.resume(); resolve(r.statusCode!); }).on('error', reject);
      });
      assert.equal(await call(), 401);
      assert.equal(await call(client.selfSigned), 401);
      assert.equal(await call(client.signed), 200, 'with the proxy\'s own certificate the token works: the refusals above are the binding');
    } finally {
      await s.close();
    }
  });

  test('docs/client-auth.md as written: the mTLS environment, its CA line uncommented (the issuer\'s certificate is the test CA\'s), signs in through the aliases', async () => {
    // Substituted: the paths of the certificate, its key and the issuer's CA (the test's own). Added by
    // startSecretless to reach the test's issuer: its URL, the cookie secret (Secure off: plain http),
    // email domains, upstream, address.
    const sub = { '/etc/portcullis/mtls.crt': client.signed[0], '/etc/portcullis/mtls.key': client.signed[1], '/etc/ssl/issuer-ca.pem': caFile };
    const env = { ...substitute(envBlock('clientauth-mtls-env'), sub), ...substitute(envBlock('clientauth-mtls-env', { commented: true }), sub) };
    assert.deepEqual(Object.keys(env).sort(), ['OAUTH2_PROXY_CLIENT_AUTH_METHOD', 'OAUTH2_PROXY_CLIENT_ID', 'OAUTH2_PROXY_CLIENT_TLS_CERT_FILE', 'OAUTH2_PROXY_CLIENT_TLS_KEY_FILE', 'OAUTH2_PROXY_PROVIDER_CA_FILES']);
    const s = await startSecretless({
      clientId: env.OAUTH2_PROXY_CLIENT_ID!,
      issuer: { tls: { cert: readFileSync(certs.certFile, 'utf8'), key: readFileSync(certs.keyFile, 'utf8') }, mtls: { clientCa: certs.ca, aliasHost: 'localhost' } },
      client: { token_endpoint_auth_method: env.OAUTH2_PROXY_CLIENT_AUTH_METHOD, tls_client_auth_subject_dn: SUBJECT, tls_client_certificate_bound_access_tokens: true },
      env: () => env,
    });
    try {
      const res = await login(s);
      assert.equal(res.status, 200, JSON.stringify(s.proxy.logs.lines.filter((l) => l.event === 'login_failed')));
      assert.equal(s.issuer.seen.get('/oauth2/token')?.host, `localhost:${new URL(s.issuer.issuer).port}`, 'the token endpoint alias, with the certificate');
    } finally {
      await s.close();
    }
  });

  test('self_signed_tls_client_auth: the certificate registered with the client is the credential', async () => {
    const pem = readFileSync(client.selfSigned[0], 'utf8');
    const x509 = new X509Certificate(pem);
    const jwk = { ...x509.publicKey.export({ format: 'jwk' }), x5c: [x509.raw.toString('base64')] };
    const s = await start({ method: 'self_signed_tls_client_auth', client: { jwks: { keys: [jwk] } }, cert: client.selfSigned });
    try {
      const res = await login(s);
      assert.equal(res.status, 200, res.body.slice(0, 300));
    } finally {
      await s.close();
    }
  });

  test('a certificate the issuer does not accept (another CA, same subject): CLIENT_AUTH_FAILED naming the certificate', async () => {
    const s = await start({ method: 'tls_client_auth', client: { tls_client_auth_subject_dn: SUBJECT }, cert: client.foreign });
    try {
      const res = await login(s);
      assert.equal(res.status, 502, res.body.slice(0, 300));
      const line = await logLine(s.proxy, (l) => l.event === 'login_failed' && l.code === 'CLIENT_AUTH_FAILED');
      assert.match(String(line.detail), /the issuer refused tls_client_auth \(invalid_client.*TLS client certificate from .*foreign\.crt \(subject CN=portcullis-client, O=Portcullis tests\)/);
    } finally {
      await s.close();
    }
  });

  test('configuration: a certificate and its key, both; mTLS needs no secret', () => {
    const noSecret = { OAUTH2_PROXY_CLIENT_SECRET: '' };
    const ok = validateEnv({ ...noSecret, OAUTH2_PROXY_CLIENT_TLS_CERT_FILE: client.signed[0], OAUTH2_PROXY_CLIENT_TLS_KEY_FILE: client.signed[1] });
    assert.ok(ok.ok, ok.ok ? '' : ok.errors.join('\n'));
    assert.deepEqual(ok.ok && ok.config.provider.clientAuth, { method: 'tls_client_auth' });
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ OAUTH2_PROXY_CLIENT_TLS_CERT_FILE: client.signed[0] }, /OAUTH2_PROXY_CLIENT_TLS_KEY_FILE/],
      [{ OAUTH2_PROXY_CLIENT_TLS_CERT_FILE: client.signed[0], OAUTH2_PROXY_CLIENT_TLS_KEY_FILE: client.foreign[1] }, /OAUTH2_PROXY_CLIENT_TLS_KEY_FILE.*another key/],
      [{ OAUTH2_PROXY_CLIENT_TLS_CERT_FILE: client.signed[1], OAUTH2_PROXY_CLIENT_TLS_KEY_FILE: client.signed[1] }, /OAUTH2_PROXY_CLIENT_TLS_CERT_FILE.*PEM certificate/],
      [{ OAUTH2_PROXY_CLIENT_AUTH_METHOD: 'self_signed_tls_client_auth' }, /OAUTH2_PROXY_CLIENT_TLS_CERT_FILE/],
    ];
    for (const [env, expected] of cases) {
      const v = validateEnv({ ...noSecret, ...env });
      assert.ok(!v.ok && v.errors.some((e) => expected.test(e)), `${JSON.stringify(env)}: ${v.ok ? 'accepted' : v.errors.join('\n')}`);
    }
  });
});
