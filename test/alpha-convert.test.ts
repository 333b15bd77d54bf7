// --convert-config-to-alpha, round-tripped on the docs' configurations: each is converted, the
// output is read back as --alpha-config beside the options the file does not hold, and the
// validated Config must be the one the legacy options gave (headers compared as the lists both
// send). One configuration is also run both ways through the real issuer: the upstream must see the
// same headers. And the CLI prints the conversion and exits.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertToAlpha } from '../src/config/alpha/convert.js';
import { legacyHeaderLists } from '../src/config/alpha/headers.js';
import { SECTION_OPTIONS, validateAlphaConfig } from '../src/config/alpha/read.js';
import { parseConfigFile } from '../src/config/file.js';
import { mergeSources, type RawOptions } from '../src/config/load.js';
import { defaultOf, type OptionName } from '../src/config/options.js';
import { validateConfig, type Config } from '../src/config/validate.js';
import { startEchoUpstream } from '../src/demo/echo.js';
import { startDevIssuer } from '../src/devissuer/issuer.js';
import { createLogger } from '../src/log.js';
import { startPortcullis } from '../src/run.js';
import { docBlock } from './support/docblock.js';
import { envBlock } from './support/docenv.js';
import { freePort, REPO, startProxy } from './support/proxy.js';
import { loginThrough } from './support/rig.js';
import { CLIENT_ID, CLIENT_SECRET } from './support/stack.js';

const SECRETS = mkdtempSync(join(tmpdir(), 'alpha-convert-'));
const readFile = (p: string): string => (p.startsWith('/run/secrets/') ? 'secret-from-file' : readFileSync(p, 'utf8'));
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => { for (const fn of cleanups.reverse()) await fn().catch(() => {}); });

/** The `KEY=VALUE` lines of a marked sh block of the docs, placeholders filled in. */
function shBlock(name: string): Record<string, string> {
  return fill(envBlock(name));
}

/** A docs placeholder (<client_id>, <tenant>) as a value, and its folders as test folders: nothing else changes. */
function fill(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    out[k] = k === 'OAUTH2_PROXY_COOKIE_SECRET' && v.startsWith('<') ? 'c'.repeat(32) : v.replace(/<tenant>/g, 'acme').replace(/<[^>]+>/g, 'placeholder').replace(/file:\/\/\/srv\//g, `file://${SECRETS}/`);
  }
  return out;
}

function tomlBlock(marker: string): Record<string, string | string[]> {
  const parsed = parseConfigFile(docBlock(marker, 'toml'), marker);
  assert.deepEqual(parsed.errors, []);
  return parsed.values;
}

