/**
 * oauth2-proxy's alpha configuration (`--alpha-config FILE`), read as its main.go loadYamlOptions
 * does: the legacy options (flags, variables, --config) give everything else, and the file gives
 * the server and metrics listeners, the upstreams, the injected headers and the providers. A legacy
 * option for a section the file holds stops start-up, naming both (oauth2-proxy refuses the flags
 * only, and silently ignores a variable or a file key). The result is the same typed Config the
 * legacy readers produce: the file's values go through the same checks, each message naming the
 * file's key and line.
 */
import { readFileSync } from 'node:fs';
import { providerListProblems } from '../providers.js';
import { LineCounter, parseDocument } from 'yaml';
import { OPTION_BY_NAME, defaultOf, type OptionName } from '../options.js';
import { describeOrigin, type RawOptions, type RawValue } from '../load.js';
import { OptionReader } from '../reader.js';
import type { Config, InjectedHeader, LoginUrlParameter, ProviderConfig, Validated } from '../types.js';
import { validateConfig } from '../validate.js';
import { validateProvider } from '../validation/provider.js';
import { SESSION_CLAIMS, injectsClaim, readHeaders } from './headers.js';
import { readSecret } from './secret.js';
import { goRegExp, readUpstreams } from './upstreams.js';
import { ALPHA_FILE, walk, type Fields, type Located, type Read } from './schema.js';

/** The file as given: its text, and its name for messages. */
export interface AlphaFile {
  readonly text: string;
  readonly file: string;
}

/** The legacy options each section of the file replaces (oauth2-proxy's LegacyServer, LegacyUpstreams, LegacyHeaders, LegacyProvider). */
export const SECTION_OPTIONS: Readonly<Record<'server' | 'metricsServer' | 'upstreamConfig' | 'headers' | 'providers', readonly OptionName[]>> = {
  server: ['http_address', 'https_address', 'tls_cert_file', 'tls_key_file', 'tls_min_version', 'tls_cipher_suites'],
  metricsServer: ['metrics_address', 'metrics_secure_address', 'metrics_tls_cert_file', 'metrics_tls_key_file'],
  upstreamConfig: ['upstreams', 'pass_host_header', 'proxy_websockets', 'ssl_upstream_insecure_skip_verify', 'flush_interval', 'upstream_timeout', 'disable_keep_alives'],
  headers: ['pass_basic_auth', 'pass_access_token', 'pass_user_headers', 'pass_authorization_header', 'set_basic_auth', 'set_xauthrequest', 'set_authorization_header', 'prefer_email_to_user', 'basic_auth_password'],
  providers: [
    'provider', 'provider_display_name', 'client_id', 'client_secret', 'client_secret_file', 'provider_ca_files', 'use_system_trust_store',
    'oidc_issuer_url', 'insecure_oidc_allow_unverified_email', 'insecure_oidc_skip_issuer_verification', 'insecure_oidc_skip_nonce',
    'skip_oidc_discovery', 'oidc_jwks_url', 'oidc_email_claim', 'oidc_groups_claim', 'oidc_audience_claims', 'oidc_extra_audiences',
    'oidc_public_key_files', 'oidc_enabled_signing_algs', 'login_url', 'auth_request_response_mode', 'redeem_url', 'profile_url',
    'skip_claims_from_profile_url', 'validate_url', 'scope', 'prompt', 'approval_prompt', 'user_id_claim', 'allowed_groups',
    'backend_logout_url', 'acr_values', 'code_challenge_method', 'force_code_challenge_method',
  ],
};

