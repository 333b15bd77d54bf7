// oauth2-proxy's serving, access, cookie and logging options added by the sweep (issue 13), end to
// end through the proxy: ping_user_agent and gcp_healthchecks, allow_query_semicolons,
// force_json_errors, disable_keep_alives, trusted_ips, set_basic_auth, tls_cipher_suites,
// metrics_secure_address, cookie_csrf_*, auth_logging, standard_logging and errors_to_info_log.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import https from 'node:https';
import tls from 'node:tls';
import { Writable } from 'node:stream';
import { startEchoUpstream } from '../src/demo/echo.js';
import { createLogger } from '../src/log.js';
import { HttpBrowser } from './support/browser.js';
import { BIN, freePort } from './support/proxy.js';
import { events, loginThrough, startRig, type Rig, type RigOptions } from './support/rig.js';
import { makeCertificates } from './support/tls.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
after(async () => { for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => {}); });
async function rig(o: RigOptions): Promise<Rig> {
  const r = await startRig(o);
  cleanups.push(() => r.close());
  return r;
}
const certs = makeCertificates(['127.0.0.1']);
cleanups.push(() => certs.remove());

/** An API client's request (JSON answers, no redirects): what the proxy's answers look like without a browser. */
const api = (url: string, headers: Record<string, string> = {}) => new HttpBrowser().request(url, { headers: { accept: 'application/json', ...headers } });
/** What the echo upstream saw of a request. */
const echoed = (body: string): { url: string; headers: Record<string, string> } => JSON.parse(body) as { url: string; headers: Record<string, string> };

