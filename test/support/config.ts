import { mergeSources } from '../../src/config/load.js';
import { validateConfig, type Validated } from '../../src/config/validate.js';

/** A complete, valid configuration (no network is touched by validating it). */
export const BASE_ENV: Readonly<Record<string, string>> = {
  OAUTH2_PROXY_OIDC_ISSUER_URL: 'https://hydra.example.com/',
  OAUTH2_PROXY_CLIENT_ID: 'id',
  OAUTH2_PROXY_CLIENT_SECRET: 'very-secret-value',
  OAUTH2_PROXY_COOKIE_SECRET: Buffer.alloc(32, 3).toString('base64url'),
  OAUTH2_PROXY_EMAIL_DOMAINS: '*',
  OAUTH2_PROXY_UPSTREAMS: 'http://127.0.0.1:8080/',
};

/** Validates BASE_ENV with `env` over it, as if they were the process's environment. */
export function validateEnv(env: Record<string, string>): Validated {
  return validateConfig(mergeSources({ flags: {}, env: { ...BASE_ENV, ...env }, dotenv: {} }));
}
