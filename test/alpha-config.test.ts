// The alpha configuration's reader as a table: each file (with legacy options beside it) and the
// problems it must report, every one with its path, its line and the form expected; then what a
// valid file gives (the same Config as the legacy options would), several providers included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeSources } from '../src/config/load.js';
import { validateAlphaConfig } from '../src/config/alpha/read.js';
import { validateConfig, type Config } from '../src/config/validate.js';
import { readFileSync } from 'node:fs';
import { makeCertificates } from './support/tls.js';

const BASE_ENV = { OAUTH2_PROXY_COOKIE_SECRET: 'x'.repeat(32), OAUTH2_PROXY_EMAIL_DOMAINS: '*' };
const PROVIDER = `providers:
  - id: staff
    provider: oidc
    clientID: client
    clientSecret: secret
    oidcConfig:
      issuerURL: https://issuer.example.com/
`;
const FILES: Record<string, string> = { '/etc/secret': 'from-file\n' };
const readFile = (p: string): string => {
  const v = FILES[p];
  if (v === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
  return v;
};

function read(yaml: string, o: { env?: Record<string, string>; flags?: Record<string, string | string[]>; config?: Record<string, string | string[]>; readFile?: (p: string) => string } = {}) {
  const raw = mergeSources({ flags: o.flags ?? {}, env: { ...BASE_ENV, ...o.env }, config: o.config, dotenv: {} });
  return validateAlphaConfig(raw, { text: yaml, file: 'alpha.yaml' }, o.readFile ?? readFile, { SECRET_VAR: 'from-env' });
}

function ok(yaml: string, o: Parameters<typeof read>[1] = {}): { config: Config; warnings: string[] } {
  const r = read(yaml, o);
  assert.ok(r.ok, `expected a valid configuration, got:\n${r.ok ? '' : r.errors.join('\n')}`);
  return r;
}

/** [case, file, legacy options, every message expected (each a list of fragments one error holds)] */
const ERRORS: ReadonlyArray<readonly [string, string, Parameters<typeof read>[1], readonly (readonly string[])[]]> = [
  ['not YAML', 'server: [', {}, [['alpha.yaml is not valid YAML', 'line 1']]],
  ['unknown top-level key names the closest', `upstream:\n  upstreams: []\n${PROVIDER}`, {}, [['upstream (line 1 of alpha.yaml) is not a key', 'did you mean upstreamConfig?']]],
  ['unknown nested key names the closest', `${PROVIDER}      issuerUrl: https://x.example/\n`, {}, [['providers[0].oidcConfig.issuerUrl (line 8 of alpha.yaml)', 'did you mean issuerURL?']]],
  ['wrong kinds of value', `server:\n  bindAddress: [a]\nupstreamConfig:\n  proxyRawPath: maybe\n  upstreams:\n    - id: a\n      path: /\n      uri: http://127.0.0.1:1\n      timeout: soon\n      staticCode: 2.5\n${PROVIDER}`, {}, [
    ['server.bindAddress (line 2 of alpha.yaml): got a list, expected a string'],
    ['upstreamConfig.proxyRawPath (line 4 of alpha.yaml): got "maybe", expected true or false'],
    ['upstreamConfig.upstreams[0].timeout (line 9 of alpha.yaml)', 'expected a duration'],
    ['upstreamConfig.upstreams[0].staticCode (line 10 of alpha.yaml)', 'expected a whole number'],
  ]],
  ['a provider type other than oidc, and its own section', `providers:\n  - id: gh\n    provider: github\n    clientID: c\n    clientSecret: s\n    githubConfig:\n      org: acme\n`, {}, [
    ['providers[0].provider (line 3 of alpha.yaml): got "github", expected oidc'],
    ['providers[0].githubConfig (line 6 of alpha.yaml) is not supported', 'GitHub is not an OpenID Connect issuer'],
  ]],
  ['an issuer URL that is not one, with its path and line', PROVIDER.replace('https://issuer.example.com/', 'not a url'), {}, [['providers[0].oidcConfig.issuerURL (line 7 of alpha.yaml): got "not a url", expected an absolute http:// or https:// URL']]],
  ['the second provider incomplete, ids taken twice, and every problem at once', `${PROVIDER}  - id: staff\n    clientID: other\n  - clientID: third\n    clientSecret: s\n    oidcConfig:\n      issuerURL: http://partner.example.com/\n`, {}, [
    ['providers[1].clientSecret (line 8 of alpha.yaml) is required'],
    ['providers[1].oidcConfig.issuerURL (line 8 of alpha.yaml) is required'],
    ['providers[1].id (line 8 of alpha.yaml): the id "staff" is taken by providers[0].id (line 2)'],
    ['providers[2].id (line 10 of alpha.yaml) is required'],
    ['providers[2].oidcConfig.issuerURL (line 13 of alpha.yaml): got "http://partner.example.com/", expected an https:// URL'],
  ]],
  ['upstreams: id, path, uri, regex and static problems', `upstreamConfig:\n  upstreams:\n    - path: /\n      uri: ftp://x\n    - id: b\n      path: ^/(x\n      rewriteTarget: /$1\n      uri: http://127.0.0.1:1\n    - id: c\n      path: /s/\n      static: true\n      staticCode: 99\n    - id: d\n      path: /\n      uri: http://127.0.0.1:2\n    - id: e\n      path: /f/\n      uri: file:///nonexistent-dir-for-alpha/\n      rewriteTarget: /x\n    - { id: f, path: /dup/, uri: "http://127.0.0.1:3" }\n    - { id: f, path: /dup/, uri: "http://127.0.0.1:4" }\n${PROVIDER}`, {}, [
    ['upstreamConfig.upstreams[0] (line 3 of alpha.yaml): id is required'],
    ['upstreamConfig.upstreams[0].uri (line 4 of alpha.yaml): got "ftp://x", expected an http:// or https:// URL'],
    ['upstreamConfig.upstreams[1].path (line 6 of alpha.yaml): got "^/(x", expected a regular expression, because rewriteTarget is set'],
    ['upstreamConfig.upstreams[2].staticCode (line 12 of alpha.yaml): got 99, expected an HTTP status from 200 to 599'],
    ['upstreamConfig.upstreams[6].path (line 21 of alpha.yaml): got "/dup/", expected a route of its own'],
    ['upstreamConfig.upstreams[6].id (line 21 of alpha.yaml): got "f", expected an id of its own'],
    ['upstreamConfig.upstreams[4].uri (line 18 of alpha.yaml)', 'expected an existing directory'],
  ]],
  ['headers: a name that may not be injected, twice the same, a value with both sources, a bad base64 secret, a variable not set', `injectRequestHeaders:\n  - name: Host\n    values: [{ claimSource: { claim: user } }]\n  - name: X-A\n    values: [{ claimSource: { claim: user }, secretSource: { value: eA== } }]\n  - name: x-a\n    values: [{ claimSource: { claim: email } }]\n  - name: X-B\n    values: [{ secretSource: { value: "not base64!" } }]\n  - name: X-C\n    values: [{ secretSource: { fromEnv: UNSET_VAR } }]\n  - name: X-D\n    values: []\n${PROVIDER}`, {}, [
    ['injectRequestHeaders[0].name (line 2 of alpha.yaml): got "Host", expected a header name', 'not a framing or hop-by-hop header'],
    ['injectRequestHeaders[1].values[0] (line 5 of alpha.yaml): expected exactly one of claimSource and secretSource'],
    ['injectRequestHeaders[2].name (line 6 of alpha.yaml): got "x-a", expected a header not listed before'],
    ['injectRequestHeaders[3].values[0].secretSource.value (line 9 of alpha.yaml): got "(hidden)", expected the secret base64-encoded'],
    ['injectRequestHeaders[4].values[0].secretSource.fromEnv (line 11 of alpha.yaml): got "UNSET_VAR", expected the name of a variable that is set'],
    ['injectRequestHeaders[5].values (line 12 of alpha.yaml): expected at least one value'],
  ]],
  ['loginURLParameters: a parameter the login sets itself, a bad pattern, allow rules on prompt', `${PROVIDER}    loginURLParameters:\n      - name: redirect_uri\n        default: [x]\n      - name: ui_locales\n        allow: [{ pattern: "(" }]\n      - name: prompt\n        allow: [{ value: none }]\n`, {}, [
    ['providers[0].loginURLParameters[0].name (line 9 of alpha.yaml): got "redirect_uri", expected a parameter the login does not set itself'],
    ['providers[0].loginURLParameters[1].allow[0].pattern (line 12 of alpha.yaml): got "(", expected a regular expression'],
    ['providers[0].loginURLParameters[2].allow (line 14 of alpha.yaml)', 'expected no allow rules for prompt'],
  ]],
  ['Portcullis additions: domains of the wrong form', `${PROVIDER}    emailDomains: ["not a domain"]\n    homeDomains: ["*.example.com"]\n`, {}, [
    ['providers[0].emailDomains (line 8 of alpha.yaml): got "not a domain", expected email domains'],
    ['providers[0].homeDomains (line 9 of alpha.yaml)', 'expected domains without *'],
  ]],
  ['TLS: a secret with no source', `server:\n  secureBindAddress: 127.0.0.1:8443\n  tls:\n    cert: {}\n    key: { fromFile: /etc/secret }\n${PROVIDER}`, {}, [
    ['server.tls.cert (line 4 of alpha.yaml): got "nothing", expected exactly one of value (base64), fromFile and fromEnv'],
  ]],
  ['a header of a token the session would not keep (session_cookie_minimal)', `injectRequestHeaders:\n  - name: X-Token\n    values: [{ claimSource: { claim: access_token } }]\n${PROVIDER}`, { env: { OAUTH2_PROXY_SESSION_COOKIE_MINIMAL: 'true' } }, [
    ['session_cookie_minimal: got true, expected false while injectRequestHeaders / injectResponseHeaders (alpha.yaml) send access_token'],
  ]],
  // A legacy option for a section the file holds stops start-up, however it was given.
  ['conflict: upstreams as a variable', `upstreamConfig:\n  upstreams:\n    - { id: a, path: /, uri: "http://127.0.0.1:1" }\n${PROVIDER}`, { env: { OAUTH2_PROXY_UPSTREAMS: 'http://127.0.0.1:2' } }, [
    ['OAUTH2_PROXY_UPSTREAMS and upstreamConfig (line 1 of alpha.yaml) both configure the upstreams'],
  ]],
  ['conflict: client id as a flag', PROVIDER, { flags: { client_id: 'flagged' } }, [['--client-id and providers (line 1 of alpha.yaml) both configure the identity provider']]],
  ['conflict: a header option as a --config file key', `injectRequestHeaders: []\n${PROVIDER}`, { config: { pass_access_token: 'true' } }, [
    ['pass_access_token (in the --config file) and injectRequestHeaders / injectResponseHeaders (line 1 of alpha.yaml) both configure the headers'],
  ]],
  ['conflict: listen address as a variable, metrics address as a flag', `server:\n  bindAddress: 127.0.0.1:4180\nmetricsServer:\n  bindAddress: 127.0.0.1:9100\n${PROVIDER}`, { env: { OAUTH2_PROXY_HTTP_ADDRESS: '127.0.0.1:1' }, flags: { metrics_address: '127.0.0.1:2' } }, [
    ['OAUTH2_PROXY_HTTP_ADDRESS and server (line 1 of alpha.yaml) both configure the HTTP and HTTPS listeners'],
    ['--metrics-address and metricsServer (line 3 of alpha.yaml) both configure the metrics listeners'],
  ]],
  // Found by test/prop-config.test.ts (alpha YAML properties), shrunk: a check weighing several options named only
  // OAUTH2_PROXY_* variables, not where in the file they are.
  ['a check across a provider\'s keys names the provider and its line', `${PROVIDER}      skipDiscovery: true\n`, {}, [
    ['in providers[0] (line 2 of alpha.yaml): with OAUTH2_PROXY_SKIP_OIDC_DISCOVERY=true, set OAUTH2_PROXY_OIDC_JWKS_URL'],
  ]],
  ['a check across a section\'s keys names the section and its line', `server:\n  secureBindAddress: 127.0.0.1:4443\n${PROVIDER}`, {}, [
    ['in server (line 1 of alpha.yaml): OAUTH2_PROXY_TLS_CERT_FILE (or --tls-cert-file) is required'],
  ]],
  // Found by the random-text property (shrunk): an empty or blank key gave a message with no path before its line.
  ['an empty key is named as ""', '{!}', {}, [['"" (line 1 of alpha.yaml) is not a key of the alpha configuration']]],
  ['a blank key is named quoted', '? "\t"', {}, [['"\\t" (line 1 of alpha.yaml) is not a key of the alpha configuration']]],
];

for (const [name, yaml, legacy, expected] of ERRORS) {
  test(`alpha configuration error: ${name}`, () => {
    const r = read(yaml, legacy);
    assert.equal(r.ok, false, `${name}: expected errors`);
    const errors = r.ok ? [] : r.errors;
    for (const fragments of expected) {
      assert.ok(errors.some((e) => fragments.every((f) => e.includes(f))), `${name}: no error holds ${JSON.stringify(fragments)}; errors:\n${errors.join('\n')}`);
    }
  });
}

test('a valid file gives the Config the legacy options give (one provider: its groups and domains are the global ones)', () => {
  const alpha = ok(`server:
  bindAddress: 127.0.0.1:4181
upstreamConfig:
  proxyRawPath: true
  upstreams:
    - { id: /, path: /, uri: "http://127.0.0.1:8080/", passHostHeader: false }
providers:
  - id: oidc=client
    provider: oidc
    clientID: client
    clientSecretFile: /etc/secret
    allowedGroups: [admins]
    emailDomains: [Example.com]
    loginURLParameters:
      - { name: prompt, default: [login] }
    oidcConfig:
      issuerURL: https://issuer.example.com/
      groupsClaim: roles
`).config;
  const legacy = validateConfig(mergeSources({ flags: {}, env: {
    ...BASE_ENV, OAUTH2_PROXY_EMAIL_DOMAINS: 'example.com', OAUTH2_PROXY_HTTP_ADDRESS: '127.0.0.1:4181', OAUTH2_PROXY_UPSTREAMS: 'http://127.0.0.1:8080/',
    OAUTH2_PROXY_PASS_HOST_HEADER: 'false', OAUTH2_PROXY_CLIENT_ID: 'client', OAUTH2_PROXY_CLIENT_SECRET_FILE: '/etc/secret', OAUTH2_PROXY_ALLOWED_GROUPS: 'admins',
    OAUTH2_PROXY_PROMPT: 'login', OAUTH2_PROXY_OIDC_ISSUER_URL: 'https://issuer.example.com/', OAUTH2_PROXY_OIDC_GROUPS_CLAIM: 'roles',
  }, dotenv: {} }), readFile);
  assert.ok(legacy.ok, legacy.ok ? '' : legacy.errors.join('\n'));
  assert.deepEqual(alpha, legacy.config);
  assert.equal(alpha.provider.clientSecret, 'from-file');
  assert.equal(alpha.provider.scope, 'openid email profile groups', 'allowedGroups asks for the groups scope, as allowed_groups does');
});

test('several providers: all checked and handed over in order, each with its own groups, domains and parameters; no warning (every listed provider signs in)', () => {
  const r = ok(`${PROVIDER}    allowedGroups: [staff]
    homeDomains: [corp.example]
  - id: partner
    name: Partner
    clientID: partner-client
    clientSecret: { fromEnv: SECRET_VAR }
    emailDomains: [partner.example]
    loginURLParameters:
      - name: login_hint
        allow: [{ pattern: '[^@]+@partner\\.example' }]
    oidcConfig:
      issuerURL: https://partner.example.com/
`.replace('clientSecret: { fromEnv: SECRET_VAR }', 'clientSecret: partner-secret'));
  const [staff, partner] = r.config.providers;
  assert.equal(r.config.providers.length, 2);
  assert.equal(r.config.provider, staff);
  assert.deepEqual([staff!.id, staff!.displayName, staff!.allowedGroups, staff!.homeDomains], ['staff', 'OpenID Connect', ['staff'], ['corp.example']]);
  assert.deepEqual([partner!.id, partner!.displayName, partner!.clientId, partner!.issuerUrl?.href, partner!.emailDomains], ['partner', 'Partner', 'partner-client', 'https://partner.example.com/', ['partner.example']]);
  const allow = partner!.loginUrlParameters![0]!.allow![0]!;
  assert.ok('pattern' in allow && allow.pattern.test('eve@partner.example') && !allow.pattern.test('eve@partner.example.evil'));
  assert.deepEqual(r.config.allowedGroups, [], 'with several providers groups stay per provider');
  assert.ok(!r.warnings.some((w) => /first only|only the first/.test(w)), r.warnings.join('\n'));
});

test('header claims other than session fields are kept in sessions; a side the file leaves out sends the legacy defaults', () => {
  const c = ok(`injectResponseHeaders:
  - name: X-Department
    values: [{ claimSource: { claim: department } }]
${PROVIDER}`).config;
  assert.deepEqual(c.provider.keptClaims, ['department']);
  assert.deepEqual(c.injectResponseHeaders, [{ name: 'x-department', preserveRequestValue: false, values: [{ kind: 'claim', claim: 'department', prefix: '' }] }]);
  assert.deepEqual(c.injectRequestHeaders!.map((h) => h.name), ['x-forwarded-groups', 'x-forwarded-user', 'x-forwarded-email', 'x-forwarded-preferred-username']);
});

test('upstream settings shared by every upstream become the global ones; one that differs keeps its own', () => {
  const c = ok(`upstreamConfig:
  upstreams:
    - { id: a, path: /a/, uri: "http://127.0.0.1:1", timeout: 5s, disableKeepAlives: true }
    - { id: b, path: /b/, uri: "http://127.0.0.1:2", timeout: 5s, disableKeepAlives: true, proxyWebSockets: false }
    - { id: c, path: /c/, static: true }
${PROVIDER}`).config;
  assert.equal(c.upstreamTimeoutMs, 5000);
  assert.equal(c.disableKeepAlives, true);
  assert.equal(c.proxyWebsockets, true);
  assert.deepEqual(c.upstreams.map((u) => u.settings), [undefined, { proxyWebSockets: false }, undefined]);
  assert.equal(c.upstreamPathsDecoded, true, 'proxyRawPath defaults to false, as in oauth2-proxy');
});

test('server and metricsServer: listen addresses, and TLS from a file or from an inline base64 value (the same checks as the legacy TLS files)', () => {
  const certs = makeCertificates(['127.0.0.1']);
  try {
    const pem = readFileSync(certs.certFile, 'utf8');
    const c = ok(`server:
  bindAddress: 127.0.0.1:4190
  secureBindAddress: 127.0.0.1:4443
  tls:
    cert: { value: ${Buffer.from(pem).toString('base64')} }
    key: { fromFile: ${certs.keyFile} }
    minVersion: TLS1.3
metricsServer:
  bindAddress: 127.0.0.1:9190
${PROVIDER}`, { readFile: (p) => readFileSync(p, 'utf8') }).config;
    assert.deepEqual(c.listen, { kind: 'tcp', host: '127.0.0.1', port: 4190 });
    assert.deepEqual(c.https?.address, { kind: 'tcp', host: '127.0.0.1', port: 4443 });
    assert.equal(c.https?.cert.trim(), pem.trim());
    assert.equal(c.https?.minVersion, 'TLSv1.3');
    assert.deepEqual(c.metricsAddress, { kind: 'tcp', host: '127.0.0.1', port: 9190 });
    const wrongKey = read(`server:\n  secureBindAddress: 127.0.0.1:4443\n  tls:\n    cert: { fromFile: ${certs.certFile} }\n    key: { fromFile: ${certs.otherKeyFile} }\n${PROVIDER}`, { readFile: (p) => readFileSync(p, 'utf8') });
    assert.equal(wrongKey.ok, false);
    assert.ok(!wrongKey.ok && wrongKey.errors.some((e) => e.includes('server.tls.key (line 5 of alpha.yaml)')), wrongKey.ok ? '' : wrongKey.errors.join('\n'));
  } finally {
    certs.remove();
  }
});
