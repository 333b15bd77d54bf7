/**
 * The catalog of errors a request can end in: one place says, for each stable code, the HTTP
 * status, the page title, the words the person sees, and for the operator the likely cause and
 * what to do. Pages, JSON answers, logs and docs/troubleshooting.md (generated, drift-tested) all
 * read it, so they cannot disagree. A call site names the code and adds a detail (for the log) and
 * a cause; it never writes its own user-facing message (fastify's `lib/errors.js` is the model).
 */
export interface ErrorSpec {
  readonly status: number;
  readonly title: string;
  /** Shown to the user on the page and in the JSON answer. Never includes attacker-controlled text. */
  readonly message: string;
  /** Where in the request's road it happens: the section of docs/troubleshooting.md it is listed under. */
  readonly area: ErrorArea;
  /**
   * For docs/troubleshooting.md (Markdown): why it happens, as the operator sees it: the log line's
   * event and fields, the metric. Only what the code that raises it does.
   */
  readonly cause: string;
  /** For docs/troubleshooting.md (Markdown): what to do, naming each option by its OAUTH2_PROXY_ variable. */
  readonly fix: string;
}

/** The sections of docs/troubleshooting.md, in the order of a request's road. */
export const ERROR_AREAS = {
  login: { title: 'Signing in: /oauth2/start and the callback', short: 'sign-in' },
  issuer: { title: 'Reaching the identity provider', short: 'issuer' },
  access: { title: 'Access: who may enter, and where', short: 'access' },
  session: { title: 'Sessions and sign-out', short: 'session' },
  upstream: { title: 'The application behind the proxy', short: 'upstream' },
  request: { title: 'The request itself, and the proxy', short: 'request' },
} as const satisfies Record<string, { readonly title: string; readonly short: string }>;

export type ErrorArea = keyof typeof ERROR_AREAS;

