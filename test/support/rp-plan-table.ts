// The OpenID Foundation's RP certification test plan (Basic RP, Config RP and Form Post RP
// profiles, code flow), one row per test ID: what the issuer does wrong and what the plan expects
// of the RP. test/rp-plan.test.ts runs every row against the real issuer (oidc-provider) and the
// tampering proxy; the README's section "OpenID RP test plan" is rendered from this table and
// drift-tested (`node dist/test/support/rp-plan-docs.js` rewrites it).
//
// Test IDs are those of the old RP test tool (rp.certification.openid.net), which the current
// conformance suite's oidcc-client-* modules name as their counterparts.

export type Profile = 'Basic RP' | 'Config RP' | 'Form Post RP';

/** A test that already covers the row under another name: a file and the name of one of its tests. */
export interface Covered { readonly file: string; readonly test: string }

export interface PlanRow {
  readonly id: string;
  readonly profile: Profile;
  /** What the issuer does (wrong) in this test. */
  readonly issuer: string;
  /** What the plan expects the RP to do. */
  readonly expected: string;
  /** What Portcullis does, when it deliberately differs from the plan, and why. */
  readonly differs?: string;
  readonly covered?: readonly Covered[];
}

const ADV = 'test/adversarial-protocol.test.ts';

/** The Basic RP tests a code-flow RP must pass; the Form Post RP profile runs them again with response_mode=form_post. */
const BASIC_MANDATORY: ReadonlyArray<Omit<PlanRow, 'profile'>> = [
  { id: 'rp-response_type-code', issuer: 'nothing wrong: a plain authorization code flow', expected: 'ask with response_type=code and finish the login' },
  { id: 'rp-scope-userinfo-claims', issuer: 'releases email and profile claims at userinfo only, for the scopes that ask for them', expected: 'ask with the email and profile scopes and use the claims userinfo returns' },
  { id: 'rp-nonce-invalid', issuer: 'returns an ID token whose nonce is not the one sent', expected: 'reject the ID token', covered: [{ file: ADV, test: 'ID token: another nonce → LOGIN_TOKEN_INVALID' }, { file: 'test/login.test.ts', test: 'an ID token with another nonce (a token from another login) is refused' }] },
  { id: 'rp-token_endpoint-client_secret_basic', issuer: 'expects the client secret in HTTP Basic', expected: 'authenticate at the token endpoint with client_secret_basic' },
  { id: 'rp-id_token-aud', issuer: 'returns an ID token for another audience', expected: 'reject the ID token', covered: [{ file: ADV, test: 'ID token: another audience (aud) → LOGIN_TOKEN_INVALID' }, { file: 'test/login.test.ts', test: 'an ID token for another audience is refused' }] },
  { id: 'rp-id_token-kid-absent-single-jwks', issuer: 'signs the ID token without a kid; its JWKS holds one key', expected: 'verify with that one key and accept' },
  { id: 'rp-id_token-kid-absent-multiple-jwks', issuer: 'signs the ID token without a kid; its JWKS holds several keys', expected: 'either reject the ID token or try every key and accept', differs: 'refused (the plan allows it): without a kid, openid-client does not guess among several keys that fit (with oidc_extra_audiences, Portcullis\'s own check tries each)' },
  { id: 'rp-id_token-sig-none', issuer: 'returns an unsigned ID token (alg none) from the token endpoint', expected: 'accept it (code flow over TLS), or reject it',
    differs: 'rejected: Portcullis accepts only asymmetric signatures it can verify, never alg none, so a token endpoint reached through a hostile network path cannot name the user', covered: [{ file: ADV, test: 'ID token: alg none, unsigned → LOGIN_TOKEN_INVALID' }] },
  { id: 'rp-id_token-issuer-mismatch', issuer: 'returns an ID token whose iss is another issuer', expected: 'reject the ID token', covered: [{ file: ADV, test: 'ID token: another issuer (iss) → LOGIN_TOKEN_INVALID' }] },
  { id: 'rp-id_token-bad-sig-rs256', issuer: 'returns an RS256 ID token with a signature its keys do not verify', expected: 'reject the ID token', covered: [{ file: ADV, test: 'ID token: signed by a key the issuer never published, with its kid → LOGIN_TOKEN_INVALID' }, { file: 'test/login.test.ts', test: 'an ID token with a forged signature (a key the issuer never published) is refused' }] },
  { id: 'rp-id_token-iat', issuer: 'returns an ID token without iat', expected: 'reject the ID token' },
  { id: 'rp-id_token-sig-rs256', issuer: 'signs the ID token with RS256', expected: 'verify the signature and accept', covered: [{ file: ADV, test: 'ID token: untampered → signed in (the tampering proxy itself changes nothing) → signed in' }] },
  { id: 'rp-id_token-sub', issuer: 'returns an ID token without sub', expected: 'reject the ID token' },
  { id: 'rp-userinfo-bad-sub-claim', issuer: 'answers userinfo for another subject than the ID token\'s', expected: 'reject the userinfo response',
    differs: 'the userinfo answer is set aside and the login goes on with the ID token alone; here that leaves no email, and a login needs one, so 403 EMAIL_MISSING', covered: [{ file: ADV, test: 'ID token: userinfo answering for another subject: unused, so not mallory\'s email but none → EMAIL_MISSING' }] },
  { id: 'rp-userinfo-bearer-header', issuer: 'expects the access token in the Authorization header', expected: 'call userinfo with Authorization: Bearer' },
];

