/**
 * The catalog of errors a request can end in: one place says, for each stable code, the HTTP
 * status, the page title, the words the person sees and what an operator can do about it. Pages,
 * JSON answers, logs and docs/troubleshooting.md (generated, drift-tested) all read it, so they cannot
 * disagree. A call site names the code and adds a detail (for the log) and a cause; it never
 * writes its own user-facing message (fastify's `lib/errors.js` is the model).
 */
export interface ErrorSpec {
  readonly status: number;
  readonly title: string;
  /** Shown to the user on the page and in the JSON answer. Never includes attacker-controlled text. */
  readonly message: string;
  /** For docs/troubleshooting.md: what the operator (or user) can do about it. */
  readonly fix: string;
}

export const ERRORS = {
  LOGIN_DENIED: { status: 403, title: 'Sign-in refused',
    message: 'The identity provider did not sign you in.',
    fix: 'The issuer answered the callback with error=… (the user declined, or the issuer refused the client). The log line login_failed has the issuer\'s error code.' },
  LOGIN_STATE_MISSING: { status: 400, title: 'Sign-in not recognised',
    message: 'This browser has no record of this sign-in: it was started in another browser, or already finished in another tab, or the browser did not keep its cookie. Please sign in again.',
    fix: 'The callback came without the login-state cookie of its state. Seen often: a bookmarked or shared callback URL, a login finished twice, cookies blocked by the browser, or a cookie_domain that does not match the site.' },
  LOGIN_COOKIE_BLOCKED: { status: 400, title: 'Sign-in cookie blocked',
    message: 'Your browser did not keep the sign-in cookie: this site was opened over plain HTTP, and its cookies are for HTTPS only. Open the site with https:// instead; if it has no https:// address, tell its administrator.',
    fix: 'cookie_secure=true (the default) and the request came over plain http, so the browser dropped the login-state cookie. Serve the site over HTTPS (behind a TLS-ending load balancer, set reverse_proxy=true so its X-Forwarded-Proto: https is believed), or set cookie_secure=false for local development only.' },
  LOGIN_EXPIRED: { status: 400, title: 'Sign-in took too long',
    message: 'This sign-in took too long, so it has expired. Please sign in again.',
    fix: 'The browser came back from the issuer later than cookie_csrf_expire (15 minutes by default) after /oauth2/start (a long MFA enrolment, or a tab left open). Signing in again works; raise cookie_csrf_expire if logins need longer.' },
  LOGIN_BAD_REQUEST: { status: 400, title: 'Sign-in problem',
    message: 'This sign-in address is missing what the identity provider adds to it, so the sign-in cannot finish here (it happens with a bookmarked or copied sign-in link). Please sign in again.',
    fix: 'The callback was opened without the parameters the issuer adds; start again from the application.' },
  LOGIN_REDEEM_FAILED: { status: 401, title: 'Sign-in failed',
    message: 'The identity provider did not accept this sign-in when it was being completed (it may have been finished already, or taken too long). Please sign in again.',
    fix: 'The token endpoint refused the code: replayed or expired code, wrong client secret, or a redirect_url the issuer does not know. The log has the issuer\'s error.' },
  CLIENT_AUTH_FAILED: { status: 502, title: 'Sign-in unavailable',
    message: 'This site could not prove its own identity to the identity provider, so you cannot sign in. Please tell the site\'s administrator.',
    fix: 'The token endpoint refused the proxy\'s client authentication (invalid_client) with private_key_jwt, a client assertion file or a TLS client certificate, or the proxy would not send it (an expired client_assertion_file, a key without an algorithm the issuer lists). The log line login_failed says which key, file or certificate, and what the issuer must know of it.' },
  LOGIN_TOKEN_INVALID: { status: 401, title: 'Sign-in failed',
    message: 'The identity provider\'s answer could not be verified. Please sign in again.',
    fix: 'The ID token failed verification (signature, iss, aud, exp or nonce). Check the issuer URL and client ID, and the clocks of both machines.' },
  LOGIN_CLOCK_SKEW: { status: 401, title: 'Sign-in failed',
    message: 'The identity provider\'s answer looks expired or not yet valid: its clock and this site\'s clock disagree. Signing in again will not help until they agree; please tell the site\'s administrator.',
    fix: 'The ID token failed its time checks (exp, nbf or iat) by more than the 30 s allowed: the clock of the issuer or of this host is off. Synchronise both (NTP).' },
  EMAIL_UNVERIFIED: { status: 403, title: 'Access denied',
    message: 'Your email address is not verified at the identity provider.',
    fix: 'Verify the address at the issuer, or set insecure_oidc_allow_unverified_email if the issuer never verifies addresses.' },
  EMAIL_MISSING: { status: 403, title: 'Access denied',
    message: 'The identity provider did not tell this site your email address, and it needs one to let you in. Please tell the site\'s administrator.',
    fix: 'The issuer sent no oidc_email_claim in the ID token or userinfo. A login needs an email even with email_domains=*, as in oauth2-proxy: ask for the email scope (scope), or name the claim that holds it (oidc_email_claim, or user_id_claim=upn).' },
  EMAIL_NOT_ALLOWED: { status: 403, title: 'Access denied',
    message: 'Your account is not allowed to use this application. Sign out and sign in with another account, or ask for access.',
    fix: 'The account\'s email is outside email_domains and not in authenticated_emails_file. Widen email_domains or list the address, or sign in with another account.' },
  GROUP_NOT_ALLOWED: { status: 403, title: 'Access denied',
    message: 'Your account is not in a group allowed to use this application. Sign out and sign in with another account, or ask for access.',
    fix: 'The account has none of the allowed_groups in its oidc_groups_claim (ID token or userinfo). Check the groups the issuer sends (the scope may need groups), or add the user to a group.' },
  ROUTE_NOT_ALLOWED: { status: 403, title: 'Access denied',
    message: 'Your account may use this application, but not this part of it. Sign out and sign in with another account, or ask for access.',
    fix: 'A routes_file rule matched the path and the user lacks what it requires (groups, email domain or claim values). The log line route_denied names the rule and what was missing. Check the rule, or the claims the issuer sends (a claim a rule reads is asked of userinfo when the ID token lacks it).' },
  STEP_UP_REQUIRED: { status: 401, title: 'Stronger sign-in needed',
    message: 'This part of the application needs a stronger or more recent sign-in.',
    fix: 'A routes_file rule asks for acr_values or max_age and the session (or bearer token) does not meet them. Browsers are sent to sign in again with those parameters; API clients get this 401 with WWW-Authenticate: Bearer error="insufficient_user_authentication" (RFC 9470) and should get a new token that meets them.' },
  STEP_UP_FAILED: { status: 403, title: 'Stronger sign-in not confirmed',
    message: 'The identity provider signed you in, but did not confirm the stronger or more recent sign-in this page needs. Try again, or ask the site\'s administrator.',
    fix: 'After a login that asked for a route\'s acr_values or max_age, the ID token had none of the acr values, or no recent enough auth_time. The issuer must support those values (acr_values_supported in its discovery document) and put acr and auth_time in the ID token; the log line step_up_unmet says what came back.' },
  SESSION_TOO_LARGE: { status: 400, title: 'Sign-in failed',
    message: 'Your account carries too much information (for example too many groups) to keep in a browser cookie, so you cannot be signed in.',
    fix: 'The sealed session would exceed three cookies (about 11 KB). Ask the issuer for fewer groups or claims (a narrower scope, or a groups filter at the issuer), or keep sessions in Redis (session_store_type=redis), where the cookie holds only a small ticket.' },
  NO_IDENTITY: { status: 401, title: 'Sign-in failed',
    message: 'The identity provider did not say who you are.',
    fix: 'Neither the ID token nor userinfo had a subject (sub). Check the scope (it must include openid) and the validate_url.' },
  PROVIDER_UNKNOWN: { status: 400, title: 'Unknown sign-in provider',
    message: 'This sign-in link names an identity provider this site does not know. Choose one of the providers this site offers.',
    fix: 'A link to /oauth2/start?provider=… names an id that is not one of the configured providers (the page lists them). Correct the link, or sign in from the sign-in page; nothing was sent to any provider.' },
  ISSUER_UNAVAILABLE: { status: 503, title: 'Sign-in unavailable',
    message: 'The identity provider cannot be reached right now, so you cannot sign in. Try again in a moment.',
    fix: 'The issuer did not answer (down, timed out, 5xx) or discovery has not succeeded yet; /ready says so. It recovers by itself.' },
  ISSUER_BAD_RESPONSE: { status: 502, title: 'Sign-in unavailable',
    message: 'The identity provider gave an answer the proxy cannot use. Try again later.',
    fix: 'The issuer answered with something that is not OAuth (not JSON, an unexpected status, a token answer without access_token or id_token, bad metadata). Check the issuer and endpoint URLs; the log has the detail.' },
  SESSION_STORE_UNAVAILABLE: { status: 503, title: 'Sessions unavailable',
    message: 'Your session cannot be checked right now. Try again in a moment.',
    fix: 'The session store (Redis) does not answer, or the proxy is not yet back in step with it after an outage; /ready says so. Requests without a session and the health endpoints still answer. It recovers by itself when Redis is back.' },
  BACKCHANNEL_LOGOUT_INVALID: { status: 400, title: 'Bad logout token',
    message: 'The logout token was refused.',
    fix: 'A back-channel logout request whose logout_token failed a check (signature, iss, aud, iat, events claim, nonce present, sid and sub both missing, or a jti already seen); the log line backchannel_logout_refused says which. Check that the issuer is the one in oidc_issuer_url and the client ID matches.' },
  BEARER_TOKEN_INVALID: { status: 401, title: 'Sign in first',
    message: 'The bearer token in the Authorization header is not valid here.',
    fix: 'skip_jwt_bearer_tokens is on and bearer_token_login_fallback=false: the token is not a JWT, or its signature, issuer, audience (client_id, or an extra_jwt_issuers pair) or expiry does not check out. The log line bearer_token_refused says which.' },
  UNAUTHENTICATED: { status: 401, title: 'Sign in first',
    message: 'Sign in first.',
    fix: 'An API request without a session. Browsers (Accept: text/html) are sent to sign in instead.' },
  NO_UPSTREAM: { status: 404, title: 'Not found',
    message: 'Nothing is served at this path.',
    fix: 'No upstream route matches the path; add an upstream whose path is a prefix of it.' },
  FILE_NOT_FOUND: { status: 404, title: 'Not found',
    message: 'There is no file at this address.',
    fix: 'A file:// upstream has no regular file at this path inside its directory (or a directory without index.html, or a symlink leading out of the directory: the log line file_outside_root says so). Directories are never listed.' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed',
    message: 'Files here can only be read (GET or HEAD).',
    fix: 'A file:// upstream answers GET and HEAD only; send writes to an http upstream.' },
  RANGE_NOT_SATISFIABLE: { status: 416, title: 'Range not satisfiable',
    message: 'The requested byte range is outside the file.',
    fix: 'The Range header asks for bytes past the end of the file; Content-Range: bytes */SIZE gives its size.' },
  UPSTREAM_UNAVAILABLE: { status: 502, title: 'Upstream unavailable',
    message: 'The application behind this proxy is not answering. Try again in a moment.',
    fix: 'The upstream refused the connection, reset it or timed out. Check that it runs and that upstreams points at it.' },
  UPSTREAM_TIMEOUT: { status: 504, title: 'Upstream timed out',
    message: 'The application behind this proxy took too long to answer. Try again in a moment.',
    fix: 'The upstream did not start answering within upstream_timeout (30s by default). Raise it for slow endpoints, or find why the upstream hangs.' },
  UPGRADE_REFUSED: { status: 501, title: 'Not supported',
    message: 'This application does not take websocket (upgrade) connections through the proxy.',
    fix: 'Set proxy_websockets=true (the default), and point the route at an http(s) or unix upstream (file:// and static:// never upgrade).' },
  BAD_REQUEST: { status: 400, title: 'Bad request',
    message: 'The request cannot be served as it is (its path or Host header is not valid).',
    fix: 'The request had dot segments in its path, an absolute-form target, or an unusable Host header; or, for a file:// upstream, an encoded /, a backslash, a NUL or bad percent-encoding in its path.' },
  INTERNAL: { status: 500, title: 'Error',
    message: 'Something went wrong in the proxy; it has been logged.',
    fix: 'A bug: the log line has the stack. Please report it.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** An error the proxy answers with: a catalog code, plus a detail and a cause for the operator's log. */
export class PortcullisError extends Error {
  override readonly name = 'PortcullisError';
  readonly code: ErrorCode;
  readonly status: number;
  /** Safe-to-log detail for operators (never a token or secret). */
  readonly detail?: string;

  constructor(code: ErrorCode, o: { detail?: string; cause?: unknown } = {}) {
    super(ERRORS[code].message, o.cause === undefined ? undefined : { cause: o.cause });
    this.code = code;
    this.status = ERRORS[code].status;
    this.detail = o.detail;
  }

  get title(): string { return ERRORS[this.code].title; }
}

/** docs/troubleshooting.md's table of error codes, generated from the catalog (test/docs.test.ts keeps it in step). */
export function errorsMarkdownTable(): string {
  const rows = ['| Code | Status | What the user sees | What to do |', '| --- | --- | --- | --- |'];
  for (const [code, e] of Object.entries(ERRORS) as Array<[ErrorCode, ErrorSpec]>) {
    rows.push(`| \`${code}\` | ${e.status} | ${e.message.replace(/\|/g, '\\|')} | ${e.fix.replace(/\|/g, '\\|')} |`);
  }
  return `${rows.join('\n')}\n`;
}
