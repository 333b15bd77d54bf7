// docs/migrating.md run as written: its oauth2-proxy.cfg through its own command line
// (`npx portcullis --config …`, run as this checkout's bin/portcullis with the file's path replaced),
// and its `docker run` line's variables and arguments through `bin/portcullis`, against the real
// issuer (oidc-provider). The blocks are read from the page, so it cannot drift from what runs. The
// test adds only what the page says it adds: the secrets the blocks name, and --http-address,
// --oidc-issuer-url and --upstream (flags win).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigFile } from '../src/config/file.js';
import { mergeSources } from '../src/config/load.js';
import { validateConfig, type Config } from '../src/config/validate.js';
import { startEchoUpstream } from '../src/demo/echo.js';
import { startDevIssuer, type DevAccount, type DevIssuer } from '../src/devissuer/issuer.js';
import { HttpBrowser } from './support/browser.js';
import { REPO, freePort, startProxy, type ProxyProcess } from './support/proxy.js';
import { docBlock } from './support/docblock.js';
import { dockerRun, shellWords } from './support/shell.js';
import { waitReady, type Echoed } from './support/stack.js';

/** A marked block of docs/migrating.md. */
function block(name: string, lang: string): string {
  return docBlock(name, lang);
}

const ADA: DevAccount = { sub: 'ada-0001', email: 'ada@acme.example', email_verified: true, name: 'Ada', preferred_username: 'ada', groups: ['wiki-editors', 'staff'] };
const BOB: DevAccount = { sub: 'bob-0002', email: 'bob@acme.example', email_verified: true, name: 'Bob', preferred_username: 'bob', groups: ['staff'] };
const CLIENT_SECRET = 'wiki-client-secret-from-the-vault';
const COOKIE_SECRET = randomBytes(32).toString('base64url');

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => { for (const fn of cleanups.reverse()) await fn().catch(() => {}); });
let issuer: DevIssuer;
let upstream: string;
const ports: number[] = [];
before(async () => {
  ports.push(await freePort(), await freePort());
  issuer = await startDevIssuer({ shape: 'hydra', accounts: [ADA, BOB], clients: [{ client_id: 'wiki', client_secret: CLIENT_SECRET, redirect_uris: ports.map((p) => `http://127.0.0.1:${p}/oauth2/callback`) }] });
  cleanups.push(() => issuer.stop());
  const echo = await startEchoUpstream();
  cleanups.push(() => echo.close());
  upstream = echo.url;
});

/** The three flags the README says the test adds: its own port, issuer and app. */
const overrides = (port: number): string[] => [`--http-address=127.0.0.1:${port}`, `--oidc-issuer-url=${issuer.issuer}`, `--upstream=${upstream}`];

/** What a deployment is: the wiki's members get in with their identity, others do not, the open and API routes behave. */
async function behavesAsTheWiki(p: ProxyProcess): Promise<void> {
  await waitReady(p.url);
  assert.deepEqual(p.logs().filter((l) => l.event === 'config_warning').map((l) => l.msg), [], 'the example runs without a warning');
  const open = await new HttpBrowser().request(`${p.url}/healthz`, { headers: { accept: 'application/json' } });
  assert.equal(open.status, 200, 'skip_auth_routes: GET /healthz needs no login');
  const apiCall = await new HttpBrowser().request(`${p.url}/api/pages`, { headers: { accept: 'text/html' } });
  assert.equal(apiCall.status, 401, 'api_routes: 401, never a redirect');

  issuer.loginAs(ADA.sub);
  const ada = new HttpBrowser();
  const landed = await ada.navigate(`${p.url}/wiki/Home`);
  assert.equal(landed.status, 200, landed.body.slice(0, 300));
  assert.equal(landed.url, `${p.url}/wiki/Home`);
  assert.ok(ada.history.some((u) => u.startsWith(issuer.issuer)) && !ada.history.some((u) => u.includes('/oauth2/sign_in')), 'skip_provider_button: straight to the issuer');
  assert.ok(ada.cookies().has('_wiki_auth'), 'cookie_name');
  const seen = JSON.parse((await ada.request(`${p.url}/wiki/Home`, { headers: { accept: 'application/json' } })).body) as Echoed;
  assert.equal(seen.headers['x-forwarded-email'], 'ada@acme.example');
  assert.equal(seen.headers['x-forwarded-groups'], 'wiki-editors,staff');
  const auth = await ada.request(`${p.url}/oauth2/auth`);
  assert.equal(auth.status, 202);
  assert.equal(auth.headers['x-auth-request-email'], 'ada@acme.example', 'set_xauthrequest');

  issuer.loginAs(BOB.sub);
  const bob = await new HttpBrowser().navigate(`${p.url}/wiki/Home`);
  assert.equal(bob.status, 403, 'allowed_groups: Bob is not a wiki editor');
}

