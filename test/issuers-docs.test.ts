// The issuer pages (docs/issuers/*.md) as a reader copies them. Every environment block goes (a)
// through the real configuration loader with its placeholders filled, and (b) into a full login
// through bin/portcullis against a real OpenID Provider: Glewlwyd itself, or oidc-provider in the
// issuer's shape (Hydra's and Crossid's paths; Keycloak's /realms/REALM, Entra ID's /TENANT/v2.0,
// Okta's /oauth2/default, Auth0's root with a trailing slash, Google's root without one). The block's
// variables are used as written; only the hosts and ports of the issuer, the redirect URL, the
// listen address and the upstream are moved onto loopback (substitute() says which keys), and the
// placeholders (<client id>, …) take the test's values. Nothing is added to the environment but the
// listen address when the block has none.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { runInNewContext } from 'node:vm';
import { mergeSources, foreignVariableProblems } from '../src/config/load.js';
import { validateConfig } from '../src/config/validate.js';
import { startEchoUpstream } from '../src/demo/echo.js';
import { startDevIssuer, type DevAccount, type DevIssuer, type DevIssuerOptions } from '../src/devissuer/issuer.js';
import { HttpBrowser, type Response } from './support/browser.js';
import { BASE_ENV } from './support/config.js';
import { docBlock } from './support/docblock.js';
import { envOfText } from './support/docenv.js';
import { startGlewlwyd, type Glewlwyd, type GlewlwydUser } from './support/glewlwyd.js';
import { freePort, startProxy, type ProxyProcess } from './support/proxy.js';
import { waitReady, type Echoed } from './support/stack.js';


/**
 * Fills every `<placeholder>` with the test's value for it. `<openssl rand … | tr …>` is a command
 * the page tells the reader to run: it is run as written. An unknown placeholder fails the test.
 */
function fill(env: Record<string, string>, values: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    out[k] = v.replace(/<([^>]+)>/g, (whole, inner: string) => {
      if (inner.startsWith('openssl rand')) return execFileSync('sh', ['-c', inner], { encoding: 'utf8' }).trim();
      const given = values[whole];
      if (given === undefined) throw new Error(`${k}: the test has no value for the placeholder ${whole}`);
      return given;
    });
  }
  return out;
}

const ORIGIN = /^https?:\/\/[^/]+/;
/** The keys whose URL's scheme, host and port move onto loopback (their paths stay as written). */
const ISSUER_URLS = ['OAUTH2_PROXY_OIDC_ISSUER_URL', 'OAUTH2_PROXY_LOGIN_URL', 'OAUTH2_PROXY_REDEEM_URL', 'OAUTH2_PROXY_VALIDATE_URL', 'OAUTH2_PROXY_OIDC_JWKS_URL', 'OAUTH_PROXY_VALIDATE'];

/** The block's hosts moved onto loopback: the issuer's, the proxy's (redirect URL, listen address) and the upstream's. */
function substitute(env: Record<string, string>, at: { issuerOrigin: string; proxyPort: number; upstreamOrigin: string }): Record<string, string> {
  const out = { ...env };
  for (const k of ISSUER_URLS) if (out[k] !== undefined) out[k] = out[k]!.replace(ORIGIN, at.issuerOrigin);
  if (out.OAUTH2_PROXY_REDIRECT_URL !== undefined) out.OAUTH2_PROXY_REDIRECT_URL = out.OAUTH2_PROXY_REDIRECT_URL.replace(ORIGIN, `http://127.0.0.1:${at.proxyPort}`);
  if (out.OAUTH2_PROXY_UPSTREAMS !== undefined) out.OAUTH2_PROXY_UPSTREAMS = out.OAUTH2_PROXY_UPSTREAMS.replace(ORIGIN, at.upstreamOrigin);
  out.OAUTH2_PROXY_HTTP_ADDRESS = `127.0.0.1:${at.proxyPort}`;
  return out;
}

/** The loader's verdict on an environment: its errors, and oauth2-proxy variables it refuses. */
function loaderErrors(env: Record<string, string>): string[] {
  const v = validateConfig(mergeSources({ flags: {}, env, dotenv: {} }));
  return [...(v.ok ? [] : v.errors), ...foreignVariableProblems(env, 'environment').errors];
}

