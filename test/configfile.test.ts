// --config: oauth2-proxy's TOML configuration file, parsed by smol-toml, with oauth2-proxy's key
// names; precedence flag > env > config file > .env > default; typos are errors naming the closest key.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigFile } from '../src/config/file.js';
import { mergeSources } from '../src/config/load.js';
import { validateConfig } from '../src/config/validate.js';
import { startDevIssuer } from '../src/devissuer/issuer.js';
import { startEchoUpstream } from '../src/demo/echo.js';
import { HttpBrowser } from './support/browser.js';
import { REPO, freePort, startProxy } from './support/proxy.js';
import { docBlock } from './support/docblock.js';
import { portcullisInstalledIn } from './support/docenv.js';
import { ALICE, CLIENT_ID, CLIENT_SECRET, waitReady } from './support/stack.js';

const FIXTURE = readFileSync(join(REPO, 'test/fixtures/oauth2-proxy.cfg'), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'portcullis-config-'));
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => { for (const fn of cleanups.reverse()) await fn().catch(() => {}); });

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

test('a realistic oauth2-proxy.cfg is read with oauth2-proxy\'s names and its loose types', () => {
  const f = parseConfigFile(FIXTURE.replaceAll('@PORT@', '4180').replaceAll('@ISSUER@', 'https://issuer.example.com/').replaceAll('@UPSTREAM@', 'http://127.0.0.1:8080/'), 'oauth2-proxy.cfg');
  assert.deepEqual(f.errors, []);
  assert.deepEqual(f.values.upstreams, ['http://127.0.0.1:8080/']);
  assert.deepEqual(f.values.email_domains, ['example.com']);
  assert.equal(f.values.cookie_secure, 'false', 'a string where a boolean belongs, as oauth2-proxy\'s own example writes it');
  assert.equal(f.values.cookie_httponly, 'true');
  assert.equal(f.values.pass_access_token, 'true');
  assert.deepEqual(f.warnings.map((w) => w.split(' ')[0]), ['htpasswd_file']);
  assert.match(f.warnings[0]!, /htpasswd_file \(oauth2-proxy\.cfg\) is an oauth2-proxy option Portcullis does not support; it is ignored/);
  const v = validateConfig(mergeSources({ flags: {}, env: {}, config: f.values, dotenv: {} }));
  assert.ok(v.ok, v.ok ? '' : v.errors.join('\n'));
  assert.equal(v.config.cookie.secure, false);
  assert.equal(v.config.cookie.refreshMs, 3_600_000);
  assert.equal(v.config.provider.displayName, 'Hydra');
  assert.equal(v.config.pages.banner, '-');
});

