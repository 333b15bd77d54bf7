/**
 * The shape of oauth2-proxy's alpha configuration (its pkg/apis/options, `yaml` tags), as data: every
 * key a mapping may hold, with the kind of value it takes. The walker checks a YAML document against
 * it and reports every problem at once, each with its path (`providers[1].oidcConfig.issuerURL`),
 * its line and the form expected; an unknown key names the closest known one.
 */
import { isMap, isScalar, isSeq, type LineCounter, type Node } from 'yaml';
import { closest, parseDuration } from '../values.js';

export type Kind =
  | { readonly t: 'string' }
  | { readonly t: 'bool' }
  | { readonly t: 'int' }
  | { readonly t: 'duration' }
  | { readonly t: 'strings' }
  | { readonly t: 'map'; readonly keys: Readonly<Record<string, Kind>>; readonly unsupported?: Readonly<Record<string, string>> }
  | { readonly t: 'list'; readonly of: Kind };

const S: Kind = { t: 'string' };
const B: Kind = { t: 'bool' };
const I: Kind = { t: 'int' };
const D: Kind = { t: 'duration' };
const L: Kind = { t: 'strings' };
const map = (keys: Record<string, Kind>, unsupported?: Record<string, string>): Kind => ({ t: 'map', keys, ...(unsupported ? { unsupported } : {}) });
const list = (of: Kind): Kind => ({ t: 'list', of });

/** oauth2-proxy's SecretSource: a value, a file or a variable holding it (exactly one). */
const SECRET = map({ value: S, fromFile: S, fromEnv: S });
const TLS = map({ key: SECRET, cert: SECRET, minVersion: S, cipherSuites: L });
const SERVER = map({ bindAddress: S, secureBindAddress: S, tls: TLS });

const UPSTREAM = map({
  id: S, path: S, rewriteTarget: S, uri: S, insecureSkipTLSVerify: B, static: B, staticCode: I, flushInterval: D,
  passHostHeader: B, proxyWebSockets: B, timeout: D, disableKeepAlives: B,
});

const CLAIM_SOURCE = map({ claim: S, prefix: S, basicAuthPassword: SECRET });
const HEADER = map({
  name: S, preserveRequestValue: B, values: list(map({ claimSource: CLAIM_SOURCE, secretSource: SECRET })),
}, { InsecureSkipHeaderNormalization: 'header names are never normalised by Portcullis: an underscore or dot spelling of an identity header is always removed from what a client sends' });

const NOT_OIDC = 'Portcullis has only the OpenID Connect provider (provider: oidc); sign in through an issuer that federates this one and restrict with allowedGroups';

const OIDC_CONFIG = map({
  issuerURL: S, insecureAllowUnverifiedEmail: B, insecureSkipIssuerVerification: B, insecureSkipNonce: B, skipDiscovery: B,
  jwksURL: S, publicKeyFiles: L, emailClaim: S, groupsClaim: S, userIDClaim: S, audienceClaims: L, extraAudiences: L, enabledSigningAlgs: L,
});

const PROVIDER = map({
  id: S, provider: S, name: S, clientID: S, clientSecret: S, clientSecretFile: S, caFiles: L, useSystemTrustStore: B,
  loginURL: S, loginURLParameters: list(map({ name: S, default: L, allow: list(map({ value: S, pattern: S })) })),
  authRequestResponseMode: S, redeemURL: S, profileURL: S, skipClaimsFromProfileURL: B, validateURL: S, scope: S,
  allowedGroups: L, code_challenge_method: S, additionalClaims: L, backendLogoutURL: S, oidcConfig: OIDC_CONFIG,
  // Portcullis additions (not in oauth2-proxy): the email domains this provider may assert, and those it is home to.
  emailDomains: L, homeDomains: L,
}, {
  keycloakConfig: `it is read by oauth2-proxy's keycloak providers; ${NOT_OIDC}`,
  azureConfig: `it is read by oauth2-proxy's azure provider; Entra ID signs in with provider: oidc and issuerURL https://login.microsoftonline.com/TENANT/v2.0`,
  microsoftEntraIDConfig: `it is read by oauth2-proxy's entra-id provider; Entra ID signs in with provider: oidc and issuerURL https://login.microsoftonline.com/TENANT/v2.0`,
  ADFSConfig: `it is read by oauth2-proxy's adfs provider; ${NOT_OIDC}`,
  bitbucketConfig: `Bitbucket is not an OpenID Connect issuer; ${NOT_OIDC}`,
  githubConfig: `GitHub is not an OpenID Connect issuer; ${NOT_OIDC}`,
  gitlabConfig: `it is read by oauth2-proxy's gitlab provider; GitLab is an OpenID Connect issuer (provider: oidc, issuerURL https://gitlab.example.com) whose groups allowedGroups checks`,
  googleConfig: `it is read by oauth2-proxy's google provider (groups through the Admin API); Google sign-in works with provider: oidc and issuerURL https://accounts.google.com`,
  loginGovConfig: 'it belongs to oauth2-proxy\'s login.gov provider (private_key_jwt); Portcullis authenticates to the issuer with the client secret',
  resource: 'it is read by oauth2-proxy\'s azure provider only',
});

