import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { foreignVariableProblems, mergeSources, unknownVariableWarnings, type RawOptions } from '../src/config/load.js';
import { OPTIONS } from '../src/config/options.js';
import { cookieSecretBytes } from '../src/config/secret.js';
import { parseListenAddress, validateConfig } from '../src/config/validate.js';
import { parseBool, parseDuration, parseList } from '../src/config/values.js';
import { startProxy } from './support/proxy.js';
import { table } from './support/table.js';
import { BASE_ENV, validateEnv } from './support/config.js';

test('booleans are read as oauth2-proxy users write them', () => {
  table([
    ['true', true], ['TRUE', true], ['1', true], ['yes', true], ['on', true], [' true ', true],
    ['false', false], ['0', false], ['no', false], ['off', false], ['False', false],
  ], (v: string) => { const p = parseBool(v); return p.ok ? p.value : 'error'; });
  table([['maybe', 'error'], ['', 'error'], ['2', 'error'], ['truee', 'error']], (v: string) => (parseBool(v).ok ? 'ok' : 'error'));
});

test('durations follow Go\'s time.ParseDuration', () => {
  table([
    ['168h', 168 * 3600_000], ['30m', 1_800_000], ['1h30m', 5_400_000], ['90s', 90_000], ['0', 0],
    ['1.5h', 5_400_000], ['250ms', 250], ['1h0m0s', 3_600_000],
    ['7d', -1], ['', -1], ['h', -1], ['10', -1], ['-1h', -1], ['1 h', -1],
  ], (v: string) => { const p = parseDuration(v); return p.ok ? p.value : -1; });
});

test('lists split on commas and spaces, from env or repeated flags', () => {
  table<string | string[], string[]>([
    ['a,b', ['a', 'b']], ['a, b', ['a', 'b']], ['a b', ['a', 'b']], ['', []], [' , ', []],
    [['a', 'b,c'], ['a', 'b', 'c']], ['http://a:1/,http://b:2/x', ['http://a:1/', 'http://b:2/x']],
  ], parseList);
});

test('cookie secrets: 16, 24 or 32 bytes, raw or base64, as oauth2-proxy accepts', () => {
  const b64url32 = Buffer.alloc(32, 7).toString('base64url');
  const b64std32 = Buffer.alloc(32, 0xfb).toString('base64');
  table([
    [b64url32, 32], [b64std32, 32], [`${b64url32}=`, 32],
    ['0123456789abcdef', 16], ['0123456789abcdef01234567', 24],
    // oauth2-proxy's quirk, kept for compatibility: 32 base64 characters decode to 24 bytes first.
    ['0123456789abcdef0123456789abcdef', 24], ['0123456789abcdef0123456789abcde!', 32],
    [Buffer.alloc(16, 1).toString('base64'), 16],
    ['short', -1], ['', -1], ['0123456789abcdef0', -1], ['x'.repeat(33), -1], ['x'.repeat(64), -1],
  ], (v: string) => cookieSecretBytes(v)?.length ?? -1);
});

test('listen addresses', () => {
  table([
    ['127.0.0.1:4180', { kind: 'tcp', host: '127.0.0.1', port: 4180 }],
    ['http://0.0.0.0:80', { kind: 'tcp', host: '0.0.0.0', port: 80 }],
    [':4180', { kind: 'tcp', host: '0.0.0.0', port: 4180 }],
    ['[::1]:4180', { kind: 'tcp', host: '::1', port: 4180 }],
    ['localhost:8080', { kind: 'tcp', host: 'localhost', port: 8080 }],
    ['unix:///run/p.sock', { kind: 'unix', path: '/run/p.sock' }],
    ['4180', undefined], ['host:99999', undefined], ['unix://relative', undefined], ['', undefined],
  ], parseListenAddress);
});

const BASE = BASE_ENV;
const raw = (env: Record<string, string>, flags: Record<string, string | string[]> = {}, dotenv: Record<string, string> = {}): RawOptions =>
  mergeSources({ flags, env, dotenv });

