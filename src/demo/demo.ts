import { randomBytes } from 'node:crypto';
import type { RawOptions } from '../config/load.js';
import type { ListenAddress } from '../config/validate.js';
import { startEchoUpstream } from './echo.js';

export interface Demo {
  /** Values for every option the user left at its default. */
  readonly overrides: Record<string, string>;
  readonly issuerUrl: string;
  readonly upstreamUrl: string;
  close(): Promise<void>;
}

/** The demo needs no issuer: true when none is configured and this is not production. */
export function isDemoWanted(raw: RawOptions, env: Readonly<Record<string, string | undefined>>): boolean {
  const unset = (n: string): boolean => raw[n]!.value === '' || (Array.isArray(raw[n]!.value) && raw[n]!.value.length === 0);
  return unset('oidc_issuer_url') && unset('login_url') && env.NODE_ENV !== 'production';
}

/**
 * Starts the self-contained demo: an embedded dev issuer (oidc-provider, a dev dependency, so the
 * production image cannot start it) and an echo upstream, both on loopback ports of their own.
 */
export async function startDemo(listen: ListenAddress): Promise<Demo> {
  const port = listen.kind === 'tcp' ? listen.port : 4180;
  const clientSecret = randomBytes(24).toString('base64url');
  const redirectUris = ['127.0.0.1', 'localhost'].map((h) => `http://${h}:${port}/oauth2/callback`);
  let issuer: Awaited<ReturnType<typeof import('../devissuer/issuer.js')['startDevIssuer']>>;
  try {
    // oidc-provider is loaded inside startDevIssuer, so a production install fails here, not at import.
    const devissuer = await import('../devissuer/issuer.js');
    issuer = await devissuer.startDevIssuer({
      shape: 'hydra',
      interactive: true,
      clients: [{ client_id: 'portcullis-demo', client_secret: clientSecret, redirect_uris: redirectUris }],
      accounts: [
        { sub: 'demo-user-1', email: 'demo@example.com', email_verified: true, name: 'Demo User', preferred_username: 'demo', groups: ['demo', 'admins'] },
        { sub: 'demo-user-2', email: 'guest@example.org', email_verified: true, name: 'Guest', preferred_username: 'guest', groups: ['guests'] },
      ],
    });
  } catch (e) {
    const missing = /Cannot find (package|module)/.test(String((e as Error)?.message));
    throw new Error(missing
      ? 'demo mode needs the development dependencies (oidc-provider): run `npm install`, or configure an issuer with OAUTH2_PROXY_OIDC_ISSUER_URL'
      : `the demo issuer did not start: ${(e as Error)?.message}`);
  }
  // The echo page verifies the identity JWT against the proxy's own JWKS, as an app would.
  const echo = await startEchoUpstream(0, '127.0.0.1', { jwksUrl: `http://127.0.0.1:${port}/oauth2/jwks.json`, jwtHeader: 'X-Forwarded-Identity-Jwt' });
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
      identity_jwt_header: 'X-Forwarded-Identity-Jwt',
    },
    issuerUrl: issuer.issuer,
    upstreamUrl: echo.url,
    close: async () => { await Promise.all([issuer.stop(), echo.close()]); },
  };
}
