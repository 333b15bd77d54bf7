import * as client from 'openid-client';
import type { ProviderConfig } from '../config/validate.js';
import { PortcullisError } from '../errors.js';
import type { LoginState } from '../session/loginstate.js';
import { identityFromClaims, needsUserinfo, type Identity } from './identity.js';
import { classify } from './classify.js';
import { configFor, type IssuerClients } from './issuer.js';

/** Starts an authorization-code login: PKCE (S256), state and nonce, always. */
export async function beginLogin(clients: IssuerClients, p: ProviderConfig, redirectUri: string, rd: string): Promise<{ url: URL; loginState: LoginState }> {
  const loginState: LoginState = {
    state: client.randomState(),
    nonce: client.randomNonce(),
    codeVerifier: client.randomPKCECodeVerifier(),
    rd,
    redirectUri,
  };
  const url = client.buildAuthorizationUrl(clients.basic, {
    redirect_uri: redirectUri,
    scope: p.scope,
    response_type: 'code',
    state: loginState.state,
    nonce: loginState.nonce,
    code_challenge: await client.calculatePKCECodeChallenge(loginState.codeVerifier),
    code_challenge_method: 'S256',
  });
  return { url, loginState };
}

export interface LoginResult {
  readonly identity: Identity;
  readonly accessToken?: string;
  /** The issuer's session id (the verified ID token's `sid`), for back-channel logout. */
  readonly issuerSid?: string;
  /** The verified ID token, if the issuer sent one (pass_authorization_header sends it on). */
  readonly idToken?: string;
}

/** Redeems the code, verifies the ID token, and reads the identity (from userinfo where needed). */
export async function completeLogin(clients: IssuerClients, p: ProviderConfig, ls: LoginState, callbackUrl: URL): Promise<LoginResult> {
  const checks = {
    pkceCodeVerifier: ls.codeVerifier,
    expectedState: ls.state,
    // Without an issuer the ID token is set aside unread (issuer.ts), so there is no nonce to match.
    expectedNonce: clients.knowsIssuer ? ls.nonce : undefined,
    idTokenExpected: clients.verifiesIdToken,
  };
  const response = new URL(callbackUrl);
  // RFC 9207's `iss` tells apart the issuers a client talks to; with endpoints given by hand and no
  // issuer URL there is one token endpoint and no identifier to compare it with (oauth2-proxy ignores it).
  if (!clients.knowsIssuer) response.searchParams.delete('iss');
  const params = { redirect_uri: ls.redirectUri };
  let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
  try {
    tokens = await clients.clientAuth.run((method) => client.authorizationCodeGrant(configFor(clients, method), response, checks, params));
  } catch (err) {
    throw classify(err);
  }

  const idClaims = tokens.claims() as Record<string, unknown> | undefined;
  let userinfo: Record<string, unknown> | undefined;
  const mustAskUserinfo = !clients.verifiesIdToken;
  if (clients.hasUserinfo && (mustAskUserinfo || !idClaims || needsUserinfo(idClaims, p))) {
    try {
      const expected = typeof idClaims?.sub === 'string' ? idClaims.sub : client.skipSubjectCheck;
      userinfo = (await client.fetchUserInfo(clients.basic, tokens.access_token, expected)) as Record<string, unknown>;
    } catch (err) {
      if (mustAskUserinfo || !idClaims) throw classify(err);
    }
  }
  const trusted = clients.verifiesIdToken && idClaims ? idClaims : userinfo;
  if (!trusted) throw new PortcullisError('NO_IDENTITY', { detail: 'neither a verified ID token nor userinfo' });
  const extra = trusted === idClaims ? userinfo : undefined;
  const sid = clients.verifiesIdToken ? idClaims?.sid : undefined;
  return {
    identity: identityFromClaims(trusted, extra, p), accessToken: tokens.access_token, idToken: tokens.id_token,
    ...(typeof sid === 'string' && sid !== '' ? { issuerSid: sid } : {}),
  };
}
