// The demo's echo app: JSON for curl, a page for a browser that shows what an app behind the proxy
// receives and checks the identity JWT as an app would. The verdicts are tested against a JWKS served
// over HTTP from the proxy's own signing code; the whole page in real Chromium through `npm start`'s demo.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

import { startEchoUpstream } from '../src/demo/echo.js';
import type { Session } from '../src/session/codec.js';
import { IdentityJwt, identityKey } from '../src/upstream/identityjwt.js';
import { HttpBrowser } from './support/browser.js';
import { freePort, REPO, startProxy } from './support/proxy.js';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const RESULTS = join(REPO, 'test-results');
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const ISSUER = 'https://proxy.example';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const fn of cleanups.reverse()) await Promise.race([fn().catch(() => {}), new Promise((r) => setTimeout(r, 5_000).unref())]);
});

/** One request with node:http; the path goes as written (a URL object would percent-encode `<` and `"`). */
function get(url: string, headers: Record<string, string> = {}, method = 'GET', body?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: url.slice(u.origin.length), method, headers, timeout: 5_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };
/** The text of the element with this id, entities decoded. */
const text = (html: string, id: string): string | undefined => new RegExp(`id="${id}"[^>]*>([^<]*)<`).exec(html)?.[1]?.replace(/&(amp|lt|gt|quot|#39);/g, (e) => ENTITIES[e]!);

const SESSION: Session = {
  v: 1, sid: 'sid-1', user: 'alice-sub', sub: 'alice-sub', email: 'alice@example.com', groups: ['admins', 'devs'],
  preferredUsername: 'alice', createdAt: Date.now(), expiresAt: Date.now() + 3_600_000,
};

describe('the echo app', () => {
  const signer = new IdentityJwt({ keys: [identityKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey)], lifetimeS: 60 });
  const stranger = new IdentityJwt({ keys: [identityKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey)], lifetimeS: 60 });
  let echo: Awaited<ReturnType<typeof startEchoUpstream>>;
  let aud: string;

  // A JWKS over HTTP, as the proxy serves it, and the echo app checking tokens against it.
  before(async () => {
    const jwks = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify(signer.jwks())));
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => { jwks.closeAllConnections(); jwks.close(r); }));
    echo = await startEchoUpstream(0, '127.0.0.1', {
      jwt: { jwksUrl: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/oauth2/jwks.json`, header: 'X-Forwarded-Identity-Jwt', issuer: ISSUER },
    });
    cleanups.push(() => echo.close());
    aud = new URL(echo.url).host;
  });

  test('JSON for anything that does not ask for HTML (curl, API clients); the page for a browser', async () => {
    const failures: string[] = [];
    for (const [accept, want] of [
      [undefined, 'json'], ['*/*', 'json'], ['application/json', 'json'], ['application/json, text/plain, */*', 'json'],
      [BROWSER_ACCEPT, 'html'], ['text/html', 'html'],
    ] as const) {
      const res = await get(`${echo.url}some/path?q=1`, accept ? { accept } : {});
      const got = String(res.headers['content-type']).startsWith('application/json') ? 'json' : String(res.headers['content-type']).startsWith('text/html') ? 'html' : res.headers['content-type'];
      if (got !== want) failures.push(`Accept ${accept ?? '(none)'}: ${got}, expected ${want}`);
      if (res.headers.vary !== 'accept') failures.push(`Accept ${accept ?? '(none)'}: Vary ${res.headers.vary}`);
    }
    assert.deepEqual(failures, []);
    // The JSON is what it always was: method, path, headers and body.
    const posted = await get(`${echo.url}p?x=1`, { 'content-type': 'text/plain', 'x-forwarded-user': 'alice' }, 'POST', 'hello');
    const json = JSON.parse(posted.body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json), ['method', 'url', 'headers', 'body']);
    assert.equal(json.method, 'POST');
    assert.equal(json.url, '/p?x=1');
    assert.equal(json.body, 'hello');
    assert.equal((json.headers as Record<string, string>)['x-forwarded-user'], 'alice');
  });

  test('the identity JWT: valid, or invalid with the reason, as an app verifying it against the JWKS would say', async () => {
    const now = Date.now();
    const good = signer.tokenFor(SESSION, ISSUER, aud, now);
    const [h, , s] = good.split('.');
    const forgedClaims = Buffer.from(JSON.stringify({ iss: ISSUER, aud, sub: 'mallory', exp: Math.floor(now / 1000) + 60 })).toString('base64url');
    const cases: Array<[string, string | undefined, string, RegExp | undefined]> = [
      ['signed by the proxy', good, 'valid', undefined],
      ['sent as a bearer value', `Bearer ${good}`, 'valid', undefined],
      ['expired', signer.tokenFor({ ...SESSION }, ISSUER, aud, now - 120_000), 'invalid', /"exp" claim timestamp check failed \(ERR_JWT_EXPIRED\)/],
      ['for another app', signer.tokenFor({ ...SESSION }, ISSUER, 'other.example:443', now), 'invalid', /"aud" claim/],
      ['from another issuer', signer.tokenFor({ ...SESSION }, 'https://evil.example', aud, now), 'invalid', /"iss" claim/],
      ['signed by a key the JWKS does not have', stranger.tokenFor(SESSION, ISSUER, aud, now), 'invalid', /no applicable key found in the JSON Web Key Set/],
      ['with claims swapped under a real signature', `${h}.${forgedClaims}.${s}`, 'invalid', /signature verification failed/],
      ['not a JWT', 'forged.by.client', 'invalid', /ERR_JWS_INVALID|Invalid Compact JWS/],
      ['absent', undefined, 'absent', undefined],
    ];
    const failures: string[] = [];
    for (const [name, token, status, reason] of cases) {
      const res = await get(`${echo.url}`, { accept: BROWSER_ACCEPT, ...(token ? { 'x-forwarded-identity-jwt': token } : {}) });
      const got = text(res.body, 'jwt-status');
      if (got !== status) failures.push(`${name}: ${got}, expected ${status}`);
      const why = text(res.body, 'jwt-reason');
      if (reason && !reason.test(why ?? '')) failures.push(`${name}: reason ${why}, expected ${reason}`);
      if (status === 'valid') {
        if (text(res.body, 'jwt-kid') !== signer.jwks().keys[0]!.kid) failures.push(`${name}: kid ${text(res.body, 'jwt-kid')}`);
        const left = Number(text(res.body, 'jwt-expires'));
        if (!(left > 50 && left <= 60)) failures.push(`${name}: expires in ${left} s`);
        if (!/<th scope="row">sub<\/th><td>alice-sub<\/td>/.test(res.body)) failures.push(`${name}: sub claim not shown`);
      }
    }
    assert.deepEqual(failures, []);
  });

  test('every value is escaped: headers, path and the claims of a refused token are client input', async () => {
    const evil = `"><img src=x onerror=alert(1)><script>alert(2)</script>`;
    const claims = Buffer.from(JSON.stringify({ sub: evil, exp: Math.floor(Date.now() / 1000) + 60 })).toString('base64url');
    const token = `${Buffer.from(JSON.stringify({ alg: 'ES256', kid: evil })).toString('base64url')}.${claims}.c2ln`;
    const res = await get(`${echo.url}x/%3Cscript%3E?q=<b>"`, { accept: BROWSER_ACCEPT, 'x-forwarded-email': evil, 'x-probe': evil, 'x-forwarded-identity-jwt': token });
    assert.equal(res.status, 200);
    assert.doesNotMatch(res.body, /<img|<script|<b>/i, 'no client-sent markup reaches the page as markup');
    const escaped = '&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;';
    assert.ok(res.body.includes(`<h1 id="hello">Hello, ${escaped}</h1>`), 'the greeting shows the header as text');
    assert.ok(res.body.includes(`<tr><th scope="row">x-probe</th><td>${escaped}</td></tr>`), 'the header table shows it as text');
    assert.ok(res.body.includes(`<th scope="row">sub</th><td>${escaped}</td>`), 'the refused token\'s claims are shown as text');
    assert.ok(res.body.includes('?q=&lt;b&gt;&quot;'), 'the path is shown as text');
    // And should an escape ever be missed, nothing runs: no script source at all, the one style by its hash.
    const csp = String(res.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|script-src/);
    const style = /<style>([\s\S]*?)<\/style>/.exec(res.body)![1]!;
    assert.ok(csp.includes(`style-src 'sha256-${createHash('sha256').update(style).digest('base64')}'`), `the CSP allows exactly the page's style: ${csp}`);
    assert.equal(res.headers['cache-control'], 'no-store', 'a page showing tokens is not cached');
  });

  test('identity headers are set apart from the rest; the JWT header is among them', async () => {
    const res = await get(echo.url, { accept: BROWSER_ACCEPT, 'x-forwarded-user': 'u', 'x-forwarded-groups': 'g', 'x-forwarded-identity-jwt': 'not.a.jwt', 'x-forwarded-for': '10.0.0.1', authorization: 'Bearer the-apps-own' });
    const identity = /<table id="identity">(.*?)<\/table>/.exec(res.body)?.[1] ?? '';
    const others = /<table id="headers">(.*?)<\/table>/.exec(res.body)?.[1] ?? '';
    const names = (t: string): string[] => [...t.matchAll(/<th scope="row">([^<]+)<\/th>/g)].map((m) => m[1]!);
    assert.deepEqual(names(identity).sort(), ['x-forwarded-groups', 'x-forwarded-identity-jwt', 'x-forwarded-user']);
    assert.ok(names(others).includes('x-forwarded-for') && names(others).includes('authorization'), names(others).join());
    assert.match(res.body, /<p class="demo" id="demo-banner"><strong>Portcullis demo: not for production\.<\/strong>/);
  });
});

