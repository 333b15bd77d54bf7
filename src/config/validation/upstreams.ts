import { describeOrigin } from '../load.js';
import type { OptionReader } from '../reader.js';
import type { UpstreamSpec } from '../validate.js';
import { parseDuration } from '../values.js';


export interface UpstreamsPart {
  readonly upstreams: readonly UpstreamSpec[];
  readonly passHostHeader: boolean;
  readonly proxyWebsockets: boolean;
  readonly upstreamTimeoutMs: number;
}

/** Upstream URLs (the path is the route) and how requests reach them. */
export function validateUpstreams(r: OptionReader): UpstreamsPart {
  const upstreams: UpstreamSpec[] = [];
  for (const u of r.list('upstreams')) {
    let parsed: URL | undefined;
    try { parsed = new URL(u); } catch { /* reported below */ }
    if (!parsed || !(parsed.protocol === 'http:' || parsed.protocol === 'https:') || parsed.username || parsed.password) {
      r.errors.push(`${describeOrigin(r.spec('upstreams'), r.raw.upstreams!.origin)}: got ${JSON.stringify(u)}, expected an http:// or https:// URL without credentials, such as http://127.0.0.1:8080/`);
      continue;
    }
    if (parsed.search || parsed.hash) r.warnings.push(`upstream ${u}: its query string and fragment are ignored`);
    upstreams.push({ path: parsed.pathname, url: parsed });
  }
  const timeout = parseDuration(r.str('upstream_timeout'));
  if (!timeout.ok) r.fail('upstream_timeout', timeout.expected);
  return {
    upstreams, passHostHeader: r.bool('pass_host_header'), proxyWebsockets: r.bool('proxy_websockets'),
    upstreamTimeoutMs: timeout.ok ? timeout.value : 0,
  };
}
