import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { AllowedDomains, isSafeRedirect, safeRedirectPath, splitHostPort } from '../src/access/redirect.js';
import { HttpBrowser } from './support/browser.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import { table } from './support/table.js';

// Inputs are what the handler sees after the query string was decoded once.
const cases: ReadonlyArray<readonly [input: string | null | undefined, expected: string]> = [
  // Accepted: local absolute paths, returned unchanged.
  ['/', '/'],
  ['/app', '/app'],
  ['/app/', '/app/'],
  ['/app?x=1&y=2#frag', '/app?x=1&y=2#frag'],
  ['/a/b/../c', '/a/b/../c'],
  ['/a/./b', '/a/./b'],
  ['/app%20name/%C3%A9t%C3%A9', '/app%20name/%C3%A9t%C3%A9'],
  // Browsers never decode %2F/%5C in a path when navigating, so these stay on
  // our site as one odd path segment; the URL check confirms the pathname.
  ['/%2F%2Fevil.com', '/%2F%2Fevil.com'],
  ['/%2fsomething', '/%2fsomething'],
  ['/%5C%5Cevil.com', '/%5C%5Cevil.com'],
  // Off-site URLs in the query, fragment or a later path segment are just data.
  ['/?rd=//evil.com', '/?rd=//evil.com'],
  ['/app#//evil.com', '/app#//evil.com'],
  ['/app/https://evil.com', '/app/https://evil.com'],
  ['/app//x', '/app//x'],
  ['/' + 'a'.repeat(2047), '/' + 'a'.repeat(2047)],

  // Rejected: scheme-relative and slash/backslash confusion.
  ['//evil.com', '/'],
  ['///evil.com', '/'],
  ['////evil.com', '/'],
  ['//evil.com/app', '/'],
  ['/\\evil.com', '/'],
  ['\\\\evil.com', '/'],
  ['\\/evil.com', '/'],
  ['/app\\..\\..\\\\evil.com', '/'],
  // Browsers drop tab/CR/LF inside URLs, so "/<TAB>/evil.com" is "//evil.com".
  ['/\t/evil.com', '/'],
  ['/\n/evil.com', '/'],
  ['/\r\n/evil.com', '/'],
  [decodeURIComponent('/%09/evil.com'), '/'],
  ['/ /evil.com', '/'],
  [' /app', '/'],
  ['/app\x00', '/'],
  ['/app\x7f', '/'],
  ['/\u00a0/evil.com', '/'],
  ['/\u3002evil.com', '/'],
  ['\uff0f\uff0fevil.com', '/'],
  ['/r\u00e9sum\u00e9', '/'],
  // Paths that normalise to "//host".
  ['/.//evil.com', '/'],
  ['/..//evil.com', '/'],
  ['/a/..//evil.com', '/'],
  ['/%2e%2e//evil.com', '/'],
  // Absolute URLs and other schemes.
  ['https://evil.com', '/'],
  ['HTTPS://evil.com/app', '/'],
  ['http://evil.com', '/'],
  ['http:/evil.com', '/'],
  ['http:evil.com', '/'],
  ['https:\\\\evil.com', '/'],
  ['javascript:alert(1)', '/'],
  ['JaVaScRiPt:alert(1)', '/'],
  ['data:text/html,<script>alert(1)</script>', '/'],
  ['vbscript:msgbox(1)', '/'],
  // Not absolute paths: they resolve relative to the callback URL.
  ['evil.com', '/'],
  ['app', '/'],
  ['./app', '/'],
  ['../app', '/'],
  ['?next=/app', '/'],
  ['#frag', '/'],
  ['@evil.com', '/'],
  ['', '/'],
  [undefined, '/'],
  [null, '/'],
  ['/' + 'a'.repeat(2048), '/'],
  ['/' + 'a'.repeat(5000), '/'],
];

test(`safeRedirectPath table (${cases.length} cases)`, () => {
  const failures: string[] = [];
  for (const [input, expected] of cases) {
    const got = safeRedirectPath(input);
    if (got !== expected) {
      failures.push(`safeRedirectPath(${JSON.stringify(input)}) = ${JSON.stringify(got)}, want ${JSON.stringify(expected)}`);
    }
    if (typeof input === 'string') {
      const safe = isSafeRedirect(input);
      if (safe !== (expected === input)) {
        failures.push(`isSafeRedirect(${JSON.stringify(input)}) = ${safe}`);
      }
    }
  }
  assert.deepEqual(failures, []);
});

