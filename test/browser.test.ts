// A real browser (Chromium through playwright-core) signs in through the proxy: sign-in page →
// dev issuer's interactive page → callback → upstream, then signs out. CI installs Chromium at
// /usr/bin/chromium; without it this test fails (it does not skip), so a missing browser is noticed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

import { startEchoUpstream } from '../src/demo/echo.js';
import { startDevIssuer, type DevAccount, type DevIssuer } from '../src/devissuer/issuer.js';
import { freePort, REPO, startProxy, type ProxyProcess } from './support/proxy.js';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const RESULTS = join(REPO, 'test-results');
const COOKIE = '_oauth2_proxy';
const ACCOUNTS: DevAccount[] = [
  { sub: 'demo-user-1', email: 'demo@example.com', email_verified: true, name: 'Demo User', preferred_username: 'demo', groups: ['demo', 'admins'] },
  { sub: 'guest-user-2', email: 'guest@example.org', email_verified: true, name: 'Guest', preferred_username: 'guest', groups: ['guests'] },
];

// Everything started is stopped here, also when the test times out or fails half-way.
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const fn of cleanups.reverse()) {
    await Promise.race([fn().catch(() => {}), new Promise((r) => setTimeout(r, 5_000).unref())]);
  }
});

/** One GET with node:http (no fetch: keep it a plain request), bounded. */
function status(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2_000 }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

async function waitReady(proxy: ProxyProcess, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    if (!proxy.alive()) throw new Error(`the proxy exited; output:\n${proxy.lines.join('\n')}`);
    last = await status(`${proxy.url}/ready`);
    if (last === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`GET /ready was still ${last} after ${timeoutMs} ms; proxy output:\n${proxy.lines.join('\n')}`);
}

/**
 * The issuer must know the proxy's callback URL, so the proxy's port is chosen first, with
 * freePort(); something else (even the issuer's or the echo's own ephemeral port) can take it
 * before the proxy listens. Then the proxy exits with EADDRINUSE: start both again on another port.
 */
