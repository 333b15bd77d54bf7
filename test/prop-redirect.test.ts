// Properties of redirect targets (rd, X-Auth-Request-Redirect, whitelist_domains): whatever is
// allowed resolves, under WHATWG URL parsing as browsers do it, to this site or to a whitelisted
// host; and the decision equals a straightforward model written here. Targets are built from the
// pieces attackers combine: schemes and their misspellings, slashes and backslashes, userinfo,
// look-alike and encoded hosts, ports, dot segments and encoded separators.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AllowedDomains, isSafeRedirect } from '../src/access/redirect.js';
import { startEchoUpstream } from '../src/demo/echo.js';
import { rawRequest } from './support/http.js';
import { startInProcess, type InProcess } from './support/inprocess.js';
import { prop } from './support/prop.js';
import { BASE_ENV } from './support/config.js';

/** Where a sign-out ends when its target is refused (or none): the proxy's own signed-out page. */
const SIGNED_OUT = '/oauth2/sign_in?signed_out=1';
const ENTRIES = ['example.com', '.example.net', '*.example.org', 'app.example.io:8443', 'example.dev:*', '[::1]:*', 'localhost'];

/** A whitelist entry as the model reads it: host (lower case), subdomains or not, port ('' none, '*' any). */
function modelEntry(e: string): { host: string; sub: boolean; port: string } {
  const m = /^(.*?)(?::(\*|\d*))?$/.exec(e)!;
  let host = m[1]!.toLowerCase();
  const port = m[2] ?? '';
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const sub = host.startsWith('.') || host.startsWith('*.');
  return { host: host.replace(/^\*?\./, ''), sub, port };
}

function modelHostAllowed(host: string, port: string, entries: readonly string[]): boolean {
  // An entry without a host (`:8080`, empty) names nothing.
  return entries.map(modelEntry).some((e) => e.host !== '' && (host === e.host || (e.sub && host.endsWith(`.${e.host}`))) && (e.port === '*' || e.port === port));
}

/**
 * The model: a target is allowed when it is a printable-ASCII local path that stays on this site,
 * or an http(s) URL written plainly (no userinfo, no encoding or odd characters in the host, the
 * port as digits) whose host and port the whitelist names, on which the browser agrees.
 */
