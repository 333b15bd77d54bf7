import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Session } from '../session/codec.js';
import { OWNED_IDENTITY_HEADERS, isOwnedIdentityHeader } from '../access/identitynames.js';
import type { InjectedHeader, InjectedValue } from '../config/types.js';

export { OWNED_IDENTITY_HEADERS, foldHeaderName, isOwnedIdentityHeader } from '../access/identitynames.js';

/** One identity header as data: its name on the way upstream and on a forward-auth answer, and its value. */
interface IdentityField {
  /** Sent to the upstream with a proxied request (oauth2-proxy's names); absent: never sent upstream. */
  readonly upstream?: string;
  /** Sent on a forward-auth answer (`/oauth2/auth`) for nginx `auth_request_set` to copy. */
  readonly response?: string;
  /** The option that turns it on (see IdentityHeaderOptions); `injected` for a header of the alpha configuration. */
  readonly kind: 'user' | 'token' | 'idToken' | 'basic' | 'injected';
  /**
   * True for names only the proxy may set: a client's copy is removed from every request, before
   * anything else. False for `Authorization`, which is the client's own unless the proxy is told to
   * set it: then the client's is removed wherever the proxy forwards (see `replaces`).
   */
  readonly owned: boolean;
  readonly value: (s: Session, o: IdentityHeaderOptions) => string | undefined;
}

/** The user name the upstream gets: the email with prefer_email_to_user (the user when there is none). */
const userName = (s: Session, o: IdentityHeaderOptions): string => (o.preferEmailToUser && s.email ? s.email : s.user);

/**
 * Every identity header the proxy can emit, in one table: the headers applied to a request, to a
 * forward-auth answer, and (later) signed into a JWT all come from here, and so do the names
 * stripped from what a client sends (`OWNED_IDENTITY_HEADERS`, and `replaces` for Authorization),
 * so a new header cannot be emitted without also being stripped. When two fields set the same name
 * the later one wins; configuration refuses turning on both Authorization fields at once.
 */
const FIELDS: readonly IdentityField[] = [
  { upstream: 'x-forwarded-user', response: 'x-auth-request-user', kind: 'user', owned: true, value: (s, o) => headerValue(userName(s, o)) },
  // oauth2-proxy sends no X-Forwarded-Email with prefer_email_to_user: the email is the user then.
  { upstream: 'x-forwarded-email', response: 'x-auth-request-email', kind: 'user', owned: true, value: (s, o) => (s.email && !o.preferEmailToUser ? headerValue(s.email) : undefined) },
  { upstream: 'x-forwarded-groups', response: 'x-auth-request-groups', kind: 'user', owned: true, value: (s) => (s.groups.length ? groupsValue(s.groups) : undefined) },
  { upstream: 'x-forwarded-preferred-username', response: 'x-auth-request-preferred-username', kind: 'user', owned: true, value: (s) => (s.preferredUsername ? headerValue(s.preferredUsername) : undefined) },
  // A token is already header-safe (RFC 6750 b64token); encoding it would change it.
  { upstream: 'x-forwarded-access-token', response: 'x-auth-request-access-token', kind: 'token', owned: true, value: (s) => s.accessToken },
  // pass_basic_auth upstream, set_basic_auth on answers: RFC 7617 credentials, UTF-8 before base64.
  { upstream: 'authorization', response: 'authorization', kind: 'basic', owned: false, value: (s, o) => `Basic ${Buffer.from(`${o.basicUserIsEmail && s.email ? s.email : userName(s, o)}:${o.basicAuthPassword ?? ''}`, 'utf8').toString('base64')}` },
  // pass_authorization_header upstream, set_authorization_header on answers: the ID token.
  { upstream: 'authorization', response: 'authorization', kind: 'idToken', owned: false, value: (s) => (s.idToken ? `Bearer ${s.idToken}` : undefined) },
];

// A field the proxy emits and owns must be among the names stripped from every client request
// (access/identitynames.ts, which config reads too): checked once, when this module loads.
for (const f of FIELDS) {
  for (const name of [f.upstream, f.response]) {
    if (f.owned && name !== undefined && !OWNED_IDENTITY_HEADERS.has(name)) throw new Error(`identity header ${name} is emitted but not in OWNED_IDENTITY_HEADERS`);
  }
}