/** The whole file: oauth2-proxy's AlphaOptions. */
export const ALPHA_FILE: Kind = map({
  upstreamConfig: map({ proxyRawPath: B, upstreams: list(UPSTREAM) }),
  injectRequestHeaders: list(HEADER),
  injectResponseHeaders: list(HEADER),
  server: SERVER,
  metricsServer: SERVER,
  providers: list(PROVIDER),
});

/** A value read from the file, with where it sits (for messages that name what to change). */
export interface Located<T> {
  readonly value: T;
  /** `providers[1].oidcConfig.issuerURL` */
  readonly path: string;
  /** The line of its key. */
  readonly line: number;
}

/** A mapping as read: each known key present, located. */
export interface Fields {
  readonly path: string;
  readonly line: number;
  readonly get: <T = unknown>(key: string) => Located<T> | undefined;
}

/** What the walker produces: mappings as Fields, lists as arrays of their items, scalars as JS values. */
export type Read = string | number | boolean | readonly string[] | Fields | readonly Read[];

const FORMS: Record<Exclude<Kind['t'], 'map' | 'list'>, string> = {
  string: 'a string',
  bool: 'true or false',
  int: 'a whole number',
  duration: 'a duration such as 30s, 1m or 1h30m',
  strings: 'a list of strings, such as [a, b]',
};

/** Checks `node` against `kind`; every problem goes to `errors` as `path (line N): …`. */
export function walk(node: Node | null | undefined, kind: Kind, path: string, lines: LineCounter, errors: string[], file: string): Read | undefined {
  const line = node?.range ? lines.linePos(node.range[0]).line : 0;
  const at = `${path || '(top level)'} (line ${line} of ${file})`;
  const bad = (expected: string): undefined => {
    errors.push(`${at}: got ${describe(node)}, expected ${expected}`);
    return undefined;
  };
  switch (kind.t) {
    case 'map': {
      if (node === null || node === undefined || (isScalar(node) && node.value === null)) return fieldsOf(new Map(), path, line);
      if (!isMap(node)) return bad(`a mapping of ${Object.keys(kind.keys).slice(0, 4).join(', ')}, …`);
      const found = new Map<string, Located<Read>>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
        const keyLine = (pair.key as Node | null)?.range ? lines.linePos((pair.key as Node).range![0]).line : line;
        // A key that is empty, blank or holds spaces or controls (`"": x`, `{!}`, `? "\t"`) is shown quoted, so the message still names it.
        const shown = key === undefined || /^[^\s\x00-\x1f\x7f"]+$/.test(key) ? key : JSON.stringify(key);
        const sub = path ? `${path}.${shown}` : String(shown);
        if (key === undefined) { errors.push(`${at}: a key must be a plain name`); continue; }
        const why = kind.unsupported?.[key];
        if (why !== undefined) { errors.push(`${sub} (line ${keyLine} of ${file}) is not supported, because ${why}; remove it`); continue; }
        const k = kind.keys[key];
        if (!k) {
          const known = Object.keys(kind.keys);
          const hint = closest(key, known) ?? known.find((k) => k.toLowerCase().startsWith(key.toLowerCase()) || key.toLowerCase().startsWith(k.toLowerCase()));
          errors.push(`${sub} (line ${keyLine} of ${file}) is not a key of ${path || 'the alpha configuration'}${hint ? `; did you mean ${hint}?` : ''} (known: ${Object.keys(kind.keys).join(', ')})`);
          continue;
        }
        const value = walk(pair.value as Node | null, k, sub, lines, errors, file);
        if (value !== undefined) found.set(key, { value, path: sub, line: keyLine });
      }
      return fieldsOf(found, path, line);
    }
    case 'list': {
      if (node === null || node === undefined || (isScalar(node) && node.value === null)) return [];
      if (!isSeq(node)) return bad('a list (lines starting with -)');
      const out: Read[] = [];
      node.items.forEach((item, i) => {
        const v = walk(item as Node | null, kind.of, `${path}[${i}]`, lines, errors, file);
        if (v !== undefined) out.push(v);
      });
      return out;
    }
    case 'strings': {
      if (isSeq(node)) {
        const items = node.items.map((i) => (isScalar(i) && i.value !== null && typeof i.value !== 'object' ? String(i.value) : undefined));
        return items.every((i): i is string => i !== undefined) ? items : bad(FORMS.strings);
      }
      return bad(FORMS.strings);
    }
    default: {
      if (!isScalar(node) || node.value === null || typeof node.value === 'object') return bad(FORMS[kind.t]);
      const v = node.value;
      if (kind.t === 'string') return typeof v === 'string' || typeof v === 'number' ? String(v) : bad(FORMS.string);
      if (kind.t === 'bool') return typeof v === 'boolean' ? v : bad(FORMS.bool);
      if (kind.t === 'int') return typeof v === 'number' && Number.isInteger(v) ? v : bad(FORMS.int);
      // Durations as Go writes them (30s, 1m0s); a bare number is nanoseconds in Go's YAML, which no one means.
      if (typeof v !== 'string') return bad(FORMS.duration);
      return parseDuration(v).ok ? v : bad(FORMS.duration);
    }
  }
}

function fieldsOf(found: Map<string, Located<Read>>, path: string, line: number): Fields {
  return { path, line, get: <T>(key: string) => found.get(key) as Located<T> | undefined };
}

function describe(node: Node | null | undefined): string {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) return node.value === null ? 'nothing' : JSON.stringify(node.value);
  return 'an alias';
}
