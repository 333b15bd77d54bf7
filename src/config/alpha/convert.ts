/**
 * `--convert-config-to-alpha`: the legacy options (flags, variables, --config) that the alpha file
 * can hold, printed as an alpha configuration, as oauth2-proxy's printConvertedConfig does. Only
 * options given (not left at their defaults) are written, so feeding the output back with the
 * remaining legacy options gives the same configuration: defaults that depend on whether an option
 * was given (the groups scope with allowed_groups, HTTP beside HTTPS) stay as they were.
 */
import { stringify } from 'yaml';
import type { RawOptions } from '../load.js';
import { OPTION_BY_NAME, type OptionName } from '../options.js';
import { parseUpstreamUrl } from '../validation/upstreams.js';
import { validateConfig } from '../validate.js';
import { parseBool, parseList } from '../values.js';
import type { InjectedHeader } from '../types.js';
import { legacyHeaderLists } from './headers.js';
import { PARAMETER_OPTIONS, PROVIDER_KEYS, SECTION_OPTIONS } from './read.js';

type Yaml = Record<string, unknown>;

/** The converted file, or the legacy options' problems (a configuration that does not start is not converted). */
export function convertToAlpha(raw: RawOptions, readFile?: (p: string) => string): { ok: true; yaml: string; sections: (keyof typeof SECTION_OPTIONS)[] } | { ok: false; errors: string[] } {
  const checked = validateConfig(raw, readFile);
  if (!checked.ok) return { ok: false, errors: checked.errors };
  const c = checked.config;
  const given = (n: OptionName): boolean => raw[n]!.origin !== 'default';
  const value = (n: OptionName): unknown => {
    const spec = OPTION_BY_NAME.get(n)!;
    const v = raw[n]!.value;
    if (spec.type === 'list') return parseList(v);
    const text = (typeof v === 'string' ? v : v.join(',')).trim();
    if (spec.type === 'bool') { const b = parseBool(text); return b.ok ? b.value : text; }
    return text;
  };
  const out: Yaml = {};
  const sections: (keyof typeof SECTION_OPTIONS)[] = [];

  const listener = (addr: OptionName, secure: OptionName, cert: OptionName, key: OptionName, extra: OptionName[]): Yaml => {
    const s: Yaml = {};
    if (given(addr)) s.bindAddress = value(addr);
    if (given(secure)) s.secureBindAddress = value(secure);
    const tls: Yaml = {};
    if (given(cert)) tls.cert = { fromFile: value(cert) };
    if (given(key)) tls.key = { fromFile: value(key) };
    if (extra[0] && given(extra[0])) tls.minVersion = value(extra[0]);
    if (extra[1] && given(extra[1])) tls.cipherSuites = value(extra[1]);
    if (Object.keys(tls).length) s.tls = tls;
    return s;
  };
  out.server = listener('http_address', 'https_address', 'tls_cert_file', 'tls_key_file', ['tls_min_version', 'tls_cipher_suites']);
  sections.push('server');
  if (SECTION_OPTIONS.metricsServer.some(given)) {
    out.metricsServer = listener('metrics_address', 'metrics_secure_address', 'metrics_tls_cert_file', 'metrics_tls_key_file', []);
    sections.push('metricsServer');
  }

  // Upstreams: oauth2-proxy's legacy conversion (id and path the route, the shared options on each).
  // proxyRawPath: true keeps the legacy options' matching of routes against the path as sent.
  const upstreams = parseList(raw.upstreams!.value).map((u) => {
    const spec = parseUpstreamUrl(u, []);
    if ('expected' in spec) return { id: u, path: '/', uri: u };
    if (spec.kind === 'static') return { id: u, path: spec.path, static: true, staticCode: spec.code };
    // The uri as written (a file or unix route's fragment too, which path repeats and oauth2-proxy ignores).
    const entry: Yaml = { id: spec.path, path: spec.path, uri: u };
    if (spec.kind === 'file') return entry;
    const settings: [OptionName, string][] = [['pass_host_header', 'passHostHeader'], ['proxy_websockets', 'proxyWebSockets'], ['upstream_timeout', 'timeout'],
      ['flush_interval', 'flushInterval'], ['ssl_upstream_insecure_skip_verify', 'insecureSkipTLSVerify'], ['disable_keep_alives', 'disableKeepAlives']];
    for (const [n, k] of settings) if (given(n)) entry[k] = value(n);
    return entry;
  });
  out.upstreamConfig = { proxyRawPath: true, upstreams };
  sections.push('upstreamConfig');

  const lists = legacyHeaderLists(c);
  out.injectRequestHeaders = lists.request.map(headerYaml);
  out.injectResponseHeaders = lists.response.map(headerYaml);
  sections.push('headers');

  const provider: Yaml = { id: c.provider.id, provider: 'oidc' };
  for (const [key, n] of PROVIDER_KEYS) {
    if (!given(n) || n === 'provider') continue;
    const path = key.split('.');
    let at = provider;
    for (const part of path.slice(0, -1)) at = (at[part] ??= {}) as Yaml;
    at[path.at(-1)!] = value(n);
  }
  const params = Object.entries(PARAMETER_OPTIONS).filter(([, n]) => given(n)).map(([name, n]) => ({ name, default: [value(n)] }));
  if (params.length) provider.loginURLParameters = params;
  out.providers = [provider];
  sections.push('providers');
  return { ok: true, yaml: stringify(out, { lineWidth: 0 }), sections };
}

function headerYaml(h: InjectedHeader): Yaml {
  return {
    name: h.name.replace(/(^|-)([a-z])/g, (_, dash: string, ch: string) => dash + ch.toUpperCase()),
    ...(h.preserveRequestValue ? { preserveRequestValue: true } : {}),
    values: h.values.map((v) => (v.kind === 'secret'
      ? { secretSource: { value: Buffer.from(v.value).toString('base64') } }
      : { claimSource: { claim: v.claim, ...(v.prefix ? { prefix: v.prefix } : {}), ...(v.basicAuthPassword !== undefined ? { basicAuthPassword: { value: Buffer.from(v.basicAuthPassword).toString('base64') } } : {}) } })),
  };
}
