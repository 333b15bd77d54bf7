import { randomBytes } from 'node:crypto';
import type { RawOptions } from '../config/load.js';
import type { Config, ListenAddress, ProviderConfig } from '../config/validate.js';
import { startEchoUpstream } from './echo.js';

export interface Demo {
  /** Values for every option the user left at its default. */
  readonly overrides: Record<string, string>;
  readonly issuerUrl: string;
  readonly upstreamUrl: string;
  /** The second dev issuer ("Partner"), so a newcomer sees the sign-in page's choice of providers. */
  readonly partnerIssuerUrl: string;
  /** The configuration with both dev issuers as providers: "Acme staff" (the first) and "Partner". */
  withProviders(config: Config): Config;
  close(): Promise<void>;
}

/** The demo needs no issuer: true when none is configured and this is not production. */
export function isDemoWanted(raw: RawOptions, env: Readonly<Record<string, string | undefined>>): boolean {
  const unset = (n: string): boolean => raw[n]!.value === '' || (Array.isArray(raw[n]!.value) && raw[n]!.value.length === 0);
  return unset('oidc_issuer_url') && unset('login_url') && env.NODE_ENV !== 'production';
}

/** The proxy as the echo app reaches it on loopback: a wildcard listener is reached on 127.0.0.1. */
function loopbackOrigin(listen: ListenAddress): string {
  if (listen.kind !== 'tcp') return 'http://127.0.0.1:4180';
  const h = listen.host;
  const host = h === '' || h === '0.0.0.0' || h === '::' ? '127.0.0.1' : h.includes(':') ? `[${h}]` : h;
  return `http://${host}:${listen.port}`;
}

/** The issuer's host name: the loopback name the proxy is not browsed on (the banner shows 127.0.0.1). */
function issuerHostFor(listen: ListenAddress): 'localhost' | '127.0.0.1' {
  return listen.kind === 'tcp' && listen.host === 'localhost' ? '127.0.0.1' : 'localhost';
}

/**
 * Starts the self-contained demo: an embedded dev issuer (oidc-provider, a dev dependency, so the
 * production image cannot start it) and an echo upstream, both on loopback ports of their own.
 * `raw` is the user's configuration so far: the demo fills in what it left at the defaults, and
 * the echo app follows what it did set (proxy prefix, JWT header and issuer).
 */