test('safeRedirectPath uses the given fallback', () => {
  assert.equal(safeRedirectPath('//evil.com', '/home'), '/home');
  assert.equal(safeRedirectPath(undefined, '/signed-out'), '/signed-out');
  assert.equal(safeRedirectPath('/app', '/home'), '/app');
});

const payloadFile = new URL('../../test/fixtures/openredirects.txt', import.meta.url);
const payloads = readFileSync(payloadFile, 'utf8')
  .split('\n')
  .filter((line) => line !== '')
  .map((line) => {
    try {
      return decodeURIComponent(line);
    } catch {
      return line;
    }
  });

test(`oauth2-proxy openredirects.txt: all ${payloads.length} payloads leave the browser on our site`, (t) => {
  const site = 'https://proxy.example.com';
  const failures: string[] = [];
  let rejected = 0;
  let kept = 0;
  for (const payload of payloads) {
    const result = safeRedirectPath(payload, '/');
    let origin: string;
    try {
      origin = new URL(result, `${site}/`).origin;
    } catch {
      origin = '(unparseable)';
    }
    if (origin !== site) failures.push(`${JSON.stringify(payload)} -> ${JSON.stringify(result)} lands on ${origin}`);

    if (isSafeRedirect(payload)) {
      kept++;
      if (result !== payload) failures.push(`${JSON.stringify(payload)} accepted but returned as ${JSON.stringify(result)}`);
      if (!result.startsWith('/') || result.startsWith('//') || result.startsWith('/\\')) {
        failures.push(`${JSON.stringify(payload)} kept but is not a plain local path`);
      }
    } else {
      rejected++;
      if (result !== '/') failures.push(`${JSON.stringify(payload)} rejected but returned ${JSON.stringify(result)}`);
    }
  }
  t.diagnostic(`${rejected} rejected, ${kept} kept as local paths`);
  assert.equal(rejected + kept, payloads.length);
  assert.deepEqual(failures, []);
});

// ── whitelist_domains: absolute URLs on allowed hosts, ported from oauth2-proxy ──────────────────

/** oauth2-proxy's testAllowedDomains (pkg/app/redirect/validator_test.go). */
const OAUTH2_PROXY_ALLOWED = new AllowedDomains([
  'foo.bar', '.bar.foo', 'port.bar:8080', '.sub.port.bar:8080', 'anyport.bar:*', '.sub.anyport.bar:*',
  'www.whitelisteddomain.tld', '*.wildcard.sub.port.bar:8080', '*.wildcard.sub.anyport.bar:*', '*.wildcard.bar', '*.wildcard.proxy.foo.bar',
]);

