/**
 * What oauth2-proxy's configuration holds beside the option table: every name its flags and TOML
 * file take, and the options Portcullis does not have, each with why. A migration that names one of
 * them is told so, from a flag, a variable or the file alike: refused when ignoring it would change
 * who may sign in or where logs go, warned about when ignoring it only leaves a feature out.
 */

/**
 * Every configuration name of oauth2-proxy (the `cfg` tags of its options, v7), so that a key
 * Portcullis lacks is told apart from a typo, and the configuration reference marks which options carry its names.
 */
export const OAUTH2_PROXY_KEYS: ReadonlySet<string> = new Set([
  'acr_values', 'allow_query_semicolons', 'allowed_groups', 'allowed_roles', 'api_routes', 'approval_prompt', 'auth_logging',
  'auth_logging_format', 'auth_request_response_mode', 'authenticated_emails_file', 'azure_graph_group_field', 'azure_tenant',
  'backend_logout_url', 'banner', 'basic_auth_password', 'bearer_token_login_fallback', 'bitbucket_repository', 'bitbucket_team',
  'client_id', 'client_secret', 'client_secret_file', 'code_challenge_method', 'cookie_csrf_expire', 'cookie_csrf_per_request',
  'cookie_csrf_per_request_limit', 'cookie_csrf_samesite', 'cookie_domains', 'cookie_expire', 'cookie_httponly', 'cookie_name',
  'cookie_path', 'cookie_refresh', 'cookie_samesite', 'cookie_secret', 'cookie_secret_file', 'cookie_secure', 'custom_sign_in_logo',
  'custom_templates_dir', 'disable_keep_alives', 'display_htpasswd_form', 'email_domains', 'encode_state', 'entra_id_allowed_tenants',
  'entra_id_federated_token_auth', 'errors_to_info_log', 'exclude_logging_paths', 'extra_jwt_issuers', 'flush_interval', 'footer',
  'force_code_challenge_method', 'force_https', 'force_json_errors', 'gcp_healthchecks', 'github_org', 'github_repo', 'github_team',
  'github_token', 'github_users', 'gitlab_groups', 'gitlab_projects', 'google_admin_api_user_scope', 'google_admin_email', 'google_group',
  'google_groups', 'google_service_account_json', 'google_target_principal', 'google_use_application_default_credentials',
  'google_use_organization_id', 'htpasswd_file', 'htpasswd_user_groups', 'http_address', 'https_address',
  'insecure_oidc_allow_unverified_email', 'insecure_oidc_skip_issuer_verification', 'insecure_oidc_skip_nonce', 'jwt_key', 'jwt_key_file',
  'keycloak_groups', 'logging_compress', 'logging_filename', 'logging_local_time', 'logging_max_age', 'logging_max_backups',
  'logging_max_size', 'login_url', 'metrics_address', 'metrics_secure_address', 'metrics_tls_cert_file', 'metrics_tls_key_file',
  'oidc_audience_claims', 'oidc_email_claim', 'oidc_enabled_signing_algs', 'oidc_extra_audiences', 'oidc_groups_claim', 'oidc_issuer_url',
  'oidc_jwks_url', 'oidc_public_key_files', 'pass_access_token', 'pass_authorization_header', 'pass_basic_auth', 'pass_host_header',
  'pass_user_headers', 'ping_path', 'ping_user_agent', 'prefer_email_to_user', 'profile_url', 'prompt', 'provider', 'provider_ca_files',
  'provider_display_name', 'proxy_prefix', 'proxy_websockets', 'pubjwk_url', 'ready_path', 'real_client_ip_header', 'redeem_url',
  'redirect_url', 'redis_ca_path', 'redis_cluster_connection_urls', 'redis_connection_idle_timeout', 'redis_connection_url',
  'redis_insecure_skip_tls_verify', 'redis_password', 'redis_sentinel_connection_urls', 'redis_sentinel_master_name',
  'redis_sentinel_password', 'redis_use_cluster', 'redis_use_sentinel', 'redis_username', 'relative_redirect_url', 'request_id_header',
  'request_logging', 'request_logging_format', 'resource', 'reverse_proxy', 'scope', 'session_cookie_minimal', 'session_store_type',
  'set_authorization_header', 'set_basic_auth', 'set_xauthrequest', 'show_debug_on_error', 'signature_key', 'silence_ping_logging',
  'skip_auth_preflight', 'skip_auth_regex', 'skip_auth_routes', 'skip_auth_strip_headers', 'skip_claims_from_profile_url',
  'skip_jwt_bearer_tokens', 'skip_oidc_discovery', 'skip_provider_button', 'ssl_insecure_skip_verify', 'ssl_upstream_insecure_skip_verify',
  'standard_logging', 'standard_logging_format', 'tls_cert_file', 'tls_cipher_suites', 'tls_key_file', 'tls_min_version', 'trusted_ips',
  'trusted_proxy_ips', 'upstream_timeout', 'upstreams', 'use_system_trust_store', 'user_id_claim', 'validate_url', 'whitelist_domains',
]);

