// "Your session has ended" (issue 22): a browser that comes back with a session cookie that no
// longer gives a session (past cookie_expire, ended by a sign-out elsewhere, sealed with a secret
// no longer configured) gets that page with "Sign in again", not the first-visit "Sign in to
// continue", which a browser with no session cookie still gets. Real issuer, proxy in this process.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cookieSecretBytes, deriveSealPasswords } from '../src/config/secret.js';
import { SessionCodec } from '../src/session/codec.js';
import { startDevIssuer, type DevClient } from '../src/devissuer/issuer.js';
import { startEchoUpstream } from '../src/demo/echo.js';
import { HttpBrowser, type Response } from './support/browser.js';
import { startInProcess } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import { COOKIE_SECRET, loginThrough, startRig, type Rig } from './support/rig.js';

const COOKIE = '_oauth2_proxy';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => { for (const fn of cleanups.reverse()) await fn().catch(() => {}); });
async function rig(env: Record<string, string> = {}): Promise<Rig> {
  const r = await startRig({ env });
  cleanups.push(() => r.close());
  return r;
}

/** A browser holding only `sealed` as its session cookie, sent to a protected page: where it lands. */
async function comeBackWith(proxyUrl: string, sealed: string | undefined): Promise<Response> {
  const b = new HttpBrowser();
  if (sealed !== undefined) b.setCookie('127.0.0.1', COOKIE, sealed);
  const page = await b.navigate(`${proxyUrl}/app`, { headers: { accept: 'text/html' } });
  assert.equal(page.status, 200, page.body.slice(0, 300));
  assert.equal(new URL(page.url).pathname, '/oauth2/sign_in', 'sent to the sign-in page');
  return page;
}

function assertEnded(page: Response, why: RegExp): void {
  assert.match(page.body, /<h1>Your session has ended<\/h1>/, page.body);
  assert.match(page.body, new RegExp(`<p id="session-ended" class="lead">${why.source}`));
  assert.match(page.body, /<a class="button" id="sign-in" href="\/oauth2\/start\?rd=%2Fapp">Sign in again<\/a>/);
  assert.doesNotMatch(page.body, /Sign in to continue/);
}

function assertFirstVisit(page: Response): void {
  assert.match(page.body, /<h1>Sign in to continue<\/h1>/);
  assert.doesNotMatch(page.body, /session has ended|session-ended/);
}

/** The session in a real login's cookie, sealed again with a cookie secret the proxy does not have. */
async function sealedElsewhere(sealed: string): Promise<string> {
  const ttl = 7 * 86_400_000;
  const ours = new SessionCodec(deriveSealPasswords([cookieSecretBytes(COOKIE_SECRET)!], 'session'), ttl);
  const session = await ours.unseal(sealed);
  assert.ok(session, 'the login cookie unseals with the proxy\'s secret');
  return new SessionCodec(deriveSealPasswords([cookieSecretBytes('z'.repeat(32))!], 'session'), ttl).seal(session);
}

