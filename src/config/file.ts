import { TomlError, parse } from 'smol-toml';
import { OPTIONS, OPTION_BY_NAME } from './options.js';
import { unsupportedRestrictionErrors } from './load.js';
import { closest } from './values.js';

/**
 * Every name oauth2-proxy's TOML configuration file takes (the `cfg` tags of its legacy options),
 * so that a key Portcullis lacks is told apart from a typo: the first is ignored with a warning
 * (or stops start-up, when ignoring it would let more people in: load.ts), the second is an error.
 */
const OAUTH2_PROXY_KEYS = new Set([
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
  'upstream_timeout', 'upstreams', 'use_system_trust_store', 'user_id_claim', 'validate_url', 'whitelist_domains',
]);

export interface ConfigFile {
  /** Values by option name, as the environment would give them (strings; lists as arrays). */
  readonly values: Record<string, string | string[]>;
  readonly errors: string[];
  readonly warnings: string[];
}

/**
 * oauth2-proxy's configuration file (`--config`): TOML, one flat table, keys in its snake_case names
 * (the option table's `name`), lists under their plural names. Values are taken as oauth2-proxy's
 * loader takes them: `cookie_secure = "false"` and `upstreams = "http://app"` (a string for a list)
 * are accepted, then checked by the same validation as flags and variables. `where` names the file
 * in messages.
 */
export function parseConfigFile(text: string, where: string): ConfigFile {
  const values: Record<string, string | string[]> = {};
  const errors: string[] = [];
  const warnings: string[] = [];
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (e) {
    const detail = e instanceof TomlError ? `line ${e.line}, column ${e.column}: ${e.message.split('\n')[0]}` : String(e);
    return { values, errors: [`${where} is not valid TOML (${detail})`], warnings };
  }
  const known = OPTIONS.map((o) => o.name);
  const restricted: Record<string, string> = {};
  for (const [key, value] of Object.entries(doc)) {
    const spec = OPTION_BY_NAME.get(key);
    if (!spec && isTable(value)) {
      errors.push(`[${key}] (${where}) is a table: the configuration file is flat, key = value lines (oauth2-proxy's alpha YAML configuration is not read)`);
      continue;
    }
    if (!spec) {
      if (OAUTH2_PROXY_KEYS.has(key)) {
        restricted[`OAUTH2_PROXY_${key.toUpperCase()}`] = Array.isArray(value) ? value.join(',') : String(value);
        warnings.push(`${key} (${where}) is an oauth2-proxy option Portcullis does not support; it is ignored`);
      } else {
        const hint = closest(key, [...known, ...OAUTH2_PROXY_KEYS]);
        errors.push(`${key} (${where}) is not an option${hint ? `; did you mean ${hint}?` : ''}`);
      }
      continue;
    }
    const scalar = (v: unknown): string | undefined => (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) ? String(v) : undefined);
    if (spec.type === 'list') {
      const items = Array.isArray(value) ? value.map(scalar) : [scalar(value)];
      if (items.every((i): i is string => i !== undefined)) values[key] = items;
      else errors.push(`${key} (${where}): expected a list of strings, such as ${key} = ["a", "b"]`);
    } else {
      const v = scalar(value);
      if (v !== undefined) values[key] = v;
      else errors.push(`${key} (${where}): expected a single value${spec.type === 'bool' ? ' (true or false)' : ' in quotes'}, not ${Array.isArray(value) ? 'a list' : 'a table'}`);
    }
  }
  // Ignoring an access restriction would let in everyone the other rules allow: refused, as in the environment.
  const refused = unsupportedRestrictionErrors(restricted, where);
  const refusedKeys = new Set(refused.map((m) => /^OAUTH2_PROXY_(\w+)/.exec(m)![1]!.toLowerCase()));
  return {
    values,
    errors: [...errors, ...refused.map((m) => m.replace(/^OAUTH2_PROXY_(\w+)/, (_, k: string) => k.toLowerCase()))],
    warnings: warnings.filter((w) => !refusedKeys.has(w.split(' ')[0]!)),
  };
}

function isTable(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}