for (const dir of ['docs', 'reports', 'app/static']) mkdirSync(join(SECRETS, dir), { recursive: true });
const NEEDED = { OAUTH2_PROXY_COOKIE_SECRET: 'c'.repeat(32), OAUTH2_PROXY_CLIENT_ID: 'app', OAUTH2_PROXY_CLIENT_SECRET: 'secret', OAUTH2_PROXY_OIDC_ISSUER_URL: 'https://issuer.example.com/', OAUTH2_PROXY_EMAIL_DOMAINS: 'example.com' };
const CASES: ReadonlyArray<readonly [string, { env?: Record<string, string>; config?: Record<string, string | string[]> }]> = [
  ['Ory Hydra quickstart', { env: shBlock('hydra-env') }],
  ['Crossid quickstart (endpoints by hand)', { env: shBlock('crossid-article-env') }],
  ['upstream routing: http, a path, file and static upstreams', { env: { ...NEEDED, OAUTH2_PROXY_UPSTREAMS: fill({ u: /OAUTH2_PROXY_UPSTREAMS="(http:\/\/127\.0\.0\.1:8080\/,http[^"]+)"/.exec(docBlock('upstreams-kinds', 'sh'))![1]! }).u! } }],
  ['headers: Basic credentials with the email', { env: { ...NEEDED, OAUTH2_PROXY_UPSTREAMS: 'http://127.0.0.1:8080/', ...shBlock('headers-examples'), OAUTH2_PROXY_PASS_AUTHORIZATION_HEADER: 'false' } }],
  ['headers: the ID token upstream, X-Auth-Request headers on answers', { env: { ...NEEDED, OAUTH2_PROXY_UPSTREAMS: 'http://127.0.0.1:8080/', OAUTH2_PROXY_PASS_AUTHORIZATION_HEADER: 'true', OAUTH2_PROXY_SET_XAUTHREQUEST: 'true', OAUTH2_PROXY_PASS_ACCESS_TOKEN: 'true' } }],
  ['the configuration file example', { env: { OAUTH2_PROXY_COOKIE_SECRET: 'c'.repeat(32) }, config: tomlBlock('config-example') }],
  ['the migration example (Keycloak, groups, routes)', { env: { OAUTH2_PROXY_COOKIE_SECRET: 'c'.repeat(32), OAUTH2_PROXY_CLIENT_SECRET: 'secret' }, config: tomlBlock('migration-config') }],
];

/** The Config as it runs: headers as the lists sent (the legacy flags turned into them), not the flags. */
function running(c: Config): Record<string, unknown> {
  const lists = c.injectRequestHeaders ? { request: c.injectRequestHeaders, response: c.injectResponseHeaders } : legacyHeaderLists(c);
  const { passUserHeaders: _a, passAccessToken: _b, setXAuthRequest: _c, passBasicAuth: _d, basicAuthPassword: _e, preferEmailToUser: _f, passAuthorizationHeader: _g, setAuthorizationHeader: _h, setBasicAuth: _i, injectRequestHeaders: _j, injectResponseHeaders: _k, ...rest } = c;
  return { ...rest, headersUpstream: lists.request, headersOnAnswers: lists.response };
}

/** The legacy options with those of the converted sections taken out: what the user keeps beside the file. */
function remaining(raw: RawOptions, sections: readonly (keyof typeof SECTION_OPTIONS)[]): RawOptions {
  const out = { ...raw };
  for (const s of sections) for (const n of SECTION_OPTIONS[s]) out[n] = { value: defaultOf(n as OptionName), origin: 'default' };
  return out;
}

for (const [name, given] of CASES) {
  test(`converted and read back, the same configuration: ${name}`, () => {
    const raw = mergeSources({ flags: {}, env: given.env ?? {}, config: given.config, dotenv: {} });
    const legacy = validateConfig(raw, readFile);
    assert.ok(legacy.ok, legacy.ok ? '' : legacy.errors.join('\n'));
    const converted = convertToAlpha(raw, readFile);
    assert.ok(converted.ok, converted.ok ? '' : converted.errors.join('\n'));
    const back = validateAlphaConfig(remaining(raw, converted.sections), { text: converted.yaml, file: 'converted.yaml' }, readFile);
    assert.ok(back.ok, `${converted.yaml}\n${back.ok ? '' : back.errors.join('\n')}`);
    assert.deepEqual(running(back.config), running(legacy.config), converted.yaml);
  });
}

test('the converted Basic-credentials configuration sends the upstream the same headers as the legacy one, through the real issuer', async () => {
  const ports = [await freePort(), await freePort()];
  const account = { sub: 'conv-1', email: 'conv@example.com', email_verified: true, preferred_username: 'conv', groups: ['a', 'b'] };
  const issuer = await startDevIssuer({ shape: 'hydra', accounts: [account], clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: ports.map((p) => `http://127.0.0.1:${p}/oauth2/callback`) }] });
  cleanups.push(() => issuer.stop());
  const echo = await startEchoUpstream();
  cleanups.push(() => echo.close());
  const env = {
    OAUTH2_PROXY_OIDC_ISSUER_URL: issuer.issuer, OAUTH2_PROXY_CLIENT_ID: CLIENT_ID, OAUTH2_PROXY_CLIENT_SECRET: CLIENT_SECRET, OAUTH2_PROXY_COOKIE_SECRET: 'c'.repeat(32),
    OAUTH2_PROXY_COOKIE_SECURE: 'false', OAUTH2_PROXY_EMAIL_DOMAINS: 'example.com', OAUTH2_PROXY_UPSTREAMS: echo.url, OAUTH2_PROXY_SCOPE: 'openid email profile groups',
    OAUTH2_PROXY_PASS_ACCESS_TOKEN: 'true', ...shBlock('headers-examples'), OAUTH2_PROXY_PASS_AUTHORIZATION_HEADER: 'false',
  };
  const seen: Array<Record<string, string>> = [];
  for (const [i, port] of ports.entries()) {
    const raw = mergeSources({ flags: {}, env: { ...env, OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}` }, dotenv: {} });
    let config: Config;
    if (i === 0) {
      const r = validateConfig(raw);
      assert.ok(r.ok);
      config = r.config;
    } else {
      const converted = convertToAlpha(raw);
      assert.ok(converted.ok);
      const r = validateAlphaConfig(remaining(raw, converted.sections), { text: converted.yaml, file: 'converted.yaml' });
      assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
      assert.ok(r.config.injectRequestHeaders, 'the converted configuration runs on the injected-header lists');
      config = r.config;
    }
    const running = await startPortcullis(config, createLogger('error'));
    cleanups.push(() => running.close(1000));
    await running.issuerReady;
    const b = await loginThrough(running.url);
    const res = await b.request(`${running.url}/x`, { headers: { accept: 'application/json', 'x-forwarded-user': 'forged' } });
    const h = (JSON.parse(res.body) as { headers: Record<string, string> }).headers;
    seen.push(Object.fromEntries(Object.entries(h).filter(([k]) => /^(x-forwarded-(user|email|groups|preferred-username|access-token)|authorization)$/.test(k))));
  }
  assert.equal(seen[0]!.authorization, `Basic ${Buffer.from('conv@example.com:app-password').toString('base64')}`);
  assert.ok(seen[0]!['x-forwarded-access-token']);
  // The access tokens differ (two logins); everything else is the same.
  assert.deepEqual({ ...seen[1], 'x-forwarded-access-token': 'T' }, { ...seen[0], 'x-forwarded-access-token': 'T' });
});

test('portcullis --convert-config-to-alpha prints the alpha file and exits 0; with --alpha-config it refuses', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'alpha-cli-'));
  const env = { ...NEEDED, OAUTH2_PROXY_UPSTREAMS: 'http://127.0.0.1:8080/' };
  const p = await startProxy(env, { args: ['--convert-config-to-alpha'], waitFor: 'exit', port: 1 });
  assert.equal(p.child.exitCode, 0, p.lines.join('\n'));
  const text = p.lines.join('\n');
  assert.match(text, /upstreamConfig:/);
  assert.match(text, /issuerURL: https:\/\/issuer\.example\.com\//);
  writeFileSync(join(dir, 'a.yaml'), `${text}\n`);
  const both = await startProxy(env, { args: ['--convert-config-to-alpha', '--alpha-config', join(dir, 'a.yaml')], waitFor: 'exit', port: 1 });
  assert.equal(both.child.exitCode, 2);
  assert.match(both.lines.join('\n'), /leave out --alpha-config/);
});