export type HeaderList = ReadonlyArray<readonly [name: string, value: string]>;

export interface IdentityHeaderOptions {
  /** X-Forwarded-User, -Email, -Groups, -Preferred-Username (pass_user_headers or pass_basic_auth). */
  readonly passUserHeaders: boolean;
  readonly passAccessToken: boolean;
  /** Authorization: Bearer <ID token> (pass_authorization_header; set_authorization_header on answers). */
  readonly passIdToken?: boolean;
  /** Authorization: Basic user:password, when pass_basic_auth and basic_auth_password are both set (set_basic_auth on answers). */
  readonly basicAuthPassword?: string;
  /** The Basic user is the email (prefer_email_to_user) while the other headers keep the user: set_basic_auth's rule. */
  readonly basicUserIsEmail?: boolean;
  readonly preferEmailToUser?: boolean;
}

/**
 * A session's identity headers, computed once per session object (sessions are cached objects, so
 * a WeakMap hit costs less than rebuilding the strings on every request).
 */
export class IdentityHeaders {
  readonly #o: IdentityHeaderOptions;
  readonly #fields: readonly IdentityField[];
  readonly #upstream = new WeakMap<Session, HeaderList>();
  readonly #response = new WeakMap<Session, HeaderList>();
  /**
   * Client headers that are not the proxy's own but that these options make the proxy set upstream
   * (Authorization): the client's copy is removed from every forwarded request, whether or not this
   * session has a value for it, as oauth2-proxy does with skip_auth_strip_headers.
   */
  readonly replaces: readonly string[];
  /** Headers the proxy adds to the client's own value (alpha preserveRequestValue: true) rather than replacing it. */
  readonly preserved: readonly string[];

  /**
   * The headers the options choose, or, given `injected` (the alpha configuration's
   * injectRequestHeaders or injectResponseHeaders), exactly those, on both sides.
   */
  constructor(o: IdentityHeaderOptions, injected?: readonly InjectedHeader[]) {
    this.#o = o;
    this.#fields = injected ? injected.map(injectedField) : FIELDS.filter((f) => {
      switch (f.kind) {
        case 'user': return o.passUserHeaders;
        case 'token': return o.passAccessToken;
        case 'idToken': return o.passIdToken === true;
        case 'basic': return o.basicAuthPassword !== undefined;
        case 'injected': return false;
      }
    });
    const preserved = new Set(injected?.filter((h) => h.preserveRequestValue).map((h) => h.name));
    this.replaces = [...new Set(this.#fields.filter((f) => !f.owned && f.upstream && !preserved.has(f.upstream)).map((f) => f.upstream!))];
    this.preserved = [...preserved].filter((n) => !isOwnedIdentityHeader(n));
  }

  forUpstream(s: Session): HeaderList {
    let list = this.#upstream.get(s);
    if (!list) this.#upstream.set(s, (list = this.#build(s, 'upstream')));
    return list;
  }

  /** The headers of a forward-auth answer: each of the chosen X-Auth-Request-* always, empty without a value (see #build). */
  forResponse(s: Session): HeaderList {
    let list = this.#response.get(s);
    if (!list) this.#response.set(s, (list = this.#build(s, 'response')));
    return list;
  }

  #build(s: Session, side: 'upstream' | 'response'): HeaderList {
    const out = new Map<string, string>();
    for (const f of this.#fields) {
      const name = f[side];
      if (name === undefined) continue;
      const v = f.value(s, this.#o);
      if (v !== undefined) out.set(name, v);
      // A forward-auth answer carries every X-Auth-Request-* header it documents, empty when the
      // session has no such claim: Caddy 2.5-2.8's copy_headers otherwise hands the app its
      // placeholder's text ({http.reverse_proxy.header.X-Auth-Request-Groups}) for a user in no group.
      else if (side === 'response' && (f.kind === 'user' || f.kind === 'token')) out.set(name, '');
    }
    return [...out];
  }
}

/**
 * Sets each header on a request's headers (replacing, never appending to, what was there), after
 * removing the client's copies of `replaces` (see IdentityHeaders.replaces).
 */
