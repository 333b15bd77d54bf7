// Several providers in a real browser (issue 17 §2): one proxy in front of two independent issuers,
// the dev issuer (oidc-provider) and Glewlwyd (C, Debian's), the latter with a dashed client id that
// may use client_secret_basic only (§3). Chromium signs in through each from the sign-in page's
// choice. Chromium and Glewlwyd are required: without them this test fails, it does not skip.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startEchoUpstream } from '../src/demo/echo.js';
import { startDevIssuer, type DevAccount, type DevIssuer } from '../src/devissuer/issuer.js';
import { ARTIFACTS, launchChromium } from './support/chromium.js';
import { startGlewlwyd, type Glewlwyd, type GlewlwydUser } from './support/glewlwyd.js';
import { startInProcess, type InProcess } from './support/inprocess.js';
import { freePort, startProxy, type ProxyProcess } from './support/proxy.js';
import { waitReady, type Echoed } from './support/stack.js';

const STAFF: DevAccount = { sub: 'carol', email: 'carol@corp.example', email_verified: true, name: 'Carol (staff)', groups: ['staff'] };
const DEV_CLIENT = { id: 'portcullis-staff', secret: randomBytes(24).toString('base64url') };
const GLEW_CLIENT = { id: 'portcullis-partner-app', secret: randomBytes(24).toString('base64url') };
const PARTNER: GlewlwydUser = { username: 'carol', password: randomBytes(12).toString('base64url'), name: 'Carol (partner)', email: 'carol@partner.example' };

