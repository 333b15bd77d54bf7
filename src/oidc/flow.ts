import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import type { StepUp } from '../access/routepolicies.js';
import type { Config, LoginUrlParameter, ProviderConfig } from '../config/validate.js';
import { injectsClaim } from '../config/alpha/headers.js';
import { PortcullisError } from '../errors.js';
import type { Session } from '../session/codec.js';
import type { LoginState } from '../session/loginstate.js';
import type { NewSession } from '../session/store.js';
import { identityFromClaims, needsUserinfo, sessionIdentity, type Identity } from './identity.js';
import { classify } from './classify.js';
import { SET_ASIDE_ID_TOKEN, configFor, type IssuerClients } from './issuer.js';
import { ID_TOKEN_PLACEHOLDER } from './logout.js';
import type { TokenSlot } from './replay.js';
import { isClientAuthRefusal } from './clientauth.js';
import { dpopHandle, dpopThumbprint, newDpopKey } from './dpop.js';
import type { DpopKey } from '../session/codec.js';

/** What the person starting a login may add from /oauth2/start's query string. */
export interface LoginRequest {
  /** Pre-fills the issuer's login form (OIDC login_hint). */
  readonly loginHint?: string;
  /** login or select_account: ask the issuer for a fresh login or an account choice (to switch user). */
  readonly prompt?: string;
  /** The whole query, for the provider's alpha loginURLParameters that allow values from it. */
  readonly query?: URLSearchParams;
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
    query,
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
  for (const param of p.loginUrlParameters ?? []) {
    const value = loginUrlParameter(param, req.query);
    if (value !== undefined) out[param.name] = value;
  }
  return out;
}

/**
 * An alpha loginURLParameter: the values /oauth2/start's query gives that its allow rules accept
 * (all of them must, or the default is sent), else its default; several values are sent
 * space-separated, as OAuth lists are.
 */
function loginUrlParameter(param: LoginUrlParameter, query: URLSearchParams | undefined): string | undefined {
  const given = query?.getAll(param.name) ?? [];
  const allowed = given.length > 0 && given.every((v) => v.length <= 256 && (param.allow ?? []).some((rule) => ('value' in rule ? rule.value === v : rule.pattern.test(v))));
  const values = allowed ? given : param.default ?? [];
  return values.length ? values.join(' ') : undefined;
}

/**
 * Starts an authorization-code login: PKCE (S256), state and nonce, always. `stepUp`: what the
 * route at rd asks of the sign-in (routes_file); the callback checks the issuer met it.
 */
export async function beginLogin(clients: IssuerClients, p: ProviderConfig, redirectUri: string, rd: string, o: { request?: LoginRequest; wantsRefreshToken?: boolean; stepUp?: StepUp; bindProvider?: boolean } = {}): Promise<{ url: URL; loginState: LoginState }> {
  // DPoP: a new key for this login, bound to its code (dpop_jkt, or the PAR request's proof) and
  // then to its session's tokens.
  const dpopKey = clients.dpop ? newDpopKey() : undefined;
  const loginState: LoginState = {
    state: client.randomState(),
    nonce: client.randomNonce(),
    codeVerifier: client.randomPKCECodeVerifier(),
    rd,
    redirectUri,
    startedAt: Date.now(),
    ...(o.stepUp ? { stepUp: o.stepUp } : {}),
    ...(dpopKey ? { dpopKey } : {}),
    // With several providers the login is bound to its provider: the callback redeems it there only.
    ...(o.bindProvider ? { provider: p.id } : {}),
  };
  const parameters = {
    redirect_uri: redirectUri,
    scope: scopeFor(p, clients, o.wantsRefreshToken ?? false),
    response_type: 'code',
    state: loginState.state,
    nonce: loginState.nonce,
    code_challenge: await client.calculatePKCECodeChallenge(loginState.codeVerifier),
    code_challenge_method: 'S256',
    ...extraParameters(p, o.request ?? {}, o.stepUp),
  };
  if (!clients.pushAuthorizationRequests) {
    const url = client.buildAuthorizationUrl(clients.basic, { ...parameters, ...(dpopKey ? { dpop_jkt: dpopThumbprint(dpopKey) } : {}) });
    return { url, loginState };
  }
  // PAR (RFC 9126): the parameters go to the issuer over the back channel, authenticated as the
  // token endpoint's calls are; the browser carries only client_id and request_uri.
  try {
    const url = await clients.clientAuth.run(async (method) => {
      const config = configFor(clients, method);
      return client.buildAuthorizationUrlWithPAR(config, parameters, dpopKey ? { DPoP: await dpopHandle(config, dpopKey) } : undefined);
    });
    return { url, loginState };
  } catch (err) {
    throw pushRefusal(clients, err);
  }
}

