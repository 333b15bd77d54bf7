import type { ErrorCode } from '../errors.js';
import type { Session } from '../session/codec.js';
import { isEmailAllowed } from './email.js';

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
}

const ALLOWED: Verdict = { allowed: true };

/** The global access rules, as a pure decision. Every rule a later feature adds joins here. */
export function decide(who: Principal, rules: AccessRules): Verdict {
  if (!isEmailAllowed(who.email, rules.emailDomains)) {
    return { allowed: false, code: 'EMAIL_NOT_ALLOWED', detail: `email ${who.email ?? '(none)'} not in email_domains` };
  }
  return ALLOWED;
}

/**
 * The rules applied at login and again on every request (a session issued under looser rules must
 * not outlive a stricter configuration — oauth2-proxy re-checks each request too). The verdict is
 * remembered per session object: the rules are fixed for the life of the process and cached
 * sessions are the same object on every request, so the hot path pays one WeakMap lookup.
 */
export class AccessPolicy {
  readonly #rules: AccessRules;
  readonly #verdicts = new WeakMap<Session, Verdict>();

  constructor(rules: AccessRules) {
    this.#rules = rules;
  }

  /** For a login in progress (no session yet). */
  decide(who: Principal): Verdict {
    return decide(who, this.#rules);
  }

  forSession(s: Session): Verdict {
    let v = this.#verdicts.get(s);
    if (!v) this.#verdicts.set(s, (v = decide(s, this.#rules)));
    return v;
  }
}
