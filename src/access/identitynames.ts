/**
 * The header names only the proxy may set: the identity headers it emits (upstream/identity.ts,
 * which checks at load that each of its fields is listed here) and oauth2-proxy's others. Read by
 * the road (a client's copy is removed from every request) and by configuration (a request id
 * header or an injected header may not take such a name).
 */

/** The identity headers the proxy emits, upstream and on forward-auth answers (upstream/identity.ts FIELDS). */
const EMITTED = [
  'x-forwarded-user', 'x-auth-request-user', 'x-forwarded-email', 'x-auth-request-email',
  'x-forwarded-groups', 'x-auth-request-groups', 'x-forwarded-preferred-username', 'x-auth-request-preferred-username',
  'x-forwarded-access-token', 'x-auth-request-access-token',
];

/**
 * Names the proxy owns besides the ones it emits today: oauth2-proxy's other identity headers, so
 * an app migrating from it never trusts a client-sent copy.
 */
const RESERVED = ['x-forwarded-id-token', 'gap-auth', 'gap-signature'];
const RESERVED_PREFIXES = ['x-auth-request-'];
/**
 * Not identity but an instruction from the reverse proxy in front (nginx sets it to the URI the
 * user asked for, oauth2-proxy's name); it is validated like `rd` wherever it is read.
 */
const INPUT_HEADERS = new Set(['x-auth-request-redirect']);

/** Every header name a client may not send (folded: lower case, `_` and `.` as `-`). */
export const OWNED_IDENTITY_HEADERS: ReadonlySet<string> = new Set([
  ...EMITTED,
  ...RESERVED,
]);

/**
 * Servers behind the proxy may fold `_` and `.` into `-` (nginx with underscores_in_headers, CGI/PHP,
 * WSGI and Rack all expose X_Forwarded_User as HTTP_X_FORWARDED_USER), so a name is compared after
 * that folding. Node has already lower-cased every name.
 */
export function foldHeaderName(name: string): string {
  return /[_.]/.test(name) ? name.replace(/[_.]/g, '-') : name;
}

export function isOwnedIdentityHeader(name: string): boolean {
  // Every owned name starts with x or g (x-…, gap-…) in either case: the headers every request
  // has (host, cookie, accept, user-agent, …) leave at the first letter, run on every request.
  const first = name.charCodeAt(0) | 0x20;
  if (first !== 0x78 /* x */ && first !== 0x67 /* g */) return false;
  if (INPUT_HEADERS.has(name)) return false;
  const folded = foldHeaderName(name.toLowerCase());
  return OWNED_IDENTITY_HEADERS.has(folded) || RESERVED_PREFIXES.some((p) => folded.startsWith(p));
}

