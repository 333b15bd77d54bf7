/**
 * Errors a request can end in. Each has a stable code (for logs and callers to switch on), the HTTP
 * status it answers with, and a message written for the person who sees it: pages and logs use the
 * same words.
 */
export type ErrorCode =
  | 'LOGIN_DENIED'          // the issuer answered error=… (the user refused, or the issuer did)
  | 'LOGIN_STATE_MISSING'   // no login-state cookie for this state: expired, another browser, or forged
  | 'LOGIN_BAD_REQUEST'     // the callback lacks state or code
  | 'LOGIN_REDEEM_FAILED'   // the token endpoint refused the code (replayed, expired, wrong client)
  | 'LOGIN_TOKEN_INVALID'   // the ID token failed verification (signature, iss, aud, exp, nonce)
  | 'EMAIL_UNVERIFIED'
  | 'EMAIL_NOT_ALLOWED'
  | 'NO_IDENTITY'           // neither the ID token nor userinfo gave a subject
  | 'ISSUER_UNAVAILABLE'    // discovery not done yet, or the issuer did not answer
  | 'UNAUTHENTICATED'       // an API request without a session
  | 'NO_UPSTREAM'           // signed in, but no upstream serves this path
  | 'UPSTREAM_UNAVAILABLE'  // the upstream refused, reset or timed out
  | 'BAD_REQUEST'           // a request we cannot make sense of (bad Host, bad URL)
  | 'INTERNAL';             // a bug: logged with its stack

const STATUS: Record<ErrorCode, number> = {
  LOGIN_DENIED: 403,
  LOGIN_STATE_MISSING: 400,
  LOGIN_BAD_REQUEST: 400,
  LOGIN_REDEEM_FAILED: 401,
  LOGIN_TOKEN_INVALID: 401,
  EMAIL_UNVERIFIED: 403,
  EMAIL_NOT_ALLOWED: 403,
  NO_IDENTITY: 401,
  ISSUER_UNAVAILABLE: 503,
  UNAUTHENTICATED: 401,
  NO_UPSTREAM: 404,
  UPSTREAM_UNAVAILABLE: 502,
  BAD_REQUEST: 400,
  INTERNAL: 500,
};

export class PortcullisError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Safe-to-log detail for operators (never a token or secret). */
  readonly detail?: string;

  constructor(code: ErrorCode, message: string, detail?: string) {
    super(message);
    this.code = code;
    this.status = STATUS[code];
    this.detail = detail;
  }
}
