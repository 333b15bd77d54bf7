// Configuration readers: the environment, the .env file, the TOML config file and the routes file.
// Any input gives a configuration or a list of errors, never an exception, and no reader accepts a
// value the option table (its validation) would refuse from the environment. Generators build
// values per option type (the table's choices, booleans, durations, lists, URLs, paths) and files
// line by line (quotes, comments, exports, CRLF; TOML types; routes as YAML or JSON documents).
//
// ALPHA YAML READER (src/config/alpha/): documents built section by section (providers,
// upstreamConfig.upstreams, injectRequestHeaders, server), then mutated (wrong kinds, unknown
// keys, missing required fields, duplicates) or replaced by random text. Invariants: a
// configuration or errors, never an exception; a provider's key is accepted exactly when the same
// value as its legacy variable is; every error names a path and a line of the file.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import dotenv from 'dotenv';
import fc from 'fast-check';
import { parse as yamlParse, stringify as yamlText } from 'yaml';
import { parseConfigFile } from '../src/config/file.js';
import { PROVIDER_KEYS, SECTION_OPTIONS, validateAlphaConfig } from '../src/config/alpha/read.js';
import { mergeSources } from '../src/config/load.js';
import { OPTIONS, type OptionSpec } from '../src/config/options.js';
import { validateConfig, type Validated } from '../src/config/validate.js';
import { BASE_ENV } from './support/config.js';
import { prop } from './support/prop.js';

const ROUTES = '/portcullis-prop/routes.yaml';
/** No file is read from disk: the routes file is the generated text, any other path does not exist. */
const files = (routes?: string) => (p: string): string => {
  if (routes !== undefined && (p === ROUTES || p === ROUTES.replace('.yaml', '.json'))) return routes;
  throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
};

/** The option table by its variable name; BASE_ENV's variables, as options. */
const SPECS = OPTIONS.filter((o) => o.name !== 'config');
const BASE_CONFIG = Object.fromEntries(SPECS.filter((o) => BASE_ENV[o.env] !== undefined).map((o) => [o.name, BASE_ENV[o.env]!]));

/** Values of one option: its own (default, placeholder, choices) and its type's good and bad spellings. */
function optionValue(spec: OptionSpec): fc.Arbitrary<string> {
  const own = [spec.default, spec.placeholder ?? '', ...(spec.choices ?? [])];
  const byType: Record<OptionSpec['type'], string[]> = {
    bool: ['true', 'false', 'TRUE', '1', '0', 'yes', 'maybe', ''],
    duration: ['1h', '90s', '1h30m', '0', '0s', '-1s', '1x', '168h0m0s', '10', '1.5h', ''],
    enum: ['', 'nope', 'Lax', 'NONE'],
    list: ['a,b', 'a, b', ',', 'http://127.0.0.1:8080/', 'http://a/,http://b/path', '*', 'example.com', '10.0.0.0/8', '::1', '1.2.3.4/40', 'group=x'],
    string: ['', 'x', 'http://127.0.0.1:9/', 'https://issuer.example/', '/file/that/does/not/exist', '127.0.0.1:4180', ':0', 'unix:///tmp/p.sock', '{id_token}', 'ftp://x'],
    secret: ['', 'short', 'x'.repeat(32), Buffer.alloc(32, 1).toString('base64url'), Buffer.alloc(24, 1).toString('base64'), 'é'.repeat(16)],
  };
  return fc.oneof(
    { arbitrary: fc.constantFrom(...own, ...byType[spec.type]), weight: 6 },
    { arbitrary: fc.string({ maxLength: 30 }).filter((s) => !s.includes('\0')), weight: 1 },
  );
}

/** Some options over BASE_ENV, each with a value of its own kind. */
const assignment = fc.uniqueArray(fc.constantFrom(...SPECS), { minLength: 1, maxLength: 6, selector: (s) => s.name })
  .chain((specs) => fc.tuple(...specs.map((s) => optionValue(s).map((v) => [s, v] as const))));

/** BASE_ENV without the variables of `pairs`: a file's value is then the one read (the environment wins over files). */
const baseWithout = (pairs: ReadonlyArray<readonly [OptionSpec, string]>): Record<string, string> => {
  const env = { ...BASE_ENV };
  for (const [s] of pairs) delete env[s.env];
  return env;
};