test('oauth2-proxy\'s IsValidRedirect table, entry by entry', () => {
  table<string, boolean>([
    ['', false],
    ['/redirect', true],
    ['//redirect', false],
    ['http://foo.bar/redirect', true],
    ['https://foo.bar/redirect', true],
    ['http://baz.foo.bar/redirect', false],
    ['https://baz.foo.bar/redirect', false],
    ['http://baz.bar.foo/redirect', true],
    ['https://baz.bar.foo/redirect', true],
    ['http://bar.foo/redirect', true],
    ['http://foo.bar.evil.corp/redirect', false],
    ['https://foo.bar.evil.corp/redirect', false],
    ['http://evil.corp/redirect?rd=foo.bar', false],
    ['https://evil.corp/redirect?rd=foo.bar', false],
    ['https://evil.corp:3838/redirect', false],
    ['http://foo.bar:3838/redirect', false],
    ['http://baz.bar.foo:3838/redirect', false],
    ['http://port.bar:8080/redirect', true],
    ['http://port.bar:3838/redirect', false],
    ['http://foo.sub.port.bar:8080/redirect', true],
    ['http://foo.subport.bar:3838/redirect', false],
    ['http://anyport.bar:8080/redirect', true],
    ['http://anyport.bar:8081/redirect', true],
    ['http://a.sub.anyport.bar:8080/redirect', true],
    ['http://a.sub.anyport.bar:8081/redirect', true],
    ['/\\evil.com', false],
    ['/ /evil.com', false],
    ['/ \\evil.com', false],
    ['/\t/evil.com', false],
    ['/\t\\evil.com', false],
    ['/\v/evil.com', false],
    ['/\v\\evil.com', false],
    ['/\n/evil.com', false],
    ['/\n\\evil.com', false],
    ['/\r/evil.com', false],
    ['/\r\\evil.com', false],
    ['/\t/\t\\evil.com', false],
    ['/\t\t/\t/evil.com', false],
    ['/\t\t\\\t/evil.com', false],
    ['/\t\t/\t\t\\evil.com', false],
    ['/\t\t\\\t\t/evil.com', false],
    ['/./\\evil.com', false],
    ['/./../../\\evil.com', false],
    ['http://foo.wildcard.bar/redirect', true],
    ['https://foo.wildcard.bar/redirect', true],
    ['http://wildcard.bar/redirect', true],
    ['https://wildcard.bar/redirect', true],
    ['http://foo.wildcard.sub.anyport.bar:4242/redirect', true],
    ['https://foo.wildcard.sub.anyport.bar:4242/redirect', true],
    ['http://wildcard.sub.anyport.bar:4242/redirect', true],
    ['https://wildcard.sub.anyport.bar:4242/redirect', true],
    ['http://foo.wildcard.sub.port.bar:8080/redirect', true],
    ['https://foo.wildcard.sub.port.bar:8080/redirect', true],
    ['http://wildcard.sub.port.bar:8080/redirect', true],
    ['https://wildcard.sub.port.bar:8080/redirect', true],
    ['foo.bar/redirect', false],
    ['proxy.wildcard.bar/redirect', false],
  ], (rd) => isSafeRedirect(rd, OAUTH2_PROXY_ALLOWED));
});

test('oauth2-proxy\'s SplitHostPort table', () => {
  table<string, { host: string; port: string }>([
    ['foo.bar', { host: 'foo.bar', port: '' }],
    ['foo.bar:8080', { host: 'foo.bar', port: '8080' }],
    ['foo.bar:808a', { host: 'foo.bar:808a', port: '' }],
    ['foo.bar:*', { host: 'foo.bar', port: '*' }],
    ['[foo.bar]', { host: 'foo.bar', port: '' }],
  ], splitHostPort);
});