describe('Chromium signs in through each of two issuers (dev issuer and Glewlwyd) from the chooser', () => {
  let dev: DevIssuer;
  let glewlwyd: Glewlwyd;
  let proxy: InProcess;
  let browser: Browser;
  let closeEcho: () => Promise<void>;

  before(async () => {
    const port = await freePort();
    const callback = `http://127.0.0.1:${port}/oauth2/callback`;
    dev = await startDevIssuer({ shape: 'hydra', interactive: true, accounts: [STAFF], clients: [{ client_id: DEV_CLIENT.id, client_secret: DEV_CLIENT.secret, redirect_uris: [callback] }] });
    glewlwyd = await startGlewlwyd({ clients: [{ clientId: GLEW_CLIENT.id, clientSecret: GLEW_CLIENT.secret, redirectUris: [callback], authMethods: ['client_secret_basic'] }], users: [PARTNER] });
    const echo = await startEchoUpstream();
    closeEcho = echo.close;
    proxy = await startInProcess({
      OAUTH2_PROXY_OIDC_ISSUER_URL: dev.issuer,
      OAUTH2_PROXY_CLIENT_ID: DEV_CLIENT.id,
      OAUTH2_PROXY_CLIENT_SECRET: DEV_CLIENT.secret,
      OAUTH2_PROXY_COOKIE_SECRET: randomBytes(32).toString('base64url'),
      OAUTH2_PROXY_COOKIE_SECURE: 'false',
      OAUTH2_PROXY_EMAIL_DOMAINS: '*',
      OAUTH2_PROXY_UPSTREAMS: echo.url,
      OAUTH2_PROXY_SCOPE: 'openid email profile groups',
    }, port, {
      firstProvider: { id: 'staff', displayName: 'Acme staff', emailDomains: ['corp.example'] },
      extraProviders: [{
        id: 'partner', displayName: 'Partner (Glewlwyd)', emailDomains: ['partner.example'],
        env: { OAUTH2_PROXY_OIDC_ISSUER_URL: glewlwyd.issuer, OAUTH2_PROXY_CLIENT_ID: GLEW_CLIENT.id, OAUTH2_PROXY_CLIENT_SECRET: GLEW_CLIENT.secret, OAUTH2_PROXY_SCOPE: 'openid' },
      }],
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await proxy?.close();
    await Promise.all([dev?.stop(), glewlwyd?.stop(), closeEcho?.()]);
  });

  /** A fresh browser profile on the proxy's sign-in page, asked for /hello. */
  async function atChooser(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${proxy.url}/hello`);
    assert.equal(new URL(page.url()).pathname, '/oauth2/sign_in');
    return { context, page };
  }

  /** What the upstream saw, asked as JSON with the browser's own cookies. */
  async function upstreamSaw(context: BrowserContext): Promise<Echoed> {
    const res = await context.request.get(`${proxy.url}/hello`, { headers: { accept: 'application/json' } });
    assert.equal(res.status(), 200);
    return await res.json() as Echoed;
  }

  test('the page offers both by name', async () => {
    const { context, page } = await atChooser();
    try {
      assert.equal(await page.locator('#sign-in-staff').textContent(), 'Sign in with Acme staff');
      assert.equal(await page.locator('#sign-in-partner').textContent(), 'Sign in with Partner (Glewlwyd)');
      await page.screenshot({ path: join(ARTIFACTS, 'providers-chooser.png') });
    } finally {
      await context.close();
    }
  });

  test('through the dev issuer: carol@staff', async () => {
    const { context, page } = await atChooser();
    try {
      await page.locator('#sign-in-staff').click();
      await page.getByRole('button', { name: `Sign in as ${STAFF.email}` }).click();
      await page.waitForURL(`${proxy.url}/hello`);
      const e = await upstreamSaw(context);
      assert.equal(e.headers['x-forwarded-user'], 'carol@staff');
      assert.equal(e.headers['x-forwarded-email'], STAFF.email);
    } finally {
      await context.close();
    }
  });

  test('through Glewlwyd (dashed client id, Basic only): the same name, another person', async () => {
    const { context, page } = await atChooser();
    try {
      // Glewlwyd sends the browser to its login page (its web UI, which this Glewlwyd does not serve:
      // the request is what counts). The test does what that page does, through Glewlwyd's API with
      // the browser's own cookies; then the authorization continues in the browser.
      const toLogin = page.waitForRequest((req) => { const u = new URL(req.url()); return u.origin === glewlwyd.url && u.pathname === '/login.html'; });
      await page.locator('#sign-in-partner').click();
      const login = new URL((await toLogin).url());
      const auth = await context.request.post(`${glewlwyd.url}/api/auth/`, { data: { username: PARTNER.username, password: PARTNER.password } });
      assert.equal(auth.status(), 200);
      const grant = await context.request.put(`${glewlwyd.url}/api/auth/grant/${encodeURIComponent(GLEW_CLIENT.id)}`, { data: { scope: login.searchParams.get('scope') ?? '' } });
      assert.equal(grant.status(), 200);
      const cb = login.searchParams.get('callback_url') ?? '';
      await page.goto(`${cb}${cb.includes('?') ? '&' : '?'}g_continue`);
      await page.waitForURL(`${proxy.url}/hello`);
      const e = await upstreamSaw(context);
      assert.equal(e.headers['x-forwarded-email'], PARTNER.email);
      assert.match(String(e.headers['x-forwarded-user']), /@partner$/);
      assert.notEqual(e.headers['x-forwarded-user'], 'carol@staff');
      assert.equal(await glewlwyd.metric('glewlwyd_oidc_invalid_code_total'), 0, 'Glewlwyd refused no token request');
      const info = await (await context.request.get(`${proxy.url}/oauth2/userinfo`, { headers: { accept: 'application/json' } })).json() as Record<string, unknown>;
      assert.equal(info.provider, 'partner');
    } finally {
      await context.close();
    }
  });
});

describe('Chromium, the demo (`npm start` with no configuration): two dev issuers', () => {
  let p: ProxyProcess;
  let browser: Browser;
  before(async () => {
    p = await startProxy({ NODE_ENV: 'development', OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${await freePort()}` });
    await waitReady(p.url);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await p?.stop();
  });

  test('one browser signs in as Acme staff, then switches to Partner: two people with the same sub', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    try {
      await page.goto(`${p.url}/`);
      await page.locator('#sign-in-acme').click();
      await page.getByRole('button', { name: 'Sign in as demo@example.com' }).click();
      await page.waitForURL(`${p.url}/`);
      const who = async (): Promise<Echoed['headers']> => (await (await context.request.get(`${p.url}/`, { headers: { accept: 'application/json' } })).json() as Echoed).headers;
      assert.equal((await who())['x-forwarded-user'], 'demo-user-1@acme');
      // Signed in, the sign-in page says who and offers to switch: that signs out, then offers every provider.
      await page.goto(`${p.url}/oauth2/sign_in?rd=%2F`);
      assert.match(await page.locator('#signed-in-as').innerText(), /demo-user-1@acme|demo@example\.com/);
      await page.locator('#switch-account').click();
      await page.locator('#sign-in-partner').click();
      await page.getByRole('button', { name: 'Sign in as pat@partner.example' }).click();
      await page.waitForURL(`${p.url}/`);
      const partner = await who();
      assert.equal(partner['x-forwarded-user'], 'demo-user-1@partner');
      assert.equal(partner['x-forwarded-email'], 'pat@partner.example');
      await page.screenshot({ path: join(ARTIFACTS, 'providers-demo-partner.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });
});
