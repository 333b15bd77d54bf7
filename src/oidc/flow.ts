import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import type { StepUp } from '../access/routepolicies.js';
import type { Config, ProviderConfig } from '../config/validate.js';
import { PortcullisError } from '../errors.js';
import type { Session } from '../session/codec.js';
import type { LoginState } from '../session/loginstate.js';
import type { NewSession } from '../session/store.js';
import { identityFromClaims, needsUserinfo, sessionIdentity, type Identity } from './identity.js';
import { classify } from './classify.js';
import { SET_ASIDE_ID_TOKEN, configFor, type IssuerClients } from './issuer.js';
import { ID_TOKEN_PLACEHOLDER } from './logout.js';
import type { TokenSlot } from './replay.js';

/** What the person starting a login may add from /oauth2/start's query string. */
export interface LoginRequest {
  /** Pre-fills the issuer's login form (OIDC login_hint). */
  readonly loginHint?: string;
  /** login or select_account: ask the issuer for a fresh login or an account choice (to switch user). */
  readonly prompt?: string;
}

/**
 * Prompt values a link to /oauth2/start may add: each asks the issuer for more from the user,
 * never less, so a crafted link cannot make a login quieter than the operator configured.
 */
const REQUEST_PROMPTS = new Set(['login', 'select_account', 'consent']);
const MAX_LOGIN_HINT = 256;

/** The login parameters from /oauth2/start's query that may reach the issuer; anything else is dropped. */
export function loginRequestFrom(query: URLSearchParams): LoginRequest {
  const hint = query.get('login_hint');
  const prompts = (query.get('prompt') ?? '').split(' ').filter((p) => REQUEST_PROMPTS.has(p));
  return {
    // eslint-disable-next-line no-control-regex
    loginHint: hint && hint.length <= MAX_LOGIN_HINT && !/[\x00-\x1f\x7f]/.test(hint) ? hint : undefined,
    prompt: prompts.length ? [...new Set(prompts)].join(' ') : undefined,
  };
}

/**
 * The scope asked for. With cookie_refresh, offline_access is added when the issuer lists it: Hydra,
 * oidc-provider, Okta, Auth0 and Azure issue a refresh token only for it (Keycloak lists it too and
 * then makes an offline session).
 */
export function scopeFor(p: ProviderConfig, clients: IssuerClients, wantsRefreshToken: boolean): string {
  const scopes = p.scope.split(/\s+/).filter(Boolean);
  if (wantsRefreshToken && !scopes.includes('offline_access') && clients.scopesSupported?.includes('offline_access')) scopes.push('offline_access');
  return scopes.join(' ');
}

/**
 * prompt (configured values plus those the request may add), else the legacy approval_prompt;
 * acr_values (a route's step-up replaces the configured ones for this login) and max_age.
 */
function extraParameters(p: ProviderConfig, req: LoginRequest, stepUp?: StepUp): Record<string, string> {
  const out: Record<string, string> = {};
  const configured = p.prompt?.split(' ') ?? [];
  // prompt=none means "no interaction at all" and combines with nothing.
  const prompts = configured.includes('none') ? configured : [...new Set([...configured, ...(req.prompt?.split(' ') ?? [])])];
  if (prompts.length) out.prompt = prompts.join(' ');
  else if (p.approvalPrompt) out.approval_prompt = p.approvalPrompt;
  const acrValues = stepUp?.acrValues?.length ? stepUp.acrValues.join(' ') : p.acrValues;
  if (acrValues) out.acr_values = acrValues;
  if (stepUp?.maxAgeS !== undefined) out.max_age = String(stepUp.maxAgeS);
  if (p.responseMode) out.response_mode = p.responseMode;
  if (req.loginHint) out.login_hint = req.loginHint;
  return out;
}

/**
 * Starts an authorization-code login: PKCE (S256), state and nonce, always. `stepUp`: what the
 * route at rd asks of the sign-in (routes_file); the callback checks the issuer met it.
 */
