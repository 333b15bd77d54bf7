// Several providers in one proxy (issue 17 §2): two real dev issuers (oidc-provider), each with its
// own client, the same `sub` at both, and per-provider email domains; logins from the chooser, the
// mix-up cases of RFC 9700 §4.4, home-realm discovery, an unknown provider and a provider that is down.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { AccessPolicy, decide, providerRules, type AccessRules } from '../src/access/policy.js';
import { checkRoute } from '../src/access/routepolicies.js';
import { BACKCHANNEL_LOGOUT_EVENT } from '../src/oidc/backchannel.js';
import { homeProvider } from '../src/oidc/choice.js';
import { providerListProblems, qualifiedUser } from '../src/oidc/issuers.js';
import { revocationKeys, type Session } from '../src/session/codec.js';
import { startDevIssuer, type DevAccount, type DevClient, type DevIssuer, type DevIssuerOptions } from '../src/devissuer/issuer.js';
import { startEchoUpstream } from '../src/demo/echo.js';
import { HttpBrowser } from './support/browser.js';
import { startInProcess, type ExtraProvider, type InProcess } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import type { Echoed } from './support/stack.js';

const SAME_SUB = 'user-0001';
const STAFF: DevAccount = { sub: SAME_SUB, email: 'alice@corp.example', email_verified: true, name: 'Alice', groups: ['staff'] };
const PARTNER: DevAccount = { sub: SAME_SUB, email: 'bob@partner.example', email_verified: true, name: 'Bob', groups: ['contractors'] };
/** A partner account that claims a staff address: the partner IdP may assert it, the proxy must not believe it. */
const IMPOSTOR: DevAccount = { sub: 'impostor-1', email: 'ceo@corp.example', email_verified: true, name: 'Not the CEO', groups: ['contractors'] };
/** A partner account in none of the partner's allowed groups. */
const OUTSIDER: DevAccount = { sub: 'outsider-1', email: 'olga@partner.example', email_verified: true, name: 'Olga', groups: ['visitors'] };
const STAFF_CLIENT = { id: 'staff-client', secret: randomBytes(24).toString('base64url') };
const PARTNER_CLIENT = { id: 'partner-client', secret: randomBytes(24).toString('base64url') };

interface Rig { proxy: InProcess; staff: DevIssuer; partner: DevIssuer; close(): Promise<void> }

