// The proxy's own pages: one template set (sign-in, error, forbidden), banner/footer/logo,
// custom_templates_dir with oauth2-proxy's own templates, the headers every page carries, and error
// pages that name the likely cause. Checked over HTTP and in Chromium, with screenshots kept in
// test-results/ (gitignored).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page, Response as PageResponse } from 'playwright-core';
import { mergeSources } from '../src/config/load.js';
import { cookieSecretBytes, deriveSealPasswords } from '../src/config/secret.js';
import { validateConfig, type CookieConfig } from '../src/config/validate.js';
import { LoginStateCookies } from '../src/session/loginstate.js';
import { HttpBrowser, type Response } from './support/browser.js';
import { ARTIFACTS, launchChromium } from './support/chromium.js';
import { COOKIE_SECRET, startRig, type Rig } from './support/rig.js';
import { REPO } from './support/proxy.js';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const fn of cleanups.reverse()) await Promise.race([fn().catch(() => {}), new Promise((r) => setTimeout(r, 5_000).unref())]);
});
async function rig(o: Parameters<typeof startRig>[0]): Promise<Rig> {
  const r = await startRig(o);
  cleanups.push(() => r.close());
  return r;
}
const dir = mkdtempSync(join(tmpdir(), 'portcullis-pages-'));
// A 1×1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

/** The headers every page the proxy renders must carry. */
function assertPageHeaders(h: Record<string, string | string[] | undefined>, what: string): void {
  const csp = String(h['content-security-policy']);
  assert.match(csp, /default-src 'none'/, `${what}: CSP`);
  assert.doesNotMatch(csp, /script-src|unsafe-eval/, `${what}: no script source at all, so no inline script runs`);
  assert.match(csp, /frame-ancestors 'none'/, `${what}: CSP frame-ancestors`);
  assert.equal(h['x-frame-options'], 'DENY', `${what}: X-Frame-Options`);
  assert.equal(h['cache-control'], 'no-store', `${what}: Cache-Control`);
  assert.equal(h['referrer-policy'], 'no-referrer', `${what}: Referrer-Policy`);
  assert.equal(h['x-content-type-options'], 'nosniff', `${what}: X-Content-Type-Options`);
  assert.match(String(h['content-type']), /^text\/html; charset=utf-8$/, `${what}: Content-Type`);
}

const problems = (env: Record<string, string>): string => {
  const v = validateConfig(mergeSources({ flags: {}, env: {
    OAUTH2_PROXY_OIDC_ISSUER_URL: 'https://issuer.example.com/', OAUTH2_PROXY_CLIENT_ID: 'c', OAUTH2_PROXY_CLIENT_SECRET: 's',
    OAUTH2_PROXY_COOKIE_SECRET: 'x'.repeat(32), OAUTH2_PROXY_EMAIL_DOMAINS: '*', ...env,
  }, dotenv: {} }));
  return v.ok ? '' : v.errors.join('\n');
};

/** A login-state cookie for `state` as /oauth2/start would have set it, started `ageMs` ago. */
async function loginStateCookie(state: string, ageMs: number, redirectUri: string): Promise<{ name: string; value: string }> {
  const cookie: CookieConfig = { name: '_oauth2_proxy', secret: cookieSecretBytes(COOKIE_SECRET)!, previousSecrets: [], domains: [], path: '/', expireMs: 0, refreshMs: 0, secure: false, httpOnly: true, sameSite: 'lax' };
  const ls = new LoginStateCookies(deriveSealPasswords([cookie.secret], 'login-state'), cookie, '/oauth2');
  const set = await ls.setCookie({ state, nonce: 'n', codeVerifier: 'v'.repeat(43), rd: '/', redirectUri, startedAt: Date.now() - ageMs }, undefined);
  const pair = set.split(';')[0]!;
  return { name: pair.slice(0, pair.indexOf('=')), value: pair.slice(pair.indexOf('=') + 1) };
}

