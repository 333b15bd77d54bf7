import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DevAccount } from '../src/devissuer/issuer.js';
import { HttpBrowser } from './support/browser.js';
import { docBlock } from './support/docblock.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { startNginx, docsNginxSnippet, type Nginx } from './support/nginx.js';
import { freePort } from './support/proxy.js';
import { ALICE } from './support/stack.js';

/** A README server block with only the addresses changed: nginx's listen port, and where Portcullis and the app listen. */
function withPorts(server: string, nginxPort: number, proxyPort: number, upstreamUrl: string): string {
  return server
    .replace('listen 80;', `listen 127.0.0.1:${nginxPort};`)
    .replace('127.0.0.1:4180', `127.0.0.1:${proxyPort}`)
    .replace('127.0.0.1:8080', new URL(upstreamUrl).host);
}

describe('forward-auth behind a real nginx, with the README\'s snippet as written', () => {
  let peers: Peers;
  let proxy: InProcess;
  let stricter: InProcess;
  let nginx: Nginx;
  before(async () => {
    const [nginxPort, proxyPort, strictPort] = [await freePort(), await freePort(), await freePort()];
    peers = await startPeers({ ports: [nginxPort] });
    const env = {
      ...peers.env,
      OAUTH2_PROXY_SET_XAUTHREQUEST: 'true',
      OAUTH2_PROXY_REDIRECT_URL: `http://127.0.0.1:${nginxPort}/oauth2/callback`,
    };
    proxy = await startInProcess(env, proxyPort);
    stricter = await startInProcess({ ...env, OAUTH2_PROXY_EMAIL_DOMAINS: 'other.org' }, strictPort);
    nginx = await startNginx(withPorts(docsNginxSnippet(), nginxPort, proxyPort, peers.upstreamUrl), nginxPort);
  });
  after(async () => {
    await nginx?.stop();
    await proxy?.close();
    await stricter?.close();
    await peers?.close();
  });

  test('a browser is sent to sign in, comes back to the page it asked for, and the app gets the identity from nginx', async () => {
    const b = new HttpBrowser();
    const signIn = await b.navigate(`${nginx.url}/app/page?x=1`);
    assert.equal(signIn.status, 200, signIn.body.slice(0, 200));
    const start = /id="sign-in" href="([^"]+)"/.exec(signIn.body)?.[1]?.replace(/&amp;/g, '&');
    assert.equal(start, '/oauth2/start?rd=%2Fapp%2Fpage%3Fx%3D1', 'X-Auth-Request-Redirect carried the URI the user asked for');
    const landed = await b.navigate(new URL(start, nginx.url).href, { headers: { 'x-user': 'mallory' } });
    assert.equal(landed.status, 200, landed.body.slice(0, 300));
    assert.equal(landed.url, `${nginx.url}/app/page?x=1`);
    const echoed = JSON.parse((await b.request(`${nginx.url}/app/page?x=1`, { headers: { accept: 'application/json', 'x-user': 'mallory', 'x-email': 'm@evil.test' } })).body) as { headers: Record<string, string> };
    assert.equal(echoed.headers['x-user'], ALICE.sub);
    assert.equal(echoed.headers['x-email'], ALICE.email);
    assert.equal(echoed.headers['x-groups'], 'admins,devs');
  });

  test('/oauth2/auth: 401 without a session, 202 with X-Auth-Request-* with one, 403 when the rules refuse it; never a redirect', async () => {
    const b = new HttpBrowser();
    await b.navigate(`${proxy.url}/oauth2/start?rd=/`, { stopAt: (u) => u.port === new URL(nginx.url).port && u.pathname === '/oauth2/callback' })
      .then((r) => b.navigate(r.url.replace(nginx.url, proxy.url), { stopAt: (u) => u.pathname === '/' }));
    const cookie = b.cookieHeader(new URL(proxy.url));
    assert.match(cookie, /_oauth2_proxy=/);

    const none = await new HttpBrowser().request(`${proxy.url}/oauth2/auth`);
    assert.equal(none.status, 401);
    assert.equal(none.headers.location, undefined);
    const ok = await new HttpBrowser().request(`${proxy.url}/oauth2/auth`, { headers: { cookie, 'x-auth-request-user': 'mallory' } });
    assert.equal(ok.status, 202);
    assert.equal(ok.headers['x-auth-request-user'], ALICE.sub);
    assert.equal(ok.headers['x-auth-request-email'], ALICE.email);
    assert.equal(ok.headers['x-auth-request-groups'], 'admins,devs');
    assert.equal(ok.headers['x-auth-request-preferred-username'], 'alice');
    assert.equal(ok.headers['x-auth-request-access-token'], undefined, 'no token unless pass_access_token');
    const refused = await new HttpBrowser().request(`${stricter.url}/oauth2/auth`, { headers: { cookie, accept: 'application/json' } });
    assert.equal(refused.status, 403);
    assert.equal(JSON.parse(refused.body).error, 'EMAIL_NOT_ALLOWED');
    // /oauth2/userinfo: the same session, shown only where the rules let it in.
    const info = await new HttpBrowser().request(`${proxy.url}/oauth2/userinfo`, { headers: { cookie, accept: 'application/json' } });
    assert.equal(info.status, 200);
    assert.deepEqual(JSON.parse(info.body), { user: ALICE.sub, email: ALICE.email, groups: ['admins', 'devs'], preferredUsername: 'alice' });
    const infoRefused = await new HttpBrowser().request(`${stricter.url}/oauth2/userinfo`, { headers: { cookie, accept: 'application/json' } });
    assert.equal(infoRefused.status, 403, 'a session the rules refuse is not shown as signed in');
    assert.equal(JSON.parse(infoRefused.body).error, 'EMAIL_NOT_ALLOWED');
    const throughNginx = await new HttpBrowser().request(`${nginx.url}/oauth2/auth`, { headers: { cookie } });
    assert.equal(throughNginx.status, 404, 'the auth location is internal to nginx');
  });
});

