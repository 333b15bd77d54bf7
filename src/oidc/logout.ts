import * as client from 'openid-client';
import type { Logger } from 'pino';
import type { IssuerClients } from './issuer.js';
import { describe } from './issuer.js';

/**
 * Where sign-out continues at the issuer (OpenID Connect RP-Initiated Logout 1.0), or undefined
 * when the issuer lists no end_session_endpoint. `id_token_hint` tells the issuer whose session to
 * end without asking; the issuer sends the browser back to `post_logout_redirect_uri` (which must
 * be registered with it) with `state`, which carries where the user goes after that.
 */
export function endSessionUrl(clients: IssuerClients, o: { idToken?: string; postLogoutRedirectUri: string; state: string }): URL | undefined {
  if (!clients.endSessionEndpoint) return undefined;
  return client.buildEndSessionUrl(clients.basic, {
    ...(o.idToken ? { id_token_hint: o.idToken } : {}),
    post_logout_redirect_uri: o.postLogoutRedirectUri,
    state: o.state,
  });
}

const BACKEND_LOGOUT_TIMEOUT_MS = 5_000;

/** oauth2-proxy's placeholder for the session's ID token, in backend_logout_url and a sign-out rd. */
export const ID_TOKEN_PLACEHOLDER = '{id_token}';

/** The URL with the session's ID token where the placeholder is (nothing without one, as oauth2-proxy does). */
export function withIdToken(template: string, idToken: string | undefined): string {
  return template.replaceAll(ID_TOKEN_PLACEHOLDER, encodeURIComponent(idToken ?? ''));
}

/**
 * oauth2-proxy's backend_logout_url: at sign-out the proxy itself GETs the URL, `{id_token}`
 * replaced by the session's ID token (empty without one, as oauth2-proxy does), so the issuer ends
 * its session before the browser is sent anywhere. 200 and 204 are success; anything else is logged
 * and the sign-out goes on (the local session is gone either way). The URL is never logged: it holds
 * the token.
 */
export async function backendLogout(template: string, idToken: string | undefined, log: Logger, user: string, fetchWith: typeof fetch = fetch): Promise<void> {
  const url = withIdToken(template, idToken);
  const host = new URL(url).host;
  try {
    const res = await fetchWith(url, { redirect: 'manual', signal: AbortSignal.timeout(BACKEND_LOGOUT_TIMEOUT_MS) });
    await res.body?.cancel();
    if (res.status === 200 || res.status === 204) log.info({ event: 'backend_logout', user, host, status: res.status }, 'signed out at the issuer');
    else log.warn({ event: 'backend_logout_failed', user, host, status: res.status }, 'backend_logout_url did not answer 200 or 204');
  } catch (err) {
    log.warn({ event: 'backend_logout_failed', user, host, err: describe(err) }, 'backend_logout_url could not be reached');
  }
}