test('precedence: flag > environment > .env file > default', () => {
  const r = raw({ ...BASE, OAUTH2_PROXY_COOKIE_NAME: 'from_env', OAUTH2_PROXY_PROXY_PREFIX: '/env' },
    { cookie_name: 'from_flag' },
    { OAUTH2_PROXY_COOKIE_NAME: 'from_file', OAUTH2_PROXY_PROXY_PREFIX: '/file', OAUTH2_PROXY_PING_PATH: '/file-ping' });
  const v = validateConfig(r);
  assert.ok(v.ok);
  assert.equal(v.config.cookie.name, 'from_flag');
  assert.equal(v.config.proxyPrefix, '/env');
  assert.equal(v.config.pingPath, '/file-ping');
  assert.equal(v.config.readyPath, '/ready');
});

test('defaults follow oauth2-proxy where it is safe, and are safe where it is not', () => {
  const v = validateConfig(raw(BASE));
  assert.ok(v.ok);
  const c = v.config;
  assert.deepEqual(c.listen, { kind: 'tcp', host: '127.0.0.1', port: 4180 });
  assert.equal(c.cookie.name, '_oauth2_proxy');
  assert.equal(c.cookie.expireMs, 168 * 3600_000);
  assert.equal(c.cookie.secure, true);
  assert.equal(c.cookie.httpOnly, true);
  assert.equal(c.cookie.sameSite, 'lax');
  assert.equal(c.provider.scope, 'openid email profile');
  assert.equal(c.proxyPrefix, '/oauth2');
  assert.equal(c.passHostHeader, true);
  assert.equal(c.passUserHeaders, true);
  assert.equal(c.passAccessToken, false);
  assert.equal(c.provider.emailClaim, 'email');
});

test('every problem is reported at once, naming the variable, the value (secrets masked) and the expected form', () => {
  const v = validateConfig(raw({
    OAUTH2_PROXY_OIDC_ISSUER_URL: 'not a url',
    OAUTH2_PROXY_CLIENT_SECRET: 'hunter2-secret',
    OAUTH2_PROXY_COOKIE_SECRET: 'too-short-secret!',
    OAUTH2_PROXY_COOKIE_SECURE: 'maybe',
    OAUTH2_PROXY_COOKIE_EXPIRE: '7 days',
    OAUTH2_PROXY_COOKIE_SAMESITE: 'sometimes',
    OAUTH2_PROXY_UPSTREAMS: 'ftp://files/',
    OAUTH2_PROXY_SCOPE: 'email profile',
    OAUTH2_PROXY_CODE_CHALLENGE_METHOD: 'plain',
    OAUTH2_PROXY_HTTP_ADDRESS: 'everywhere',
    OAUTH2_PROXY_REDIRECT_URL: 'https://app.example.com/callback',
  }, { proxy_prefix: 'oauth2/' }));
  assert.equal(v.ok, false);
  const text = v.ok ? '' : v.errors.join('\n');
  for (const expected of [
    /OAUTH2_PROXY_OIDC_ISSUER_URL: got "not a url", expected an absolute http/,
    /OAUTH2_PROXY_CLIENT_ID \(or --client-id\) is required/,
    /OAUTH2_PROXY_COOKIE_SECRET: got \(hidden, 17 characters\), expected 16, 24 or 32 bytes.*openssl rand/,
    /OAUTH2_PROXY_COOKIE_SECURE: got "maybe", expected true or false/,
    /OAUTH2_PROXY_COOKIE_EXPIRE: got "7 days", expected a duration such as 168h/,
    /OAUTH2_PROXY_COOKIE_SAMESITE: got "sometimes", expected one of lax, strict, none, ""/,
    /OAUTH2_PROXY_UPSTREAMS: got "ftp:\/\/files\/", expected an http/,
    /OAUTH2_PROXY_SCOPE: got "email profile", expected .*openid/,
    /OAUTH2_PROXY_CODE_CHALLENGE_METHOD: got "plain", expected one of S256/,
    /OAUTH2_PROXY_HTTP_ADDRESS: got "everywhere", expected host:port/,
    /OAUTH2_PROXY_EMAIL_DOMAINS \(or --email-domain\) is required/,
    /--proxy-prefix: got "oauth2\/", expected a path starting with \//,
    /OAUTH2_PROXY_REDIRECT_URL: got "https:\/\/app.example.com\/callback", expected a URL whose path is \/oauth2\/callback/,
  ]) assert.match(text, expected);
  assert.doesNotMatch(text, /hunter2|too-short-secret/, 'secrets are never echoed');
});