describe('a stricter rule for one location through a real nginx: the README\'s allowed_groups location, as written', () => {
  const BOB: DevAccount = { sub: 'bob-0002', email: 'bob@partner.test', email_verified: true, preferred_username: 'bob', groups: ['devs'] };
  let peers: Peers;
  let proxy: InProcess;
  let nginx: Nginx;
  before(async () => {
    const [nginxPort, proxyPort] = [await freePort(), await freePort()];
    peers = await startPeers({ ports: [nginxPort], accounts: [ALICE, BOB] });
    proxy = await startInProcess({
      ...peers.env,
      OAUTH2_PROXY_SET_XAUTHREQUEST: 'true',
      OAUTH2_PROXY_REDIRECT_URL: `http://127.0.0.1:${nginxPort}/oauth2/callback`,
    }, proxyPort);
    const main = docsNginxSnippet();
    const locationAt = main.indexOf('    location / {');
    assert.ok(locationAt > 0);
    // The groups snippet goes where the README says: in the server block, before `location /`.
    const server = `${main.slice(0, locationAt)}${docsNginxSnippet('nginx-groups-snippet')}\n${main.slice(locationAt)}`;
    nginx = await startNginx(withPorts(server, nginxPort, proxyPort, peers.upstreamUrl), nginxPort);
  });
  after(async () => {
    await nginx?.stop();
    await proxy?.close();
    await peers?.close();
  });

  /** Signs in through nginx's sign-in page, starting from `path`. */
  async function signIn(sub: string, path: string): Promise<HttpBrowser> {
    peers.issuer.loginAs(sub);
    const b = new HttpBrowser();
    const page = await b.navigate(`${nginx.url}${path}`);
    assert.equal(page.status, 200, page.body.slice(0, 200));
    const start = /id="sign-in" href="([^"]+)"/.exec(page.body)?.[1]?.replace(/&amp;/g, '&');
    assert.ok(start, 'the sign-in page links to /oauth2/start');
    await b.navigate(new URL(start, nginx.url).href);
    return b;
  }

  test('a member of admins reaches /admin/; a signed-in user outside it gets 403 there and still reaches /', async () => {
    const alice = await signIn(ALICE.sub, '/admin/page');
    const admin = await alice.request(`${nginx.url}/admin/page`, { headers: { accept: 'application/json' } });
    assert.equal(admin.status, 200, admin.body.slice(0, 200));
    assert.equal((JSON.parse(admin.body) as { url: string }).url, '/admin/page', 'the app served it');

    const bob = await signIn(BOB.sub, '/');
    assert.equal((await bob.request(`${nginx.url}/somewhere`, { headers: { accept: 'application/json' } })).status, 200, 'the global rules let bob in');
    const refused = await bob.request(`${nginx.url}/admin/page`, { headers: { accept: 'application/json' } });
    assert.equal(refused.status, 403, 'nginx answers 403 when /oauth2/auth does');
    assert.ok(proxy.logs.lines.some((l) => l.event === 'forward_auth_denied' && l.code === 'GROUP_NOT_ALLOWED' && l.user === BOB.sub), 'the refusal is in the auth log');
    peers.issuer.loginAs(ALICE.sub);
  });

  test('/oauth2/auth asked directly: the query adds to the global rules; no session is still 401, not 403', async () => {
    const alice = await signIn(ALICE.sub, '/');
    const cookie = alice.cookieHeader(new URL(nginx.url));
    const ask = async (query: string, withCookie = true): Promise<number> =>
      (await new HttpBrowser().request(`${proxy.url}/oauth2/auth${query}`, { headers: withCookie ? { cookie } : {} })).status;
    assert.equal(await ask('?allowed_groups=admins'), 202);
    assert.equal(await ask('?allowed_groups=ops,auditors'), 403);
    assert.equal(await ask('?allowed_emails=alice@example.com'), 202);
    assert.equal(await ask('?allowed_emails=bob@partner.test'), 403);
    assert.equal(await ask('?allowed_email_domains=.example.com'), 202);
    assert.equal(await ask('?allowed_email_domains=partner.test'), 403);
    assert.equal(await ask('?allowed_groups=admins&allowed_email_domains=partner.test'), 403);
    assert.equal(await ask('?allowed_groups=admins', false), 401);
  });
});