const fromEnv = (pairs: ReadonlyArray<readonly [OptionSpec, string]>): Validated =>
  validateConfig(mergeSources({ flags: {}, env: { ...BASE_ENV, ...Object.fromEntries(pairs.map(([s, v]) => [s.env, v])) }, dotenv: {} }), files());

/** A verdict to compare across readers: ok, and then the configuration (functions and private state left out). */
function verdict(v: Validated): { ok: boolean; config?: string; errors?: number } {
  if (!v.ok) {
    assert.ok(v.errors.length > 0 && v.errors.every((e) => typeof e === 'string' && e.length > 0), 'a refusal says why');
    return { ok: false, errors: v.errors.length };
  }
  // A generated identity-JWT key differs on every validation: compare that it was generated, not its bytes.
  const config = { ...v.config, ...(v.config.identityJwt && 'generated' in v.config.identityJwt && v.config.identityJwt.generated ? { identityJwt: { ...v.config.identityJwt, keys: 'generated' } } : {}) };
  return { ok: true, config: JSON.stringify(config, (_k, x: unknown) => (x instanceof RegExp ? String(x) : x instanceof Set ? [...x] : x instanceof URL ? x.href : x)) };
}

/** Another reader's result agrees with the environment's: it accepts what the table accepts, refuses what it refuses. */
function agreesWithEnvironment(other: Validated, env: Validated): void {
  const a = verdict(other);
  const b = verdict(env);
  assert.equal(a.ok, b.ok, a.ok ? 'accepted what the environment refuses' : `refused what the environment accepts: ${other.ok ? '' : other.errors.join('; ')}`);
  if (a.ok) assert.equal(a.config, b.config, 'the same configuration');
}