/**
 * How Portcullis treats an oauth2-proxy option it does not have: `restriction` narrows who may sign
 * in (ignoring it would let in everyone else), `provider` belongs to one of oauth2-proxy's
 * non-OIDC providers, `log_file` writes logs to a file; these three stop start-up when set.
 * `ignored` only leaves a feature out, and draws a warning.
 */
export type ForeignKind = 'restriction' | 'provider' | 'log_file' | 'ignored';

export interface ForeignOption {
  /** oauth2-proxy's configuration name (its TOML key; the variable is OAUTH2_PROXY_ + it, upper-cased). */
  readonly name: string;
  /** Its flag; undefined for a configuration name without one. */
  readonly flag?: string;
  readonly env: string;
  readonly kind: ForeignKind;
  /** A flag that takes no value. */
  readonly bool?: true;
  /** Values that do nothing in oauth2-proxy either (its default): not worth stopping for. */
  readonly inert: readonly string[];
  /** The end of "not supported, because …". */
  readonly why: string;
}

const GITHUB = 'GitHub is not an OpenID Connect issuer and Portcullis has only the oidc provider; sign in through an issuer that federates GitHub (Dex, Keycloak, Auth0) and restrict with OAUTH2_PROXY_ALLOWED_GROUPS';
const GITLAB = 'it is read by oauth2-proxy\'s gitlab provider; GitLab is an OpenID Connect issuer (OAUTH2_PROXY_OIDC_ISSUER_URL=https://gitlab.example.com) whose groups claim OAUTH2_PROXY_ALLOWED_GROUPS checks';
const GOOGLE = 'it is read by oauth2-proxy\'s google provider (groups through the Admin API); Google sign-in itself works with provider=oidc and OAUTH2_PROXY_OIDC_ISSUER_URL=https://accounts.google.com, without group checks';
const AZURE = 'it is read by oauth2-proxy\'s azure and entra-id providers; Entra ID signs in with provider=oidc and OAUTH2_PROXY_OIDC_ISSUER_URL=https://login.microsoftonline.com/TENANT/v2.0 (one tenant, its groups claim checked by OAUTH2_PROXY_ALLOWED_GROUPS)';
const BITBUCKET = 'Bitbucket is not an OpenID Connect issuer and Portcullis has only the oidc provider';
const KEYCLOAK = 'it is read by oauth2-proxy\'s keycloak provider; with provider=oidc, Keycloak\'s groups claim (a group membership mapper) and OAUTH2_PROXY_ALLOWED_GROUPS do the same';
const ROLES = 'it reads Keycloak roles in oauth2-proxy\'s keycloak-oidc provider; map the roles into the groups claim and use OAUTH2_PROXY_ALLOWED_GROUPS';
const LOGIN_GOV = 'it belongs to oauth2-proxy\'s login.gov provider; Portcullis\'s private_key_jwt takes its key from OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE (with OAUTH2_PROXY_CLIENT_AUTH_METHOD=private_key_jwt)';
const LOG_FILE = 'Portcullis writes its logs to stdout and stderr and leaves files and rotation to what runs it (Docker, Kubernetes, journald, or a pipe to rotatelogs)';
const HTPASSWD = 'Portcullis signs users in only through the issuer, so htpasswd users cannot sign in';

const f = (name: string, kind: ForeignKind, why: string, o: { flag?: string | null; bool?: true; inert?: string[] } = {}): ForeignOption => ({
  name,
  flag: o.flag === null ? undefined : o.flag ?? `--${name.replace(/_/g, '-')}`,
  env: `OAUTH2_PROXY_${name.toUpperCase()}`,
  kind,
  ...(o.bool ? { bool: true as const } : {}),
  inert: ['', ...(o.bool ? ['false'] : []), ...(o.inert ?? [])],
  why,
});