const TENANT_ID = 'f8cdef31-a31e-4b4a-93e4-5f571e91255a';
const GROUP_OID = '2a3c5f0e-7d1b-4c4e-9a8f-1b2c3d4e5f60';
const SECRET = 'test-secret-for-portcullis-0123456789';

/** Each page's environment block, the placeholders' test values, and the block it extends (a fragment). */
const PAGES: ReadonlyArray<{ block: string; values: Record<string, string>; over?: string }> = [
  { block: 'hydra-env', values: { '<client_id from hydra>': 'portcullis-test', '<client_secret from hydra>': SECRET } },
  { block: 'crossid-article-env', values: { '<tenant>': 'acme', '<client_id>': 'portcullis-test', '<client_secret>': SECRET } },
  { block: 'crossid-jwks-env', values: { '<tenant>': 'acme', '<client_id>': 'portcullis-test', '<client_secret>': SECRET }, over: 'crossid-article-env' },
  { block: 'glewlwyd-env', values: { '<client secret>': SECRET } },
  { block: 'keycloak-env', values: { '<Clients → portcullis → Credentials>': SECRET } },
  { block: 'google-env', values: { '<id>': 'portcullis-test', '<secret>': SECRET } },
  { block: 'entra-id-env', values: { '<tenant-id>': TENANT_ID, '<application (client) id>': 'portcullis-test', '<client secret value>': SECRET, '<group object id>': GROUP_OID } },
  { block: 'entra-id-roles-env', values: {}, over: 'entra-id-env' },
  { block: 'okta-env', values: { '<org>': 'acme', '<client id>': 'portcullis-test', '<client secret>': SECRET } },
  { block: 'auth0-env', values: { '<tenant>': 'acme', '<client id>': 'portcullis-test', '<client secret>': SECRET } },
];

/** A page's environment, filled: its own block over the block it extends. */
function pageEnv(block: string): Record<string, string> {
  const page = PAGES.find((p) => p.block === block)!;
  const base = page.over ? pageEnv(page.over) : {};
  return { ...base, ...fill(envOfText(docBlock(block, 'sh')), { ...PAGES.find((p) => p.block === page.over)?.values, ...page.values }) };
}

describe('every environment block on the issuer pages passes the configuration loader as written', () => {
  for (const { block } of PAGES) {
    test(block, () => {
      const env = pageEnv(block);
      assert.ok(Object.keys(env).length > 0, `${block} has variables`);
      assert.deepEqual(loaderErrors(env), []);
    });
  }

  test('issuers-login-params-env, over a complete configuration', () => {
    const env = { ...BASE_ENV, ...envOfText(docBlock('issuers-login-params-env', 'sh')) };
    assert.equal(env.OAUTH2_PROXY_PROMPT, 'login', 'the trailing # comment is not part of the value');
    assert.equal(env.OAUTH2_PROXY_OIDC_AUDIENCE_CLAIMS, 'aud,azp');
    assert.deepEqual(loaderErrors(env), []);
  });

  test('the loader can fail: oauth2-proxy\'s Entra ID tenant variable is refused, naming the issuer URL form of the Entra ID page', () => {
    const errors = loaderErrors({ ...pageEnv('entra-id-env'), OAUTH2_PROXY_AZURE_TENANT: TENANT_ID });
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0]!, /OAUTH2_PROXY_AZURE_TENANT .*https:\/\/login\.microsoftonline\.com\/TENANT\/v2\.0/);
  });
});

const ALICE: DevAccount = { sub: 'alice-subject-0001', email: 'alice@example.com', email_verified: true, name: 'Alice', preferred_username: 'alice' };
const BOB: DevAccount = { sub: 'bob-subject-0002', email: 'bob@example.com', email_verified: true, name: 'Bob', preferred_username: 'bob' };

interface Running { readonly proxy: ProxyProcess; readonly issuer: DevIssuer; readonly env: Record<string, string>; close(): Promise<void> }