describe('the sign-in page after a session ended', () => {
  test('signed out elsewhere, expired, or sealed with a removed secret: "Your session has ended" with why; no cookie: "Sign in to continue"', { timeout: 60_000 }, async () => {
    const r = await rig({ OAUTH2_PROXY_COOKIE_EXPIRE: '3s' });
    assertFirstVisit(await comeBackWith(r.proxy.url, undefined));

    // Signed out in one browser: a copy of the same session elsewhere has ended too.
    const a = await loginThrough(r.proxy.url);
    const copyA = a.cookies().get(COOKIE)!;
    const out = await a.request(`${r.proxy.url}/oauth2/sign_out`);
    assert.equal(out.status, 302);
    const revoked = await comeBackWith(r.proxy.url, copyA);
    assertEnded(revoked, /You were signed out/);
    assert.doesNotMatch(revoked.body, /expired/i, 'the reason is the sign-out, not the lifetime');

    // A session past cookie_expire (a copy kept past the browser's own Max-Age).
    const b = await loginThrough(r.proxy.url);
    const copyB = b.cookies().get(COOKIE)!;
    const foreign = await sealedElsewhere(copyB);
    await sleep(3_300);
    const expired = await comeBackWith(r.proxy.url, copyB);
    assertEnded(expired, /It expired/);

    // A seal this proxy cannot open (its secret was removed): ended, with no reason guessed at.
    const unreadable = await comeBackWith(r.proxy.url, foreign);
    assertEnded(unreadable, /Please sign in again/);
    assert.doesNotMatch(unreadable.body, /expired|signed out/i);

    // An API client with the stale cookie still gets the plain 401, and no cookie still the first-visit page.
    const api = new HttpBrowser();
    api.setCookie('127.0.0.1', COOKIE, copyB);
    assert.equal((await api.request(`${r.proxy.url}/app`, { headers: { accept: 'application/json' } })).status, 401);
    assertFirstVisit(await comeBackWith(r.proxy.url, undefined));
  });

  test('custom_templates_dir: sign_in.html gets SessionEnded (expired, signed_out or ended; empty without a stale cookie)', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-ended-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'sign_in.html'), '<p id="state">{{if .SessionEnded}}ended:{{.SessionEnded}}{{else}}fresh{{end}}</p><a href="{{.StartUrl}}">go</a>');
    const r = await rig({ OAUTH2_PROXY_CUSTOM_TEMPLATES_DIR: dir });
    const a = await loginThrough(r.proxy.url);
    const copy = a.cookies().get(COOKIE)!;
    await a.request(`${r.proxy.url}/oauth2/sign_out`);
    assert.match((await comeBackWith(r.proxy.url, copy)).body, /<p id="state">ended:signed_out<\/p>/);
    assert.match((await comeBackWith(r.proxy.url, await sealedElsewhere(copy))).body, /<p id="state">ended:ended<\/p>/);
    assert.match((await comeBackWith(r.proxy.url, undefined)).body, /<p id="state">fresh<\/p>/);
  });

  test('with several providers, the ended page keeps the chooser', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const client = (id: string): DevClient => ({ client_id: id, client_secret: `${id}-secret`, redirect_uris: [`http://127.0.0.1:${port}/oauth2/callback`] });
    const staff = await startDevIssuer({ shape: 'hydra', accounts: [{ sub: 's1', email: 'sam@corp.example', email_verified: true }], clients: [client('staff')] });
    const partner = await startDevIssuer({ shape: 'hydra', accounts: [{ sub: 'p1', email: 'pat@partner.example', email_verified: true }], clients: [client('partner')] });
    const echo = await startEchoUpstream();
    cleanups.push(() => Promise.all([staff.stop(), partner.stop(), echo.close()]));
    const proxy = await startInProcess({
      OAUTH2_PROXY_OIDC_ISSUER_URL: staff.issuer, OAUTH2_PROXY_CLIENT_ID: 'staff', OAUTH2_PROXY_CLIENT_SECRET: 'staff-secret',
      OAUTH2_PROXY_COOKIE_SECRET: randomBytes(32).toString('base64url'), OAUTH2_PROXY_COOKIE_SECURE: 'false',
      OAUTH2_PROXY_EMAIL_DOMAINS: '*', OAUTH2_PROXY_UPSTREAMS: echo.url,
    }, port, {
      firstProvider: { id: 'staff', displayName: 'Acme staff' },
      extraProviders: [{ id: 'partner', displayName: 'Partner', emailDomains: ['partner.example'], homeDomains: [],
        env: { OAUTH2_PROXY_OIDC_ISSUER_URL: partner.issuer, OAUTH2_PROXY_CLIENT_ID: 'partner', OAUTH2_PROXY_CLIENT_SECRET: 'partner-secret' } }],
    });
    cleanups.push(() => proxy.close());
    // The proxy's secret is random: any real seal it did not make is one it cannot open.
    const stale = await new SessionCodec(deriveSealPasswords([cookieSecretBytes(COOKIE_SECRET)!], 'session'), 3_600_000).seal({
      v: 1, sub: 's1', email: 'sam@corp.example', user: 's1', groups: [], createdAt: Date.now(), expiresAt: Date.now() + 3_600_000,
    } as never);
    const page = await comeBackWith(proxy.url, stale);
    assert.match(page.body, /<h1>Your session has ended<\/h1>/);
    assert.match(page.body, /href="\/oauth2\/start\?provider=staff&amp;rd=%2Fapp">Sign in with Acme staff</);
    assert.match(page.body, /href="\/oauth2\/start\?provider=partner&amp;rd=%2Fapp">Sign in with Partner</);
    assertFirstVisit(await comeBackWith(proxy.url, undefined));
  });
});
