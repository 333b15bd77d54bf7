// Issue 17, both halves together: an alpha file's `providers:` list with two providers, written as a
// user writes it, signs users in at both, through bin/portcullis as a user runs it (--alpha-config
// beside a --config TOML), with one process and with --workers 2. Bad ids stop start-up with path and
// line; --convert-config-to-alpha's output, with a second provider appended, offers both.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { startDevIssuer, type DevAccount, type DevIssuer } from '../src/devissuer/issuer.js';
import { startEchoUpstream } from '../src/demo/echo.js';
import { HttpBrowser } from './support/browser.js';
import { docBlock } from './support/docblock.js';
import { portcullisInstalledIn } from './support/docenv.js';
import { loginThrough } from './support/rig.js';
import { freePort, startProxy, type ProxyProcess } from './support/proxy.js';
import type { Echoed } from './support/stack.js';

const STAFF: DevAccount = { sub: 'user-0001', email: 'alice@corp.example', email_verified: true, name: 'Alice', groups: ['staff'] };
const PARTNER: DevAccount = { sub: 'user-0001', email: 'bob@partner.example', email_verified: true, name: 'Bob', groups: ['contractors'] };
/** A partner account claiming a staff address: the partner's emailDomains must refuse it. */
const IMPOSTOR: DevAccount = { sub: 'impostor-1', email: 'ceo@corp.example', email_verified: true, name: 'Not the CEO', groups: ['contractors'] };
/** For docs/providers.md's routes file: an admin at each IdP; only the staff one may enter /admin. */
const STAFF_ADMIN: DevAccount = { sub: 'admin-0001', email: 'ada@corp.example', email_verified: true, name: 'Ada', groups: ['staff', 'admins'] };
const PARTNER_ADMIN: DevAccount = { sub: 'padmin-0001', email: 'pat@partner.example', email_verified: true, name: 'Pat', groups: ['contractors', 'admins'] };
const STAFF_CLIENT = { id: 'staff-client', secret: randomBytes(24).toString('base64url') };
const PARTNER_CLIENT = { id: 'partner-client', secret: randomBytes(24).toString('base64url') };

const dir = mkdtempSync(join(tmpdir(), 'alpha-providers-'));
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => { for (const fn of cleanups.reverse()) await fn().catch(() => {}); });

let staff: DevIssuer;
let partner: DevIssuer;
let echo: { url: string; close(): Promise<void> };
let ports: { one: number; workers: number; converted: number; docs: number; docsConverted: number };
let configFile: string;

/** The alpha file as a user writes it (oauth2-proxy's docs' shape, plus the Portcullis fields). */
const alphaYaml = (o: { staffId?: string; partnerId?: string } = {}): string => `providers:
  - id: ${o.staffId ?? 'staff'}
    name: Acme staff
    provider: oidc
    clientID: ${STAFF_CLIENT.id}
    clientSecret: ${STAFF_CLIENT.secret}
    scope: "openid email profile groups"
    emailDomains:
      - corp.example
    homeDomains:
      - corp.example
    oidcConfig:
      issuerURL: ${staff.issuer}
  - id: ${o.partnerId ?? 'partner'}
    name: Partner
    provider: oidc
    clientID: ${PARTNER_CLIENT.id}
    clientSecret: ${PARTNER_CLIENT.secret}
    scope: "openid email profile groups"
    allowedGroups:
      - contractors
    emailDomains:
      - partner.example
    homeDomains:
      - partner.example
    oidcConfig:
      issuerURL: ${partner.issuer}
`;

