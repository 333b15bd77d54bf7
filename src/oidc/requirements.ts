import type * as client from 'openid-client';
import { FAPI_ALGORITHMS, chooseAlgorithm } from './clientkey.js';

/** What the configuration asks of the issuer, beside the code flow itself. */
export interface IssuerNeeds {
  /** The client authentication method when it is not the secret (whose basic/post choice adapts). */
  readonly method?: 'private_key_jwt' | 'tls_client_auth' | 'self_signed_tls_client_auth';
  /** private_key_jwt with a key of our own: what it can sign with, and how to name it. */
  readonly key?: { readonly algorithms: readonly string[]; readonly describe: string };
  readonly par: boolean;
  readonly dpop: boolean;
  /** A TLS client certificate binds the tokens (RFC 8705 §3) instead of DPoP. */
  readonly certificateBound: boolean;
  readonly fapi2: boolean;
}

/** The DPoP proof algorithm Portcullis signs with (FAPI 2.0 allows it; every DPoP issuer seen lists it). */
export const DPOP_ALGORITHM = 'ES256';

const list = (v: readonly string[] | undefined): string => (v?.length ? v.join(', ') : 'nothing');

/**
 * Every way the issuer's metadata falls short of what is configured, each naming both sides ("the
 * issuer does not list private_key_jwt; it lists client_secret_basic"). Empty: the issuer can do it
 * all. Metadata an issuer leaves out counts as "not supported" only where the RFC says so, or
 * under FAPI 2.0, which asks the issuer to publish each.
 */
export function issuerShortfalls(meta: client.ServerMetadata, needs: IssuerNeeds): string[] {
  const out: string[] = [];
  const methods = meta.token_endpoint_auth_methods_supported;
  // RFC 8414 §2: omitted means client_secret_basic only.
  if (needs.method && !(methods ?? ['client_secret_basic']).includes(needs.method)) {
    out.push(`the issuer does not list ${needs.method} in token_endpoint_auth_methods_supported; it lists ${list(methods ?? ['client_secret_basic (by omission, RFC 8414)'])}`);
  }
  if (needs.method === 'private_key_jwt' && needs.key) {
    const supported = meta.token_endpoint_auth_signing_alg_values_supported;
    if (!chooseAlgorithm(needs.key, supported, needs.fapi2 ? FAPI_ALGORITHMS : undefined)) {
      out.push(`the issuer lists no algorithm the ${needs.key.describe} client key can sign with: its token_endpoint_auth_signing_alg_values_supported are ${list(supported)}; the key can sign with ${list(needs.fapi2 ? needs.key.algorithms.filter((a) => FAPI_ALGORITHMS.includes(a)) : needs.key.algorithms)}${needs.fapi2 ? ' (FAPI 2.0 allows PS256, ES256, EdDSA)' : ''}`);
    }
  }
  if (needs.par && !meta.pushed_authorization_request_endpoint) {
    out.push(`the issuer has no pushed_authorization_request_endpoint, and ${needs.fapi2 ? 'FAPI 2.0 needs PAR (RFC 9126)' : 'pushed_authorization_requests=true needs one (RFC 9126)'}`);
  }
  if (needs.dpop) {
    const algs = meta.dpop_signing_alg_values_supported;
    if (!algs) out.push(`the issuer does not support DPoP (no dpop_signing_alg_values_supported), which ${needs.fapi2 ? 'FAPI 2.0 needs without a TLS client certificate' : 'dpop=true needs'}`);
    else if (!algs.includes(DPOP_ALGORITHM)) out.push(`the issuer does not list ${DPOP_ALGORITHM} in dpop_signing_alg_values_supported; it lists ${list(algs)}`);
  }
  if (needs.fapi2) {
    if (meta.authorization_response_iss_parameter_supported !== true) out.push('the issuer does not say authorization_response_iss_parameter_supported: true, and FAPI 2.0 needs the iss of RFC 9207 in every authorization response');
    if (!meta.code_challenge_methods_supported?.includes('S256')) out.push(`the issuer does not list S256 in code_challenge_methods_supported (it lists ${list(meta.code_challenge_methods_supported)}), and FAPI 2.0 needs PKCE with S256`);
    const idAlgs = meta.id_token_signing_alg_values_supported;
    if (!idAlgs?.some((a) => FAPI_ALGORITHMS.includes(a))) out.push(`the issuer signs ID tokens with ${list(idAlgs)}; FAPI 2.0 allows only PS256, ES256, EdDSA`);
    if (needs.certificateBound && !needs.dpop && meta.tls_client_certificate_bound_access_tokens !== true) {
      out.push('the issuer does not say tls_client_certificate_bound_access_tokens: true, and FAPI 2.0 needs sender-constrained tokens (bound to the TLS client certificate, or set dpop=true)');
    }
  }
  return out;
}
