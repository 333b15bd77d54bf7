import type { ProviderConfig } from './types.js';

/**
 * What a list of providers must be for the runtime to tell them apart: unique ids (they name the
 * provider in /oauth2/start?provider=, sessions and users), and ids without `@` or whitespace (a user
 * is `sub@id`, split at the last `@`). Each message names the provider and what to change.
 */
export function providerListProblems(providers: readonly Pick<ProviderConfig, 'id'>[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  providers.forEach((p, i) => {
    if (p.id === '') out.push(`providers[${i}].id is empty: give each provider an id`);
    else if (providers.length > 1 && /[@\s]/.test(p.id)) out.push(`providers[${i}].id ${JSON.stringify(p.id)} contains "@" or whitespace: with several providers the user is sub@id, so an id must have neither`);
    if (seen.has(p.id)) out.push(`providers[${i}].id ${JSON.stringify(p.id)} is used twice: ids must be unique`);
    seen.add(p.id);
  });
  return out;
}
