import { defaultOf, type OptionName } from '../options.js';
import type { OptionReader } from '../reader.js';
import type { ProviderConfig } from '../types.js';
import { createPrivateKey, createPublicKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { FAPI_ALGORITHMS, certificateThumbprint, parseClientKey } from '../clientkey.js';
import { rootCertificates } from 'node:tls';
import { isLoopbackHost, parseBool, parseCommaList } from '../values.js';

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
  const secretless = readClientCredentials(r);
  if (secretless.clientAuth) {
    // Another method is the credential: a secret beside it would never be sent.
    if (clientSecret !== '' || secretFile !== '') r.warnings.push(`OAUTH2_PROXY_CLIENT_SECRET${secretFile !== '' ? '_FILE' : ''} is not used: the client authenticates with ${secretless.clientAuth.method}`);
    clientSecret = '';
  } else if (secretFile !== '') {
    if (clientSecret !== '') r.errors.push('set only one of OAUTH2_PROXY_CLIENT_SECRET and OAUTH2_PROXY_CLIENT_SECRET_FILE');
    try {
      clientSecret = r.readFile(secretFile).trim();
      if (clientSecret === '') r.fail('client_secret_file', 'a file that holds the client secret (it is empty)');
    } catch (e) {
      r.fail('client_secret_file', `a readable file (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
  } else if (clientSecret === '') {
    r.missing('client_secret', 'the client secret registered at your issuer (or OAUTH2_PROXY_CLIENT_SECRET_FILE, or a method without a secret: OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE, OAUTH2_PROXY_CLIENT_ASSERTION_FILE or OAUTH2_PROXY_CLIENT_TLS_CERT_FILE)');
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
  } else if (skipDiscovery && !jwksUrl && !validateUrl && !profileUrl && r.list('oidc_public_key_files').length === 0) {
    r.errors.push('with OAUTH2_PROXY_SKIP_OIDC_DISCOVERY=true, set OAUTH2_PROXY_OIDC_JWKS_URL or OAUTH2_PROXY_OIDC_PUBLIC_KEY_FILES (to verify ID tokens) or OAUTH2_PROXY_VALIDATE_URL (the userinfo endpoint), or both');
  }
  const publicKeys = publicKeyFiles(r, { handGiven, jwksUrl: !!jwksUrl });
  if (!skipDiscovery && (loginUrl || redeemUrl)) {
    r.warnings.push('OAUTH2_PROXY_LOGIN_URL / OAUTH2_PROXY_REDEEM_URL override the discovered endpoints');
  }
  if (r.bool('relative_redirect_url')) {
    r.fail('relative_redirect_url', 'false: sending the issuer a redirect URI without scheme and host is not supported, because OAuth 2.0 wants it absolute (RFC 6749 §3.1.2) and the callback must repeat it exactly; leave redirect_url unset or the path alone (/oauth2/callback) and Portcullis builds it from each request (or a trusted load balancer\'s X-Forwarded-Proto/-Host)');
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

  if (r.enumOf('force_code_challenge_method') !== '') {
    r.warnings.push('OAUTH2_PROXY_FORCE_CODE_CHALLENGE_METHOD is oauth2-proxy\'s deprecated name of OAUTH2_PROXY_CODE_CHALLENGE_METHOD; PKCE with S256 is always used');
  }
  r.bool('encode_state');
  const responseMode = readResponseMode(r);
  const skipNonce = r.bool('insecure_oidc_skip_nonce');
  if (skipNonce) r.warnings.push('OAUTH2_PROXY_INSECURE_OIDC_SKIP_NONCE=true: an ID token without a nonce is accepted, so a token issued for another login of the same user could be replayed into this one; keep it only for an issuer that does not echo the nonce');
  const skipIssuerVerification = r.bool('insecure_oidc_skip_issuer_verification');
  if (skipIssuerVerification && skipDiscovery) r.warnings.push('OAUTH2_PROXY_INSECURE_OIDC_SKIP_ISSUER_VERIFICATION has no effect without discovery: ID tokens must carry OAUTH2_PROXY_OIDC_ISSUER_URL');
  const insecureSkipVerify = r.bool('ssl_insecure_skip_verify');
  if (insecureSkipVerify) r.warnings.push('OAUTH2_PROXY_SSL_INSECURE_SKIP_VERIFY=true: the issuer\'s TLS certificate is not checked, so anyone on the network path can pose as the issuer and sign anyone in; trust a private CA with OAUTH2_PROXY_PROVIDER_CA_FILES instead');
  let signingAlgs = readSigningAlgs(r);
  if (secretless.fapi2) {
    // FAPI 2.0 §5.4: ID tokens too are signed with PS256, ES256 or EdDSA only.
    const refused = signingAlgs.filter((a) => !FAPI_ALGORITHMS.includes(a));
    if (refused.length) r.fail('oidc_enabled_signing_algs', `only ${FAPI_ALGORITHMS.join(', ')} with OAUTH2_PROXY_FAPI_PROFILE=2.0 (${refused.join(', ')} ${refused.length > 1 ? 'are' : 'is'} not allowed by FAPI 2.0)`);
    signingAlgs = signingAlgs.length ? signingAlgs.filter((a) => FAPI_ALGORITHMS.includes(a)) : [...FAPI_ALGORITHMS];
  }

  return {
    ...(insecureSkipVerify ? { insecureSkipVerify } : {}),
    ...(responseMode ? { responseMode } : {}),
    ...(skipNonce ? { skipNonce } : {}),
    ...(skipIssuerVerification && !skipDiscovery ? { skipIssuerVerification } : {}),
    ...(signingAlgs.length ? { signingAlgs } : {}),
    ...(publicKeys.length ? { publicKeys } : {}),
    ...(r.bool('skip_claims_from_profile_url') ? { skipClaimsFromProfileUrl: true } : {}),
    id: `oidc=${clientId}`,
    displayName: r.str('provider_display_name') || defaultOf('provider_display_name'),
    clientId, clientSecret,
    redirectUrl,
    issuerUrl,
    skipDiscovery, loginUrl, redeemUrl,
    userinfoUrl: validateUrl ?? profileUrl,
    jwksUrl,
    scope,
    emailClaim: emailClaim(r),
    groupsClaim: r.str('oidc_groups_claim') || defaultOf('oidc_groups_claim'),
    allowUnverifiedEmail: r.bool('insecure_oidc_allow_unverified_email'),
    prompt: prompts.length ? prompts.join(' ') : undefined,
    approvalPrompt: approvalPrompt || undefined,
    acrValues: acrValues || undefined,
    extraAudiences: r.list('oidc_extra_audiences'),
    audienceClaims: audienceClaims.length ? audienceClaims : [defaultOf('oidc_audience_claims')],
    backendLogoutUrl: backendLogoutUrl || undefined,
    ...caCertificates(r),
    ...(secretless.clientAuth ? { clientAuth: secretless.clientAuth } : {}),
    ...(secretless.clientTls ? { clientTls: secretless.clientTls } : {}),
    ...(secretless.par ? { pushedAuthorizationRequests: true } : {}),
    ...(secretless.dpop ? { dpop: true } : {}),
    ...(secretless.fapi2 ? { fapi2: true } : {}),
  };
}

type Secretless = Pick<ProviderConfig, 'clientAuth' | 'clientTls'> & { par: boolean; dpop: boolean; fapi2: boolean };

/**
 * The client authentication without a shared secret (Portcullis additions): client_auth_method, or
 * the method the files given imply; the files are read now so a wrong one stops start-up. FAPI 2.0
 * turns PAR and DPoP on (DPoP unless a TLS client certificate binds the tokens instead) and refuses
 * the client secret.
 */
function readClientCredentials(r: OptionReader): Secretless {
  const named = r.enumOf('client_auth_method');
  const keyFile = r.str('client_private_key_file');
  const certificateFile = r.str('client_private_key_certificate_file');
  const assertionFile = r.str('client_assertion_file');
  const audience = r.enumOf('client_assertion_audience') as 'issuer' | 'token_endpoint';
  const tlsCertFile = r.str('client_tls_cert_file');
  const tlsKeyFile = r.str('client_tls_key_file');
  const fapi2 = r.enumOf('fapi_profile') === '2.0';
  let par = r.bool('pushed_authorization_requests');
  let dpop = r.bool('dpop');

  const clientTls = readClientTls(r, tlsCertFile, tlsKeyFile);
  const method = named !== '' ? named : keyFile !== '' || assertionFile !== '' ? 'private_key_jwt' : tlsCertFile !== '' ? 'tls_client_auth' : '';
  let clientAuth: ProviderConfig['clientAuth'];
  if (method === 'private_key_jwt') {
    if (keyFile !== '' && assertionFile !== '') r.errors.push('set only one of OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE (the proxy signs its assertions) and OAUTH2_PROXY_CLIENT_ASSERTION_FILE (the platform writes them)');
    else if (keyFile === '' && assertionFile === '') r.missing('client_private_key_file', 'the private key private_key_jwt signs with (a PEM or JWK file), or OAUTH2_PROXY_CLIENT_ASSERTION_FILE for a JWT the platform writes');
    else if (keyFile !== '') {
      const key = readKeyFile(r, keyFile);
      if (certificateFile !== '') readKeyCertificate(r, certificateFile, key);
      clientAuth = { method, keyFile, audience, ...(certificateFile !== '' ? { certificateFile } : {}) };
    } else {
      try { r.readFile(assertionFile); } catch (e) {
        // Kubernetes mounts projected tokens before the container starts: a missing one is a mistake, not a race.
        r.fail('client_assertion_file', `a readable file holding the client assertion JWT (${assertionFile}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
      }
      clientAuth = { method, assertionFile };
    }
  } else if (method === 'tls_client_auth' || method === 'self_signed_tls_client_auth') {
    if (!clientTls) r.missing('client_tls_cert_file', `the TLS client certificate that ${method} presents (with OAUTH2_PROXY_CLIENT_TLS_KEY_FILE)`);
    clientAuth = { method };
  }
  if (method !== 'private_key_jwt') {
    if (keyFile !== '') r.fail('client_private_key_file', `unset with OAUTH2_PROXY_CLIENT_AUTH_METHOD=${method} (the key signs private_key_jwt assertions only)`);
    if (assertionFile !== '') r.fail('client_assertion_file', `unset with OAUTH2_PROXY_CLIENT_AUTH_METHOD=${method} (the assertion is sent with private_key_jwt only)`);
  }
  if (certificateFile !== '' && keyFile === '') r.fail('client_private_key_certificate_file', 'set only with OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE (it is that key\'s certificate)');

  if (fapi2) {
    if (method !== 'private_key_jwt' && method !== 'tls_client_auth' && method !== 'self_signed_tls_client_auth') {
      r.fail('fapi_profile', 'unset, or a client authentication FAPI 2.0 allows: private_key_jwt (OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE or OAUTH2_PROXY_CLIENT_ASSERTION_FILE) or mTLS (OAUTH2_PROXY_CLIENT_TLS_CERT_FILE and OAUTH2_PROXY_CLIENT_TLS_KEY_FILE); a client secret is not allowed');
    }
    par = true;
    // Sender-constrained tokens: bound to the TLS client certificate when there is one, else DPoP.
    if (!clientTls) dpop = true;
  }
  // Read as written (the Headers area validates it): a bound token upstream is a surprise worth a line.
  const passed = r.raw.pass_access_token?.value;
  if (dpop && typeof passed === 'string' && parseBool(passed).ok && (parseBool(passed) as { value: boolean }).value) {
    r.warnings.push('OAUTH2_PROXY_PASS_ACCESS_TOKEN with DPoP: the upstream gets a DPoP-bound access token, which an API refuses as a Bearer token and the upstream cannot prove (the key stays in the proxy); send it the identity headers or OAUTH2_PROXY_PASS_IDENTITY_JWT instead, or turn DPoP off');
  }
  return { clientAuth, ...(clientTls ? { clientTls } : {}), par, dpop, fapi2 };
}

/** client_private_key_file: parsed now, so a wrong file stops start-up with what it should hold. */
function readKeyFile(r: OptionReader, file: string): ReturnType<typeof parseClientKey> | undefined {
  let text: string;
  try { text = r.readFile(file); } catch (e) {
    r.fail('client_private_key_file', `a readable PEM or JWK private key (${file}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    return undefined;
  }
  try { return parseClientKey(text); } catch (e) {
    r.fail('client_private_key_file', `${(e as Error).message} (${file})`);
    return undefined;
  }
}

/** client_private_key_certificate_file: a certificate of the very key that signs (Entra matches the thumbprint to the key). */
function readKeyCertificate(r: OptionReader, file: string, key: ReturnType<typeof parseClientKey> | undefined): void {
  try {
    const { cert } = certificateThumbprint(r.readFile(file));
    if (key && !cert.checkPrivateKey(key.key)) r.fail('client_private_key_certificate_file', `the certificate of OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE (${file} certifies another key)`);
  } catch (e) {
    r.fail('client_private_key_certificate_file', `a readable PEM certificate (${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** client_tls_cert_file and client_tls_key_file: both or neither, a certificate and its own key. */
function readClientTls(r: OptionReader, certFile: string, keyFile: string): ProviderConfig['clientTls'] {
  if (certFile === '' && keyFile === '') return undefined;
  if (certFile === '') { r.missing('client_tls_cert_file', 'the PEM certificate of OAUTH2_PROXY_CLIENT_TLS_KEY_FILE'); return undefined; }
  if (keyFile === '') { r.missing('client_tls_key_file', 'the PEM private key of OAUTH2_PROXY_CLIENT_TLS_CERT_FILE'); return undefined; }
  let cert: string;
  let key: string;
  try { cert = r.readFile(certFile); } catch (e) { r.fail('client_tls_cert_file', `a readable PEM certificate (${certFile}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`); return undefined; }
  try { key = r.readFile(keyFile); } catch (e) { r.fail('client_tls_key_file', `a readable PEM private key (${keyFile}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`); return undefined; }
  let x509: X509Certificate;
  try { x509 = certificateThumbprint(cert).cert; } catch (e) { r.fail('client_tls_cert_file', `${(e as Error).message} (${certFile})`); return undefined; }
  let privateKey: KeyObject;
  try { privateKey = createPrivateKey(key); } catch (e) { r.fail('client_tls_key_file', `an unencrypted PEM private key (${keyFile}: ${(e as Error).message})`); return undefined; }
  if (!x509.checkPrivateKey(privateKey)) { r.fail('client_tls_key_file', `the private key of OAUTH2_PROXY_CLIENT_TLS_CERT_FILE (${keyFile} is another key's)`); return undefined; }
  return { cert, key, certFile };
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

/** The asymmetric algorithms an ID token may be signed with (HMAC's key is the client secret, which is no proof of the issuer). */
export const ID_TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

function readSigningAlgs(r: OptionReader): string[] {
  const out: string[] = [];
  for (const alg of r.list('oidc_enabled_signing_algs')) {
    if (ID_TOKEN_ALGORITHMS.includes(alg)) out.push(alg);
    else if (/^HS(256|384|512)$/.test(alg)) r.fail('oidc_enabled_signing_algs', `asymmetric algorithms only (${alg} is refused: an HMAC key is the client secret, which every holder of it could sign with)`);
    else r.fail('oidc_enabled_signing_algs', `algorithm names from ${ID_TOKEN_ALGORITHMS.join(', ')} (${JSON.stringify(alg)} is not one)`);
  }
  return [...new Set(out)];
}

/**
 * auth_request_response_mode: query, or form_post, whose POST to the callback comes from the
 * issuer's site, so the login-state cookie goes with it only as SameSite=None.
 */
function readResponseMode(r: OptionReader): 'query' | 'form_post' | undefined {
  const mode = r.str('auth_request_response_mode');
  if (mode === '') return undefined;
  if (mode === 'query') return mode;
  if (mode === 'form_post') {
    const csrf = r.str('cookie_csrf_samesite').toLowerCase();
    if ((csrf === '' ? r.str('cookie_samesite').toLowerCase() : csrf) !== 'none') {
      r.fail('auth_request_response_mode', 'form_post together with OAUTH2_PROXY_COOKIE_CSRF_SAMESITE=none: the issuer\'s form POSTs to the callback from its own site, and browsers send a Lax or Strict login-state cookie only with a navigation, so every login would fail');
    }
    return mode;
  }
  r.fail('auth_request_response_mode', `query or form_post${mode === 'fragment' ? ' (a fragment never reaches the server, so the proxy could not read the code)' : ''}`);
  return undefined;
}

/**
 * oidc_public_key_files: each file holds one or more PEM public keys (oauth2-proxy's form,
 * -----BEGIN PUBLIC KEY-----). They verify ID tokens in place of a JWKS, so not with oidc_jwks_url.
 */
function publicKeyFiles(r: OptionReader, o: { handGiven: boolean; jwksUrl: boolean }): string[] {
  const files = r.list('oidc_public_key_files');
  if (files.length === 0) return [];
  if (o.jwksUrl) r.fail('oidc_public_key_files', 'no public key files with OAUTH2_PROXY_OIDC_JWKS_URL: the keys come from one or the other');
  if (o.handGiven) r.fail('oidc_public_key_files', 'no public key files without OAUTH2_PROXY_OIDC_ISSUER_URL (an ID token is checked against both)');
  const keys: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = r.readFile(file);
    } catch (e) {
      r.fail('oidc_public_key_files', `readable PEM files (${file}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
      continue;
    }
    const blocks = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? [];
    if (blocks.length === 0) r.fail('oidc_public_key_files', `PEM public keys (${file} holds no -----BEGIN PUBLIC KEY----- block)`);
    for (const pem of blocks) {
      try {
        createPublicKey(pem);
        keys.push(pem);
      } catch (e) {
        r.fail('oidc_public_key_files', `PEM public keys (${file}: ${(e as Error).message})`);
      }
    }
  }
  return keys;
}

/**
 * The email claim, with oauth2-proxy's reading of its deprecated user_id_claim: a claim other than
 * `email` there names the email claim while oidc_email_claim is `email` (oauth2-proxy's
 * newProviderDataFromConfig). It never changes X-Forwarded-User, which is the subject, as there.
 */
function emailClaim(r: OptionReader): string {
  const named = r.str('oidc_email_claim') || defaultOf('oidc_email_claim');
  const legacy = r.str('user_id_claim');
  // `sub` was Portcullis's own default here (X-Forwarded-User): the subject as the email is never meant.
  if (!legacy || legacy === 'email' || legacy === 'sub') return named;
  if (named !== 'email') {
    r.warnings.push(`OAUTH2_PROXY_USER_ID_CLAIM=${legacy} is ignored: it is oauth2-proxy's deprecated name of OAUTH2_PROXY_OIDC_EMAIL_CLAIM, which is set (${named})`);
    return named;
  }
  r.warnings.push(`OAUTH2_PROXY_USER_ID_CLAIM is oauth2-proxy's deprecated name of OAUTH2_PROXY_OIDC_EMAIL_CLAIM: the email is read from the ${JSON.stringify(legacy)} claim; X-Forwarded-User stays the subject`);
  return legacy;
}
