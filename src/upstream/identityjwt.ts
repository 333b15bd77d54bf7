import { randomBytes, sign } from 'node:crypto';
import type { Session } from '../session/codec.js';
import type { IdentityKey } from '../config/types.js';

export type { IdentityKey };
export { identityKey } from '../config/identitykey.js';

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
