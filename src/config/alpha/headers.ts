/**
 * Headers as oauth2-proxy's alpha configuration writes them (injectRequestHeaders,
 * injectResponseHeaders), and the legacy header options written that way: the converter prints
 * them, and the reader uses them for a side the file leaves out.
 */
import { defaultOf, type OptionName } from '../options.js';
import type { HeadersPart, InjectedHeader, InjectedValue } from '../types.js';
import type { Fields, Read } from './schema.js';
import { secretValue, type Fail } from './secret.js';

/** Names a header injection may not take: framing, hop-by-hop and the proxy's own cookies. */
const FORBIDDEN_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'te', 'trailer', 'upgrade', 'proxy-connection', 'cookie', 'set-cookie']);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

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

/** injectRequestHeaders and injectResponseHeaders; a side the file leaves out is what the legacy defaults send. */
export function readHeaders(top: Fields, env: Readonly<Record<string, string | undefined>>, readFile: (p: string) => string, errors: string[], file: string, fail: Fail): { injectRequestHeaders: InjectedHeader[]; injectResponseHeaders: InjectedHeader[] } {
  const on = (n: OptionName): boolean => defaultOf(n) === 'true';
  const defaults = legacyHeaderLists({
    passUserHeaders: on('pass_user_headers'), passAccessToken: on('pass_access_token'), setXAuthRequest: on('set_xauthrequest'),
    passBasicAuth: on('pass_basic_auth'), basicAuthPassword: defaultOf('basic_auth_password'), preferEmailToUser: on('prefer_email_to_user'),
    passAuthorizationHeader: on('pass_authorization_header'), setAuthorizationHeader: on('set_authorization_header'), setBasicAuth: on('set_basic_auth'),
  });
  const side = (key: 'injectRequestHeaders' | 'injectResponseHeaders', fallback: InjectedHeader[]): InjectedHeader[] => {
    const given = top.get<Read[]>(key);
    if (!given) return fallback;
    const out: InjectedHeader[] = [];
    const names = new Map<string, string>();
    for (const h of given.value as Fields[]) {
      const name = h.get<string>('name');
      if (!name || name.value === '') { errors.push(`${h.path}.name (line ${h.line} of ${file}) is required: the header's name, e.g. X-Forwarded-User`); continue; }
      const lower = name.value.toLowerCase();
      if (!TOKEN.test(name.value) || FORBIDDEN_HEADERS.has(lower) || lower.startsWith('proxy-')) { fail(name, name.value, 'a header name of letters, digits and -, not a framing or hop-by-hop header (Host, Content-Length, Connection, Cookie, …)'); continue; }
      if (names.has(lower)) { fail(name, name.value, `a header not listed before (${names.get(lower)} has it); give one entry several values instead`); continue; }
      names.set(lower, h.path);
      const values: InjectedValue[] = [];
      const list = (h.get<Read[]>('values')?.value ?? []) as Fields[];
      if (list.length === 0) errors.push(`${h.path}.values (line ${h.line} of ${file}): expected at least one value (claimSource or secretSource)`);
      for (const v of list) {
        const claim = v.get<Fields>('claimSource')?.value;
        const sec = v.get<Fields>('secretSource')?.value;
        if (!claim === !sec) { errors.push(`${v.path} (line ${v.line} of ${file}): expected exactly one of claimSource and secretSource`); continue; }
        if (sec) {
          const s = secretValue(sec, env, readFile, fail);
          if (s !== undefined) values.push({ kind: 'secret', value: s });
          continue;
        }
        const c = claim!.get<string>('claim');
        if (!c || c.value === '') { errors.push(`${claim!.path}.claim (line ${claim!.line} of ${file}) is required: user, email, groups, preferred_username, access_token, id_token or any claim of the ID token or userinfo`); continue; }
        const pw = claim!.get<Fields>('basicAuthPassword')?.value;
        const password = pw ? secretValue(pw, env, readFile, fail) : undefined;
        if (pw && password === undefined) continue;
        values.push({ kind: 'claim', claim: c.value, prefix: claim!.get<string>('prefix')?.value ?? '', ...(password !== undefined ? { basicAuthPassword: password } : {}) });
      }
      out.push({ name: lower, preserveRequestValue: h.get<boolean>('preserveRequestValue')?.value ?? false, values });
    }
    return out;
  };
  return { injectRequestHeaders: side('injectRequestHeaders', defaults.request), injectResponseHeaders: side('injectResponseHeaders', defaults.response) };
}