test('absolute URLs: only the plain spelling of an allowed host and port; everything else falls back to /', () => {
  const allowed = new AllowedDomains(['app.example.com', '.corp.example', 'ports.example:8443', 'any.example:*']);
  table<string, string>([
    ['https://app.example.com/x?y=1#z', 'https://app.example.com/x?y=1#z'],
    ['https://app.example.com', 'https://app.example.com'],
    ['http://app.example.com/', 'http://app.example.com/'],
    ['https://APP.Example.com/x', 'https://APP.Example.com/x'],
    ['https://corp.example/', 'https://corp.example/'],
    ['https://a.b.corp.example/', 'https://a.b.corp.example/'],
    ['https://ports.example:8443/', 'https://ports.example:8443/'],
    ['https://any.example:1/', 'https://any.example:1/'],
    ['https://app.example.com?@evil.com', 'https://app.example.com?@evil.com'],
    ['https://app.example.com#@evil.com', 'https://app.example.com#@evil.com'],
    // protocol-relative, backslashes, encoded forms
    ['//app.example.com/x', '/'],
    ['///app.example.com/x', '/'],
    ['\\\\app.example.com/x', '/'],
    ['https:\\\\app.example.com/x', '/'],
    ['https:/\\app.example.com/x', '/'],
    ['https://app.example.com\\@evil.com/', '/'],
    ['https://evil.com\\.app.example.com/', '/'],
    ['https%3A%2F%2Fapp.example.com%2F', '/'],
    ['https://app.example.com%2F@evil.com/', '/'],
    ['https://app%2Eexample.com/', '/'],
    ['https://%61pp.example.com/', '/'],
    // whitespace and control characters before or inside
    [' https://app.example.com/', '/'],
    ['\thttps://app.example.com/', '/'],
    ['\nhttps://app.example.com/', '/'],
    ['\x00https://app.example.com/', '/'],
    ['\x1bhttps://app.example.com/', '/'],
    ['https://app.example.com /', '/'],
    ['ht\ttps://app.example.com/', '/'],
    ['https://app.exa\tmple.com/', '/'],
    // userinfo
    ['https://user@app.example.com/', '/'],
    ['https://user:pw@app.example.com/', '/'],
    ['https://app.example.com@evil.com/', '/'],
    ['https://app.example.com:@evil.com/', '/'],
    ['https://app.example.com:443@evil.com/', '/'],
    ['https://@app.example.com/', '/'],
    // other schemes and spellings of the scheme
    ['ftp://app.example.com/', '/'],
    ['javascript://app.example.com/%0aalert(1)', '/'],
    ['data:text/html,https://app.example.com/', '/'],
    ['HTTPS://app.example.com/', '/'],
    ['https:app.example.com/', '/'],
    ['https:/app.example.com/', '/'],
    ['https:///app.example.com/', '/'],
    ['https://app.example.com//evil.com', '/'],
    // look-alike hosts
    ['https://app.example.com.evil.com/', '/'],
    ['https://evilapp.example.com/', '/'],
    ['https://app.example.community/', '/'],
    ['https://app.example.com./', '/'],
    ['https://xcorp.example/', '/'],
    ['https://corp.example.evil/', '/'],
    ['https://app\u3002example.com/', '/'],
    ['https://\u0430pp.example.com/', '/'],
    ['https://xn--pp-8cd.example.com/', '/'],
    ['https://2130706433/', '/'],
    ['https://0x7f.0.0.1/', '/'],
    // ports: only the listed ones, written as listed
    ['https://app.example.com:443/', '/'],
    ['https://app.example.com:8443/', '/'],
    ['https://app.example.com:/', '/'],
    ['https://ports.example/', '/'],
    ['https://ports.example:08443/', '/'],
    ['https://ports.example:8444/', '/'],
    ['https://ports.example:99999/', '/'],
    // local paths still work as before
    ['/app', '/app'],
    ['//evil.com', '/'],
  ], (rd) => safeRedirectPath(rd, '/', allowed));
  // Without whitelist_domains, no absolute URL at all.
  assert.equal(safeRedirectPath('https://app.example.com/'), '/');
});

test(`oauth2-proxy openredirects.txt with its allowed domains: no payload is accepted as an absolute URL`, () => {
  // oauth2-proxy unescapes each line with url.QueryUnescape: + is a space there.
  const unescaped = readFileSync(payloadFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => {
    try { return decodeURIComponent(l.replace(/\+/g, ' ')); } catch { return l; }
  });
  const failures: string[] = [];
  for (const payload of unescaped) {
    const result = safeRedirectPath(payload, '/', OAUTH2_PROXY_ALLOWED);
    if (result !== '/' && (!result.startsWith('/') || result.startsWith('//'))) failures.push(`${JSON.stringify(payload)} accepted as ${JSON.stringify(result)}`);
    if (new URL(result, 'https://proxy.example.com/').origin !== 'https://proxy.example.com') failures.push(`${JSON.stringify(payload)} leaves the site`);
  }
  assert.deepEqual(failures, []);
});

