import * as client from 'openid-client';
import type { ProviderConfig } from '../config/validate.js';
import { PortcullisError } from '../errors.js';
import type { LoginState } from '../session/loginstate.js';
import { identityFromClaims, needsUserinfo, type Identity } from './identity.js';
import { classify } from './classify.js';
import type { IssuerClients } from './issuer.js';

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
}

/** Redeems the code, verifies the ID token, and reads the identity (from userinfo where needed). */
export async function completeLogin(clients: IssuerClients, p: ProviderConfig, ls: LoginState, callbackUrl: URL): Promise<LoginResult> {
  const checks = {
    pkceCodeVerifier: ls.codeVerifier,
    expectedState: ls.state,
    expectedNonce: ls.nonce,
    idTokenExpected: clients.verifiesIdToken,
  };
  const params = { redirect_uri: ls.redirectUri };
  let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
  try {
    try {
      tokens = await client.authorizationCodeGrant(clients.basic, callbackUrl, checks, params);
    } catch (err) {
      // Some servers accept client credentials only in the form body; Go's oauth2 retries the same
      // way. A refused client authentication happens before the code is looked at, so it is still unused.
      if (!(err instanceof client.ResponseBodyError && err.error === 'invalid_client')) throw err;
      tokens = await client.authorizationCodeGrant(clients.post, callbackUrl, checks, params);
    }
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
  return { identity: identityFromClaims(trusted, extra, p), accessToken: tokens.access_token };
}
