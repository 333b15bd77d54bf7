import type { IncomingMessage } from 'node:http';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import type { IssuerClients } from './issuer.js';

/** The event claim member that makes a JWT a logout token (OIDC Back-Channel Logout 1.0 §2.4). */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** How old a logout token may be (its `iat`); the store remembers each `jti` for longer than this. */
const MAX_TOKEN_AGE_S = 10 * 60;
const CLOCK_TOLERANCE_S = 60;
const MAX_BODY = 64 * 1024;
/** Signature algorithms a logout token may use: asymmetric only (HS* would make the client secret a signing key). */
const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** A verified logout token: whose sessions end, and its id for replay detection. */
export interface LogoutToken {
  readonly sub?: string;
  readonly sid?: string;
  readonly jti: string;
}

/** Why a logout token was refused (for the log and the 400 answer's detail). */
export class LogoutTokenRefused extends Error {
  override readonly name = 'LogoutTokenRefused';
}

/**
 * Verifies logout tokens against the issuer's JWKS: signature, `iss`, `aud`, `iat` (at most ten
 * minutes old), the logout event claim, no `nonce` (which would make it an ID token), `jti`, and
 * `sid` or `sub`. The JWKS is fetched once per URI and refreshed by jose when an unknown key id
 * appears (the issuer rotated its keys).
 */
export class LogoutTokenVerifier {
  /** Each issuer's key set, by JWKS URI (one per provider). */
  readonly #jwks = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

  async verify(token: string, clients: IssuerClients, clientId: string): Promise<LogoutToken> {
    const meta = clients.basic.serverMetadata();
    if (!clients.knowsIssuer || !meta.jwks_uri) throw new LogoutTokenRefused('no issuer URL and JWKS to verify logout tokens against');
    let header;
    try { header = decodeProtectedHeader(token); } catch { throw new LogoutTokenRefused('not a JWT'); }
    // A header field may hold any JSON: only a string typ can name a type.
    if (header.typ !== undefined && typeof header.typ !== 'string') throw new LogoutTokenRefused('typ is not a string');
    const typ = header.typ?.toLowerCase().replace(/^application\//, '');
    if (typ !== undefined && typ !== 'logout+jwt' && typ !== 'jwt') throw new LogoutTokenRefused(`typ ${header.typ} is not logout+jwt`);
    const offered = meta.id_token_signing_alg_values_supported;
    const algorithms = offered ? ASYMMETRIC.filter((a) => offered.includes(a)) : ['RS256'];
    let keys = this.#jwks.get(meta.jwks_uri);
    if (!keys) this.#jwks.set(meta.jwks_uri, (keys = createRemoteJWKSet(new URL(meta.jwks_uri), { timeoutDuration: 5000 })));
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: meta.issuer, audience: clientId, algorithms, maxTokenAge: MAX_TOKEN_AGE_S, clockTolerance: CLOCK_TOLERANCE_S, requiredClaims: ['iat', 'jti'],
      }));
    } catch (err) {
      const e = err as { code?: string; message?: string };
      throw new LogoutTokenRefused(err instanceof errors.JOSEError ? `${e.code}: ${e.message}` : `verification failed: ${e.message}`);
    }
    const events = payload.events as Record<string, unknown> | undefined;
    const event = events && typeof events === 'object' ? events[BACKCHANNEL_LOGOUT_EVENT] : undefined;
    if (!event || typeof event !== 'object' || Array.isArray(event)) throw new LogoutTokenRefused('no back-channel logout event claim');
    if ('nonce' in payload) throw new LogoutTokenRefused('a nonce claim (logout tokens must not have one)');
    if (typeof payload.jti !== 'string' || payload.jti === '') throw new LogoutTokenRefused('no jti');
    const sid = typeof payload.sid === 'string' && payload.sid !== '' ? payload.sid : undefined;
    const sub = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
    if (!sid && !sub) throw new LogoutTokenRefused('neither sid nor sub');
    return { sid, sub, jti: payload.jti };
  }
}

/** The `logout_token` of a form-encoded POST body (at most 64 KiB), or a reason it has none. */
export function readLogoutToken(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (req.method !== 'POST') return reject(new LogoutTokenRefused(`method ${req.method} (a logout token comes in a POST)`));
    if (type !== 'application/x-www-form-urlencoded') return reject(new LogoutTokenRefused(`content type ${type || 'none'} (expected application/x-www-form-urlencoded)`));
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
      if (body.length > MAX_BODY) {
        req.pause();
        reject(new LogoutTokenRefused('body larger than 64 KiB'));
      }
    });
    req.on('end', () => {
      const token = new URLSearchParams(body).get('logout_token');
      if (token) resolve(token);
      else reject(new LogoutTokenRefused('no logout_token in the body'));
    });
    req.on('error', () => reject(new LogoutTokenRefused('the body could not be read')));
  });
}

/** The `iss` a token claims, unverified: only to pick whose keys verify it. */
export function unverifiedIssuer(token: string): string | undefined {
  try {
    const iss = decodeJwt(token).iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}
