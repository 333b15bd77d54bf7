// Issue 22, "the first five minutes": every page a newcomer meets, in a real Chromium at a phone's
// width (390 × 844) and a laptop's (1280 × 800), light and dark: no sideways scroll, the primary
// action on screen, a sane height, and axe-core with no serious or critical violation. Screenshots
// of each page are kept under test-results/pages/ (git-ignored) to be looked at.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ERRORS, type ErrorCode } from '../src/errors.js';
import { DEFAULT_PAGES } from '../src/pages/pages.js';
import { ARTIFACTS, launchChromium } from './support/chromium.js';
import { freePort, startProxy, type ProxyProcess } from './support/proxy.js';

const SHOTS = join(ARTIFACTS, 'pages');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const VIEWPORTS = [{ name: 'phone', width: 390, height: 844 }, { name: 'wide', width: 1280, height: 800 }] as const;

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => { for (const c of cleanups.reverse()) await c().catch(() => {}); });

interface Layout { scrollWidth: number; innerWidth: number; height: number; action?: { left: number; right: number; top: number; bottom: number } }

async function layout(page: Page, action: string): Promise<Layout> {
  return page.evaluate((sel) => {
    const el = document.querySelector(sel);
    const r = el?.getBoundingClientRect();
    return {
      scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, height: document.documentElement.scrollHeight,
      action: r ? { left: r.left, right: r.right, top: r.top, bottom: r.bottom } : undefined,
    };
  }, action);
}

async function axeViolations(page: Page): Promise<string[]> {
  // Evaluated through the debugging protocol, which the pages' CSP (no script at all) does not govern.
  await page.evaluate(AXE);
  const found = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(o: unknown): Promise<{ violations: Array<{ id: string; impact: string; nodes: Array<{ target: unknown }> }> }> } }).axe;
    const r = await axe.run({ resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.map((n) => JSON.stringify(n.target)).slice(0, 3) }));
  });
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}) at ${v.targets.join(', ')}`);
}

/**
 * Checks the page now open at both widths and both colour schemes, and keeps a screenshot of each.
 * `action`: the selector of the primary action; `maxHeight`: at the phone's width. `axeOnPhoneOnly`:
 * for pages of one template seen many times (the error catalog), axe runs at one width; `axe: false`
 * and `schemes` narrow the checks further for a page whose shape was already checked in full.
 */
async function checkPage(page: Page, name: string, action: string, maxHeight = 1400, o: { axeOnPhoneOnly?: boolean; axe?: false; schemes?: ReadonlyArray<'light' | 'dark'> } = {}): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  for (const vp of VIEWPORTS) {
    await page.setViewportSize({ width: vp.width, height: vp.height });
    for (const scheme of o.schemes ?? ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.screenshot({ path: join(SHOTS, `${name}-${vp.width}-${scheme}.png`), fullPage: true });
      const l = await layout(page, action);
      const where = `${name} at ${vp.width}px, ${scheme}`;
      assert.ok(l.scrollWidth <= l.innerWidth, `${where}: scrolls sideways (${l.scrollWidth} px of content in ${l.innerWidth})`);
      assert.ok(l.action, `${where}: no ${action} on the page`);
      assert.ok(l.action.left >= 0 && l.action.right <= l.innerWidth && l.action.top >= 0 && l.action.bottom <= vp.height,
        `${where}: the primary action ${action} is outside the viewport: ${JSON.stringify(l.action)}`);
      assert.ok(l.height <= (vp.name === 'phone' ? maxHeight : Math.max(900, maxHeight / 1.5)), `${where}: ${l.height} px tall`);
      // The page follows the system's scheme: a dark background in dark mode, a light one otherwise.
      const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      const sum = (bg.match(/\d+/g) ?? []).slice(0, 3).reduce((t, n) => t + Number(n), 0);
      assert.ok(scheme === 'dark' ? sum < 150 : sum > 600, `${where}: background ${bg}`);
      if (o.axe !== false && (vp.name === 'phone' || !o.axeOnPhoneOnly)) assert.deepEqual(await axeViolations(page), [], `${where}: axe-core`);
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1280, height: 800 });
}

async function newPage(browser: Browser): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.setDefaultNavigationTimeout(15_000);
  return { context, page };
}

async function demo(env: Record<string, string> = {}): Promise<ProxyProcess> {
  const p = await startProxy({ NODE_ENV: 'development', OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${await freePort()}`, ...env });
  cleanups.push(() => p.stop());
  await p.waitForLog((l) => l.msg === 'issuer ready');
  return p;
}

