import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDevIssuer, type DevIssuer } from '../src/devissuer/issuer.js';
import { startEchoUpstream } from '../src/demo/echo.js';
import { HttpBrowser } from './support/browser.js';
import { validateEnv } from './support/config.js';
import { startInProcess, type InProcess } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import { ALICE, CLIENT_ID, CLIENT_SECRET } from './support/stack.js';
import { makeCertificates, type TestCertificates } from './support/tls.js';

describe('provider_ca_files: an issuer whose certificate a private CA signed', () => {
  let certs: TestCertificates;
  let issuer: DevIssuer;
  let echo: Awaited<ReturnType<typeof startEchoUpstream>>;
  let port: number;
  let caFile: string;
  const env = (): Record<string, string> => ({
    OAUTH2_PROXY_OIDC_ISSUER_URL: issuer.issuer, OAUTH2_PROXY_CLIENT_ID: CLIENT_ID, OAUTH2_PROXY_CLIENT_SECRET: CLIENT_SECRET,
    OAUTH2_PROXY_COOKIE_SECRET: Buffer.alloc(32, 5).toString('base64url'), OAUTH2_PROXY_COOKIE_SECURE: 'false',
    OAUTH2_PROXY_EMAIL_DOMAINS: '*', OAUTH2_PROXY_UPSTREAMS: echo.url,
  });
  before(async () => {
    certs = makeCertificates(['127.0.0.1']);
    caFile = join(certs.dir, 'ca.pem');
    writeFileSync(caFile, certs.ca);
    port = await freePort();
    issuer = await startDevIssuer({
      shape: 'hydra', accounts: [ALICE], tls: { cert: readFileSync(certs.certFile, 'utf8'), key: readFileSync(certs.keyFile, 'utf8') },
      clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`http://127.0.0.1:${port}/oauth2/callback`] }],
    });
    echo = await startEchoUpstream();
  });
  after(async () => { await issuer?.stop(); await echo?.close(); certs?.remove(); });

  test('with the CA file the whole login works over the issuer\'s TLS; without it the issuer is not trusted', async () => {
    assert.match(issuer.issuer, /^https:/);
    const proxy: InProcess = await startInProcess({ ...env(), OAUTH2_PROXY_PROVIDER_CA_FILES: caFile }, port);
    try {
      const b = new HttpBrowser({ ca: certs.ca });
      const landed = await b.navigate(`${proxy.url}/oauth2/start?rd=/x`);
      assert.equal(landed.status, 200, landed.body.slice(0, 300));
      assert.equal(JSON.parse((await b.request(`${proxy.url}/x`, { headers: { accept: 'application/json' } })).body).headers['x-forwarded-user'], ALICE.sub);
    } finally {
      await proxy.close();
    }
    // Without provider_ca_files the system roots apply, and discovery keeps failing: not ready.
    const untrusting = await import('./support/proxy.js').then(({ startProxy }) => startProxy({ ...env(), OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}` }));
    try {
      const line = await untrusting.waitForLog((l) => l.msg === 'issuer discovery failed; retrying');
      assert.match(JSON.stringify(line.err), /certificate|CERT|self.signed|SELF_SIGNED|UNABLE_TO/i);
      assert.equal((await fetch(`${untrusting.url}/ready`)).status, 503);
    } finally {
      await untrusting.stop();
    }
  });

  test('a file without a certificate, or missing, is a configuration error naming the option', () => {
    const v = validateEnv({ OAUTH2_PROXY_PROVIDER_CA_FILES: `${certs.keyFile},/nonexistent/ca.pem` });
    assert.equal(v.ok, false);
    const errors = v.ok ? [] : v.errors;
    assert.ok(errors.some((e) => e.includes('OAUTH2_PROXY_PROVIDER_CA_FILES') && e.includes('no -----BEGIN CERTIFICATE-----')), errors.join('\n'));
    assert.ok(errors.some((e) => e.includes('OAUTH2_PROXY_PROVIDER_CA_FILES') && e.includes('ENOENT')), errors.join('\n'));
  });
});
