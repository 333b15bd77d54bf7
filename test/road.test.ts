import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import net from 'node:net';
import { HttpBrowser } from './support/browser.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import { ALICE } from './support/stack.js';

const JSON_ACCEPT = { accept: 'application/json' };

async function login(proxyUrl: string): Promise<HttpBrowser> {
  const b = new HttpBrowser();
  const res = await b.navigate(`${proxyUrl}/oauth2/start?rd=/`);
  assert.equal(res.status, 200, `login should end on the upstream, got ${res.status}: ${res.body.slice(0, 200)}`);
  return b;
}

/** Sends a raw upgrade request and reads what comes back: status, headers, and the first body line. */
function upgrade(url: string, headers: Record<string, string>): Promise<{ status: number; head: string; first: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(u.port), u.hostname);
    let text = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no complete answer; got ${JSON.stringify(text)}`)); }, 5000);
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const [head, rest = ''] = text.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head!)?.[1] ?? 0), head: head!, first: rest.split('\n')[0]! });
    };
    socket.on('data', (c: Buffer) => {
      text += c.toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      if (end >= 0 && text.indexOf('\n', end + 4) >= 0) done();
    });
    socket.on('end', done);
    socket.on('error', reject);
    const lines = Object.entries({ host: u.host, connection: 'Upgrade', upgrade: 'websocket', ...headers }).map(([k, v]) => `${k}: ${v}`);
    socket.write(`GET ${u.pathname} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
  });
}

