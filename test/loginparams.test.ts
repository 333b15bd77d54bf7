// Login parameters (prompt, approval_prompt, acr_values, login_hint) and the audience options
// (oidc_extra_audiences, oidc_audience_claims), against the real issuer: it validates what it is
// sent, and its re-signed ID tokens stand for issuers that put other audiences in them.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeSources } from '../src/config/load.js';
import { validateConfig } from '../src/config/validate.js';
import { HttpBrowser } from './support/browser.js';
import { events, loginThrough, startRig, type Rig } from './support/rig.js';
import { CLIENT_ID } from './support/stack.js';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => { for (const fn of cleanups.reverse()) await fn().catch(() => {}); });
async function rig(o: Parameters<typeof startRig>[0]): Promise<Rig> {
  const r = await startRig(o);
  cleanups.push(() => r.close());
  return r;
}

/** The authorization request /oauth2/start sends the browser to. */
async function authorizationRequest(r: Rig, query = ''): Promise<URLSearchParams> {
  const res = await new HttpBrowser().request(`${r.proxy.url}/oauth2/start${query}`);
  assert.equal(res.status, 302);
  return new URL(res.headers.location!).searchParams;
}

const base = {
  OAUTH2_PROXY_OIDC_ISSUER_URL: 'https://issuer.example.com/', OAUTH2_PROXY_CLIENT_ID: 'c', OAUTH2_PROXY_CLIENT_SECRET: 's',
  OAUTH2_PROXY_COOKIE_SECRET: 'x'.repeat(32), OAUTH2_PROXY_EMAIL_DOMAINS: '*',
};
const problems = (env: Record<string, string>): string[] => {
  const v = validateConfig(mergeSources({ flags: {}, env: { ...base, ...env }, dotenv: {} }));
  return v.ok ? [] : v.errors;
};

