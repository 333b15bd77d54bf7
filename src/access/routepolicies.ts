// Per-route policies (routes_file): pure decisions on a request's method and path, then on its
// session. In the spirit of Ory Oathkeeper's access rules: an ordered list, the first rule whose
// `match` fits decides; a path no rule matches is left to the global rules (skip_auth_routes and
// friends, then email_domains, allowed_groups, authenticated_emails_file).
//
// What a rule sees is what skip_auth_routes sees (access/routes.ts ruleView): the path without the
// query or fragment, percent-decoded, after the road has refused dot segments. A path whose meaning
// depends on the server behind (`;params`, `//`, an encoded separator, `%25`) is never anonymous,
// and is held to the rules of every path a server may read it as: `/admin;x` is `/admin` to Tomcat.

import { isEmailAllowed } from './email.js';
import { ruleView } from './routes.js';

/** Step-up: how the sign-in must have happened, for RFC 9470 and OIDC's acr_values and max_age. */
export interface StepUp {
  /** Any one of these `acr` values will do. */
  readonly acrValues?: readonly string[];
  /** The sign-in (auth_time) must be at most this many seconds old. */
  readonly maxAgeS?: number;
}

/** What a rule asks of a signed-in user, in addition to the global rules. Each part present must pass. */
export interface Requirements {
  /** One of these groups (exact names). */
  readonly groups?: ReadonlySet<string>;
  /** The email's domain, written as email_domains are (example.com, .example.com, *.example.com). */
  readonly emailDomains?: readonly string[];
  /** For each claim, one of its values (compared as strings). */
  readonly claims?: ReadonlyArray<{ readonly name: string; readonly values: ReadonlySet<string> }>;
  /** Signed in through one of these providers (ids; several providers): `/admin/` only through the staff IdP. */
  readonly providers?: ReadonlySet<string>;
  readonly stepUp?: StepUp;
}

export interface RouteRule {
  /** The rule's `id`, or `#N` (its place in the file, from 1): for logs and messages. */
  readonly id: string;
  /** Upper-case methods; undefined: any. */
  readonly methods?: ReadonlySet<string>;
  /** `match.path`: this path and everything under it (`/admin` is not `/administrator`). */
  readonly prefix?: string;
  /** `match.regex`, anchored at both ends. */
  readonly pattern?: RegExp;
  /** anonymous: no login; otherwise a login, plus `require` when set. */
  readonly anonymous: boolean;
  readonly require?: Requirements;
}

/** What the rules say of a request; undefined when no rule matches (the global rules decide). */
export type RouteDecision =
  | { readonly anonymous: true }
  | { readonly anonymous: false; readonly rules: readonly RouteRule[] };

export type RouteVerdict =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly code: 'ROUTE_NOT_ALLOWED'; readonly detail: string }
  | { readonly allowed: false; readonly code: 'STEP_UP_REQUIRED'; readonly detail: string; readonly stepUp: StepUp };

/** What a route check reads of a session or a login. */
export interface RoutePrincipal {
  readonly email?: string;
  readonly groups: readonly string[];
  readonly claims?: Readonly<Record<string, readonly string[]>>;
  /** The provider id the user signed in with; none: the first provider (see `firstProvider`). */
  readonly provider?: string;
  readonly acr?: string;
  /** Seconds since the epoch. */
  readonly authTime?: number;
}

/**
 * auth_time comes from the issuer's clock: the allowance for its disagreement with this one, as
 * for the ID token's own time checks (oidc/idtoken.ts).
 */
export const AUTH_TIME_TOLERANCE_S = 30;

const ANONYMOUS: RouteDecision = { anonymous: true };
const SIGNED_IN: RouteDecision = { anonymous: false, rules: [] };
const ALLOWED: RouteVerdict = { allowed: true };

/** True when the path is the prefix itself or lies under it. */
export function underPrefix(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || prefix.endsWith('/') || path.charCodeAt(prefix.length) === 47 /* / */;
}

function matches(r: RouteRule, method: string | undefined, view: string): boolean {
  if (r.methods && (method === undefined || !r.methods.has(method))) return false;
  return r.prefix !== undefined ? underPrefix(view, r.prefix) : r.pattern!.test(view);
}

/**
 * The paths servers may make of an ambiguous one: as sent, percent-decoded once, and decoded until
 * it stops changing; each of those also flattened (`\\` as `/`, `;params` dropped, slashes merged)
 * and then with its dot segments resolved. Servers take these steps in every order and subset (a
 * double-decoding router that merges slashes but resolves no dots reads `/%2f/%2561dmin/%252e%252e/x`
 * as `/admin/../x`, under /admin), so a rule applies when any of them meets it.
 */
