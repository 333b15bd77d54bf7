// Bearer JWTs (skip_jwt_bearer_tokens, extra_jwt_issuers) and logout tokens (back-channel logout),
// end to end against two real issuers (oidc-provider): any mutation of a valid token is refused;
// alg, kid and typ confusions are refused; a token valid at one issuer is refused at another. The
// generators build tokens from their parts: header fields, claims, signer, and byte-level edits.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { SignJWT, exportJWK } from 'jose';
import fc from 'fast-check';
import { startDevIssuer, type DevIssuer } from '../src/devissuer/issuer.js';
import { BACKCHANNEL_LOGOUT_EVENT } from '../src/oidc/backchannel.js';
import { request } from './support/http.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { prop } from './support/prop.js';
import { CLIENT_ID, CLIENT_SECRET } from './support/stack.js';

const now = (): number => Math.floor(Date.now() / 1000);
const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const parts = (t: string): string[] => t.split('.');

/** True when two compact JWS spell the same header, payload and signature bytes. */
function sameBytes(a: string, b: string): boolean {
  const pa = parts(a);
  const pb = parts(b);
  if (pa.length !== 3 || pb.length !== 3) return false;
  return pa.every((x, i) => /^[A-Za-z0-9_-]*$/.test(pb[i]!) && Buffer.from(x, 'base64url').equals(Buffer.from(pb[i]!, 'base64url')));
}

/** One structured change to a signed token. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('header' as const), field: fc.constantFrom('alg', 'kid', 'typ', 'jku', 'jwk', 'crit', 'x5u', 'b64'), value: fc.constantFrom<unknown>('none', 'HS256', 'RS384', 'PS256', 'ES256', 'rs256', '', 'other-kid', 'logout+jwt', 'at+jwt', 'JWT', 'http://127.0.0.1:1/jwks', ['exp'], false, null, undefined) }),
  fc.record({ kind: fc.constant('claim' as const), field: fc.constantFrom('iss', 'aud', 'exp', 'nbf', 'iat', 'sub', 'email', 'azp', 'events', 'nonce', 'sid', 'jti'), value: fc.constantFrom<unknown>('https://evil.example/', 'some-other-client', [CLIENT_ID, 'x'], 0, 1, 9_999_999_999, -1, '', 'mallory', null, undefined, { [BACKCHANNEL_LOGOUT_EVENT]: {} }) }),
  fc.record({ kind: fc.constant('char' as const), part: fc.nat({ max: 2 }), at: fc.nat(), to: fc.constantFrom(...'AQgwz09-_.= ') }),
  fc.record({ kind: fc.constant('truncate' as const), part: fc.nat({ max: 2 }), keep: fc.nat() }),
  fc.record({ kind: fc.constant('shape' as const), how: fc.constantFrom('no-signature', 'extra-part', 'swap', 'padding', 'whitespace', 'lowercase-header') }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(token: string, m: Mutation): string {
  const [h, p, s] = parts(token) as [string, string, string];
  const json = (x: string): Record<string, unknown> => {
    try { return JSON.parse(Buffer.from(x, 'base64url').toString('utf8')) as Record<string, unknown>; } catch { return {}; }
  };
  switch (m.kind) {
    case 'header': return `${b64({ ...json(h), [m.field]: m.value })}.${p}.${s}`;
    case 'claim': return `${h}.${b64({ ...json(p), [m.field]: m.value })}.${s}`;
    case 'char': { const segs = [h, p, s]; const seg = segs[m.part]!; const i = m.at % Math.max(1, seg.length); segs[m.part] = seg.slice(0, i) + m.to + seg.slice(i + 1); return segs.join('.'); }
    case 'truncate': { const segs = [h, p, s]; segs[m.part] = segs[m.part]!.slice(0, m.keep % Math.max(1, segs[m.part]!.length)); return segs.join('.'); }
    case 'shape':
      switch (m.how) {
        case 'no-signature': return `${h}.${p}.`;
        case 'extra-part': return `${h}.${p}.${s}.${s}`;
        case 'swap': return `${p}.${h}.${s}`;
        case 'padding': return `${h}.${p}.${s}==`;
        case 'whitespace': return `${h}. ${p}.${s}`;
        case 'lowercase-header': return `${h.toLowerCase()}.${p}.${s}`;
      }
  }
  return token;
}

/** Signers an attacker has: another issuer's key, a key of their own (announced in the header or not), HMAC with what is public. */
type Signer = 'A' | 'B' | 'attacker' | 'attacker-jwk' | 'hs-client-secret' | 'hs-public-key';