describe('pages over HTTP', () => {
  test('every page the proxy renders carries CSP without script, frame-ancestors none, X-Frame-Options, no-store and no-referrer', async () => {
    const r = await rig({ env: { OAUTH2_PROXY_EMAIL_DOMAINS: 'other.example' } });
    const b = new HttpBrowser();
    const pages: Array<[string, Response]> = [
      ['sign-in', await b.request(`${r.proxy.url}/oauth2/sign_in`)],
      ['callback without state', await b.request(`${r.proxy.url}/oauth2/callback?code=x`)],
      ['unknown login', await b.request(`${r.proxy.url}/oauth2/callback?code=x&state=${'s'.repeat(43)}`)],
      ['forbidden', await new HttpBrowser().navigate(`${r.proxy.url}/oauth2/start`)],
    ];
    r.issuer.breakTokenEndpoint({ status: 503, contentType: 'application/json', body: '{"error":"temporarily_unavailable"}' });
    pages.push(['issuer unavailable', await new HttpBrowser().navigate(`${r.proxy.url}/oauth2/start`)]);
    const statuses = pages.map(([what, res]) => { assertPageHeaders(res.headers, what); return res.status; });
    assert.deepEqual(statuses, [200, 400, 400, 403, 503]);
    assert.match(pages[3]![1].body, /You are signed in as <strong>rita@example\.com<\/strong>/);
    assert.match(pages[3]![1].body, /id="switch-account" href="\/oauth2\/sign_out\?rd=%2Foauth2%2Fsign_in%3Fprompt%3Dlogin"/);
    for (const [, res] of pages) assert.doesNotMatch(res.body, /<script/i, 'the built-in pages have no script at all');
  });

  test('banner, footer and custom_sign_in_logo, with oauth2-proxy\'s defaults and "-"', async () => {
    const logo = join(dir, 'logo.png');
    writeFileSync(logo, PNG);
    const one = await rig({ env: { OAUTH2_PROXY_EMAIL_DOMAINS: 'example.com', OAUTH2_PROXY_FOOTER: 'Example Corp · <a href="/help">help</a>', OAUTH2_PROXY_CUSTOM_SIGN_IN_LOGO: logo, OAUTH2_PROXY_PROVIDER_DISPLAY_NAME: 'Example SSO' } });
    const page = (await new HttpBrowser().request(`${one.proxy.url}/oauth2/sign_in`)).body;
    assert.match(page, /<p id="banner">Authenticate using example\.com<\/p>/, 'default banner: the email domain');
    assert.match(page, /Sign in with Example SSO/);
    assert.match(page, /<footer>Example Corp · <a href="\/help">help<\/a><\/footer>/);
    assert.match(page, new RegExp(`<img src="data:image/png;base64,${PNG.toString('base64').replace(/[+/]/g, '\\$&')}" alt="Logo">`));

    const two = await rig({ env: { OAUTH2_PROXY_BANNER: 'Staff <b>only</b>', OAUTH2_PROXY_FOOTER: '-', OAUTH2_PROXY_CUSTOM_SIGN_IN_LOGO: 'https://cdn.example.com/logo.svg' } });
    const res = await new HttpBrowser().request(`${two.proxy.url}/oauth2/sign_in`);
    assert.match(res.body, /<p id="banner">Staff <b>only<\/b><\/p>/);
    assert.match(res.body, /<footer><\/footer>/);
    assert.match(res.body, /<img src="https:\/\/cdn\.example\.com\/logo\.svg" alt="Logo">/);
    assert.match(String(res.headers['content-security-policy']), /img-src 'self' data: https:\/\/cdn\.example\.com;/, 'the logo\'s origin, and only it, may serve images');

    const three = await rig({ env: { OAUTH2_PROXY_BANNER: '-', OAUTH2_PROXY_CUSTOM_SIGN_IN_LOGO: '-' } });
    const bare = (await new HttpBrowser().request(`${three.proxy.url}/oauth2/sign_in`)).body;
    assert.doesNotMatch(bare, /id="banner"|<img/);
    assert.match(bare, /<footer>Secured by Portcullis<\/footer>/);
  });

  test('bad page settings stop start-up, naming the variable, the file and the line', () => {
    const big = join(dir, 'big.png');
    writeFileSync(big, Buffer.alloc(300 * 1024));
    assert.match(problems({ OAUTH2_PROXY_CUSTOM_SIGN_IN_LOGO: join(dir, 'logo.bmp') }), /OAUTH2_PROXY_CUSTOM_SIGN_IN_LOGO: got ".*logo\.bmp", expected an image file ending in \.svg, \.png/);
    assert.match(problems({ OAUTH2_PROXY_CUSTOM_SIGN_IN_LOGO: join(dir, 'missing.png') }), /OAUTH2_PROXY_CUSTOM_SIGN_IN_LOGO: .* expected a readable image file \(ENOENT\)/);
    assert.match(problems({ OAUTH2_PROXY_CUSTOM_SIGN_IN_LOGO: big }), /expected an image of at most 256 KiB .* this one has 300 KiB/);
    assert.match(problems({ OAUTH2_PROXY_CUSTOM_TEMPLATES_DIR: join(dir, 'nowhere') }), /OAUTH2_PROXY_CUSTOM_TEMPLATES_DIR: .* expected an existing directory \(ENOENT\)/);
    const templates = mkdtempSync(join(dir, 't-'));
    writeFileSync(join(templates, 'error.html'), '<h1>{{.Title}}</h1>\n{{range .Messages}}{{.}}{{end}}');
    assert.match(problems({ OAUTH2_PROXY_CUSTOM_TEMPLATES_DIR: templates }), /OAUTH2_PROXY_CUSTOM_TEMPLATES_DIR: .* expected templates Portcullis can render: .*error\.html:2: \{\{range\}\} is not supported/);
  });

  test('error pages name the likely cause: a Secure cookie over plain HTTP, a login that took too long', async () => {
    const secure = await rig({ env: { OAUTH2_PROXY_COOKIE_SECURE: 'true' } });
    const blocked = await new HttpBrowser().request(`${secure.proxy.url}/oauth2/callback?code=x&state=${'s'.repeat(43)}`);
    assert.equal(blocked.status, 400);
    assert.match(blocked.body, /LOGIN_COOKIE_BLOCKED/);
    assert.match(blocked.body, /opened over plain HTTP, and its cookies are for HTTPS only/);
    // Over HTTPS (here: a trusted load balancer saying so) the same miss is the plain "unknown login".
    const behindTls = await rig({ env: { OAUTH2_PROXY_COOKIE_SECURE: 'true', OAUTH2_PROXY_REVERSE_PROXY: 'true' } });
    const viaLb = await new HttpBrowser().request(`${behindTls.proxy.url}/oauth2/callback?code=x&state=${'s'.repeat(43)}`, { headers: { 'x-forwarded-proto': 'https' } });
    assert.match(viaLb.body, /LOGIN_STATE_MISSING/);

    const r = await rig({});
    const state = 'q'.repeat(43);
    const late = await loginStateCookie(state, 16 * 60_000, `${r.proxy.url}/oauth2/callback`);
    const b = new HttpBrowser();
    b.setCookie('127.0.0.1', late.name, late.value, '/oauth2');
    const tooLate = await b.request(`${r.proxy.url}/oauth2/callback?code=x&state=${state}`);
    assert.equal(tooLate.status, 400);
    assert.match(tooLate.body, /LOGIN_EXPIRED/);
    assert.match(tooLate.body, /took longer than 15 minutes/);
    assert.ok((tooLate.headers['set-cookie'] ?? []).some((c) => c.startsWith(`${late.name}=;`)), 'the spent login state is cleared');
  });
});

