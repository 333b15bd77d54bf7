import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeSources } from '../src/config/load.js';
import { validateConfig } from '../src/config/validate.js';
import type { DevAccount } from '../src/devissuer/issuer.js';
import { HttpBrowser } from './support/browser.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import { ALICE, type Echoed } from './support/stack.js';

const JSON_ACCEPT = { accept: 'application/json' };
const BOB: DevAccount = { sub: 'bob-0002', email: 'bob@partner.test', email_verified: true, preferred_username: 'bob', groups: ['Domain Admins'] };
const CAROL: DevAccount = { sub: 'carol-0003', email: 'carol@partner.test', email_verified: true, preferred_username: 'carol', groups: ['Domain'] };
/** Keycloak's shape: roles nested under realm_access, no groups claim; and a namespaced claim (Auth0's shape). */
const DAVE: DevAccount = {
  sub: 'dave-0004', email: 'dave@example.com', email_verified: true, preferred_username: 'dave',
  claims: { realm_access: { roles: ['ops', 'offline_access'] }, 'https://example.com/groups': ['namespaced-admins'] },
};
/** Azure's shape: the work address in upn, the email claim something else. */
const ERIN: DevAccount = { sub: 'erin-0005', email: 'erin@personal.test', email_verified: true, claims: { upn: 'erin@example.com' } };

