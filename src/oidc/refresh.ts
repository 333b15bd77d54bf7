import * as client from 'openid-client';
import type { Config, ProviderConfig } from '../config/validate.js';
import { PortcullisError } from '../errors.js';
import type { RefreshGrant } from '../session/refresh.js';
import { identityFromTokens, identityOf, sessionFields, tokenGrant, tokenNeeds, type LoginResult } from './flow.js';
import type { IssuerClients } from './issuer.js';
import { qualifiedUser, type Issuers } from './issuers.js';
import { dpopHandle } from './dpop.js';
import type { DpopKey } from '../session/codec.js';

/**
 * Uses a refresh token (cookie_refresh). The identity is read again, as at login, from the new ID
 * token and userinfo; its subject must be the session's. `identity` is undefined only when the
 * issuer sent neither (the caller keeps what the session had). Failures are classified (classify.ts).
 */
export async function refreshLogin(clients: IssuerClients, p: ProviderConfig, refreshToken: string, sub: string, dpopKey?: DpopKey): Promise<Partial<LoginResult>> {
  // tokenGrant (flow.ts) checks the answer again after an issuer key rotation: the refresh token it
  // rotated is in that answer, and the old one is spent.
  // DPoP: the session's own key, so the new access token is bound to it as the first was.
  const tokens = await tokenGrant(clients, async (config) => client.refreshTokenGrant(config, refreshToken, undefined, dpopKey ? { DPoP: await dpopHandle(config, dpopKey) } : undefined));
  const result = await identityFromTokens(clients, p, tokens, { sub }, { userinfoOptional: true, ...(dpopKey ? { dpopKey } : {}) });
  if (result.identity && result.identity.sub !== sub) {
    throw new PortcullisError('LOGIN_TOKEN_INVALID', { detail: 'the refreshed identity has another subject' });
  }
  // An issuer that does not rotate refresh tokens sends none back: the one we have stays good.
  return { ...result, refreshToken: result.refreshToken ?? refreshToken };
}

/**
 * The refresh grant the session refresher runs (cookie_refresh): the refreshed session's fields,
 * with the identity read again (or kept, when the issuer sent no claims) and the tokens the session
 * keeps. A PortcullisError otherwise; refreshEndsSession (classify.ts) decides what it means.
 */
export function sessionRefreshGrant(issuers: Issuers, config: Config): RefreshGrant {
  return async (s) => {
    // At the issuer the session came from, with that provider's client: never another's.
    const issuer = issuers.of(s);
    if (!issuer) throw new PortcullisError('LOGIN_TOKEN_INVALID', { detail: `the session's provider ${JSON.stringify(s.provider)} is no longer configured` });
    const p = issuer.provider;
    const clients = issuer.clients;
    if (!clients) throw new PortcullisError('ISSUER_UNAVAILABLE', { detail: 'issuer discovery has not succeeded yet' });
    if (!s.refreshToken) throw new PortcullisError('INTERNAL', { detail: 'refresh of a session without a refresh token' });
    if (clients.dpop && !s.dpopKey) throw new PortcullisError('LOGIN_TOKEN_INVALID', { detail: 'dpop is on and the session has no DPoP key (signed in before dpop was turned on): sign in again' });
    const r = await refreshLogin(clients, p, s.refreshToken, s.sub, clients.dpop ? s.dpopKey : undefined);
    // A refresh often brings no new ID token: the one from the login still serves as id_token_hint,
    // and the issuer's session (back-channel logout's handle) is the same one.
    // A refresh continues the same sign-in: without a new ID token that says otherwise, how and
    // when the user signed in (acr, auth_time) stay what the login said.
    // Only a new verified ID token may say so: userinfo says who, not how (identity.ts).
    const fromIdToken = r.idToken !== undefined && clients.verifiesIdToken;
    const identity = r.identity
      ? { ...r.identity, user: qualifiedUser(r.identity.sub, p.id, issuers.several), acr: fromIdToken ? r.identity.acr ?? s.acr : s.acr, authTime: fromIdToken ? r.identity.authTime ?? s.authTime : s.authTime }
      : identityOf(s);
    return sessionFields(identity, { ...r, idToken: r.idToken ?? s.idToken, issuerSid: r.issuerSid ?? s.issuerSid, ...(s.dpopKey ? { dpopKey: s.dpopKey } : {}) }, tokenNeeds(config, clients, p), s.provider);
  };
}