describe('rd, X-Auth-Request-Redirect and the sign-out target with whitelist_domains, through the proxy', () => {
  let peers: Peers;
  let proxy: InProcess;
  before(async () => {
    peers = await startPeers();
    proxy = await startInProcess({ ...peers.env, OAUTH2_PROXY_WHITELIST_DOMAINS: '.app.example,other.example:8443' }, peers.port);
  });
  after(async () => { await proxy?.close(); await peers?.close(); });

  test('after login the browser goes to an allowed absolute rd; a refused one sends it to /', async () => {
    for (const [rd, expected] of [
      ['https://www.app.example/dash?x=1', 'https://www.app.example/dash?x=1'],
      ['https://other.example:8443/', 'https://other.example:8443/'],
      ['https://other.example/', '/'],
      ['https://evil.example/', '/'],
      ['//www.app.example/', '/'],
      ['https://www.app.example@evil.example/', '/'],
    ]) {
      const b = new HttpBrowser();
      const res = await b.navigate(`${proxy.url}/oauth2/start?rd=${encodeURIComponent(rd!)}`, { stopAt: (u) => u.port !== String(peers.port) && u.port !== String(peers.issuer.port) });
      const landed = res.url;
      const want = expected === '/' ? `${proxy.url}/` : expected!;
      assert.equal(landed, new URL(want).href, `rd=${rd} → ${landed} (status ${res.status})`);
    }
  });

  test('X-Auth-Request-Redirect is checked the same way', async () => {
    for (const [header, expected] of [['https://a.app.example/', 'https://a.app.example/'], ['https://evil.example/', '/']]) {
      const res = await new HttpBrowser().request(`${proxy.url}/oauth2/start`, { headers: { 'x-auth-request-redirect': header! } });
      assert.equal(res.status, 302);
      const b = new HttpBrowser();
      const signIn = await b.request(`${proxy.url}/oauth2/sign_in`, { headers: { 'x-auth-request-redirect': header! } });
      assert.match(signIn.body, new RegExp(`rd=${encodeURIComponent(expected!).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`));
    }
  });

  test('sign-out goes to an allowed absolute rd, else to the signed-out page', async () => {
    const signedOut = '/oauth2/sign_in?signed_out=1';
    for (const [rd, expected] of [
      ['https://app.example/bye', 'https://app.example/bye'],
      ['/local', '/local'],
      ['https://evil.example/', signedOut],
      ['https:/\\evil.example/', signedOut],
      [' https://app.example/', signedOut],
    ]) {
      const res = await new HttpBrowser().request(`${proxy.url}/oauth2/sign_out?rd=${encodeURIComponent(rd!)}`);
      assert.equal(res.status, 302);
      assert.equal(res.headers.location, expected, `rd=${JSON.stringify(rd)}`);
    }
  });
});

describe('the callback URL built from the request (redirect_url unset): https while cookies are Secure, as in oauth2-proxy', () => {
  let peers: Peers;
  let secure: InProcess;
  let plain: InProcess;
  before(async () => {
    peers = await startPeers();
    const { OAUTH2_PROXY_COOKIE_SECURE: _secure, ...env } = peers.env;
    // cookie_secure left at its default (true); no reverse_proxy: the load balancer in front is not trusted.
    secure = await startInProcess(env);
    plain = await startInProcess({ ...env, OAUTH2_PROXY_COOKIE_SECURE: 'false' });
  });
  after(async () => { await secure?.close(); await plain?.close(); await peers?.close(); });

  const callbackFor = async (p: InProcess, host: string, proto: string | undefined): Promise<string | null> => {
    const res = await new HttpBrowser().request(`${p.url}/oauth2/start?rd=/x`, { headers: { host, ...(proto ? { 'x-forwarded-proto': proto } : {}) } });
    assert.equal(res.status, 302, res.body.slice(0, 200));
    return new URL(res.headers.location!).searchParams.get('redirect_uri');
  };

  test('a public host behind a TLS-ending load balancer (X-Forwarded-Proto: https, not trusted) gets an https callback; loopback hosts, plain-http browsers and cookie_secure=false keep the request\'s scheme', async () => {
    const rows: Array<[InProcess, string, string | undefined, string]> = [
      [secure, 'app.example.com', 'https', 'https://app.example.com/oauth2/callback'],
      [secure, 'app.example.com:8443', 'HTTPS', 'https://app.example.com:8443/oauth2/callback'],
      [secure, 'app.example.com', 'https, http', 'https://app.example.com/oauth2/callback'],
      // No load balancer's word: a browser on plain http, told later why its Secure cookie was dropped.
      [secure, 'app.example.com', undefined, 'http://app.example.com/oauth2/callback'],
      [secure, 'app.example.com', 'http', 'http://app.example.com/oauth2/callback'],
      [secure, '127.0.0.1:4180', 'https', 'http://127.0.0.1:4180/oauth2/callback'],
      [secure, 'localhost:4180', 'https', 'http://localhost:4180/oauth2/callback'],
      [secure, '[::1]:4180', 'https', 'http://[::1]:4180/oauth2/callback'],
      [plain, 'app.example.com', 'https', 'http://app.example.com/oauth2/callback'],
    ];
    const failures: string[] = [];
    for (const [p, host, proto, expected] of rows) {
      const got = await callbackFor(p, host, proto);
      if (got !== expected) failures.push(`${p === secure ? 'secure' : 'plain'} ${host} ${proto} → ${got}, expected ${expected}`);
    }
    assert.deepEqual(failures, []);
  });
});