/** oauth2-proxy's options that Portcullis does not have, with why (its v7 flags and names). */
export const FOREIGN_OPTIONS: readonly ForeignOption[] = [
  f('allowed_roles', 'restriction', ROLES, { flag: '--allowed-role' }),
  f('github_org', 'restriction', GITHUB),
  f('github_team', 'restriction', GITHUB),
  f('github_repo', 'restriction', GITHUB),
  f('github_users', 'restriction', GITHUB, { flag: '--github-user' }),
  f('github_token', 'provider', GITHUB),
  f('gitlab_groups', 'restriction', GITLAB, { flag: '--gitlab-group' }),
  f('gitlab_projects', 'restriction', GITLAB, { flag: '--gitlab-project' }),
  f('google_groups', 'restriction', GOOGLE, { flag: '--google-group' }),
  f('google_group', 'restriction', GOOGLE, { flag: null }),
  f('google_admin_email', 'provider', GOOGLE),
  f('google_admin_api_user_scope', 'provider', GOOGLE),
  f('google_service_account_json', 'provider', GOOGLE),
  f('google_target_principal', 'provider', GOOGLE),
  f('google_use_application_default_credentials', 'provider', GOOGLE, { bool: true }),
  f('google_use_organization_id', 'provider', GOOGLE, { bool: true }),
  f('keycloak_groups', 'restriction', KEYCLOAK, { flag: '--keycloak-group' }),
  f('bitbucket_team', 'restriction', BITBUCKET),
  f('bitbucket_repository', 'restriction', BITBUCKET),
  f('azure_tenant', 'provider', AZURE, { inert: ['common'] }),
  f('azure_graph_group_field', 'provider', AZURE),
  f('entra_id_allowed_tenants', 'restriction', AZURE, { flag: '--entra-id-allowed-tenant' }),
  f('entra_id_federated_token_auth', 'provider', AZURE, { bool: true }),
  f('resource', 'provider', AZURE),
  f('jwt_key', 'provider', LOGIN_GOV),
  f('jwt_key_file', 'provider', LOGIN_GOV),
  f('pubjwk_url', 'provider', LOGIN_GOV),
  f('logging_filename', 'log_file', LOG_FILE),
  f('logging_max_size', 'log_file', LOG_FILE, { inert: ['100'] }),
  f('logging_max_age', 'log_file', LOG_FILE, { inert: ['7'] }),
  f('logging_max_backups', 'log_file', LOG_FILE, { inert: ['0'] }),
  f('logging_compress', 'log_file', LOG_FILE, { bool: true }),
  f('logging_local_time', 'log_file', `${LOG_FILE}; log times are UTC (epoch milliseconds in "time")`, { bool: true, inert: ['true'] }),
  f('htpasswd_file', 'ignored', HTPASSWD),
  f('htpasswd_user_groups', 'ignored', HTPASSWD, { flag: '--htpasswd-user-group' }),
  f('display_htpasswd_form', 'ignored', 'there is no htpasswd form (see htpasswd_file)', { bool: true, inert: ['true'] }),
  f('signature_key', 'ignored', 'no GAP-Signature header is sent; OAUTH2_PROXY_PASS_IDENTITY_JWT gives the upstream a signed identity instead'),
  f('show_debug_on_error', 'ignored', 'error pages show the error code and never internal details', { bool: true }),
];

export const FOREIGN_BY_NAME: ReadonlyMap<string, ForeignOption> = new Map(FOREIGN_OPTIONS.map((o) => [o.name, o]));
const FOREIGN_BY_ENV: ReadonlyMap<string, ForeignOption> = new Map(FOREIGN_OPTIONS.map((o) => [o.env, o]));

/** Where a foreign option was given, and how the user spelt it there. */
export type ForeignSource = { readonly from: 'env'; readonly where: string } | { readonly from: 'config'; readonly where: string } | { readonly from: 'flag' };

function spelling(o: ForeignOption, s: ForeignSource): string {
  if (s.from === 'flag') return o.flag ?? o.name;
  return s.from === 'env' ? `${o.env} (${s.where})` : `${o.name} (${s.where})`;
}

/** True for a value that does nothing in oauth2-proxy either: empty, off, or its default. */
function isInert(o: ForeignOption, value: string | readonly string[]): boolean {
  const v = (typeof value === 'string' ? value : value.join(',')).trim();
  return o.inert.includes(v) || (o.bool === true && /^(false|0|no|off|f)$/i.test(v));
}

/**
 * The problems foreign options cause, keyed by configuration name (`values`) or variable name
 * (`vars`): errors for restrictions, provider options and log files that are set, warnings for
 * the rest (and for a refused option left at a value that does nothing).
 */
export function foreignOptionProblems(given: Readonly<Record<string, string | readonly string[] | undefined>>, source: ForeignSource): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const [key, value] of Object.entries(given)) {
    if (value === undefined) continue;
    const o = source.from === 'env' ? FOREIGN_BY_ENV.get(key) : FOREIGN_BY_NAME.get(key);
    if (!o) continue;
    const who = spelling(o, source);
    if (o.kind === 'ignored' || isInert(o, value)) {
      // A variable left empty is how an environment leaves an option unset: nothing to say.
      if (source.from === 'env' && isInert(o, value)) continue;
      warnings.push(`${who} is an oauth2-proxy option Portcullis does not support; it is ignored: ${o.kind === 'ignored' ? o.why : 'it is set to a value that does nothing'}`);
    } else if (o.kind === 'restriction') {
      errors.push(`${who} restricts who may sign in in oauth2-proxy and is not supported, because ${o.why}. Portcullis refuses to start rather than let in everyone the other rules allow: remove it, and restrict with OAUTH2_PROXY_EMAIL_DOMAINS, OAUTH2_PROXY_AUTHENTICATED_EMAILS_FILE or OAUTH2_PROXY_ALLOWED_GROUPS (or keep oauth2-proxy for now)`);
    } else {
      errors.push(`${who} is not supported, because ${o.why}; remove it`);
    }
  }
  return { errors, warnings };
}
