import type { Principal, Verdict } from './policy.js';

/**
 * What a reverse proxy may ask of `/oauth2/auth` beyond the global rules, in the query string, as
 * oauth2-proxy reads it (ingress-nginx users write `auth-url: …/oauth2/auth?allowed_groups=admins`
 * per Ingress): `allowed_groups`, `allowed_emails` and `allowed_email_domains`, each a
 * comma-separated list that may repeat. Every one given must pass; one left empty asks nothing.
 */
export interface AuthQuery {
  readonly groups?: ReadonlySet<string>;
  readonly emails?: ReadonlySet<string>;
  readonly emailDomains?: readonly string[];
}

const KEYS = ['allowed_groups', 'allowed_emails', 'allowed_email_domains'] as const;

/** The constraints in a query string (`?a=b…` or empty); undefined when it has none. */
export function parseAuthQuery(search: string): AuthQuery | undefined {
  const params = new URLSearchParams(search);
  const lists = KEYS.map((k) => params.getAll(k).flatMap((v) => v.split(',')).filter((v) => v !== ''));
  const [groups, emails, domains] = lists as [string[], string[], string[]];
  if (groups.length + emails.length + domains.length === 0) return undefined;
  return {
    ...(groups.length ? { groups: new Set(groups) } : {}),
    ...(emails.length ? { emails: new Set(emails) } : {}),
    ...(domains.length ? { emailDomains: domains.map((d) => d.toLowerCase()) } : {}),
  };
}

/**
 * oauth2-proxy's checks: a group in common (exact names), the exact address, and a domain as its
 * IsEndpointAllowed reads one (`example.com` that domain; `.example.com` or `*.example.com` that
 * domain and its subdomains), compared without case. An address without exactly one `@` fails.
 */
export function checkAuthQuery(q: AuthQuery, who: Principal): Verdict {
  if (q.groups && !who.groups.some((g) => q.groups!.has(g))) {
    return { allowed: false, code: 'GROUP_NOT_ALLOWED', detail: `groups [${who.groups.join(', ')}] include none of the allowed_groups the /oauth2/auth query names` };
  }
  if (q.emails && (who.email === undefined || !q.emails.has(who.email))) {
    return { allowed: false, code: 'EMAIL_NOT_ALLOWED', detail: `email ${who.email ?? '(none)'} is not one of the allowed_emails the /oauth2/auth query names` };
  }
  if (q.emailDomains && !domainAllowed(who.email, q.emailDomains)) {
    return { allowed: false, code: 'EMAIL_NOT_ALLOWED', detail: `email ${who.email ?? '(none)'} is not in the allowed_email_domains the /oauth2/auth query names` };
  }
  return { allowed: true };
}

function domainAllowed(email: string | undefined, allowed: readonly string[]): boolean {
  const parts = email?.split('@');
  if (!parts || parts.length !== 2 || parts[0] === '' || parts[1] === '') return false;
  const domain = parts[1]!.toLowerCase();
  return allowed.some((d) => {
    const bare = d.startsWith('*.') ? d.slice(2) : d.startsWith('.') ? d.slice(1) : d;
    if (bare === '') return false;
    if (domain === bare) return true;
    return bare !== d && domain.endsWith(`.${bare}`);
  });
}