describe('the road: every request walks the same steps', () => {
  let peers: Peers;
  let proxy: InProcess;
  let browser: HttpBrowser;
  before(async () => {
    peers = await startPeers();
    proxy = await startInProcess(peers.env, peers.port);
    browser = await login(proxy.url);
  });
  after(async () => { await proxy?.close(); await peers?.close(); });

  test('an upgrade without a session gets 401 on the socket, with the same code as any request', async () => {
    const r = await upgrade(`${proxy.url}/ws`, { accept: 'application/json' });
    assert.equal(r.status, 401, r.head);
    assert.equal(JSON.parse(r.first).error, 'UNAUTHENTICATED');
  });

  test('a signed-in upgrade reaches the upstream with the identity headers, and client copies are stripped', async () => {
    const cookie = browser.cookieHeader(new URL(proxy.url));
    const r = await upgrade(`${proxy.url}/ws`, { cookie, 'x-forwarded-user': 'mallory', 'x_forwarded_email': 'mallory@evil.test' });
    assert.equal(r.status, 101, r.head);
    const seen = JSON.parse(r.first) as { url: string; headers: Record<string, string> };
    assert.equal(seen.url, '/ws');
    assert.equal(seen.headers['x-forwarded-user'], ALICE.sub);
    assert.equal(seen.headers['x-forwarded-email'], ALICE.email);
    assert.equal(seen.headers.x_forwarded_email, undefined);
    assert.doesNotMatch(seen.headers.cookie ?? '', /_oauth2_proxy/);
    // The line is written when the connection closes.
    for (let i = 0; i < 50 && !proxy.logs.lines.some((l) => l.upgrade === true && l.status === 101); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(proxy.logs.lines.some((l) => l.upgrade === true && l.status === 101 && l.user === ALICE.sub), 'the upgrade is in the request log');
  });

  test('observers hear about every finished request and login, through diagnostics_channel', async () => {
    const requests: Array<Record<string, unknown>> = [];
    const logins: Array<Record<string, unknown>> = [];
    const onRequest = (m: unknown): void => { requests.push(m as Record<string, unknown>); };
    const onLogin = (m: unknown): void => { logins.push(m as Record<string, unknown>); };
    subscribe('portcullis:request', onRequest);
    subscribe('portcullis:login', onLogin);
    try {
      await login(proxy.url);
      const api = await new HttpBrowser().request(`${proxy.url}/private`, { headers: JSON_ACCEPT });
      assert.equal(api.status, 401);
    } finally {
      unsubscribe('portcullis:request', onRequest);
      unsubscribe('portcullis:login', onLogin);
    }
    assert.deepEqual(logins.map((l) => l.outcome), ['started', 'completed']);
    assert.ok(requests.some((r) => r.path === '/oauth2/callback' && r.status === 302 && r.user === ALICE.sub));
    assert.ok(requests.some((r) => r.path === '/' && r.status === 200 && r.user === ALICE.sub));
    assert.ok(requests.some((r) => r.path === '/private' && r.status === 401 && r.user === undefined));
  });
});

describe('access rules hold on every request, not only at login', () => {
  let peers: Peers;
  let loose: InProcess;
  let strict: InProcess;
  before(async () => {
    const ports = [await freePort(), await freePort()];
    peers = await startPeers({ ports });
    loose = await startInProcess({ ...peers.env, OAUTH2_PROXY_EMAIL_DOMAINS: 'example.com' }, ports[0]);
    // The same cookie secret, restarted under a stricter rule.
    strict = await startInProcess({ ...peers.env, OAUTH2_PROXY_EMAIL_DOMAINS: 'other.org' }, ports[1]);
  });
  after(async () => { await loose?.close(); await strict?.close(); await peers?.close(); });

  test('a session issued under email_domains=example.com is refused under other.org: 403 saying who is signed in and how to switch', async () => {
    const b = await login(loose.url);
    const cookie = b.cookieHeader(new URL(loose.url));
    const other = (await login(loose.url)).cookieHeader(new URL(loose.url));
    const ok = await b.request(`${loose.url}/x`, { headers: JSON_ACCEPT });
    assert.equal(ok.status, 200);

    const refused = await b.request(`${strict.url}/x`, { headers: JSON_ACCEPT });
    assert.equal(refused.status, 403);
    const body = JSON.parse(refused.body) as Record<string, string>;
    assert.equal(body.error, 'EMAIL_NOT_ALLOWED');
    assert.equal(body.signedInAs, ALICE.email);
    assert.equal(body.signOutUrl, '/oauth2/sign_out?rd=%2Foauth2%2Fsign_in%3Fprompt%3Dlogin');
    assert.equal(refused.headers['set-cookie'], undefined, 'the session is kept: sign-out needs it to end the session at the issuer too');
    const page = await new HttpBrowser().request(`${strict.url}/x`, { headers: { cookie: other } });
    assert.equal(page.status, 403);
    assert.match(page.body, /Sign out and sign in with another account/);
    assert.match(page.body, /<p id="signed-in-as">You are signed in as <strong>alice@example\.com<\/strong>/);
    assert.match(page.body, /id="switch-account" href="\/oauth2\/sign_out\?rd=%2Foauth2%2Fsign_in%3Fprompt%3Dlogin"/);
    assert.ok(strict.logs.lines.some((l) => l.event === 'access_denied' && l.code === 'EMAIL_NOT_ALLOWED'));

    // Sign-out ends it, at the issuer too (its end_session_endpoint), which then sends the browser
    // back to land on the sign-in page (rd carried as state).
    const out = await new HttpBrowser().request(`${strict.url}/oauth2/sign_out?rd=%2Foauth2%2Fsign_in`, { headers: { cookie } });
    assert.equal(out.status, 302);
    const atIssuer = new URL(out.headers.location as string);
    assert.equal(atIssuer.origin, new URL(peers.env.OAUTH2_PROXY_OIDC_ISSUER_URL!).origin);
    assert.equal(atIssuer.searchParams.get('state'), '/oauth2/sign_in');
    assert.ok(atIssuer.searchParams.get('id_token_hint'), 'the session\'s ID token goes as id_token_hint');
    assert.ok((out.headers['set-cookie'] ?? []).some((c) => /^_oauth2_proxy=; .*Max-Age=0/.test(c)), 'the session cookie is cleared');
    const again = await new HttpBrowser().request(`${strict.url}/x`, { headers: { ...JSON_ACCEPT, cookie } });
    assert.equal(again.status, 401, 'the signed-out session is gone');

    const stillOk = await new HttpBrowser().request(`${loose.url}/x`, { headers: { ...JSON_ACCEPT, cookie: other } });
    assert.equal(stillOk.status, 200, 'the looser proxy still accepts it: the rule, not the cookie, decided');
  });
});

describe('issuer failures are told for what they are', () => {
  let peers: Peers;
  let proxy: InProcess;
  let hang: net.Server;
  const held: net.Socket[] = [];
  before(async () => {
    // A token endpoint that accepts the connection and never answers.
    hang = net.createServer((s) => { held.push(s); s.on('error', () => undefined); });
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    const { port } = hang.address() as net.AddressInfo;
    peers = await startPeers();
    proxy = await startInProcess({ ...peers.env, OAUTH2_PROXY_REDEEM_URL: `http://127.0.0.1:${port}/oauth2/token` }, peers.port);
  });
  after(async () => {
    for (const s of held) s.destroy();
    hang?.close();
    await proxy?.close();
    await peers?.close();
  });

  test('a token endpoint that never answers gives 503 ISSUER_UNAVAILABLE, not "token invalid"', async () => {
    // The proxy gives the issuer 10 s; the browser waits longer than that.
    const b = new HttpBrowser({ timeoutMs: 30_000 });
    const res = await b.navigate(`${proxy.url}/oauth2/start?rd=/`, { headers: JSON_ACCEPT });
    assert.equal(res.status, 503, res.body.slice(0, 300));
    assert.equal(JSON.parse(res.body).error, 'ISSUER_UNAVAILABLE');
    const line = proxy.logs.lines.find((l) => l.event === 'login_failed');
    assert.equal(line?.code, 'ISSUER_UNAVAILABLE');
    assert.match(String(line?.detail), /OAUTH_TIMEOUT/);
  });
});

describe('proxy_websockets=false', () => {
  let peers: Peers;
  let proxy: InProcess;
  before(async () => {
    peers = await startPeers();
    proxy = await startInProcess({ ...peers.env, OAUTH2_PROXY_PROXY_WEBSOCKETS: 'false' }, peers.port);
  });
  after(async () => { await proxy?.close(); await peers?.close(); });

  test('a signed-in upgrade gets 501 UPGRADE_REFUSED at once instead of hanging', async () => {
    const b = await login(proxy.url);
    const r = await upgrade(`${proxy.url}/ws`, { cookie: b.cookieHeader(new URL(proxy.url)), accept: 'application/json' });
    assert.equal(r.status, 501, r.head);
    assert.equal(JSON.parse(r.first).error, 'UPGRADE_REFUSED');
  });
});
