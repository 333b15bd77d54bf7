// oauth2-proxy's alpha configuration at work, end to end: bin/portcullis --alpha-config against the
// real dev issuer and echo upstreams. Every section the file holds must change what happens on the
// wire: the listener, per-upstream options, rewriteTarget, static upstreams, injected headers on
// both sides, and the provider (its client, scope, groups and login parameters).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEchoUpstream } from '../src/demo/echo.js';
import { startDevIssuer, type DevIssuer } from '../src/devissuer/issuer.js';
import { validateAlphaConfig } from '../src/config/alpha/read.js';
import { mergeSources } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import { startPortcullis } from '../src/run.js';
import { HttpBrowser } from './support/browser.js';
import { makeCertificates } from './support/tls.js';
import { freePort, startProxy, type ProxyProcess } from './support/proxy.js';
import { loginThrough } from './support/rig.js';
import { CLIENT_ID, CLIENT_SECRET } from './support/stack.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => { for (const fn of cleanups.reverse()) await fn().catch(() => {}); });

let issuer: DevIssuer;
let echo: { url: string; close(): Promise<void> };
let proxy: ProxyProcess;
let browser: HttpBrowser;
const ACCOUNT = { sub: 'alpha-user-1', email: 'ada@example.com', email_verified: true, preferred_username: 'ada', groups: ['staff'], claims: { department: 'ops' } };

let alphaFile: (port: number) => string;
let workersPort: number;

before(async () => {
  const port = await freePort();
  workersPort = await freePort();
  issuer = await startDevIssuer({ shape: 'hydra', accounts: [ACCOUNT], clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [port, workersPort].map((p) => `http://127.0.0.1:${p}/oauth2/callback`) }] });
  cleanups.push(() => issuer.stop());
  echo = await startEchoUpstream();
  cleanups.push(() => echo.close());
  const dir = mkdtempSync(join(tmpdir(), 'alpha-runtime-'));
  writeFileSync(join(dir, 'client-secret'), `${CLIENT_SECRET}\n`);
  alphaFile = (p: number): string => {
    const file = join(dir, `alpha-${p}.yaml`);
    writeFileSync(file, `
server:
  bindAddress: 127.0.0.1:${p}
upstreamConfig:
  upstreams:
    - id: app
      path: /
      uri: ${echo.url}
    - id: api
      path: ^/api/v(\\d+)/(?P<rest>.*)$
      rewriteTarget: /service/\${rest}?version=$1
      uri: ${echo.url}
    - id: ok
      path: /static-ok/
      static: true
      staticCode: 202
    - id: own-host
      path: /own-host/
      uri: ${echo.url}
      passHostHeader: false
      timeout: 5s
injectRequestHeaders:
  - name: X-Forwarded-User
    values:
      - claimSource: { claim: user }
  - name: X-Department
    values:
      - claimSource: { claim: department, prefix: "dept:" }
  - name: X-App-Secret
    values:
      - secretSource: { value: ${b64('s3cret')} }
  - name: Authorization
    values:
      - claimSource:
          claim: email
          prefix: "Basic "
          basicAuthPassword: { value: ${b64('pw')} }
  - name: X-Tenant
    preserveRequestValue: true
    values:
      - secretSource: { value: ${b64('t1')} }
injectResponseHeaders:
  - name: X-Auth-Request-Email
    values:
      - claimSource: { claim: email }
providers:
  - id: dev
    provider: oidc
    name: Dev issuer
    clientID: ${CLIENT_ID}
    clientSecretFile: ${join(dir, 'client-secret')}
    scope: openid email profile groups
    allowedGroups: [staff]
    loginURLParameters:
      - name: ui_locales
        default: [en]
        allow:
          - pattern: '[a-z]{2}'
    oidcConfig:
      issuerURL: ${issuer.issuer}
`);
    return file;
  };
  const file = alphaFile(port);
  proxy = await startProxy({ OAUTH2_PROXY_COOKIE_SECRET: 'x'.repeat(32), OAUTH2_PROXY_COOKIE_SECURE: 'false', OAUTH2_PROXY_EMAIL_DOMAINS: '*' }, { args: ['--alpha-config', file], port });
  cleanups.push(() => proxy.stop());
  browser = await loginThrough(proxy.url);
});

