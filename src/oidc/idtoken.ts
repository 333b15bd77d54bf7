import { createRemoteJWKSet, customFetch, jwtVerify, type JWTPayload } from 'jose';
import { PortcullisError } from '../errors.js';

/** The asymmetric signature algorithms an ID token may use: never none, never HMAC (a key anyone with the client secret holds). */
const ASYMMETRIC = /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/;

/** Seconds of clock difference forgiven, as openid-client forgives them. */
const CLOCK_TOLERANCE_S = 30;

export interface AudienceRule {
  readonly clientId: string;
  /** oauth2-proxy's oidc_extra_audiences. */
  readonly extraAudiences: readonly string[];
  /** oauth2-proxy's oidc_audience_claims: the first claim present is the audience. */
  readonly audienceClaims: readonly string[];
}

/** True when the rule is openid-client's own (aud must name client_id), so openid-client checks the ID token. */
export function isPlainAudienceRule(r: AudienceRule): boolean {
  return r.extraAudiences.length === 0 && r.audienceClaims.length === 1 && r.audienceClaims[0] === 'aud';
}

/**
 * oauth2-proxy's audience rule: the first of the audience claims that the token has must name the
 * client or one of the extra audiences. Returns why not, or undefined when it passes.
 */
export function audienceProblem(claims: Readonly<Record<string, unknown>>, r: AudienceRule): string | undefined {
  const allowed = new Set([r.clientId, ...r.extraAudiences]);
  for (const name of r.audienceClaims) {
    const v = claims[name];
    if (v === undefined) continue;
    const values = Array.isArray(v) ? v : [v];
    if (!values.every((x) => typeof x === 'string')) return `audience claim ${name} is not a string or a list of strings`;
    return values.some((x) => allowed.has(x as string)) ? undefined : `audience claim ${name} (${values.join(', ')}) names neither the client nor an extra audience`;
  }
  return `none of the audience claims (${r.audienceClaims.join(', ')}) is in the ID token`;
}

/**
 * Verifies ID tokens where openid-client cannot: when oidc_extra_audiences or oidc_audience_claims
 * widen who the token may be for (openid-client insists that `aud` names the client). Everything
 * else is checked as openid-client would: the signature against the issuer's JWKS (fetched once,
 * again on an unknown key id), an asymmetric algorithm the issuer lists, iss,
 * exp, nbf and iat, nonce on a login and the subject on a refresh.
 */
export class IdTokenVerifier {
  readonly #jwks: ReturnType<typeof createRemoteJWKSet>;
  readonly #issuer: string;
  readonly #algorithms: string[];
  readonly #rule: AudienceRule;

  /** `fetch`: how the issuer is reached, when not with Node's own (a private CA). */
  constructor(o: { issuer: string; jwksUri: string; algorithms?: readonly string[]; rule: AudienceRule; fetch?: typeof fetch }) {
    this.#jwks = createRemoteJWKSet(new URL(o.jwksUri), { timeoutDuration: 10_000, cooldownDuration: 30_000, ...(o.fetch ? { [customFetch]: o.fetch } : {}) });
    this.#issuer = o.issuer;
    const listed = (o.algorithms ?? ['RS256']).filter((a) => ASYMMETRIC.test(a));
    this.#algorithms = listed.length ? listed : ['RS256'];
    this.#rule = o.rule;
  }

  async verify(idToken: string, expect: { nonce?: string; sub?: string }): Promise<JWTPayload> {
    const options = { issuer: this.#issuer, algorithms: this.#algorithms, clockTolerance: CLOCK_TOLERANCE_S, requiredClaims: ['sub', 'iat', 'exp'] };
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(idToken, this.#jwks, options));
    } catch (err) {
      // A key id the JWKS fetched within the cool-down lacks: the issuer rotated its keys moments
      // ago. The token came from the token endpoint, not from a client: fetch the keys again, once.
      if ((err as { code?: unknown })?.code !== 'ERR_JWKS_NO_MATCHING_KEY') throw err;
      await this.#jwks.reload();
      ({ payload } = await jwtVerify(idToken, this.#jwks, options));
    }
    const problem = audienceProblem(payload, this.#rule);
    if (problem) throw new PortcullisError('LOGIN_TOKEN_INVALID', { detail: problem });
    if (expect.nonce !== undefined && payload.nonce !== expect.nonce) throw new PortcullisError('LOGIN_TOKEN_INVALID', { detail: 'ID token nonce does not match the login' });
    if (expect.sub !== undefined && payload.sub !== expect.sub) throw new PortcullisError('LOGIN_TOKEN_INVALID', { detail: 'refreshed ID token has another subject' });
    return payload;
  }
}
