import type { ProviderConfig } from '../config/validate.js';

/** One provider as the sign-in page offers it. */
export interface ProviderChoice {
  readonly id: string;
  readonly name: string;
  /** /oauth2/start?provider=<id>&rd=… (and what else the sign-in page was given: login_hint, prompt). */
  readonly url: string;
}

/**
 * Home-realm discovery: the provider whose homeDomains hold the domain of `hint` (an email, from
 * login_hint or typed on the sign-in page), compared without case. Undefined when the hint is no
 * email or no provider claims its domain: the user then chooses.
 */
export function homeProvider(providers: readonly Pick<ProviderConfig, 'id' | 'homeDomains'>[], hint: string | null | undefined): Pick<ProviderConfig, 'id'> | undefined {
  if (!hint) return undefined;
  const at = hint.lastIndexOf('@');
  if (at <= 0 || at === hint.length - 1) return undefined;
  const domain = hint.slice(at + 1).trim().toLowerCase();
  return providers.find((p) => p.homeDomains?.some((d) => d.toLowerCase() === domain));
}

/**
 * What the sign-in page offers with several providers: a link per provider, in the order
 * configured, carrying `passOn` (rd, login_hint, prompt); and an email field when some provider has
 * home domains (a plain GET form to /oauth2/start, no script).
 */
export function providerChoices(providers: readonly Pick<ProviderConfig, 'id' | 'displayName' | 'homeDomains'>[], proxyPrefix: string, passOn: URLSearchParams): { providers: ProviderChoice[]; emailForm: boolean } {
  return {
    providers: providers.map((p) => {
      const q = new URLSearchParams({ provider: p.id });
      for (const [k, v] of passOn) if (k !== 'provider') q.append(k, v);
      return { id: p.id, name: p.displayName, url: `${proxyPrefix}/start?${q.toString().replace(/\+/g, '%20')}` };
    }),
    emailForm: providers.some((p) => p.homeDomains?.length),
  };
}
