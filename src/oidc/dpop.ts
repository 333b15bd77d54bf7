import { generateKeyPairSync, webcrypto } from 'node:crypto';
import * as client from 'openid-client';
import type { DpopKey } from '../session/codec.js';
import { jwkThumbprint } from './clientkey.js';

/**
 * A new DPoP key (RFC 9449, ES256) for one login: it lives in that login's sealed state and then in
 * its session, so no two sessions share one, and a new login makes a new one.
 */
export function newDpopKey(): DpopKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  return { crv: 'P-256', x: jwk.x!, y: jwk.y!, d: jwk.d! };
}

/** RFC 9449 §10: the authorization request's dpop_jkt, which binds the code to this key. */
export function dpopThumbprint(key: DpopKey): string {
  return jwkThumbprint({ kty: 'EC', crv: key.crv, x: key.x, y: key.y });
}

/**
 * A proof maker for this key (openid-client's DPoP handle). Made per login or refresh, from the
 * session's key: the issuer's nonce (use_dpop_nonce) is learnt by a first refused call and retried
 * once, which openid-client does.
 */
export async function dpopHandle(config: client.Configuration, key: DpopKey): Promise<client.DPoPHandle> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256' };
  const publicJwk = { kty: 'EC', crv: key.crv, x: key.x, y: key.y };
  const [privateKey, publicKey] = await Promise.all([
    webcrypto.subtle.importKey('jwk', { ...publicJwk, d: key.d }, alg, false, ['sign']),
    // Extractable: the proof's header carries it as a JWK.
    webcrypto.subtle.importKey('jwk', publicJwk, alg, true, ['verify']),
  ]);
  return client.getDPoPHandle(config, { privateKey, publicKey } as CryptoKeyPair);
}