test('http issuers only on loopback unless explicitly allowed; skip_oidc_discovery needs its endpoints', () => {
  const httpRemote = validateConfig(raw({ ...BASE, OAUTH2_PROXY_OIDC_ISSUER_URL: 'http://hydra.internal:4444/' }));
  assert.equal(httpRemote.ok, false);
  assert.match(httpRemote.ok ? '' : httpRemote.errors.join('\n'), /OAUTH2_PROXY_INSECURE_OIDC_ALLOW_HTTP_ISSUER/);
  assert.ok(validateConfig(raw({ ...BASE, OAUTH2_PROXY_OIDC_ISSUER_URL: 'http://hydra.internal:4444/', OAUTH2_PROXY_INSECURE_OIDC_ALLOW_HTTP_ISSUER: 'true' })).ok);
  assert.ok(validateConfig(raw({ ...BASE, OAUTH2_PROXY_OIDC_ISSUER_URL: 'http://127.0.0.1:4444/' })).ok);
  const skip = validateConfig(raw({ ...BASE, OAUTH2_PROXY_SKIP_OIDC_DISCOVERY: 'true' }));
  assert.equal(skip.ok, false);
  const msgs = skip.ok ? '' : skip.errors.join('\n');
  assert.match(msgs, /OAUTH2_PROXY_LOGIN_URL .* is required/);
  assert.match(msgs, /OAUTH2_PROXY_REDEEM_URL .* is required/);
  assert.match(msgs, /OAUTH2_PROXY_OIDC_JWKS_URL .* or OAUTH2_PROXY_VALIDATE_URL/);
});

test('unknown OAUTH2_PROXY_* variables are warned about with the closest known name', () => {
  const w = unknownVariableWarnings(['OAUTH2_PROXY_CLIENT_SECRT', 'OAUTH2_PROXY_UPSTREAM', 'OAUTH2_PROXY_ZZZZZZZZZZZZZZZZZZZZ', 'PATH', 'OAUTH2_PROXY_CLIENT_ID'], 'environment');
  assert.equal(w.length, 3);
  assert.match(w[0]!, /OAUTH2_PROXY_CLIENT_SECRT .* did you mean OAUTH2_PROXY_CLIENT_SECRET\?/);
  assert.match(w[1]!, /did you mean OAUTH2_PROXY_UPSTREAMS\?/);
  assert.doesNotMatch(w[2]!, /did you mean/);
});

test('oauth2-proxy access restrictions Portcullis lacks stop start-up instead of being ignored', () => {
  const { errors } = foreignVariableProblems({ OAUTH2_PROXY_ALLOWED_ROLES: 'admins', OAUTH2_PROXY_GITHUB_ORG: ' ', OAUTH2_PROXY_ALLOWED_GROUPS: 'admins', OAUTH2_PROXY_AUTHENTICATED_EMAILS_FILE: '/x', PATH: '/bin' }, 'environment');
  assert.equal(errors.length, 1, 'allowed_groups and authenticated_emails_file are supported now');
  assert.match(errors[0]!, /^OAUTH2_PROXY_ALLOWED_ROLES \(environment\) restricts who may sign in/);
  assert.deepEqual(unknownVariableWarnings(['OAUTH2_PROXY_ALLOWED_ROLES'], 'environment'), [], 'an error, not also a warning');
});

test('the option table is consistent: unique names, flags and variables in oauth2-proxy form', () => {
  const names = new Set(OPTIONS.map((o) => o.name));
  assert.equal(names.size, OPTIONS.length);
  assert.equal(new Set(OPTIONS.map((o) => o.flag)).size, OPTIONS.length);
  for (const o of OPTIONS) {
    assert.match(o.flag, /^--[a-z][a-z-]+$/);
    assert.match(o.env, /^OAUTH2_PROXY_[A-Z_]+$/);
    if (o.type === 'enum') assert.ok(o.choices?.includes(o.default), `${o.name} default is a choice`);
  }
});