export function readingsOf(path: string): string[] {
  let decoded = path;
  for (let i = 0; i < 4; i++) {
    const next = decodeLeniently(decoded);
    if (next === decoded) break;
    decoded = next;
  }
  const out = new Set<string>();
  for (const p of [path, decodeLeniently(path), decoded]) {
    out.add(p);
    const flat = p.replace(/\\/g, '/').split('/').map((seg) => seg.split(';', 1)[0]).join('/').replace(/\/{2,}/g, '/');
    out.add(flat);
    out.add(withoutDotSegments(flat));
  }
  return [...out];
}

function withoutDotSegments(path: string): string {
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '..') { if (out.length > 1) out.pop(); } else if (seg !== '.') out.push(seg);
  }
  const joined = out.join('/') || '/';
  return joined.startsWith('/') ? joined : `/${joined}`;
}

/** Percent-decoding that never throws: bytes that are not UTF-8 become U+FFFD. */
function decodeLeniently(s: string): string {
  if (!s.includes('%')) return s;
  return s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => Buffer.from(run.replace(/%/g, ''), 'hex').toString('utf8'));
}

/** The rules of one routes_file, compiled once at start-up. */
export class RoutePolicies {
  readonly rules: readonly RouteRule[];
  /** Every claim a rule reads: sessions keep these, and only these, of the issuer's claims. */
  readonly claimNames: readonly string[];
  /** True when a rule asks for step-up (acr_values or max_age). */
  readonly stepsUp: boolean;
  readonly #decisions: ReadonlyMap<RouteRule, RouteDecision>;
  readonly #methods: readonly string[];

  constructor(rules: readonly RouteRule[]) {
    this.rules = rules;
    this.claimNames = [...new Set(rules.flatMap((r) => r.require?.claims?.map((c) => c.name) ?? []))];
    this.stepsUp = rules.some((r) => r.require?.stepUp !== undefined);
    // One decision object per rule, made here: the hot path allocates nothing.
    this.#decisions = new Map(rules.map((r) => [r, r.anonymous ? ANONYMOUS : { anonymous: false, rules: [r] }]));
    this.#methods = [...new Set(rules.flatMap((r) => [...r.methods ?? []]))];
  }

  /** The first rule that matches the method and path, or undefined. */
  firstMatch(method: string | undefined, view: string): RouteRule | undefined {
    for (const r of this.rules) if (matches(r, method, view)) return r;
    return undefined;
  }

  /**
   * What the rules say of a request (`path` as sent, without the query). `method` undefined: not
   * known (forward-auth without X-Forwarded-Method), so every rule the path could meet applies.
   */
  decide(method: string | undefined, path: string): RouteDecision | undefined {
    if (method === undefined) return this.#combine(this.#methods.map((m) => this.decide(m, path)).concat(this.#decideOne(undefined, path)));
    return this.#decideOne(method, path);
  }

  #decideOne(method: string | undefined, path: string): RouteDecision | undefined {
    const view = ruleView(path);
    if (view !== undefined) {
      const r = this.firstMatch(method, view);
      return r && this.#decisions.get(r);
    }
    const decisions = readingsOf(path).map((reading) => {
      const r = this.firstMatch(method, reading);
      return r && this.#decisions.get(r);
    });
    const combined = this.#combine(decisions);
    // Never anonymous: some server behind may read the path as one that needs a login.
    return combined?.anonymous ? SIGNED_IN : combined;
  }

  /** Several decisions as one: anonymous only if all are; otherwise every rule's requirements. */
  #combine(decisions: ReadonlyArray<RouteDecision | undefined>): RouteDecision | undefined {
    const found = decisions.filter((d): d is RouteDecision => d !== undefined);
    if (found.length === 0) return undefined;
    if (found.length === decisions.length && found.every((d) => d.anonymous)) return ANONYMOUS;
    const rules = [...new Set(found.flatMap((d) => (d.anonymous ? [] : d.rules)))];
    if (rules.length === 0) return SIGNED_IN;
    return rules.length === 1 ? this.#decisions.get(rules[0]!) : { anonymous: false, rules };
  }

  /**
   * The step-up a login for this request asks for (at /oauth2/start, from rd), if a rule wants one:
   * the same rules the road will check when the browser comes back, as one step-up, so that a login
   * that meets it passes there too.
   */
  stepUpFor(method: string, path: string): StepUp | undefined {
    const d = this.decide(method, path);
    if (!d || d.anonymous) return undefined;
    return mergeStepUps(d.rules.flatMap((r) => (r.require?.stepUp ? [r.require.stepUp] : [])));
  }
}