describe('health checks', () => {
  test('ping_user_agent: the ping path answers only that User-Agent; others take the normal road; `portcullis healthcheck` sends it', async () => {
    const r = await rig({ env: { OAUTH2_PROXY_PING_USER_AGENT: 'kube-probe/1.29' } });
    const probe = await api(`${r.proxy.url}/ping`, { 'user-agent': 'kube-probe/1.29' });
    assert.deepEqual([probe.status, probe.body], [200, 'OK']);
    const other = await api(`${r.proxy.url}/ping`, { 'user-agent': 'curl/8' });
    assert.equal(other.status, 401, 'not a health check: a request without a session');
    // A child process, awaited: the proxy answering it runs in this process.
    const check = (env: Record<string, string>): Promise<number | null> => new Promise((resolve) => {
      const child = spawn(process.execPath, [BIN, 'healthcheck'], { env: { PATH: process.env.PATH ?? '', OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${r.port}`, ...env }, stdio: 'ignore' });
      child.once('exit', (code) => resolve(code));
    });
    assert.equal(await check({ OAUTH2_PROXY_PING_USER_AGENT: 'kube-probe/1.29' }), 0);
    assert.equal(await check({}), 1, 'without the User-Agent the ping path is not a health check');
  });

  test('gcp_healthchecks: /liveness_check and /readiness_check answer GoogleHC/1.0, as the ping path does', async () => {
    const r = await rig({ env: { OAUTH2_PROXY_GCP_HEALTHCHECKS: 'true' } });
    for (const path of ['/liveness_check', '/readiness_check', '/ping']) {
      const hc = await api(`${r.proxy.url}${path}`, { 'user-agent': 'GoogleHC/1.0' });
      assert.deepEqual([path, hc.status, hc.body], [path, 200, 'OK']);
    }
    assert.equal((await api(`${r.proxy.url}/liveness_check`, { 'user-agent': 'curl/8' })).status, 401);
    const plain = await rig({});
    assert.equal((await api(`${plain.proxy.url}/liveness_check`, { 'user-agent': 'GoogleHC/1.0' })).status, 401, 'off by default');
  });
});

describe('requests', () => {
  test('allow_query_semicolons: ; in the query is read as & and reaches the upstream so; by default it is left alone', async () => {
    const on = await rig({ env: { OAUTH2_PROXY_ALLOW_QUERY_SEMICOLONS: 'true', OAUTH2_PROXY_SKIP_AUTH_ROUTES: '^/open' } });
    assert.equal(echoed((await api(`${on.proxy.url}/open/x?a=1;b=2&c=3;4`)).body).url, '/open/x?a=1&b=2&c=3&4');
    const off = await rig({ env: { OAUTH2_PROXY_SKIP_AUTH_ROUTES: '^/open' } });
    assert.equal(echoed((await api(`${off.proxy.url}/open?a=1;b=2`)).body).url, '/open?a=1;b=2');
  });

  test('force_json_errors: a browser without a session gets 401 JSON instead of the sign-in redirect, and errors come as JSON', async () => {
    const plain = await rig({});
    assert.equal((await new HttpBrowser().request(`${plain.proxy.url}/app`)).status, 302);
    const json = await rig({ env: { OAUTH2_PROXY_FORCE_JSON_ERRORS: 'true' } });
    const res = await new HttpBrowser().request(`${json.proxy.url}/app`);
    assert.equal(res.status, 401);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.equal((JSON.parse(res.body) as { error: string }).error, 'UNAUTHENTICATED');
    const callback = await new HttpBrowser().request(`${json.proxy.url}/oauth2/callback?code=x`);
    assert.equal(callback.status, 400);
    assert.equal((JSON.parse(callback.body) as { error: string }).error, 'LOGIN_BAD_REQUEST');
  });

  test('disable_keep_alives: every proxied request opens its own upstream connection and says Connection: close', async () => {
    const count = async (env: Record<string, string>): Promise<{ connections: number; connection: string }> => {
      const echo = await startEchoUpstream();
      let connections = 0;
      echo.server.on('connection', () => { connections++; });
      const r = await rig({ upstream: echo, env: { OAUTH2_PROXY_SKIP_AUTH_ROUTES: '^/open', ...env } });
      let connection = '';
      for (let i = 0; i < 3; i++) connection = echoed((await api(`${r.proxy.url}/open`)).body).headers.connection ?? '';
      return { connections, connection };
    };
    assert.deepEqual(await count({}), { connections: 1, connection: 'keep-alive' });
    assert.deepEqual(await count({ OAUTH2_PROXY_DISABLE_KEEP_ALIVES: 'true' }), { connections: 3, connection: 'close' });
  });
});

describe('trusted_ips', () => {
  test('a client on the list gets in without login and without identity headers; /oauth2/auth says 202; others sign in', async () => {
    const trusted = await rig({ env: { OAUTH2_PROXY_TRUSTED_IPS: '127.0.0.0/8' } });
    const res = await api(`${trusted.proxy.url}/app`, { 'x-forwarded-user': 'forged' });
    assert.equal(res.status, 200);
    assert.equal(echoed(res.body).headers['x-forwarded-user'], undefined, 'no identity, and the client\'s copy removed');
    assert.equal((await api(`${trusted.proxy.url}/oauth2/auth`)).status, 202);
    // A signed-in user from a trusted address keeps their identity.
    const b = await loginThrough(trusted.proxy.url);
    assert.equal(echoed((await b.request(`${trusted.proxy.url}/app`, { headers: { accept: 'application/json' } })).body).headers['x-forwarded-email'], 'rita@example.com');

    const others = await rig({ env: { OAUTH2_PROXY_TRUSTED_IPS: '10.9.9.9' } });
    assert.equal((await api(`${others.proxy.url}/app`)).status, 401);
    assert.equal((await api(`${others.proxy.url}/app`, { 'x-forwarded-for': '10.9.9.9', 'x-real-ip': '10.9.9.9' })).status, 401, 'without reverse_proxy no header names the client');
  });

  test('behind a load balancer, X-Forwarded-For is read from the right: an address the client put in front of it is not believed', async () => {
    const r = await rig({ env: { OAUTH2_PROXY_TRUSTED_IPS: '10.1.2.3', OAUTH2_PROXY_REVERSE_PROXY: 'true', OAUTH2_PROXY_REAL_CLIENT_IP_HEADER: 'X-Forwarded-For' } });
    const via = (xff: string): Promise<number> => api(`${r.proxy.url}/app`, { 'x-forwarded-for': xff }).then((x) => x.status);
    assert.equal(await via('10.1.2.3'), 200, 'the balancer (a trusted proxy: loopback) says the client is 10.1.2.3');
    assert.equal(await via('203.0.113.9, 10.1.2.3'), 200, 'what the client sent before does not matter');
    assert.equal(await via('10.1.2.3, 203.0.113.9'), 401, 'the client forged 10.1.2.3; the balancer saw 203.0.113.9 (oauth2-proxy would believe the first entry)');
    assert.equal(await via('10.1.2.3, 127.0.0.1'), 200, 'trusted proxies on the right are skipped');
    assert.equal(await via('not-an-address'), 401);
    assert.equal((await api(`${r.proxy.url}/oauth2/auth`, { 'x-forwarded-for': '10.1.2.3' })).status, 202);
    assert.equal((await api(`${r.proxy.url}/oauth2/auth`, { 'x-forwarded-for': '10.1.2.4' })).status, 401);
    const realIp = await rig({ env: { OAUTH2_PROXY_TRUSTED_IPS: '10.1.2.3', OAUTH2_PROXY_REVERSE_PROXY: 'true' } });
    assert.equal((await api(`${realIp.proxy.url}/app`, { 'x-real-ip': '10.1.2.3' })).status, 200);
    assert.equal((await api(`${realIp.proxy.url}/app`, { 'x-real-ip': '10.1.2.3, 203.0.113.9' })).status, 401, 'X-Real-IP holds one address');
  });
});

describe('trusted_ips with routes_file', () => {
  test('a trusted client needs no login on a route whose rule asks for a group; an untrusted one is asked to sign in', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const file = join(mkdtempSync(join(tmpdir(), 'portcullis-trusted-')), 'routes.yaml');
    writeFileSync(file, 'rules:\n  - match: { path: /admin }\n    require: { groups: [admins] }\n');
    const trusted = await rig({ env: { OAUTH2_PROXY_TRUSTED_IPS: '127.0.0.0/8', OAUTH2_PROXY_ROUTES_FILE: file } });
    assert.equal((await api(`${trusted.proxy.url}/admin/x`)).status, 200, 'trusted_ips lets the client in, as in oauth2-proxy');
    assert.equal(echoed((await api(`${trusted.proxy.url}/admin/x`, { 'x-forwarded-groups': 'admins' })).body).headers['x-forwarded-groups'], undefined, 'without identity');
    const others = await rig({ env: { OAUTH2_PROXY_TRUSTED_IPS: '10.9.9.9', OAUTH2_PROXY_ROUTES_FILE: file } });
    assert.equal((await api(`${others.proxy.url}/admin/x`)).status, 401);
    // Signed in without the group, from a trusted address: let in as without the cookie, no identity
    // through the proxy nor on the forward-auth answer.
    const member = await loginThrough(trusted.proxy.url);
    const through = await member.request(`${trusted.proxy.url}/admin/x`, { headers: { accept: 'application/json' } });
    assert.equal(through.status, 200);
    assert.equal(echoed(through.body).headers['x-forwarded-user'], undefined);
    const xauth = await rig({ env: { OAUTH2_PROXY_TRUSTED_IPS: '127.0.0.0/8', OAUTH2_PROXY_ROUTES_FILE: file, OAUTH2_PROXY_SET_XAUTHREQUEST: 'true', OAUTH2_PROXY_REVERSE_PROXY: 'true' } });
    const fa = await (await loginThrough(xauth.proxy.url)).request(`${xauth.proxy.url}/oauth2/auth`, { headers: { 'x-forwarded-uri': '/admin/x' } });
    assert.equal(fa.status, 202);
    assert.equal(fa.headers['x-auth-request-user'], undefined, 'no identity of a user the rule would refuse');
    // Signed in without the group, from an untrusted address: the rule refuses.
    const b = await loginThrough(others.proxy.url);
    assert.equal((await b.request(`${others.proxy.url}/admin/x`, { headers: { accept: 'application/json' } })).status, 403);
  });
});

describe('set_basic_auth', () => {
  test('/oauth2/auth answers carry Authorization: Basic user:basic_auth_password (the email with prefer_email_to_user)', async () => {
    const r = await rig({ env: { OAUTH2_PROXY_SET_BASIC_AUTH: 'true', OAUTH2_PROXY_BASIC_AUTH_PASSWORD: 'app-pw', OAUTH2_PROXY_PASS_BASIC_AUTH: 'false' } });
    const b = await loginThrough(r.proxy.url);
    const res = await b.request(`${r.proxy.url}/oauth2/auth`);
    assert.equal(res.status, 202);
    assert.equal(res.headers.authorization, `Basic ${Buffer.from('rig-user-1:app-pw').toString('base64')}`);
    assert.equal(echoed((await b.request(`${r.proxy.url}/app`, { headers: { accept: 'application/json' } })).body).headers.authorization, undefined, 'upstream: pass_basic_auth=false');
    const email = await rig({ env: { OAUTH2_PROXY_SET_BASIC_AUTH: 'true', OAUTH2_PROXY_BASIC_AUTH_PASSWORD: 'app-pw', OAUTH2_PROXY_PREFER_EMAIL_TO_USER: 'true' } });
    const e = await (await loginThrough(email.proxy.url)).request(`${email.proxy.url}/oauth2/auth`);
    assert.equal(e.headers.authorization, `Basic ${Buffer.from('rita@example.com:app-pw').toString('base64')}`);
    const off = await rig({ env: { OAUTH2_PROXY_BASIC_AUTH_PASSWORD: 'app-pw' } });
    assert.equal((await (await loginThrough(off.proxy.url)).request(`${off.proxy.url}/oauth2/auth`)).headers.authorization, undefined);
  });
});

describe('TLS', () => {
  const handshake = (port: number, o: tls.ConnectionOptions): Promise<string> => new Promise((resolve) => {
    const s = tls.connect({ port, host: '127.0.0.1', ca: certs.ca, ...o }, () => { resolve(`${s.getProtocol()} ${s.getCipher().name}`); s.end(); });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(`refused ${e.code}`));
  });

  test('tls_cipher_suites: TLS 1.2 offers only the listed suites (Go names); TLS 1.3 is unaffected, as in Go', async () => {
    const httpsPort = await freePort();
    await rig({ env: { OAUTH2_PROXY_TLS_CERT_FILE: certs.certFile, OAUTH2_PROXY_TLS_KEY_FILE: certs.keyFile, OAUTH2_PROXY_HTTPS_ADDRESS: `127.0.0.1:${httpsPort}`, OAUTH2_PROXY_TLS_CIPHER_SUITES: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256' } });
    assert.equal(await handshake(httpsPort, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }), 'TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256');
    assert.match(await handshake(httpsPort, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' }), /^refused/);
    assert.match(await handshake(httpsPort, {}), /^TLSv1\.3 TLS_/);
  });

  test('metrics_secure_address: /metrics over HTTPS with metrics_tls_cert_file and metrics_tls_key_file', async () => {
    const port = await freePort();
    const r = await rig({ env: { OAUTH2_PROXY_METRICS_SECURE_ADDRESS: `127.0.0.1:${port}`, OAUTH2_PROXY_METRICS_TLS_CERT_FILE: certs.certFile, OAUTH2_PROXY_METRICS_TLS_KEY_FILE: certs.keyFile } });
    assert.equal(r.proxy.running.metricsSecureUrl, `https://127.0.0.1:${port}`);
    await api(`${r.proxy.url}/ping`);
    const body = await new Promise<string>((resolve, reject) => {
      https.get(`https://127.0.0.1:${port}/metrics`, { ca: certs.ca }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => { text += c.toString(); });
        res.on('end', () => resolve(`${res.statusCode}\n${text}`));
      }).on('error', reject);
    });
    assert.match(body, /^200\n/);
    assert.match(body, /portcullis_requests_total\{method="GET",status_class="2xx"\} [1-9]/);
    assert.match(await handshake(port, { ca: undefined }), /^refused/, 'clients must trust the certificate');
  });
});

describe('login-state cookies (cookie_csrf_*)', () => {
  /** Starts a login in `b` and returns where the issuer is to be visited, without going there. */
  const begin = async (b: HttpBrowser, proxyUrl: string): Promise<{ at: string; setCookie: string[] }> => {
    const res = await b.request(`${proxyUrl}/oauth2/start`);
    assert.equal(res.status, 302);
    return { at: res.headers.location!, setCookie: res.headers['set-cookie'] ?? [] };
  };

  test('cookie_csrf_per_request=false: one cookie for every login, so a second login started in another tab undoes the first', async () => {
    const shared = await rig({ env: { OAUTH2_PROXY_COOKIE_CSRF_PER_REQUEST: 'false' } });
    const b = new HttpBrowser();
    const first = await begin(b, shared.proxy.url);
    const second = await begin(b, shared.proxy.url);
    assert.match(first.setCookie.join(), /^_oauth2_proxy_csrf=/);
    assert.match(second.setCookie.join(), /^_oauth2_proxy_csrf=/);
    const lost = await b.navigate(first.at);
    assert.equal(lost.status, 400);
    assert.match(lost.body, /LOGIN_STATE_MISSING/);
    assert.equal((await b.navigate(second.at)).status, 200);

    const perTab = await rig({});
    const t = new HttpBrowser();
    const one = await begin(t, perTab.proxy.url);
    const two = await begin(t, perTab.proxy.url);
    assert.equal((await t.navigate(one.at)).status, 200, 'by default each login has its own cookie');
    assert.equal((await t.navigate(two.at)).status, 200);
  });

  test('cookie_csrf_per_request_limit: beyond it the oldest login-state cookie is dropped', async () => {
    const r = await rig({ env: { OAUTH2_PROXY_COOKIE_CSRF_PER_REQUEST_LIMIT: '2' } });
    const b = new HttpBrowser();
    await begin(b, r.proxy.url);
    await begin(b, r.proxy.url);
    const third = await begin(b, r.proxy.url);
    assert.equal(third.setCookie.filter((c) => /Max-Age=0/i.test(c)).length, 1, third.setCookie.join('\n'));
    assert.equal([...b.cookies().keys()].filter((n) => n.startsWith('_oauth2_proxy_csrf_')).length, 2);
  });

  test('cookie_csrf_expire: a login that takes longer is told so, with the window it had', async () => {
    const r = await rig({ env: { OAUTH2_PROXY_COOKIE_CSRF_EXPIRE: '1s' } });
    const b = new HttpBrowser();
    const { at } = await begin(b, r.proxy.url);
    await new Promise((resolve) => setTimeout(resolve, 1300));
    const late = await b.navigate(at);
    assert.equal(late.status, 400);
    assert.match(late.body, /LOGIN_EXPIRED/);
    assert.match(late.body, /It took longer than 1 second\./);
  });

  test('cookie_csrf_samesite sets the login-state cookie\'s SameSite; unset, it follows cookie_samesite (strict taken as lax)', async () => {
    const sameSite = async (env: Record<string, string>): Promise<string | undefined> => {
      const r = await rig({ env });
      const { setCookie } = await begin(new HttpBrowser(), r.proxy.url);
      return /SameSite=(\w+)/i.exec(setCookie.find((c) => c.startsWith('_oauth2_proxy_csrf')) ?? '')?.[1];
    };
    assert.equal(await sameSite({ OAUTH2_PROXY_COOKIE_SAMESITE: 'strict' }), 'Lax');
    assert.equal(await sameSite({ OAUTH2_PROXY_COOKIE_SAMESITE: 'strict', OAUTH2_PROXY_COOKIE_CSRF_SAMESITE: 'strict' }), 'Strict');
    assert.equal(await sameSite({ OAUTH2_PROXY_COOKIE_CSRF_SAMESITE: 'none', OAUTH2_PROXY_COOKIE_SECURE: 'true' }), 'None');
  });
});

describe('logging streams', () => {
  test('auth_logging=false leaves out sign-in events only; standard_logging=false leaves out the rest but keeps sign-in events and requests', async () => {
    const all = await rig({});
    await loginThrough(all.proxy.url);
    assert.equal(events(all.proxy, 'login').length, 1);
    assert.ok(all.proxy.logs.lines.some((l) => l.msg === 'issuer ready'));

    const noAuth = await rig({ env: { OAUTH2_PROXY_AUTH_LOGGING: 'false' } });
    await loginThrough(noAuth.proxy.url);
    assert.equal(events(noAuth.proxy, 'login').length, 0);
    assert.ok(noAuth.proxy.logs.lines.some((l) => l.msg === 'issuer ready'));
    assert.ok(noAuth.proxy.logs.lines.some((l) => l.component === 'request' && l.path === '/oauth2/callback'));

    const noStandard = await rig({ env: { OAUTH2_PROXY_STANDARD_LOGGING: 'false' } });
    await loginThrough(noStandard.proxy.url);
    assert.equal(events(noStandard.proxy, 'login').length, 1);
    assert.ok(!noStandard.proxy.logs.lines.some((l) => l.msg === 'issuer ready' || l.msg === 'portcullis listening'), 'no standard lines');
    assert.ok(noStandard.proxy.logs.lines.some((l) => l.component === 'request'));
  });

  test('error lines go to a stream of their own when asked (bin/portcullis: stderr unless errors_to_info_log, as oauth2-proxy)', () => {
    const lines = (): { text: string; stream: Writable } => {
      const box = { text: '', stream: new Writable({ write(chunk: Buffer, _e, done) { box.text += chunk.toString(); done(); } }) };
      return box;
    };
    const out = lines();
    const err = lines();
    const split = createLogger('info', out.stream, { errors: err.stream });
    split.warn('a warning');
    split.error('an error');
    assert.match(out.text, /a warning/);
    assert.doesNotMatch(out.text, /an error/);
    assert.match(err.text, /an error/);
    assert.doesNotMatch(err.text, /a warning/);
    const one = lines();
    const together = createLogger('info', one.stream);
    together.error('an error');
    assert.match(one.text, /an error/);
  });
});