const BASIC_OPTIONAL: ReadonlyArray<Omit<PlanRow, 'profile'>> = [
  { id: 'rp-userinfo-bearer-body', issuer: 'expects the access token in a form body', expected: 'optional: POST the token as access_token',
    differs: 'not done: the token goes in the Authorization header only (RFC 6750 recommends it; a body token is optional in the plan)' },
  { id: 'rp-userinfo-sig', issuer: 'answers userinfo as a signed JWT (application/jwt)', expected: 'optional: verify the signature and use the claims',
    differs: 'not used: a userinfo answer that is not JSON is set aside and the login goes on with the ID token\'s claims alone (here no email, so 403 EMAIL_MISSING)' },
  { id: 'rp-id_token-sig-hs256', issuer: 'signs the ID token with HS256 keyed by the client secret', expected: 'optional: verify with the client secret and accept',
    differs: 'rejected: HMAC would make the client secret a signing key, so whoever holds it (every replica, the config store) could mint logins; asymmetric only', covered: [{ file: ADV, test: 'ID token: HS256 keyed with the client secret (algorithm confusion) → LOGIN_TOKEN_INVALID' }] },
  { id: 'rp-id_token-bad-sig-hs256', issuer: 'returns an HS256 ID token with a wrong MAC', expected: 'reject the ID token' },
  { id: 'rp-id_token-sig-es256', issuer: 'signs the ID token with ES256 (a P-256 key in its JWKS) while its discovery document lists RS256 only', expected: 'optional: verify the ES256 signature and accept',
    differs: 'rejected here: an ID token may use only an algorithm the issuer lists in id_token_signing_alg_values_supported (narrowed by oidc_enabled_signing_algs); an issuer that lists ES256 gets ES256 tokens through' },
  { id: 'rp-id_token-bad-sig-es256', issuer: 'returns an ES256 ID token signed by a key it never published', expected: 'reject the ID token' },
  { id: 'rp-id_token-sig+enc', issuer: 'returns an encrypted ID token (JWE)', expected: 'optional: decrypt, verify and accept',
    differs: 'rejected: Portcullis registers no encryption key; an encrypted ID token is a bad issuer answer (502 ISSUER_BAD_RESPONSE)' },
  { id: 'rp-key-rotation-op-sign-key', issuer: 'rotates its signing key between two logins', expected: 'fetch the JWKS again and accept the token signed by the new key', covered: [{ file: 'test/keyrotation.test.ts', test: 'a login right after the issuer rotates its keys succeeds: openid-client checks the ID token' }] },
  { id: 'rp-key-rotation-op-sign-key-native', issuer: 'rotates its signing key right before signing the ID token', expected: 'fetch the JWKS again and accept', covered: [{ file: 'test/keyrotation.test.ts', test: 'a login right after the issuer rotates its keys succeeds: Portcullis checks it (oidc_extra_audiences widens the audience rule)' }] },
  { id: 'rp-key-rotation-op-enc-key', issuer: 'rotates its encryption key', expected: 'optional: encrypt to the new key',
    differs: 'not applicable: Portcullis encrypts nothing to the issuer (no request objects, no encrypted client authentication)' },
  { id: 'rp-token_endpoint-client_secret_post', issuer: 'accepts the client secret only in the form body', expected: 'optional: authenticate with client_secret_post' },
  { id: 'rp-token_endpoint-client_secret_jwt', issuer: 'expects a client assertion MACed with the client secret', expected: 'optional: authenticate with client_secret_jwt',
    differs: 'not supported: client_secret_basic, then client_secret_post, as oauth2-proxy does for OIDC' },
  { id: 'rp-token_endpoint-private_key_jwt', issuer: 'expects a client assertion signed with the client\'s private key', expected: 'optional: authenticate with private_key_jwt',
    covered: [{ file: 'test/clientauth-privatekey.test.ts', test: 'a login and a refresh with no client secret: the RSA key from its PEM file, never a Basic header' }] },
  { id: 'rp-claims-aggregated', issuer: 'returns a claim as an aggregated claim (_claim_names / _claim_sources with a JWT)', expected: 'optional: verify the source JWT and use its claims',
    differs: 'not read: only direct claims count, as in oauth2-proxy; a claim only an aggregated source carries is missing' },
  { id: 'rp-claims-distributed', issuer: 'returns a claim as a distributed claim (an endpoint and an access token)', expected: 'optional: fetch it from the claims endpoint',
    differs: 'not read: the proxy calls no endpoint a token answer names; a claim only a distributed source carries is missing' },
  { id: 'rp-claims_request-id_token', issuer: 'honours the claims request parameter for the ID token', expected: 'optional: request claims with the claims parameter',
    differs: 'not sent: claims are asked for with scope values only (OAUTH2_PROXY_SCOPE), as in oauth2-proxy' },
  { id: 'rp-claims_request-userinfo', issuer: 'honours the claims request parameter for userinfo', expected: 'optional: request claims with the claims parameter',
    differs: 'not sent: claims are asked for with scope values only (OAUTH2_PROXY_SCOPE), as in oauth2-proxy' },
  { id: 'rp-request_uri-unsigned', issuer: 'accepts a request object by reference', expected: 'optional: pass the request by request_uri',
    differs: 'not sent: the authorization request is plain query parameters, with PKCE' },
  { id: 'rp-request_uri-sig', issuer: 'accepts a signed request object by reference', expected: 'optional: pass a signed request object', differs: 'not sent: the authorization request is plain query parameters, with PKCE' },
  { id: 'rp-3rd_party-init-login', issuer: 'starts a login at the RP naming itself (iss=…)', expected: 'optional: start a login at that issuer',
    differs: 'the login always goes to the configured issuer: a link cannot send a user to sign in somewhere else (an iss parameter is ignored)' },
];

