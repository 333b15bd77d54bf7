import type { Logger } from 'pino';
import type { ProviderConfig } from '../config/validate.js';
import { Issuer } from './issuer.js';
import { providerListProblems } from '../config/providers.js';

export { providerListProblems };

/**
 * Every configured provider's issuer connection, by provider id. Each connects, retries and fails
 * on its own: a partner issuer that is down never holds up the staff one. With one provider this is
 * a thin wrapper around it, and nothing it adds (provider ids in sessions, qualified users) is used.
 */
export class Issuers {
  /** In the order configured; the first is the default one (and the only one with legacy options). */
  readonly all: readonly Issuer[];
  readonly first: Issuer;
  /** True with more than one provider: sessions then name their provider, and users are qualified by it. */
  readonly several: boolean;
  readonly #byId: ReadonlyMap<string, Issuer>;

  constructor(providers: readonly ProviderConfig[], log: Logger) {
    if (providers.length === 0) throw new Error('no provider configured');
    const problems = providerListProblems(providers);
    if (problems.length) throw new Error(problems.join('; '));
    this.several = providers.length > 1;
    // With one provider the issuer's log lines stay as they were; with several they name their provider.
    this.all = providers.map((p) => new Issuer(p, this.several ? log.child({ provider: p.id }) : log));
    this.first = this.all[0]!;
    this.#byId = new Map(this.all.map((i) => [i.provider.id, i]));
  }

  /** The provider of this id, or undefined (an id from a URL, or from a session of a provider since removed). */
  get(id: string): Issuer | undefined {
    return this.#byId.get(id);
  }

  /** The issuer a session (or login state) belongs to: its `provider`, or the first for one that names none (made before providers had ids). */
  of(held: { readonly provider?: string }): Issuer | undefined {
    return held.provider === undefined ? this.first : this.#byId.get(held.provider);
  }

  /** The provider whose issuer identifier is `iss`, among those whose discovery has succeeded. */
  byIssuerIdentifier(iss: string): Issuer | undefined {
    return this.all.find((i) => i.clients?.knowsIssuer && i.clients.basic.serverMetadata().issuer === iss);
  }

  /** Starts every issuer; resolves when each is usable (each retries on its own meanwhile). */
  start(): Promise<void> {
    return Promise.all(this.all.map((i) => i.start())).then(() => undefined);
  }

  stop(): void {
    for (const i of this.all) i.stop();
  }
}


/**
 * The user as the upstream sees it (X-Forwarded-User, claim `user`, the identity JWT's `sub`): with
 * several providers `sub@provider-id`, since the same `sub` at two issuers is two people; with one,
 * the subject as it is.
 */
export function qualifiedUser(sub: string, providerId: string, several: boolean): string {
  return several ? `${sub}@${providerId}` : sub;
}