describe('login parameters', () => {
  test('none is sent unless configured (oauth2-proxy sends approval_prompt=force by default; Portcullis does not)', async () => {
    const r = await rig({});
    const p = await authorizationRequest(r);
    assert.deepEqual([p.get('prompt'), p.get('approval_prompt'), p.get('acr_values'), p.get('login_hint')], [null, null, null, null]);
  });

  test('prompt, acr_values and a query\'s login_hint reach the issuer, which signs the user in with them', async () => {
    const r = await rig({ env: { OAUTH2_PROXY_PROMPT: 'login', OAUTH2_PROXY_ACR_VALUES: 'urn:mace:incommon:iap:silver', OAUTH2_PROXY_APPROVAL_PROMPT: 'force' } });
    const p = await authorizationRequest(r, `?login_hint=${encodeURIComponent(r.account.email)}`);
    assert.equal(p.get('prompt'), 'login');
    assert.equal(p.get('approval_prompt'), null, 'prompt wins over the legacy approval_prompt');
    assert.equal(p.get('acr_values'), 'urn:mace:incommon:iap:silver');
    assert.equal(p.get('login_hint'), r.account.email);
    const b = new HttpBrowser();
    const done = await b.navigate(`${r.proxy.url}/oauth2/start?rd=/in&login_hint=${encodeURIComponent(r.account.email)}`);
    assert.equal(done.status, 200, `the issuer accepts them: ${done.status} ${done.body.slice(0, 200)}`);
    assert.equal(done.url, `${r.proxy.url}/in`);
  });

  test('approval_prompt alone is sent as approval_prompt', async () => {
    const r = await rig({ env: { OAUTH2_PROXY_APPROVAL_PROMPT: 'force' } });
    const p = await authorizationRequest(r);
    assert.equal(p.get('approval_prompt'), 'force');
    assert.equal(p.get('prompt'), null);
  });

  test('a link may ask for more interaction (login, select_account), never less, and may not set anything else', async () => {
    const r = await rig({ env: { OAUTH2_PROXY_PROMPT: 'consent' } });
    const p = await authorizationRequest(r, '?prompt=select_account&scope=openid+admin&client_id=evil&redirect_uri=https://evil.example/&acr_values=weak&foo=bar&state=mine');
    assert.equal(p.get('prompt'), 'consent select_account');
    assert.equal(p.get('scope'), 'openid email profile groups');
    assert.equal(p.get('client_id'), CLIENT_ID);
    assert.equal(p.get('redirect_uri'), `${r.proxy.url}/oauth2/callback`);
    assert.equal(p.get('acr_values'), null);
    assert.equal(p.get('foo'), null);
    assert.notEqual(p.get('state'), 'mine');
    assert.equal((await authorizationRequest(r, '?prompt=none')).get('prompt'), 'consent', 'prompt=none from a link is dropped');
    for (const bad of ['a\nb', 'x'.repeat(257)]) {
      assert.equal((await authorizationRequest(r, `?login_hint=${encodeURIComponent(bad)}`)).get('login_hint'), null);
    }
    const quiet = await rig({ env: { OAUTH2_PROXY_PROMPT: 'none' } });
    assert.equal((await authorizationRequest(quiet, '?prompt=login')).get('prompt'), 'none', 'prompt=none combines with nothing');
  });

  test('the sign-in page passes login_hint and prompt on to /oauth2/start', async () => {
    const r = await rig({});
    const page = await new HttpBrowser().request(`${r.proxy.url}/oauth2/sign_in?rd=/x&login_hint=a%40b.example&prompt=select_account`);
    assert.match(page.body, /href="\/oauth2\/start\?rd=%2Fx&amp;login_hint=a%40b\.example&amp;prompt=select_account"/);
  });

  test('bad values are configuration errors naming the variable', () => {
    assert.match(problems({ OAUTH2_PROXY_PROMPT: 'sometimes' }).join('\n'), /OAUTH2_PROXY_PROMPT: got "sometimes", expected none, or one or more of login, consent, select_account/);
    assert.match(problems({ OAUTH2_PROXY_PROMPT: 'none login' }).join('\n'), /OAUTH2_PROXY_PROMPT/);
    assert.match(problems({ OAUTH2_PROXY_APPROVAL_PROMPT: 'always' }).join('\n'), /OAUTH2_PROXY_APPROVAL_PROMPT: got "always", expected force or auto/);
    assert.match(problems({ OAUTH2_PROXY_CODE_CHALLENGE_METHOD: 'plain' }).join('\n'), /OAUTH2_PROXY_CODE_CHALLENGE_METHOD: got "plain", expected one of S256/);
    assert.deepEqual(problems({ OAUTH2_PROXY_PROMPT: 'login consent', OAUTH2_PROXY_ACR_VALUES: 'a b' }), []);
  });
});