describe('docs/sessions.md as written: auth_request_set + add_header pass a refreshed session\'s cookies on through nginx', () => {
  test('cookie_refresh=1s behind the docs\' server block with the two lines added to its location /: the browser gets the new cookie once', { timeout: 60_000 }, async () => {
    const [nginxPort, proxyPort] = [await freePort(), await freePort()];
    const peers = await startPeers({ ports: [nginxPort] });
    // oidc-provider grants a refresh token only with prompt=consent (docs/sessions.md says so).
    const proxy = await startInProcess({
      ...peers.env, OAUTH2_PROXY_COOKIE_REFRESH: '1s', OAUTH2_PROXY_PROMPT: 'consent', OAUTH2_PROXY_SET_XAUTHREQUEST: 'true',
      OAUTH2_PROXY_REDIRECT_URL: `http://127.0.0.1:${nginxPort}/oauth2/callback`,
    }, proxyPort);
    const lines = docBlock('sessions-nginx-refresh', 'nginx');
    const server = withPorts(docsNginxSnippet(), nginxPort, proxyPort, peers.upstreamUrl);
    assert.ok(server.includes('        auth_request /oauth2/auth;\n'), 'the docs\' server block has its auth_request line');
    const nginx = await startNginx(server.replace('        auth_request /oauth2/auth;\n', `        auth_request /oauth2/auth;\n${lines}`), nginxPort);
    try {
      const b = new HttpBrowser();
      const signIn = await b.navigate(`${nginx.url}/app/page`);
      const start = /id="sign-in" href="([^"]+)"/.exec(signIn.body)?.[1]?.replace(/&amp;/g, '&');
      assert.ok(start, signIn.body.slice(0, 300));
      assert.equal((await b.navigate(new URL(start, nginx.url).href)).status, 200);
      const before = b.cookies().get('_oauth2_proxy');
      await new Promise((r) => setTimeout(r, 1_100));
      const res = await b.request(`${nginx.url}/app/page`, { headers: { accept: 'application/json' } });
      assert.equal(res.status, 200);
      assert.equal(peers.issuer.refreshGrants.succeeded, 1);
      assert.ok((res.headers['set-cookie'] ?? []).some((c) => c.startsWith('_oauth2_proxy=') && !/Max-Age=0/.test(c)), `nginx passed the refreshed cookie on: ${res.headers['set-cookie']}`);
      assert.notEqual(b.cookies().get('_oauth2_proxy'), before);
      assert.equal((await b.request(`${nginx.url}/app/page`, { headers: { accept: 'application/json' } })).status, 200);
      assert.equal(peers.issuer.refreshGrants.succeeded, 1, 'the browser holds the refreshed session: no second refresh');
    } finally {
      await nginx.stop();
      await proxy.close();
      await peers.close();
    }
  });
});