/**
 * Several rules' step-ups as one that meets them all: an acr every list accepts, the shortest
 * max_age. No acr in common is an empty list, which no sign-in meets (a login asks for none).
 */
export function mergeStepUps(ups: readonly StepUp[]): StepUp | undefined {
  if (ups.length <= 1) return ups[0];
  const lists = ups.flatMap((u) => (u.acrValues ? [u.acrValues] : []));
  const ages = ups.flatMap((u) => (u.maxAgeS !== undefined ? [u.maxAgeS] : []));
  return {
    ...(lists.length ? { acrValues: lists.reduce((a, b) => a.filter((v) => b.includes(v))) } : {}),
    ...(ages.length ? { maxAgeS: Math.min(...ages) } : {}),
  };
}

/**
 * Whether a signed-in user meets the rules' requirements (the global rules have passed already):
 * who they are first, since a stronger sign-in would not change a refusal; then how they signed in.
 */
export function checkRoute(rules: readonly RouteRule[], who: RoutePrincipal, nowS: number, firstProvider?: string): RouteVerdict {
  for (const r of rules) {
    const q = r.require;
    if (!q) continue;
    if (q.providers) {
      const provider = who.provider ?? firstProvider;
      if (provider === undefined || !q.providers.has(provider)) {
        return { allowed: false, code: 'ROUTE_NOT_ALLOWED', detail: `rule ${r.id}: signed in through ${provider ?? '(no provider)'}, not one of [${[...q.providers].join(', ')}]` };
      }
    }
    if (q.groups && !who.groups.some((g) => q.groups!.has(g))) {
      return { allowed: false, code: 'ROUTE_NOT_ALLOWED', detail: `rule ${r.id}: groups [${who.groups.join(', ')}] include none of [${[...q.groups].join(', ')}]` };
    }
    if (q.emailDomains && !isEmailAllowed(who.email, q.emailDomains)) {
      return { allowed: false, code: 'ROUTE_NOT_ALLOWED', detail: `rule ${r.id}: email ${who.email ?? '(none)'} not in [${q.emailDomains.join(', ')}]` };
    }
    for (const c of q.claims ?? []) {
      const have = who.claims?.[c.name] ?? [];
      if (!have.some((v) => c.values.has(v))) {
        return { allowed: false, code: 'ROUTE_NOT_ALLOWED', detail: `rule ${r.id}: claim ${c.name} [${have.join(', ')}] has none of [${[...c.values].join(', ')}]` };
      }
    }
  }
  for (const r of rules) {
    const up = r.require?.stepUp;
    if (up && !stepUpMet(who, up, nowS)) return { allowed: false, code: 'STEP_UP_REQUIRED', detail: `rule ${r.id}: ${stepUpShortfall(who, up, nowS)}`, stepUp: up };
  }
  return ALLOWED;
}

/** True when the sign-in has one of the acr values asked for and is recent enough. */
export function stepUpMet(who: Pick<RoutePrincipal, 'acr' | 'authTime'>, up: StepUp, nowS: number): boolean {
  if (up.acrValues && (who.acr === undefined || !up.acrValues.includes(who.acr))) return false;
  if (up.maxAgeS !== undefined && (who.authTime === undefined || who.authTime + up.maxAgeS + AUTH_TIME_TOLERANCE_S < nowS)) return false;
  return true;
}

/** Why a sign-in falls short of a step-up, for the log. */
export function stepUpShortfall(who: Pick<RoutePrincipal, 'acr' | 'authTime'>, up: StepUp, nowS: number): string {
  if (up.acrValues && (who.acr === undefined || !up.acrValues.includes(who.acr))) return `acr ${who.acr ?? '(none)'} is none of [${up.acrValues.join(', ')}]`;
  if (up.maxAgeS !== undefined) return who.authTime === undefined ? 'no auth_time' : `signed in ${nowS - who.authTime} s ago, max_age ${up.maxAgeS}`;
  return 'met';
}

/**
 * The RFC 9470 challenge: `WWW-Authenticate: Bearer error="insufficient_user_authentication", …`.
 * The values are the operator's (checked at start-up to hold no `"` or `\`).
 */
export function stepUpChallenge(up: StepUp): string {
  const parts = ['Bearer error="insufficient_user_authentication"'];
  parts.push(`error_description="${up.acrValues ? 'A different authentication level is required' : 'More recent authentication is required'}"`);
  if (up.acrValues) parts.push(`acr_values="${up.acrValues.join(' ')}"`);
  if (up.maxAgeS !== undefined) parts.push(`max_age="${up.maxAgeS}"`);
  return parts.join(', ');
}
