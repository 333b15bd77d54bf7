import { readFileSync } from 'node:fs';
import type { RawOptions } from './load.js';
import { OptionReader } from './reader.js';
import { validateAccess } from './validation/access.js';
import { validateCookie } from './validation/cookie.js';
import { validatePages } from './validation/pages.js';
import { validateOperations } from './validation/operations.js';
import { validateHeaders } from './validation/headers.js';
import { validateProvider } from './validation/provider.js';
import { validateServer } from './validation/server.js';
import { validateSessionStore } from './validation/sessionstore.js';
import { validateUpstreams } from './validation/upstreams.js';
import { validateIdentityJwt } from './validation/identityjwt.js';
import { validateRoutesFile } from './validation/routesfile.js';
import { validateLogging } from './validation/logging.js';
import type { Config, Validated } from './types.js';

// Types and the listen-address parser live below validation (types.ts, listen.ts); re-exported here
// so that existing imports of validate.js keep working.
export type * from './types.js';
export { parseListenAddress } from './listen.js';

/**
 * Checks every option in one pass and returns every problem together, each naming what to change.
 * Each area (server, upstreams, provider, access, cookie, headers and logging) reads its own options
 * and returns its part, as oauth2-proxy's pkg/validation does per file; the messages of all areas
 * are gathered in the order of the option table.
 */
export function validateConfig(raw: RawOptions, readFile: (p: string) => string = (p) => readFileSync(p, 'utf8')): Validated {
  const errors: string[] = [];
  const warnings: string[] = [];
  /** Runs one area with a reader of its own and gathers the messages it returns. */
  const area = <T>(check: (r: OptionReader) => T): T => {
    const r = new OptionReader(raw, readFile);
    const part = check(r);
    errors.push(...r.errors);
    warnings.push(...r.warnings);
    return part;
  };
  const server = area(validateServer);
  const config: Config = {
    ...server,
    ...area(validateUpstreams),
    provider: area((r) => validateProvider(r, server.proxyPrefix)),
    providers: [],
    ...area(validateAccess),
    ...area(validateRoutesFile),
    cookie: area(validateCookie),
    pages: area(validatePages),
    ...area(validateIdentityJwt),
    ...area(validateSessionStore),
    ...area(validateHeaders),
    ...area((r) => ({
      requestLogging: r.bool('request_logging'),
      logLevel: r.enumOf('log_level'),
    })),
    ...area(validateOperations),
    ...area(validateLogging),
  };
  if (config.upstreams.length === 0 && errors.length === 0) {
    warnings.push('no OAUTH2_PROXY_UPSTREAMS set: signed-in requests get 404 (only the /oauth2 endpoints answer)');
  }
  // The claims routes_file rules read are the ones a login keeps (oidc/identity.ts).
  const keptClaims = config.routePolicies?.claimNames;
  const provider = keptClaims?.length ? { ...config.provider, keptClaims } : config.provider;
  const withClaims: Config = { ...config, provider, providers: [provider] };
  return errors.length ? { ok: false, errors, warnings } : { ok: true, config: withClaims, warnings };
}