async function echoed(path: string, headers: Record<string, string> = {}): Promise<{ url: string; headers: Record<string, string> }> {
  const res = await browser.request(`${proxy.url}${path}`, { headers: { accept: 'application/json', ...headers } });
  assert.equal(res.status, 200, `${path}: ${res.body.slice(0, 200)}`);
  return JSON.parse(res.body) as { url: string; headers: Record<string, string> };
}

test('injectRequestHeaders: claims (a session field and a userinfo claim with a prefix), a secret, Basic credentials; others left out', async () => {
  const seen = await echoed('/hello', { 'x-forwarded-email': 'forged@example.com' });
  assert.equal(seen.headers['x-forwarded-user'], ACCOUNT.sub);
  assert.equal(seen.headers['x-department'], 'dept:ops');
  assert.equal(seen.headers['x-app-secret'], 's3cret');
  assert.equal(seen.headers.authorization, `Basic ${b64(`${ACCOUNT.email}:pw`)}`);
  // Not injected, and a client's copy of an identity header never passes.
  assert.equal(seen.headers['x-forwarded-email'], undefined);
  assert.equal(seen.headers['x-forwarded-groups'], undefined);
});

test('preserveRequestValue: true adds the value to the client\'s own', async () => {
  assert.equal((await echoed('/', { 'x-tenant': 'c' })).headers['x-tenant'], 'c,t1');
  assert.equal((await echoed('/')).headers['x-tenant'], 't1');
});

test('rewriteTarget: a regex path rewritten with its groups, the query joined', async () => {
  assert.equal((await echoed('/api/v2/items/7?x=1')).url, '/service/items/7?x=1&version=2');
  // Matched on the decoded path, the rewritten one is encoded again (a decoded ? stays in the path).
  assert.equal((await echoed('/api/v3/a%20b%3Fc%C3%A9')).url, '/service/a%20b%3Fc%C3%A9?version=3');
  // A path the regex does not match goes to the prefix upstream as sent.
  assert.equal((await echoed('/apix/v2/items')).url, '/apix/v2/items');
});

test('a static upstream answers its staticCode; passHostHeader: false on one upstream only', async () => {
  const res = await browser.request(`${proxy.url}/static-ok/`);
  assert.equal(res.status, 202);
  assert.equal((await echoed('/own-host/x')).headers.host, new URL(echo.url).host);
  assert.equal((await echoed('/x')).headers.host, new URL(proxy.url).host);
});

test('injectResponseHeaders on /oauth2/auth answers', async () => {
  const res = await browser.request(`${proxy.url}/oauth2/auth`);
  assert.equal(res.status, 202);
  assert.equal(res.headers['x-auth-request-email'], ACCOUNT.email);
  assert.equal(res.headers['x-auth-request-user'], undefined);
});

test('loginURLParameters: the default, or a value from /oauth2/start its allow rule accepts', async () => {
  const authorize = async (q: string): Promise<URLSearchParams> => {
    const res = await new HttpBrowser().request(`${proxy.url}/oauth2/start${q}`);
    assert.equal(res.status, 302);
    return new URL(res.headers.location!).searchParams;
  };
  assert.equal((await authorize('')).get('ui_locales'), 'en');
  assert.equal((await authorize('?ui_locales=de')).get('ui_locales'), 'de');
  assert.equal((await authorize('?ui_locales=deu')).get('ui_locales'), 'en', 'the pattern is anchored');
  const p = await authorize('');
  assert.equal(p.get('client_id'), CLIENT_ID);
  assert.equal(p.get('scope'), 'openid email profile groups');
});

