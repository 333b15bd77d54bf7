import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteRules, compilePattern, parseSkipRoute, ruleView, type SkipRule } from '../src/access/routes.js';
import { parsePatternList } from '../src/config/values.js';
import { HttpBrowser } from './support/browser.js';
import { rawRequest } from './support/http.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import { ALICE } from './support/stack.js';
import { table } from './support/table.js';

function rules(skip: string[], o: { api?: string[]; regex?: string[]; preflight?: boolean } = {}): RouteRules {
  const parsed = skip.map((e) => {
    const r = parseSkipRoute(e);
    if ('error' in r) throw new Error(`${e}: ${r.error}`);
    return r;
  });
  const legacy = (o.regex ?? []).map((e): SkipRule => ({ negate: false, pattern: compilePattern(e) as RegExp, source: e }));
  return new RouteRules({ skip: [...parsed, ...legacy], api: (o.api ?? []).map((e) => compilePattern(e) as RegExp), skipPreflight: o.preflight ?? false });
}

test('what a rule sees: the decoded path, or nothing when servers could read the path two ways', () => {
  table<string, string | undefined>([
    ['/public/x', '/public/x'],
    ['/', '/'],
    ['/%70ublic/x', '/public/x'],
    ['/public/caf%C3%A9', '/public/café'],
    ['/a%20b', '/a b'],
    ['/a+b', '/a+b'],
    ['/a%2Eb', '/a.b'],
    ['/file.txt', '/file.txt'],
    // encoded separators, percent, query and fragment marks, path parameters
    ['/public%2Fx', undefined], ['/public%2fx', undefined], ['/public%5Cx', undefined],
    ['/%2561dmin', undefined], ['/admin%3Fx', undefined], ['/admin%3f/public/', undefined],
    ['/admin%23x', undefined], ['/admin%3Bx', undefined], ['/admin;x/y', undefined], ['/admin;/y', undefined],
    // empty segments
    ['//admin', undefined], ['/a//b', undefined], ['/public//', undefined],
    // control characters, bad escapes, bad UTF-8 (an overlong "/" among them)
    ['/admin%00', undefined], ['/a%0Ab', undefined], ['/a%0db', undefined], ['/a%7Fb', undefined], ['/a%1fb', undefined],
    ['/admin%zz', undefined], ['/admin%', undefined], ['/admin%4', undefined], ['/a%C0%AF', undefined], ['/a%FF', undefined],
    ['/admin%u002Fx', undefined], ['/admin%%32%66x', undefined],
    // dot segments, in case anything ever calls this without the road's check first
    ['/public/../admin', undefined], ['/public/%2e%2e/admin', undefined], ['/public/%2E/x', undefined], ['/./x', undefined],
  ], ruleView);
});

test('skip_auth_routes entries parse as oauth2-proxy parses them', () => {
  // [entry, a path its regex must match] → method | operator | matched
  table<[string, string], string>([
    [['GET=^/public/', '/public/x'], 'GET|=|true'],
    [['get=^/public/', '/public/x'], 'GET|=|true'],
    [['POST!=^/admin', '/admin'], 'POST|!=|true'],
    [['!=^/admin', '/admin'], '*|!=|true'],
    [['=^/x', '/x'], '*|=|true'],
    [['^/public/', '/public/x'], '*|=|true'],
    [['^/a=b', '/a=b'], '*|=|true'],
    [['/static/', '/x/static/y'], '*|=|true'],
    [['GET=', '/'], 'error'],
    [['GET=^/(', '/'], 'error'],
    [['^/a[', '/'], 'error'],
  ], ([entry, probe]) => {
    const r = parseSkipRoute(entry);
    return 'error' in r ? 'error' : `${r.method ?? '*'}|${r.negate ? '!=' : '='}|${r.pattern.test(probe)}`;
  });
});

test('Go regex spellings oauth2-proxy users write are understood or refused with a reason', () => {
  const ok = (src: string, path: string): boolean | string => {
    const p = compilePattern(src);
    return p instanceof RegExp ? p.test(path) : `error: ${p.error}`;
  };
  table<[string, string], boolean | string>([
    [['(?i)^/public/', '/PUBLIC/x'], true],
    [['(?i)^/public/', '/private/x'], false],
    [['^/(?P<name>[a-z]+)/x$', '/abc/x'], true],
    [['\\A/health\\z', '/health'], true],
    [['\\A/health\\z', '/healthz'], false],
    [['^/a{1,3}$', '/aa'], true],
  ], ([src, path]) => ok(src, path));
  assert.match(String((compilePattern('^/a(?i)b') as { error: string }).error), /only at the very start/);
  assert.match(String((compilePattern('^/[[:alpha:]]+$') as { error: string }).error), /POSIX/);
  assert.match(String((compilePattern('(?U)^/a+') as { error: string }).error), /ungreedy/);
});