async function startRig(o: { env?: Record<string, string>; downPort?: number; partner?: Partial<ExtraProvider>; issuers?: Partial<DevIssuerOptions> } = {}): Promise<Rig> {
  const port = await freePort();
  const callback = `http://127.0.0.1:${port}/oauth2/callback`;
  const client = (c: { id: string; secret: string }): DevClient => ({ client_id: c.id, client_secret: c.secret, redirect_uris: [callback], post_logout_redirect_uris: [`http://127.0.0.1:${port}/oauth2/sign_out`] });
  const staff = await startDevIssuer({ shape: 'hydra', accounts: [STAFF], clients: [client(STAFF_CLIENT)], ...o.issuers });
  const partner = await startDevIssuer({ shape: 'hydra', accounts: [PARTNER, IMPOSTOR, OUTSIDER], clients: [client(PARTNER_CLIENT)], ...o.issuers });
  const echo = await startEchoUpstream();
  const extra: ExtraProvider[] = [{
    id: 'partner', displayName: 'Partner', emailDomains: ['Partner.example'], homeDomains: ['partner.example'],
    env: { OAUTH2_PROXY_OIDC_ISSUER_URL: partner.issuer, OAUTH2_PROXY_CLIENT_ID: PARTNER_CLIENT.id, OAUTH2_PROXY_CLIENT_SECRET: PARTNER_CLIENT.secret },
    ...o.partner,
  }];
  if (o.downPort) {
    extra.push({
      id: 'down', displayName: 'Down', emailDomains: ['down.example'], homeDomains: [],
      env: { OAUTH2_PROXY_OIDC_ISSUER_URL: `http://127.0.0.1:${o.downPort}/`, OAUTH2_PROXY_CLIENT_ID: 'x', OAUTH2_PROXY_CLIENT_SECRET: 'y' },
    });
  }
  const proxy = await startInProcess({
    OAUTH2_PROXY_OIDC_ISSUER_URL: staff.issuer,
    OAUTH2_PROXY_CLIENT_ID: STAFF_CLIENT.id,
    OAUTH2_PROXY_CLIENT_SECRET: STAFF_CLIENT.secret,
    OAUTH2_PROXY_COOKIE_SECRET: randomBytes(32).toString('base64url'),
    OAUTH2_PROXY_COOKIE_SECURE: 'false',
    OAUTH2_PROXY_EMAIL_DOMAINS: '*',
    OAUTH2_PROXY_UPSTREAMS: echo.url,
    OAUTH2_PROXY_SCOPE: 'openid email profile groups',
    OAUTH2_PROXY_SKIP_PROVIDER_BUTTON: 'true',
    ...o.env,
  }, port, {
    firstProvider: { id: 'staff', displayName: 'Acme staff', emailDomains: ['corp.example'], homeDomains: ['corp.example'] },
    extraProviders: extra,
    waitIssuers: !o.downPort,
  });
  if (o.downPort) {
    // The two live issuers, not the dead one.
    const until = Date.now() + 10_000;
    while (!(proxy.running.issuers.get('staff')?.clients && proxy.running.issuers.get('partner')?.clients) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  }
  return {
    proxy, staff, partner,
    close: async () => { await proxy.close(); await Promise.all([staff.stop(), partner.stop(), echo.close()]); },
  };
}

/** Signs in through the chooser's link for `provider`, landing on /hello; returns what the upstream saw. */
async function signInVia(r: Rig, provider: string, b = new HttpBrowser()): Promise<{ b: HttpBrowser; echoed: Echoed; status: number; body: string }> {
  const page = await b.navigate(`${r.proxy.url}/hello`);
  assert.equal(page.status, 200, page.body.slice(0, 300));
  const href = new RegExp(`href="([^"]*provider=${provider}[^"]*)"`).exec(page.body)?.[1];
  assert.ok(href, `the sign-in page links to ${provider}: ${page.body}`);
  const done = await b.navigate(new URL(href.replaceAll('&amp;', '&'), page.url).href, { headers: { accept: 'text/html' } });
  if (done.status !== 200) return { b, echoed: { method: '', url: '', headers: {} }, status: done.status, body: done.body };
  const res = await b.request(`${r.proxy.url}/hello`, { headers: { accept: 'application/json' } });
  return { b, echoed: JSON.parse(res.body) as Echoed, status: res.status, body: res.body };
}

/** Starts a login at `provider` and stops at the callback: the authorization response, unused. */
async function authorizationResponse(r: Rig, provider: string, b = new HttpBrowser()): Promise<{ b: HttpBrowser; callback: URL }> {
  const at = await b.navigate(`${r.proxy.url}/oauth2/start?provider=${provider}&rd=/hello`, { stopAt: (u) => u.pathname === '/oauth2/callback' });
  return { b, callback: new URL(at.url) };
}

describe('two issuers in one proxy', () => {
  let r: Rig;
  before(async () => { r = await startRig(); });
  after(async () => { await r?.close(); });

  test('the sign-in page offers each provider by name, even under skip_provider_button', async () => {
    const page = await new HttpBrowser().navigate(`${r.proxy.url}/app?x=1`);
    assert.equal(page.status, 200);
    assert.equal(new URL(page.url).pathname, '/oauth2/sign_in');
    assert.match(page.body, /href="\/oauth2\/start\?provider=staff&amp;rd=%2Fapp%3Fx%3D1">Sign in with Acme staff</);
    assert.match(page.body, /href="\/oauth2\/start\?provider=partner&amp;rd=%2Fapp%3Fx%3D1">Sign in with Partner</);
    assert.match(page.body, /<form method="get" action="\/oauth2\/start" id="home-realm">/, 'an email field finds the home provider');
  });

  test('an unknown provider gets 400 naming the known ones, and goes to no issuer', async () => {
    const b = new HttpBrowser();
    const res = await b.navigate(`${r.proxy.url}/oauth2/start?provider=evil&rd=/`);
    assert.equal(res.status, 400);
    assert.equal(new URL(res.url).origin, r.proxy.url);
    assert.match(res.body, /PROVIDER_UNKNOWN/);
    assert.match(res.body, /Acme staff \(staff\), Partner \(partner\)/);
    assert.doesNotMatch(res.body, /evil/, 'the id asked for is not echoed');
    assert.ok(!b.history.some((u) => u.startsWith(r.staff.issuer) || u.startsWith(r.partner.issuer)));
    const json = await b.request(`${r.proxy.url}/oauth2/start?provider=`, { headers: { accept: 'application/json' } });
    assert.equal(json.status, 400);
    assert.equal((JSON.parse(json.body) as { providers: string }).providers, 'staff partner');
  });

  test('each provider signs its own users in; the same sub at both is two users (sub@provider)', async () => {
    const staff = await signInVia(r, 'staff');
    assert.equal(staff.status, 200, staff.body.slice(0, 300));
    assert.equal(staff.echoed.headers['x-forwarded-user'], `${SAME_SUB}@staff`);
    assert.equal(staff.echoed.headers['x-forwarded-email'], STAFF.email);
    const partner = await signInVia(r, 'partner');
    assert.equal(partner.status, 200, partner.body.slice(0, 300));
    assert.equal(partner.echoed.headers['x-forwarded-user'], `${SAME_SUB}@partner`);
    assert.equal(partner.echoed.headers['x-forwarded-email'], PARTNER.email);
    const info = JSON.parse((await partner.b.request(`${r.proxy.url}/oauth2/userinfo`, { headers: { accept: 'application/json' } })).body) as Record<string, unknown>;
    assert.deepEqual([info.user, info.provider, info.providerName, info.email], [`${SAME_SUB}@partner`, 'partner', 'Partner', PARTNER.email]);
    const login = r.proxy.logs.lines.filter((l) => l.event === 'login').map((l) => [l.user, l.provider]);
    assert.deepEqual(login.slice(-2), [[`${SAME_SUB}@staff`, 'staff'], [`${SAME_SUB}@partner`, 'partner']]);
  });

  test('a partner IdP cannot sign anyone in as @corp.example (its own email domains only)', async () => {
    r.partner.loginAs(IMPOSTOR.sub);
    try {
      const res = await signInVia(r, 'partner');
      assert.equal(res.status, 403);
      assert.match(res.body, /EMAIL_NOT_ALLOWED/);
    } finally {
      r.partner.loginAs(PARTNER.sub);
    }
  });

  test('home-realm discovery: login_hint at a home domain goes straight to that provider', async () => {
    for (const [hint, issuer] of [['bob@Partner.Example', r.partner.issuer], ['alice@corp.example', r.staff.issuer]] as const) {
      for (const path of ['/oauth2/start', '/oauth2/sign_in']) {
        const at = await new HttpBrowser().navigate(`${r.proxy.url}${path}?login_hint=${encodeURIComponent(hint)}&rd=/x`, { stopAt: (u) => u.origin !== r.proxy.url });
        const auth = new URL(at.url);
        assert.equal(at.status, 0, `${path} with ${hint} left the proxy`);
        assert.ok(auth.href.startsWith(new URL(issuer).origin), `${hint} went to ${auth.href}`);
        assert.equal(auth.searchParams.get('login_hint'), hint);
      }
    }
    // No provider's domain: the chooser, never a guess.
    const page = await new HttpBrowser().navigate(`${r.proxy.url}/oauth2/start?login_hint=x@elsewhere.example`);
    assert.equal(new URL(page.url).pathname, '/oauth2/sign_in');
    assert.match(page.body, /provider=staff/);
  });

  describe('mix-up (RFC 9700 §4.4): a response from the partner on a login started for staff', () => {
    test('partner code with the partner iss: refused (RFC 9207 iss is checked)', async () => {
      const victim = await authorizationResponse(r, 'staff');
      const attacker = await authorizationResponse(r, 'partner');
      assert.equal(attacker.callback.searchParams.get('iss'), r.partner.issuer, 'the partner sends iss (it advertises RFC 9207)');
      const forged = new URL(victim.callback);
      forged.search = '';
      forged.searchParams.set('code', attacker.callback.searchParams.get('code')!);
      forged.searchParams.set('state', victim.callback.searchParams.get('state')!);
      forged.searchParams.set('iss', attacker.callback.searchParams.get('iss')!);
      const res = await victim.b.request(forged.href);
      assert.equal(res.status, 401, res.body.slice(0, 300));
      assert.match(res.body, /LOGIN_TOKEN_INVALID/, 'refused on its iss, before any code is redeemed');
      assert.equal(res.headers['set-cookie']?.some((c) => c.startsWith('_oauth2_proxy=') && !c.startsWith('_oauth2_proxy=;')), false, 'no session');
      // The real partner login still works: its code was never spent at staff's token endpoint.
      const own = await attacker.b.request(attacker.callback.href);
      assert.equal(own.status, 302);
    });

    test('partner code without iss: refused (staff advertises iss, so it must be there)', async () => {
      const victim = await authorizationResponse(r, 'staff');
      const attacker = await authorizationResponse(r, 'partner');
      const forged = new URL(victim.callback);
      forged.search = `?code=${attacker.callback.searchParams.get('code')}&state=${victim.callback.searchParams.get('state')}`;
      const res = await victim.b.request(forged.href);
      assert.equal(res.status, 401, res.body.slice(0, 300));
      assert.match(res.body, /LOGIN_TOKEN_INVALID/, 'refused for its missing iss, before any code is redeemed');
    });

    test('partner code with the staff iss: redeemed at staff only, which refuses it', async () => {
      const victim = await authorizationResponse(r, 'staff');
      const attacker = await authorizationResponse(r, 'partner');
      const forged = new URL(victim.callback);
      forged.searchParams.set('code', attacker.callback.searchParams.get('code')!);
      const res = await victim.b.request(forged.href);
      assert.equal(res.status, 401, res.body.slice(0, 300));
      assert.match(res.body, /LOGIN_REDEEM_FAILED/);
      assert.equal((await attacker.b.request(attacker.callback.href)).status, 302, 'the partner code is still good at the partner');
    });

    test('an ID token naming the partner as issuer, from the staff token endpoint: refused', async () => {
      r.staff.mangleNextIdToken((c) => ({ ...c, iss: r.partner.issuer }));
      const res = await signInVia(r, 'staff');
      assert.equal(res.status, 401, res.body.slice(0, 300));
      assert.match(res.body, /LOGIN_TOKEN_INVALID/);
    });

    test('a partner login state cannot be finished with a staff response', async () => {
      const victim = await authorizationResponse(r, 'partner');
      const attacker = await authorizationResponse(r, 'staff');
      const forged = new URL(victim.callback);
      forged.searchParams.set('code', attacker.callback.searchParams.get('code')!);
      forged.searchParams.set('iss', r.staff.issuer);
      assert.equal((await victim.b.request(forged.href)).status, 401);
    });
  });
});

describe('one provider down', () => {
  let r: Rig;
  before(async () => { r = await startRig({ downPort: await freePort(), env: { OAUTH2_PROXY_METRICS_ADDRESS: `127.0.0.1:${await freePort()}` } }); });
  after(async () => { await r?.close(); });

  test('a login at the down provider gets ISSUER_UNAVAILABLE at once; the others go on', async () => {
    const t0 = Date.now();
    const down = await new HttpBrowser().navigate(`${r.proxy.url}/oauth2/start?provider=down`);
    assert.equal(down.status, 503);
    assert.match(down.body, /ISSUER_UNAVAILABLE/);
    assert.ok(Date.now() - t0 < 1000, 'at once');
    const staff = await signInVia(r, 'staff');
    assert.equal(staff.status, 200);
    assert.equal(staff.echoed.headers['x-forwarded-user'], `${SAME_SUB}@staff`);
  });

  test('/ready names each provider: ready, with the down one degraded', async () => {
    const res = await fetch(`${r.proxy.url}/ready`);
    const body = await res.json() as { ready: boolean; checks: Record<string, { ok: boolean }>; failed: string[]; degraded?: string[] };
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(body.checks), ['issuer:staff', 'issuer:partner', 'issuer:down']);
    assert.deepEqual(body.failed, []);
    assert.deepEqual(body.degraded, ['issuer:down']);
  });

  test('metrics report each provider: up or not, and its logins', async () => {
    const text = await (await fetch(`${r.proxy.running.metricsUrl}/metrics`)).text();
    for (const [id, up] of [['staff', 1], ['partner', 1], ['down', 0]] as const) {
      assert.match(text, new RegExp(`^portcullis_provider_up\\{provider="${id}"\\} ${up}$`, 'm'));
    }
    assert.match(text, /^portcullis_provider_logins_total\{provider="staff",outcome="completed"\} [1-9]/m);
    assert.doesNotMatch(text, /portcullis_provider_logins_total\{provider="down",outcome="started"\}/, 'no login ever started at the down provider');
  });
});