export function applyToRequest(headers: IncomingHttpHeaders, list: HeaderList, replaces: readonly string[] = [], preserved: readonly string[] = []): void {
  for (const name of replaces) delete headers[name];
  if (preserved.length === 0) {
    for (const [name, value] of list) headers[name] = value;
    return;
  }
  for (const [name, value] of list) {
    const own = preserved.includes(name) ? headers[name] : undefined;
    headers[name] = own === undefined ? value : `${Array.isArray(own) ? own.join(',') : own},${value}`;
  }
}

/**
 * An alpha injected header as a field: its values computed from the session and joined with commas
 * (one header line, which HTTP reads as the list oauth2-proxy sends as several); absent when none has a value.
 */
function injectedField(h: InjectedHeader): IdentityField {
  const values = h.values.map(injectedValue);
  return {
    upstream: h.name,
    response: h.name,
    kind: 'injected',
    owned: isOwnedIdentityHeader(h.name),
    value: (s) => {
      const out: string[] = [];
      for (const v of values) { const x = v(s); if (x !== undefined) out.push(x); }
      return out.length ? out.join(',') : undefined;
    },
  };
}

function injectedValue(v: InjectedValue): (s: Session) => string | undefined {
  if (v.kind === 'secret') {
    const fixed = headerValue(v.value);
    return () => fixed;
  }
  const { claim, prefix, basicAuthPassword } = v;
  const read = claimReader(claim);
  return (s) => {
    const got = read(s);
    if (got === undefined || got.length === 0) return undefined;
    if (basicAuthPassword !== undefined) {
      // oauth2-proxy's claimSource.basicAuthPassword: RFC 7617 credentials of each value, UTF-8 before base64.
      return got.map((x) => `${prefix}${Buffer.from(`${x}:${basicAuthPassword}`, 'utf8').toString('base64')}`).join(',');
    }
    // Tokens are header-safe already (RFC 6750 b64token); claims are encoded as the legacy headers are.
    if (claim === 'access_token' || claim === 'id_token') return `${prefix}${got[0]}`;
    return `${prefix}${claim === 'groups' ? groupsValue(got) : got.map((x) => headerValue(x).replace(/,/g, '%2C')).join(',')}`;
  };
}

/** The session field a claim name means in oauth2-proxy's claimSource, else the claim the session keeps (keptClaims). */
function claimReader(claim: string): (s: Session) => readonly string[] | undefined {
  const one = (x: string | undefined): readonly string[] | undefined => (x === undefined || x === '' ? undefined : [x]);
  switch (claim) {
    case 'user': return (s) => one(s.user);
    case 'sub': return (s) => one(s.sub);
    case 'email': return (s) => one(s.email);
    case 'groups': return (s) => s.groups;
    case 'preferred_username': return (s) => one(s.preferredUsername);
    case 'access_token': return (s) => one(s.accessToken);
    case 'id_token': return (s) => one(s.idToken);
    default: return (s) => s.claims?.[claim];
  }
}

export function applyToResponse(res: ServerResponse, list: HeaderList): void {
  for (const [name, value] of list) res.setHeader(name, value);
}

const PLAIN = /^(?:[\x21-\x24\x26-\x7e](?:[\x20-\x24\x26-\x7e]*[\x21-\x24\x26-\x7e])?)?$/;

/**
 * A claim as a header value, encoded so that two different claims never give the same header:
 * `%`, anything outside printable ASCII (Node throws on it, and CR/LF would split headers) and
 * leading or trailing spaces (which HTTP parsers trim) are percent-encoded as UTF-8. Decoding with
 * decodeURIComponent gives the claim back.
 */
export function headerValue(v: string): string {
  if (PLAIN.test(v)) return v;
  let out = '';
  const chars = Array.from(v);
  chars.forEach((c, i) => {
    const code = c.codePointAt(0)!;
    const edgeSpace = c === ' ' && (i === 0 || i === chars.length - 1);
    out += code < 0x20 || code > 0x7e || c === '%' || edgeSpace ? percentEncode(c) : c;
  });
  return out;
}

/** Groups joined by commas; a comma inside a group name is encoded so it cannot split the group. */
export function groupsValue(groups: readonly string[]): string {
  return groups.map((g) => headerValue(g).replace(/,/g, '%2C')).join(',');
}

function percentEncode(c: string): string {
  return Array.from(Buffer.from(c, 'utf8'), (b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}