let peers: Peers;
let b: DevIssuer;
let aOnly: InProcess;
let aAndB: InProcess;
const ATTACKER = generateKeyPairSync('rsa', { modulusLength: 2048 });

async function sign(signer: Signer, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  switch (signer) {
    case 'A': return peers.issuer.sign(claims, header);
    case 'B': return b.sign(claims, header);
    case 'attacker': return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', ...header }).sign(ATTACKER.privateKey);
    case 'attacker-jwk': return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', ...header, jwk: await exportJWK(ATTACKER.publicKey) }).sign(ATTACKER.privateKey);
    case 'hs-client-secret': return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', ...header }).sign(new TextEncoder().encode(CLIENT_SECRET));
    case 'hs-public-key': {
      const { keys } = await (await fetch(peers.issuer.endpoints.jwks)).json() as { keys: Array<Record<string, unknown>> };
      const pem = createPublicKey({ key: keys[0]! as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
      return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', ...header }).sign(new TextEncoder().encode(pem));
    }
  }
}

async function bearerStatus(p: InProcess, token: string): Promise<number> {
  return (await request(`${p.url}/app`, { headers: { accept: 'application/json', authorization: `Bearer ${token}` } })).status;
}

const accessClaims = (iss: string, aud: unknown): Record<string, unknown> => ({ iss, aud, sub: `user-${randomUUID()}`, email: 'bearer@example.com', email_verified: true, iat: now(), exp: now() + 3600 });

describe('bearer JWTs and logout tokens', () => {
  before(async () => {
    peers = await startPeers();
    b = await startDevIssuer({ shape: 'hydra', clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: ['http://127.0.0.1:1/oauth2/callback'] }] });
    const bearer = { ...peers.env, OAUTH2_PROXY_SKIP_JWT_BEARER_TOKENS: 'true', OAUTH2_PROXY_REQUEST_LOGGING: 'false' };
    aOnly = await startInProcess(bearer, peers.port);
    aAndB = await startInProcess({ ...bearer, OAUTH2_PROXY_EXTRA_JWT_ISSUERS: `${b.issuer}=api-b` });
  });
  after(async () => {
    await Promise.all([aOnly?.close(), aAndB?.close()]);
    await Promise.all([peers?.close(), b?.stop()]);
  });

  prop('bearer: any mutation of a valid token (header field, claim, character, truncation, shape) is refused unless it spells the same bytes', 150, () => fc.asyncProperty(
    fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.constantFrom<Signer>('A', 'attacker', 'attacker-jwk', 'hs-client-secret', 'hs-public-key'), fc.boolean(),
    async (ms, resignWith, resign) => {
      const valid = await sign('A', accessClaims(peers.issuer.issuer, CLIENT_ID));
      assert.equal(await bearerStatus(aOnly, valid), 200, 'the unmutated token is accepted');
      let token = ms.reduce(mutate, valid);
      // Or the mutated header and claims, signed again by someone: only the issuer's key may pass, with the original's meaning.
      if (resign && parts(token).length === 3) {
        try {
          const [h, p] = parts(token).map((x) => JSON.parse(Buffer.from(x, 'base64url').toString('utf8')) as Record<string, unknown>);
          if (resignWith === 'A') return; // the issuer's own signature over changed claims is a token the issuer made: not a mutation
          token = await sign(resignWith, p!, Object.fromEntries(Object.entries(h!).filter(([k]) => k !== 'alg')));
        } catch { /* not JSON any more: keep the byte-level mutation */ }
      }
      const status = await bearerStatus(aOnly, token);
      if (sameBytes(token, valid)) return;
      assert.equal(status, 401, `accepted: ${token}`);
    }));

  prop('bearer: a token is accepted exactly by the issuer that signed it, with that issuer\'s name and audience', 150, () => fc.asyncProperty(
    fc.constantFrom<Signer>('A', 'B', 'attacker'), fc.constantFrom('A', 'B', 'A-no-slash', 'A-upper'), fc.constantFrom<unknown>(CLIENT_ID, 'api-b', [CLIENT_ID, 'x'], ['api-b'], 'x'),
    fc.boolean(), fc.constantFrom<string | undefined>(undefined, 'JWT', 'at+jwt', 'logout+jwt', 'id_token+jwt'),
    async (signer, issName, aud, extra, typ) => {
      const iss = { A: peers.issuer.issuer, B: b.issuer, 'A-no-slash': peers.issuer.issuer.replace(/\/$/, ''), 'A-upper': peers.issuer.issuer.toUpperCase() }[issName];
      const claims = accessClaims(iss, aud);
      const token = await sign(signer, claims, typ === undefined ? {} : { typ });
      const auds = Array.isArray(aud) ? aud : [aud];
      const logoutTyped = typ === 'logout+jwt';
      const model = !logoutTyped && ((signer === 'A' && issName === 'A' && auds.includes(CLIENT_ID)) || (extra && signer === 'B' && issName === 'B' && auds.includes('api-b')));
      assert.equal(await bearerStatus(extra ? aAndB : aOnly, token), model ? 200 : 401);
    }));

  prop('bearer: a logout token (its event claim) is never a bearer token, whatever its typ', 60, () => fc.asyncProperty(fc.constantFrom<string | undefined>(undefined, 'JWT', 'logout+jwt'), async (typ) => {
    const token = await sign('A', { ...accessClaims(peers.issuer.issuer, CLIENT_ID), jti: randomUUID(), events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } }, typ === undefined ? {} : { typ });
    assert.equal(await bearerStatus(aOnly, token), 401);
  }));

  const logout = async (p: InProcess, token: string): Promise<number> => (await request(`${p.url}/oauth2/backchannel_logout`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: token }).toString(),
  })).status;
  const logoutClaims = (iss: string): Record<string, unknown> => ({ iss, aud: CLIENT_ID, iat: now(), jti: randomUUID(), sub: `user-${randomUUID()}`, events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } });

  prop('logout tokens: any mutation of a valid one is refused (400) unless it spells the same bytes', 120, () => fc.asyncProperty(
    fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.constantFrom<Signer>('attacker', 'attacker-jwk', 'hs-client-secret', 'hs-public-key', 'B'), fc.boolean(),
    async (ms, resignWith, resign) => {
      const claims = logoutClaims(peers.issuer.issuer);
      const valid = await sign('A', claims, { typ: 'logout+jwt' });
      let token = ms.reduce(mutate, valid);
      if (resign && parts(token).length === 3) {
        try {
          const [h, p] = parts(token).map((x) => JSON.parse(Buffer.from(x, 'base64url').toString('utf8')) as Record<string, unknown>);
          token = await sign(resignWith, p!, Object.fromEntries(Object.entries(h!).filter(([k]) => k !== 'alg')));
        } catch { /* keep the byte-level mutation */ }
      }
      const status = await logout(aOnly, token);
      if (sameBytes(token, valid)) return;
      assert.equal(status, 400, `accepted: ${token}`);
      // The original is still good afterwards: its jti was not spent by a refused copy.
      assert.equal(await logout(aOnly, valid), 200);
    }));

  prop('logout tokens: accepted exactly when the issuer signed them as logout tokens for this client; never twice', 100, () => fc.asyncProperty(
    fc.constantFrom<Signer>('A', 'B', 'attacker'), fc.constantFrom('A', 'B'), fc.constantFrom<string | undefined>(undefined, 'JWT', 'logout+jwt', 'at+jwt', 'id_token+jwt'),
    fc.constantFrom('none', 'nonce', 'no-event', 'old', 'no-jti', 'no-sub-sid', 'aud-other', 'exp-past'),
    async (signer, issName, typ, flaw) => {
      const claims: Record<string, unknown> = logoutClaims(issName === 'A' ? peers.issuer.issuer : b.issuer);
      if (flaw === 'nonce') claims.nonce = 'n';
      if (flaw === 'no-event') delete claims.events;
      if (flaw === 'old') claims.iat = now() - 3600;
      if (flaw === 'no-jti') delete claims.jti;
      if (flaw === 'no-sub-sid') delete claims.sub;
      if (flaw === 'aud-other') claims.aud = 'other';
      if (flaw === 'exp-past') claims.exp = now() - 600;
      const token = await sign(signer, claims, typ === undefined ? {} : { typ });
      const model = signer === 'A' && issName === 'A' && (typ === undefined || typ === 'JWT' || typ === 'logout+jwt') && flaw === 'none';
      assert.equal(await logout(aOnly, token), model ? 200 : 400);
      if (model) assert.equal(await logout(aOnly, token), 400, 'a replay is refused');
    }));
});