/** A .env line that dotenv reads back as `value`, in one of the quotings it knows; undefined when none can carry it. */
function dotenvLine(name: string, value: string, style: number, exported: boolean): string | undefined {
  const key = `${exported ? 'export ' : ''}${name}`;
  const quotes = ["'", '"', '`'].filter((q) => !value.includes(q) && !value.includes('\n') && !value.includes('\r'));
  if (style % 3 === 0 && /^[^\s#'"`\\]*$/.test(value) && value !== '') return `${key}=${value}`;
  if (quotes.length === 0) return undefined;
  const q = quotes[style % quotes.length]!;
  // dotenv expands \n inside double quotes: a backslash followed by n would change the value.
  if (q === '"' && /\\[nr]/.test(value)) return undefined;
  return `${key}=${q}${value}${q}${style % 2 ? ' # a comment' : ''}`;
}

describe('configuration readers', () => {
  prop('the environment: any values give a configuration or a list of errors, never an exception', 400, () => fc.property(assignment, (pairs) => {
    verdict(fromEnv(pairs));
  }));

  prop('a .env file: read back exactly, and judged as the same variables in the environment', 300, () => fc.property(
    assignment, fc.array(fc.nat(5), { minLength: 6, maxLength: 6 }), fc.boolean(), fc.boolean(), fc.constantFrom('\n', '\r\n'),
    (pairs, styles, exported, comments, eol) => {
      const lines: string[] = [];
      const written: Array<readonly [OptionSpec, string]> = [];
      pairs.forEach(([spec, value], i) => {
        const line = dotenvLine(spec.env, value, styles[i]!, exported && i % 2 === 0);
        if (line === undefined) return;
        if (comments) lines.push('# a comment line', '');
        lines.push(line);
        written.push([spec, value]);
      });
      const parsed = dotenv.parse(Buffer.from(lines.join(eol)));
      for (const [spec, value] of written) assert.equal(parsed[spec.env], value, `${spec.env} from ${JSON.stringify(lines.join(eol))}`);
      const viaDotenv = validateConfig(mergeSources({ flags: {}, env: baseWithout(written), dotenv: parsed }), files());
      agreesWithEnvironment(viaDotenv, fromEnv(written));
    }));

  prop('a TOML file with string values: judged as the same values in the environment', 300, () => fc.property(assignment, (pairs) => {
    const text = pairs.map(([spec, value]) => `${spec.name} = ${JSON.stringify(value)}`).join('\n');
    const file = parseConfigFile(text, '/etc/portcullis.cfg');
    assert.deepEqual(file.errors, [], text);
    const viaFile = validateConfig(mergeSources({ flags: {}, env: baseWithout(pairs), config: file.values, dotenv: {} }), files());
    agreesWithEnvironment(viaFile, fromEnv(pairs));
  }));

  const tomlValue = fc.oneof(
    fc.string({ maxLength: 20 }).map((s) => JSON.stringify(s)),
    fc.constantFrom('true', 'false', '0', '-1', '3.5', 'inf', 'nan', '1979-05-27T07:32:00Z', '[]', '["a", "b"]', '[1, "a"]', '[["a"]]', '{ a = 1 }', "'literal'", '"""multi\nline"""', '0x10', '1_000'),
  );
  prop('a TOML file of any shape: values or errors, never an exception, and validation of what it gives never throws either', 400, () => fc.property(
    fc.array(fc.tuple(fc.oneof(fc.constantFrom(...SPECS.map((s) => s.name)), fc.constantFrom('unknown_key', 'provider_display_name', 'oidc', '"quoted key"', 'a.b', '[table]', '')), tomlValue), { maxLength: 8 }),
    fc.string({ maxLength: 20 }),
    (lines, junk) => {
      const text = `${lines.map(([k, v]) => (k.startsWith('[') ? k : `${k} = ${v}`)).join('\n')}\n${junk}`;
      const file = parseConfigFile(text, '/etc/portcullis.cfg');
      assert.ok(Array.isArray(file.errors) && Array.isArray(file.warnings));
      verdict(validateConfig(mergeSources({ flags: {}, env: { ...BASE_ENV }, config: file.values, dotenv: {} }), files()));
      // Each value the file gives is a string or a list of strings, as the environment would give them.
      for (const v of Object.values(file.values)) assert.ok(typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string')));
    }));

  prop('a TOML file and the environment agree on booleans and lists in their TOML types', 300, () => fc.property(
    fc.constantFrom(...SPECS.filter((s) => s.type === 'bool' || s.type === 'list')), fc.boolean(), fc.array(fc.constantFrom('a', 'http://127.0.0.1:8080/', 'example.com', '*', '10.0.0.0/8', 'x y'), { minLength: 1, maxLength: 3 }),
    (spec, b, items) => {
      const toml = spec.type === 'bool' ? `${spec.name} = ${b}` : `${spec.name} = ${JSON.stringify(items)}`;
      const env = spec.type === 'bool' ? String(b) : items.join(',');
      const file = parseConfigFile(toml, '/etc/portcullis.cfg');
      const viaFile = validateConfig(mergeSources({ flags: {}, env: baseWithout([[spec, env]]), config: file.values, dotenv: {} }), files());
      agreesWithEnvironment(viaFile, fromEnv([[spec, env]]));
    }));
});

// The routes file: rules built field by field, each field either well formed or broken in a way the
// README's field table refuses; the file is accepted exactly when every field of every rule is good.
type Field<T> = { value: T; good: boolean };
const good = <T>(...xs: T[]): fc.Arbitrary<Field<T>> => fc.constantFrom(...xs).map((value) => ({ value, good: true }));
const bad = <T>(...xs: T[]): fc.Arbitrary<Field<T>> => fc.constantFrom(...xs).map((value) => ({ value, good: false }));
const field = <T>(g: fc.Arbitrary<Field<T>>, b: fc.Arbitrary<Field<T>>): fc.Arbitrary<Field<T>> => fc.oneof({ arbitrary: g, weight: 5 }, { arbitrary: b, weight: 1 });

const matchField = field<unknown>(
  good<unknown>({ path: '/admin' }, { path: '/a/b/' }, { path: '/' }, { path: '/é' }, { regex: '^/r/[0-9]+$' }, { regex: '(?i)/ci(/.*)?' }, { path: '/api', methods: ['GET', 'head'] }, { regex: '/x', methods: 'POST' }),
  bad<unknown>({}, { path: 'admin' }, { path: '/a b' }, { path: '/a%20' }, { path: '//a' }, { path: '/a/../b' }, { path: '/a;x' }, { path: '' }, { path: 5 }, { path: '/a', regex: '^/b$' },
    { regex: '(' }, { regex: '' }, { path: '/a', methods: [] }, { path: '/a', methods: ['G ET'] }, { pth: '/x' }, '/admin', null),
);
const policyField = field<Record<string, unknown>>(
  good<Record<string, unknown>>({ allow: 'anonymous' }, { allow: 'authenticated' }, { require: { groups: ['admins'] } }, { require: { groups: 'admins' } }, { require: { email_domains: ['example.com', '.example.org', '*'] } },
    { require: { claims: { department: ['eng', 1, true] } } }, { require: { acr_values: ['urn:mfa'] } }, { require: { acr_values: 'urn:a urn:b' } }, { require: { max_age: 300 } }, { require: { groups: ['a'], max_age: 1 } }),
  bad<Record<string, unknown>>({}, { allow: 'anonymous', require: { groups: ['a'] } }, { allow: 'everyone' }, { allow: true }, { require: {} }, { require: { groups: [] } }, { require: { groups: [5] } },
    { require: { email_domains: ['bad domain'] } }, { require: { claims: {} } }, { require: { claims: { 'bad name': ['x'] } } }, { require: { acr_values: ['a b'] } },
    { require: { max_age: 0 } }, { require: { max_age: -1 } }, { require: { max_age: 1.5 } }, { require: { max_age: '300' } }, { require: { grups: ['a'] } }),
);
const idField = field<unknown>(good<unknown>(undefined), bad<unknown>('', 123, 'x'.repeat(101)));
const rule = fc.record({ id: idField, match: matchField, policy: policyField, extra: field<unknown>(good<unknown>(undefined), bad<unknown>('nope')) });

describe('the routes file', () => {
  prop('a rules file is accepted exactly when every field of every rule is well formed, and never throws', 400, () => fc.property(
    fc.array(rule, { maxLength: 5 }), fc.boolean(), fc.constantFrom('good', 'extra-key', 'rules-not-a-list'), fc.boolean(),
    (rules, json, top, duplicateId) => {
      const docRules = rules.map((r, i) => ({
        ...(r.id.value !== undefined ? { id: r.id.value } : { id: duplicateId && i > 0 ? 'r0' : `r${i}` }),
        match: r.match.value, ...r.policy.value, ...(r.extra.value !== undefined ? { unexpected: r.extra.value } : {}),
      }));
      const doc = top === 'rules-not-a-list' ? { rules: docRules[0] ?? 'none' } : { rules: docRules, ...(top === 'extra-key' ? { version: 1 } : {}) };
      const text = json ? JSON.stringify(doc) : yamlText(doc);
      const path = json ? ROUTES.replace('.yaml', '.json') : ROUTES;
      const v = validateConfig(mergeSources({ flags: {}, env: { ...BASE_ENV, OAUTH2_PROXY_ROUTES_FILE: path }, dotenv: {} }), files(text));
      const dupe = duplicateId && rules.filter((r) => r.id.value === undefined).length > 1 && rules[0]!.id.value === undefined;
      const model = top === 'good' && !dupe && rules.every((r) => r.id.good && r.match.good && r.policy.good && r.extra.good);
      assert.equal(verdict(v).ok, model, `${text}\n${v.ok ? 'accepted' : v.errors.join('\n')}`);
      if (v.ok) assert.equal(v.config.routePolicies?.rules.length, rules.length);
    }));
});

// The alpha YAML reader. Its legacy options never name a section the file holds (that is a
// conflict, tested in alpha-config.test.ts): the provider's variables leave BASE_ENV when the
// file has providers.
const ALPHA = 'alpha.yaml';
const ALPHA_ENV = { SECRET_VAR: 'from-env' };
const PROVIDER_ENVS = new Set(SECTION_OPTIONS.providers.map((n) => SPECS.find((s) => s.name === n)?.env));
const withoutProviderEnv = (): Record<string, string> => Object.fromEntries(Object.entries(BASE_ENV).filter(([k]) => !PROVIDER_ENVS.has(k)));
const readAlpha = (text: string, hasProviders = true): Validated =>
  validateAlphaConfig(mergeSources({ flags: {}, env: hasProviders ? withoutProviderEnv() : { ...BASE_ENV }, dotenv: {} }), { text, file: ALPHA }, files(), ALPHA_ENV);

/** A provider key's value in the file (YAML kind) and as its variable; `wrongKind` when the YAML kind is not the key's. */
type KeyValue = { key: string; spec: OptionSpec; yaml: unknown; env: string; wrongKind: boolean };
const LIST_ITEMS = ['a', 'RS256', 'HS256', 'none', 'groups', 'http://127.0.0.1:9/', '/no/such/file', 'x y', ''];
function keyValue([key, name]: readonly [string, string]): fc.Arbitrary<KeyValue> {
  const spec = SPECS.find((s) => s.name === name)!;
  const kv = (yaml: unknown, env: string, wrongKind = false): KeyValue => ({ key, spec, yaml, env, wrongKind });
  if (spec.type === 'bool') return fc.oneof({ arbitrary: fc.boolean().map((b) => kv(b, String(b))), weight: 4 }, { arbitrary: optionValue(spec).map((v) => kv(v, v, true)), weight: 1 });
  if (spec.type === 'list') {
    return fc.oneof({ arbitrary: fc.array(fc.constantFrom(...LIST_ITEMS.filter(Boolean)), { minLength: 1, maxLength: 3 }).map((xs) => kv(xs, xs.join(','))), weight: 4 },
      { arbitrary: fc.constantFrom<unknown>('a', 5, true, { a: 1 }, [['a']]).map((v) => kv(v, String(v), true)), weight: 1 });
  }
  return fc.oneof({ arbitrary: optionValue(spec).map((v) => kv(v, v)), weight: 6 }, { arbitrary: fc.constantFrom<unknown>(['x'], { a: 1 }, true).map((v) => kv(v, String(v), true)), weight: 1 });
}

/** One provider with the BASE_ENV essentials, then `values` set at their keys (oidcConfig.* nested). */
function providerDoc(values: readonly KeyValue[], id = 'p'): Record<string, unknown> {
  const p: Record<string, unknown> = { id, clientID: BASE_ENV.OAUTH2_PROXY_CLIENT_ID, clientSecret: BASE_ENV.OAUTH2_PROXY_CLIENT_SECRET };
  const oidc: Record<string, unknown> = { issuerURL: BASE_ENV.OAUTH2_PROXY_OIDC_ISSUER_URL };
  for (const v of values) {
    if (v.key.startsWith('oidcConfig.')) oidc[v.key.slice('oidcConfig.'.length)] = v.yaml;
    else p[v.key] = v.yaml;
  }
  return { ...p, oidcConfig: oidc };
}

// The structure of an alpha file, field by field, with good and bad values of each.
const sometimes = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 3 });
const providerArb = fc.record({
  id: fc.constantFrom('staff', 'partner', 'p', '', 'a b', 'x@y', 'x'.repeat(65)),
  provider: sometimes(fc.constantFrom('oidc', 'github', 'keycloak-oidc')),
  clientID: fc.constantFrom('client', '', 'x'),
  clientSecret: fc.constantFrom('secret', '', 'very-secret-value'),
  oidcConfig: fc.record({
    issuerURL: fc.constantFrom('https://issuer.example.com/', 'https://other.example.com/realm', 'http://partner.example.com/', 'not a url', ''),
    emailClaim: sometimes(fc.constantFrom('email', '', 'mail')),
    extraAudiences: sometimes(fc.array(fc.constantFrom('aud', ''), { maxLength: 2 })),
  }, { requiredKeys: ['issuerURL'] }),
  emailDomains: sometimes(fc.array(fc.constantFrom('example.com', '.example.org', '*', 'bad domain', ''), { maxLength: 3 })),
  homeDomains: sometimes(fc.array(fc.constantFrom('example.com', '*.example.com'), { maxLength: 2 })),
  allowedGroups: sometimes(fc.array(fc.constantFrom('admins', ''), { maxLength: 2 })),
  loginURLParameters: sometimes(fc.array(fc.record({ name: fc.constantFrom('login_hint', 'prompt', 'redirect_uri', ''), default: sometimes(fc.constantFrom(['x'], ['login'])), allow: sometimes(fc.constantFrom([{ value: 'a' }], [{ pattern: '^a+$' }], [{ pattern: '(' }], [{}])) }, { requiredKeys: ['name'] }), { maxLength: 2 })),
}, { requiredKeys: ['id', 'clientID', 'clientSecret', 'oidcConfig'] });
const upstreamArb = fc.record({
  id: fc.constantFrom('a', 'b', 'a', ''),
  path: fc.constantFrom('/', '/a/', '^/r/(.*)$', '^/(x', '', 'a'),
  uri: sometimes(fc.constantFrom('http://127.0.0.1:1', 'https://127.0.0.1:2/base/', 'ftp://x', 'file:///nonexistent-alpha-dir/', 'not a url')),
  static: sometimes(fc.boolean()),
  staticCode: sometimes(fc.constantFrom(200, 204, 99, 600)),
  rewriteTarget: sometimes(fc.constantFrom('/$1', '/x', '')),
  timeout: sometimes(fc.constantFrom('30s', '1m', 'soon', '-1s')),
}, { requiredKeys: ['id', 'path'] });
const headerValueArb = fc.oneof(
  fc.record({ claimSource: fc.record({ claim: fc.constantFrom('user', 'email', 'groups', 'department', 'access_token', ''), prefix: sometimes(fc.constantFrom('Bearer ', '')) }, { requiredKeys: ['claim'] }) }),
  fc.record({ secretSource: fc.oneof(fc.record({ value: fc.constantFrom('eA==', 'not base64!', '') }), fc.record({ fromEnv: fc.constantFrom('SECRET_VAR', 'UNSET_VAR') }), fc.constant({})) }),
  fc.constant({}),
);
const headerArb = fc.record({
  name: fc.constantFrom('X-User', 'x-user', 'X-Email', 'Host', 'Connection', 'X Bad', ''),
  preserveRequestValue: sometimes(fc.boolean()),
  values: fc.array(headerValueArb, { maxLength: 2 }),
}, { requiredKeys: ['name', 'values'] });
const alphaDoc = fc.record({
  providers: fc.array(providerArb, { maxLength: 3 }),
  upstreamConfig: fc.record({ proxyRawPath: sometimes(fc.boolean()), upstreams: fc.array(upstreamArb, { maxLength: 3 }) }, { requiredKeys: ['upstreams'] }),
  injectRequestHeaders: fc.array(headerArb, { maxLength: 2 }),
  injectResponseHeaders: fc.array(headerArb, { maxLength: 1 }),
  server: fc.record({ bindAddress: fc.constantFrom('127.0.0.1:4180', ':0', 'nope', ''), secureBindAddress: sometimes(fc.constantFrom('127.0.0.1:4443', 'x')) }, { requiredKeys: ['bindAddress'] }),
}, { requiredKeys: [] });

/** A change to the document: at the n-th container (in a depth-first walk) of any kind. */
const mutation = fc.tuple(fc.constantFrom('wrong-kind', 'unknown-key', 'delete', 'duplicate'), fc.nat(), fc.nat(),
  fc.constantFrom<unknown>(null, 5, 2.5, true, 'text', ['a', 1], { a: 1 }, [{ id: 'a' }], ''),
  fc.constantFrom('unknown', 'issuerUrl', 'ID', 'githubConfig', 'InsecureSkipHeaderNormalization', 'resource', 'upstream'));
function containers(x: unknown, out: (Record<string, unknown> | unknown[])[] = []): (Record<string, unknown> | unknown[])[] {
  if (x && typeof x === 'object') {
    out.push(x as Record<string, unknown>);
    for (const v of Object.values(x)) containers(v, out);
  }
  return out;
}
function mutate(doc: Record<string, unknown>, [kind, n, m, value, key]: [string, number, number, unknown, string]): void {
  const all = containers(doc);
  const c = all[n % all.length]!;
  const keys = Object.keys(c);
  if (kind === 'unknown-key' && !Array.isArray(c)) { c[key] = structuredClone(value); return; }
  if (keys.length === 0) return;
  const k = keys[m % keys.length]!;
  const at = c as Record<string, unknown>;
  if (kind === 'wrong-kind') at[k] = structuredClone(value);
  else if (kind === 'delete') { if (Array.isArray(c)) c.splice(Number(k), 1); else delete at[k]; }
  else if (Array.isArray(c)) c.push(structuredClone(c[Number(k)]));
  else at[`${k}`] = structuredClone(at[k]);
}
/** Text-level damage YAML's own parser must catch: a key written twice, a cut, a stray character. */
const textDamage = fc.tuple(fc.constantFrom('none', 'none', 'repeat-line', 'cut', 'insert'), fc.nat(), fc.constantFrom('\t', ':', '- ', '[', '{', '"', '&a ', '*a', '!!int ', '? ', '\n  x', '%', '@'));
function damage(text: string, [kind, n, s]: [string, number, string]): string {
  const lines = text.split('\n');
  const i = n % Math.max(1, lines.length);
  if (kind === 'repeat-line') return [...lines.slice(0, i + 1), lines[i]!, ...lines.slice(i + 1)].join('\n');
  if (kind === 'cut') return text.slice(0, n % (text.length + 1));
  if (kind === 'insert') { const p = n % (text.length + 1); return text.slice(0, p) + s + text.slice(p); }
  return text;
}

/** Whether the text is a mapping with a providers list (then the legacy provider options are left out). */
function hasProviders(text: string): boolean {
  try {
    const doc: unknown = yamlParse(text);
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc) || !('providers' in doc)) return false;
    // A providers key of the wrong kind is refused, and the legacy provider options then apply.
    const p = (doc as { providers: unknown }).providers;
    return p === null || Array.isArray(p);
  } catch {
    return false;
  }
}