const CONFIG: ReadonlyArray<Omit<PlanRow, 'profile'>> = [
  { id: 'rp-discovery-openid-configuration', issuer: 'publishes its endpoints in /.well-known/openid-configuration', expected: 'read them from there and use them' },
  { id: 'rp-discovery-jwks_uri-keys', issuer: 'publishes its keys at the jwks_uri its discovery document names', expected: 'fetch the keys from that jwks_uri' },
  { id: 'rp-discovery-issuer-not-matching-config', issuer: 'publishes a discovery document whose issuer is not the URL it was fetched from', expected: 'refuse the configuration',
    covered: [{ file: 'test/oidc-options.test.ts', test: 'a discovery document naming another issuer is refused by default, accepted with the option; ID tokens then carry the discovered issuer' }] },
  { id: 'rp-id_token-sig-none', issuer: 'returns an unsigned ID token (alg none)', expected: 'accept it (code flow over TLS), or reject it',
    differs: 'rejected: asymmetric signatures only (see the Basic RP row)' },
  { id: 'rp-key-rotation-op-sign-key', issuer: 'rotates its signing key', expected: 'fetch the keys again from jwks_uri and accept', covered: [{ file: 'test/keyrotation.test.ts', test: 'a refresh right after the issuer rotates its keys keeps the session (its new ID token is checked with the keys fetched anew)' }] },
];

/** Every row, in the order they run (the key rotations last: they change the issuer for good). */
export const RP_PLAN: readonly PlanRow[] = [
  ...BASIC_MANDATORY.map((r) => ({ ...r, profile: 'Basic RP' as const })),
  ...BASIC_OPTIONAL.filter((r) => !r.id.startsWith('rp-key-rotation')).map((r) => ({ ...r, profile: 'Basic RP' as const })),
  ...BASIC_MANDATORY.map((r) => ({ ...r, profile: 'Form Post RP' as const, covered: r.id === 'rp-response_type-code' ? [{ file: 'test/oidc-options.test.ts', test: 'form_post: the mode is sent, the issuer POSTs the code to the callback, and the user is signed in' }] : undefined })),
  ...CONFIG.filter((r) => r.id !== 'rp-key-rotation-op-sign-key' && r.id !== 'rp-discovery-jwks_uri-keys').map((r) => ({ ...r, profile: 'Config RP' as const })),
  ...BASIC_OPTIONAL.filter((r) => r.id.startsWith('rp-key-rotation')).map((r) => ({ ...r, profile: 'Basic RP' as const })),
  ...CONFIG.filter((r) => r.id === 'rp-key-rotation-op-sign-key' || r.id === 'rp-discovery-jwks_uri-keys').map((r) => ({ ...r, profile: 'Config RP' as const })),
];

export const RP_PLAN_MARKERS = ['<!-- rp-plan:start -->', '<!-- rp-plan:end -->'] as const;

const cell = (s: string): string => s.replace(/\|/g, '\\|');

/** The README's table: one line per row, grouped by profile. */
export function rpPlanMarkdownTable(): string {
  const order: Profile[] = ['Basic RP', 'Config RP', 'Form Post RP'];
  const rows = order.flatMap((p) => RP_PLAN.filter((r) => r.profile === p));
  const lines = [
    '| Profile | Test ID | The issuer | The plan expects | Portcullis | Also covered by |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.profile} | \`${r.id}\` | ${cell(r.issuer)} | ${cell(r.expected)} | ${cell(r.differs ? `**differs:** ${r.differs}` : 'as expected')} | ${r.covered?.map((c) => `\`${c.file}\``).filter((f, i, all) => all.indexOf(f) === i).join(', ') ?? ''} |`),
  ];
  return `${lines.join('\n')}\n`;
}
