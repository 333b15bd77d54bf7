import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { identityKey } from '../identitykey.js';
import type { OptionReader } from '../reader.js';
import { parseDuration } from '../values.js';
import type { IdentityJwtConfig, IdentityKey } from '../types.js';

export type { IdentityJwtConfig };

/**
 * pass_identity_jwt and its keys: a PEM file with one or more private keys, or a JWK set; the first
 * signs and all are published, so a new key can be added first while the old one still verifies.
 */
export function validateIdentityJwt(r: OptionReader): { identityJwt?: IdentityJwtConfig } {
  if (!r.bool('pass_identity_jwt')) return {};
  const header = r.str('identity_jwt_header').toLowerCase();
  if (!/^[a-z0-9][a-z0-9-]*$/.test(header)) r.fail('identity_jwt_header', 'a header name such as Authorization or X-Forwarded-Identity-Jwt');
  const lifetime = parseDuration(r.str('identity_jwt_lifetime'));
  if (!lifetime.ok || lifetime.value < 1000) r.fail('identity_jwt_lifetime', 'a duration of at least 1s, such as 60s or 5m');
  const alg = r.enumOf('identity_jwt_algorithm');
  const file = r.str('identity_jwt_key_file');
  let keys: IdentityKey[] = [];
  if (file !== '') {
    try {
      keys = privateKeys(r.readFile(file)).map(identityKey);
      if (keys.length === 0) r.fail('identity_jwt_key_file', 'a file with at least one private key (PEM) or a JWK set with private keys');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      r.fail('identity_jwt_key_file', code && code.startsWith('E') && !code.startsWith('ERR_') ? `a readable file (${code})` : `EC P-256 or Ed25519 private keys, PEM or JWK set (${(e as Error).message})`);
    }
  } else {
    const { privateKey } = alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    keys = [identityKey(privateKey)];
  }
  const audience = r.str('identity_jwt_audience') || undefined;
  const issuer = r.str('identity_jwt_issuer') || undefined;
  if (issuer) {
    try { new URL(issuer); } catch { r.fail('identity_jwt_issuer', 'an absolute URL, the proxy\'s public address, such as https://app.example.com'); }
  }
  return { identityJwt: { header, keys, generated: file === '', lifetimeS: lifetime.ok ? Math.floor(lifetime.value / 1000) : 60, audience, issuer } };
}

function privateKeys(text: string): KeyObject[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    const set = JSON.parse(trimmed) as { keys?: unknown[] };
    if (!Array.isArray(set.keys)) throw new Error('a JSON file must be a JWK set: {"keys": [...]}');
    return set.keys.map((jwk) => createPrivateKey({ key: jwk as never, format: 'jwk' }));
  }
  const blocks = trimmed.match(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----/g) ?? [];
  return blocks.map((pem) => createPrivateKey(pem));
}
