// The client's own key for private_key_jwt, read and checked at start-up; pure, below oidc/ (which signs with it).
import { createHash, createPrivateKey, createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';

/** A private_key_jwt signing key as read from its file. */
export interface ClientKey {
  readonly key: KeyObject;
  /** The JWK's own kid, else the RFC 7638 thumbprint of the public key. */
  readonly kid: string;
  /** The JWS algorithms this key can sign with, the most widely accepted first. */
  readonly algorithms: readonly string[];
  /** What the key is, for messages: "RSA 2048", "EC P-256", "Ed25519". */
  readonly describe: string;
  /** The public key as a JWK (with kid), what an operator registers at the issuer. */
  readonly publicJwk: JsonWebKey & { kid: string };
}

/** FAPI 2.0 Security Profile §5.4: the only algorithms it allows. */
export const FAPI_ALGORITHMS: readonly string[] = ['PS256', 'ES256', 'EdDSA'];

const CURVES: Record<string, { crv: string; alg: string }> = {
  prime256v1: { crv: 'P-256', alg: 'ES256' }, secp384r1: { crv: 'P-384', alg: 'ES384' }, secp521r1: { crv: 'P-521', alg: 'ES512' },
};

/**
 * Reads a private key from a PEM (PKCS#8, PKCS#1, SEC1) or JWK text (a JWK, or a JWKS of one key).
 * Throws an Error whose message says what the file should hold instead.
 */
export function parseClientKey(text: string): ClientKey {
  const trimmed = text.trim();
  let key: KeyObject;
  let kid: string | undefined;
  if (trimmed.startsWith('{')) {
    let jwk: JsonWebKey & { kid?: unknown; keys?: unknown };
    try { jwk = JSON.parse(trimmed) as typeof jwk; } catch (e) { throw new Error(`a JWK that is valid JSON (${(e as Error).message})`); }
    if (Array.isArray(jwk.keys)) {
      if (jwk.keys.length !== 1) throw new Error(`a JWK, or a JWKS of exactly one key (it has ${jwk.keys.length})`);
      jwk = jwk.keys[0] as typeof jwk;
    }
    if (typeof jwk.d !== 'string') throw new Error('a private JWK (this one has no "d": it is a public key)');
    try { key = createPrivateKey({ key: jwk, format: 'jwk' }); } catch (e) { throw new Error(`a private RSA, EC or Ed25519 JWK (${(e as Error).message})`); }
    if (typeof jwk.kid === 'string' && jwk.kid !== '') kid = jwk.kid;
  } else {
    if (/ENCRYPTED/.test(trimmed)) throw new Error('an unencrypted private key (this PEM is passphrase-protected; export it with `openssl pkey -in KEY -out PLAIN`)');
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(trimmed)) throw new Error('a PEM private key (-----BEGIN PRIVATE KEY-----, or RSA / EC PRIVATE KEY) or a private JWK');
    try { key = createPrivateKey(trimmed); } catch (e) { throw new Error(`a readable PEM private key (${(e as Error).message})`); }
  }
  const pub = createPublicKey(key).export({ format: 'jwk' });
  let algorithms: string[];
  let describe: string;
  switch (key.asymmetricKeyType) {
    case 'rsa': {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 2048) throw new Error(`an RSA key of at least 2048 bits (this one has ${bits})`);
      // RS256 first: every issuer that takes RSA assertions takes it; PS256 where it is listed alone (FAPI).
      algorithms = ['RS256', 'PS256', 'RS384', 'PS384', 'RS512', 'PS512'];
      describe = `RSA ${bits}`;
      break;
    }
    case 'ec': {
      const curve = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
      if (!curve) throw new Error(`an EC key on P-256, P-384 or P-521 (this one is on ${key.asymmetricKeyDetails?.namedCurve})`);
      algorithms = [curve.alg];
      describe = `EC ${curve.crv}`;
      break;
    }
    case 'ed25519':
      // RFC 8037's EdDSA; RFC 9864 names the same signature Ed25519, and newer issuers list that.
      algorithms = ['EdDSA', 'Ed25519'];
      describe = 'Ed25519';
      break;
    default:
      throw new Error(`an RSA, EC or Ed25519 private key (this one is ${key.asymmetricKeyType})`);
  }
  kid ??= jwkThumbprint(pub);
  return { key, kid, algorithms, describe, publicJwk: { ...pub, kid } };
}

/** RFC 7638: SHA-256 over the required members, in lexicographic order, without whitespace. */
export function jwkThumbprint(jwk: JsonWebKey): string {
  const members = jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
    : jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
      : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/**
 * The algorithm to sign with: the key's first that the issuer lists (and, under FAPI 2.0, that the
 * profile allows); undefined when there is none. An issuer that lists nothing gets the first.
 */
export function chooseAlgorithm(key: Pick<ClientKey, 'algorithms'>, supported: readonly string[] | undefined, only?: readonly string[]): string | undefined {
  const ours = only ? key.algorithms.filter((a) => only.includes(a) || (a === 'Ed25519' && only.includes('EdDSA'))) : key.algorithms;
  if (!supported?.length) return ours[0];
  return ours.find((a) => supported.includes(a));
}

/** The x5t#S256 header (RFC 7515 §4.1.8): SHA-256 of the certificate's DER, base64url. Throws on a file without one. */
export function certificateThumbprint(pem: string): { thumbprint: string; cert: X509Certificate } {
  const block = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  if (!block) throw new Error('a PEM certificate (-----BEGIN CERTIFICATE-----)');
  const cert = new X509Certificate(block);
  return { thumbprint: createHash('sha256').update(cert.raw).digest('base64url'), cert };
}
