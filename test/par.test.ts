import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpBrowser } from './support/browser.js';
import { validateEnv } from './support/config.js';
import { envBlock } from './support/docenv.js';
import { loginThrough } from './support/rig.js';
import { logLine, startSecretless } from './support/secretless.js';

const PKJWT = { OAUTH2_PROXY_CLIENT_SECRET: 'par-secret-0123456789' };

describe('pushed authorization requests (RFC 9126)', () => {
  test('an issuer that requires PAR: the request is pushed by itself, and the browser carries only client_id and request_uri', async () => {
    const s = await startSecretless({
      issuer: { par: { required: true } },
      client: { client_secret: PKJWT.OAUTH2_PROXY_CLIENT_SECRET, token_endpoint_auth_method: 'client_secret_basic' },
      env: () => PKJWT,
    });
    try {
      const b = new HttpBrowser();
      const start = await b.request(`${s.proxy.url}/oauth2/start?rd=/`);
      assert.equal(start.status, 302);
      const to = new URL(start.headers.location!);
      assert.equal(to.origin + to.pathname, s.issuer.endpoints.authorization);
      assert.deepEqual([...to.searchParams.keys()].sort(), ['client_id', 'request_uri']);
      assert.match(to.searchParams.get('request_uri')!, /^urn:ietf:params:oauth:request_uri:/);
      assert.equal(s.issuer.seen.get('/request')?.count, 1, 'pushed once');
      const landed = await b.navigate(start.headers.location!);
      assert.equal(landed.status, 200, landed.body.slice(0, 300));
      assert.match(JSON.stringify(s.proxy.logs.lines.find((l) => l.msg === 'issuer ready')), /"par":true/);
    } finally {
      await s.close();
    }
  });

  test('pushed_authorization_requests=true pushes where the issuer only offers it', async () => {
    const s = await startSecretless({
      issuer: { par: {} },
      client: { client_secret: PKJWT.OAUTH2_PROXY_CLIENT_SECRET, token_endpoint_auth_method: 'client_secret_basic' },
      env: () => ({ ...PKJWT, OAUTH2_PROXY_PUSHED_AUTHORIZATION_REQUESTS: 'true' }),
    });
    try {
      await loginThrough(s.proxy.url);
      assert.equal(s.issuer.seen.get('/request')?.count, 1);
    } finally {
      await s.close();
    }
  });

  test('docs/client-auth.md as written: the PAR environment pushes to an issuer that only offers PAR; the browser carries client_id and request_uri', async () => {
    const env = envBlock('clientauth-par-env');
    assert.deepEqual(Object.keys(env), ['OAUTH2_PROXY_PUSHED_AUTHORIZATION_REQUESTS']);
    // Added: the client secret (PAR is beside a client authentication, here the plainest) and, by
    // startSecretless, the issuer's URL, client id, cookie secret, email domains, upstream, address.
    const s = await startSecretless({
      issuer: { par: {} },
      client: { client_secret: PKJWT.OAUTH2_PROXY_CLIENT_SECRET, token_endpoint_auth_method: 'client_secret_basic' },
      env: () => ({ ...PKJWT, ...env }),
    });
    try {
      const b = new HttpBrowser();
      const start = await b.request(`${s.proxy.url}/oauth2/start?rd=/`);
      assert.deepEqual([...new URL(start.headers.location!).searchParams.keys()].sort(), ['client_id', 'request_uri']);
      assert.equal(s.issuer.seen.get('/request')?.count, 1, 'pushed');
      const landed = await b.navigate(start.headers.location!);
      assert.equal(landed.status, 200, landed.body.slice(0, 300));
    } finally {
      await s.close();
    }
  });

  test('a PAR endpoint that refuses the client (a wrong secret): a 4xx page like the callback\'s error=, the issuer\'s error in the log', async () => {
    const s = await startSecretless({
      issuer: { par: { required: true } },
      client: { client_secret: 'the-right-secret-0123456789', token_endpoint_auth_method: 'client_secret_post' },
      env: () => ({ OAUTH2_PROXY_CLIENT_SECRET: 'a-wrong-secret-0123456789' }),
    });
    try {
      const res = await new HttpBrowser().navigate(`${s.proxy.url}/oauth2/start?rd=/`);
      assert.ok(res.status >= 400 && res.status < 500, `${res.status}: ${res.body.slice(0, 300)}`);
      const line = await logLine(s.proxy, (l) => l.event === 'request_failed');
      assert.match(String(line.detail), /invalid_client/);
    } finally {
      await s.close();
    }
  });

  test('pushed_authorization_requests against an issuer without a PAR endpoint: never ready, and says so', async () => {
    const s = await startSecretless({
      client: { client_secret: PKJWT.OAUTH2_PROXY_CLIENT_SECRET, token_endpoint_auth_method: 'client_secret_basic' },
      env: () => ({ ...PKJWT, OAUTH2_PROXY_PUSHED_AUTHORIZATION_REQUESTS: 'true' }),
      waitReady: false,
    });
    try {
      const line = await logLine(s.proxy, (l) => l.event === 'issuer_shortfall');
      assert.match(String(line.msg), /the issuer has no pushed_authorization_request_endpoint, and pushed_authorization_requests=true needs one/);
    } finally {
      await s.close();
    }
  });

  test('the option is a boolean', () => {
    const v = validateEnv({ OAUTH2_PROXY_PUSHED_AUTHORIZATION_REQUESTS: 'sometimes' });
    assert.ok(!v.ok && v.errors.some((e) => e.includes('OAUTH2_PROXY_PUSHED_AUTHORIZATION_REQUESTS')));
  });
});
