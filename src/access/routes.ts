// Routes without login (skip_auth_routes, skip_auth_regex, skip_auth_preflight) and API routes
// (api_routes): pure decisions on a request's method and path.
//
// What a rule sees. The road has already refused dot segments, backslashes, `#` and absolute-form
// targets (server/context.ts splitTarget), and the upstream gets exactly the target the road
// checked. A rule matches that path, without the query, percent-DECODED — oauth2-proxy's meaning
// (its rules match Go's decoded URL.Path), so `^/public/` also covers `/%70ublic/x`, which every
// server reads as `/public/x`. Decoding is only safe when servers agree on what the decoded path
// is, so a path whose meaning depends on the server behind is never skipped (it needs a login):
//
//   %2F %5C   an encoded separator: some servers split on it, most do not
//   %25       an encoded `%`: a server that decodes twice sees a different path
//   %3F %23   an encoded `?` or `#`: a decoding server may cut the path there
//   %3B and ; path parameters: Tomcat and Jetty drop `;…` from a segment (`/admin;x/` is `/admin/`)
//   //        an empty segment: nginx and many frameworks merge slashes
//   %00-%1F, %7F, bad percent-encoding or bad UTF-8, and dot segments (refused by the road anyway)
//
// Without this rule a negated route (`!=^/admin`) would skip `/%2561dmin`, `/admin;x/` or `//admin`
// and a server behind would serve /admin; an unanchored one (`/public/`) would skip
// `/admin%3F/public/`. The query and the X-Forwarded-Uri header are never looked at (both were
// oauth2-proxy advisories), nor is the User-Agent.

/** One skip_auth_routes / skip_auth_regex entry, compiled once at start-up. */
export interface SkipRule {
  /** Upper-case method, or undefined for any. */
  readonly method?: string;
  /** `METHOD!=regex`: the rule skips the paths the regex does NOT match. */
  readonly negate: boolean;
  readonly pattern: RegExp;
  /** The entry as written, for logs. */
  readonly source: string;
}

/**
 * A regex as oauth2-proxy users write them (Go RE2), compiled as a JavaScript RegExp. The Go forms
 * that JavaScript spells differently are translated: leading inline flags `(?i)`, `(?s)`, `(?m)`,
 * named groups `(?P<name>…)`, and `\A` / `\z` (start and end of text). Anything else that does not
 * compile is reported with the entry.
 */
export function compilePattern(source: string): RegExp | { error: string } {
  let body = source;
  let flags = '';
  const lead = /^\(\?([imsU]+)\)/.exec(body);
  if (lead) {
    if (lead[1]!.includes('U')) return { error: 'the (?U) flag (ungreedy) has no JavaScript equivalent' };
    flags = [...new Set(lead[1]!)].join('');
    body = body.slice(lead[0].length);
  }
  if (/\(\?[imsU-]+[:)]/.test(body)) return { error: 'inline flags are understood only at the very start, e.g. (?i)^/public/' };
  if (/\[\[:[a-z]+:\]\]/.test(body)) return { error: 'POSIX classes such as [[:alpha:]] are not JavaScript; write [A-Za-z]' };
  body = body.replace(/\(\?P</g, '(?<').replace(/(^|[^\\])\\A/g, '$1^').replace(/(^|[^\\])\\z/g, '$1$');
  try {
    return new RegExp(body, flags);
  } catch (e) {
    return { error: (e as Error).message.replace(/^Invalid regular expression: /, '') };
  }
}

/** `METHOD=regex`, `METHOD!=regex`, `!=regex`, or a plain regex (oauth2-proxy's buildRoutesAllowlist). */
export function parseSkipRoute(entry: string): SkipRule | { error: string } {
  const m = /^([A-Za-z]*)(!?=)(.*)$/s.exec(entry);
  const method = m ? m[1]!.toUpperCase() || undefined : undefined;
  const negate = m ? m[2] === '!=' : false;
  const source = m ? m[3]! : entry;
  if (source === '') return { error: 'an empty path regex would match every path' };
  const pattern = compilePattern(source);
  if ('error' in pattern) return pattern;
  return { method, negate, pattern, source: entry };
}

const AMBIGUOUS_ESCAPE = /%(?:2f|5c|25|3f|23|3b|[01][0-9a-f]|7f)/i;
const BAD_ESCAPE = /%(?![0-9a-f]{2})/i;

/**
 * The path as skip and API rules see it: percent-decoded, or undefined when its meaning depends on
 * the server behind (see the top of this file) — such a path is never skipped.
 */
export function ruleView(path: string): string | undefined {
  if (path.includes(';') || path.includes('//')) return undefined;
  let view = path;
  if (path.includes('%')) {
    if (AMBIGUOUS_ESCAPE.test(path) || BAD_ESCAPE.test(path)) return undefined;
    try {
      view = decodeURIComponent(path);
    } catch {
      return undefined; // not UTF-8
    }
  }
  // The road refuses dot segments before this (splitTarget); refusing them here as well keeps this
  // function safe on its own.
  if (view.includes('.') && view.split('/').some((seg) => seg === '.' || seg === '..')) return undefined;
  return view;
}

/** The route rules of one configuration, compiled once. */
export class RouteRules {
  readonly #skip: readonly SkipRule[];
  readonly #api: readonly RegExp[];
  readonly #preflight: boolean;

  constructor(o: { skip: readonly SkipRule[]; api: readonly RegExp[]; skipPreflight: boolean }) {
    this.#skip = o.skip;
    this.#api = o.api;
    this.#preflight = o.skipPreflight;
  }

  /** True when nothing can be skipped: the road then pays nothing for this step. */
  get empty(): boolean { return this.#skip.length === 0 && !this.#preflight; }

  /** skip_auth_preflight alone: a CORS preflight needs no login on any path, whatever routes_file says. */
  skipsPreflight(method: string | undefined): boolean {
    return this.#preflight && method === 'OPTIONS';
  }

  /** True when the request needs no login (skip_auth_preflight, skip_auth_routes, skip_auth_regex). */
  skips(method: string | undefined, path: string): boolean {
    if (this.#preflight && method === 'OPTIONS') return true;
    if (this.#skip.length === 0) return false;
    const view = ruleView(path);
    if (view === undefined) return false;
    for (const r of this.#skip) {
      if (r.method !== undefined && r.method !== method) continue;
      if (r.pattern.test(view) !== r.negate) return true;
    }
    return false;
  }

  /**
   * True for api_routes: a request without a session gets 401, never a redirect. An ambiguous path
   * is matched as it was sent: a wrong guess here only changes 401 into a sign-in redirect.
   */
  isApi(path: string): boolean {
    if (this.#api.length === 0) return false;
    const view = ruleView(path) ?? path;
    return this.#api.some((p) => p.test(view));
  }
}