describe('ID token audiences', () => {
  test('oidc_extra_audiences: a token for another audience is refused, unless that audience is allowed', async () => {
    const strict = await rig({});
    strict.issuer.mangleNextIdToken((c) => ({ ...c, aud: ['other-app'] }));
    const refused = await new HttpBrowser().navigate(`${strict.proxy.url}/oauth2/start`);
    assert.equal(refused.status, 401);
    assert.match(refused.body, /LOGIN_TOKEN_INVALID/);

    const r = await rig({ env: { OAUTH2_PROXY_OIDC_EXTRA_AUDIENCES: 'other-app' } });
    r.issuer.mangleNextIdToken((c) => ({ ...c, aud: ['other-app'] }));
    const ok = await new HttpBrowser().navigate(`${r.proxy.url}/oauth2/start`);
    assert.equal(ok.status, 200, ok.body.slice(0, 300));
    r.issuer.mangleNextIdToken((c) => ({ ...c, aud: ['not-listed'] }));
    const other = await new HttpBrowser().navigate(`${r.proxy.url}/oauth2/start`);
    assert.equal(other.status, 401);
    assert.match(String(events(r.proxy, 'login_failed').at(-1)?.detail), /names neither the client nor an extra audience/);
  });

  test('oidc_audience_claims: the first claim present is the audience', async () => {
    const r = await rig({ env: { OAUTH2_PROXY_OIDC_AUDIENCE_CLAIMS: 'cid,aud' } });
    r.issuer.mangleNextIdToken((c) => ({ ...c, aud: 'api://resource', cid: CLIENT_ID }));
    assert.equal((await new HttpBrowser().navigate(`${r.proxy.url}/oauth2/start`)).status, 200);
    r.issuer.mangleNextIdToken((c) => ({ ...c, aud: CLIENT_ID, cid: 'someone-else' }));
    assert.equal((await new HttpBrowser().navigate(`${r.proxy.url}/oauth2/start`)).status, 401, 'cid is present, and names another client');
    assert.equal((await new HttpBrowser().navigate(`${r.proxy.url}/oauth2/start`)).status, 200, 'without cid, aud decides');
  });

  test('with a widened audience rule every other check still holds: signature, nonce, expiry, issuer', async () => {
    const r = await rig({ env: { OAUTH2_PROXY_OIDC_EXTRA_AUDIENCES: 'other-app' } });
    const attempt = async (mangle: (c: Record<string, unknown>) => Record<string, unknown>, how: 'issuer' | 'foreign' = 'issuer'): Promise<string> => {
      r.issuer.mangleNextIdToken(mangle, how);
      const res = await new HttpBrowser().navigate(`${r.proxy.url}/oauth2/start`, { headers: { accept: 'application/json' } });
      return res.status === 200 ? 'ok' : (JSON.parse(res.body) as { error: string }).error;
    };
    assert.equal(await attempt((c) => c, 'foreign'), 'LOGIN_TOKEN_INVALID');
    assert.equal(await attempt((c) => ({ ...c, nonce: 'another' })), 'LOGIN_TOKEN_INVALID');
    assert.equal(await attempt((c) => ({ ...c, iss: 'https://evil.example/' })), 'LOGIN_TOKEN_INVALID');
    assert.equal(await attempt((c) => ({ ...c, exp: Math.floor(Date.now() / 1000) - 600 })), 'LOGIN_CLOCK_SKEW');
    assert.equal(await attempt((c) => c), 'ok');
  });

  test('refresh with a widened audience rule: the refreshed ID token is verified too, its subject must not change', { timeout: 20_000 }, async () => {
    const r = await rig({ env: { OAUTH2_PROXY_OIDC_EXTRA_AUDIENCES: 'other-app', OAUTH2_PROXY_COOKIE_REFRESH: '1s', OAUTH2_PROXY_PROMPT: 'consent' } });
    const b = await loginThrough(r.proxy.url);
    await new Promise((res) => setTimeout(res, 1_200));
    r.issuer.mangleNextIdToken((c) => ({ ...c, aud: ['other-app'] }));
    assert.equal((await b.request(`${r.proxy.url}/`, { headers: { accept: 'application/json' } })).status, 200);
    assert.equal(events(r.proxy, 'session_refreshed').length, 1);
    await new Promise((res) => setTimeout(res, 1_200));
    r.issuer.mangleNextIdToken((c) => ({ ...c, sub: 'someone-else' }));
    assert.equal((await b.request(`${r.proxy.url}/`, { headers: { accept: 'application/json' } })).status, 401, 'another subject ends the session');
    assert.match(String(events(r.proxy, 'session_refresh_refused')[0]?.detail), /another subject/);
  });
});

describe('the issuer\'s clock', () => {
  test('an ID token that arrives expired or not yet valid is told as a clock problem', async () => {
    const r = await rig({});
    r.issuer.mangleNextIdToken((c) => ({ ...c, iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 }));
    const late = await new HttpBrowser().navigate(`${r.proxy.url}/oauth2/start`);
    assert.equal(late.status, 401);
    assert.match(late.body, /LOGIN_CLOCK_SKEW/);
    assert.match(late.body, /clock/);
    r.issuer.mangleNextIdToken((c) => ({ ...c, nbf: Math.floor(Date.now() / 1000) + 3600 }));
    assert.match((await new HttpBrowser().navigate(`${r.proxy.url}/oauth2/start`)).body, /LOGIN_CLOCK_SKEW/);
  });
});