/** A PAR endpoint's refusal, told like the issuer's other refusals (the callback's error=…, or our credentials). */
function pushRefusal(clients: IssuerClients, err: unknown): PortcullisError {
  const refused = credentialRefusal(clients, err);
  if (refused) return refused;
  if (err instanceof client.ResponseBodyError && err.status < 500) {
    return new PortcullisError('LOGIN_DENIED', { detail: `the pushed authorization request was refused: ${err.error}: ${err.error_description ?? ''}`.slice(0, 300), cause: err });
  }
  return classify(err);
}

/**
 * The issuer refused a credential without a secret (private_key_jwt, an assertion file, a TLS
 * client certificate): said as such, with what the issuer must know of it, never as a bad code.
 */
function credentialRefusal(clients: IssuerClients, err: unknown): PortcullisError | undefined {
  if (!clients.credential || !isClientAuthRefusal(err)) return undefined;
  const e = err as { error?: string; error_description?: string; status?: number };
  const d = clients.credential.describe();
  return new PortcullisError('CLIENT_AUTH_FAILED', { detail: `the issuer refused ${d.method} (${e.error ?? `HTTP ${e.status}`}${e.error_description ? `: ${e.error_description}` : ''}): ${d.hint}`.slice(0, 900), cause: err });
}

export interface LoginResult {
  readonly identity: Identity;
  readonly accessToken?: string;
  readonly refreshToken?: string;
  /** The issuer's session id (the verified ID token's `sid`), for back-channel logout. */
  readonly issuerSid?: string;
  /** The verified ID token, if the issuer sent one (sign-out at the issuer, pass_authorization_header). */
  readonly idToken?: string;
  /** With dpop: the key the tokens are bound to, which the session keeps for its refreshes. */
  readonly dpopKey?: DpopKey;
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
    if ((err as { code?: unknown })?.code !== oauth.KEY_SELECTION || !slot.recorded) throw credentialRefusal(clients, err) ?? classify(err);
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
  const dpopKey = clients.dpop ? ls.dpopKey : undefined;
  if (clients.dpop && !dpopKey) throw new PortcullisError('LOGIN_STATE_MISSING', { detail: 'dpop is on and the login state has no DPoP key (a login started before dpop was turned on)' });
  const dpop = async (config: client.Configuration): Promise<{ DPoP: client.DPoPHandle } | undefined> => (dpopKey ? { DPoP: await dpopHandle(config, dpopKey) } : undefined);
  const tokens = await tokenGrant(clients, async (config) => client.authorizationCodeGrant(config, response, checks, params, await dpop(config)));
  const result = await identityFromTokens(clients, p, tokens, { nonce: ls.nonce }, { dpopKey });
  if (!result.identity) throw new PortcullisError('NO_IDENTITY', { detail: 'neither a verified ID token nor userinfo' });
  return { ...result, ...(dpopKey ? { dpopKey } : {}) } as LoginResult;
}

/** The identity from a token response: its verified ID token, filled in (or replaced) by userinfo. */
export async function identityFromTokens(clients: IssuerClients, p: ProviderConfig, tokens: TokenResponse, expect: { nonce?: string; sub?: string }, o: { userinfoOptional?: boolean; dpopKey?: DpopKey } = {}): Promise<Partial<LoginResult>> {
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
      // A DPoP-bound access token is sent with a proof of the session's key (token_type DPoP).
      const dpop = o.dpopKey ? { DPoP: await dpopHandle(clients.basic, o.dpopKey) } : undefined;
      userinfo = (await client.fetchUserInfo(clients.basic, tokens.access_token, subject, dpop)) as Record<string, unknown>;
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
    accessToken: config.passAccessToken || injectsClaim(config, 'access_token'),
    refreshToken: config.cookie.refreshMs > 0,
    idToken: !!clients.endSessionEndpoint || !!p.backendLogoutUrl?.includes(ID_TOKEN_PLACEHOLDER)
      || config.passAuthorizationHeader || config.setAuthorizationHeader || injectsClaim(config, 'id_token'),
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
    // The key goes with the tokens bound to it: a session that keeps none has no use for it.
    ...(tokens.dpopKey && (needs.accessToken || needs.refreshToken) ? { dpopKey: tokens.dpopKey } : {}),
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