test('proxyRawPath (false by default, as in oauth2-proxy): upstreams are chosen by the percent-decoded path; the path goes on as sent', async () => {
  const seen = await echoed('/%6Fwn-host/x');
  assert.equal(seen.headers.host, new URL(echo.url).host, 'the own-host upstream served it');
  assert.equal(seen.url, '/%6Fwn-host/x');
});

test('with --workers 2 every worker reads the same alpha file', async () => {
  const workers = await startProxy({ OAUTH2_PROXY_COOKIE_SECRET: 'x'.repeat(32), OAUTH2_PROXY_COOKIE_SECURE: 'false', OAUTH2_PROXY_EMAIL_DOMAINS: '*', OAUTH2_PROXY_WORKERS: '2' }, { args: ['--alpha-config', alphaFile(workersPort)], port: workersPort });
  cleanups.push(() => workers.stop());
  // Each worker discovers the issuer after "listening"; a login before that gets 503 (seen here under load).
  await workers.waitForLog((l) => l.msg === 'issuer ready' && l.worker === 1, 20_000);
  await workers.waitForLog((l) => l.msg === 'issuer ready' && l.worker === 2, 20_000);
  const b = await loginThrough(workers.url);
  for (let i = 0; i < 4; i++) {
    const res = await b.request(`${workers.url}/api/v1/w?i=${i}`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 200);
    const seen = JSON.parse(res.body) as { url: string; headers: Record<string, string> };
    assert.equal(seen.url, `/service/w?i=${i}&version=1`);
    assert.equal(seen.headers['x-department'], 'dept:ops');
  }
});

test('per-upstream insecureSkipTLSVerify, disableKeepAlives and timeout: each upstream keeps its own (routes without login)', async () => {
  const certs = makeCertificates(['127.0.0.1']);
  cleanups.push(async () => certs.remove());
  const tlsEcho = https.createServer({ key: readFileSync(certs.keyFile), cert: readFileSync(certs.certFile) }, (req, res) => {
    const wait = req.url?.startsWith('/slow/') ? 1500 : 0;
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: req.url, headers: req.headers })), wait);
  });
  await new Promise<void>((r) => tlsEcho.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => tlsEcho.close(r)));
  const target = `https://127.0.0.1:${(tlsEcho.address() as { port: number }).port}`;
  const port = await freePort();
  const raw = mergeSources({ flags: {}, env: { OAUTH2_PROXY_COOKIE_SECRET: 'x'.repeat(32), OAUTH2_PROXY_EMAIL_DOMAINS: '*', OAUTH2_PROXY_SKIP_AUTH_ROUTES: '^/' }, dotenv: {} });
  const r = validateAlphaConfig(raw, { file: 'alpha.yaml', text: `
server: { bindAddress: "127.0.0.1:${port}" }
upstreamConfig:
  upstreams:
    - { id: trusting, path: /trusting/, uri: "${target}", insecureSkipTLSVerify: true, disableKeepAlives: true }
    - { id: checking, path: /checking/, uri: "${target}" }
    - { id: slow, path: /slow/, uri: "${target}", insecureSkipTLSVerify: true, timeout: 500ms }
providers:
  - { id: dev, clientID: ${CLIENT_ID}, clientSecret: ${CLIENT_SECRET}, oidcConfig: { issuerURL: "${issuer.issuer}" } }
` });
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  const running = await startPortcullis(r.config, createLogger('error'));
  cleanups.push(() => running.close(1000));
  const get = (path: string): Promise<{ status: number; body: string }> => new HttpBrowser().request(`${running.url}${path}`, { headers: { accept: 'application/json' } });
  const trusting = await get('/trusting/x');
  assert.equal(trusting.status, 200, trusting.body);
  assert.equal((JSON.parse(trusting.body) as { headers: Record<string, string> }).headers.connection, 'close');
  assert.equal((await get('/checking/x')).status, 502, 'the certificate is checked on the upstream without insecureSkipTLSVerify');
  assert.equal((await get('/slow/x')).status, 504, 'its own timeout');
});
