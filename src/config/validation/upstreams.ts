import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describeOrigin } from '../load.js';
import type { OptionReader } from '../reader.js';
import { parseDuration } from '../values.js';
import type { UpstreamSpec, UpstreamsPart } from '../types.js';

export type { UpstreamsPart };

const FORMS = 'an http:// or https:// URL without credentials (http://127.0.0.1:8080/), unix:///path/to.sock, file:///dir/#/route/ or static://CODE';

/**
 * Upstream URLs and how requests reach them. The route is the URL's path for http(s), as in
 * oauth2-proxy; for file:// it is the fragment (`file:///var/www#/static/`), `/` without one. For
 * unix:// and static:// oauth2-proxy always uses `/`; a fragment gives another route here.
 */
export function validateUpstreams(r: OptionReader): UpstreamsPart {
  const upstreams: UpstreamSpec[] = [];
  const where = (): string => describeOrigin(r.spec('upstreams'), r.raw.upstreams!.origin);
  const bad = (u: string, why: string): void => { r.errors.push(`${where()}: got ${JSON.stringify(u)}, expected ${why}`); };
  for (const u of r.list('upstreams')) {
    const spec = parseUpstreamUrl(u, r.warnings);
    if ('expected' in spec) bad(u, spec.expected);
    else upstreams.push(spec);
  }
  // oauth2-proxy refuses two upstreams on one path: which of them would serve it is an accident of order.
  const seen = new Map<string, string>();
  for (const s of upstreams) {
    const first = seen.get(s.path);
    if (first !== undefined) r.errors.push(`${where()}: ${JSON.stringify(first)} and ${JSON.stringify(s.url.href)} both serve the route ${s.path}; give each upstream its own route`);
    else seen.set(s.path, s.url.href);
  }
  // Nothing is buffered, so there is nothing to flush; a malformed value is still a mistake to report.
  const flush = parseDuration(r.str('flush_interval'));
  if (!flush.ok) r.fail('flush_interval', flush.expected);
  const timeout = parseDuration(r.str('upstream_timeout'));
  if (!timeout.ok) r.fail('upstream_timeout', timeout.expected);
  return {
    upstreams,
    passHostHeader: r.bool('pass_host_header'),
    proxyWebsockets: r.bool('proxy_websockets'),
    sslUpstreamInsecureSkipVerify: r.bool('ssl_upstream_insecure_skip_verify'),
    disableKeepAlives: r.bool('disable_keep_alives'),
    upstreamTimeoutMs: timeout.ok ? timeout.value : 0,
  };
}

/**
 * One upstream URL: its kind, and its route (the URL's path for http(s); the fragment, or `/`, for
 * the others); or the form expected.
 */
export function parseUpstreamUrl(u: string, warnings: string[]): UpstreamSpec | { expected: string } {
  let url: URL | undefined;
  try { url = new URL(u); } catch { /* reported below */ }
  if (!url || url.username || url.password) return { expected: FORMS };
  const isHttp = url.protocol === 'http:' || url.protocol === 'https:';
  const fragmentRoute = url.hash === '' ? '/' : routeOf(url.hash.slice(1));
  if (!isHttp && fragmentRoute === undefined) return { expected: `a route after # that is a path starting with /, such as ${url.protocol}//…#/files/` };
  switch (url.protocol) {
    case 'http:':
    case 'https:':
      if (url.search || url.hash) warnings.push(`upstream ${u}: its query string and fragment are ignored`);
      return { kind: 'http', path: url.pathname, url };
    case 'unix:': {
      let socketPath: string | undefined;
      try { socketPath = decodeURIComponent(url.pathname); } catch { /* reported below */ }
      if (url.host !== '' || url.pathname === '/' || url.search || !socketPath || socketPath.includes('\0')) {
        return { expected: 'unix:// and an absolute socket path, such as unix:///run/app.sock (three slashes)' };
      }
      return { kind: 'unix', path: fragmentRoute!, url, socketPath };
    }
    case 'file:': {
      const dir = fileDirectory(url);
      if (typeof dir !== 'string') return { expected: dir.expected };
      return { kind: 'file', path: fragmentRoute!, url, dir };
    }
    case 'static:': {
      const code = /^\d{3}$/.test(url.host) ? Number(url.host) : NaN;
      if (!(code >= 200 && code <= 599) || (url.pathname !== '' && url.pathname !== '/') || url.search) {
        return { expected: 'static:// and an HTTP status from 200 to 599, such as static://202 (optionally #/route)' };
      }
      return { kind: 'static', path: fragmentRoute!, url, code };
    }
    default:
      return { expected: FORMS };
  }
}

/** A route given as a URL fragment: an absolute path, matched (like http routes) against the path as sent. */
function routeOf(fragment: string): string | undefined {
  return fragment.startsWith('/') && !/[\s?#]/.test(fragment) ? fragment : undefined;
}

/** The directory of a file:// upstream: absolute, on this machine, existing. */
function fileDirectory(url: URL): string | { expected: string } {
  if (url.host !== '' && url.host !== 'localhost') return { expected: 'file:// and an absolute directory, such as file:///var/www/ (three slashes: a host is not allowed)' };
  if (url.search) return { expected: 'a file:// URL without a query string' };
  let dir: string;
  try { dir = fileURLToPath(new URL(url.pathname, 'file://')); } catch (e) {
    return { expected: `a file:// URL of a directory (${(e as Error).message})` };
  }
  try {
    if (!statSync(dir).isDirectory()) return { expected: `a directory (${dir} is not one)` };
  } catch (e) {
    return { expected: `an existing directory (${dir}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'})` };
  }
  return dir;
}