const write = (name: string, text: string): string => { const f = join(dir, name); writeFileSync(f, text); return f; };
const run = async (args: string[], o: { port?: number; waitFor?: 'exit' } = {}): Promise<ProxyProcess> => {
  const env: Record<string, string> = o.port ? { OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${o.port}` } : {};
  const p = await startProxy(env, { args: ['--config', configFile, ...args], ...(o.waitFor ? { waitFor: o.waitFor } : {}) });
  if (p.alive()) cleanups.push(() => p.stop());
  return p;
};

/**
 * Waits (bounded) until `n` issuer discoveries succeeded (providers × processes): "listening" comes
 * before them, and a login meanwhile gets 503 ISSUER_UNAVAILABLE, as designed.
 */
async function issuersReady(p: ProxyProcess, n: number): Promise<void> {
  const count = (): number => p.logs().filter((l) => l.msg === 'issuer ready').length;
  for (const until = Date.now() + 20_000; count() < n && Date.now() < until;) await new Promise((r) => setTimeout(r, 50));
  assert.equal(count(), n, `issuer discoveries: ${p.lines.join('\n')}`);
}

/** Signs in through the sign-in page's link for `provider`; what the upstream saw, or the refusal. */
async function signInVia(url: string, provider: string): Promise<{ b: HttpBrowser; status: number; body: string; echoed?: Echoed }> {
  const b = new HttpBrowser();
  const page = await b.navigate(`${url}/hello`);
  assert.equal(page.status, 200, page.body.slice(0, 300));
  const href = new RegExp(`href="([^"]*provider=${provider.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')}&[^"]*)"`).exec(page.body)?.[1];
  assert.ok(href, `the sign-in page links to ${provider}: ${page.body}`);
  const done = await b.navigate(new URL(href.replaceAll('&amp;', '&'), page.url).href, { headers: { accept: 'text/html' } });
  if (done.status !== 200) return { b, status: done.status, body: done.body };
  const res = await b.request(`${url}/hello`, { headers: { accept: 'application/json' } });
  return { b, status: res.status, body: res.body, echoed: res.status === 200 ? JSON.parse(res.body) as Echoed : undefined };
}

before(async () => {
  ports = { one: await freePort(), workers: await freePort(), converted: await freePort(), docs: await freePort(), docsConverted: await freePort() };
  const redirects = Object.values(ports).map((p) => `http://127.0.0.1:${p}/oauth2/callback`);
  staff = await startDevIssuer({ shape: 'hydra', accounts: [STAFF, STAFF_ADMIN], clients: [{ client_id: STAFF_CLIENT.id, client_secret: STAFF_CLIENT.secret, redirect_uris: redirects }] });
  cleanups.push(() => staff.stop());
  partner = await startDevIssuer({ shape: 'hydra', accounts: [PARTNER, IMPOSTOR, PARTNER_ADMIN], clients: [{ client_id: PARTNER_CLIENT.id, client_secret: PARTNER_CLIENT.secret, redirect_uris: redirects }] });
  cleanups.push(() => partner.stop());
  echo = await startEchoUpstream();
  cleanups.push(() => echo.close());
  // The rest, as oauth2-proxy's --config: everything the alpha file does not hold.
  configFile = write('portcullis.cfg', [
    `cookie_secret = "${randomBytes(32).toString('base64url')}"`,
    'cookie_secure = false',
    'email_domains = ["*"]',
    `upstreams = ["${echo.url}"]`,
    '',
  ].join('\n'));
});

describe('two providers from the alpha file, one process', () => {
  let proxy: ProxyProcess;
  before(async () => {
    proxy = await run(['--alpha-config', write('alpha.yaml', alphaYaml())], { port: ports.one });
    await issuersReady(proxy, 2);
  });

  test('the sign-in page offers both providers by name', async () => {
    const page = await new HttpBrowser().navigate(`${proxy.url}/app`);
    assert.equal(page.status, 200);
    assert.equal(new URL(page.url).pathname, '/oauth2/sign_in');
    assert.match(page.body, /href="\/oauth2\/start\?provider=staff&amp;rd=%2Fapp">Sign in with Acme staff</);
    assert.match(page.body, /href="\/oauth2\/start\?provider=partner&amp;rd=%2Fapp">Sign in with Partner</);
  });

  test('a login through each reaches the upstream as sub@id', async () => {
    const s = await signInVia(proxy.url, 'staff');
    assert.equal(s.status, 200, s.body.slice(0, 300));
    assert.equal(s.echoed?.headers['x-forwarded-user'], `${STAFF.sub}@staff`);
    assert.equal(s.echoed?.headers['x-forwarded-email'], STAFF.email);
    const p = await signInVia(proxy.url, 'partner');
    assert.equal(p.status, 200, p.body.slice(0, 300));
    assert.equal(p.echoed?.headers['x-forwarded-user'], `${PARTNER.sub}@partner`);
    assert.equal(p.echoed?.headers['x-forwarded-email'], PARTNER.email);
  });

  test('/oauth2/start?provider=nope: 400 listing the known providers, at no issuer', async () => {
    const b = new HttpBrowser();
    const res = await b.navigate(`${proxy.url}/oauth2/start?provider=nope&rd=/`);
    assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
    assert.equal(new URL(res.url).origin, proxy.url);
    assert.match(res.body, /PROVIDER_UNKNOWN/);
    assert.match(res.body, /Acme staff \(staff\), Partner \(partner\)/);
    assert.ok(!b.history.some((u) => u.startsWith(staff.issuer) || u.startsWith(partner.issuer)), b.history.join(' '));
  });

  test("the partner's emailDomains: its user claiming @corp.example is refused", async () => {
    partner.loginAs(IMPOSTOR.sub);
    try {
      const res = await signInVia(proxy.url, 'partner');
      assert.equal(res.status, 403, res.body.slice(0, 300));
      assert.match(res.body, /EMAIL_NOT_ALLOWED/);
    } finally {
      partner.loginAs(PARTNER.sub);
    }
  });

  test('login_hint at a homeDomain goes straight to that issuer', async () => {
    for (const [hint, issuer] of [['bob@partner.example', partner.issuer], ['alice@corp.example', staff.issuer]] as const) {
      const at = await new HttpBrowser().navigate(`${proxy.url}/oauth2/start?login_hint=${encodeURIComponent(hint)}&rd=/x`, { stopAt: (u) => u.origin !== proxy.url });
      assert.equal(at.status, 0, `${hint} left the proxy`);
      assert.equal(new URL(at.url).origin, new URL(issuer).origin, `${hint} went to ${at.url}`);
      assert.equal(new URL(at.url).searchParams.get('login_hint'), hint);
    }
  });
});

test('--workers 2: every worker has both providers (logins at the second one work)', async () => {
  const proxy = await run(['--alpha-config', write('alpha-workers.yaml', alphaYaml()), '--workers', '2'], { port: ports.workers });
  await issuersReady(proxy, 4);
  // Logins until both workers have signed someone in (bounded), each request on a new connection:
  // the shared keep-alive agent would hold every request on one connection, so on one worker.
  const workers = (): Set<unknown> => new Set(proxy.logs().filter((l) => l.event === 'login').map((l) => l.worker));
  const shared = http.globalAgent;
  http.globalAgent = new http.Agent({ keepAlive: false });
  try {
    for (let i = 0; i < 10 && workers().size < 2; i++) {
      // node:cluster deals connections round-robin and a login takes an even number of them: one
      // more connection per round moves the callback to the other worker.
      await new HttpBrowser().request(`${proxy.url}/ping`);
      const p = await signInVia(proxy.url, 'partner');
      assert.equal(p.status, 200, `login ${i}: ${p.body.slice(0, 300)}`);
      assert.equal(p.echoed?.headers['x-forwarded-user'], `${PARTNER.sub}@partner`);
    }
  } finally {
    http.globalAgent = shared;
  }
  assert.equal(workers().size, 2, `logins at the partner from both workers: ${proxy.lines.filter((l) => l.includes('"login"')).join('\n')}`);
});

describe('bad ids stop start-up with the path and the line', () => {
  for (const [what, ids, path, line] of [
    ['a duplicate id', { partnerId: 'staff' }, 'providers[1].id', 14],
    ['an id with @', { partnerId: 'partner@corp' }, 'providers[1].id', 14],
  ] as const) {
    test(what, async () => {
      const file = write(`bad-${path}-${ids.partnerId}.yaml`, alphaYaml(ids));
      const p = await run(['--alpha-config', file], { waitFor: 'exit' });
      assert.equal(p.child.exitCode, 2, p.lines.join('\n'));
      const out = p.lines.join('\n');
      assert.ok(out.includes(`${path} (line ${line} of ${file})`), out);
      assert.match(out, new RegExp(JSON.stringify(ids.partnerId)), out);
    });
  }
});

test('--convert-config-to-alpha, with a second provider appended, starts and offers both', async () => {
  const legacy = {
    OAUTH2_PROXY_OIDC_ISSUER_URL: staff.issuer, OAUTH2_PROXY_CLIENT_ID: STAFF_CLIENT.id, OAUTH2_PROXY_CLIENT_SECRET: STAFF_CLIENT.secret,
    OAUTH2_PROXY_PROVIDER_DISPLAY_NAME: 'Acme staff', OAUTH2_PROXY_SCOPE: 'openid email profile groups',
    OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${ports.converted}`,
  };
  const converted = await startProxy(legacy, { args: ['--config', configFile, '--convert-config-to-alpha'], waitFor: 'exit', port: 1 });
  assert.equal(converted.child.exitCode, 0, converted.lines.join('\n'));
  const doc = parseDocument(converted.lines.join('\n'));
  assert.equal(doc.errors.length, 0, String(doc.errors));
  const list = doc.toJS() as { providers: Array<{ id: string }> };
  assert.equal(list.providers.length, 1);
  const firstId = list.providers[0]!.id;
  doc.addIn(['providers'], {
    id: 'partner', name: 'Partner', provider: 'oidc', clientID: PARTNER_CLIENT.id, clientSecret: PARTNER_CLIENT.secret,
    scope: 'openid email profile groups', emailDomains: ['partner.example'], oidcConfig: { issuerURL: partner.issuer },
  });
  // Fed back: the converted sections now come from the file only (the TOML's upstreams would conflict).
  const rest = write('rest.cfg', `cookie_secret = "${randomBytes(32).toString('base64url')}"\ncookie_secure = false\nemail_domains = ["*"]\n`);
  const proxy = await startProxy({}, { args: ['--config', rest, '--alpha-config', write('converted.yaml', doc.toString())], port: ports.converted });
  cleanups.push(() => proxy.stop());
  await issuersReady(proxy, 2);
  const page = await new HttpBrowser().navigate(`${proxy.url}/app`);
  assert.match(page.body, new RegExp(`provider=${encodeURIComponent(firstId).replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')}&amp;rd=%2Fapp">Sign in with Acme staff<`), page.body);
  assert.match(page.body, /provider=partner&amp;rd=%2Fapp">Sign in with Partner</);
  const s = await signInVia(proxy.url, encodeURIComponent(firstId));
  assert.equal(s.status, 200, s.body.slice(0, 300));
  assert.equal(s.echoed?.headers['x-forwarded-user'], `${STAFF.sub}@${firstId}`);
  const p = await signInVia(proxy.url, 'partner');
  assert.equal(p.status, 200, p.body.slice(0, 300));
  assert.equal(p.echoed?.headers['x-forwarded-user'], `${PARTNER.sub}@partner`);
});

describe('docs/providers.md as written: `npx portcullis --config … --alpha-config …` with its routes file, and the conversion', () => {
  // Substituted: the folder /etc/portcullis (a temporary one, where Portcullis is installed so that
  // npx runs this checkout, offline). Added: the address (a loopback port).
  // The files the commands name are the test's: oauth2-proxy.cfg and alpha.yaml as above, and the
  // page's routes file as written.
  const command = (name: string, etc: string): string => docBlock(name, 'sh').trim().replaceAll('/etc/portcullis', etc);
  const cookieSecret = `cookie_secret = "${randomBytes(32).toString('base64url')}"`;
  const get = async (b: HttpBrowser, url: string): Promise<number> => (await b.request(url, { headers: { accept: 'application/json' } })).status;

  test('the routes file: /admin only for admins who came through the staff IdP; / for everyone signed in', async () => {
    const etc = mkdtempSync(join(tmpdir(), 'providers-docs-'));
    const npx = portcullisInstalledIn(etc);
    writeFileSync(join(etc, 'routes.yaml'), docBlock('providers-routes', 'yaml'));
    writeFileSync(join(etc, 'alpha.yaml'), alphaYaml());
    writeFileSync(join(etc, 'oauth2-proxy.cfg'), [cookieSecret, 'cookie_secure = false', 'email_domains = ["*"]', `upstreams = ["${echo.url}"]`, `routes_file = "${join(etc, 'routes.yaml')}"`, ''].join('\n'));
    const proxy = await startProxy({ ...npx, OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${ports.docs}` }, { shell: command('providers-alpha-command', etc), cwd: etc });
    cleanups.push(() => proxy.stop());
    await issuersReady(proxy, 2);
    try {
      staff.loginAs(STAFF_ADMIN.sub);
      const admin = await signInVia(proxy.url, 'staff');
      assert.equal(admin.status, 200, admin.body.slice(0, 300));
      assert.equal(await get(admin.b, `${proxy.url}/admin/users`), 200, 'a staff admin enters /admin');
      staff.loginAs(STAFF.sub);
      const plain = await signInVia(proxy.url, 'staff');
      assert.equal(plain.status, 200);
      assert.equal(await get(plain.b, `${proxy.url}/admin`), 403, 'staff without the admins group');
      partner.loginAs(PARTNER_ADMIN.sub);
      const partnerAdmin = await signInVia(proxy.url, 'partner');
      assert.equal(partnerAdmin.status, 200, partnerAdmin.body.slice(0, 300));
      assert.equal(await get(partnerAdmin.b, `${proxy.url}/admin`), 403, 'an admin through the partner IdP');
      assert.equal(await get(partnerAdmin.b, `${proxy.url}/reports`), 200, 'everyone-else');
    } finally {
      staff.loginAs(STAFF.sub);
      partner.loginAs(PARTNER.sub);
    }
  });

  test('--convert-config-to-alpha > alpha.yaml, the converted options dropped from the file, then --alpha-config: the same login', async () => {
    const etc = mkdtempSync(join(tmpdir(), 'providers-convert-'));
    const npx = portcullisInstalledIn(etc);
    const rest = [cookieSecret, 'cookie_secure = false', 'email_domains = ["*"]'];
    writeFileSync(join(etc, 'oauth2-proxy.cfg'), [...rest, `upstreams = ["${echo.url}"]`, `oidc_issuer_url = "${staff.issuer}"`, `client_id = "${STAFF_CLIENT.id}"`,
      `client_secret = "${STAFF_CLIENT.secret}"`, 'scope = "openid email profile groups"', `http_address = "127.0.0.1:${ports.docsConverted}"`, ''].join('\n'));
    const converted = await startProxy(npx, { shell: command('providers-convert-command', etc), cwd: etc, waitFor: 'exit', port: 1 });
    assert.equal(converted.child.exitCode, 0, converted.lines.join('\n'));
    const doc = parseDocument(readFileSync(join(etc, 'alpha.yaml'), 'utf8'));
    assert.equal(doc.errors.length, 0, String(doc.errors));
    const alpha = doc.toJS() as { providers: Array<{ clientID: string; oidcConfig: { issuerURL: string } }>; upstreamConfig: { upstreams: Array<{ uri: string }> } };
    assert.equal(alpha.providers[0]?.oidcConfig.issuerURL, staff.issuer);
    assert.equal(alpha.upstreamConfig.upstreams[0]?.uri, echo.url);
    writeFileSync(join(etc, 'oauth2-proxy.cfg'), [...rest, ''].join('\n'));
    // The listener is converted too (server.bindAddress): the address comes from alpha.yaml.
    const proxy = await startProxy(npx, { shell: command('providers-alpha-command', etc), cwd: etc, port: ports.docsConverted });
    cleanups.push(() => proxy.stop());
    await issuersReady(proxy, 1);
    const b = await loginThrough(proxy.url, '/hello');
    const echoed = JSON.parse((await b.request(`${proxy.url}/hello`, { headers: { accept: 'application/json' } })).body) as Echoed;
    assert.equal(echoed.headers['x-forwarded-user'], STAFF.sub);
  });
});