describe('pages in Chromium', () => {
  /** Opens a page; its main response. */
  async function look(page: Page, url: string): Promise<PageResponse> {
    const res = await page.goto(url);
    assert.ok(res);
    return res;
  }

  test('the built-in pages and oauth2-proxy\'s own templates render, run no script, and lead through a login', { timeout: 120_000 }, async () => {
    const browser = await launchChromium({ hostRules: 'MAP portcullis.test 127.0.0.1' });
    cleanups.push(() => browser.close());
    const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const console: string[] = [];
    page.on('console', (m) => console.push(m.text()));
    const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(ARTIFACTS, `pages-${name}.png`) });
    /** The page a navigation ends on at the proxy (redirects on the way skipped). */
    const mainResponse = async (origin: string, action: () => Promise<unknown>): Promise<PageResponse> => {
      const [res] = await Promise.all([page.waitForResponse((r) => r.request().isNavigationRequest() && r.url().startsWith(origin) && (r.status() < 300 || r.status() >= 400)), action()]);
      return res;
    };
    try {
      // 1. Built-in sign-in page, with a banner, a footer and the default logo.
      const plain = await rig({ env: { OAUTH2_PROXY_EMAIL_DOMAINS: 'example.com', OAUTH2_PROXY_FOOTER: 'Example Corp', OAUTH2_PROXY_PROVIDER_DISPLAY_NAME: 'Example SSO' } });
      const signIn = await look(page, `${plain.proxy.url}/oauth2/sign_in?rd=/x`);
      assertPageHeaders(await signIn.allHeaders(), 'sign-in in Chromium');
      assert.equal(await page.locator('#banner').textContent(), 'Authenticate using example.com');
      assert.equal(await page.locator('.logo img').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0), true, 'the logo is allowed by the CSP and shows');
      await shot('sign-in');

      // 2. A refused account: who you are, and how to switch.
      const refusing = await rig({ env: { OAUTH2_PROXY_EMAIL_DOMAINS: 'other.example' }, issuer: { interactive: true } });
      await page.goto(`${refusing.proxy.url}/oauth2/start?rd=/`);
      const forbidden = await mainResponse(refusing.proxy.url, () => page.getByRole('button', { name: `Sign in as ${refusing.account.email}` }).click());
      assert.equal(forbidden.status(), 403);
      assertPageHeaders(await forbidden.allHeaders(), 'forbidden in Chromium');
      assert.equal(await page.locator('#signed-in-as').textContent(), `You are signed in as ${refusing.account.email}.`);
      await shot('forbidden');
      await page.locator('#switch-account').click();
      await page.locator('#sign-in').click();
      await page.waitForURL((u) => u.pathname.startsWith('/interaction/'));
      await page.getByRole('button', { name: `Sign in as ${refusing.account.email}` }).waitFor();

      // 3. The issuer's clock is off.
      plain.issuer.mangleNextIdToken((c) => ({ ...c, iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 }));
      const skew = await mainResponse(plain.proxy.url, () => page.goto(`${plain.proxy.url}/oauth2/start`));
      assert.equal(skew.status(), 401);
      assert.match(await page.locator('#message').textContent() ?? '', /clock and this site's clock disagree/);
      await shot('clock-skew');

      // 4. A login that took too long.
      const state = 'z'.repeat(43);
      const late = await loginStateCookie(state, 20 * 60_000, `${plain.proxy.url}/oauth2/callback`);
      await context.addCookies([{ name: late.name, value: late.value, domain: '127.0.0.1', path: '/oauth2' }]);
      const expired = await look(page, `${plain.proxy.url}/oauth2/callback?code=x&state=${state}`);
      assert.equal(expired.status(), 400);
      assert.match(await page.locator('#cause').textContent() ?? '', /took longer than 15 minutes/);
      await shot('login-took-too-long');

      // 5. cookie_secure on a plain-HTTP site that is not loopback: Chromium drops the login-state cookie.
      const secure = await rig({ env: { OAUTH2_PROXY_COOKIE_SECURE: 'true' }, hosts: ['portcullis.test'] });
      const site = `http://portcullis.test:${secure.port}`;
      const blocked = await mainResponse(site, () => page.goto(`${site}/oauth2/start?rd=/`));
      assert.equal(blocked.status(), 400);
      assertPageHeaders(await blocked.allHeaders(), 'cookie blocked in Chromium');
      assert.match(await page.locator('#message').textContent() ?? '', /opened over plain HTTP, and its cookies are for HTTPS only/);
      await shot('cookie-blocked');

      // 6. oauth2-proxy's own sign_in.html and error.html: rendered, their inline script refused by
      // the CSP, and the sign-in form (GET to /start, then on to the issuer) still works.
      const templates = mkdtempSync(join(dir, 'o2p-'));
      cpSync(join(REPO, 'test/fixtures/oauth2-proxy-templates'), templates, { recursive: true });
      const custom = await rig({ env: { OAUTH2_PROXY_CUSTOM_TEMPLATES_DIR: templates, OAUTH2_PROXY_PROVIDER_DISPLAY_NAME: 'Hydra' } });
      console.length = 0;
      const customSignIn = await look(page, `${custom.proxy.url}/oauth2/sign_in?rd=/after`);
      assertPageHeaders(await customSignIn.allHeaders(), 'custom sign-in in Chromium');
      await page.getByRole('button', { name: 'Sign in with Hydra' }).waitFor();
      await shot('custom-sign-in');
      await page.getByRole('button', { name: 'Sign in with Hydra' }).click();
      await page.waitForURL(`${custom.proxy.url}/after`);
      await page.locator('#hello').waitFor();
      assert.ok(console.some((l) => /Content Security Policy/.test(l) && /script/i.test(l)), `the template's inline script was refused: ${JSON.stringify(console)}`);
      const customError = await look(page, `${custom.proxy.url}/oauth2/callback?code=x`);
      assert.equal(customError.status(), 400);
      assert.equal((await page.locator('.status-code').textContent())?.trim(), '400');
      await shot('custom-error');
    } catch (err) {
      await page.screenshot({ path: join(ARTIFACTS, 'pages-failure.png'), fullPage: true }).catch(() => {});
      throw Object.assign(err as Error, { message: `${(err as Error).message}\n  at page ${page.url()} (screenshot: test-results/pages-failure.png)` });
    }
  });
});