describe('the session follows its provider', () => {
  let r: Rig;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-providers-'));
    const routes = join(dir, 'routes.yaml');
    writeFileSync(routes, [
      'rules:',
      '  - id: admin-staff-only',
      '    match: { path: /admin }',
      '    require:',
      '      provider: [staff]',
      '  - id: everyone-else',
      '    match: { path: / }',
      '    allow: authenticated',
      '',
    ].join('\n'));
    r = await startRig({
      env: {
        OAUTH2_PROXY_ROUTES_FILE: routes,
        OAUTH2_PROXY_SKIP_JWT_BEARER_TOKENS: 'true',
        OAUTH2_PROXY_BEARER_TOKEN_LOGIN_FALLBACK: 'false',
        OAUTH2_PROXY_PASS_IDENTITY_JWT: 'true',
        OAUTH2_PROXY_COOKIE_REFRESH: '1s',
        OAUTH2_PROXY_PROMPT: 'consent',
      },
      // The partner falls back to the global email_domains (*), and needs its own group.
      partner: { emailDomains: undefined, allowedGroups: ['contractors'] },
      issuers: { jwtAccessTokens: {} },
    });
  });
  after(async () => {
    await r?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('routes_file require.provider: /admin only through the staff IdP', async () => {
    const staff = await signInVia(r, 'staff');
    const partner = await signInVia(r, 'partner');
    assert.equal((await staff.b.request(`${r.proxy.url}/admin/x`, { headers: { accept: 'application/json' } })).status, 200);
    const refused = await partner.b.request(`${r.proxy.url}/admin/x`, { headers: { accept: 'application/json' } });
    assert.equal(refused.status, 403);
    assert.match(refused.body, /ROUTE_NOT_ALLOWED/);
    assert.equal((await partner.b.request(`${r.proxy.url}/elsewhere`, { headers: { accept: 'application/json' } })).status, 200);
  });

  test("the provider's own allowedGroups: a partner user in none of them is refused", async () => {
    r.partner.loginAs(OUTSIDER.sub);
    try {
      const res = await signInVia(r, 'partner');
      assert.equal(res.status, 403);
      assert.match(res.body, /GROUP_NOT_ALLOWED/);
    } finally {
      r.partner.loginAs(PARTNER.sub);
    }
  });

  test('the identity JWT carries the qualified user, the provider and the IdP issuer', async () => {
    const { echoed } = await signInVia(r, 'partner');
    const jwt = String(echoed.headers.authorization).replace(/^Bearer /, '');
    const claims = decodeJwt(jwt);
    assert.deepEqual([claims.sub, claims.provider, claims.idp], [`${SAME_SUB}@partner`, 'partner', r.partner.issuer]);
  });

  test('refresh goes to the provider the session came from', async () => {
    const partner = await signInVia(r, 'partner');
    const before = { staff: r.staff.refreshGrants.succeeded, partner: r.partner.refreshGrants.succeeded };
    await new Promise((res) => setTimeout(res, 1100));
    const again = await partner.b.request(`${r.proxy.url}/hello`, { headers: { accept: 'application/json' } });
    assert.equal(again.status, 200);
    assert.equal((JSON.parse(again.body) as Echoed).headers['x-forwarded-user'], `${SAME_SUB}@partner`, 'still the partner user after the refresh');
    assert.equal(r.partner.refreshGrants.succeeded, before.partner + 1);
    assert.equal(r.staff.refreshGrants.succeeded, before.staff);
  });

  test("sign-out continues at that provider's end_session_endpoint", async () => {
    for (const [provider, issuer] of [['partner', r.partner], ['staff', r.staff]] as const) {
      const { b } = await signInVia(r, provider);
      const out = await b.request(`${r.proxy.url}/oauth2/sign_out`);
      assert.equal(out.status, 302);
      assert.ok(String(out.headers.location).startsWith(issuer.endpoints.endSession), `${provider} signs out at ${out.headers.location}`);
    }
  });

  test('bearer tokens from each provider, each with its own audience', async () => {
    const token = async (issuer: DevIssuer, c: { id: string; secret: string }, aud: string): Promise<string> => {
      const res = await fetch(issuer.endpoints.token, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${c.id}:${c.secret}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: `urn:aud:${aud}`, scope: 'api' }),
      });
      return (await res.json() as { access_token: string }).access_token;
    };
    const call = (t: string): Promise<{ status: number; body: string }> => new HttpBrowser().request(`${r.proxy.url}/api`, { headers: { accept: 'application/json', authorization: `Bearer ${t}` } });
    // A token that checks out is a session, then judged by its provider's rules: a client token has no
    // email and no group, so both refuse it (403), naming as whom it was accepted.
    const good = await call(await token(r.partner, PARTNER_CLIENT, PARTNER_CLIENT.id));
    assert.equal(good.status, 403, good.body);
    assert.deepEqual([JSON.parse(good.body).error, JSON.parse(good.body).signedInAs], ['GROUP_NOT_ALLOWED', `${PARTNER_CLIENT.id}@partner`]);
    const staff = await call(await token(r.staff, STAFF_CLIENT, STAFF_CLIENT.id));
    assert.equal(staff.status, 403, staff.body);
    assert.deepEqual([JSON.parse(staff.body).error, JSON.parse(staff.body).signedInAs], ['EMAIL_NOT_ALLOWED', `${STAFF_CLIENT.id}@staff`]);
    // The partner's token made for the staff client: valid at the partner, refused here (401).
    const crossed = await call(await token(r.partner, PARTNER_CLIENT, STAFF_CLIENT.id));
    assert.equal(crossed.status, 401);
    assert.match(crossed.body, /BEARER_TOKEN_INVALID/);
    // And the staff's for the partner client.
    assert.equal((await call(await token(r.staff, STAFF_CLIENT, PARTNER_CLIENT.id))).status, 401);
    const refusals = r.proxy.logs.lines.filter((l) => l.event === 'bearer_token_refused').map((l) => String(l.reason));
    assert.ok(refusals.some((m) => /aud/.test(m)), `refused for its audience: ${refusals.join(' | ')}`);
  });

  test("back-channel logout from each issuer ends only its provider's sessions of that sub", async () => {
    const staff = await signInVia(r, 'staff');
    const partner = await signInVia(r, 'partner');
    const at = async (b: HttpBrowser): Promise<number> => (await b.request(`${r.proxy.url}/hello`, { headers: { accept: 'application/json' } })).status;
    const logoutToken = (issuer: DevIssuer, aud: string, iss = issuer.issuer): Promise<string> => issuer.sign({
      iss, aud, iat: Math.floor(Date.now() / 1000), jti: randomBytes(8).toString('hex'), sub: SAME_SUB,
      events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    }, { typ: 'logout+jwt' });
    const post = (t: string): Promise<Response> => fetch(`${r.proxy.url}/oauth2/backchannel_logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${encodeURIComponent(t)}` });
    // Partner-signed, naming the staff issuer, or for the staff client: refused, nothing ends.
    assert.equal((await post(await logoutToken(r.partner, STAFF_CLIENT.id, r.staff.issuer))).status, 400, 'partner keys are not the staff issuer\'s');
    assert.equal((await post(await logoutToken(r.partner, STAFF_CLIENT.id))).status, 400, 'the partner\'s token must name the partner\'s client');
    assert.deepEqual([await at(staff.b), await at(partner.b)], [200, 200]);
    // The partner's own: its session of that sub ends, the staff one of the same sub does not.
    assert.equal((await post(await logoutToken(r.partner, PARTNER_CLIENT.id))).status, 200);
    assert.deepEqual([await at(staff.b), await at(partner.b)], [200, 401]);
    assert.equal((await post(await logoutToken(r.staff, STAFF_CLIENT.id))).status, 200);
    assert.equal(await at(staff.b), 401);
  });
});

