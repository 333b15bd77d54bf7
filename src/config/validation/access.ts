import type { OptionReader } from '../reader.js';

export interface AccessPart {
  readonly emailDomains: readonly string[];
  readonly skipProviderButton: boolean;
}

/** Who may sign in, and how they are asked to. */
export function validateAccess(r: OptionReader): AccessPart {
  const emailDomains = r.list('email_domains').map((d) => d.toLowerCase());
  if (emailDomains.length === 0) {
    r.missing('email_domains', 'the email domains allowed to sign in (example.com, *.example.com), or * to allow any');
  }
  return { emailDomains, skipProviderButton: r.bool('skip_provider_button') };
}