test('regex lists split on commas outside brackets, braces and parentheses only', () => {
  table<string | string[], string[]>([
    ['^/a/,^/b/', ['^/a/', '^/b/']],
    ['GET=^/a{1,3}$, POST=^/b/', ['GET=^/a{1,3}$', 'POST=^/b/']],
    ['^/(a,b)/', ['^/(a,b)/']],
    ['^/[,;]x', ['^/[,;]x']],
    ['^/a\\,b', ['^/a\\,b']],
    ['^/my path/', ['^/my path/']],
    [['^/a/', '^/b/,^/c/'], ['^/a/', '^/b/', '^/c/']],
    ['', []],
  ], parsePatternList);
});

test('skip decisions: no encoding, //, ;, ? or # trick turns a protected path into a skipped one', () => {
  // An anchored rule, an unanchored one (a common oauth2-proxy shape), a negated one, a legacy regex.
  const r = rules(['GET=^/public/', 'GET=/assets/', 'PUT!=^/(admin|private)/'], { regex: ['^/legacy/'] });
  table<[string, string], boolean>([
    [['GET', '/public/x'], true],
    [['GET', '/public/'], true],
    [['GET', '/%70ublic/x'], true],
    [['GET', '/public/caf%C3%A9'], true],
    [['HEAD', '/public/x'], false],
    [['POST', '/public/x'], false],
    [['GET', '/public'], false],
    [['GET', '/publicity/x'], false],
    [['GET', '/private/x'], false],
    [['GET', '/public%2F..%2Fprivate'], false],
    [['GET', '/public/%2e%2e/private'], false],
    [['GET', '/public/..%2Fprivate'], false],
    [['GET', '/public%2Fx'], false],
    [['GET', '/public;/x'], false],
    [['GET', '/public/;x'], false],
    [['GET', '//public/x'], false],
    [['GET', '/public//x'], false],
    [['GET', '/%2570ublic/x'], false],
    // the unanchored rule: the text it looks for, hidden behind an encoded ?, / or #, or after //
    [['GET', '/assets/app.js'], true],
    [['GET', '/private%3F/assets/'], false],
    [['GET', '/private%3f/assets/'], false],
    [['GET', '/private/%2Fassets%2F'], false],
    [['GET', '/private%23/assets/'], false],
    [['GET', '/private//assets/'], false],
    [['GET', '/private;/assets/'], false],
    [['GET', '/private%00/assets/'], false],
    // the negated rule skips everything else for PUT, never /admin/ or /private/ in any spelling
    [['PUT', '/anything'], true],
    [['PUT', '/admin/x'], false],
    [['PUT', '/private/x'], false],
    [['PUT', '/%61dmin/x'], false],
    [['PUT', '/%2561dmin/x'], false],
    [['PUT', '//admin/x'], false],
    [['PUT', '/admin;x/y'], false],
    [['PUT', '/admin;/y'], false],
    [['PUT', '/admin%2Fy'], false],
    [['PUT', '/admin%2fy'], false],
    [['PUT', '/admin%5Cy'], false],
    [['PUT', '/admin%3Fy'], false],
    [['PUT', '/admin%23y'], false],
    [['PUT', '/admin%zz/y'], false],
    [['PUT', '/admin%C0%AFy'], false],
    [['PUT', '/admin/../x'], false],
    [['GET', '/anything'], false],
    // the legacy regex: any method
    [['GET', '/legacy/x'], true],
    [['DELETE', '/legacy/x'], true],
    [['GET', '/legacy%2Fx'], false],
    [['OPTIONS', '/private/x'], false],
  ], ([method, path]) => r.skips(method, path));
  // Regexes are case-sensitive, as in oauth2-proxy: for a case-insensitive server, say so with (?i).
  assert.equal(rules(['PUT!=^/admin/']).skips('PUT', '/ADMIN/x'), true);
  assert.equal(rules(['PUT!=(?i)^/admin/']).skips('PUT', '/ADMIN/x'), false);
});