describe('several providers: the pure parts', () => {
  test('home-realm discovery: domain of the hint, without case; no guess', () => {
    const providers = [{ id: 'a', homeDomains: ['corp.example'] }, { id: 'b', homeDomains: ['Partner.Example'] }, { id: 'c' }];
    const rows: Array<[string | null, string | undefined]> = [
      ['x@corp.example', 'a'], ['X@CORP.EXAMPLE', 'a'], ['y@partner.example', 'b'], ['z@sub.corp.example', undefined],
      ['corp.example', undefined], ['@corp.example', undefined], ['x@', undefined], [null, undefined], ['', undefined], ['a@b@partner.example', 'b'],
    ];
    assert.deepEqual(rows.map(([h]) => homeProvider(providers, h)?.id), rows.map(([, id]) => id));
  });

  test('provider ids: unique, and without @ or whitespace when there are several', () => {
    assert.deepEqual(providerListProblems([{ id: 'oidc=client' }]), []);
    assert.deepEqual(providerListProblems([{ id: 'a@b' }]), [], 'one provider: its id is never in a user');
    assert.equal(providerListProblems([{ id: 'a' }, { id: 'a' }]).length, 1);
    assert.equal(providerListProblems([{ id: 'a' }, { id: 'b@c' }]).length, 1);
    assert.equal(providerListProblems([{ id: 'a' }, { id: 'b c' }]).length, 1);
    assert.equal(providerListProblems([{ id: '' }, { id: 'b' }]).length, 1);
  });

  test('the user: sub@provider with several providers, the sub with one', () => {
    assert.equal(qualifiedUser('u1', 'staff', true), 'u1@staff');
    assert.equal(qualifiedUser('u1', 'staff', false), 'u1');
  });

  test('per-provider rules: own domains replace email_domains and the emails file; own groups add to allowed_groups', () => {
    const global = { emailDomains: ['*'], allowedGroups: new Set<string>(), authenticatedEmails: { has: (e: string) => e === 'ceo@corp.example', generation: 0 } };
    const partner = providerRules(global, { emailDomains: ['Partner.Example'], allowedGroups: ['contractors'] });
    const staff = providerRules(global, {});
    const rows: Array<[AccessRules, string, string[], boolean]> = [
      [partner, 'bob@partner.example', ['contractors'], true],
      [partner, 'ceo@corp.example', ['contractors'], false],
      [partner, 'bob@partner.example', ['visitors'], false],
      [staff, 'ceo@corp.example', [], true],
      [staff, 'anyone@anywhere.example', [], true],
    ];
    assert.deepEqual(rows.map(([rules, email, groups]) => decide({ email, groups }, rules).allowed), rows.map(([, , , ok]) => ok));
  });

  test('a session without a provider belongs to the first; one of an unknown provider is refused', () => {
    const perProvider = new Map([['staff', providerRules({ emailDomains: ['*'], allowedGroups: new Set() }, { emailDomains: ['corp.example'] })], ['partner', providerRules({ emailDomains: ['*'], allowedGroups: new Set() }, { emailDomains: ['partner.example'] })]]);
    const policy = new AccessPolicy({ emailDomains: ['*'], allowedGroups: new Set() }, perProvider);
    const s = (email: string, provider?: string): Session => ({ v: 1, user: 'u', sub: 'u', email, groups: [], createdAt: 0, expiresAt: Date.now() + 60_000, ...(provider ? { provider } : {}) });
    assert.equal(policy.forSession(s('a@corp.example')).allowed, true);
    assert.equal(policy.forSession(s('a@partner.example')).allowed, false);
    assert.equal(policy.forSession(s('a@partner.example', 'partner')).allowed, true);
    assert.equal(policy.forSession(s('a@partner.example', 'gone')).allowed, false);
    assert.deepEqual(revocationKeys({ sub: 'u', issuerSid: 's' }), { sub: 'u', sid: 's' });
    assert.notDeepEqual(revocationKeys({ sub: 'u', provider: 'partner' }).sub, revocationKeys({ sub: 'u', provider: 'staff' }).sub);
  });

  test('route rules that require a provider', () => {
    const rule = { id: 'admin', anonymous: false, require: { providers: new Set(['staff']) } };
    assert.equal(checkRoute([rule], { groups: [], provider: 'staff' }, 0).allowed, true);
    assert.equal(checkRoute([rule], { groups: [], provider: 'partner' }, 0).allowed, false);
    assert.equal(checkRoute([rule], { groups: [] }, 0, 'staff').allowed, true, 'no provider: the first');
    assert.equal(checkRoute([rule], { groups: [] }, 0, 'partner').allowed, false);
  });
});
