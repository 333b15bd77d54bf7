import { createPublicKey, type KeyObject } from 'node:crypto';
import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions, type JWTVerifyResult } from 'jose';
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
 * The algorithms an ID token may use: the asymmetric ones the issuer lists (RS256 when it lists
 * none), narrowed to oidc_enabled_signing_algs when set. With local public keys nothing is listed,
 * and the configured ones (else every asymmetric one: the key's type narrows it) apply. An empty
 * intersection is an error, as in oauth2-proxy: no ID token could ever pass.
 */
export function idTokenAlgorithms(listed: readonly string[] | undefined, enabled: readonly string[] | undefined, localKeys: boolean): string[] {
  const issuers = (listed ?? []).filter((a) => ASYMMETRIC.test(a));
  const base = issuers.length ? issuers : localKeys ? ALL_ASYMMETRIC : ['RS256'];
  if (!enabled?.length) return base;
  const both = enabled.filter((a) => (issuers.length ? issuers : localKeys ? ALL_ASYMMETRIC : enabled).includes(a));
  if (both.length === 0) throw new Error(`no ID token signing algorithm in common: the issuer lists ${issuers.join(', ') || 'none'}, oidc_enabled_signing_algs allows ${enabled.join(', ')}`);
  return both;
}

const ALL_ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

const CURVES: Readonly<Record<string, string>> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

/** True when `key` can check a signature made with `alg`. */
function keyFits(key: KeyObject, alg: string): boolean {
  switch (key.asymmetricKeyType) {
    case 'rsa': return /^(RS|PS)(256|384|512)$/.test(alg);
    case 'rsa-pss': return /^PS(256|384|512)$/.test(alg);
    case 'ec': return CURVES[alg] === key.asymmetricKeyDetails?.namedCurve;
    case 'ed25519': return alg === 'EdDSA' || alg === 'Ed25519';
    default: return false;
  }
}

/**
 * PEM public keys (oidc_public_key_files) as a key source: PEM keys have no key id, so, as
 * oauth2-proxy's static key set does, every key that fits the token's algorithm is a candidate
 * (several are tried in turn by verifyJwt).
 */
export function localKeySet(pems: readonly string[]): JWTVerifyGetKey {
  const keys = pems.map((pem) => createPublicKey(pem));
  return (header) => {
    const fit = keys.filter((k) => keyFits(k, header.alg));
    if (fit.length === 1) return fit[0]!;
    if (fit.length === 0) throw new errors.JWKSNoMatchingKey();
    // jose's convention for several candidates: an error that iterates over them.
    const several = new errors.JWKSMultipleMatchingKeys();
    Object.assign(several, { [Symbol.asyncIterator]: async function* () { yield* fit; } });
    throw several;
  };
}

/** jwtVerify, trying each candidate key in turn when the key source names several (jose's documented loop). */
export async function verifyJwt(token: string, keys: JWTVerifyGetKey, options: JWTVerifyOptions): Promise<JWTVerifyResult> {
  try {
    return await jwtVerify(token, keys, options);
  } catch (err) {
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
    for await (const key of err as unknown as AsyncIterable<KeyObject>) {
      try {
        return await jwtVerify(token, key, options);
      } catch (e) {
        if (!(e instanceof errors.JWSSignatureVerificationFailed)) throw e;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

/**
 * Verifies ID tokens where openid-client cannot: when oidc_extra_audiences or oidc_audience_claims
 * widen who the token may be for (openid-client insists that `aud` names the client). Everything
 * else is checked as openid-client would: the signature against the issuer's JWKS (fetched once,
 * again on an unknown key id), an asymmetric algorithm the issuer lists, iss,
 * exp, nbf and iat, nonce on a login and the subject on a refresh.
 */
export class IdTokenVerifier {
  readonly #jwks: JWTVerifyGetKey;
  readonly #issuer: string;
  readonly #algorithms: string[];
  readonly #rule: AudienceRule;
  readonly #skipNonce: boolean;

  /**
   * `jwksUri` or `keys` (oidc_public_key_files); `fetch`: how the issuer is reached, when not with
   * Node's own (a private CA); `skipNonce`: insecure_oidc_skip_nonce.
   */
  constructor(o: { issuer: string; jwksUri?: string; keys?: JWTVerifyGetKey; algorithms?: readonly string[]; rule: AudienceRule; fetch?: typeof fetch; skipNonce?: boolean }) {
    this.#jwks = o.keys ?? createRemoteJWKSet(new URL(o.jwksUri!), { timeoutDuration: 10_000, cooldownDuration: 30_000, ...(o.fetch ? { [customFetch]: o.fetch } : {}) });
    this.#issuer = o.issuer;
    const listed = (o.algorithms ?? ['RS256']).filter((a) => ASYMMETRIC.test(a));
    this.#algorithms = listed.length ? listed : ['RS256'];
    this.#rule = o.rule;
    this.#skipNonce = o.skipNonce === true;
  }

  async verify(idToken: string, expect: { nonce?: string; sub?: string }): Promise<JWTPayload> {
    const options = { issuer: this.#issuer, algorithms: this.#algorithms, clockTolerance: CLOCK_TOLERANCE_S, requiredClaims: ['sub', 'iat', 'exp'] };
    let payload: JWTPayload;
    try {
      ({ payload } = await verifyJwt(idToken, this.#jwks, options));
    } catch (err) {
      // A key id the JWKS fetched within the cool-down lacks: the issuer rotated its keys moments
      // ago. The token came from the token endpoint, not from a client: fetch the keys again, once.
      const remote = this.#jwks as Partial<ReturnType<typeof createRemoteJWKSet>>;
      if ((err as { code?: unknown })?.code !== 'ERR_JWKS_NO_MATCHING_KEY' || typeof remote.reload !== 'function') throw err;
      await remote.reload();
      ({ payload } = await verifyJwt(idToken, this.#jwks, options));
    }
    const problem = audienceProblem(payload, this.#rule);
    if (problem) throw new PortcullisError('LOGIN_TOKEN_INVALID', { detail: problem });
    // insecure_oidc_skip_nonce lets through a token without one; a nonce that is there must match.
    if (expect.nonce !== undefined && payload.nonce !== expect.nonce && !(this.#skipNonce && payload.nonce === undefined)) throw new PortcullisError('LOGIN_TOKEN_INVALID', { detail: 'ID token nonce does not match the login' });
    if (expect.sub !== undefined && payload.sub !== expect.sub) throw new PortcullisError('LOGIN_TOKEN_INVALID', { detail: 'refreshed ID token has another subject' });
    return payload;
  }
}