export async function startDemo(listen: ListenAddress, raw?: RawOptions): Promise<Demo> {
  const port = listen.kind === 'tcp' ? listen.port : 4180;
  const userSet = (n: string): string | undefined => (raw?.[n] && raw[n].origin !== 'default' ? String(raw[n].value) : undefined);
  const prefix = (userSet('proxy_prefix') ?? '/oauth2').replace(/\/+$/, '');
  const clientSecret = randomBytes(24).toString('base64url');
  const redirectUris = ['127.0.0.1', 'localhost'].map((h) => `http://${h}:${port}${prefix}/callback`);
  let issuer: Awaited<ReturnType<typeof import('../devissuer/issuer.js')['startDevIssuer']>>;
  let partner: typeof issuer;
  const partnerSecret = randomBytes(24).toString('base64url');
  try {
    // oidc-provider is loaded inside startDevIssuer, so a production install fails here, not at import.
    const devissuer = await import('../devissuer/issuer.js');
    issuer = await devissuer.startDevIssuer({
      shape: 'hydra',
      interactive: true,
      // Browsers share cookies across the ports of one host: on the proxy's host, the issuer's
      // session cookie would reach the app with every request. On the other loopback name it cannot.
      hostname: issuerHostFor(listen),
      appUrl: `${loopbackOrigin(listen)}/`,
      clients: [{ client_id: 'portcullis-demo', client_secret: clientSecret, redirect_uris: redirectUris }],
      accounts: [
        { sub: 'demo-user-1', email: 'demo@example.com', email_verified: true, name: 'Demo User', preferred_username: 'demo', groups: ['demo', 'admins'],
          note: 'May reach every page of the demo app, as an admin: the app gets the groups in X-Forwarded-Groups.' },
        { sub: 'demo-user-2', email: 'guest@example.org', email_verified: true, name: 'Guest', preferred_username: 'guest', groups: ['guests'],
          note: 'May reach every page of the demo app too (the demo lets every account in), but not as an admin: with OAUTH2_PROXY_ALLOWED_GROUPS=admins, a guest gets "Access denied".' },
      ],
    });
    // A second, independent issuer: the partner company's IdP. Its user has the same subject as the
    // first demo user, and is still another person (X-Forwarded-User is qualified by the provider).
    partner = await devissuer.startDevIssuer({
      shape: 'hydra',
      interactive: true,
      hostname: issuerHostFor(listen),
      appUrl: `${loopbackOrigin(listen)}/`,
      standsFor: "a partner company's identity provider: its people sign in to your app with their own company's accounts",
      clients: [{ client_id: 'portcullis-demo-partner', client_secret: partnerSecret, redirect_uris: redirectUris }],
      accounts: [{ sub: 'demo-user-1', email: 'pat@partner.example', email_verified: true, name: 'Pat Partner', preferred_username: 'pat', groups: ['contractors'],
        note: 'Has the same subject (demo-user-1) as the staff demo user, yet arrives as another person: the app gets X-Forwarded-User demo-user-1@partner. This provider may sign in only partner.example addresses.' }],
    }).catch(async (e: unknown) => { await issuer.stop(); throw e; });
  } catch (e) {
    const missing = /Cannot find (package|module)/.test(String((e as Error)?.message));
    throw new Error(missing
      ? 'demo mode needs the development dependencies (oidc-provider): run `npm install`, or configure an issuer with OAUTH2_PROXY_OIDC_ISSUER_URL'
      : `the demo issuer did not start: ${(e as Error)?.message}`);
  }
  // The echo page verifies the identity JWT against the proxy's own JWKS, as an app would. The JWT
  // goes in a header of its own so that an app's Authorization header would survive, and with a fixed
  // issuer, as a deployment would set its public URL (127.0.0.1 and localhost both reach the demo).
  const jwtHeader = userSet('identity_jwt_header') ?? 'X-Forwarded-Identity-Jwt';
  const jwtIssuer = userSet('identity_jwt_issuer') ?? `http://127.0.0.1:${port}`;
  const echo = await startEchoUpstream(0, '127.0.0.1', {
    jwt: { jwksUrl: `${loopbackOrigin(listen)}${prefix}/jwks.json`, header: jwtHeader, issuer: jwtIssuer },
    signOutPath: `${prefix}/sign_out`,
  });
  return {
    overrides: {
      oidc_issuer_url: issuer.issuer,
      client_id: 'portcullis-demo',
      client_secret: clientSecret,
      cookie_secret: randomBytes(32).toString('base64url'),
      cookie_secure: 'false',
      email_domains: '*',
      upstreams: echo.url,
      scope: 'openid email profile groups',
      provider_display_name: 'the demo issuer',
      pass_identity_jwt: 'true',
      identity_jwt_header: jwtHeader,
      identity_jwt_issuer: jwtIssuer,
    },
    issuerUrl: issuer.issuer,
    upstreamUrl: echo.url,
    partnerIssuerUrl: partner.issuer,
    withProviders: (config) => {
      const staff: ProviderConfig = { ...config.provider, id: 'acme', displayName: 'Acme staff', homeDomains: ['example.com', 'example.org'] };
      const partnerProvider: ProviderConfig = {
        ...config.provider, id: 'partner', displayName: 'Partner', issuerUrl: new URL(partner.issuer),
        clientId: 'portcullis-demo-partner', clientSecret: partnerSecret,
        // Trust per provider: the partner's IdP may sign in only its own domain's addresses.
        emailDomains: ['partner.example'], homeDomains: ['partner.example'],
      };
      return { ...config, provider: staff, providers: [staff, partnerProvider] };
    },
    close: async () => { await Promise.all([issuer.stop(), partner.stop(), echo.close()]); },
  };
}