test('the demo, page by page, at 390 and 1280 px, light and dark: no sideways scroll, the action on screen, axe-clean; the app sees no cookie it did not set', { timeout: 180_000 }, async () => {
  const p = await demo();
  const browser = await launchChromium();
  cleanups.push(() => browser.close());
  const { context, page } = await newPage(browser);

  // 1. The proxy's sign-in page.
  await page.goto(`${p.url}/hello`);
  // The demo runs two stand-in issuers (several providers): the page offers one button each.
  await page.locator('h1', { hasText: 'Sign in to continue' }).waitFor();
  await checkPage(page, 'sign-in', '#sign-in-acme', 900);
  assert.equal(await page.locator('.logo img').getAttribute('alt'), 'Portcullis', 'the logo says what it is');

  // 2. The dev issuer's sign-in page: a real-looking page that says what it stands in for and
  // what each demo user may do.
  await page.locator('#sign-in-acme').click();
  await page.getByRole('button', { name: 'Sign in as demo@example.com' }).waitFor();
  const issuerPage = page.url();
  const text = await page.locator('main').innerText();
  assert.match(text, /stands in for your company's identity provider/);
  assert.match(text, /Groups: demo admins/);
  assert.match(text, /Groups: guests/);
  assert.match(text, /not as an admin/);
  assert.ok(await page.evaluate(() => !!document.querySelector('meta[name=viewport]')), 'the dev issuer page has a viewport tag');
  await checkPage(page, 'dev-issuer', '.account button', 1400);

  // 3. The echo page: the app behind the proxy.
  await page.getByRole('button', { name: 'Sign in as demo@example.com' }).click();
  await page.locator('#hello', { hasText: 'Hello, demo@example.com' }).waitFor();
  await checkPage(page, 'echo', '#sign-out', 5000);
  // One width for the names' column in every table of the page.
  const widths = await page.$$eval('table th', (ths) => [...new Set(ths.map((th) => Math.round(th.getBoundingClientRect().width)))]);
  assert.equal(widths.length, 1, `the names' column has one width in every table: ${widths.join(', ')}`);
  // Times in words: "just now", never "in 0 s".
  const claims = await page.locator('#claims').innerText();
  assert.doesNotMatch(claims, /in 0 s|0 s ago/);
  assert.match(claims, /iat\s+\d+ \([^)]*, (just now|\d+ s ago)\)/);
  // Long values wrap or fold: the identity JWT is one click away, not a column of letters.
  assert.ok(await page.locator('#identity details').count() >= 1, 'the identity JWT is shortened, the whole value behind <details>');
  // The app never sees a cookie it did not set (it sets none): not the proxy's, not the issuer's.
  const seen = await context.request.get(`${p.url}/hello`, { headers: { accept: 'application/json' } });
  const echoed = await seen.json() as { headers: Record<string, string> };
  assert.equal(echoed.headers['x-forwarded-email'], 'demo@example.com', 'the JSON echo came through a signed-in session');
  assert.equal(echoed.headers.cookie, undefined, `the app received cookies: ${echoed.headers.cookie}`);
  assert.equal(await page.locator('#headers th', { hasText: /^cookie$/ }).count(), 0, 'no cookie row on the echo page');
  assert.equal(new URL(issuerPage).hostname, 'localhost', 'the dev issuer is on the other loopback name, so its cookies stay away from the app');
  const jar = await context.cookies();
  assert.ok(jar.some((c) => c.name.startsWith('_devissuer')), `the browser does hold the issuer's cookies (on localhost): ${jar.map((c) => `${c.name}@${c.domain}`).join(', ')}`);

  // 4. Back after signing in: the used sign-in step explains itself and leads back to the app.
  await page.goto(issuerPage);
  await page.locator('h1', { hasText: 'This sign-in step is over' }).waitFor();
  assert.equal(await page.locator('#back-to-app').getAttribute('href'), `${p.url}/`);
  await checkPage(page, 'dev-issuer-stale', '#back-to-app', 900);
  await page.locator('#back-to-app').click();
  await page.locator('#hello').waitFor();

  // 5. /oauth2/sign_in when signed in already: who, and continue / switch account / sign out.
  await page.goto(`${p.url}/oauth2/sign_in?rd=%2Fhello`);
  await page.locator('h1', { hasText: 'You are already signed in' }).waitFor();
  assert.match(await page.locator('#signed-in-as').innerText(), /demo@example\.com/);
  assert.equal(await page.locator('#continue').getAttribute('href'), '/hello');
  assert.match((await page.locator('#switch-account').getAttribute('href'))!, /\/oauth2\/sign_out\?rd=/);
  await checkPage(page, 'signed-in-already', '#continue', 900);

  // 6. Sign out from the app: at the end, a page that says so, not "sign in to continue".
  const kept = (await context.cookies(p.url)).filter((c) => c.name.startsWith('_oauth2_proxy'));
  assert.ok(kept.length > 0, 'the session cookie, kept to come back with after the sign-out');
  await page.goto(`${p.url}/hello`);
  await page.locator('#sign-out').click();
  await page.locator('h1', { hasText: 'You have signed out' }).waitFor();
  assert.equal(new URL(page.url()).origin, p.url);
  await checkPage(page, 'signed-out', '#sign-in-acme', 900);

  // 6b. Coming back with the session cookie that sign-out ended (as another window would): "Your
  // session has ended", saying why, with the providers to sign in again.
  await context.addCookies(kept);
  await page.goto(`${p.url}/hello`);
  await page.locator('h1', { hasText: 'Your session has ended' }).waitFor();
  assert.match(await page.locator('#session-ended').innerText(), /signed out/);
  await checkPage(page, 'session-ended', '#sign-in-acme', 900);
  await context.clearCookies({ name: /^_oauth2_proxy/ });

  // 7. An error page from the flow: a callback opened by hand, in people's words, with the request id.
  await page.goto(`${p.url}/oauth2/callback`);
  await page.locator('h1', { hasText: 'Sign-in problem' }).waitFor();
  const message = await page.locator('#message').innerText();
  assert.doesNotMatch(message, /no state|no code/, 'no protocol jargon');
  assert.match(await page.locator('#request-id').innerText(), /^[0-9a-f-]{36}$/);
  assert.match(await page.locator('#error-code').innerText(), /LOGIN_BAD_REQUEST/);
  await checkPage(page, 'error-callback', '#sign-in-again', 900);
  await context.close();
});