/**
 * oidc-provider in the issuer's shape (the mount taken from the block's own issuer URL), an echo
 * upstream, and bin/portcullis with the block's variables, hosts moved onto loopback.
 */
async function startPage(block: string, o: { accounts: DevAccount[]; issuer?: Partial<DevIssuerOptions>; extra?: Record<string, string> }): Promise<Running> {
  const written = pageEnv(block);
  const port = await freePort();
  const redirect = written.OAUTH2_PROXY_REDIRECT_URL!.replace(ORIGIN, `http://127.0.0.1:${port}`);
  const asWritten = new URL(written.OAUTH2_PROXY_OIDC_ISSUER_URL ?? written.OAUTH2_PROXY_LOGIN_URL!);
  const crossid = o.issuer?.shape === 'crossid';
  const path = asWritten.pathname.replace(/\/$/, '');
  const issuer = await startDevIssuer({
    shape: 'hydra',
    accounts: o.accounts,
    clients: [{ client_id: written.OAUTH2_PROXY_CLIENT_ID!, client_secret: written.OAUTH2_PROXY_CLIENT_SECRET!, redirect_uris: [redirect] }],
    ...(crossid ? {} : { mount: { path, trailingSlash: written.OAUTH2_PROXY_OIDC_ISSUER_URL!.endsWith('/') } }),
    ...o.issuer,
  });
  const echo = await startEchoUpstream();
  // `extra`: options the page names in its prose, beside the block (each test says which).
  const env = { ...substitute(written, { issuerOrigin: new URL(issuer.issuer).origin, proxyPort: port, upstreamOrigin: new URL(echo.url).origin }), ...o.extra };
  let proxy: ProxyProcess;
  try {
    proxy = await startProxy(env);
    await waitReady(proxy.url);
  } catch (err) {
    await Promise.all([issuer.stop(), echo.close()]);
    throw err;
  }
  return { proxy, issuer, env, close: async () => { await proxy.stop(); await Promise.all([issuer.stop(), echo.close()]); } };
}

/** A whole login as `sub`, landing on `path`; the echo's view of the next request (or the refusal). */
async function logIn(r: Running, sub: string, path = '/'): Promise<{ landed: Response; echoed?: Echoed; authorize: URL }> {
  r.issuer.loginAs(sub);
  const b = new HttpBrowser();
  const start = await b.request(`${r.proxy.url}/oauth2/start?rd=${encodeURIComponent(path)}`);
  const authorize = new URL(start.headers.location!);
  const landed = await b.navigate(authorize.href);
  if (landed.status !== 200) return { landed, authorize };
  const res = await b.request(`${r.proxy.url}${path}`, { headers: { accept: 'application/json' } });
  return { landed, authorize, echoed: JSON.parse(res.body) as Echoed };
}

function assertIn(out: Awaited<ReturnType<typeof logIn>>, who: DevAccount): void {
  assert.equal(out.landed.status, 200, `${who.email} must reach the upstream; ended at ${out.landed.url}: ${out.landed.body.slice(0, 300)}`);
  assert.equal(out.echoed?.headers['x-forwarded-user'], who.sub);
  assert.equal(out.echoed?.headers['x-forwarded-email'], who.email);
}