function model(t: string, entries: readonly string[]): boolean {
  if (t.length === 0 || t.length > 2048) return false;
  for (const ch of t) if (ch < '!' || ch > '~' || ch === '\\') return false;
  if (t.startsWith('/')) {
    if (t.startsWith('//')) return false;
    const u = new URL(t, 'http://proxy.invalid');
    return u.host === 'proxy.invalid' && !u.pathname.startsWith('//');
  }
  if (entries.length === 0) return false;
  const m = /^(https?):\/\/([^/?#]*)([/?#].*)?$/.exec(t);
  if (!m) return false;
  const authority = m[2]!;
  const hp = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(\d{1,5}))?$/.exec(authority);
  if (!hp) return false;
  let u: URL;
  try { u = new URL(t); } catch { return false; }
  const written = hp[1]!.toLowerCase();
  const sameHost = written.startsWith('[') ? new URL(`http://${written}/`).hostname === u.hostname : u.hostname === written;
  if (!sameHost || u.pathname.startsWith('//')) return false;
  return modelHostAllowed(written.replace(/^\[|\]$/g, ''), hp[2] ?? '', entries);
}

const host = fc.constantFrom(
  'example.com', 'EXAMPLE.com', 'www.example.com', 'example.net', 'a.example.net', 'a.b.example.org', 'example.org', 'app.example.io', 'example.dev', 'x.example.dev',
  'evil.com', 'example.com.evil.com', 'evilexample.com', 'example.comevil.com', 'example.com.', '%65xample.com', 'ex%61mple.com', 'exаmple.com', 'example。com',
  '[::1]', '[0:0::1]', '[::ffff:127.0.0.1]', 'localhost', 'LOCALHOST', '127.0.0.1', '0x7f.1', '', 'example.com\t', 'example.com%00', 'xn--exmple-cua.com',
);
const userinfo = fc.constantFrom('', '', '', 'user@', 'example.com@', 'a:b@', '@', 'evil.com@', 'example.com%40evil.com@');
const port = fc.constantFrom('', '', '', ':80', ':443', ':8443', ':080', ':', ':*', ':99999', ':8080');
const scheme = fc.constantFrom('http://', 'https://', 'HTTP://', 'https:', 'https:/', 'https:\\\\', 'https:/\\', 'javascript:', 'data:', 'ftp://', '//', '\\\\', '/\\', '\\/', '/\t/', ' //', 'https://\t', '', 'http:///');
const segment = fc.constantFrom('', 'a', 'b', '..', '.', '%2e%2e', '%2E', '%2f', '%5c', '\\', 'evil.com', '@evil.com', '%09', '\t', ' ', 'é', '?x=1', '#f', '?rd=//evil.com', ';x', '%00');
const path = fc.array(segment, { maxLength: 5 }).map((s) => (s.length ? `/${s.join('/')}` : ''));

/** Absolute-looking targets from pieces, and local-looking ones. */
const target = fc.oneof(
  fc.tuple(scheme, userinfo, host, port, path).map((p) => p.join('')),
  fc.tuple(fc.constantFrom('/', '//', '/\\', '/%2f', '/./', '/.//', '/\t/', '/%09/', '/%5c', '/../', '/..//'), path).map(([a, b]) => a + b.replace(/^\//, '')),
  fc.string({ maxLength: 40 }),
);
/** The entries users write, and some they should not: empty hosts, odd case, ports with zeros. */
const whitelist = fc.tuple(fc.subarray(ENTRIES), fc.subarray(['', '.', '*.', ':8080', 'Example.COM', '*.example.com:*', 'example.com:080', '[0:0::1]:80'])).map(([a, b]) => [...a, ...b]);

describe('redirect targets', () => {
  prop('an allowed target resolves, as a browser resolves it, to this site or a whitelisted host and port', 3000, () => fc.property(target, whitelist, (t, entries) => {
    if (!isSafeRedirect(t, new AllowedDomains(entries))) return;
    for (const base of ['https://proxy.test/oauth2/callback?x=1', 'http://proxy.test:8080/a/b/']) {
      const u = new URL(t, base);
      if (u.origin === new URL(base).origin) {
        assert.ok(t.startsWith('/'), `only a path stays here: ${t}`);
        assert.ok(!u.pathname.startsWith('//'), `its path is not scheme-relative when reused: ${t}`);
        continue;
      }
      assert.ok(u.protocol === 'http:' || u.protocol === 'https:', `${t} → ${u.protocol}`);
      assert.equal(u.username + u.password, '', `${t} carries userinfo`);
      const writtenPort = /^https?:\/\/[^/?#]*?(?::(\d+))?(?=$|[/?#])/.exec(t)?.[1] ?? '';
      assert.ok(modelHostAllowed(u.hostname.replace(/^\[|\]$/g, ''), writtenPort, entries), `${t} → ${u.host}, not whitelisted by ${entries.join(',')}`);
    }
  }));

  prop('the decision equals the model', 3000, () => fc.property(target, whitelist, (t, entries) => {
    assert.equal(isSafeRedirect(t, new AllowedDomains(entries)), model(t, entries), `${JSON.stringify(t)} with ${entries.join(',')}`);
  }));
});

describe('redirect targets through a running proxy (sign-out: rd, X-Auth-Request-Redirect)', () => {
  let proxy: InProcess;
  let echo: Awaited<ReturnType<typeof startEchoUpstream>>;
  before(async () => {
    echo = await startEchoUpstream();
    proxy = await startInProcess({ ...BASE_ENV, OAUTH2_PROXY_UPSTREAMS: echo.url, OAUTH2_PROXY_SKIP_OIDC_DISCOVERY: 'true', OAUTH2_PROXY_LOGIN_URL: 'http://127.0.0.1:1/auth', OAUTH2_PROXY_REDEEM_URL: 'http://127.0.0.1:1/token', OAUTH2_PROXY_OIDC_JWKS_URL: 'http://127.0.0.1:1/jwks', OAUTH2_PROXY_INSECURE_OIDC_ALLOW_HTTP_ISSUER: 'true', OAUTH2_PROXY_COOKIE_SECURE: 'false', OAUTH2_PROXY_WHITELIST_DOMAINS: ENTRIES.join(',') });
  });
  after(async () => { await proxy?.close(); await echo?.close(); });

  prop('sign_out?rd=T sends the browser to T exactly when the model allows it, else to the signed-out page', 300, () => fc.asyncProperty(target, async (t) => {
    const r = await rawRequest(proxy.url, `/oauth2/sign_out?rd=${encodeURIComponent(t)}`);
    assert.equal(r.status, 302, r.text.slice(0, 200));
    const location = /\r\nlocation: ([^\r]*)/i.exec(r.text)?.[1];
    assert.equal(location, model(t, ENTRIES) ? t : SIGNED_OUT, JSON.stringify(t));
  }));

  prop('X-Auth-Request-Redirect: T on sign-out does the same (T outside the proxy\'s own paths)', 300, () => fc.asyncProperty(
    target.filter((t) => !/[\r\n\0]/.test(t) && t.trim() === t && !t.includes('/oauth2')),
    async (t) => {
      const r = await rawRequest(proxy.url, '/oauth2/sign_out', { 'x-auth-request-redirect': t });
      if (r.status === 400) return; // a header value Node's parser refuses
      assert.equal(r.status, 302, r.text.slice(0, 200));
      const location = /\r\nlocation: ([^\r]*)/i.exec(r.text)?.[1];
      assert.equal(location, model(t, ENTRIES) ? t : SIGNED_OUT, JSON.stringify(t));
    }));
});