test('bad configuration stops bin/portcullis with every problem listed, exit 2, no stack trace', async () => {
  const p = await startProxy({
    OAUTH2_PROXY_CLIENT_SECRET: 'do-not-print-me-please',
    OAUTH2_PROXY_COOKIE_SECRET: 'short',
    OAUTH2_PROXY_CLIENT_SECRT: 'typo',
    OAUTH2_PROXY_ALLOWED_ROLES: 'admins',
    OAUTH2_PROXY_HTTP_ADDRESS: '127.0.0.1:1',
  }, { waitFor: 'exit' });
  const out = p.lines.join('\n');
  assert.equal(p.child.exitCode, 2);
  assert.match(out, /the configuration has \d+ problems/);
  assert.match(out, /OAUTH2_PROXY_CLIENT_ID/);
  assert.match(out, /OAUTH2_PROXY_OIDC_ISSUER_URL/);
  assert.match(out, /OAUTH2_PROXY_COOKIE_SECRET: got \(hidden, 5 characters\)/);
  assert.match(out, /did you mean OAUTH2_PROXY_CLIENT_SECRET\?/);
  assert.match(out, /- OAUTH2_PROXY_ALLOWED_ROLES \(environment\) restricts who may sign in/);
  assert.doesNotMatch(out, /do-not-print-me-please/);
  assert.doesNotMatch(out, /^\s+at /m, 'no stack trace');
});

test('flags and a .env file configure bin/portcullis too (--env-file)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-env-'));
  const file = join(dir, 'proxy.env');
  writeFileSync(file, [
    'OAUTH2_PROXY_OIDC_ISSUER_URL=http://127.0.0.1:9/',
    'OAUTH2_PROXY_CLIENT_SECRET=from-the-env-file',
    `OAUTH2_PROXY_COOKIE_SECRET=${Buffer.alloc(32, 9).toString('base64url')}`,
    'OAUTH2_PROXY_EMAIL_DOMAINS=*',
    'OAUTH2_PROXY_PING_PATH=/from-file',
  ].join('\n'));
  const p = await startProxy({}, { args: ['--env-file', file, '--client-id', 'from-flag', '--ping-path=/healthz', '--upstream', 'http://127.0.0.1:9/'] });
  try {
    assert.equal((await fetch(`${p.url}/healthz`)).status, 200, 'the flag wins over the file');
    assert.equal((await fetch(`${p.url}/ready`)).status, 503, 'the issuer at port 9 is down');
  } finally {
    await p.stop();
  }
});

test('user_id_claim is oauth2-proxy\'s deprecated name of oidc_email_claim: it names the email claim while that is left at email, never X-Forwarded-User', () => {
  const at = (env: Record<string, string>): string | string[] => {
    const v = validateEnv(env);
    return v.ok ? [v.config.provider.emailClaim, ...v.warnings.filter((w) => w.includes('USER_ID_CLAIM'))] : v.errors;
  };
  table<Record<string, string>, string | string[]>([
    [{}, ['email']],
    [{ OAUTH2_PROXY_USER_ID_CLAIM: 'email' }, ['email']],
    // Portcullis's own earlier default (it named X-Forwarded-User then): never the subject as the email.
    [{ OAUTH2_PROXY_USER_ID_CLAIM: 'sub' }, ['email']],
    [{ OAUTH2_PROXY_USER_ID_CLAIM: 'upn' }, ['upn', 'OAUTH2_PROXY_USER_ID_CLAIM is oauth2-proxy\'s deprecated name of OAUTH2_PROXY_OIDC_EMAIL_CLAIM: the email is read from the "upn" claim; X-Forwarded-User stays the subject']],
    [{ OAUTH2_PROXY_USER_ID_CLAIM: 'upn', OAUTH2_PROXY_OIDC_EMAIL_CLAIM: 'email' }, ['upn', 'OAUTH2_PROXY_USER_ID_CLAIM is oauth2-proxy\'s deprecated name of OAUTH2_PROXY_OIDC_EMAIL_CLAIM: the email is read from the "upn" claim; X-Forwarded-User stays the subject']],
    [{ OAUTH2_PROXY_USER_ID_CLAIM: 'upn', OAUTH2_PROXY_OIDC_EMAIL_CLAIM: 'mail' }, ['mail', 'OAUTH2_PROXY_USER_ID_CLAIM=upn is ignored: it is oauth2-proxy\'s deprecated name of OAUTH2_PROXY_OIDC_EMAIL_CLAIM, which is set (mail)']],
    [{ OAUTH2_PROXY_OIDC_EMAIL_CLAIM: 'mail' }, ['mail']],
  ], at);
});