async function startIssuerAndProxy(upstream: string): Promise<{ origin: string; issuer: DevIssuer; proxy: ProxyProcess }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const clientId = 'portcullis-browser-test';
    const clientSecret = randomBytes(24).toString('base64url');
    const issuer = await startDevIssuer({
      shape: 'hydra',
      interactive: true,
      clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: [`${origin}/oauth2/callback`] }],
      accounts: ACCOUNTS,
    });
    try {
      const proxy = await startProxy({
        OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}`,
        OAUTH2_PROXY_OIDC_ISSUER_URL: issuer.issuer,
        OAUTH2_PROXY_CLIENT_ID: clientId,
        OAUTH2_PROXY_CLIENT_SECRET: clientSecret,
        OAUTH2_PROXY_COOKIE_SECRET: randomBytes(32).toString('base64url'),
        OAUTH2_PROXY_COOKIE_SECURE: 'false',
        OAUTH2_PROXY_EMAIL_DOMAINS: '*',
        OAUTH2_PROXY_UPSTREAMS: upstream,
        OAUTH2_PROXY_SCOPE: 'openid email profile groups',
      });
      try {
        await waitReady(proxy);
      } catch (err) {
        await proxy.stop();
        throw err;
      }
      return { origin, issuer, proxy };
    } catch (err) {
      await issuer.stop();
      if (attempt < 3 && /EADDRINUSE/.test(String((err as Error)?.message ?? err))) continue;
      throw err;
    }
  }
}

/** The echo upstream's header table as a map (lower-case names, as Node gave them). */
async function headerTable(page: Page): Promise<Map<string, string>> {
  const rows = await page.$$eval('table tr', (trs) => trs.map((tr) => [
    tr.querySelector('th')?.textContent ?? '', tr.querySelector('td')?.textContent ?? '',
  ] as [string, string]));
  return new Map(rows);
}

test('a real browser signs in through the proxy, reaches the upstream and signs out', { timeout: 60_000 }, async () => {
  assert.ok(existsSync(CHROMIUM),
    `Chromium not found at ${CHROMIUM}: this test needs a real browser. Install it with `
    + '`apt-get update && apt-get install -y chromium` (CI does this in .ci/run), or set CHROMIUM_PATH.');
  mkdirSync(RESULTS, { recursive: true });

  const echo = await startEchoUpstream();
  cleanups.push(() => echo.close());
  const { origin, issuer, proxy } = await startIssuerAndProxy(echo.url);
  cleanups.push(() => issuer.stop(), async () => {
    const kill = setTimeout(() => void proxy.stop('SIGKILL'), 4_000); // SIGTERM drains; don't wait forever
    await proxy.stop();
    clearTimeout(kill);
  });

  // launch() gives a fresh temporary profile (removed on close); newContext() an empty cookie jar.
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 20_000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  cleanups.push(() => browser.close());
  const context: BrowserContext = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.setDefaultNavigationTimeout(15_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  try {
    // 1. An unauthenticated navigation lands on the proxy's sign-in page, remembering where it was going.
    await page.goto(`${origin}/some/page?x=1`);
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    const signInUrl = new URL(page.url());
    assert.equal(signInUrl.origin, origin);
    assert.equal(signInUrl.pathname, '/oauth2/sign_in');
    assert.equal(signInUrl.searchParams.get('rd'), '/some/page?x=1');
    await page.screenshot({ path: join(RESULTS, 'browser-sign-in.png') });

    // 2. The button leads to the issuer's own page, one button per account.
    await page.locator('#sign-in').click();
    await page.waitForURL((u) => u.origin === new URL(issuer.issuer).origin && u.pathname.startsWith('/interaction/'));
    const demoButton = page.getByRole('button', { name: 'Sign in as demo@example.com' });
    await demoButton.waitFor({ state: 'visible' });
    await page.screenshot({ path: join(RESULTS, 'browser-issuer.png') });

    // 3. Choosing the account finishes the login: callback, then back to the page first asked for.
    await demoButton.click();
    await page.waitForURL(`${origin}/some/page?x=1`);
    await page.locator('#hello').waitFor({ state: 'visible' });
    assert.equal((await page.locator('#hello').textContent())?.trim(), 'Hello, demo@example.com');
    await page.screenshot({ path: join(RESULTS, 'browser-login.png'), fullPage: true });

    const headers = await headerTable(page);
    assert.equal(headers.get('x-forwarded-user'), 'demo-user-1', 'X-Forwarded-User is the account\'s sub');
    assert.equal(headers.get('x-forwarded-email'), 'demo@example.com');
    const upstreamCookie = headers.get('cookie') ?? '';
    assert.ok(!upstreamCookie.includes(COOKIE), `the proxy's cookies must not reach the upstream; it got: ${upstreamCookie}`);

    // The session cookie as the browser stored it.
    const cookies = await context.cookies(origin);
    const session = cookies.find((c) => c.name === COOKIE || c.name === `${COOKIE}_0`);
    assert.ok(session, `no ${COOKIE} cookie in the browser; it has: ${cookies.map((c) => c.name).join(', ')}`);
    assert.equal(session.httpOnly, true, 'session cookie is HttpOnly');
    assert.equal(session.sameSite, 'Lax', 'session cookie is SameSite=Lax');
    assert.equal(session.secure, false, 'cookie_secure=false: the cookie is not Secure');
    assert.equal(session.path, '/');
    assert.deepEqual(cookies.filter((c) => c.name.startsWith(`${COOKIE}_csrf_`)).map((c) => c.name), [],
      'the login-state cookie is cleared once the login completed');

    // 4. Sign out: it ends on a page that says so (not "sign in to continue"), whose button signs in again to /.
    await page.goto(`${origin}/oauth2/sign_out`);
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    const signedOut = new URL(page.url());
    assert.equal(signedOut.pathname, '/oauth2/sign_in');
    assert.equal(signedOut.searchParams.get('signed_out'), '1');
    assert.equal(await page.locator('h1').textContent(), 'You have signed out');
    assert.equal(new URL((await page.locator('#sign-in').getAttribute('href'))!, origin).searchParams.get('rd'), '/');
    const left = (await context.cookies(origin)).filter((c) => c.name.startsWith(COOKIE)).map((c) => c.name);
    assert.deepEqual(left, [], 'sign-out removes the session cookie');
    // And the upstream really is out of reach again.
    await page.goto(`${origin}/some/page?x=1`);
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#hello').count(), 0);

    assert.deepEqual(pageErrors, [], 'no script errors on any page');
  } catch (err) {
    await page.screenshot({ path: join(RESULTS, 'browser-failure.png'), fullPage: true }).catch(() => {});
    const tail = proxy.lines.slice(-40).join('\n');
    throw Object.assign(err as Error, {
      message: `${(err as Error).message}\n  at page ${page.url()} (screenshot: test-results/browser-failure.png)\n  proxy output (last 40 lines):\n${tail}`,
    });
  }
});