describe('Ory Hydra: hydra-env as written, against oidc-provider with Hydra\'s issuer form and paths', () => {
  let r: Running;
  before(async () => { r = await startPage('hydra-env', { accounts: [ALICE] }); });
  after(async () => { await r?.close(); });

  test('the issuer URL keeps its trailing slash and is the issuer\'s own; a login reaches the upstream', async () => {
    assert.equal(r.env.OAUTH2_PROXY_OIDC_ISSUER_URL, r.issuer.issuer);
    assert.match(r.issuer.issuer, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const out = await logIn(r, ALICE.sub);
    assert.equal(out.authorize.pathname, '/oauth2/auth', 'Hydra\'s authorization path');
    assertIn(out, ALICE);
  });

  test('hydra-create-client (not run: no Hydra here) registers what hydra-env uses', () => {
    const cmd = docBlock('hydra-create-client', 'sh').replace(/\\\n/g, ' ');
    const flags = [...cmd.matchAll(/--([a-z-]+) (\S+)/g)].map((m) => [m[1]!, m[2]!] as const);
    const all = (name: string): string[] => flags.filter(([k]) => k === name).map(([, v]) => v);
    const env = pageEnv('hydra-env');
    assert.deepEqual(all('redirect-uri'), [env.OAUTH2_PROXY_REDIRECT_URL]);
    assert.deepEqual(all('grant-type'), ['authorization_code']);
    assert.deepEqual(all('response-type'), ['code']);
    // hydra-env sets no scope: Portcullis asks for its default, which the client must allow.
    const validated = validateConfig(mergeSources({ flags: {}, env, dotenv: {} }));
    assert.ok(validated.ok);
    assert.deepEqual(validated.config.provider.scope.split(' ').sort(), all('scope').sort());
  });
});

describe('Crossid: crossid-article-env as written, then with crossid-jwks-env, against oidc-provider in Crossid\'s shape', () => {
  for (const withJwks of [false, true]) {
    describe(withJwks ? 'with the issuer and its keys' : 'the article alone', () => {
      let r: Running;
      before(async () => { r = await startPage(withJwks ? 'crossid-jwks-env' : 'crossid-article-env', { accounts: [ALICE], issuer: { shape: 'crossid' } }); });
      after(async () => { await r?.close(); });

      test(`logs in on /anything, identity from ${withJwks ? 'the verified ID token' : 'userinfo'}`, async () => {
        if (withJwks) assert.equal(r.env.OAUTH2_PROXY_OIDC_ISSUER_URL, r.issuer.issuer);
        const ready = await r.proxy.waitForLog((l) => l.msg === 'issuer ready');
        assert.equal(ready.identity, withJwks ? 'ID token (signature verified)' : 'userinfo (with the access token)');
        const out = await logIn(r, ALICE.sub, '/anything');
        assert.equal(out.authorize.searchParams.get('audience'), 'oauth2proxy');
        assertIn(out, ALICE);
      });
    });
  }
});

describe('Glewlwyd: glewlwyd-env as written, against a real Glewlwyd', () => {
  const CAROL: GlewlwydUser = { username: 'carol', password: 'carol-password-0123', name: 'Carol', email: 'carol@example.com' };
  let glewlwyd: Glewlwyd | undefined;
  let proxy: ProxyProcess | undefined;
  let closeEcho: (() => Promise<void>) | undefined;
  let env: Record<string, string>;

  before(async () => {
    const written = pageEnv('glewlwyd-env');
    const port = await freePort();
    glewlwyd = await startGlewlwyd({
      clients: [{ clientId: written.OAUTH2_PROXY_CLIENT_ID!, clientSecret: written.OAUTH2_PROXY_CLIENT_SECRET!, redirectUris: [`http://127.0.0.1:${port}/oauth2/callback`] }],
      users: [CAROL],
    });
    const echo = await startEchoUpstream();
    closeEcho = echo.close;
    env = substitute(written, { issuerOrigin: glewlwyd.url, proxyPort: port, upstreamOrigin: new URL(echo.url).origin });
    proxy = await startProxy(env);
    await waitReady(proxy.url);
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all([glewlwyd?.stop(), closeEcho?.()]);
  });

  test('the block\'s issuer path is the plugin\'s issuer; a login with its dashed client id reaches the upstream with the email', async () => {
    assert.equal(env.OAUTH2_PROXY_OIDC_ISSUER_URL, glewlwyd!.issuer);
    assert.equal(env.OAUTH2_PROXY_CLIENT_ID, 'my-app');
    const b = new HttpBrowser();
    const atLogin = await b.navigate(`${proxy!.url}/oauth2/start?rd=%2F`, { stopAt: (u) => u.pathname === '/login.html' });
    const done = await glewlwyd!.signIn(b, atLogin.url, CAROL);
    assert.equal(done.status, 200, `ended at ${done.url}: ${done.body.slice(0, 300)}`);
    const e = JSON.parse((await b.request(`${proxy!.url}/`, { headers: { accept: 'application/json' } })).body) as Echoed;
    assert.equal(e.headers['x-forwarded-email'], CAROL.email);
    assert.ok(e.headers['x-forwarded-user']);
  });
});

describe('Keycloak: keycloak-env as written, against a stand-in served at /realms/REALM', () => {
  const withRoles = (a: DevAccount, roles: string[]): DevAccount => ({ ...a, claims: { realm_access: { roles } } });
  let r: Running;
  before(async () => { r = await startPage('keycloak-env', { accounts: [ALICE] }); });
  after(async () => { await r?.close(); });

  test('the realm URL, no trailing slash, is the issuer; a login reaches the upstream', async () => {
    assert.equal(r.env.OAUTH2_PROXY_OIDC_ISSUER_URL, r.issuer.issuer);
    assert.match(r.issuer.issuer, /^http:\/\/127\.0\.0\.1:\d+\/realms\/REALM$/);
    const out = await logIn(r, ALICE.sub);
    assert.match(out.authorize.pathname, /^\/realms\/REALM\//, 'the endpoints come from the realm\'s discovery document');
    assertIn(out, ALICE);
  });

  test('under a path the slash is part of the name: the realm URL with one added never becomes ready', async () => {
    const proxy = await startProxy({ ...r.env, OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${await freePort()}`, OAUTH2_PROXY_OIDC_ISSUER_URL: `${r.issuer.issuer}/` });
    try {
      await new Promise((res) => setTimeout(res, 2000));
      assert.ok(proxy.alive());
      assert.equal((await fetch(`${proxy.url}/ready`)).status, 503);
    } finally { await proxy.stop(); }
  });

  test('with the prose\'s OAUTH2_PROXY_OIDC_GROUPS_CLAIM=realm_access.roles (added, with ALLOWED_GROUPS), realm roles are the groups', async () => {
    const roles = await startPage('keycloak-env', {
      accounts: [withRoles(ALICE, ['app-admin', 'offline_access']), withRoles(BOB, ['offline_access'])],
      extra: { OAUTH2_PROXY_OIDC_GROUPS_CLAIM: 'realm_access.roles', OAUTH2_PROXY_ALLOWED_GROUPS: 'app-admin' },
    });
    try {
      assertIn(await logIn(roles, ALICE.sub), ALICE);
      assert.equal((await logIn(roles, BOB.sub)).landed.status, 403, 'without the realm role, no entry');
    } finally { await roles.close(); }
  });
});

describe('Google: google-env as written, against a stand-in at the root, no trailing slash', () => {
  let r: Running;
  before(async () => { r = await startPage('google-env', { accounts: [ALICE] }); });
  after(async () => { await r?.close(); });

  test('the issuer URL has no path and no slash; a client id of Google\'s form logs in', async () => {
    assert.equal(r.env.OAUTH2_PROXY_OIDC_ISSUER_URL, r.issuer.issuer);
    assert.match(r.issuer.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(r.env.OAUTH2_PROXY_CLIENT_ID, 'portcullis-test.apps.googleusercontent.com');
    assertIn(await logIn(r, ALICE.sub), ALICE);
  });
});

describe('Microsoft Entra ID: entra-id-env as written, against a stand-in served at /TENANT/v2.0', () => {
  // Entra ID puts groups (object IDs) and, with app roles, `roles` in the ID token without a scope of
  // their own: the stand-in releases them with `profile`, in the ID token.
  const member = (a: DevAccount, claims: Record<string, unknown>): DevAccount => ({ ...a, claims });
  const entra = { claimsInIdToken: true };
  let r: Running;
  before(async () => {
    r = await startPage('entra-id-env', { accounts: [member(ALICE, { groups: [GROUP_OID] }), member(BOB, { groups: ['0b9e7c4d-0000-4000-8000-000000000000'] })], issuer: entra });
  });
  after(async () => { await r?.close(); });

  test('the v2.0 issuer URL of the tenant, no trailing slash, is the issuer; a member of the group\'s object ID gets in', async () => {
    assert.equal(r.env.OAUTH2_PROXY_OIDC_ISSUER_URL, r.issuer.issuer);
    assert.equal(new URL(r.issuer.issuer).pathname, `/${TENANT_ID}/v2.0`);
    assert.equal(r.env.OAUTH2_PROXY_ALLOWED_GROUPS, GROUP_OID);
    const out = await logIn(r, ALICE.sub);
    assert.equal(out.authorize.searchParams.get('scope'), 'openid email profile');
    assertIn(out, ALICE);
  });

  test('a user outside that group is refused (403)', async () => {
    assert.equal((await logIn(r, BOB.sub)).landed.status, 403);
  });

  test('a group overage (the groups pointed at in Microsoft Graph, none in the token) is not followed: no groups, refused', async () => {
    // OpenID Connect Core 5.6.2 distributed claims, the form of Entra ID's overage indication.
    const overage = member({ ...ALICE, sub: 'carol-subject-0003', email: 'carol@example.com' }, {
      _claim_names: { groups: 'src1' },
      _claim_sources: { src1: { endpoint: `https://graph.microsoft.com/v1.0/users/carol/getMemberObjects` } },
    });
    const many = await startPage('entra-id-env', { accounts: [overage], issuer: entra });
    try {
      const out = await logIn(many, overage.sub);
      assert.equal(out.landed.status, 403, `ended at ${out.landed.url}: ${out.landed.body.slice(0, 200)}`);
      const failed = await many.proxy.waitForLog((l) => l.event === 'login_failed');
      assert.equal(failed.code, 'GROUP_NOT_ALLOWED');
      assert.match(String(failed.detail), /groups \[\]/, 'the overage leaves the user with no groups');
    } finally { await many.close(); }
  });

  test('entra-id-roles-env over it: the `roles` claim decides instead', async () => {
    const roles = await startPage('entra-id-roles-env', { accounts: [member(ALICE, { roles: ['Portcullis.User'], groups: [] }), member(BOB, { roles: ['Other.Role'], groups: [GROUP_OID] })], issuer: entra });
    try {
      assert.equal(roles.env.OAUTH2_PROXY_OIDC_GROUPS_CLAIM, 'roles');
      assertIn(await logIn(roles, ALICE.sub), ALICE);
      assert.equal((await logIn(roles, BOB.sub)).landed.status, 403, 'a member of the group without the app role is refused');
    } finally { await roles.close(); }
  });
});

describe('Okta: okta-env as written, against a stand-in served at /oauth2/default', () => {
  let r: Running;
  before(async () => { r = await startPage('okta-env', { accounts: [{ ...ALICE, groups: ['app-users', 'everyone'] }, { ...BOB, groups: ['everyone'] }] }); });
  after(async () => { await r?.close(); });

  test('the custom authorization server\'s URL, no trailing slash, is the issuer; the groups scope is asked for and its claim lets a member in', async () => {
    assert.equal(r.env.OAUTH2_PROXY_OIDC_ISSUER_URL, r.issuer.issuer);
    assert.equal(new URL(r.issuer.issuer).pathname, '/oauth2/default');
    const out = await logIn(r, ALICE.sub);
    assert.equal(out.authorize.searchParams.get('scope'), 'openid email profile groups');
    assertIn(out, ALICE);
    assert.equal((await logIn(r, BOB.sub)).landed.status, 403, 'not in app-users');
  });

  test('the scope matters: without `groups` the stand-in releases no groups claim, and ALLOWED_GROUPS refuses even a member', async () => {
    const noScope = await startPage('okta-env', { accounts: [{ ...ALICE, groups: ['app-users'] }], extra: { OAUTH2_PROXY_SCOPE: 'openid email profile' } });
    try {
      assert.equal((await logIn(noScope, ALICE.sub)).landed.status, 403);
    } finally { await noScope.close(); }
  });

  test('sign-out goes to the issuer\'s end_session_endpoint with the sign-out URL to come back to', async () => {
    r.issuer.loginAs(ALICE.sub);
    const b = new HttpBrowser();
    await b.navigate(`${r.proxy.url}/oauth2/start?rd=%2F`);
    const out = await b.request(`${r.proxy.url}/oauth2/sign_out?rd=%2F`);
    assert.equal(out.status, 302);
    const to = new URL(out.headers.location!);
    assert.equal(`${to.origin}${to.pathname}`, r.issuer.endpoints.endSession);
    assert.equal(to.searchParams.get('post_logout_redirect_uri'), r.env.OAUTH2_PROXY_REDIRECT_URL!.replace(/callback$/, 'sign_out'));
    assert.ok(to.searchParams.get('id_token_hint'), 'the ID token goes with it');
  });
});

describe('Auth0: auth0-env as written, against a stand-in at the root with a trailing slash, and the Action\'s claim', () => {
  /**
   * The claims the page's Action sets for a user with these roles: the block is evaluated in a fresh
   * context and its onExecutePostLogin called as Auth0 calls it, with an `api` that records
   * setCustomClaim (the only Auth0 API the block uses; anything else it called would throw).
   */
  async function claimsFor(roles: string[]): Promise<Record<string, unknown>> {
    const set: Record<string, unknown> = {};
    const exports: { onExecutePostLogin?: (event: unknown, api: unknown) => Promise<void> } = {};
    runInNewContext(docBlock('auth0-action', 'js'), { exports });
    assert.equal(typeof exports.onExecutePostLogin, 'function', 'the block exports onExecutePostLogin');
    await exports.onExecutePostLogin!({ authorization: { roles } }, { idToken: { setCustomClaim: (name: string, value: unknown) => { set[name] = value; } } });
    return set;
  }
  let r: Running;
  before(async () => {
    r = await startPage('auth0-env', {
      accounts: [{ ...ALICE, claims: await claimsFor(['admin']) }, { ...BOB, claims: await claimsFor(['viewer']) }],
      issuer: { claimsInIdToken: true },
    });
  });
  after(async () => { await r?.close(); });

  test('the Action sets exactly the claim OAUTH2_PROXY_OIDC_GROUPS_CLAIM names, namespaced', async () => {
    const set = await claimsFor(['admin']);
    assert.deepEqual(Object.keys(set), [r.env.OAUTH2_PROXY_OIDC_GROUPS_CLAIM]);
    assert.match(r.env.OAUTH2_PROXY_OIDC_GROUPS_CLAIM!, /^https:\/\//);
  });

  test('the issuer URL keeps its trailing slash; a user with the role gets in, one without is refused', async () => {
    assert.equal(r.env.OAUTH2_PROXY_OIDC_ISSUER_URL, r.issuer.issuer);
    assert.match(r.issuer.issuer, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assertIn(await logIn(r, ALICE.sub), ALICE);
    assert.equal((await logIn(r, BOB.sub)).landed.status, 403);
  });

  test('at the root the slash is no part of the name: the URL without it is the same URL, and logs in too', async () => {
    const port = await freePort();
    const bare = r.issuer.issuer.replace(/\/$/, '');
    assert.notEqual(bare, r.issuer.issuer);
    // A second proxy: it only has to reach /ready (discovery accepted, the document's issuer matched).
    const proxy = await startProxy({ ...r.env, OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}`, OAUTH2_PROXY_OIDC_ISSUER_URL: bare });
    try {
      await waitReady(proxy.url);
    } finally { await proxy.stop(); }
  });
});

describe('Login parameters: issuers-login-params-env over the Hydra-shaped issuer', () => {
  let r: Running;
  before(async () => {
    const extra = envOfText(docBlock('issuers-login-params-env', 'sh'));
    r = await startPage('hydra-env', { accounts: [ALICE], extra });
  });
  after(async () => { await r?.close(); });

  test('prompt and acr_values go to the issuer; the ID token passes the aud,azp audience rule; the login reaches the upstream', async () => {
    const out = await logIn(r, ALICE.sub);
    assert.equal(out.authorize.searchParams.get('prompt'), 'login');
    assert.equal(out.authorize.searchParams.get('acr_values'), 'urn:mace:incommon:iap:silver');
    assertIn(out, ALICE);
  });
});