export const ERRORS = {
  LOGIN_DENIED: { status: 403, title: 'Sign-in refused', area: 'login',
    message: 'The identity provider did not sign you in.',
    cause: 'The issuer sent the browser back to the callback with `error=…` instead of a code: the user declined or cancelled, or the issuer refused the user or the request. The log line `login_failed` has `code` and, in `detail`, the issuer\'s `error` and `error_description` (the page shows them too, but only to the browser that started the login); the metric is `portcullis_logins_failed_total{code="LOGIN_DENIED"}`. With `OAUTH2_PROXY_PUSHED_AUTHORIZATION_REQUESTS=true` it can also come from `/oauth2/start`, when the issuer refuses the pushed request: log line `request_failed`, detail `the pushed authorization request was refused: …`.',
    fix: 'Read the issuer\'s `error`. `access_denied`: the user said no, or a policy at the issuer keeps them from this client; grant them the application there, or let them try again. `invalid_scope`: ask only for scopes the issuer offers (`OAUTH2_PROXY_SCOPE`). Anything else (`unauthorized_client`, `invalid_request`): check the client registration at the issuer (authorization code flow with PKCE, the client id in `OAUTH2_PROXY_CLIENT_ID`) and any login parameter it may not support (`OAUTH2_PROXY_ACR_VALUES`, `OAUTH2_PROXY_PROMPT`).' },
  LOGIN_STATE_MISSING: { status: 400, title: 'Sign-in not recognised', area: 'login',
    message: 'This browser has no record of this sign-in: it was started in another browser, or already finished in another tab, or the browser did not keep its cookie. Please sign in again.',
    cause: 'The callback\'s `state` matches no login-state cookie (`_oauth2_proxy_csrf_…`, path `/oauth2`) that this proxy can open. Seen with a bookmarked, shared or reloaded callback URL; a login finished twice; a browser that blocks cookies; a callback on another host than the one the login started on (`OAUTH2_PROXY_REDIRECT_URL` names another host); replicas with different cookie secrets, or a secret replaced during the login; more than `OAUTH2_PROXY_COOKIE_CSRF_PER_REQUEST_LIMIT` logins started at once in one browser (the oldest cookies are deleted); a cookie kept past `OAUTH2_PROXY_COOKIE_CSRF_EXPIRE` and its 45 minutes of grace. Log line `login_failed`, detail `no login-state cookie matches the state`; also `the login\'s provider "…" is no longer configured` (a provider removed during the login) and `dpop is on and the login state has no DPoP key` (`OAUTH2_PROXY_DPOP` turned on during it). Metric `portcullis_logins_failed_total{code="LOGIN_STATE_MISSING"}`.',
    fix: 'One user, once: sign in again from the application, not from the callback URL. Everyone, every time: make the callback land on the host the login started on (leave `OAUTH2_PROXY_REDIRECT_URL` unset or a path, or list both hosts\' parent domain in `OAUTH2_PROXY_COOKIE_DOMAINS`), and give every replica the same `OAUTH2_PROXY_COOKIE_SECRET` (to change it, list the new secret before the old one). Leave `OAUTH2_PROXY_COOKIE_CSRF_SAMESITE` unset or `lax`: with `strict` the browser does not send the cookie on its way back from the issuer.' },
  LOGIN_COOKIE_BLOCKED: { status: 400, title: 'Sign-in cookie blocked', area: 'login',
    message: 'Your browser did not keep the sign-in cookie: this site was opened over plain HTTP, and its cookies are for HTTPS only. Open the site with https:// instead; if it has no https:// address, tell its administrator.',
    cause: 'The callback came with no login-state cookie at all, over plain http as far as the proxy can tell, while `OAUTH2_PROXY_COOKIE_SECURE=true` (the default): the browser dropped the `Secure` cookie, as browsers do on any http origin but a loopback one (`localhost`, `127.0.0.1`). Behind a load balancer that ends TLS, the proxy counts the request as http unless it believes the balancer\'s `X-Forwarded-Proto: https`. Log line `login_failed`, detail `no login-state cookie: cookie_secure=true on a plain-http request`; metric `portcullis_logins_failed_total{code="LOGIN_COOKIE_BLOCKED"}`.',
    fix: 'Serve the site over HTTPS ([TLS](tls.md#tls), or `OAUTH2_PROXY_FORCE_HTTPS=true` to send browsers there). Behind a balancer that ends TLS, set `OAUTH2_PROXY_REVERSE_PROXY=true` and list the balancer in `OAUTH2_PROXY_TRUSTED_PROXY_IPS` ([Behind a load balancer](load-balancer.md#behind-a-load-balancer)). For local development on plain http only, `OAUTH2_PROXY_COOKIE_SECURE=false`.' },
  LOGIN_EXPIRED: { status: 400, title: 'Sign-in took too long', area: 'login',
    message: 'This sign-in took too long, so it has expired. Please sign in again.',
    cause: 'The browser came back from the issuer more than `OAUTH2_PROXY_COOKIE_CSRF_EXPIRE` (15 minutes by default) after `/oauth2/start`: a long MFA enrolment, a password reset, a tab left open at the issuer\'s page. The page adds how long the limit is. Log line `login_failed`, detail `login started N minutes ago`; metric `portcullis_logins_failed_total{code="LOGIN_EXPIRED"}`.',
    fix: 'Signing in again works. If logins at your issuer really take longer, raise `OAUTH2_PROXY_COOKIE_CSRF_EXPIRE` (say `30m`).' },
  LOGIN_BAD_REQUEST: { status: 400, title: 'Sign-in problem', area: 'login',
    message: 'This sign-in address is missing what the identity provider adds to it, so the sign-in cannot finish here (it happens with a bookmarked or copied sign-in link). Please sign in again.',
    cause: 'The callback was opened without what the issuer adds to it: no `state`, or a `state` and no `code` (and no `error`); or a form POST to the callback for a provider that does not use `form_post`, or one whose body is not a form of at most 64 KiB. Log line `login_failed`, detail `callback without state`, `callback without code` or `a form_post callback for provider …, which does not use response_mode=form_post` (a bad form body is answered without a log line); metric `portcullis_logins_failed_total{code="LOGIN_BAD_REQUEST"}`.',
    fix: 'One user: start again from the application. Every login: the issuer\'s answer is not reaching the callback as sent. Make `OAUTH2_PROXY_AUTH_REQUEST_RESPONSE_MODE` say how the issuer answers (unset or `query`: in the URL; `form_post`: as a POST, which also needs `OAUTH2_PROXY_COOKIE_CSRF_SAMESITE=none`), and check that nothing in front rewrites `/oauth2/callback` or drops its query string.' },
  LOGIN_REDEEM_FAILED: { status: 401, title: 'Sign-in failed', area: 'login',
    message: 'The identity provider did not accept this sign-in when it was being completed (it may have been finished already, or taken too long). Please sign in again.',
    cause: 'The token endpoint answered the code (or, on a refresh, the refresh token) with an OAuth error and a 4xx status: `invalid_grant` (a code already used, expired, or issued for another redirect URI or PKCE verifier; a refresh token expired or revoked), `invalid_client` (the client secret is wrong), `unauthorized_client`. Log line `login_failed` with the issuer\'s `error: error_description` in `detail`; metric `portcullis_logins_failed_total{code="LOGIN_REDEEM_FAILED"}`. On a refresh the session ends instead: log line `session_refresh_refused` with this code.',
    fix: '`invalid_grant` now and then: the user reloaded the callback or waited too long; signing in again works. `invalid_client` on every login: set the secret the issuer has for this client in `OAUTH2_PROXY_CLIENT_SECRET` or `OAUTH2_PROXY_CLIENT_SECRET_FILE` (a rotated or expired secret), or pin the method the issuer expects with `OAUTH2_PROXY_CLIENT_AUTH_METHOD` (`client_secret_basic` or `client_secret_post`). A refresh refused with `invalid_grant` is the issuer ending the session: the user signs in again.' },
  CLIENT_AUTH_FAILED: { status: 502, title: 'Sign-in unavailable', area: 'login',
    message: 'This site could not prove its own identity to the identity provider, so you cannot sign in. Please tell the site\'s administrator.',
    cause: 'The issuer refused the proxy\'s client authentication without a secret (private_key_jwt, a client assertion file, a TLS client certificate) with `invalid_client`, `unauthorized_client` or a 401 challenge, or the proxy could not make it: the `OAUTH2_PROXY_CLIENT_ASSERTION_FILE` is unreadable, holds no JWT, or has expired (whatever writes it stopped refreshing it), or the key has no signing algorithm the issuer lists. Log line `login_failed` (or `request_failed` when a pushed authorization request fails at `/oauth2/start`; `session_refresh_refused` on a refresh): the `detail` says which key, file or certificate, the issuer\'s error, and what the issuer must know of it. Metric `portcullis_logins_failed_total{code="CLIENT_AUTH_FAILED"}`.',
    fix: 'Do what the `detail` says; see [Client authentication without secrets](client-auth.md#without-a-client-secret-private_key_jwt-workload-identity-mtls-par-dpop-fapi-20). Usually: register the public key (or the certificate of `OAUTH2_PROXY_CLIENT_PRIVATE_KEY_CERTIFICATE_FILE`) of `OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE` at the issuer; Entra ID and Okta want `OAUTH2_PROXY_CLIENT_ASSERTION_AUDIENCE=token_endpoint`; keep the file of `OAUTH2_PROXY_CLIENT_ASSERTION_FILE` refreshed; register the certificate of `OAUTH2_PROXY_CLIENT_TLS_CERT_FILE` (with `OAUTH2_PROXY_CLIENT_TLS_KEY_FILE`) as the client\'s.' },
  LOGIN_TOKEN_INVALID: { status: 401, title: 'Sign-in failed', area: 'login',
    message: 'The identity provider\'s answer could not be verified. Please sign in again.',
    cause: 'The ID token (or the callback\'s answer) failed a check other than time: its signature (no key in the issuer\'s JWKS for it, or an algorithm not allowed), `iss`, `aud`, the `nonce` of this login, the callback\'s `iss` (RFC 9207), or the token answer had no ID token. On a refresh, also: the refreshed ID token names another subject, the session\'s provider is no longer configured, or `OAUTH2_PROXY_DPOP` was turned on after the sign-in. Log line `login_failed` (on a refresh `session_refresh_refused`, and the session ends) with the library\'s code and words in `detail`, such as `ERR_JWS_SIGNATURE_VERIFICATION_FAILED` or `OAUTH_JWT_CLAIM_COMPARISON_FAILED: unexpected JWT "aud" (audience) claim value`; metric `portcullis_logins_failed_total{code="LOGIN_TOKEN_INVALID"}`.',
    fix: 'Compare the `detail` with the configuration: `OAUTH2_PROXY_OIDC_ISSUER_URL` must be the issuer the tokens name, exactly (a trailing slash counts); `aud` must hold `OAUTH2_PROXY_CLIENT_ID`, or an audience listed in `OAUTH2_PROXY_OIDC_EXTRA_AUDIENCES`; the issuer\'s signing algorithm must be among `OAUTH2_PROXY_OIDC_ENABLED_SIGNING_ALGS` when set; keys given in `OAUTH2_PROXY_OIDC_PUBLIC_KEY_FILES` must be the issuer\'s current ones. A nonce mismatch on one login is a replayed or mixed-up callback: signing in again works.' },
  LOGIN_CLOCK_SKEW: { status: 401, title: 'Sign-in failed', area: 'login',
    message: 'The identity provider\'s answer looks expired or not yet valid: its clock and this site\'s clock disagree. Signing in again will not help until they agree; please tell the site\'s administrator.',
    cause: 'An ID token fresh from the token endpoint failed its time checks (`exp` past, `nbf` or `iat` in the future) by more than the 30 seconds allowed: the clock of the issuer or of this host is off. Log line `login_failed`, `detail` naming the claim (`OAUTH_JWT_TIMESTAMP_CHECK_FAILED`, `ERR_JWT_EXPIRED`, …); metric `portcullis_logins_failed_total{code="LOGIN_CLOCK_SKEW"}`. On a refresh the session is kept and the refresh tried again later (log line `session_refresh_failed` with this code).',
    fix: 'Synchronise both clocks (NTP: chrony, systemd-timesyncd); compare `date -u` on this host with the `Date` header of the issuer\'s answers. There is no option to widen the 30 seconds. See [Clock skew on ID tokens](#clock-skew-on-id-tokens).' },
  NO_IDENTITY: { status: 401, title: 'Sign-in failed', area: 'login',
    message: 'The identity provider did not say who you are.',
    cause: 'Neither the verified ID token nor userinfo had a subject (`sub`), or there was neither an ID token the proxy could verify nor a userinfo endpoint to ask. Log line `login_failed`, detail `no sub claim` or `neither a verified ID token nor userinfo`; metric `portcullis_logins_failed_total{code="NO_IDENTITY"}`.',
    fix: 'Keep `openid` in `OAUTH2_PROXY_SCOPE`. With endpoints given by hand (no `OAUTH2_PROXY_OIDC_ISSUER_URL`), give the userinfo endpoint in `OAUTH2_PROXY_VALIDATE_URL` or `OAUTH2_PROXY_PROFILE_URL`.' },
  PROVIDER_UNKNOWN: { status: 400, title: 'Unknown sign-in provider', area: 'login',
    message: 'This sign-in link names an identity provider this site does not know. Choose one of the providers this site offers.',
    cause: 'A link to `/oauth2/start?provider=…` names an id that is not one of the configured providers (the page lists them, and JSON answers carry them in `providers`). Nothing was sent to any provider. No event of its own: the request log line has status 400 on `/oauth2/start`.',
    fix: 'Correct the link to use a provider id from the configuration ([Several providers](providers.md#several-providers)), or link to `/oauth2/sign_in`, which lets the user choose.' },
  EMAIL_UNVERIFIED: { status: 403, title: 'Access denied', area: 'access',
    message: 'Your email address is not verified at the identity provider.',
    cause: 'The identity has `email_verified: false` next to its `email` claim (only an explicit `false` is refused; many issuers leave the claim out). Log line `login_failed`, detail `email_verified=false for …`, metric `portcullis_logins_failed_total{code="EMAIL_UNVERIFIED"}`; on a refresh, `session_refresh_refused` (the session ends); for a bearer token, `bearer_token_refused` with this code in `reason`.',
    fix: 'Have the user verify the address at the issuer. Only if the issuer never verifies addresses, and nobody can claim someone else\'s address there: `OAUTH2_PROXY_INSECURE_OIDC_ALLOW_UNVERIFIED_EMAIL=true`.' },
  EMAIL_MISSING: { status: 403, title: 'Access denied', area: 'access',
    message: 'The identity provider did not tell this site your email address, and it needs one to let you in. Please tell the site\'s administrator.',
    cause: 'The login\'s identity has no email: the claim named by `OAUTH2_PROXY_OIDC_EMAIL_CLAIM` (`email` by default) is in neither the ID token nor userinfo. A login needs one even with `OAUTH2_PROXY_EMAIL_DOMAINS=*`, as in oauth2-proxy. Log line `login_failed`, detail `the issuer sent no email claim`; metric `portcullis_logins_failed_total{code="EMAIL_MISSING"}`.',
    fix: 'Ask for the `email` scope (`OAUTH2_PROXY_SCOPE`, `openid email profile` by default), or name the claim that holds the address: `OAUTH2_PROXY_OIDC_EMAIL_CLAIM` (Entra ID users set `upn`; oauth2-proxy\'s `OAUTH2_PROXY_USER_ID_CLAIM=upn` works too). With `OAUTH2_PROXY_SKIP_CLAIMS_FROM_PROFILE_URL=true` userinfo is not asked, so the claim must be in the ID token.' },
  EMAIL_NOT_ALLOWED: { status: 403, title: 'Access denied', area: 'access',
    message: 'Your account is not allowed to use this application. Sign out and sign in with another account, or ask for access.',
    cause: 'The account\'s email is outside `OAUTH2_PROXY_EMAIL_DOMAINS` and not in `OAUTH2_PROXY_AUTHENTICATED_EMAILS_FILE` (with several providers: the provider\'s own domains; or the session\'s provider is no longer configured), or outside the `allowed_emails` / `allowed_email_domains` that the `/oauth2/auth` query names. Log line `login_failed` at login (metric `portcullis_logins_failed_total{code="EMAIL_NOT_ALLOWED"}`), `access_denied` on a later request through the proxy (after a stricter configuration), `forward_auth_denied` for the query of `/oauth2/auth`; `detail` has the address. (`/oauth2/auth` and `/oauth2/userinfo` refusing a session under the global rules write no line of their own.)',
    fix: 'Add the domain to `OAUTH2_PROXY_EMAIL_DOMAINS` or the address to `OAUTH2_PROXY_AUTHENTICATED_EMAILS_FILE` (read again within a second), or fix the `/oauth2/auth` query in the proxy in front; or the user signs out (the page offers it) and signs in with an allowed account. See [Who may enter](access.md#who-may-enter).' },
  GROUP_NOT_ALLOWED: { status: 403, title: 'Access denied', area: 'access',
    message: 'Your account is not in a group allowed to use this application. Sign out and sign in with another account, or ask for access.',
    cause: 'None of the account\'s groups, read from the claim `OAUTH2_PROXY_OIDC_GROUPS_CLAIM` names (ID token, else userinfo), is in `OAUTH2_PROXY_ALLOWED_GROUPS`, in the provider\'s own `allowedGroups`, or in the `allowed_groups` of the `/oauth2/auth` query. Log line `login_failed` at login (metric `portcullis_logins_failed_total{code="GROUP_NOT_ALLOWED"}`), `access_denied` on a later request through the proxy, `forward_auth_denied` for the query; `detail` lists the groups the account has: `[]` means the issuer sent none.',
    fix: 'An empty list: make the issuer send groups (the `groups` scope in `OAUTH2_PROXY_SCOPE` when you set it yourself; a groups mapper at the issuer), name the claim they are in with `OAUTH2_PROXY_OIDC_GROUPS_CLAIM` (a dotted name such as `realm_access.roles` reads nested claims), and leave `OAUTH2_PROXY_SKIP_CLAIMS_FROM_PROFILE_URL` off when they are only in userinfo. Otherwise: group names compare exactly; add the user to an allowed group, or the group to `OAUTH2_PROXY_ALLOWED_GROUPS`.' },
  ROUTE_NOT_ALLOWED: { status: 403, title: 'Access denied', area: 'access',
    message: 'Your account may use this application, but not this part of it. Sign out and sign in with another account, or ask for access.',
    cause: 'A rule of `OAUTH2_PROXY_ROUTES_FILE` matched the path and the signed-in user lacks what its `require` asks: a group, an email domain, a claim value, or the provider signed in with. Log line `route_denied` (also at `/oauth2/auth`), whose `detail` names the rule and what was missing, e.g. `rule admin: groups [devs] include none of [admins]`.',
    fix: 'Check the rule and the claims the issuer sends: a claim a rule reads is asked of userinfo when the ID token lacks it. Grant the user the group or claim, or widen the rule. See [Per-route policies](access.md#per-route-policies).' },
  STEP_UP_REQUIRED: { status: 401, title: 'Stronger sign-in needed', area: 'access',
    message: 'This part of the application needs a stronger or more recent sign-in.',
    cause: 'A rule of `OAUTH2_PROXY_ROUTES_FILE` asks for `acr_values` or `max_age`, and the session (or bearer token) falls short. Browsers are not shown this: they are sent to sign in again with those parameters. API clients, `OAUTH2_PROXY_API_ROUTES` paths, bearer tokens, websockets and `/oauth2/auth` get this 401 with `WWW-Authenticate: Bearer error="insufficient_user_authentication"` (RFC 9470). Log line `step_up_required`, `detail` naming the rule and what fell short.',
    fix: 'Expected for a client with an old or weak sign-in: it must get a new token that meets the rule\'s `acr_values` and `max_age` (the challenge names them). Behind nginx, `error_page 401` sends browsers to sign in, and the login asks for the step-up. See [Per-route policies](access.md#per-route-policies).' },
  STEP_UP_FAILED: { status: 403, title: 'Stronger sign-in not confirmed', area: 'access',
    message: 'The identity provider signed you in, but did not confirm the stronger or more recent sign-in this page needs. Try again, or ask the site\'s administrator.',
    cause: 'After a login that asked for a rule\'s `acr_values` or `max_age`, the ID token has none of the `acr` values, or no recent enough `auth_time`. The new session is kept (it is a good login, only not strong enough for that page). Log line `step_up_unmet` with what came back; the login itself counts as completed in the metrics.',
    fix: 'The issuer must support the values (`acr_values_supported` in its discovery document) and put `acr` and `auth_time` in its ID tokens, e.g. Keycloak\'s *ACR to LoA mapping*. List in the rule every `acr` that should count: values are compared, not ranked. See [Per-route policies](access.md#per-route-policies).' },
  BEARER_TOKEN_INVALID: { status: 401, title: 'Sign in first', area: 'access',
    message: 'The bearer token in the Authorization header is not valid here.',
    cause: 'With `OAUTH2_PROXY_SKIP_JWT_BEARER_TOKENS=true` and `OAUTH2_PROXY_BEARER_TOKEN_LOGIN_FALLBACK=false`, the `Authorization: Bearer` token is not a JWT, or its signature, issuer, audience or expiry does not check out (no clock leeway: an `exp` just past is refused). The answer carries `WWW-Authenticate: Bearer error="invalid_token"`. Log line `bearer_token_refused` with the `reason` (never the token), e.g. `issuer "…" is not accepted` or `ERR_JWT_EXPIRED: …`.',
    fix: 'Send a fresh token from the issuer of `OAUTH2_PROXY_OIDC_ISSUER_URL` with `OAUTH2_PROXY_CLIENT_ID` in its `aud`, or add its issuer and audience as a pair to `OAUTH2_PROXY_EXTRA_JWT_ISSUERS` (`issuer=audience`). See [API clients: bearer tokens](access.md#api-clients-bearer-tokens).' },
  UNAUTHENTICATED: { status: 401, title: 'Sign in first', area: 'access',
    message: 'Sign in first.',
    cause: 'A request that needs a session came without a valid one: no cookie, an expired one (`OAUTH2_PROXY_COOKIE_EXPIRE`), a session that was signed out, revoked or ended by a refused refresh (log line `session_refresh_refused`). Browsers (`Accept: text/html`) are sent to sign in instead; this 401 goes to API clients, `OAUTH2_PROXY_API_ROUTES` paths, websockets, `/oauth2/userinfo` and `/oauth2/auth` (forward-auth: the proxy in front decides where to send the browser). The JSON answer of a proxied path names the sign-in page in `signIn`. No event of its own: the request log line has status 401.',
    fix: 'Expected: sign in. If browsers get it, they did not ask for HTML (an `XMLHttpRequest`, or `OAUTH2_PROXY_FORCE_JSON_ERRORS=true`). Behind nginx `auth_request`, `error_page 401 = /oauth2/sign_in;` turns it into the sign-in page ([nginx](nginx.md#forward-auth-behind-nginx)). A browser sent back to sign in right after each successful login: see [A redirect loop behind a proxy](#a-redirect-loop-behind-a-proxy).' },
  SESSION_TOO_LARGE: { status: 400, title: 'Sign-in failed', area: 'session',
    message: 'Your account carries too much information (for example too many groups) to keep in a browser cookie, so you cannot be signed in.',
    cause: 'The sealed session would need more than three cookies of 3,800 characters (about 11 KB of `Cookie` header), even without the ID token (dropped first, log line `session_id_token_dropped`). What fills it: the group names (every one is kept), and the tokens kept for `OAUTH2_PROXY_PASS_ACCESS_TOKEN` (the access token) or `OAUTH2_PROXY_COOKIE_REFRESH` (the refresh token). Log line `login_failed`, detail `sealed session of N characters (G groups) needs K cookies; at most 3`; metric `portcullis_logins_failed_total{code="SESSION_TOO_LARGE"}`. On a refresh the old session is kept (log line `session_refresh_too_large`).',
    fix: 'Keep sessions in Redis (`OAUTH2_PROXY_SESSION_STORE_TYPE=redis` with `OAUTH2_PROXY_REDIS_CONNECTION_URL`): the cookie then holds a small ticket. Or send fewer groups (a group filter or narrower scope at the issuer), or keep no tokens (`OAUTH2_PROXY_SESSION_COOKIE_MINIMAL=true`, when nothing needs them). See [Cookies too large](#cookies-too-large).' },
  SESSION_STORE_UNAVAILABLE: { status: 503, title: 'Sessions unavailable', area: 'session',
    message: 'Your session cannot be checked right now. Try again in a moment.',
    cause: 'Redis (`OAUTH2_PROXY_REDIS_CONNECTION_URL`, Sentinel or cluster) does not answer, or the proxy is not yet back in step with it after an outage, so a session cookie cannot be believed. Requests without a session cookie and the health endpoints still answer. Log lines `redis_lost` and `redis_error` (with `code`, e.g. `ECONNREFUSED`), then `request_failed` (or `login_failed` at the callback) with this code and `detail` `redis: …`; `/ready` answers 503 with the `session_store` check failed; `redis_ready` when it is back.',
    fix: 'Bring Redis back or fix the connection settings (`OAUTH2_PROXY_REDIS_CONNECTION_URL`, `OAUTH2_PROXY_REDIS_PASSWORD`, `OAUTH2_PROXY_REDIS_CA_PATH` for `rediss://`); the proxy reconnects every second and recovers by itself. See [Running several replicas](redis.md#running-several-replicas).' },
  BACKCHANNEL_LOGOUT_INVALID: { status: 400, title: 'Bad logout token', area: 'session',
    message: 'The logout token was refused.',
    cause: 'A POST to `/oauth2/backchannel_logout` whose `logout_token` failed a check: signature, `iss` (no configured provider\'s issuer), `aud`, `iat` (more than 10 minutes old), the back-channel logout event claim, a `nonce` present, both `sid` and `sub` missing, or a `jti` already seen (a replay). The caller is the issuer, not a browser. Log line `backchannel_logout_refused` with the `reason`.',
    fix: 'Check that the issuer posting is the one in `OAUTH2_PROXY_OIDC_ISSUER_URL` and that the token\'s audience is `OAUTH2_PROXY_CLIENT_ID`; for an `iat` refused as too old, the clocks (see [Clock skew on ID tokens](#clock-skew-on-id-tokens)). A replayed `jti` needs nothing: the first delivery worked.' },
  ISSUER_UNAVAILABLE: { status: 503, title: 'Sign-in unavailable', area: 'issuer',
    message: 'The identity provider cannot be reached right now, so you cannot sign in. Try again in a moment.',
    cause: 'The issuer did not answer (connection refused, DNS, a timeout after 10 s, a 5xx), or discovery has not succeeded yet since start-up. The proxy retries discovery by itself (0.5 s doubling to 30 s; log lines with the message `issuer discovery failed; retrying` and `err`) and `/ready` answers 503 with the `issuer` check failed meanwhile. At `/oauth2/start` no event of its own (the request log line has status 503); at the callback, log line `login_failed` and metric `portcullis_logins_failed_total{code="ISSUER_UNAVAILABLE"}`. Also for a bearer token whose issuer\'s keys cannot be fetched, and a back-channel logout before discovery. On a refresh the session is kept (`session_refresh_failed`).',
    fix: 'Check that this host reaches `OAUTH2_PROXY_OIDC_ISSUER_URL` (DNS, egress, a proxy, the issuer\'s TLS certificate: `OAUTH2_PROXY_PROVIDER_CA_FILES` for a private CA). It recovers by itself once the issuer answers. See [Issuer unreachable at start-up](#issuer-unreachable-at-start-up).' },
  ISSUER_BAD_RESPONSE: { status: 502, title: 'Sign-in unavailable', area: 'issuer',
    message: 'The identity provider gave an answer the proxy cannot use. Try again later.',
    cause: 'The issuer answered with something that is not OAuth: not JSON (an HTML error or login page from a proxy in between), a status or shape the protocol does not allow, a token answer without `access_token` or `id_token`, broken metadata or JWKS, or an `http://` endpoint in the discovery document of an `https://` issuer. Log line `login_failed` (or `request_failed`, `session_refresh_failed`) with the library\'s code, e.g. `OAUTH_RESPONSE_IS_NOT_JSON`, in `detail`; metric `portcullis_logins_failed_total{code="ISSUER_BAD_RESPONSE"}`.',
    fix: 'Check the issuer and endpoint URLs (`OAUTH2_PROXY_OIDC_ISSUER_URL`, and `OAUTH2_PROXY_LOGIN_URL`, `OAUTH2_PROXY_REDEEM_URL`, `OAUTH2_PROXY_PROFILE_URL`, `OAUTH2_PROXY_OIDC_JWKS_URL` when given by hand): fetch each from this host and look at what comes back. An issuer behind a proxy of its own must be told its public `https://` URL, or its discovery document names the wrong endpoints.' },
  NO_UPSTREAM: { status: 404, title: 'Not found', area: 'upstream',
    message: 'Nothing is served at this path.',
    cause: 'A signed-in request whose path no route of `OAUTH2_PROXY_UPSTREAMS` covers (each upstream serves its route and what is under it; the longest wins). No event of its own: the request log line has status 404.',
    fix: 'Add an upstream whose route is a prefix of the path, or one on `/` for everything else. See [Upstream routing](upstreams.md#upstream-routing).' },
  FILE_NOT_FOUND: { status: 404, title: 'Not found', area: 'upstream',
    message: 'There is no file at this address.',
    cause: 'A `file://` upstream has no regular file at this path inside its directory: missing, unreadable, a directory without `index.html`, or a symlink leading out of the directory (log line `file_outside_root`). Directories are never listed.',
    fix: 'Put the file there, or an `index.html` in the directory; keep symlinks inside the upstream\'s directory. See [Upstream routing](upstreams.md#upstream-routing).' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed', area: 'upstream',
    message: 'Files here can only be read (GET or HEAD).',
    cause: 'A request other than GET or HEAD to a `file://` upstream; the answer carries `Allow: GET, HEAD`.',
    fix: 'Send writes to an http upstream: give it its own route in `OAUTH2_PROXY_UPSTREAMS`.' },
  RANGE_NOT_SATISFIABLE: { status: 416, title: 'Range not satisfiable', area: 'upstream',
    message: 'The requested byte range is outside the file.',
    cause: 'A GET to a `file://` upstream whose `Range` header asks for bytes past the end of the file (the file changed, or the client\'s idea of its size is wrong).',
    fix: 'Nothing on the proxy: the answer\'s `Content-Range: bytes */SIZE` gives the size; the client should ask again without the range, or within it.' },
  UPSTREAM_UNAVAILABLE: { status: 502, title: 'Upstream unavailable', area: 'upstream',
    message: 'The application behind this proxy is not answering. Try again in a moment.',
    cause: 'The upstream refused the connection, reset it, closed it without an answer, or answered with something that is not usable HTTP. Log line `upstream_error` with `err` and `code` (`ECONNREFUSED`, `ECONNRESET`, `UPSTREAM_BAD_ANSWER`, …); metric `portcullis_upstream_errors_total{upstream,code}`.',
    fix: 'Check that the application runs and listens where `OAUTH2_PROXY_UPSTREAMS` points (from this host or container: `127.0.0.1` inside a container is the container itself). For an `https://` upstream with a private CA, see [Upstream routing](upstreams.md#upstream-routing).' },
  UPSTREAM_TIMEOUT: { status: 504, title: 'Upstream timed out', area: 'upstream',
    message: 'The application behind this proxy took too long to answer. Try again in a moment.',
    cause: 'The upstream did not start answering within `OAUTH2_PROXY_UPSTREAM_TIMEOUT` (30 s by default). Log line `upstream_error` with `code` `UPSTREAM_TIMEOUT`; metric `portcullis_upstream_errors_total{code="UPSTREAM_TIMEOUT"}`.',
    fix: 'Find why the application hangs, or raise `OAUTH2_PROXY_UPSTREAM_TIMEOUT` for slow endpoints (`0`: no limit).' },
  UPGRADE_REFUSED: { status: 501, title: 'Not supported', area: 'upstream',
    message: 'This application does not take websocket (upgrade) connections through the proxy.',
    cause: 'A websocket (upgrade) request to a route whose upstream cannot carry it: `OAUTH2_PROXY_PROXY_WEBSOCKETS=false`, or a `file://` or `static://` upstream. No event of its own: the request log line has status 501.',
    fix: 'Set `OAUTH2_PROXY_PROXY_WEBSOCKETS=true` (the default), and route the websocket\'s path to an http(s) or unix upstream in `OAUTH2_PROXY_UPSTREAMS`.' },
  BAD_REQUEST: { status: 400, title: 'Bad request', area: 'request',
    message: 'The request cannot be served as it is (its path or Host header is not valid).',
    cause: 'The request target had a dot segment (in any spelling, `%2e` and `..;` too), a backslash or `#`, or was absolute-form (`GET http://…`); a version other than HTTP/1.x; no usable `Host` header where the proxy must build a URL from it (the callback URL at `/oauth2/start`, the `OAUTH2_PROXY_FORCE_HTTPS` redirect); at `/oauth2/auth`, an `X-Forwarded-Uri` / `X-Original-URI` that is not a plain path; or, for a `file://` upstream, an encoded `/`, a NUL or bad percent-encoding. No event of its own: the request log line has status 400.',
    fix: 'From a browser, nothing to fix: the request was malformed or hostile. If legitimate requests get it, make the proxy in front send `Host` (nginx: `proxy_set_header Host $http_host;`) and, for forward-auth, `X-Forwarded-Uri $request_uri`; or set `OAUTH2_PROXY_REDIRECT_URL` so the callback URL does not depend on `Host`.' },
  INTERNAL: { status: 500, title: 'Error', area: 'request',
    message: 'Something went wrong in the proxy; it has been logged.',
    cause: 'A bug: an error the proxy did not expect. Log line at level error with the message `unexpected error` and `err`, `stack` and `path` (`unexpected error refreshing a session` on a refresh).',
    fix: 'Report it with that log line: its `path` and time match the request log line that carries the request id the page shows. Look through it for anything private before you share it.' },
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

/** The catalog's codes grouped by area, in ERROR_AREAS's order and, within an area, the catalog's. */
export function errorsByArea(): Array<[ErrorArea, ErrorCode[]]> {
  const entries = Object.entries(ERRORS) as Array<[ErrorCode, ErrorSpec]>;
  return (Object.keys(ERROR_AREAS) as ErrorArea[]).map((area) => [area, entries.filter(([, e]) => e.area === area).map(([code]) => code)]);
}

/**
 * docs/troubleshooting.md's generated part: an index table, then one `### CODE` section per code
 * (so a link or a search for the code lands on it), grouped by area. test/docs.test.ts keeps the
 * committed page in step with the catalog.
 */
export function troubleshootingMarkdown(): string {
  const groups = errorsByArea();
  const out = ['| Code | Status | Where | Page title |', '| --- | --- | --- | --- |'];
  for (const [area, codes] of groups) {
    for (const code of codes) out.push(`| [\`${code}\`](#${code.toLowerCase()}) | ${ERRORS[code].status} | ${ERROR_AREAS[area].short} | ${ERRORS[code].title} |`);
  }
  for (const [area, codes] of groups) {
    out.push('', `## ${ERROR_AREAS[area].title}`);
    for (const code of codes) {
      const e: ErrorSpec = ERRORS[code];
      out.push('', `### ${code}`, '', `**HTTP ${e.status}**, page title *${e.title}*. What the user sees:`, '', `> ${e.message}`,
        '', `**Likely cause.** ${e.cause}`, '', `**What to do.** ${e.fix}`);
    }
  }
  return `${out.join('\n')}\n`;
}
