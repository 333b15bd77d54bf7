import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUTH_TIME_TOLERANCE_S, checkRoute, mergeStepUps, readingsOf, stepUpChallenge, stepUpMet, type RoutePolicies, type RoutePrincipal, type RouteRule, type StepUp } from '../src/access/routepolicies.js';
import type { DevAccount } from '../src/devissuer/issuer.js';
import { HttpBrowser } from './support/browser.js';
import { validateEnv } from './support/config.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { REPO, freePort } from './support/proxy.js';
import { docBlock } from './support/docblock.js';
import { ALICE, type Echoed } from './support/stack.js';
import { table } from './support/table.js';

const JSON_ACCEPT = { accept: 'application/json' };
const dir = mkdtempSync(join(tmpdir(), 'portcullis-routes-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let written = 0;
/** Writes a rules file (the name's extension says its format) and returns its path. */
function rulesFile(text: string, name = `routes-${++written}.yaml`): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** The compiled rules of a file, or the configuration's errors and warnings. */
function load(text: string, name?: string, env: Record<string, string> = {}): { policies?: RoutePolicies; errors: string[]; warnings: string[] } {
  const v = validateEnv({ OAUTH2_PROXY_ROUTES_FILE: rulesFile(text, name), ...env });
  return v.ok ? { policies: v.config.routePolicies, errors: [], warnings: v.warnings } : { errors: v.errors, warnings: v.warnings };
}

function policiesOf(text: string): RoutePolicies {
  const { policies, errors } = load(text);
  assert.deepEqual(errors, []);
  return policies!;
}

const TABLE_RULES = `
rules:
  - id: help
    match: { path: /admin/help }
    allow: anonymous
  - id: admin
    match: { path: /admin }
    require: { groups: [admins] }
  - id: public
    match: { path: /public/ }
    allow: anonymous
  - id: docs-read
    match: { path: /docs, methods: [get, HEAD] }
    allow: anonymous
  - id: docs
    match: { path: /docs }
    require: { groups: [writers] }
  - id: report
    match: { regex: '^/reports/[0-9]+$' }
    allow: authenticated
  - id: ci
    match: { regex: '(?i)/ci(/.*)?' }
    require: { groups: [ci] }
`;

test('which rule decides: first match, prefixes on segment boundaries, anchored regexes, methods, ambiguous paths', () => {
  const p = policiesOf(TABLE_RULES);
  const said = ([method, path]: [string | undefined, string]): string => {
    const d = p.decide(method, path);
    if (!d) return 'global';
    if (d.anonymous) return 'anonymous';
    return d.rules.length ? d.rules.map((r) => r.id).join('+') : 'login';
  };
  table<[string | undefined, string], string>([
    // prefixes cover the path and what is under it, never a longer name
    [['GET', '/admin'], 'admin'], [['GET', '/admin/'], 'admin'], [['GET', '/admin/users'], 'admin'],
    [['GET', '/administrator'], 'global'], [['GET', '/admin-old'], 'global'], [['GET', '/'], 'global'],
    // first match wins: the narrower anonymous rule comes first
    [['GET', '/admin/help'], 'anonymous'], [['GET', '/admin/help/faq'], 'anonymous'], [['GET', '/admin/helpdesk'], 'admin'],
    // a prefix written with its slash needs it
    [['GET', '/public'], 'global'], [['GET', '/public/a.css'], 'anonymous'],
    // regexes match the whole path
    [['GET', '/reports/42'], 'report'], [['GET', '/reports/42/x'], 'global'], [['GET', '/x/reports/42'], 'global'], [['GET', '/reports/'], 'global'],
    // paths are case-sensitive unless the regex says (?i)
    [['GET', '/ADMIN'], 'global'], [['GET', '/CI/run'], 'ci'], [['GET', '/ci'], 'ci'],
    // methods compare exactly (upper-cased at start-up); other methods go on down the list
    [['GET', '/docs/x'], 'anonymous'], [['HEAD', '/docs'], 'anonymous'], [['POST', '/docs'], 'docs'], [['OPTIONS', '/docs'], 'docs'],
    // method unknown (forward-auth without a method header): whatever any method could meet
    [[undefined, '/docs'], 'docs'], [[undefined, '/admin/help'], 'anonymous'], [[undefined, '/admin'], 'admin'], [[undefined, '/zzz'], 'global'],
    // decoded as skip_auth_routes decodes: every server reads /%61dmin as /admin
    [['GET', '/%61dmin'], 'admin'], [['GET', '/%70ublic/x'], 'anonymous'],
    // a path servers read differently is held to every reading's rule, and never anonymous
    [['GET', '/admin;x'], 'admin'], [['GET', '//admin'], 'admin'], [['GET', '/admin%2Fx'], 'admin'], [['GET', '/%2561dmin'], 'admin'],
    [['GET', '/admin/help;x'], 'admin'], [['GET', '/public/x;y'], 'login'], [['GET', '/admin%5cx'], 'admin'], [['GET', '/admin%5chelp'], 'login'],
    [['GET', '/x;y'], 'global'], [['GET', '/%2561dmin/%252e%252e/public'], 'admin'], [['GET', '/%2f/%2561dmin/%252e%252e/public'], 'admin'],
  ], said);
});

test('the readings of an ambiguous path: as sent, decoded once and to the end, each also flattened and with dots resolved', () => {
  table<string, string[]>([
    ['/admin;x', ['/admin;x', '/admin']],
    ['/%2561dmin', ['/%2561dmin', '/%61dmin', '/admin']],
    ['//a//b', ['//a//b', '/a/b']],
    ['/a%5cb', ['/a%5cb', '/a\\b', '/a/b']],
    ['/a%2F..%2Fadmin', ['/a%2F..%2Fadmin', '/a/../admin', '/admin']],
    ['/a/%ff', ['/a/%ff', '/a/\ufffd']],
    // Found by test/prop-path.test.ts: decoded twice (and slashes merged), a prefix router reads them under /admin.
    ['/%2561dmin/%252e%252e/public', ['/%2561dmin/%252e%252e/public', '/%61dmin/%2e%2e/public', '/admin/../public', '/public']],
    ['/%2f/%2561dmin/%252e%252e/public', ['/%2f/%2561dmin/%252e%252e/public', '///%61dmin/%2e%2e/public', '/%61dmin/%2e%2e/public', '///admin/../public', '/admin/../public', '/public']],
  ], readingsOf);
});

const rule = (id: string, require: RouteRule['require']): RouteRule => ({ id, anonymous: false, prefix: '/', require });

test('what a rule requires of a signed-in user: who first, then how and when they signed in', () => {
  const now = 2_000_000_000;
  const groups = rule('g', { groups: new Set(['admins', 'Domain Admins']) });
  const domains = rule('d', { emailDomains: ['example.com', '.partner.test'] });
  const claims = rule('c', { claims: [{ name: 'department', values: new Set(['eng']) }, { name: 'level', values: new Set(['3', 'true']) }] });
  const mfa = rule('m', { stepUp: { acrValues: ['urn:mfa', 'urn:hwk'] } });
  const recent = rule('r', { stepUp: { maxAgeS: 300 } });
  const both = rule('b', { groups: new Set(['admins']), stepUp: { acrValues: ['urn:mfa'] } });
  const who = (o: Partial<RoutePrincipal>): RoutePrincipal => ({ groups: [], ...o });
  const said = ([r, p]: [RouteRule, RoutePrincipal]): string => {
    const v = checkRoute([r], p, now);
    return v.allowed ? 'allowed' : v.code;
  };
  table<[RouteRule, RoutePrincipal], string>([
    [[groups, who({ groups: ['devs', 'admins'] })], 'allowed'],
    [[groups, who({ groups: ['Domain'] })], 'ROUTE_NOT_ALLOWED'],
    [[groups, who({ groups: ['Admins'] })], 'ROUTE_NOT_ALLOWED'],
    [[groups, who({ groups: ['Domain Admins'] })], 'allowed'],
    [[domains, who({ email: 'a@Example.COM' })], 'allowed'],
    [[domains, who({ email: 'a@eu.partner.test' })], 'allowed'],
    [[domains, who({ email: 'a@partner.test' })], 'ROUTE_NOT_ALLOWED'],
    [[domains, who({ email: 'a@evil.test@example.com' })], 'ROUTE_NOT_ALLOWED'],
    [[domains, who({})], 'ROUTE_NOT_ALLOWED'],
    [[claims, who({ claims: { department: ['sales', 'eng'], level: ['3'] } })], 'allowed'],
    [[claims, who({ claims: { department: ['eng'], level: ['true'] } })], 'allowed'],
    [[claims, who({ claims: { department: ['eng'] } })], 'ROUTE_NOT_ALLOWED'],
    [[claims, who({ claims: { department: ['Eng'], level: ['3'] } })], 'ROUTE_NOT_ALLOWED'],
    [[claims, who({})], 'ROUTE_NOT_ALLOWED'],
    [[mfa, who({ acr: 'urn:hwk' })], 'allowed'],
    [[mfa, who({ acr: 'urn:pwd' })], 'STEP_UP_REQUIRED'],
    [[mfa, who({})], 'STEP_UP_REQUIRED'],
    [[recent, who({ authTime: now - 10 })], 'allowed'],
    [[recent, who({ authTime: now - 300 - AUTH_TIME_TOLERANCE_S })], 'allowed'],
    [[recent, who({ authTime: now - 301 - AUTH_TIME_TOLERANCE_S })], 'STEP_UP_REQUIRED'],
    [[recent, who({})], 'STEP_UP_REQUIRED'],
    // a stronger sign-in would not change a refusal: refused first
    [[both, who({ groups: ['devs'] })], 'ROUTE_NOT_ALLOWED'],
    [[both, who({ groups: ['admins'] })], 'STEP_UP_REQUIRED'],
    [[both, who({ groups: ['admins'], acr: 'urn:mfa' })], 'allowed'],
    [[rule('a', undefined), who({})], 'allowed'],
  ], said);
  const two = checkRoute([rule('x', { groups: new Set(['a']) }), rule('y', { groups: new Set(['b']) })], who({ groups: ['a'] }), now);
  assert.equal(two.allowed ? '' : two.detail, 'rule y: groups [a] include none of [b]', 'every rule a path is held to must pass');
});

test('the step-up a login asks for: the rules the road will check for that method and path, as one', () => {
  const p = policiesOf(`
rules:
  - id: pay
    match: { path: /pay, methods: [POST] }
    require: { acr_values: [hwk] }
  - id: admin
    match: { path: /admin }
    require: { acr_values: [mfa, hwk], max_age: 600 }
  - id: admin-ish
    match: { regex: '/admin;.*' }
    require: { acr_values: [hwk, otp], max_age: 60 }
  - id: open
    match: { path: /open }
    allow: anonymous
`);
  table<[string, string], unknown>([
    [['GET', '/pay'], undefined],
    [['POST', '/pay'], { acrValues: ['hwk'] }],
    [['GET', '/admin/x'], { acrValues: ['mfa', 'hwk'], maxAgeS: 600 }],
    // read as /admin by some servers, as itself by others: an acr both rules accept, the shorter max_age
    [['GET', '/admin;x'], { acrValues: ['hwk'], maxAgeS: 60 }],
    [['GET', '/open'], undefined],
    [['GET', '/elsewhere'], undefined],
  ], ([method, path]) => p.stepUpFor(method, path));
  table<StepUp[], StepUp | undefined>([
    [[], undefined],
    [[{ maxAgeS: 5 }], { maxAgeS: 5 }],
    [[{ acrValues: ['a', 'b'] }, { maxAgeS: 60 }, { acrValues: ['b', 'c'], maxAgeS: 30 }], { acrValues: ['b'], maxAgeS: 30 }],
    [[{ acrValues: ['a'] }, { acrValues: ['b'] }], { acrValues: [] }],
  ], mergeStepUps);
  assert.equal(stepUpMet({ acr: 'a' }, { acrValues: [] }, 0), false, 'no acr in common: no sign-in meets it');
});

test('the RFC 9470 challenge', () => {
  table([
    [{ acrValues: ['urn:mfa'] }, 'Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:mfa"'],
    [{ maxAgeS: 5 }, 'Bearer error="insufficient_user_authentication", error_description="More recent authentication is required", max_age="5"'],
    [{ acrValues: ['a', 'b'], maxAgeS: 60 }, 'Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="a b", max_age="60"'],
  ], stepUpChallenge);
});

test('a bad rules file stops start-up, naming the file, the rule, the field and the form expected', () => {
  const one = (body: string): string => `rules:\n  - ${body.replace(/\n/g, '\n    ')}\n`;
  const rows: Array<[text: string, message: string, name?: string]> = [
    [one('/admin'), 'rule 1 (line 2), the rule: got "/admin", expected a mapping with match and either allow or require'],
    [one('allow: anonymous'), 'rule 1 (line 2), match: got nothing, expected a mapping with path'],
    [one('match: { path: /a, regex: ^/a }\nallow: anonymous'), 'rule 1 (line 2), match: got {"path":"/a","regex":"^/a"}, expected exactly one of path'],
    [one('match: { path: admin }\nallow: anonymous'), 'rule 1 (line 2), match.path: got "admin", expected a path prefix starting with /'],
    [one('match: { path: /a%20b }\nallow: anonymous'), 'match.path: got "/a%20b", expected a path prefix starting with /, written decoded'],
    [one('match: { path: "/a?x=1" }\nallow: anonymous'), 'match.path: got "/a?x=1"'],
    [one('match: { path: /a/../b }\nallow: anonymous'), 'match.path: got "/a/../b"'],
    [one('match: { paht: /a }\nallow: anonymous'), 'match.paht: got "paht", expected a known field (did you mean match.path?)'],
    [one('match: { regex: "^/(" }\nallow: anonymous'), 'match.regex: got "^/(", expected a regular expression that compiles'],
    [one('match: { regex: "^/[[:alpha:]]+" }\nallow: anonymous'), 'expected a regular expression that compiles (POSIX classes'],
    [one('match: { path: /a, methods: ["GE T"] }\nallow: anonymous'), 'match.methods: got ["GE T"], expected a list of HTTP methods'],
    [one('match: { path: /a }'), 'allow/require: got nothing, expected exactly one of allow (anonymous or authenticated) and require'],
    [one('match: { path: /a }\nallow: anonymous\nrequire: { groups: [a] }'), 'allow/require: got "anonymous", expected exactly one of allow'],
    [one('match: { path: /a }\nallow: public'), 'allow: got "public", expected anonymous (no login) or authenticated'],
    [one('match: { path: /a }\nrequire: {}'), 'require: got {}, expected a mapping with at least one of groups, email_domains, claims, provider, acr_values, max_age'],
    [one('match: { path: /a }\nrequire: { provider: [] }'), 'require.provider: got [], expected a list of provider ids'],
    [one('match: { path: /a }\nrequire: { provider: { id: staff } }'), 'require.provider: got {"id":"staff"}, expected a list of provider ids'],
    [one('match: { path: /a }\nrequire: { grups: [a] }'), 'require.grups: got "grups", expected a known field (did you mean require.groups?)'],
    [one('match: { path: /a }\nrequire: { groups: [] }'), 'require.groups: got [], expected a list of group names'],
    [one('match: { path: /a }\nrequire: { email_domains: ["https://x.example/"] }'), 'require.email_domains: got ["https://x.example/"], expected a list of email domains'],
    [one('match: { path: /a }\nrequire: { claims: { department: [] } }'), 'require.claims.department: got [], expected a list of accepted values'],
    [one('match: { path: /a }\nrequire: { claims: { department: [{ a: 1 }] } }'), 'require.claims.department: got [{"a":1}]'],
    [one('match: { path: /a }\nrequire: { claims: [department] }'), 'require.claims: got ["department"], expected a mapping of claim names'],
    [one('match: { path: /a }\nrequire: { acr_values: \'a"b\' }'), 'require.acr_values: got "a\\"b", expected a list of acr values'],
    [one('match: { path: /a }\nrequire: { max_age: 15m }'), 'rule 1 (line 2), require.max_age: got "15m", expected a whole number of seconds of at least 1, such as 300'],
    [one('match: { path: /a }\nrequire: { max_age: 0 }'), 'require.max_age: got 0, expected a whole number of seconds'],
    [one('match: { path: /a }\nrequire: { max_age: 1.5 }'), 'require.max_age: got 1.5, expected a whole number of seconds'],
    [one('id: 5\nmatch: { path: /a }\nallow: anonymous'), 'rule 1 (line 2), id: got 5, expected a name of 1 to 100 characters'],
    [one('id: x\nmatch: { path: /a }\nallow: anonymous\nmethods: [GET]'), 'rule 1 (id "x", line 2), methods: got "methods", expected a known field (did you mean match.methods?)'],
    [`${one('id: a\nmatch: { path: /a }\nallow: anonymous')}${one('id: a\nmatch: { path: /b }\nallow: anonymous').slice('rules:\n'.length)}`,
      'rule 2 (id "a", line 5), id: got "a", expected an id no other rule has (rule 1 has it too)'],
    ['- match: { path: /a }\n  allow: anonymous\n', 'expected a mapping with a list of rules'],
    ['rules: []\nversion: 1\n', 'unknown top-level key "version" (the file has one key, rules)'],
    ['rules:\n  - match: { path: /a\n', 'not valid YAML (line 3, column 1: Flow map in block collection must be sufficiently indented and end with a }'],
    [one('match: { path: /a }\nallow: anonymous\nallow: authenticated'), 'not valid YAML (line 4, column 5: Map keys must be unique'],
    ['{"rules": [}', 'not valid JSON (', 'bad.json'],
    ['{"rules": [{"match": {"path": "/a"}, "allow": "everyone"}]}', 'rule 1 (line 1), allow: got "everyone"', 'everyone.json'],
    ['{"rules": [], "rules": []}', 'not valid JSON (line 1, column 15: Map keys must be unique', 'twice.json'],
    ['{"rules": [{"match": {"path": "/a"}, "allow": "nobody"}]}', 'allow: got "nobody"', 'json-by-content.rules'],
  ];
  const failures: string[] = [];
  for (const [text, message, name] of rows) {
    const file = rulesFile(text, name);
    const v = validateEnv({ OAUTH2_PROXY_ROUTES_FILE: file });
    const errors = v.ok ? [] : v.errors;
    const prefix = `OAUTH2_PROXY_ROUTES_FILE (${file}): `;
    const mine = errors.filter((e) => e.startsWith(prefix)).map((e) => e.slice(prefix.length));
    if (mine.length !== 1 || !mine[0]!.includes(message)) failures.push(`${JSON.stringify(text)} → ${JSON.stringify(errors)}, expected one error with ${JSON.stringify(message)}`);
  }
  assert.deepEqual(failures, []);

  // Every problem at once, with the other options' problems; the spelling the user used.
  const many = validateEnv({ OAUTH2_PROXY_ROUTES_FILE: rulesFile(one('match: { path: a }\nallow: x')), OAUTH2_PROXY_COOKIE_SECURE: 'maybe' });
  assert.equal(many.ok, false);
  const text = many.ok ? '' : many.errors.join('\n');
  assert.match(text, /match\.path: got "a"/);
  assert.match(text, /allow: got "x"/);
  assert.match(text, /OAUTH2_PROXY_COOKIE_SECURE: got "maybe"/);
  const missing = validateEnv({ OAUTH2_PROXY_ROUTES_FILE: join(dir, 'nope.yaml') });
  assert.match(missing.ok ? '' : missing.errors.join('\n'), /OAUTH2_PROXY_ROUTES_FILE: got ".*nope\.yaml", expected a readable YAML or JSON rules file \(ENOENT\)/);
});

test('start-up warnings: a rule that can never match, an empty list, step-up without an issuer to vouch for it', () => {
  const shadowed = load('rules:\n  - match: { path: / }\n    allow: authenticated\n  - id: admin\n    match: { path: /admin, methods: [GET] }\n    require: { groups: [admins] }\n  - match: { regex: ^/x$ }\n    allow: anonymous\n');
  assert.deepEqual(shadowed.errors, []);
  assert.ok(shadowed.warnings.some((w) => /rule admin can never match: rule #1 \(path \/\) comes first/.test(w)), shadowed.warnings.join('\n'));
  const narrowerFirst = load('rules:\n  - match: { path: /admin, methods: [GET] }\n    allow: authenticated\n  - match: { path: /admin }\n    require: { groups: [admins] }\n');
  assert.ok(!narrowerFirst.warnings.some((w) => /can never match/.test(w)), 'a rule for fewer methods first leaves the others to the next');
  assert.ok(load('rules: []\n').warnings.some((w) => /the rules list is empty/.test(w)));
  const noIssuer = load('rules:\n  - match: { path: /a }\n    require: { acr_values: mfa }\n', undefined, {
    OAUTH2_PROXY_OIDC_ISSUER_URL: '', OAUTH2_PROXY_LOGIN_URL: 'https://idp.example/auth', OAUTH2_PROXY_REDEEM_URL: 'https://idp.example/token', OAUTH2_PROXY_VALIDATE_URL: 'https://idp.example/userinfo',
  });
  assert.deepEqual(noIssuer.errors, []);
  assert.ok(noIssuer.warnings.some((w) => /acr_values or max_age, which only a verified ID token tells/.test(w)), noIssuer.warnings.join('\n'));
});

test('a good file in either format; the claims rules read are the ones sessions keep', () => {
  const yaml = load(`rules:
  - id: eng
    match: { path: /eng }
    require:
      claims: { department: [eng, 7, true], team: platform }
      acr_values: "urn:mfa urn:hwk"
      max_age: 600
  - match: { path: /ops }
    require: { claims: { department: ops } }
`);
  assert.deepEqual(yaml.errors, []);
  const eng = yaml.policies!.rules[0]!;
  assert.deepEqual(eng.require?.claims?.map((c) => [c.name, [...c.values]]), [['department', ['eng', '7', 'true']], ['team', ['platform']]]);
  assert.deepEqual(eng.require?.stepUp, { acrValues: ['urn:mfa', 'urn:hwk'], maxAgeS: 600 });
  assert.deepEqual(yaml.policies!.claimNames, ['department', 'team']);
  const v = validateEnv({ OAUTH2_PROXY_ROUTES_FILE: rulesFile('{"rules": [{"match": {"path": "/eng"}, "require": {"claims": {"department": ["eng"]}}}]}', 'r.json') });
  assert.ok(v.ok);
  assert.deepEqual(v.config.provider.keptClaims, ['department']);
  const none = validateEnv({});
  assert.ok(none.ok);
  assert.equal(none.config.routePolicies, undefined);
  assert.equal(none.config.provider.keptClaims, undefined, 'no rules file: sessions keep no extra claims');
});

const ALICE_ENG: DevAccount = { ...ALICE, claims: { department: 'eng' } };
const BOB: DevAccount = { sub: 'bob-0002', email: 'bob@partner.test', email_verified: true, preferred_username: 'bob', groups: ['staff'], claims: { department: ['sales', 'support'] } };

const E2E_RULES = `
rules:
  - id: public
    match: { path: /public }
    allow: anonymous
  - id: status
    match: { regex: '^/status/[a-z]+$' }
    allow: anonymous
  - id: docs-read
    match: { path: /docs, methods: [GET] }
    allow: anonymous
  - id: docs-delete
    match: { path: /docs, methods: [DELETE] }
    require: { groups: [admins] }
  - id: admin-help
    match: { path: /admin/help }
    allow: anonymous
  - id: admin
    match: { path: /admin }
    require: { groups: [admins] }
  - id: partners
    match: { path: /partners }
    require: { email_domains: [partner.test] }
  - id: eng
    match: { path: /eng }
    require: { claims: { department: [eng] } }
`;

describe('per-route policies, end to end with the real issuer', () => {
  let peers: Peers;
  let proxy: InProcess;
  let strict: InProcess;
  let untrusting: InProcess;
  const alice = new HttpBrowser();
  const bob = new HttpBrowser();
  const nobody = new HttpBrowser();
  before(async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    peers = await startPeers({ ports, accounts: [ALICE_ENG, BOB] });
    const file = rulesFile(E2E_RULES);
    const env = {
      ...peers.env, OAUTH2_PROXY_ROUTES_FILE: file, OAUTH2_PROXY_EMAIL_DOMAINS: 'example.com,partner.test',
      OAUTH2_PROXY_SKIP_AUTH_ROUTES: '^/skipped$,^/admin/', OAUTH2_PROXY_REVERSE_PROXY: 'true',
    };
    proxy = await startInProcess(env, ports[0]);
    // The same sessions (cookie name and secret), stricter global rules: partner.test is out.
    strict = await startInProcess({ ...env, OAUTH2_PROXY_EMAIL_DOMAINS: 'example.com' }, ports[1]);
    // Forwarding headers believed from 192.0.2.0/24 only: this test's loopback peer is not trusted.
    untrusting = await startInProcess({ ...env, OAUTH2_PROXY_TRUSTED_PROXY_IPS: '192.0.2.0/24' }, ports[2]);
    peers.issuer.loginAs(ALICE_ENG.sub);
    assert.equal((await alice.navigate(`${proxy.url}/oauth2/start?rd=/`)).status, 200);
    peers.issuer.loginAs(BOB.sub);
    assert.equal((await bob.navigate(`${proxy.url}/oauth2/start?rd=/`)).status, 200);
  });
  after(async () => {
    for (const p of [proxy, strict, untrusting]) await p?.close();
    await peers?.close();
  });

  const api = (b: HttpBrowser, path: string, o: { method?: string; headers?: Record<string, string>; base?: string } = {}) =>
    b.request(`${o.base ?? proxy.url}${path}`, { method: o.method, headers: { ...JSON_ACCEPT, ...o.headers } });

  test('anonymous: no login, and client copies of identity headers are still removed', async () => {
    for (const path of ['/public', '/public/a/b.css', '/public?x=/admin', '/status/ok', '/admin/help', '/docs/x']) {
      const res = await api(nobody, path, { headers: { 'x-forwarded-user': 'mallory', 'x-forwarded-groups': 'admins' } });
      assert.equal(res.status, 200, path);
      const seen = JSON.parse(res.body) as Echoed;
      assert.equal(seen.url, path);
      assert.equal(seen.headers['x-forwarded-user'], undefined);
      assert.equal(seen.headers['x-forwarded-groups'], undefined);
    }
    // A signed-in user on an anonymous route is forwarded as themselves.
    assert.equal((JSON.parse((await api(bob, '/public')).body) as Echoed).headers['x-forwarded-email'], BOB.email);
    // Only the path under the prefix, only the whole path for a regex, only the methods listed.
    for (const [method, path] of [['GET', '/publicity'], ['GET', '/status/ok/x'], ['GET', '/x/status/ok'], ['POST', '/docs'], ['GET', '/admin/helpdesk']]) {
      assert.equal((await api(nobody, path!, { method })).status, 401, `${method} ${path}`);
    }
    const page = await nobody.request(`${proxy.url}/publicity`);
    assert.equal(page.status, 302, 'a browser is sent to sign in');
  });

  test('groups: /admin for admins only, with the page that says who is signed in', async () => {
    assert.equal((await api(alice, '/admin/users')).status, 200);
    const refused = await api(bob, '/admin/users');
    assert.equal(refused.status, 403);
    assert.deepEqual(JSON.parse(refused.body), { error: 'ROUTE_NOT_ALLOWED', message: 'Your account may use this application, but not this part of it. Sign out and sign in with another account, or ask for access.', signedInAs: BOB.email, signOutUrl: '/oauth2/sign_out?rd=%2Foauth2%2Fsign_in%3Fprompt%3Dlogin' });
    const page = await bob.request(`${proxy.url}/admin`);
    assert.equal(page.status, 403);
    assert.match(page.body, /ROUTE_NOT_ALLOWED/);
    assert.match(page.body, /You are signed in as <strong>bob@partner\.test<\/strong>/);
    assert.ok(proxy.logs.lines.some((l) => l.event === 'route_denied' && /rule admin: groups \[staff\] include none of \[admins\]/.test(String(l.detail))));
    assert.equal((await api(bob, '/')).status, 200, 'no rule: the global rules, which Bob passes');
  });

  test('email domains and claim values (a claim from userinfo, kept in the session because a rule reads it)', async () => {
    assert.equal((await api(bob, '/partners/q')).status, 200);
    assert.equal((await api(alice, '/partners/q')).status, 403);
    assert.equal((await api(alice, '/eng')).status, 200);
    const sales = await api(bob, '/eng');
    assert.equal(sales.status, 403);
    assert.ok(proxy.logs.lines.some((l) => l.event === 'route_denied' && /claim department \[sales, support\] has none of \[eng\]/.test(String(l.detail))));
  });

  test('the query string never matters, and no spelling of /admin escapes its rule', async () => {
    assert.equal((await api(bob, '/admin?x=/public')).status, 403);
    assert.equal((await api(bob, '/admin?next=/admin/help')).status, 403);
    assert.equal((await api(nobody, '/admin?x=/public')).status, 401);
    assert.equal((await api(nobody, '/public?x=/admin')).status, 200);
    for (const path of ['/admin;x', '/admin;jsessionid=1/users', '//admin', '/%61dmin', '/admin%2fusers', '/%2561dmin', '/admin/help;x', '/admin%5cusers']) {
      assert.equal((await api(bob, path)).status, 403, `Bob at ${path}`);
      assert.equal((await api(alice, path)).status, 200, `Alice at ${path}`);
    }
    // (A %2e%2e spelling is covered in forward.test.ts: this client's URL parser resolves it first.)
    for (const path of ['/admin%2f..', '/public/..%2fadmin', '/public/..;/admin']) {
      assert.equal((await api(bob, path)).status, 400, `${path} is refused before any rule`);
    }
    // A path some server reads otherwise is never anonymous.
    assert.equal((await api(nobody, '/public;x')).status, 401);
    assert.equal((await api(nobody, '//public')).status, 401);
    assert.equal((await api(nobody, '/public/x;y')).status, 401, 'even when every reading is anonymous');
  });

  test('no rule: the global rules decide, skip_auth_routes included; a rule that matches overrides skip_auth_routes', async () => {
    assert.equal((await api(nobody, '/skipped')).status, 200, 'skip_auth_routes where no rule matches');
    assert.equal((await api(nobody, '/admin/x')).status, 401, 'skip_auth_routes ^/admin/ does not open what the admin rule covers');
    assert.equal((await api(nobody, '/elsewhere')).status, 401);
  });

  test('the global rules hold on every route, before the rule\'s own requirements', async () => {
    // Bob's session, at a proxy whose email_domains leave out partner.test: the partners rule would
    // let him in, the global rules do not.
    const res = await api(bob, '/partners', { base: strict.url });
    assert.equal(res.status, 403);
    assert.equal(JSON.parse(res.body).error, 'EMAIL_NOT_ALLOWED');
    assert.equal((await api(alice, '/admin', { base: strict.url })).status, 200);
  });

  test('forward-auth: the request named by a trusted peer adds its rule; nothing makes /oauth2/auth anonymous', async () => {
    const auth = (b: HttpBrowser, headers: Record<string, string>, base = proxy.url) => api(b, '/oauth2/auth', { headers, base });
    assert.equal((await auth(alice, { 'x-forwarded-uri': '/admin?x=1' })).status, 202);
    assert.equal((await auth(bob, { 'x-forwarded-uri': '/admin/users?x=/public' })).status, 403);
    assert.equal(JSON.parse((await auth(bob, { 'x-original-uri': '/admin' })).body).error, 'ROUTE_NOT_ALLOWED');
    assert.equal((await auth(bob, { 'x-forwarded-uri': '/admin;x' })).status, 403);
    assert.equal((await auth(alice, { 'x-forwarded-uri': '/partners' })).status, 403);
    assert.equal((await auth(alice, { 'x-forwarded-uri': '/public', 'x-original-uri': '/partners' })).status, 403, 'every URI named is checked');
    assert.equal((await auth(bob, { 'x-forwarded-uri': '/public/../admin' })).status, 400);
    assert.equal((await auth(bob, { 'x-forwarded-uri': 'http://app.example/admin' })).status, 400);
    // Methods: told, or every rule any method could meet.
    assert.equal((await auth(bob, { 'x-forwarded-uri': '/docs', 'x-forwarded-method': 'GET' })).status, 202);
    assert.equal((await auth(bob, { 'x-forwarded-uri': '/docs', 'x-forwarded-method': 'DELETE' })).status, 403);
    assert.equal((await auth(bob, { 'x-forwarded-uri': '/docs', 'x-original-method': 'delete' })).status, 403);
    assert.equal((await auth(bob, { 'x-forwarded-uri': '/docs' })).status, 403);
    // An anonymous rule never answers for a request without a session.
    assert.equal((await auth(nobody, { 'x-forwarded-uri': '/public' })).status, 401);
    assert.equal((await auth(nobody, {})).status, 401);
    assert.equal((await auth(bob, {})).status, 202, 'no request named: the global rules');
    // From a peer that is not trusted, the headers are not believed (and cannot open anything either).
    assert.equal((await auth(bob, { 'x-forwarded-uri': '/admin' }, untrusting.url)).status, 202);
    assert.equal((await auth(bob, { 'x-forwarded-uri': '/public/../admin' }, untrusting.url)).status, 202);
    assert.equal((await auth(nobody, { 'x-forwarded-uri': '/public' }, untrusting.url)).status, 401);
    // Which an operator is told, once: a forgotten reverse_proxy would leave /admin to the global rules.
    assert.deepEqual(untrusting.logs.lines.filter((l) => l.event === 'forward_auth_rules_skipped').map((l) => l.reason), ['untrusted_peer']);
    assert.deepEqual(proxy.logs.lines.filter((l) => l.event === 'forward_auth_rules_skipped').map((l) => l.reason), ['no_uri']);
  });
});

test('the docs\' file of every field is read without a problem, and its error example is what a typo gives', () => {
  const fields = [, docBlock('routes-fields', 'yaml')] as const;
  const error = [, docBlock('routes-error', 'text').trim()] as const;
  const good = load(fields[1]!);
  assert.deepEqual([good.errors, good.warnings], [[], []]);
  assert.equal(good.policies!.rules.length, 4);
  const typo = fields[1]!.replace('max_age: 900 ', 'max_age: 15m ');
  const file = rulesFile(typo, 'routes-readme-typo.yaml');
  const v = validateEnv({ OAUTH2_PROXY_ROUTES_FILE: file });
  assert.deepEqual(v.ok ? [] : v.errors, [error[1]!.replace('/etc/portcullis/routes.yaml', file)]);
});

describe('the docs\' rules file (docs/access.md), as written there', () => {
  let peers: Peers;
  let proxy: InProcess;
  before(async () => {
    const block = [, docBlock('routes-example', 'yaml')] as const;
    peers = await startPeers({ accounts: [ALICE, BOB] });
    proxy = await startInProcess({ ...peers.env, OAUTH2_PROXY_ROUTES_FILE: rulesFile(block[1]!, 'readme-routes.yaml') }, peers.port);
  });
  after(async () => { await proxy?.close(); await peers?.close(); });

  test('/admin to one group, the rest to everyone signed in (oauth2-proxy issue #3259)', async () => {
    const alice = new HttpBrowser();
    peers.issuer.loginAs(ALICE.sub);
    assert.equal((await alice.navigate(`${proxy.url}/oauth2/start?rd=/admin`)).status, 200);
    const bob = new HttpBrowser();
    peers.issuer.loginAs(BOB.sub);
    assert.equal((await bob.navigate(`${proxy.url}/oauth2/start?rd=/`)).status, 200);
    const get = (b: HttpBrowser, path: string) => b.request(`${proxy.url}${path}`, { headers: JSON_ACCEPT });
    assert.equal((await get(alice, '/admin/settings')).status, 200);
    assert.equal((await get(bob, '/admin/settings')).status, 403);
    assert.equal((await get(bob, '/admin?rd=/')).status, 403);
    assert.equal((await get(bob, '/reports')).status, 200);
    assert.equal((await get(alice, '/reports')).status, 200);
    assert.equal((await get(new HttpBrowser(), '/reports')).status, 401);
    assert.equal((await new HttpBrowser().request(`${proxy.url}/admin`)).headers.location, '/oauth2/sign_in?rd=%2Fadmin');
  });
});
