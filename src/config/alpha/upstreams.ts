/** upstreamConfig of the alpha file, as the legacy reader's upstream specs. */
import type { RawOptions } from '../load.js';
import { OptionReader } from '../reader.js';
import type { Config, UpstreamSettings, UpstreamSpec } from '../types.js';
import { parseUpstreamUrl } from '../validation/upstreams.js';
import { parseDuration } from '../values.js';
import type { Fields, Read } from './schema.js';
import type { Fail } from './secret.js';

/**
 * A path pattern as oauth2-proxy (Go's regexp) writes it: (?P<name>…) is JavaScript's (?<name>…).
 * `anchored` wraps it whole (loginURLParameters' allow patterns must match the whole value).
 */
export function goRegExp(source: string, anchored: boolean): RegExp | string {
  try {
    const js = source.replace(/\(\?P</g, '(?<');
    return new RegExp(anchored ? `^(?:${js})$` : js);
  } catch (e) {
    return (e as Error).message;
  }
}

/** Go's ReplaceAllString template: ${1} and ${name} are JavaScript's $1 and $<name>. */
function jsReplacement(target: string): string {
  return target.replace(/\$\{(\w+)\}|\$([A-Za-z_]\w*)/g, (_, braced: string | undefined, bare: string | undefined) => {
    const n = (braced ?? bare)!;
    return /^\d+$/.test(n) ? `$${n}` : `$<${n}>`;
  });
}

/** upstreamConfig: each upstream as the legacy reader's UpstreamSpec, with its own settings where they differ from the rest. */
export function readUpstreams(section: Fields, merged: RawOptions, errors: string[], warnings: string[], file: string, fail: Fail): Pick<Config, 'upstreams' | 'passHostHeader' | 'proxyWebsockets' | 'upstreamTimeoutMs' | 'sslUpstreamInsecureSkipVerify' | 'disableKeepAlives' | 'upstreamPathsDecoded'> {
  const r = new OptionReader(merged, () => '');
  const defaults = {
    passHostHeader: r.bool('pass_host_header'),
    proxyWebSockets: r.bool('proxy_websockets'),
    timeoutMs: parseDuration(r.str('upstream_timeout')).ok ? (parseDuration(r.str('upstream_timeout')) as { value: number }).value : 30_000,
    insecureSkipVerify: r.bool('ssl_upstream_insecure_skip_verify'),
    disableKeepAlives: r.bool('disable_keep_alives'),
  };
  const items = (section.get<Read[]>('upstreams')?.value ?? []) as Fields[];
  const specs: { spec: UpstreamSpec; settings: Required<UpstreamSettings> }[] = [];
  const ids = new Map<string, string>();
  const routes = new Map<string, string>();
  for (const u of items) {
    const id = u.get<string>('id');
    const path = u.get<string>('path');
    const where = `${u.path} (line ${u.line} of ${file})`;
    if (!id || id.value === '') errors.push(`${where}: id is required, a name unique among the upstreams (e.g. id: app)`);
    else if (ids.has(id.value)) fail(id, id.value, `an id of its own (${ids.get(id.value)} has it)`);
    else ids.set(id.value, u.path);
    if (!path || path.value === '') { errors.push(`${where}: path is required: the route it serves, such as / or /api/ (or a regular expression with rewriteTarget)`); continue; }
    const isStatic = u.get<boolean>('static')?.value === true;
    const uri = u.get<string>('uri');
    const rewriteTarget = u.get<string>('rewriteTarget');
    let spec: UpstreamSpec | undefined;
    if (isStatic) {
      const code = u.get<number>('staticCode');
      const status = code?.value ?? 200;
      if (status < 200 || status > 599) fail(code!, status, 'an HTTP status from 200 to 599');
      // The URL the legacy option would write for it (it names the upstream in logs).
      else spec = { kind: 'static', path: path.value, url: new URL(`static://${status}${path.value === '/' ? '' : `#${path.value}`}`), code: status };
      if (uri) warnings.push(`${u.path}.uri (line ${u.line} of ${file}) is ignored on a static upstream`);
    } else if (!uri || uri.value === '') {
      errors.push(`${where}: uri is required (http://host:port, https://…, unix:///path.sock or file:///dir/), or static: true`);
    } else {
      const parsed = parseUpstreamUrl(uri.value, warnings);
      if ('expected' in parsed) fail(uri, uri.value, parsed.expected.replace(/ \(optionally #\/route\)|, static:\/\/CODE/g, '').replace('static://CODE', 'static: true'));
      else if (parsed.kind === 'static') fail(uri, uri.value, 'an http(s), unix or file URI: write static: true and staticCode for a static answer');
      else spec = { ...parsed, path: path.value };
    }
    if (!spec) continue;
    if (rewriteTarget) {
      if (spec.kind !== 'http' && spec.kind !== 'unix') { fail(rewriteTarget, rewriteTarget.value, 'no rewriteTarget: it is supported on http(s) and unix upstreams'); continue; }
      const re = goRegExp(path.value, false);
      if (typeof re === 'string') { fail(path, path.value, `a regular expression, because rewriteTarget is set (${re})`); continue; }
      if (!rewriteTarget.value.startsWith('/')) { fail(rewriteTarget, rewriteTarget.value, 'a path starting with /, with $1 or ${name} for the groups of path, e.g. /$1'); continue; }
      spec = { ...spec, rewrite: { pattern: re, target: jsReplacement(rewriteTarget.value) } };
    } else {
      if (!path.value.startsWith('/') || /[\s?#]/.test(path.value)) { fail(path, path.value, 'a path starting with /, such as /api/ (a regular expression only with rewriteTarget)'); continue; }
      const first = routes.get(path.value);
      if (first !== undefined) { fail(path, path.value, `a route of its own (${first} serves it)`); continue; }
      routes.set(path.value, u.path);
    }
    // flushInterval is checked by the schema and has nothing to do: responses are never buffered.
    const timeout = u.get<string>('timeout');
    specs.push({
      spec,
      settings: {
        passHostHeader: u.get<boolean>('passHostHeader')?.value ?? defaults.passHostHeader,
        proxyWebSockets: u.get<boolean>('proxyWebSockets')?.value ?? defaults.proxyWebSockets,
        timeoutMs: timeout ? (parseDuration(timeout.value) as { value: number }).value : defaults.timeoutMs,
        insecureSkipVerify: u.get<boolean>('insecureSkipTLSVerify')?.value ?? defaults.insecureSkipVerify,
        disableKeepAlives: u.get<boolean>('disableKeepAlives')?.value ?? defaults.disableKeepAlives,
      },
    });
  }
  // A setting all forwarding upstreams share becomes the global one (the shape the legacy options
  // give); only an upstream that differs carries its own. Static and file upstreams forward nothing.
  const forwarding = specs.filter((s) => s.spec.kind === 'http' || s.spec.kind === 'unix');
  const global = { ...defaults };
  for (const key of Object.keys(defaults) as (keyof typeof defaults)[]) {
    const values = new Set(forwarding.map((s) => s.settings[key]));
    if (values.size === 1) (global as Record<string, unknown>)[key] = [...values][0];
  }
  const upstreams = specs.map(({ spec, settings }) => {
    if (spec.kind !== 'http' && spec.kind !== 'unix') return spec;
    const own: Record<string, unknown> = {};
    for (const key of Object.keys(global) as (keyof typeof global)[]) if (settings[key] !== global[key]) own[key] = settings[key];
    return Object.keys(own).length ? { ...spec, settings: own as UpstreamSettings } : spec;
  });
  const rawPath = section.get<boolean>('proxyRawPath')?.value === true;
  return {
    upstreams,
    passHostHeader: global.passHostHeader,
    proxyWebsockets: global.proxyWebSockets,
    upstreamTimeoutMs: global.timeoutMs,
    sslUpstreamInsecureSkipVerify: global.insecureSkipVerify,
    disableKeepAlives: global.disableKeepAlives,
    ...(rawPath ? {} : { upstreamPathsDecoded: true as const }),
  };
}