/** A provider's keys and the legacy option each one is (oidcConfig's under `oidcConfig.`). */
export const PROVIDER_KEYS: ReadonlyArray<readonly [string, OptionName]> = [
  ['provider', 'provider'], ['name', 'provider_display_name'], ['clientID', 'client_id'], ['clientSecret', 'client_secret'],
  ['clientSecretFile', 'client_secret_file'], ['caFiles', 'provider_ca_files'], ['useSystemTrustStore', 'use_system_trust_store'],
  ['loginURL', 'login_url'], ['authRequestResponseMode', 'auth_request_response_mode'], ['redeemURL', 'redeem_url'],
  ['profileURL', 'profile_url'], ['skipClaimsFromProfileURL', 'skip_claims_from_profile_url'], ['validateURL', 'validate_url'],
  ['scope', 'scope'], ['allowedGroups', 'allowed_groups'], ['code_challenge_method', 'code_challenge_method'], ['backendLogoutURL', 'backend_logout_url'],
  ['oidcConfig.issuerURL', 'oidc_issuer_url'], ['oidcConfig.insecureAllowUnverifiedEmail', 'insecure_oidc_allow_unverified_email'],
  ['oidcConfig.insecureSkipIssuerVerification', 'insecure_oidc_skip_issuer_verification'], ['oidcConfig.insecureSkipNonce', 'insecure_oidc_skip_nonce'],
  ['oidcConfig.skipDiscovery', 'skip_oidc_discovery'], ['oidcConfig.jwksURL', 'oidc_jwks_url'], ['oidcConfig.publicKeyFiles', 'oidc_public_key_files'],
  ['oidcConfig.emailClaim', 'oidc_email_claim'], ['oidcConfig.groupsClaim', 'oidc_groups_claim'], ['oidcConfig.userIDClaim', 'user_id_claim'],
  ['oidcConfig.audienceClaims', 'oidc_audience_claims'], ['oidcConfig.extraAudiences', 'oidc_extra_audiences'],
  ['oidcConfig.enabledSigningAlgs', 'oidc_enabled_signing_algs'],
];