describe('forward-auth at a proxied path (oauth2-proxy\'s Traefik setup, static://202): the return after login is where the trusted proxy says the browser was going', () => {
  let peers: Peers;
  let listed: InProcess;
  let unlisted: InProcess;
  let untrusted: InProcess;
  before(async () => {
    const port = await freePort();
    peers = await startPeers({ ports: [port] });
    const env = { ...peers.env, OAUTH2_PROXY_UPSTREAMS: 'static://202', OAUTH2_PROXY_REVERSE_PROXY: 'true' };
    listed = await startInProcess({ ...env, OAUTH2_PROXY_WHITELIST_DOMAINS: '.example.com' }, port);
    unlisted = await startInProcess(env);
    untrusted = await startInProcess({ ...env, OAUTH2_PROXY_REVERSE_PROXY: 'false' });
  });
  after(async () => { for (const p of [listed, unlisted, untrusted]) await p?.close(); await peers?.close(); });

  const rdOf = async (p: InProcess, path: string, headers: Record<string, string>): Promise<string | null> => {
    const res = await new HttpBrowser().request(`${p.url}${path}`, { headers });
    assert.equal(res.status, 302, res.body.slice(0, 200));
    return new URL(res.headers.location!, 'http://x').searchParams.get('rd');
  };

  test('X-Forwarded-Uri with -Proto and -Host: the whole URL on a whitelisted host, else its path; /oauth2/ paths and non-paths never', async () => {
    const traefik = (uri: string): Record<string, string> => ({ 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example.com', 'x-forwarded-uri': uri, 'x-forwarded-method': 'GET' });
    const rows: Array<[InProcess, string, Record<string, string>, string]> = [
      [listed, '/', traefik('/reports/7?x=1'), 'https://app.example.com/reports/7?x=1'],
      [unlisted, '/', traefik('/reports/7?x=1'), '/reports/7?x=1'],
      [listed, '/', traefik('/oauth2/callback?code=x'), 'https://app.example.com/'],
      [unlisted, '/', traefik('/oauth2'), '/'],
      [listed, '/', traefik('https://evil.example/'), '/'],
      [listed, '/', traefik('//evil.example/'), '/'],
      [listed, '/', { 'x-forwarded-uri': '/same-host' }, '/same-host'],
      // The page asked for, when no trusted proxy names another.
      [listed, '/page?x=1', {}, '/page?x=1'],
      [untrusted, '/', traefik('/reports/7'), '/'],
    ];
    const failures: string[] = [];
    for (const [p, path, headers, expected] of rows) {
      const got = await rdOf(p, path, headers);
      if (got !== expected) failures.push(`${p === listed ? 'listed' : p === unlisted ? 'unlisted' : 'untrusted'} ${path} ${JSON.stringify(headers['x-forwarded-uri'])} → ${got}, expected ${expected}`);
    }
    assert.deepEqual(failures, []);
  });

  test('the login through the real issuer ends on that URL, and the signed-in forward-auth request gets the static 202', async () => {
    const b = new HttpBrowser();
    const signIn = await b.request(`${listed.url}/`, { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example.com', 'x-forwarded-uri': '/reports/7' } });
    const rd = new URL(signIn.headers.location!, listed.url).searchParams.get('rd')!;
    // The sign-in page's button leads to /oauth2/start with that rd.
    const res = await b.navigate(`${listed.url}/oauth2/start?rd=${encodeURIComponent(rd)}`, { stopAt: (u) => u.hostname === 'app.example.com' });
    assert.equal(res.url, 'https://app.example.com/reports/7');
    assert.equal((await b.request(`${listed.url}/`, { headers: { 'x-forwarded-uri': '/reports/7' } })).status, 202);
  });
});
