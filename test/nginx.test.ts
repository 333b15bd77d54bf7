import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpBrowser } from './support/browser.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { startNginx, readmeNginxSnippet, type Nginx } from './support/nginx.js';
import { freePort } from './support/proxy.js';
import { ALICE } from './support/stack.js';

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
    // Only the addresses change: nginx's listen port, and where Portcullis and the app listen.
    const server = readmeNginxSnippet()
      .replace('listen 80;', `listen 127.0.0.1:${nginxPort};`)
      .replace('127.0.0.1:4180', `127.0.0.1:${proxyPort}`)
      .replace('127.0.0.1:8080', new URL(peers.upstreamUrl).host);
    nginx = await startNginx(server, nginxPort);
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
    const throughNginx = await new HttpBrowser().request(`${nginx.url}/oauth2/auth`, { headers: { cookie } });
    assert.equal(throughNginx.status, 404, 'the auth location is internal to nginx');
  });
});