test('skip_auth_preflight lets OPTIONS through, any path; api_routes match the decoded path', () => {
  const r = rules([], { preflight: true, api: ['^/api/'] });
  assert.equal(r.skips('OPTIONS', '/private/x'), true);
  assert.equal(r.skips('GET', '/private/x'), false);
  assert.equal(rules([]).skips('OPTIONS', '/private/x'), false);
  assert.equal(rules([]).empty, true);
  assert.equal(r.isApi('/api/x'), true);
  assert.equal(r.isApi('/%61pi/x'), true);
  assert.equal(r.isApi('/app/api/x'), false);
  assert.equal(r.isApi('/api%2Fx'), false);
});

const JSON_ACCEPT = { accept: 'application/json' };

/** The JSON body of a raw answer (the echo upstream's view of the request, or an error). */
function jsonOf(text: string): Record<string, unknown> {
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  return JSON.parse(body.slice(body.indexOf('{'), body.lastIndexOf('}') + 1)) as Record<string, unknown>;
}

describe('routes without login and API routes, through the proxy', () => {
  let peers: Peers;
  let proxy: InProcess;
  let strict: InProcess;
  before(async () => {
    const ports = [await freePort(), await freePort()];
    peers = await startPeers({ ports });
    const routes = {
      OAUTH2_PROXY_SKIP_AUTH_ROUTES: 'GET=^/public/,GET=/assets/,PUT!=^/(admin|private)/,GET=^/ws-public$',
      OAUTH2_PROXY_SKIP_AUTH_REGEX: '^/legacy/',
      OAUTH2_PROXY_SKIP_AUTH_PREFLIGHT: 'true',
      OAUTH2_PROXY_API_ROUTES: '^/api/',
      // A trusted load balancer may set X-Forwarded-*; X-Forwarded-Uri still decides nothing.
      OAUTH2_PROXY_REVERSE_PROXY: 'true',
    };
    proxy = await startInProcess({ ...peers.env, ...routes }, ports[0]);
    // The same cookie secret, and rules that refuse Alice.
    strict = await startInProcess({ ...peers.env, ...routes, OAUTH2_PROXY_EMAIL_DOMAINS: 'other.org' }, ports[1]);
  });
  after(async () => { await proxy?.close(); await strict?.close(); await peers?.close(); });

  test('a skipped route reaches the upstream without login, and client identity headers are stripped', async () => {
    const r = await rawRequest(proxy.url, '/public/x?a=b', { ...JSON_ACCEPT, 'x-forwarded-user': 'mallory', x_forwarded_email: 'mallory@evil.test', 'x-auth-request-user': 'mallory', 'x-forwarded-groups': 'admins' });
    assert.equal(r.status, 200, r.text);
    const seen = jsonOf(r.text) as { url: string; headers: Record<string, string> };
    assert.equal(seen.url, '/public/x?a=b');
    for (const h of ['x-forwarded-user', 'x_forwarded_email', 'x-auth-request-user', 'x-forwarded-groups', 'x-forwarded-email']) {
      assert.equal(seen.headers[h], undefined, `${h} must not reach the upstream`);
    }
  });

  test('every other spelling of a protected path needs a login (401, or 400 for what the road refuses)', async () => {
    const cases: Array<[method: string, target: string, status: number]> = [
      ['GET', '/public/x', 200],
      ['GET', '/%70ublic/x', 200],
      ['GET', '/assets/app.js', 200],
      ['GET', '/legacy/x', 200],
      ['DELETE', '/legacy/x', 200],
      ['OPTIONS', '/private/x', 200],
      ['PUT', '/anything', 200],
      ['GET', '/private', 401],
      ['GET', '/private?/public/', 401],
      ['GET', '/private?x=/public/', 401],
      ['GET', '/private%3F/assets/', 401],
      ['GET', '/private/%2Fassets%2F', 401],
      ['GET', '/private//assets/', 401],
      ['GET', '/private;/assets/', 401],
      ['GET', '/private%23/assets/', 401],
      ['POST', '/public/x', 401],
      ['HEAD', '/public/x', 401],
      ['GET', '/public', 401],
      ['GET', '/public%2Fx', 401],
      ['GET', '//public/x', 401],
      ['GET', '/public;/x', 401],
      ['GET', '/%2570ublic/x', 401],
      ['PUT', '/admin/x', 401],
      ['PUT', '/%61dmin/x', 401],
      ['PUT', '/%2561dmin/x', 401],
      ['PUT', '//admin/x', 401],
      ['PUT', '/admin;x/y', 401],
      ['PUT', '/admin%2Fy', 401],
      ['PUT', '/admin%3Fy', 401],
      ['PUT', '/private/x', 401],
      ['GET', '/public/%2e%2e/private', 400],
      ['GET', '/public/..%2fprivate', 400],
      ['GET', '/public/..;/private', 400],
      ['GET', '/public/../private', 400],
      ['GET', '/public/x#/../../private', 400],
      ['GET', '/public\\..\\private', 400],
      ['GET', 'http://127.0.0.1/public/x', 400],
    ];
    const failures: string[] = [];
    for (const [method, target, status] of cases) {
      const r = await rawRequest(proxy.url, target, JSON_ACCEPT, method);
      if (r.status !== status) failures.push(`${method} ${target} → ${r.status}, expected ${status}`);
      else if (status === 200 && method !== 'HEAD' && (jsonOf(r.text) as { url?: string }).url !== target) failures.push(`${method} ${target} reached the upstream as another target`);
    }
    assert.deepEqual(failures, []);
  });

  test('X-Forwarded-Uri and User-Agent decide nothing, even from a trusted load balancer', async () => {
    const spoofs: Array<Record<string, string>> = [
      { 'x-forwarded-uri': '/public/x' },
      { 'x-forwarded-uri': '/legacy/' },
      { 'user-agent': 'GoogleHC/1.0' },
      { 'user-agent': 'kube-probe/1.29' },
      { 'x-original-url': '/public/x', 'x-rewrite-url': '/public/x' },
    ];
    for (const headers of spoofs) {
      const r = await rawRequest(proxy.url, '/private', { ...JSON_ACCEPT, ...headers });
      assert.equal(r.status, 401, `${JSON.stringify(headers)}: ${r.text.slice(0, 200)}`);
    }
    const auth = await rawRequest(proxy.url, '/oauth2/auth', { ...JSON_ACCEPT, 'x-forwarded-uri': '/public/x' });
    assert.equal(auth.status, 401, 'forward-auth never applies skip rules, least of all to X-Forwarded-Uri');
  });

  test('api_routes answer 401 even to a browser navigation, never a redirect; other routes redirect it', async () => {
    const api = await new HttpBrowser().request(`${proxy.url}/api/things`);
    assert.equal(api.status, 401);
    assert.equal(api.headers.location, undefined);
    assert.match(api.body, /UNAUTHENTICATED/);
    const json = await new HttpBrowser().request(`${proxy.url}/%61pi/things`, { headers: JSON_ACCEPT });
    assert.equal(json.status, 401);
    assert.equal(JSON.parse(json.body).error, 'UNAUTHENTICATED');
    const page = await new HttpBrowser().request(`${proxy.url}/private`);
    assert.equal(page.status, 302);
    assert.match(String(page.headers.location), /\/oauth2\/sign_in\?rd=%2Fprivate/);
  });

  test('a signed-in user keeps their identity on a skipped route; a refused one is forwarded without it', async () => {
    const b = new HttpBrowser();
    assert.equal((await b.navigate(`${proxy.url}/oauth2/start?rd=/`)).status, 200);
    const cookie = b.cookieHeader(new URL(proxy.url));
    const signedIn = jsonOf((await rawRequest(proxy.url, '/public/x', { ...JSON_ACCEPT, cookie })).text) as { headers: Record<string, string> };
    assert.equal(signedIn.headers['x-forwarded-user'], ALICE.sub);
    assert.equal(signedIn.headers['x-forwarded-email'], ALICE.email);

    const refusedPublic = await rawRequest(strict.url, '/public/x', { ...JSON_ACCEPT, cookie, 'x-forwarded-user': 'mallory' });
    assert.equal(refusedPublic.status, 200);
    const seen = jsonOf(refusedPublic.text) as { headers: Record<string, string> };
    assert.equal(seen.headers['x-forwarded-user'], undefined);
    assert.equal(seen.headers['x-forwarded-email'], undefined);
    const refusedPrivate = await rawRequest(strict.url, '/private', { cookie });
    assert.equal(refusedPrivate.status, 403);
  });
});