test('a typo is an error naming the closest key; a list where one value belongs, a table, bad TOML are errors too', () => {
  const f = parseConfigFile([
    'cookie_secrt = "x"', 'email_domain = ["example.com"]', 'upstream = "http://a/"', 'totally_unrelated_thing = 1',
    'cookie_name = ["a", "b"]', 'upstreams = [1, {a = 1}]', '[cookie]', 'secure = true',
  ].join('\n'), 'my.cfg');
  assert.deepEqual(f.errors, [
    'cookie_secrt (my.cfg) is not an option; did you mean cookie_secret?',
    'email_domain (my.cfg) is not an option; did you mean email_domains?',
    'upstream (my.cfg) is not an option; did you mean upstreams?',
    'totally_unrelated_thing (my.cfg) is not an option',
    'cookie_name (my.cfg): expected a single value in quotes, not a list',
    'upstreams (my.cfg): expected a list of strings, such as upstreams = ["a", "b"]',
    '[cookie] (my.cfg) is a table: the configuration file is flat, key = value lines (oauth2-proxy\'s alpha YAML configuration is read with --alpha-config)',
  ]);
  const bad = parseConfigFile('cookie_secret = "unterminated\nclient_id = "x"\n', 'broken.cfg');
  assert.equal(bad.errors.length, 1);
  assert.match(bad.errors[0]!, /^broken\.cfg is not valid TOML \(line 1, column \d+: /);
  // oauth2-proxy's access restrictions Portcullis lacks stop start-up from the file as from the environment.
  const restricted = parseConfigFile('github_org = "acme"\n', 'my.cfg');
  assert.match(restricted.errors.join('\n'), /^github_org \(my\.cfg\) restricts who may sign in/);
  assert.deepEqual(restricted.warnings, [], 'an error, not also a warning');
});

test('precedence: flag > environment > config file > .env file > default', () => {
  const f = parseConfigFile(['cookie_name = "from_config"', 'proxy_prefix = "/config"', 'ping_path = "/config-ping"', 'ready_path = "/config-ready"'].join('\n'), 'c.cfg');
  const raw = mergeSources({
    flags: { cookie_name: 'from_flag' },
    env: { OAUTH2_PROXY_PROXY_PREFIX: '/env', OAUTH2_PROXY_OIDC_ISSUER_URL: 'https://i.example/', OAUTH2_PROXY_CLIENT_ID: 'c', OAUTH2_PROXY_CLIENT_SECRET: 's', OAUTH2_PROXY_COOKIE_SECRET: 'x'.repeat(32), OAUTH2_PROXY_EMAIL_DOMAINS: '*' },
    config: f.values,
    dotenv: { OAUTH2_PROXY_COOKIE_NAME: 'from_dotenv', OAUTH2_PROXY_PING_PATH: '/dotenv-ping', OAUTH2_PROXY_READY_PATH: '/dotenv-ready', OAUTH2_PROXY_COOKIE_PATH: '/dotenv' },
  });
  const v = validateConfig(raw);
  assert.ok(v.ok, v.ok ? '' : v.errors.join('\n'));
  assert.equal(v.config.cookie.name, 'from_flag');
  assert.equal(v.config.proxyPrefix, '/env');
  assert.equal(v.config.pingPath, '/config-ping');
  assert.equal(v.config.readyPath, '/config-ready');
  assert.equal(v.config.cookie.path, '/dotenv');
  assert.equal(v.config.cookie.name === 'from_flag' && v.config.upstreamTimeoutMs, 30_000, 'default');
  // A bad value from the file is reported under its name in the file.
  const bad = validateConfig(mergeSources({ flags: {}, env: {}, config: parseConfigFile('cookie_expire = "a week"', 'c.cfg').values, dotenv: {} }));
  assert.ok(!bad.ok);
  assert.match(bad.errors.join('\n'), /cookie_expire \(in the --config file\): got "a week", expected a duration/);
});

test('bin/portcullis --config runs from the oauth2-proxy.cfg: a user signs in; the environment still wins', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const issuer = await startDevIssuer({ shape: 'hydra', accounts: [ALICE], clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`http://127.0.0.1:${port}/oauth2/callback`] }] });
  cleanups.push(() => issuer.stop());
  const echo = await startEchoUpstream();
  cleanups.push(() => echo.close());
  const cfg = write('oauth2-proxy.cfg', FIXTURE.replaceAll('@PORT@', String(port)).replaceAll('@ISSUER@', issuer.issuer).replaceAll('@UPSTREAM@', echo.url));
  const p = await startProxy({ OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}`, OAUTH2_PROXY_PING_PATH: '/from-env' }, { args: ['--config', cfg] });
  cleanups.push(() => p.stop());
  await waitReady(p.url);
  assert.equal((await fetch(`${p.url}/from-env`)).status, 200, 'the environment wins over the file');
  const b = new HttpBrowser();
  const res = await b.navigate(`${p.url}/oauth2/start?rd=/x`);
  assert.equal(res.status, 200, res.body.slice(0, 300));
  assert.match(res.body, /Hello, alice@example\.com/);
  assert.ok(p.logs().some((l) => l.event === 'config_warning' && /htpasswd_file/.test(String(l.msg))), 'the unsupported key is warned about');
  const signIn = await new HttpBrowser().request(`${p.url}/oauth2/sign_in`);
  assert.match(signIn.body, /Sign in with Hydra/);
  assert.match(signIn.body, /Example Corp · <a href="https:\/\/status\.example\.com\/">status<\/a>/, 'footer from the file');
});

test('bin/portcullis --config with a typo stops with exit 2, naming the key and the closest one, with the other problems', async () => {
  const cfg = write('typo.cfg', 'client_secrt = "x"\nemail_domains = ["*"]\n');
  const p = await startProxy({}, { args: ['--config', cfg], waitFor: 'exit' });
  const out = p.lines.join('\n');
  assert.equal(p.child.exitCode, 2);
  assert.match(out, /client_secrt \(.*typo\.cfg\) is not an option; did you mean client_secret\?/);
  assert.match(out, /OAUTH2_PROXY_CLIENT_ID/, 'reported together with the other problems');
  const missing = await startProxy({}, { args: ['--config', join(dir, 'nope.cfg')], waitFor: 'exit' });
  assert.equal(missing.child.exitCode, 2);
  assert.match(missing.lines.join('\n'), /--config: cannot read ".*nope\.cfg" \(ENOENT\)/);
});

test('the configuration file example of docs/configuration.md is read without a problem', () => {
  const f = parseConfigFile(docBlock('config-example', 'toml'), 'docs example');
  assert.deepEqual([f.errors, f.warnings], [[], []]);
  const secretFile = write('client_secret', 'from-a-file\n');
  const v = validateConfig(mergeSources({ flags: {}, env: { OAUTH2_PROXY_COOKIE_SECRET: 'x'.repeat(32) }, config: { ...f.values, client_secret_file: secretFile }, dotenv: {} }));
  assert.ok(v.ok, v.ok ? '' : v.errors.join('\n'));
  assert.equal(v.config.cookie.refreshMs, 30 * 60_000);
});

test('docs/configuration.md as written: `npx portcullis --config /etc/portcullis/oauth2-proxy.cfg` with its example file; a user signs in', { timeout: 60_000 }, async () => {
  // Substituted, in the command: the folder /etc/portcullis (a temporary one, where Portcullis is
  // installed so that npx runs this checkout, offline). In the file: the listen address (loopback, a
  // free port), the upstream's port, the issuer's URL (the test issuer's, plain http), the secret
  // file's path, the redirect URL's origin (the proxy's). Added: OAUTH2_PROXY_COOKIE_SECRET, as its
  // last line says. The issuer knows client "app" with the secret in the file.
  const etc = mkdtempSync(join(tmpdir(), 'portcullis-etc-'));
  const npx = portcullisInstalledIn(etc);
  const port = await freePort();
  const secret = 'the-client-secret-0123456789';
  const secretFile = join(etc, 'client_secret');
  writeFileSync(secretFile, `${secret}\n`);
  const issuer = await startDevIssuer({ shape: 'hydra', accounts: [ALICE], clients: [{ client_id: 'app', client_secret: secret, redirect_uris: [`http://127.0.0.1:${port}/oauth2/callback`] }] });
  cleanups.push(() => issuer.stop());
  const echo = await startEchoUpstream();
  cleanups.push(() => echo.close());
  const example = docBlock('config-example', 'toml');
  const file = [
    ['0.0.0.0:4180', `127.0.0.1:${port}`], ['127.0.0.1:8080', new URL(echo.url).host], ['https://keycloak.example.com/realms/main', issuer.issuer],
    ['/run/secrets/client_secret', secretFile], ['https://app.example.com', `http://127.0.0.1:${port}`],
  ].reduce((text, [from, to]) => { assert.ok(text.includes(from!), `the example has ${from}`); return text.replaceAll(from!, to!); }, example);
  writeFileSync(join(etc, 'oauth2-proxy.cfg'), file);
  const command = docBlock('config-run-command', 'sh').trim().replaceAll('/etc/portcullis', etc);
  const p = await startProxy({ ...npx, OAUTH2_PROXY_COOKIE_SECRET: 'c'.repeat(32) }, { shell: command, cwd: etc, port });
  cleanups.push(() => p.stop());
  await waitReady(p.url);
  const b = new HttpBrowser();
  const res = await b.navigate(`${p.url}/oauth2/start?rd=/x`);
  assert.equal(res.status, 200, res.body.slice(0, 300));
  assert.match(res.body, /Hello, alice@example\.com/);
  assert.ok([...b.jar.values()].flat().some((c) => c.name === '_oauth2_proxy' && c.secure), 'cookie_secure = true: the session cookie is Secure');
});
