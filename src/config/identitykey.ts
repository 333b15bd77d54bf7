import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import type { IdentityKey } from './types.js';

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

