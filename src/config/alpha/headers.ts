/**
 * Headers as oauth2-proxy's alpha configuration writes them (injectRequestHeaders,
 * injectResponseHeaders), and the legacy header options written that way: the converter prints
 * them, and the reader uses them for a side the file leaves out.
 */
import type { HeadersPart, InjectedHeader, InjectedValue } from '../types.js';

/** The legacy options that choose headers (oauth2-proxy's LegacyHeaders). */
export type LegacyHeaderOptions = Pick<HeadersPart, 'passUserHeaders' | 'passAccessToken' | 'setXAuthRequest' | 'passBasicAuth' | 'basicAuthPassword' | 'preferEmailToUser' | 'passAuthorizationHeader' | 'setAuthorizationHeader' | 'setBasicAuth'>;

const claim = (name: string, prefix = '', basicAuthPassword?: string): InjectedValue => ({ kind: 'claim', claim: name, prefix, ...(basicAuthPassword !== undefined ? { basicAuthPassword } : {}) });
const header = (name: string, ...values: InjectedValue[]): InjectedHeader => ({ name: name.toLowerCase(), preserveRequestValue: false, values });

/** The headers the legacy options send upstream and on /oauth2/auth answers, in oauth2-proxy's order (its legacy_options.go). */
export function legacyHeaderLists(o: LegacyHeaderOptions): { request: InjectedHeader[]; response: InjectedHeader[] } {
  const user = o.preferEmailToUser ? 'email' : 'user';
  const basic = (): InjectedHeader => header('Authorization', claim(user, 'Basic ', o.basicAuthPassword));
  const request: InjectedHeader[] = [];
  if (o.passBasicAuth && o.basicAuthPassword !== '') request.push(basic());
  if (o.passBasicAuth || o.passUserHeaders) {
    request.push(header('X-Forwarded-Groups', claim('groups')));
    request.push(header('X-Forwarded-User', claim(user)));
    if (!o.preferEmailToUser) request.push(header('X-Forwarded-Email', claim('email')));
    request.push(header('X-Forwarded-Preferred-Username', claim('preferred_username')));
  }
  if (o.passAccessToken) request.push(header('X-Forwarded-Access-Token', claim('access_token')));
  if (o.passAuthorizationHeader) request.push(header('Authorization', claim('id_token', 'Bearer ')));
  const response: InjectedHeader[] = [];
  if (o.setXAuthRequest) {
    response.push(header('X-Auth-Request-User', claim('user')), header('X-Auth-Request-Email', claim('email')),
      header('X-Auth-Request-Preferred-Username', claim('preferred_username')), header('X-Auth-Request-Groups', claim('groups')));
    if (o.passAccessToken) response.push(header('X-Auth-Request-Access-Token', claim('access_token')));
  }
  if (o.setBasicAuth) response.push(basic());
  if (o.setAuthorizationHeader) response.push(header('Authorization', claim('id_token', 'Bearer ')));
  // preserveRequestValue stays false: Portcullis always removes a client's copy (skip_auth_strip_headers=false only warns).
  return { request, response };
}

/** Whether an injected header (either side) reads this claim: the session must then keep the token. */
export function injectsClaim(c: Pick<HeadersPart, 'injectRequestHeaders' | 'injectResponseHeaders'>, name: string): boolean {
  return [...(c.injectRequestHeaders ?? []), ...(c.injectResponseHeaders ?? [])].some((h) => h.values.some((v) => v.kind === 'claim' && v.claim === name));
}

/** The claims session fields already hold; any other claim an injected header names is kept in the session. */
export const SESSION_CLAIMS: ReadonlySet<string> = new Set(['user', 'sub', 'email', 'groups', 'preferred_username', 'access_token', 'id_token']);
