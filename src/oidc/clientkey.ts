import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { SignJWT, decodeJwt } from 'jose';
import type * as client from 'openid-client';
import { PortcullisError } from '../errors.js';
import { FAPI_ALGORITHMS, certificateThumbprint, chooseAlgorithm, parseClientKey, type ClientKey } from '../config/clientkey.js';
export { FAPI_ALGORITHMS, certificateThumbprint, chooseAlgorithm, jwkThumbprint, parseClientKey, type ClientKey } from '../config/clientkey.js';

/** Why the token endpoint's refusal of our credentials may have come, for the operator's log. */
export interface CredentialDescription { readonly method: string; readonly hint: string }

/** A file stamp: the key is read again only when it changes (mtime, size, inode). */
function stampOf(file: string): string {
  const s = statSync(file);
  return `${s.mtimeMs}:${s.size}:${s.ino}`;
}

/**
 * private_key_jwt (RFC 7523 §2.2) with a key file that may be replaced while running: each call
 * looks at the file's stamp (one stat, at login and refresh only) and reads the key again when it
 * changed, so a rotated key is used from the next call on without a restart. A file caught
 * half-written keeps the previous key until it parses.
 */
export class PrivateKeyJwtCredential {
  readonly #file: string;
  readonly #audience: 'issuer' | 'token_endpoint';
  readonly #only?: readonly string[];
  readonly #x5t?: string;
  #stamp = '';
  #key: ClientKey;
  readonly #onRotate: (key: ClientKey) => void;

  constructor(o: { keyFile: string; certificateFile?: string; audience: 'issuer' | 'token_endpoint'; fapi?: boolean; onRotate?: (key: ClientKey) => void }) {
    this.#file = o.keyFile;
    this.#audience = o.audience;
    this.#only = o.fapi ? FAPI_ALGORITHMS : undefined;
    this.#onRotate = o.onRotate ?? (() => {});
    this.#stamp = stampOf(o.keyFile);
    this.#key = parseClientKey(readFileSync(o.keyFile, 'utf8'));
    if (o.certificateFile) this.#x5t = certificateThumbprint(readFileSync(o.certificateFile, 'utf8')).thumbprint;
  }

  /** The key now in the file (read again when the file changed). */
  get key(): ClientKey {
    let stamp: string;
    try { stamp = stampOf(this.#file); } catch { return this.#key; }
    if (stamp !== this.#stamp) {
      try {
        this.#key = parseClientKey(readFileSync(this.#file, 'utf8'));
        this.#stamp = stamp;
        this.#onRotate(this.#key);
      } catch { /* half-written or broken: keep signing with the key we have, look again next call */ }
    }
    return this.#key;
  }

  algorithmFor(supported: readonly string[] | undefined): string | undefined {
    return chooseAlgorithm(this.key, supported, this.#only);
  }

  /** openid-client's client authentication hook: a fresh assertion (new jti, 60 s exp) per request. */
  readonly auth: client.ClientAuth = async (as, c, body) => {
    const key = this.key;
    const alg = chooseAlgorithm(key, as.token_endpoint_auth_signing_alg_values_supported, this.#only);
    if (!alg) {
      throw new PortcullisError('CLIENT_AUTH_FAILED', { detail: `no signing algorithm for the ${key.describe} key in ${this.#file}: the issuer lists ${(as.token_endpoint_auth_signing_alg_values_supported ?? []).join(', ')}${this.#only ? ` and FAPI 2.0 allows ${this.#only.join(', ')}` : ''}` });
    }
    const now = Math.floor(Date.now() / 1000);
    const aud = this.#audience === 'token_endpoint' && as.token_endpoint ? as.token_endpoint : as.issuer;
    const assertion = await new SignJWT({ jti: randomBytes(18).toString('base64url') })
      .setProtectedHeader({ alg, kid: key.kid, typ: 'JWT', ...(this.#x5t ? { 'x5t#S256': this.#x5t } : {}) })
      .setIssuer(c.client_id).setSubject(c.client_id).setAudience(aud)
      .setIssuedAt(now).setNotBefore(now).setExpirationTime(now + 60)
      .sign(key.key);
    body.set('client_id', c.client_id);
    body.set('client_assertion_type', JWT_BEARER);
    body.set('client_assertion', assertion);
  };

  describe(): CredentialDescription {
    const k = this.#key;
    return { method: 'private_key_jwt', hint: `does the issuer know this key? ${k.describe}, kid ${k.kid}${this.#x5t ? `, x5t#S256 ${this.#x5t}` : ''}, from ${this.#file}; register its public key (JWK ${JSON.stringify(k.publicJwk)}) with the client, and check client_assertion_audience (${this.#audience})` };
  }
}

/** RFC 7523's client_assertion_type for a JWT. */
export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** How close to its expiry an assertion file may be and still be sent (the token request takes some time). */
const ASSERTION_MARGIN_S = 5;

/**
 * A client assertion the platform writes (workload identity: a Kubernetes projected
 * service-account token, Entra's, Google's or AWS's federation token): read anew for every call,
 * since the platform replaces it before it expires; an expired one is refused here with a message
 * that names the file, rather than sent for the issuer's bare invalid_client.
 */
export class AssertionFileCredential {
  readonly #file: string;
  #last?: { iss?: string; sub?: string; aud?: string | string[] };

  constructor(file: string) { this.#file = file; }

  /** The assertion now in the file, checked for shape and expiry. */
  read(now = Date.now()): string {
    let text: string;
    try { text = readFileSync(this.#file, 'utf8').trim(); } catch (e) {
      throw new PortcullisError('CLIENT_AUTH_FAILED', { detail: `client_assertion_file ${this.#file} cannot be read (${(e as NodeJS.ErrnoException).code ?? e})` });
    }
    let claims: ReturnType<typeof decodeJwt>;
    try { claims = decodeJwt(text); } catch {
      throw new PortcullisError('CLIENT_AUTH_FAILED', { detail: `client_assertion_file ${this.#file} does not hold a JWT` });
    }
    this.#last = { iss: claims.iss, sub: claims.sub, aud: claims.aud };
    if (typeof claims.exp === 'number' && claims.exp - ASSERTION_MARGIN_S <= now / 1000) {
      const ago = Math.round(now / 1000 - claims.exp);
      throw new PortcullisError('CLIENT_AUTH_FAILED', { detail: `the client assertion in ${this.#file} expired at ${new Date(claims.exp * 1000).toISOString()} (${ago} s ago): whatever writes it (the kubelet for a projected service-account token, a workload-identity agent) has stopped refreshing it` });
    }
    return text;
  }

  readonly auth: client.ClientAuth = (_as, c, body) => {
    const assertion = this.read();
    body.set('client_id', c.client_id);
    body.set('client_assertion_type', JWT_BEARER);
    body.set('client_assertion', assertion);
  };

  describe(): CredentialDescription {
    const l = this.#last;
    return { method: 'private_key_jwt (client_assertion_file)', hint: `does the issuer trust the assertion in ${this.#file}${l ? ` (iss ${l.iss}, sub ${l.sub}, aud ${JSON.stringify(l.aud)})` : ''}? Its federated credential must name that issuer and subject, and the audience it expects` };
  }
}