/** A refusal's every error names where: a path and a line of the file (or the YAML parser's line). */
const WHERE = /\S \(line [1-9]\d* of alpha\.yaml\)|^alpha\.yaml is not valid YAML \(line [1-9]\d*, column \d+/;
function judged(text: string, r: Validated): void {
  if (r.ok) return;
  assert.ok(r.errors.length > 0, 'a refusal says why');
  for (const e of r.errors) assert.match(e, WHERE, `an error without its path and line: ${e}\nfrom:\n${text}`);
}

describe('alpha YAML configuration', () => {
  prop('a provider key is accepted exactly when its legacy variable with the same value is, and never when its YAML kind is wrong', 250, () => fc.property(
    fc.uniqueArray(fc.constantFrom(...PROVIDER_KEYS), { minLength: 1, maxLength: 4, selector: ([k]) => k }).chain((keys) => fc.tuple(...keys.map(keyValue))),
    (values) => {
      const text = yamlText({ providers: [providerDoc(values)] });
      const alpha = readAlpha(text);
      judged(text, alpha);
      if (values.some((v) => v.wrongKind)) { assert.equal(alpha.ok, false, `accepted a value of the wrong kind:\n${text}`); return; }
      const env = fromEnv(values.map((v) => [v.spec, v.env] as const));
      assert.equal(alpha.ok, env.ok, `${text}\n${alpha.ok ? 'the file accepted what the environment refuses: ' + (env.ok ? '' : env.errors.join('; ')) : 'the file refused what the environment accepts: ' + alpha.errors.join('; ')}`);
      if (alpha.ok && env.ok) {
        // The same provider, less what only the file says (its id and name).
        const { id: _id, displayName: _d, ...fromFile } = alpha.config.provider;
        const { id: _eid, displayName: _ed, ...fromVars } = env.config.provider;
        assert.deepEqual(verdict({ ok: true, config: fromFile as never, warnings: [] }), verdict({ ok: true, config: fromVars as never, warnings: [] }), text);
      }
    }));

  prop('a document of any structure, mutated: a configuration or errors each naming a path and a line, never an exception', 300, () => fc.property(
    alphaDoc, fc.array(mutation, { maxLength: 3 }), textDamage,
    (generated, mutations, dmg) => {
      // constantFrom hands out the same objects on every run: mutate a copy.
      const doc = structuredClone(generated);
      for (const m of mutations) mutate(doc, m);
      const text = damage(yamlText(doc), dmg);
      judged(text, readAlpha(text, hasProviders(text)));
    }));

  prop('random text: a configuration or errors each naming a path and a line, never an exception', 300, () => fc.property(
    fc.string({ unit: fc.constantFrom(...'ab:- \n\t[]{}"\'#&*!|>?,%@`0123'.split(''), 'providers', 'server', 'id', 'uri', 'upstreamConfig', 'upstreams'), maxLength: 60 }),
    (text) => judged(text, readAlpha(text, hasProviders(text))),
  ));
});

export { BASE_CONFIG, agreesWithEnvironment };