export async function beginLogin(clients: IssuerClients, p: ProviderConfig, redirectUri: string, rd: string, o: { request?: LoginRequest; wantsRefreshToken?: boolean; stepUp?: StepUp; bindProvider?: boolean } = {}): Promise<{ url: URL; loginState: LoginState }> {
  const loginState: LoginState = {
    state: client.randomState(),
    nonce: client.randomNonce(),
    codeVerifier: client.randomPKCECodeVerifier(),
    rd,
    redirectUri,
    startedAt: Date.now(),
    ...(o.stepUp ? { stepUp: o.stepUp } : {}),
    // With several providers the login is bound to its provider: the callback redeems it there only.
    ...(o.bindProvider ? { provider: p.id } : {}),
  };
  const url = client.buildAuthorizationUrl(clients.basic, {
    redirect_uri: redirectUri,
    scope: scopeFor(p, clients, o.wantsRefreshToken ?? false),
    response_type: 'code',
    state: loginState.state,
    nonce: loginState.nonce,
    code_challenge: await client.calculatePKCECodeChallenge(loginState.codeVerifier),
    code_challenge_method: 'S256',
    ...extraParameters(p, o.request ?? {}, o.stepUp),
  });
  return { url, loginState };
}

export interface LoginResult {
  readonly identity: Identity;
  readonly accessToken?: string;
  readonly refreshToken?: string;
  /** The issuer's session id (the verified ID token's `sid`), for back-channel logout. */
  readonly issuerSid?: string;
  /** The verified ID token, if the issuer sent one (sign-out at the issuer, pass_authorization_header). */
  readonly idToken?: string;
}

export type TokenResponse = client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;

/**
 * Runs a token grant (code or refresh) with the client authentication that works, and classifies a
 * failure. An ID token naming a key the JWKS fetched within the last minute lacks means the issuer
 * rotated its keys: the same answer (a code, or a refresh token the issuer rotated, cannot be spent
 * twice) is checked once more with configurations that fetch the JWKS anew.
 */
export async function tokenGrant(clients: IssuerClients, grant: (config: client.Configuration) => Promise<TokenResponse>): Promise<TokenResponse> {
  const run = (configs: Pick<IssuerClients, 'basic' | 'post'>): Promise<TokenResponse> => clients.clientAuth.run((method) => grant(configFor(configs, method)));
  const slot: TokenSlot = {};
  try {
    return await clients.tokenReplay.run(slot, () => run(clients));
  } catch (err) {
    if ((err as { code?: unknown })?.code !== oauth.KEY_SELECTION || !slot.recorded) throw classify(err);
    try {
      return await clients.tokenReplay.run({ replay: slot.recorded }, () => run(clients.freshConfigs()));
    } catch (again) {
      throw classify(again);
    }
  }
}

/** Redeems the code, verifies the ID token, and reads the identity (from userinfo where needed). */
export async function completeLogin(clients: IssuerClients, p: ProviderConfig, ls: LoginState, callbackUrl: URL): Promise<LoginResult> {
  const ownCheck = clients.idTokenVerifier !== undefined;
  const checks = {
    pkceCodeVerifier: ls.codeVerifier,
    expectedState: ls.state,
    // Without an issuer the ID token is set aside unread (issuer.ts), so there is no nonce to match;
    // an ID token Portcullis verifies itself has its nonce checked there.
    expectedNonce: clients.knowsIssuer && !ownCheck ? ls.nonce : undefined,
    idTokenExpected: clients.verifiesIdToken && !ownCheck,
  };
  const response = new URL(callbackUrl);
  // RFC 9207's `iss` tells apart the issuers a client talks to; with endpoints given by hand and no
  // issuer URL there is one token endpoint and no identifier to compare it with (oauth2-proxy ignores it).
  if (!clients.knowsIssuer) response.searchParams.delete('iss');
  const params = { redirect_uri: ls.redirectUri };
  const tokens = await tokenGrant(clients, (config) => client.authorizationCodeGrant(config, response, checks, params));
  const result = await identityFromTokens(clients, p, tokens, { nonce: ls.nonce });
  if (!result.identity) throw new PortcullisError('NO_IDENTITY', { detail: 'neither a verified ID token nor userinfo' });
  return result as LoginResult;
}