/** loginURLParameters that are legacy options of their own: their default is that option. */
export const PARAMETER_OPTIONS: Readonly<Record<string, OptionName>> = { prompt: 'prompt', acr_values: 'acr_values', approval_prompt: 'approval_prompt' };
/** Parameters the login itself sets: a configured value would break or weaken it. */
const RESERVED_PARAMETERS = new Set(['client_id', 'redirect_uri', 'response_type', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method', 'response_mode', 'request', 'request_uri', 'max_age', 'client_secret']);

/**
 * Reads the alpha file over the legacy options and checks everything in one pass: the file's
 * problems (each with its path, line and the form expected), the conflicts with legacy options,
 * and every check the legacy options get.
 */
export function validateAlphaConfig(raw: RawOptions, alpha: AlphaFile, readFile: (p: string) => string = (p) => readFileSync(p, 'utf8'), env: Readonly<Record<string, string | undefined>> = process.env): Validated {
  const errors: string[] = [];
  const warnings: string[] = [];
  const lines = new LineCounter();
  const doc = parseDocument(alpha.text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    for (const e of doc.errors) {
      const at = lines.linePos(e.pos[0]);
      errors.push(`${alpha.file} is not valid YAML (line ${at.line}, column ${at.col}: ${e.message.split('\n')[0]})`);
    }
    return { ok: false, errors, warnings };
  }
  const problems: string[] = [];
  const top = walk(doc.contents, ALPHA_FILE, '', lines, problems, alpha.file) as Fields | undefined;
  errors.push(...problems);
  if (!top) return { ok: false, errors, warnings };

  const at = (l: Located<unknown> | Fields): string => `${l.path} (line ${l.line} of ${alpha.file})`;
  const fail = (l: Located<unknown> | Fields, got: unknown, expected: string): void => {
    errors.push(`${l.path} (line ${l.line} of ${alpha.file}): got ${JSON.stringify(got)}, expected ${expected}`);
  };
  // Inline secrets (value, fromEnv) are handed to the legacy checks as files only this reader knows.
  const inline = new Map<string, string>();
  const read = (p: string): string => inline.get(p) ?? readFile(p);

  // The sections the file holds, and the legacy options each replaces: given anywhere, they conflict.
  const sections = {
    server: top.get<Fields>('server'),
    metricsServer: top.get<Fields>('metricsServer'),
    upstreamConfig: top.get<Fields>('upstreamConfig'),
    headers: top.get('injectRequestHeaders') ?? top.get('injectResponseHeaders'),
    providers: top.get<Read[]>('providers'),
  };
  const merged: Record<string, RawValue> = { ...raw };
  for (const [section, located] of Object.entries(sections)) {
    if (!located) continue;
    for (const name of SECTION_OPTIONS[section as keyof typeof SECTION_OPTIONS]) {
      const given = raw[name]!;
      if (given.origin !== 'default' && given.origin !== 'demo') {
        const spec = OPTION_BY_NAME.get(name)!;
        errors.push(`${describeOrigin(spec, given.origin)} and ${section === 'headers' ? 'injectRequestHeaders / injectResponseHeaders' : section} (line ${located.line} of ${alpha.file}) both configure ${SECTION_WORDS[section as keyof typeof SECTION_WORDS]}: remove ${spec.name} from the legacy options (flags, OAUTH2_PROXY_* variables, --config) and keep it in the alpha file`);
      }
      merged[name] = { value: defaultOf(name), origin: 'default' };
    }
  }
  const set = (name: OptionName, v: Located<unknown>): void => {
    const value = Array.isArray(v.value) ? v.value.map(String) : String(v.value);
    merged[name] = { value, origin: 'alpha', where: at(v) };
  };

  // server and metricsServer: the legacy listener options, with TLS files (or inline PEM).
  const secret = (f: Fields | undefined, inlineName: string): Located<string> | undefined => {
    if (!f) return undefined;
    const s = readSecret(f, env, fail);
    if (s === undefined) return undefined;
    if ('file' in s) return { value: s.file, path: f.path, line: f.line };
    inline.set(inlineName, s.value);
    return { value: inlineName, path: f.path, line: f.line };
  };
  const server = sections.server?.value;
  if (server) {
    const g = server.get.bind(server);
    if (g('bindAddress')) set('http_address', g('bindAddress')!);
    if (g('secureBindAddress')) set('https_address', g('secureBindAddress')!);
    const tls = g<Fields>('tls')?.value;
    if (tls) {
      const cert = secret(tls.get<Fields>('cert')?.value, '(inline server.tls.cert)');
      const key = secret(tls.get<Fields>('key')?.value, '(inline server.tls.key)');
      if (cert) set('tls_cert_file', cert);
      if (key) set('tls_key_file', key);
      if (tls.get('minVersion')) set('tls_min_version', tls.get('minVersion')!);
      if (tls.get('cipherSuites')) set('tls_cipher_suites', tls.get('cipherSuites')!);
    }
  }
  const metrics = sections.metricsServer?.value;
  if (metrics) {
    const g = metrics.get.bind(metrics);
    if (g('bindAddress')) set('metrics_address', g('bindAddress')!);
    if (g('secureBindAddress')) set('metrics_secure_address', g('secureBindAddress')!);
    const tls = g<Fields>('tls')?.value;
    if (tls) {
      const cert = secret(tls.get<Fields>('cert')?.value, '(inline metricsServer.tls.cert)');
      const key = secret(tls.get<Fields>('key')?.value, '(inline metricsServer.tls.key)');
      if (cert) set('metrics_tls_cert_file', cert);
      if (key) set('metrics_tls_key_file', key);
      for (const k of ['minVersion', 'cipherSuites']) {
        const v = tls.get(k);
        if (v) errors.push(`${v.path} (line ${v.line} of ${alpha.file}) is not supported: the metrics listener takes the TLS versions and ciphers of Node's defaults; remove it`);
      }
    }
  }

  // Providers: each one's keys as the legacy options, checked by the same code (validation/provider.ts).
  const providerList = (sections.providers?.value ?? []).filter((p): p is Fields => typeof p === 'object' && 'get' in p);
  if (sections.providers && providerList.length === 0) errors.push(`providers (line ${sections.providers.line} of ${alpha.file}): expected at least one provider`);
  const providerRaws = providerList.map((p) => providerOptions(p, at, errors, alpha.file, fail));
  if (providerRaws[0]) Object.assign(merged, providerRaws[0].raw);

  const base = validateConfig(merged, read);
  // Checks that weigh several options name no key of the file: say which section (or provider) they are about.
  const locate = (msgs: readonly string[], provider: Fields | undefined): string[] => msgs.map((m) => {
    if (m.includes(`of ${alpha.file})`)) return m;
    const section = (Object.keys(sections) as (keyof typeof sections)[])
      .find((k) => sections[k] && SECTION_OPTIONS[k].some((n) => m.includes(OPTION_BY_NAME.get(n)!.env)));
    if (!section) return m;
    const where = section === 'providers' && provider ? provider : { ...sections[section]!, path: section === 'headers' ? 'injectRequestHeaders / injectResponseHeaders' : section };
    return `in ${at(where)}: ${m}`;
  });
  errors.push(...(base.ok ? [] : locate(base.errors, providerList[0])));
  warnings.push(...base.warnings.filter((w) => !(sections.upstreamConfig && w.startsWith('no OAUTH2_PROXY_UPSTREAMS set'))));

  // Every provider after the first gets the same checks the first got inside validateConfig.
  const proxyPrefix = new OptionReader(merged, read).path('proxy_prefix', false);
  const providers: ProviderConfig[] = [];
  providerRaws.forEach((pr, i) => {
    let p: ProviderConfig;
    if (i === 0 && base.ok) p = base.config.provider;
    else {
      const r = new OptionReader({ ...merged, ...pr.raw }, read);
      p = validateProvider(r, proxyPrefix);
      if (i > 0) { errors.push(...locate(r.errors, providerList[i])); warnings.push(...r.warnings); }
    }
    providers.push({ ...p, ...pr.extra });
  });
  checkProviderIds(providerRaws.map((p) => p.id), errors, alpha.file);

  const upstreams = sections.upstreamConfig ? readUpstreams(sections.upstreamConfig.value, merged, errors, warnings, alpha.file, fail) : undefined;
  const headers = sections.headers ? readHeaders(top, env, read, errors, alpha.file, fail) : undefined;
  if (!base.ok || errors.length) return { ok: false, errors, warnings };

  let config: Config = base.config;
  if (upstreams) config = { ...config, ...upstreams };
  if (headers) {
    // session_cookie_minimal keeps no token, so a header made of one would never be sent.
    if (config.sessionStore.minimal) {
      const tokens = ['access_token', 'id_token'].filter((t) => injectsClaim(headers, t));
      if (tokens.length) return { ok: false, errors: [`session_cookie_minimal: got true, expected false while injectRequestHeaders / injectResponseHeaders (${alpha.file}) send ${tokens.join(' and ')}, which the session would not keep`], warnings };
    }
    config = { ...config, ...headers };
  }
  config = withProviders(config, providers.length ? providers : [...config.providers], headers);
  const listProblems = providerListProblems(config.providers);
  if (listProblems.length) return { ok: false, errors: listProblems.map((m) => `${m} (${alpha.file})`), warnings };
  return { ok: true, config, warnings };
}

const SECTION_WORDS = {
  server: 'the HTTP and HTTPS listeners',
  metricsServer: 'the metrics listeners',
  upstreamConfig: 'the upstreams',
  headers: 'the headers sent upstream and on /oauth2/auth answers',
  providers: 'the identity provider',
};

/**
 * One provider's keys as legacy options (for validation/provider.ts) with where each sits, and
 * what the legacy options cannot say: id, per-provider groups and domains, login parameters and
 * the claims it must keep.
 */
function providerOptions(p: Fields, at: (l: Located<unknown> | Fields) => string, errors: string[], file: string, fail: (l: Located<unknown> | Fields, got: unknown, expected: string) => void): { raw: RawOptions; id: Located<string> | undefined; extra: Partial<ProviderConfig> } {
  const raw: Record<string, RawValue> = {};
  const oidc = p.get<Fields>('oidcConfig')?.value;
  const lookup = (key: string): Located<unknown> | undefined => (key.startsWith('oidcConfig.') ? oidc?.get(key.slice('oidcConfig.'.length)) : p.get(key));
  for (const [key, name] of PROVIDER_KEYS) {
    const v = lookup(key);
    // Absent keys take the option's default, and a message about them names the key the file lacks.
    raw[name] = v
      ? { value: Array.isArray(v.value) ? v.value.map(String) : String(v.value), origin: 'alpha', where: at(v) }
      : { value: defaultOf(name), origin: 'default', where: `${p.path}.${key} (line ${p.line} of ${file})` };
  }
  const type = p.get<string>('provider');
  if (type && type.value !== 'oidc') {
    fail(type, type.value, `oidc: Portcullis has only the OpenID Connect provider${type.value === 'keycloak-oidc' ? ' (Keycloak signs in with provider: oidc; map roles into the groups claim for allowedGroups)' : ', so sign in through an OpenID Connect issuer that federates this one'}`);
    raw.provider = { value: 'oidc', origin: 'default' };
  }
  const id = p.get<string>('id');
  if (!id) errors.push(`${p.path}.id (line ${p.line} of ${file}) is required: a short name for the provider, unique in the file (oauth2-proxy requires it too), e.g. id: staff`);
  else if (!/^[\x21-\x7e]{1,64}$/.test(id.value)) fail(id, id.value, 'up to 64 printable characters without spaces (it goes into /oauth2/start?provider=<id> and into sessions)');

  const extra: { -readonly [K in keyof ProviderConfig]?: ProviderConfig[K] } = {};
  if (id) extra.id = id.value;
  const name = p.get<string>('name');
  // oauth2-proxy's default name is the provider type's ("OpenID Connect"), as the legacy option's default.
  extra.displayName = name?.value || defaultOf('provider_display_name');
  const groups = p.get<string[]>('allowedGroups');
  if (groups?.value.length) extra.allowedGroups = groups.value;
  for (const key of ['emailDomains', 'homeDomains'] as const) {
    const v = p.get<string[]>(key);
    if (!v) continue;
    const bad = v.value.filter((d) => !/^(\*|\.?[a-z0-9*]([a-z0-9.*-]*[a-z0-9])?)$/i.test(d));
    if (bad.length) fail(v, bad[0], `email domains such as example.com, .example.com (and its subdomains) or * (any)${key === 'homeDomains' ? ', without *' : ''}`);
    if (key === 'homeDomains' && v.value.some((d) => d.includes('*'))) fail(v, v.value, 'domains without * (a login_hint at a home domain goes to this provider: a wildcard would take every login)');
    extra[key] = v.value.map((d) => d.toLowerCase());
  }
  const claims = p.get<string[]>('additionalClaims');
  if (claims?.value.length) extra.keptClaims = claims.value;

  const params: LoginUrlParameter[] = [];
  const seen = new Set<string>();
  for (const item of (p.get<Read[]>('loginURLParameters')?.value ?? []) as Fields[]) {
    const pname = item.get<string>('name');
    if (!pname || pname.value === '') { errors.push(`${item.path}.name (line ${item.line} of ${file}) is required: the parameter's name, e.g. login_hint`); continue; }
    if (seen.has(pname.value)) { fail(pname, pname.value, 'each parameter once'); continue; }
    seen.add(pname.value);
    if (RESERVED_PARAMETERS.has(pname.value)) { fail(pname, pname.value, `a parameter the login does not set itself (${[...RESERVED_PARAMETERS].join(', ')} are)`); continue; }
    const dflt = item.get<string[]>('default');
    const allow = item.get<Read[]>('allow');
    const legacy = PARAMETER_OPTIONS[pname.value];
    if (legacy) {
      if (allow?.value.length) fail(allow, 'allow', `no allow rules for ${pname.value} (its values from /oauth2/start are fixed: prompt may add login, select_account or consent; acr_values comes from routes_file step-up)`);
      if (dflt) raw[legacy] = { value: dflt.value.join(' '), origin: 'alpha', where: at(dflt) };
      continue;
    }
    const rules: ({ value: string } | { pattern: RegExp })[] = [];
    for (const rule of (allow?.value ?? []) as Fields[]) {
      const value = rule.get<string>('value');
      const pattern = rule.get<string>('pattern');
      if ((value === undefined) === (pattern === undefined)) { errors.push(`${rule.path} (line ${rule.line} of ${file}): expected exactly one of value and pattern`); continue; }
      if (value) { rules.push({ value: value.value }); continue; }
      const re = goRegExp(pattern!.value, true);
      if (typeof re === 'string') fail(pattern!, pattern!.value, `a regular expression (${re})`);
      else rules.push({ pattern: re });
    }
    params.push({ name: pname.value, ...(dflt ? { default: dflt.value } : {}), ...(rules.length ? { allow: rules } : {}) });
  }
  if (params.length) extra.loginUrlParameters = params;
  return { raw, id, extra };
}

function checkProviderIds(ids: readonly (Located<string> | undefined)[], errors: string[], file: string): void {
  const first = new Map<string, Located<string>>();
  for (const id of ids) {
    if (!id) continue;
    const before = first.get(id.value);
    if (before) errors.push(`${id.path} (line ${id.line} of ${file}): the id ${JSON.stringify(id.value)} is taken by ${before.path} (line ${before.line}); give each provider its own id`);
    else first.set(id.value, id);
    // providerListProblems says this too, but without the line: say it here, where the line is known.
    if (ids.length > 1 && id.value.includes('@')) errors.push(`${id.path} (line ${id.line} of ${file}): got ${JSON.stringify(id.value)}, expected an id without "@" (with several providers the user is sub@id, split at the last "@")`);
  }
}

/**
 * The providers into the Config. With one, its groups and email domains are the global ones (the
 * same configuration the legacy options give); with several, each keeps its own (oidc/issuers.ts
 * signs users in at each, and access checks each one's groups and domains).
 */
function withProviders(config: Config, providers: ProviderConfig[], headers: { injectRequestHeaders?: readonly InjectedHeader[]; injectResponseHeaders?: readonly InjectedHeader[] } | undefined): Config {
  // Claims read by routes_file rules and by injected headers are kept in every provider's sessions.
  const headerClaims = [...(headers?.injectRequestHeaders ?? []), ...(headers?.injectResponseHeaders ?? [])]
    .flatMap((h) => h.values).flatMap((v) => (v.kind === 'claim' && !SESSION_CLAIMS.has(v.claim) ? [v.claim] : []));
  const withClaims = providers.map((p) => {
    const kept = [...new Set([...(config.routePolicies?.claimNames ?? []), ...headerClaims, ...(p.keptClaims ?? [])])];
    return kept.length ? { ...p, keptClaims: kept } : p;
  });
  if (withClaims.length === 1) {
    const { allowedGroups, emailDomains, ...only } = withClaims[0]!;
    return { ...config, allowedGroups: allowedGroups ?? config.allowedGroups, emailDomains: emailDomains ?? config.emailDomains, provider: only, providers: [only] };
  }
  return { ...config, allowedGroups: [], provider: withClaims[0]!, providers: withClaims };
}