test('forbidden: the demo with OAUTH2_PROXY_ALLOWED_GROUPS=admins refuses the guest with a page that says who and offers to switch', { timeout: 90_000 }, async () => {
  const p = await demo({ OAUTH2_PROXY_ALLOWED_GROUPS: 'admins' });
  const browser = await launchChromium();
  cleanups.push(() => browser.close());
  const { context, page } = await newPage(browser);
  await page.goto(`${p.url}/`);
  await page.locator('#sign-in-acme').click();
  await page.getByRole('button', { name: 'Sign in as guest@example.org' }).click();
  await page.locator('h1', { hasText: 'Access denied' }).waitFor();
  assert.match(await page.locator('#signed-in-as').innerText(), /guest@example\.org/);
  assert.ok(await page.locator('#request-id').count(), 'the request id is shown');
  await checkPage(page, 'forbidden', '#switch-account', 900);
  await context.close();
});

test('every error of the catalog, as its page: fits a phone, axe-clean in light and dark, the code and request id shown', { timeout: 180_000 }, async () => {
  // The proxy's own error pages, rendered by its page set and served with its headers (CSP included).
  const server = http.createServer((req, res) => {
    const code = decodeURIComponent((req.url ?? '/').slice(1)) as ErrorCode;
    const spec = ERRORS[code];
    if (!spec) { res.writeHead(404).end(); return; }
    const refused = spec.status === 403 && code !== 'LOGIN_DENIED' ? 'someone@example.com' : undefined;
    res.writeHead(spec.status, DEFAULT_PAGES.headers).end(DEFAULT_PAGES.error({
      status: spec.status, title: spec.title, message: spec.message, code, signedInAs: refused,
      retryUrl: code.startsWith('LOGIN_') || code === 'STEP_UP_FAILED' ? '/oauth2/sign_in' : undefined,
      note: code === 'LOGIN_DENIED' ? 'The identity provider said: access_denied (The resource owner or authorization server denied the request.)' : undefined,
      requestId: '6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f',
    }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const browser = await launchChromium();
  cleanups.push(() => browser.close());
  const { context, page } = await newPage(browser);
  // Every code's words at both widths; axe and the dark scheme once for each shape of the page
  // (with or without an account, a retry link, a note), as the rest is the same template.
  const shapes = new Set<string>();
  for (const code of Object.keys(ERRORS) as ErrorCode[]) {
    await page.goto(`${base}/${code}`);
    assert.equal(await page.locator('#request-id').innerText(), '6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f', code);
    const action = (await page.locator('#switch-account').count()) ? '#switch-account' : (await page.locator('#sign-in-again').count()) ? '#sign-in-again' : '#start-page';
    const shape = `${action} ${await page.locator('#cause').count()}`;
    const first = !shapes.has(shape);
    shapes.add(shape);
    await checkPage(page, `error-${code}`, action, 1000, first ? { axeOnPhoneOnly: true } : { axe: false, schemes: ['light'] });
  }
  assert.ok(shapes.size >= 4, `the catalog shows the page in its shapes: ${[...shapes].join('; ')}`);
  await context.close();
});