test('in Chromium, through the demo (`npm start` with no configuration): sign in, and the page shows the identity and a valid JWT', { timeout: 90_000 }, async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: install it with \`apt-get install -y chromium\`, or set CHROMIUM_PATH.`);
  mkdirSync(RESULTS, { recursive: true });
  const port = await freePort();
  const p = await startProxy({ NODE_ENV: 'development', OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}` });
  cleanups.push(() => p.stop());
  await p.waitForLog((l) => l.msg === 'issuer ready');
  const jwks = JSON.parse((await get(`${p.url}/oauth2/jwks.json`)).body) as { keys: Array<{ kid: string }> };
  assert.equal(jwks.keys.length, 1);

  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true, timeout: 20_000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  cleanups.push(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  // A CSP that refused the page's own style would show here, as a console error.
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error' && page.url().startsWith(p.url)) problems.push(m.text()); });

  try {
    await page.goto(`${p.url}/`);
    await page.locator('#sign-in-acme').click();
    await page.getByRole('button', { name: 'Sign in as demo@example.com' }).click();
    await page.waitForURL(`${p.url}/`);
    assert.equal((await page.locator('#hello').textContent())?.trim(), 'Hello, demo@example.com');
    assert.match(await page.locator('#demo-banner').innerText(), /Portcullis demo: not for production/);

    // A long value is shown shortened, the whole of it inside <details> (.whole).
    const rows = async (table: string): Promise<Map<string, string>> => new Map(await page.$$eval(`${table} tr`, (trs) => trs.map((tr) => [tr.querySelector('th')!.textContent!, (tr.querySelector('td .whole') ?? tr.querySelector('td')!).textContent!] as [string, string])));
    const identity = await rows('#identity');
    assert.equal(identity.get('x-forwarded-user'), 'demo-user-1@acme');
    assert.equal(identity.get('x-forwarded-email'), 'demo@example.com');
    assert.equal(identity.get('x-forwarded-groups'), 'demo,admins');
    assert.equal(identity.get('x-forwarded-preferred-username'), 'demo');
    assert.match(identity.get('x-forwarded-identity-jwt') ?? '', /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.ok(!(await rows('#headers')).has('x-forwarded-user'), 'identity headers are not repeated among the others');
    // The page's own style applied (the CSP let it through): identity rows are highlighted (their names, light scheme).
    assert.equal(await page.locator('#identity th').first().evaluate((th) => getComputedStyle(th).backgroundColor), 'rgb(255, 244, 214)');

    assert.equal(await page.locator('#jwt-status').textContent(), 'valid');
    assert.equal(await page.locator('#jwt-kid').textContent(), jwks.keys[0]!.kid, 'signed with the key the proxy publishes');
    const left = Number(await page.locator('#jwt-expires').textContent());
    assert.ok(left > 0 && left <= 60, `expires in ${left} s`);
    const claims = await rows('#claims');
    assert.equal(claims.get('sub'), 'demo-user-1@acme');
    assert.equal(claims.get('provider'), 'acme');
    assert.equal(claims.get('email'), 'demo@example.com');
    assert.equal(claims.get('iss'), `http://127.0.0.1:${port}`);
    assert.equal(claims.get('aud'), new URL(String(p.lines.join('\n').match(/echo app \(in your app's place\)\s+(\S+)/)?.[1])).host);
    await page.screenshot({ path: join(RESULTS, 'demo-page.png'), fullPage: true });

    // A header carrying markup is shown as text, in a real browser too.
    const evil = '<img src=x id=injected onerror="document.title=\'pwned\'">';
    await context.setExtraHTTPHeaders({ 'x-probe': evil });
    await page.reload();
    assert.equal((await rows('#headers')).get('x-probe'), evil);
    assert.equal(await page.locator('#injected').count(), 0);
    assert.notEqual(await page.title(), 'pwned');
    await context.setExtraHTTPHeaders({});

    await page.locator('#sign-out').click();
    await page.locator('#sign-in-partner').waitFor({ state: 'visible' });
    assert.equal(new URL(page.url()).pathname, '/oauth2/sign_in');
    assert.equal(await page.locator('h1').textContent(), 'You have signed out', 'the end of a sign-out says so');
    assert.deepEqual(problems, [], 'no script errors and no CSP violations');
  } catch (err) {
    await page.screenshot({ path: join(RESULTS, 'demo-page-failure.png'), fullPage: true }).catch(() => {});
    throw Object.assign(err as Error, { message: `${(err as Error).message}\n  at ${page.url()} (test-results/demo-page-failure.png)\n  proxy output:\n${p.lines.slice(-30).join('\n')}` });
  }
});
