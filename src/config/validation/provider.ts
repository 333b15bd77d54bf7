import { defaultOf, type OptionName } from '../options.js';
import type { OptionReader } from '../reader.js';
import type { ProviderConfig } from '../validate.js';
import { rootCertificates } from 'node:tls';
import { isLoopbackHost, parseCommaList } from '../values.js';

/** OIDC Core 3.1.2.1's prompt values. */
const PROMPTS = ['none', 'login', 'consent', 'select_account'];

/** The issuer, its endpoints, the client and the claims read from it. `proxyPrefix` fixes the callback path. */
export function validateProvider(r: OptionReader, proxyPrefix: string): ProviderConfig {
  r.enumOf('provider');
  r.enumOf('code_challenge_method');
  const clientId = r.str('client_id');
  if (clientId === '') r.missing('client_id', 'the client ID registered at your issuer');
  let clientSecret = r.str('client_secret');
  const secretFile = r.str('client_secret_file');
  if (secretFile !== '') {
    if (clientSecret !== '') r.errors.push('set only one of OAUTH2_PROXY_CLIENT_SECRET and OAUTH2_PROXY_CLIENT_SECRET_FILE');
    try {
      clientSecret = r.readFile(secretFile).trim();
      if (clientSecret === '') r.fail('client_secret_file', 'a file that holds the client secret (it is empty)');
    } catch (e) {
      r.fail('client_secret_file', `a readable file (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
  } else if (clientSecret === '') {
    r.missing('client_secret', 'the client secret registered at your issuer (or OAUTH2_PROXY_CLIENT_SECRET_FILE)');
  }

  const allowHttpAnywhere = r.bool('insecure_oidc_allow_http_issuer');
  const httpAllowed = (u: URL | undefined, name: OptionName): void => {
    if (u && u.protocol === 'http:' && !isLoopbackHost(u.hostname) && !allowHttpAnywhere) {
      r.fail(name, 'an https:// URL (plain http is allowed only on loopback, or with OAUTH2_PROXY_INSECURE_OIDC_ALLOW_HTTP_ISSUER=true)');
    }
  };
  // Endpoints by hand and no issuer URL (Crossid's oauth2-proxy article, oauth2-proxy's non-OIDC
  // providers): nothing to discover and nothing to check an ID token against, so the identity comes
  // from the userinfo endpoint.
  const handGiven = r.str('oidc_issuer_url') === '' && (['login_url', 'redeem_url', 'validate_url', 'profile_url'] as const).some((n) => r.str(n) !== '');
  const issuerUrl = r.url('oidc_issuer_url', handGiven ? {} : {
    required: 'the OpenID Connect issuer, e.g. https://hydra.example.com/ (or, without one, the endpoints by hand: OAUTH2_PROXY_LOGIN_URL, OAUTH2_PROXY_REDEEM_URL and OAUTH2_PROXY_VALIDATE_URL)',
  });
  httpAllowed(issuerUrl, 'oidc_issuer_url');
  const skipDiscoveryFlag = r.bool('skip_oidc_discovery');
  const skipDiscovery = skipDiscoveryFlag || handGiven;
  const because = skipDiscoveryFlag ? 'because OAUTH2_PROXY_SKIP_OIDC_DISCOVERY=true' : 'because OAUTH2_PROXY_OIDC_ISSUER_URL is unset and endpoints are given by hand';
  const loginUrl = r.url('login_url', skipDiscovery ? { required: `the authorization endpoint, ${because}` } : {});
  const redeemUrl = r.url('redeem_url', skipDiscovery ? { required: `the token endpoint, ${because}` } : {});
  const validateUrl = r.url('validate_url');
  const profileUrl = r.url('profile_url');
  const jwksUrl = r.url('oidc_jwks_url');
  for (const [n, u] of [['login_url', loginUrl], ['redeem_url', redeemUrl], ['validate_url', validateUrl], ['profile_url', profileUrl], ['oidc_jwks_url', jwksUrl]] as const) httpAllowed(u, n);
  if (handGiven) {
    if (r.str('validate_url') === '' && r.str('profile_url') === '') {
      r.missing('validate_url', 'the userinfo endpoint, because without OAUTH2_PROXY_OIDC_ISSUER_URL the identity comes from userinfo (called with the access token)');
    }
    if (jwksUrl) r.fail('oidc_jwks_url', 'no JWKS URL without OAUTH2_PROXY_OIDC_ISSUER_URL (an ID token is checked against both): set the issuer URL too, or remove this one to take the identity from userinfo');
  } else if (skipDiscovery && !jwksUrl && !validateUrl && !profileUrl) {
    r.errors.push('with OAUTH2_PROXY_SKIP_OIDC_DISCOVERY=true, set OAUTH2_PROXY_OIDC_JWKS_URL (to verify ID tokens) or OAUTH2_PROXY_VALIDATE_URL (the userinfo endpoint), or both');
  }
  if (!skipDiscovery && (loginUrl || redeemUrl)) {
    r.warnings.push('OAUTH2_PROXY_LOGIN_URL / OAUTH2_PROXY_REDEEM_URL override the discovered endpoints');
  }
  // A relative redirect_url (oauth2-proxy's `/oauth2/callback`) takes scheme and host from each
  // request, exactly as an unset one does: it leaves redirectUrl undefined.
  const relativeRedirect = r.str('redirect_url').startsWith('/');
  const redirectUrl = relativeRedirect ? undefined : r.url('redirect_url');
  if ((relativeRedirect && r.str('redirect_url') !== `${proxyPrefix}/callback`) || (redirectUrl && redirectUrl.pathname !== `${proxyPrefix}/callback`)) {
    r.fail('redirect_url', `a URL whose path is ${proxyPrefix}/callback (the proxy's callback endpoint), e.g. https://app.example.com${proxyPrefix}/callback, or that path alone to take scheme and host from each request`);
  }
  // oauth2-proxy's OIDC provider asks for the groups scope too when allowed_groups is set and the
  // scope is left at its default: most issuers release groups only for it.
  const groupsToo = r.raw.scope!.origin === 'default' && parseCommaList(r.raw.allowed_groups!.value).length > 0;
  const scope = groupsToo ? `${r.str('scope')} groups` : r.str('scope');
  if (!scope.split(/\s+/).includes('openid')) r.fail('scope', 'a space-separated scope list that includes openid, e.g. "openid email profile"');
  const prompt = r.str('prompt');
  const prompts = prompt.split(/\s+/).filter(Boolean);
  if (prompts.some((p) => !PROMPTS.includes(p)) || (prompts.includes('none') && prompts.length > 1)) {
    r.fail('prompt', 'none, or one or more of login, consent, select_account separated by spaces');
  }
  const approvalPrompt = r.str('approval_prompt');
  if (approvalPrompt !== '' && !['force', 'auto'].includes(approvalPrompt)) r.fail('approval_prompt', 'force or auto');
  const acrValues = r.str('acr_values');
  if (!/^[\x21-\x7e]*(?: [\x21-\x7e]+)*$/.test(acrValues)) r.fail('acr_values', 'space-separated values of printable characters, e.g. "urn:mace:incommon:iap:silver"');
  const audienceClaims = r.list('oidc_audience_claims');
  const backendLogoutUrl = r.str('backend_logout_url');
  if (backendLogoutUrl !== '') {
    let u: URL | undefined;
    try { u = new URL(backendLogoutUrl.replaceAll('{id_token}', 'x')); } catch { /* reported below */ }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) r.fail('backend_logout_url', 'an absolute http:// or https:// URL, with {id_token} where the ID token goes');
    // It carries the ID token: the same transport rule as the issuer's own endpoints.
    else httpAllowed(u, 'backend_logout_url');
  }

  return {
    displayName: r.str('provider_display_name') || defaultOf('provider_display_name'),
    clientId, clientSecret,
    redirectUrl,
    issuerUrl,
    skipDiscovery, loginUrl, redeemUrl,
    userinfoUrl: validateUrl ?? profileUrl,
    jwksUrl,
    scope,
    emailClaim: r.str('oidc_email_claim') || defaultOf('oidc_email_claim'),
    groupsClaim: r.str('oidc_groups_claim') || defaultOf('oidc_groups_claim'),
    userIdClaim: r.str('user_id_claim') || defaultOf('user_id_claim'),
    allowUnverifiedEmail: r.bool('insecure_oidc_allow_unverified_email'),
    prompt: prompts.length ? prompts.join(' ') : undefined,
    approvalPrompt: approvalPrompt || undefined,
    acrValues: acrValues || undefined,
    extraAudiences: r.list('oidc_extra_audiences'),
    audienceClaims: audienceClaims.length ? audienceClaims : [defaultOf('oidc_audience_claims')],
    backendLogoutUrl: backendLogoutUrl || undefined,
    ...caCertificates(r),
  };
}

/** provider_ca_files read at start-up: each file must hold at least one PEM certificate. */
function caCertificates(r: OptionReader): { caCertificates?: readonly string[] } {
  const files = r.list('provider_ca_files');
  const system = r.bool('use_system_trust_store');
  if (files.length === 0) return {};
  const pems: string[] = [];
  for (const file of files) {
    try {
      const found = r.readFile(file).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
      if (found) pems.push(...found);
      else r.fail('provider_ca_files', `PEM files of CA certificates (${file} holds no -----BEGIN CERTIFICATE----- block)`);
    } catch (e) {
      r.fail('provider_ca_files', `readable PEM files (${file}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
  }
  return { caCertificates: system ? [...rootCertificates, ...pems] : pems };
}