/** The identity from a token response: its verified ID token, filled in (or replaced) by userinfo. */
export async function identityFromTokens(clients: IssuerClients, p: ProviderConfig, tokens: TokenResponse, expect: { nonce?: string; sub?: string }, o: { userinfoOptional?: boolean } = {}): Promise<Partial<LoginResult>> {
  let idClaims: Record<string, unknown> | undefined;
  let idToken: string | undefined;
  if (clients.idTokenVerifier) {
    const setAside = tokens[SET_ASIDE_ID_TOKEN];
    if (typeof setAside === 'string') {
      try {
        idClaims = await clients.idTokenVerifier.verify(setAside, expect.sub ? { sub: expect.sub } : { nonce: expect.nonce });
      } catch (err) {
        throw classify(err);
      }
      idToken = setAside;
    } else if (!expect.sub) {
      throw new PortcullisError('LOGIN_TOKEN_INVALID', { detail: 'the token response has no ID token' });
    }
  } else {
    idClaims = tokens.claims() as Record<string, unknown> | undefined;
    idToken = clients.knowsIssuer ? tokens.id_token : undefined;
  }

  let userinfo: Record<string, unknown> | undefined;
  const mustAskUserinfo = !clients.verifiesIdToken;
  // skip_claims_from_profile_url: a verified ID token is taken as it is, whatever it lacks.
  if (clients.hasUserinfo && (mustAskUserinfo || !idClaims || (!p.skipClaimsFromProfileUrl && needsUserinfo(idClaims, p)))) {
    try {
      const subject = typeof idClaims?.sub === 'string' ? idClaims.sub : expect.sub ?? client.skipSubjectCheck;
      userinfo = (await client.fetchUserInfo(clients.basic, tokens.access_token, subject)) as Record<string, unknown>;
    } catch (err) {
      // On a refresh the grant has already happened (and may have rotated the refresh token): a
      // userinfo hiccup then keeps the identity the session had rather than losing the new tokens.
      if ((mustAskUserinfo || !idClaims) && !o.userinfoOptional) throw classify(err);
    }
  }
  const trusted = clients.verifiesIdToken && idClaims ? idClaims : userinfo;
  const extra = trusted === idClaims ? userinfo : undefined;
  const sid = clients.verifiesIdToken ? idClaims?.sid : undefined;
  return {
    identity: trusted ? identityFromClaims(trusted, extra, p) : undefined,
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    idToken,
    ...(typeof sid === 'string' && sid !== '' ? { issuerSid: sid } : {}),
  };
}

/** Which tokens a session keeps: each only when a feature needs it (the cookie has room for three chunks). */
export interface TokenNeeds {
  /** pass_access_token, or X-Auth-Request-Access-Token. */
  readonly accessToken: boolean;
  /** cookie_refresh. */
  readonly refreshToken: boolean;
  /** Sign-out at the issuer (end_session_endpoint's id_token_hint, backend_logout_url's {id_token}), pass_authorization_header, set_authorization_header. */
  readonly idToken: boolean;
}

export function tokenNeeds(config: Config, clients: IssuerClients, p: ProviderConfig = config.provider): TokenNeeds {
  // session_cookie_minimal: no token at all (configuration refuses the options that need one).
  if (config.sessionStore.minimal) return { accessToken: false, refreshToken: false, idToken: false };
  return {
    accessToken: config.passAccessToken,
    refreshToken: config.cookie.refreshMs > 0,
    idToken: !!clients.endSessionEndpoint || !!p.backendLogoutUrl?.includes(ID_TOKEN_PLACEHOLDER)
      || config.passAuthorizationHeader || config.setAuthorizationHeader,
  };
}

/** What a session keeps of a login or a refresh; `provider`, with several providers, the id of the one it came from. */
export function sessionFields(identity: Identity, tokens: Omit<Partial<LoginResult>, 'identity'>, needs: TokenNeeds, provider?: string): NewSession {
  return {
    ...(provider !== undefined ? { provider } : {}),
    ...sessionIdentity(identity),
    ...(tokens.issuerSid ? { issuerSid: tokens.issuerSid } : {}),
    ...(needs.accessToken && tokens.accessToken ? { accessToken: tokens.accessToken } : {}),
    ...(needs.refreshToken && tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
    ...(needs.idToken && tokens.idToken ? { idToken: tokens.idToken } : {}),
  };
}

/** The identity a session carries, for a refresh that brought no new claims. */
export function identityOf(s: Session): Identity {
  return {
    user: s.user, sub: s.sub, email: s.email, groups: [...s.groups], preferredUsername: s.preferredUsername,
    ...(s.acr !== undefined ? { acr: s.acr } : {}),
    ...(s.authTime !== undefined ? { authTime: s.authTime } : {}),
    ...(s.claims ? { claims: s.claims } : {}),
  };
}
