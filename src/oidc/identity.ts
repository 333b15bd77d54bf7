import type { ProviderConfig } from '../config/validate.js';
import { PortcullisError } from '../errors.js';
import type { Session } from '../session/codec.js';

export interface Identity {
  readonly user: string;
  readonly sub: string;
  readonly email?: string;
  readonly groups: string[];
  readonly preferredUsername?: string;
  /** How the user signed in (`acr`) and when (`auth_time`, seconds since the epoch): from the trusted claims only. */
  readonly acr?: string;
  readonly authTime?: number;
  /** The claims routes_file rules read (keptClaims), as strings: only those, to keep sessions small. */
  readonly claims?: Readonly<Record<string, readonly string[]>>;
}

type Claims = Readonly<Record<string, unknown>>;

/** What identityFromClaims reads of the provider configuration. */
export type ClaimNames = Pick<ProviderConfig, 'emailClaim' | 'groupsClaim' | 'allowUnverifiedEmail' | 'keptClaims'>;

/**
 * Turns claims into the identity the proxy forwards. `trusted` is the claim set we verified (the
 * ID token when its signature was checked); `extra` fills what it lacks (userinfo, which many issuers
 * use for email and groups). Without a verified ID token, userinfo is the trusted set.
 */
export function identityFromClaims(trusted: Claims, extra: Claims | undefined, p: ClaimNames): Identity {
  const claims: Claims = { ...extra, ...trusted };
  const sub = typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : undefined;
  if (!sub) throw new PortcullisError('NO_IDENTITY', { detail: 'no sub claim' });

  // Configured claims are looked up in each source on its own, the verified one first, as
  // oauth2-proxy does: a merge would let one source's object hide the other's nested value.
  const named = (name: string): unknown => claimIn(trusted, name) ?? (extra ? claimIn(extra, name) : undefined);
  const emailValue = named(p.emailClaim);
  const email = typeof emailValue === 'string' && emailValue !== '' ? emailValue : undefined;
  // oauth2-proxy's rule: refuse only an explicit email_verified=false (many issuers omit the claim),
  // and only when the email is the `email` claim that email_verified speaks of.
  const verified = claims.email_verified;
  if (email && p.emailClaim === 'email' && (verified === false || verified === 'false') && !p.allowUnverifiedEmail) {
    throw new PortcullisError('EMAIL_UNVERIFIED', { detail: `email_verified=false for ${email}` });
  }

  // X-Forwarded-User is the subject, as in oauth2-proxy (whose user_id_claim names the email claim).
  const user = sub;
  const preferred = claims.preferred_username;
  // acr and auth_time describe the sign-in the trusted set (the verified ID token) vouches for;
  // userinfo says who the user is, not how they signed in.
  const acr = trusted.acr;
  const authTime = trusted.auth_time;
  const kept = p.keptClaims?.length ? keptClaimsOf(named, p.keptClaims) : undefined;
  return {
    user,
    sub,
    email,
    groups: groupsOf(named(p.groupsClaim)),
    preferredUsername: typeof preferred === 'string' && preferred !== '' ? preferred : undefined,
    ...(typeof acr === 'string' && acr !== '' ? { acr } : {}),
    ...(typeof authTime === 'number' && Number.isFinite(authTime) ? { authTime: Math.floor(authTime) } : {}),
    ...(kept ? { claims: kept } : {}),
  };
}

/** The named claims' values as strings (a string, number or boolean, or a list of them); others are left out. */
function keptClaimsOf(named: (name: string) => unknown, names: readonly string[]): Record<string, string[]> | undefined {
  const out: Record<string, string[]> = {};
  let any = false;
  for (const name of names) {
    const v = named(name);
    const list = (Array.isArray(v) ? v : [v]).filter((x) => (typeof x === 'string' && x !== '') || typeof x === 'number' || typeof x === 'boolean').map(String);
    if (list.length) { out[name] = list; any = true; }
  }
  return any ? out : undefined;
}

function groupsOf(v: unknown): string[] {
  if (typeof v === 'string') return v === '' ? [] : [v];
  if (Array.isArray(v)) return v.filter((g): g is string => typeof g === 'string' && g !== '');
  return [];
}

/** True when the trusted claims lack something userinfo may have. */
export function needsUserinfo(trusted: Claims, p: ProviderConfig): boolean {
  return claimIn(trusted, p.emailClaim) === undefined || claimIn(trusted, p.groupsClaim) === undefined || (p.keptClaims?.some((c) => claimIn(trusted, c) === undefined) ?? false);
}

/**
 * A claim by the name configured for it, as oauth2-proxy reads one: the whole name first (so a
 * namespaced claim such as `https://example.com/groups` is found as it is), then, when there is no
 * such claim, the name as a path of dot-separated keys into nested objects (Keycloak's
 * `realm_access.roles`). No array indexes, as in oauth2-proxy. Only the claims' own keys count.
 */
export function claimAt(claims: Claims, name: string): unknown {
  // A whole name that holds null is found (null), as simplejson's CheckGet finds it.
  if (Object.hasOwn(claims, name)) return claims[name];
  if (!name.includes('.')) return undefined;
  let at: unknown = claims;
  for (const key of name.split('.')) {
    if (typeof at !== 'object' || at === null || Array.isArray(at) || !Object.hasOwn(at, key)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

/** A claim of one source, null counting as missing (oauth2-proxy then asks the next source). */
function claimIn(claims: Claims, name: string): unknown {
  return claimAt(claims, name) ?? undefined;
}

/** The part of a session an identity fills: who, and how they signed in (route step-up reads acr, auth_time). */
export function sessionIdentity(identity: Identity): Pick<Session, 'user' | 'sub' | 'email' | 'groups' | 'preferredUsername' | 'acr' | 'authTime' | 'claims'> {
  return {
    user: identity.user,
    sub: identity.sub,
    email: identity.email,
    groups: identity.groups,
    preferredUsername: identity.preferredUsername,
    ...(identity.acr !== undefined ? { acr: identity.acr } : {}),
    ...(identity.authTime !== undefined ? { authTime: identity.authTime } : {}),
    ...(identity.claims ? { claims: identity.claims } : {}),
  };
}
