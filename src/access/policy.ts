import type { ErrorCode } from '../errors.js';
import type { Session } from '../session/codec.js';
import { isEmailAllowed } from './email.js';
import type { EmailList } from './emailsfile.js';

/** Who is asking, as far as access rules care. */
export interface Principal {
  readonly email?: string;
  readonly groups: readonly string[];
}

export type Verdict =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly code: ErrorCode; readonly detail: string };

export interface AccessRules {
  readonly emailDomains: readonly string[];
  /** authenticated_emails_file: addresses let in whatever the domains say. */
  readonly authenticatedEmails?: EmailList;
  /** allowed_groups; empty: no group rule. */
  readonly allowedGroups: ReadonlySet<string>;
  /** The provider's own allowedGroups (several providers): one of them is needed as well. */
  readonly providerGroups?: ReadonlySet<string>;
}

const ALLOWED: Verdict = { allowed: true };

/**
 * One provider's rules, from the global ones: its own email domains replace email_domains (and then
 * authenticated_emails_file does not widen them: any IdP can assert any address, so a partner's
 * may only assert its own domains), and its own allowedGroups are required on top of allowed_groups.
 */
export function providerRules(global: AccessRules, p: { readonly emailDomains?: readonly string[]; readonly allowedGroups?: readonly string[] }): AccessRules {
  const own = p.emailDomains?.length ? p.emailDomains.map((d) => d.toLowerCase()) : undefined;
  return {
    emailDomains: own ?? global.emailDomains,
    ...(own ? {} : { authenticatedEmails: global.authenticatedEmails }),
    allowedGroups: global.allowedGroups,
    ...(p.allowedGroups?.length ? { providerGroups: new Set(p.allowedGroups) } : {}),
  };
}

/**
 * The global access rules as one pure decision, combined as oauth2-proxy combines them: the email
 * must pass (its domain is in email_domains, or the address is in authenticated_emails_file), AND,
 * when allowed_groups is set, one of the user's groups must be in it (oauth2-proxy's Validator and
 * provider Authorize, both required). Group names are compared exactly, as oauth2-proxy does.
 */
export function decide(who: Principal, rules: AccessRules): Verdict {
  const listed = who.email !== undefined && rules.authenticatedEmails?.has(who.email) === true;
  if (!listed && !isEmailAllowed(who.email, rules.emailDomains)) {
    return { allowed: false, code: 'EMAIL_NOT_ALLOWED', detail: `email ${who.email ?? '(none)'} not in email_domains${rules.authenticatedEmails ? ' nor in authenticated_emails_file' : ''}` };
  }
  if (rules.allowedGroups.size > 0 && !who.groups.some((g) => rules.allowedGroups.has(g))) {
    return { allowed: false, code: 'GROUP_NOT_ALLOWED', detail: `groups [${who.groups.join(', ')}] include none of allowed_groups` };
  }
  if (rules.providerGroups && !who.groups.some((g) => rules.providerGroups!.has(g))) {
    return { allowed: false, code: 'GROUP_NOT_ALLOWED', detail: `groups [${who.groups.join(', ')}] include none of the provider's allowedGroups` };
  }
  return ALLOWED;
}

/**
 * The rules applied at login and again on every request (a session issued under looser rules must
 * not outlive a stricter configuration — oauth2-proxy re-checks each request too). The verdict is
 * remembered per session object: cached sessions are the same object on every request, so the hot
 * path pays one WeakMap lookup and one number comparison. The number is the emails file's
 * generation: when the file changes, every session is decided afresh on its next request.
 */
export class AccessPolicy {
  readonly #rules: AccessRules;
  /** With several providers: each one's rules, by provider id (the first's for a session that names none). */
  readonly #perProvider: ReadonlyMap<string, AccessRules> | undefined;
  readonly #firstProvider: string | undefined;
  readonly #verdicts = new WeakMap<Session, { readonly verdict: Verdict; readonly generation: number }>();

  /** `perProvider`: with several providers, each provider id's rules, the first provider first. */
  constructor(rules: AccessRules, perProvider?: ReadonlyMap<string, AccessRules>) {
    this.#rules = rules;
    this.#perProvider = perProvider;
    this.#firstProvider = perProvider?.keys().next().value;
  }

  /** The rules a provider's users are judged by; undefined for a provider no longer configured. */
  #rulesFor(provider: string | undefined): AccessRules | undefined {
    if (!this.#perProvider) return this.#rules;
    return this.#perProvider.get(provider ?? this.#firstProvider!);
  }

  #judge(who: Principal, provider: string | undefined): Verdict {
    const rules = this.#rulesFor(provider);
    if (!rules) return { allowed: false, code: 'EMAIL_NOT_ALLOWED', detail: `provider ${JSON.stringify(provider)} is not configured` };
    return decide(who, rules);
  }

  /**
   * For a login in progress (no session yet). A login without an email is refused before any rule,
   * `email_domains=*` included, as oauth2-proxy's validator refuses an empty address. (Bearer
   * tokens, where oauth2-proxy takes the subject for a missing email, are judged by the rules alone.)
   */
  decide(who: Principal, provider?: string): Verdict {
    if (who.email === undefined) return { allowed: false, code: 'EMAIL_MISSING', detail: 'the issuer sent no email claim' };
    return this.#judge(who, provider);
  }

  forSession(s: Session): Verdict {
    const generation = this.#rules.authenticatedEmails?.generation ?? 0;
    const hit = this.#verdicts.get(s);
    if (hit && hit.generation === generation) return hit.verdict;
    const verdict = this.#perProvider ? this.#judge(s, s.provider) : decide(s, this.#rules);
    this.#verdicts.set(s, { verdict, generation });
    return verdict;
  }
}
