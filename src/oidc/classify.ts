import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import { PortcullisError, type ErrorCode } from '../errors.js';
import { describe } from './issuer.js';

/**
 * openid-client / oauth4webapi error codes (their exported constants, plus openid-client's own
 * OAUTH_TIMEOUT and OAUTH_ABORT), sorted by what they mean for the person signing in. Sorting by
 * code, not by message text, is what keeps a timeout from being told as a forged token.
 */
const BY_CODE: Readonly<Record<string, ErrorCode>> = {
  // The issuer did not answer in time, or not at all.
  OAUTH_TIMEOUT: 'ISSUER_UNAVAILABLE',
  OAUTH_ABORT: 'ISSUER_UNAVAILABLE',
  // The issuer answered, but not with OAuth: misconfigured URL, proxy error page, broken metadata.
  [oauth.RESPONSE_IS_NOT_JSON]: 'ISSUER_BAD_RESPONSE',
  [oauth.RESPONSE_IS_NOT_CONFORM]: 'ISSUER_BAD_RESPONSE',
  [oauth.PARSE_ERROR]: 'ISSUER_BAD_RESPONSE',
  [oauth.MISSING_SERVER_METADATA]: 'ISSUER_BAD_RESPONSE',
  [oauth.INVALID_SERVER_METADATA]: 'ISSUER_BAD_RESPONSE',
  [oauth.HTTP_REQUEST_FORBIDDEN]: 'ISSUER_BAD_RESPONSE',
  [oauth.REQUEST_PROTOCOL_FORBIDDEN]: 'ISSUER_BAD_RESPONSE',
  // The answer failed verification: signature, alg, iss, aud, exp, nonce, key selection.
  [oauth.INVALID_RESPONSE]: 'LOGIN_TOKEN_INVALID',
  [oauth.JWT_CLAIM_COMPARISON]: 'LOGIN_TOKEN_INVALID',
  // An ID token fresh from the token endpoint that looks expired or not yet valid: the clocks disagree.
  [oauth.JWT_TIMESTAMP_CHECK]: 'LOGIN_CLOCK_SKEW',
  ERR_JWT_EXPIRED: 'LOGIN_CLOCK_SKEW',
  // The same checks where Portcullis verifies ID tokens itself (jose, see idtoken.ts).
  ERR_JWT_CLAIM_VALIDATION_FAILED: 'LOGIN_TOKEN_INVALID',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'LOGIN_TOKEN_INVALID',
  ERR_JWKS_NO_MATCHING_KEY: 'LOGIN_TOKEN_INVALID',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'LOGIN_TOKEN_INVALID',
  ERR_JOSE_ALG_NOT_ALLOWED: 'LOGIN_TOKEN_INVALID',
  ERR_JWS_INVALID: 'LOGIN_TOKEN_INVALID',
  ERR_JWT_INVALID: 'LOGIN_TOKEN_INVALID',
  ERR_JWKS_TIMEOUT: 'ISSUER_UNAVAILABLE',
  ERR_JWKS_INVALID: 'ISSUER_BAD_RESPONSE',
  [oauth.JSON_ATTRIBUTE_COMPARISON]: 'LOGIN_TOKEN_INVALID',
  [oauth.KEY_SELECTION]: 'LOGIN_TOKEN_INVALID',
  [oauth.JWT_USERINFO_EXPECTED]: 'LOGIN_TOKEN_INVALID',
};

/** Socket-level failures under fetch's "fetch failed" TypeError (undici puts the code on the cause). */
const NETWORK = /^(E(CONNREFUSED|CONNRESET|HOSTUNREACH|NETUNREACH|NOTFOUND|AI_AGAIN|PIPE|TIMEDOUT)|UND_ERR_\w+)$/;

/**
 * Maps a failure of a call to the issuer onto what the user is told; the detail is for the log.
 * An error this does not recognise is reported as the issuer's bad answer when it came from the
 * OAuth library, and as a bug (INTERNAL, logged with its stack) when it did not — never as an
 * invalid token.
 */
export function classify(err: unknown): PortcullisError {
  if (err instanceof PortcullisError) return err;
  // Thrown by our own client authentication (clientkey.ts) inside openid-client, which wraps it.
  if (err instanceof client.ClientError && err.cause instanceof PortcullisError) return err.cause;
  const d = describe(err);
  const detail = [d.code, d.message, d.cause].filter(Boolean).join(': ');
  if (err instanceof client.ResponseBodyError) {
    if (err.status >= 500) return new PortcullisError('ISSUER_UNAVAILABLE', { detail, cause: err });
    return new PortcullisError('LOGIN_REDEEM_FAILED', { detail: `${err.error}: ${err.error_description ?? ''}`.slice(0, 300), cause: err });
  }
  const code = (err as { code?: unknown })?.code;
  // jose reports a not-yet-valid token (nbf, or iat in the future) as a claim failure: the clocks again.
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && ['nbf', 'iat'].includes(String((err as { claim?: unknown }).claim))) {
    return new PortcullisError('LOGIN_CLOCK_SKEW', { detail, cause: err });
  }
  if (code === oauth.INVALID_RESPONSE && isMisshapen(err)) return new PortcullisError('ISSUER_BAD_RESPONSE', { detail, cause: err });
  if (typeof code === 'string' && code in BY_CODE) {
    const status = (err as { cause?: { status?: unknown } }).cause?.status;
    if (code === oauth.RESPONSE_IS_NOT_CONFORM && typeof status === 'number' && status >= 500) {
      return new PortcullisError('ISSUER_UNAVAILABLE', { detail, cause: err });
    }
    return new PortcullisError(BY_CODE[code]!, { detail, cause: err });
  }
  const causeCode = (err as { cause?: { code?: unknown } })?.cause?.code;
  if (err instanceof TypeError && typeof causeCode === 'string' && NETWORK.test(causeCode)) {
    return new PortcullisError('ISSUER_UNAVAILABLE', { detail, cause: err });
  }
  const fromOAuthLibrary = err instanceof client.ClientError || err instanceof client.AuthorizationResponseError
    || err instanceof client.WWWAuthenticateChallengeError || err instanceof client.ResponseBodyError;
  return new PortcullisError(fromOAuthLibrary ? 'ISSUER_BAD_RESPONSE' : 'INTERNAL', { detail, cause: err });
}

/**
 * Whether a failed refresh ends the session. Only the issuer's own refusal does: an OAuth error
 * (invalid_grant: the refresh token is expired, revoked, or the user is gone) or an answer that
 * fails verification. An issuer that is down, slow, answering 5xx or garbage, or a clock that is off,
 * says nothing about the user: the session is kept until its own expiry and the refresh retried
 * later, so an issuer outage does not sign everyone out.
 */
export function refreshEndsSession(err: PortcullisError): boolean {
  return !['ISSUER_UNAVAILABLE', 'ISSUER_BAD_RESPONSE', 'LOGIN_CLOCK_SKEW', 'INTERNAL'].includes(err.code);
}

/**
 * oauth4webapi's INVALID_RESPONSE means two things: an answer of the wrong shape (not an object, no
 * access_token, no id_token), whose cause holds the parsed `body`; and a token or callback that
 * fails a check, whose cause holds its claims, JWS or parameters. Only the second is an invalid
 * token; the first is the issuer's bad answer. (openid-client wraps the library's error once.)
 */
function isMisshapen(err: unknown): boolean {
  let cause = (err as { cause?: unknown }).cause;
  if (cause instanceof oauth.OperationProcessingError) cause = cause.cause;
  return typeof cause === 'object' && cause !== null && 'body' in cause;
}
