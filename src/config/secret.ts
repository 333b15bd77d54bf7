import { createHash, hkdfSync } from 'node:crypto';

export const COOKIE_SECRET_HINT =
  "generate one with: openssl rand -base64 32 | tr -- '+/' '-_'";

const VALID_LENGTHS = new Set([16, 24, 32]);

/**
 * oauth2-proxy's rule: a base64 value (URL or standard alphabet) that decodes to 16, 24 or 32 bytes
 * is used decoded; otherwise the raw bytes are used, and they too must be 16, 24 or 32 long.
 */
export function cookieSecretBytes(secret: string): Buffer | undefined {
  for (const enc of ['base64url', 'base64'] as const) {
    const clean = enc === 'base64url' ? secret.replace(/=+$/, '') : secret;
    if (!(enc === 'base64url' ? /^[A-Za-z0-9_-]+$/ : /^[A-Za-z0-9+/]+={0,2}$/).test(clean)) continue;
    // Node decodes any length; Go (oauth2-proxy) rejects a length no base64 encoder produces.
    if (clean.replace(/=+$/, '').length % 4 === 1) continue;
    const decoded = Buffer.from(clean, enc);
    if (VALID_LENGTHS.has(decoded.length)) return decoded;
  }
  const raw = Buffer.from(secret, 'utf8');
  return VALID_LENGTHS.has(raw.length) ? raw : undefined;
}

/**
 * The iron-session password, derived once at start-up. HKDF gives a full-entropy 32-byte key even
 * from a 16-byte secret, and the `info` label keeps this key apart from any other use of the secret.
 */
export function deriveSealPassword(secret: Buffer, purpose: string): string {
  return Buffer.from(hkdfSync('sha256', secret, 'portcullis', `portcullis ${purpose} v1`, 32)).toString('hex');
}

/** iron-session password maps (`{ id: password }`) for one purpose, from the cookie secrets. */
export interface SealPasswords {
  /** The newest secret alone: what seals. */
  readonly seal: Readonly<Record<string, string>>;
  /** Every secret: what unseals. */
  readonly unseal: Readonly<Record<string, string>>;
  /** The id the newest secret seals under; a seal carrying another id was made with an older secret. */
  readonly sealId: string;
}

/**
 * Password maps for secret rotation. iron writes the password id into each seal and unseals with the
 * password of that id. An id derived from the password itself stays the same whichever position the
 * secret takes in the list, so adding or dropping a secret never changes what an existing cookie
 * refers to (positional ids would). iron-session seals with the highest id of a map, so sealing gets
 * a map of the newest secret alone. Seals made before rotation existed carry id 1 (iron-session's id
 * for a plain string password): they belong to the oldest secret listed, the one that was in use then.
 */
export function deriveSealPasswords(secrets: readonly Buffer[], purpose: string): SealPasswords {
  const passwords = secrets.map((s) => deriveSealPassword(s, purpose));
  const idOf = (pw: string): string => String(2 + parseInt(createHash('sha256').update(pw).digest('hex').slice(0, 8), 16));
  const unseal: Record<string, string> = { 1: passwords.at(-1)! };
  for (const pw of passwords) unseal[idOf(pw)] = pw;
  const sealId = idOf(passwords[0]!);
  return { seal: { [sealId]: passwords[0]! }, unseal, sealId };
}