/** The configuration a set of sources gives, for comparing the two blocks. */
function summary(c: Config): unknown {
  return {
    provider: { ...c.provider, clientSecret: '(same)' }, emailDomains: c.emailDomains, allowedGroups: c.allowedGroups, skipProviderButton: c.skipProviderButton,
    cookie: { ...c.cookie, secret: c.cookie.secret.toString('base64url') }, reverseProxy: c.reverseProxy, trustedProxies: c.trustedProxies.entries,
    routes: ['/healthz', '/static/app.css', '/api/x', '/wiki'].map((path) => [c.routes.skips('GET', path), c.routes.isApi(path)]),
    whitelist: c.whitelistDomains.allows('docs.acme.example', ''), setXAuthRequest: c.setXAuthRequest, passUserHeaders: c.passUserHeaders,
    silencePingLogging: c.silencePingLogging, sessionStore: c.sessionStore, listen: c.listen, upstreams: c.upstreams.map((u) => u.url.href),
  };
}

describe('Migrating from oauth2-proxy (docs/migrating.md)', () => {
  test('the oauth2-proxy.cfg runs unchanged through the page\'s command line (bin/portcullis --config)', { timeout: 90_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-migration-'));
    const cfg = join(dir, 'oauth2-proxy.cfg');
    writeFileSync(cfg, block('migration-config', 'toml'));
    // The page's command line: its two variables (the … filled with this test's secrets), then
    // `npx portcullis` (bin/portcullis of this checkout) with its arguments, the file's path replaced.
    const words = shellWords(block('migration-npx', 'sh'), {});
    const env: Record<string, string> = {};
    while (/^[A-Z_0-9]+=/.test(words[0]!)) {
      const word = words.shift()!;
      const [name, value] = [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)];
      assert.equal(value, '…', `${name}: the page leaves the secret to the reader`);
      env[name] = ({ OAUTH2_PROXY_CLIENT_SECRET: CLIENT_SECRET, OAUTH2_PROXY_COOKIE_SECRET: COOKIE_SECRET } as Record<string, string>)[name]!;
      assert.ok(env[name], `the command sets ${name}, which this test has no value for`);
    }
    assert.deepEqual(words.slice(0, 2), ['npx', 'portcullis']);
    assert.deepEqual(Object.keys(env).sort(), ['OAUTH2_PROXY_CLIENT_SECRET', 'OAUTH2_PROXY_COOKIE_SECRET'], 'the two secrets the file\'s comment names');
    const args = words.slice(2).map((w) => (w === '/etc/oauth2-proxy/oauth2-proxy.cfg' ? cfg : w));
    assert.ok(args.includes(cfg), 'the command reads the file the page shows');
    const p = await startProxy(env, { args: [...args, ...overrides(ports[0]!)], port: ports[0]! });
    cleanups.push(() => p.stop());
    await behavesAsTheWiki(p);
  });

  test('the docker run line\'s variables and arguments run unchanged through bin/portcullis', { timeout: 90_000 }, async () => {
    const run = dockerRun(shellWords(block('migration-docker', 'sh'), { WIKI_CLIENT_SECRET: CLIENT_SECRET, WIKI_COOKIE_SECRET: COOKIE_SECRET }));
    assert.equal(run.image, 'portcullis');
    const p = await startProxy(run.env, { args: [...run.args, ...overrides(ports[1]!)], port: ports[1]! });
    cleanups.push(() => p.stop());
    await behavesAsTheWiki(p);
  });

  test('the file and the variables are the same configuration', () => {
    const f = parseConfigFile(block('migration-config', 'toml'), 'oauth2-proxy.cfg');
    assert.deepEqual([f.errors, f.warnings], [[], []]);
    const { env } = dockerRun(shellWords(block('migration-docker', 'sh'), { WIKI_CLIENT_SECRET: CLIENT_SECRET, WIKI_COOKIE_SECRET: COOKIE_SECRET }));
    const secrets = { OAUTH2_PROXY_CLIENT_SECRET: CLIENT_SECRET, OAUTH2_PROXY_COOKIE_SECRET: COOKIE_SECRET };
    // The app's address differs on purpose (a sidecar for the file, a container name for docker).
    const fromFile = validateConfig(mergeSources({ flags: { upstreams: ['http://wiki:8080/'] }, env: secrets, config: f.values, dotenv: {} }));
    const fromEnv = validateConfig(mergeSources({ flags: {}, env, dotenv: {} }));
    assert.ok(fromFile.ok && fromEnv.ok, JSON.stringify([fromFile, fromEnv].map((v) => (v.ok ? 'ok' : v.errors))));
    assert.deepEqual(summary(fromEnv.config), summary(fromFile.config));
  });

  test('the shell reading used for the page is sh\'s', () => {
    assert.deepEqual(shellWords(`a 'b c' "d $X \\"e\\"" f\\\n  g\${X}h '$X' \\$`, { X: 'x' }), ['a', 'b c', 'd x "e"', 'f', 'gxh', '$X', '$']);
    assert.throws(() => shellWords('"$UNSET"', {}), /\$UNSET, which the test does not set/);
    assert.deepEqual(shellWords('a # b c\nd "#e" f#g', {}), ['a', 'd', '#e', 'f#g']);
    assert.deepEqual(shellWords('x "$(printf \'%s\' "a b")" $(echo c)', {}), ['x', 'a b', 'c']);
  });
});
