import { createHash, createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import type { Session } from '../session/codec.js';

/** One signing key: the private key, its public JWK (with kid and alg) for the JWKS. */
export interface IdentityKey {
  readonly privateKey: KeyObject;
  readonly alg: 'ES256' | 'EdDSA';
  readonly kid: string;
  readonly publicJwk: Readonly<Record<string, string>>;
}

export interface IdentityJwtOptions {
  /** The first key signs; all are published. */
  readonly keys: readonly IdentityKey[];
  readonly lifetimeS: number;
  /** `aud` when configured; otherwise the upstream's host. */
  readonly audience?: string;
  /**
   * Set with several providers: the provider id and the IdP's issuer identifier a session came
   * from. The token then carries them (`provider`, `idp`), and its `sub` is the qualified user.
   */
  readonly idpOf?: (s: Session) => { readonly provider: string; readonly idp?: string };
}

/** What one token is for: the cache keeps one per session, issuer and audience. */
interface Minted { readonly jwt: string; readonly renewAt: number }

/**
 * The key as the JWKS publishes it, and its RFC 7638 thumbprint as `kid`: a kid that is derived
 * from the key cannot point two replicas at different keys under one name.
 */
export function identityKey(privateKey: KeyObject): IdentityKey {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as Record<string, string>;
  let alg: IdentityKey['alg'];
  let members: Record<string, string>;
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') {
    alg = 'ES256';
    members = { crv: jwk.crv, kty: jwk.kty, x: jwk.x!, y: jwk.y! };
  } else if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
    alg = 'EdDSA';
    members = { crv: jwk.crv, kty: jwk.kty, x: jwk.x! };
  } else {
    throw new Error(`a ${jwk.kty}${jwk.crv ? ` ${jwk.crv}` : ''} key: only EC P-256 (ES256) and Ed25519 (EdDSA) keys sign identity JWTs`);
  }
  // RFC 7638: the required members in lexicographic order, no whitespace.
  const kid = createHash('sha256').update(JSON.stringify(members)).digest('base64url');
  return { privateKey, alg, kid, publicJwk: { ...members, kid, alg, use: 'sig' } };
}

const b64 = (s: string): string => Buffer.from(s).toString('base64url');

/**
 * Signs the short-lived identity JWT handed to upstreams (Pomerium and Ory Oathkeeper do the
 * same): `iss`, `aud`, `sub`, `email`, `groups`, `preferred_username`, `sid`, `iat`, `nbf`, `exp`,
 * `jti`. A token is signed once per session, issuer and audience and reused until 10 % of its
 * lifetime is left, so the hot path pays a Map lookup rather than a signature (an ES256 signature
 * costs about as much CPU as a whole proxied request). Signing is synchronous (node:crypto), so a
 * request never waits on a promise for it.
 */
export class IdentityJwt {
  readonly #o: IdentityJwtOptions;
  readonly #header: string;
  readonly #cache = new WeakMap<Session, Map<string, Minted>>();

  constructor(o: IdentityJwtOptions) {
    this.#o = o;
    const k = o.keys[0]!;
    this.#header = b64(JSON.stringify({ alg: k.alg, typ: 'JWT', kid: k.kid }));
  }

  /** The JWKS document: every public key, the signing one first. */
  jwks(): { keys: Array<Readonly<Record<string, string>>> } {
    return { keys: this.#o.keys.map((k) => k.publicJwk) };
  }

  /** The token for this session, issuer and upstream host, from the cache while it has a tenth of its life left. */
  tokenFor(s: Session, issuer: string, upstreamHost: string, nowMs = Date.now()): string {
    const aud = this.#o.audience ?? upstreamHost;
    const key = `${issuer} ${aud}`;
    let perSession = this.#cache.get(s);
    const hit = perSession?.get(key);
    if (hit && hit.renewAt > nowMs) return hit.jwt;
    const jwt = this.#sign(s, issuer, aud, nowMs);
    if (!perSession) this.#cache.set(s, (perSession = new Map()));
    perSession.set(key, { jwt, renewAt: nowMs + this.#o.lifetimeS * 900 });
    return jwt;
  }

  #sign(s: Session, iss: string, aud: string, nowMs: number): string {
    const iat = Math.floor(nowMs / 1000);
    // Never outlive the session itself.
    const exp = Math.min(iat + this.#o.lifetimeS, Math.floor(s.expiresAt / 1000));
    const idp = this.#o.idpOf?.(s);
    const claims = {
      iss, aud, sub: idp ? s.user : s.sub, ...(idp ? { provider: idp.provider, ...(idp.idp ? { idp: idp.idp } : {}) } : {}), ...(s.email ? { email: s.email } : {}), groups: s.groups,
      ...(s.preferredUsername ? { preferred_username: s.preferredUsername } : {}),
      ...(s.sid ? { sid: s.sid } : {}), iat, nbf: iat, exp, jti: randomBytes(16).toString('base64url'),
    };
    const input = `${this.#header}.${b64(JSON.stringify(claims))}`;
    const k = this.#o.keys[0]!;
    // ES256 wants the raw r||s form (RFC 7518 §3.4), not DER.
    const sig = k.alg === 'ES256' ? sign('sha256', Buffer.from(input), { key: k.privateKey, dsaEncoding: 'ieee-p1363' }) : sign(null, Buffer.from(input), k.privateKey);
    return `${input}.${sig.toString('base64url')}`;
  }
}