/** Polls `check` (bounded) until it returns true. */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 6000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what}: not within ${timeoutMs} ms`);
}

function configOf(env: Record<string, string>): ReturnType<typeof validateConfig> {
  return validateConfig(mergeSources({ flags: {}, env: {
    OAUTH2_PROXY_OIDC_ISSUER_URL: 'http://127.0.0.1:9/', OAUTH2_PROXY_CLIENT_ID: 'c', OAUTH2_PROXY_CLIENT_SECRET: 's',
    OAUTH2_PROXY_COOKIE_SECRET: Buffer.alloc(32, 1).toString('base64url'), OAUTH2_PROXY_UPSTREAMS: 'http://127.0.0.1:9/', ...env,
  }, dotenv: {} }));
}

test('configuration: emails file, groups with spaces, the groups scope, route and issuer entries', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-emails-'));
  const file = join(dir, 'emails.txt');
  writeFileSync(file, 'a@example.com\n');
  try {
    const missing = configOf({ OAUTH2_PROXY_AUTHENTICATED_EMAILS_FILE: join(dir, 'nope.txt') });
    assert.equal(missing.ok, false);
    assert.match(missing.ok ? '' : missing.errors.join('\n'), /OAUTH2_PROXY_AUTHENTICATED_EMAILS_FILE: got ".*nope\.txt", expected a readable file .*ENOENT/);
    const onlyFile = configOf({ OAUTH2_PROXY_AUTHENTICATED_EMAILS_FILE: file });
    assert.ok(onlyFile.ok, 'email_domains may be left out when the file is set');
    const neither = configOf({});
    assert.match(neither.ok ? '' : neither.errors.join('\n'), /OAUTH2_PROXY_EMAIL_DOMAINS .* is required/);

    const groups = configOf({ OAUTH2_PROXY_EMAIL_DOMAINS: '*', OAUTH2_PROXY_ALLOWED_GROUPS: 'Domain Admins, devs' });
    assert.ok(groups.ok);
    assert.deepEqual(groups.config.allowedGroups, ['Domain Admins', 'devs']);
    assert.equal(groups.config.provider.scope, 'openid email profile groups', 'oauth2-proxy asks for groups with allowed_groups');
    const ownScope = configOf({ OAUTH2_PROXY_EMAIL_DOMAINS: '*', OAUTH2_PROXY_ALLOWED_GROUPS: 'a', OAUTH2_PROXY_SCOPE: 'openid email' });
    assert.ok(ownScope.ok);
    assert.equal(ownScope.config.provider.scope, 'openid email', 'a scope the user set is kept as it is');

    const bad = configOf({
      OAUTH2_PROXY_EMAIL_DOMAINS: '*',
      OAUTH2_PROXY_SKIP_AUTH_ROUTES: 'GET=^/ok/,GET=^/(',
      OAUTH2_PROXY_SKIP_AUTH_REGEX: '^/[[:alpha:]]+',
      OAUTH2_PROXY_API_ROUTES: '^/api/{1,2}',
      OAUTH2_PROXY_SKIP_JWT_BEARER_TOKENS: 'true',
      OAUTH2_PROXY_EXTRA_JWT_ISSUERS: 'https://ok.example/=api,https://no-audience.example/,http://plain.example/=api',
      OAUTH2_PROXY_WHITELIST_DOMAINS: 'ok.example,https://app.example/',
      OAUTH2_PROXY_PASS_AUTHORIZATION_HEADER: 'true',
      OAUTH2_PROXY_BASIC_AUTH_PASSWORD: 'pw',
    });
    const text = bad.ok ? '' : bad.errors.join('\n');
    assert.match(text, /OAUTH2_PROXY_SKIP_AUTH_ROUTES: the entry "GET=\^\/\(" is not usable/);
    assert.match(text, /OAUTH2_PROXY_SKIP_AUTH_REGEX: the entry "\^\/\[\[:alpha:\]\]\+" is not usable \(POSIX/);
    assert.doesNotMatch(text, /API_ROUTES/, '{1,2} is one entry, not split at its comma');
    assert.match(text, /OAUTH2_PROXY_EXTRA_JWT_ISSUERS: the entry "https:\/\/no-audience\.example\/" is not usable/);
    assert.match(text, /OAUTH2_PROXY_EXTRA_JWT_ISSUERS: the entry "http:\/\/plain\.example\/=api" is not usable \(plain http\)/);
    assert.match(text, /OAUTH2_PROXY_WHITELIST_DOMAINS: the entry "https:\/\/app\.example\/" is not usable/);
    assert.match(text, /PASS_AUTHORIZATION_HEADER=true and OAUTH2_PROXY_BASIC_AUTH_PASSWORD/);
    assert.doesNotMatch(text, /\bpw\b/, 'the password is never printed');

    const noIssuer = configOf({ OAUTH2_PROXY_EMAIL_DOMAINS: '*', OAUTH2_PROXY_OIDC_ISSUER_URL: '', OAUTH2_PROXY_LOGIN_URL: 'http://127.0.0.1:9/a', OAUTH2_PROXY_REDEEM_URL: 'http://127.0.0.1:9/t', OAUTH2_PROXY_VALIDATE_URL: 'http://127.0.0.1:9/u', OAUTH2_PROXY_SKIP_JWT_BEARER_TOKENS: 'true' });
    assert.match(noIssuer.ok ? '' : noIssuer.errors.join('\n'), /SKIP_JWT_BEARER_TOKENS=true needs an issuer/);
    const strip = configOf({ OAUTH2_PROXY_EMAIL_DOMAINS: '*', OAUTH2_PROXY_SKIP_AUTH_STRIP_HEADERS: 'false' });
    assert.ok(strip.ok);
    assert.ok(strip.warnings.some((w) => /SKIP_AUTH_STRIP_HEADERS=false has no effect/.test(w)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('authenticated_emails_file, with the real issuer', () => {
  let peers: Peers;
  let proxy: InProcess;
  let dir: string;
  let file: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-emails-'));
    file = join(dir, 'emails.txt');
    writeFileSync(file, '# partners\nBob@Partner.test\n');
    peers = await startPeers({ accounts: [ALICE, BOB] });
    proxy = await startInProcess({ ...peers.env, OAUTH2_PROXY_EMAIL_DOMAINS: 'corp.example', OAUTH2_PROXY_AUTHENTICATED_EMAILS_FILE: file }, peers.port);
  });
  after(async () => { await proxy?.close(); await peers?.close(); rmSync(dir, { recursive: true, force: true }); });

  test('a listed address gets in whatever the domains say; an unlisted one sees who it is signed in as', async () => {
    peers.issuer.loginAs(BOB.sub);
    const bob = new HttpBrowser();
    assert.equal((await bob.navigate(`${proxy.url}/oauth2/start?rd=/`)).status, 200);
    peers.issuer.loginAs(ALICE.sub);
    const alice = new HttpBrowser();
    const refused = await alice.navigate(`${proxy.url}/oauth2/start?rd=/`);
    assert.equal(refused.status, 403);
    assert.match(refused.body, /EMAIL_NOT_ALLOWED/);
    assert.match(refused.body, /<p id="signed-in-as">You are signed in as <strong>alice@example\.com<\/strong>/);
    assert.match(refused.body, /id="switch-account" href="\/oauth2\/sign_out\?rd=%2Foauth2%2Fsign_in%3Fprompt%3Dlogin"/);
    assert.equal(alice.cookies().get('_oauth2_proxy'), undefined, 'no session for a refused login');
    const api = await new HttpBrowser().navigate(`${proxy.url}/oauth2/start?rd=/`, { headers: JSON_ACCEPT });
    assert.equal(api.status, 403);
    assert.equal(JSON.parse(api.body).signedInAs, ALICE.email);

    // The file changes (written anew and renamed over, as editors and deploys do): Alice is in,
    // Bob is out, within about a second, sessions included.
    writeFileSync(`${file}.new`, 'alice@example.com\n');
    renameSync(`${file}.new`, file);
    await eventually('alice gets in', async () => (await new HttpBrowser().navigate(`${proxy.url}/oauth2/start?rd=/`)).status === 200);
    await eventually('bob\'s session is refused', async () => (await bob.request(`${proxy.url}/x`, { headers: JSON_ACCEPT })).status === 403);
    assert.ok(proxy.logs.lines.some((l) => l.event === 'authenticated_emails_reloaded' && l.count === 1));

    // A file that goes away keeps the last list (and says so), rather than locking out or letting in.
    rmSync(file);
    await eventually('the missing file is reported', async () => proxy.logs.lines.some((l) => l.event === 'authenticated_emails_missing'));
    assert.equal((await new HttpBrowser().navigate(`${proxy.url}/oauth2/start?rd=/`)).status, 200);
    writeFileSync(file, 'bob@partner.test\n');
    await eventually('bob is back', async () => (await bob.request(`${proxy.url}/x`, { headers: JSON_ACCEPT })).status === 200);
  });
});

describe('allowed_groups, with groups from userinfo or from the ID token', () => {
  let peers: Peers;
  let fromUserinfo: InProcess;
  let refusing: InProcess;
  let spaced: InProcess;
  let idTokenPeers: Peers;
  let fromIdToken: InProcess;
  let nested: InProcess;
  let namespaced: InProcess;
  let upn: InProcess;
  let noEmail: InProcess;
  before(async () => {
    const ports = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    // By default the dev issuer, like many, puts groups only in userinfo (the ID token has sub).
    peers = await startPeers({ ports, accounts: [ALICE, BOB, CAROL, DAVE, ERIN] });
    const { OAUTH2_PROXY_SCOPE: _scope, ...defaultScope } = peers.env;
    fromUserinfo = await startInProcess({ ...defaultScope, OAUTH2_PROXY_ALLOWED_GROUPS: 'admins' }, ports[0]);
    refusing = await startInProcess({ ...peers.env, OAUTH2_PROXY_ALLOWED_GROUPS: 'ops,auditors' }, ports[1]);
    spaced = await startInProcess({ ...peers.env, OAUTH2_PROXY_ALLOWED_GROUPS: 'Domain Admins' }, ports[2]);
    idTokenPeers = await startPeers({ issuerOptions: { claimsInIdToken: true } });
    fromIdToken = await startInProcess({ ...idTokenPeers.env, OAUTH2_PROXY_ALLOWED_GROUPS: 'devs' }, idTokenPeers.port);
    // As an oauth2-proxy user configures Keycloak, and Auth0's namespaced claims.
    nested = await startInProcess({ ...peers.env, OAUTH2_PROXY_OIDC_GROUPS_CLAIM: 'realm_access.roles', OAUTH2_PROXY_ALLOWED_GROUPS: 'ops' }, ports[3]);
    namespaced = await startInProcess({ ...peers.env, OAUTH2_PROXY_OIDC_GROUPS_CLAIM: 'https://example.com/groups', OAUTH2_PROXY_ALLOWED_GROUPS: 'namespaced-admins' }, ports[4]);
    // An oauth2-proxy configuration for Azure: the deprecated user_id_claim names the email claim.
    upn = await startInProcess({ ...peers.env, OAUTH2_PROXY_USER_ID_CLAIM: 'upn', OAUTH2_PROXY_EMAIL_DOMAINS: 'example.com' }, ports[5]);
    noEmail = await startInProcess({ ...peers.env, OAUTH2_PROXY_OIDC_EMAIL_CLAIM: 'work_email', OAUTH2_PROXY_EMAIL_DOMAINS: '*' }, ports[6]);
  });
  after(async () => {
    for (const p of [fromUserinfo, refusing, spaced, fromIdToken, nested, namespaced, upn, noEmail]) await p?.close();
    await peers?.close();
    await idTokenPeers?.close();
  });

  test('a member gets in when the groups come only from userinfo (and the default scope asks for them)', async () => {
    peers.issuer.loginAs(ALICE.sub);
    const b = new HttpBrowser();
    assert.equal((await b.navigate(`${fromUserinfo.url}/oauth2/start?rd=/`)).status, 200);
    const seen = JSON.parse((await b.request(`${fromUserinfo.url}/x`, { headers: JSON_ACCEPT })).body) as Echoed;
    assert.equal(seen.headers['x-forwarded-groups'], 'admins,devs');
  });

  test('a member gets in when the groups are in the ID token', async () => {
    assert.equal((await new HttpBrowser().navigate(`${fromIdToken.url}/oauth2/start?rd=/`)).status, 200);
  });

  test('no group in common: 403 GROUP_NOT_ALLOWED at login, saying who is signed in', async () => {
    peers.issuer.loginAs(ALICE.sub);
    const res = await new HttpBrowser().navigate(`${refusing.url}/oauth2/start?rd=/`);
    assert.equal(res.status, 403);
    assert.match(res.body, /GROUP_NOT_ALLOWED/);
    assert.match(res.body, /not in a group allowed/);
    assert.match(res.body, /alice@example\.com/);
    assert.ok(refusing.logs.lines.some((l) => l.event === 'login_failed' && l.code === 'GROUP_NOT_ALLOWED'));
  });

  test('oidc_groups_claim=realm_access.roles (Keycloak): the nested roles are the groups, for allowed_groups and X-Forwarded-Groups; a user without them is refused', async () => {
    peers.issuer.loginAs(DAVE.sub);
    const b = new HttpBrowser();
    const landed = await b.navigate(`${nested.url}/oauth2/start?rd=/`);
    assert.equal(landed.status, 200, landed.body.slice(0, 300));
    const seen = JSON.parse((await b.request(`${nested.url}/x`, { headers: JSON_ACCEPT })).body) as Echoed;
    assert.equal(seen.headers['x-forwarded-groups'], 'ops,offline_access');
    peers.issuer.loginAs(ALICE.sub);
    const refused = await new HttpBrowser().navigate(`${nested.url}/oauth2/start?rd=/`);
    assert.equal(refused.status, 403);
    assert.match(refused.body, /GROUP_NOT_ALLOWED/);
  });

  test('a namespaced claim (https://example.com/groups) is read by its whole name, dots and all', async () => {
    peers.issuer.loginAs(DAVE.sub);
    const b = new HttpBrowser();
    assert.equal((await b.navigate(`${namespaced.url}/oauth2/start?rd=/`)).status, 200);
    const seen = JSON.parse((await b.request(`${namespaced.url}/x`, { headers: JSON_ACCEPT })).body) as Echoed;
    assert.equal(seen.headers['x-forwarded-groups'], 'namespaced-admins');
    peers.issuer.loginAs(ALICE.sub);
  });

  test('user_id_claim=upn (oauth2-proxy\'s deprecated name of oidc_email_claim): upn is the email email_domains checks and X-Forwarded-Email carries; X-Forwarded-User stays the subject', async () => {
    peers.issuer.loginAs(ERIN.sub);
    const b = new HttpBrowser();
    const landed = await b.navigate(`${upn.url}/oauth2/start?rd=/`);
    assert.equal(landed.status, 200, landed.body.slice(0, 300));
    const seen = JSON.parse((await b.request(`${upn.url}/x`, { headers: JSON_ACCEPT })).body) as Echoed;
    assert.equal(seen.headers['x-forwarded-email'], 'erin@example.com');
    assert.equal(seen.headers['x-forwarded-user'], ERIN.sub);
    // /oauth2/userinfo in oauth2-proxy's shape: no groups, no preferred username, so neither key.
    assert.deepEqual(JSON.parse((await b.request(`${upn.url}/oauth2/userinfo`, { headers: JSON_ACCEPT })).body), { user: ERIN.sub, email: 'erin@example.com' });
    peers.issuer.loginAs(ALICE.sub);
  });

  test('a login with no email is refused even with email_domains=*, as in oauth2-proxy: 403 EMAIL_MISSING, saying what to fix', async () => {
    peers.issuer.loginAs(ALICE.sub);
    const res = await new HttpBrowser().navigate(`${noEmail.url}/oauth2/start?rd=/`);
    assert.equal(res.status, 403);
    assert.match(res.body, /EMAIL_MISSING/);
    assert.ok(noEmail.logs.lines.some((l) => l.event === 'login_failed' && l.code === 'EMAIL_MISSING'));
  });

  test('group names keep their spaces: "Domain Admins" is not "Domain"', async () => {
    peers.issuer.loginAs(BOB.sub);
    assert.equal((await new HttpBrowser().navigate(`${spaced.url}/oauth2/start?rd=/`)).status, 200);
    peers.issuer.loginAs(CAROL.sub);
    assert.equal((await new HttpBrowser().navigate(`${spaced.url}/oauth2/start?rd=/`)).status, 403);
    peers.issuer.loginAs(ALICE.sub);
  });
});
