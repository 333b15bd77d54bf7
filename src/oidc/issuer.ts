import { X509Certificate } from 'node:crypto';
import * as client from 'openid-client';
import type { Logger } from 'pino';
import { fetchTrusting } from './trust.js';
import { clientSecretBasicQueryEscaped } from './basicauth.js';
import type { ProviderConfig } from '../config/validate.js';
import { ClientAuthChoice, firstClientAuthMethod, type ClientAuthMethod } from './clientauth.js';
import type { JWTVerifyGetKey } from 'jose';
import { IdTokenVerifier, idTokenAlgorithms, isPlainAudienceRule, localKeySet } from './idtoken.js';
import { TokenReplay } from './replay.js';
import { AssertionFileCredential, PrivateKeyJwtCredential, type CredentialDescription } from './clientkey.js';
import { issuerShortfalls, type IssuerNeeds } from './requirements.js';

/** The issuer's endpoints bound to our client, once known. Two copies differ only in client authentication. */
export interface IssuerClients {
  /** client_secret_basic: what RFC 6749 makes every server support, and Hydra's default. */
  readonly basic: client.Configuration;
  /** client_secret_post: first when the issuer lists only it, else tried when basic is refused (see clientAuth). */
  readonly post: client.Configuration;
  /** False when no JWKS is known: identity then comes from userinfo, not from the unverifiable ID token. */
  readonly verifiesIdToken: boolean;
  readonly hasUserinfo: boolean;
  /**
   * False with hand-given endpoints and no issuer URL: there is no issuer identifier to compare an
   * `iss` with, so the token response reaches openid-client without its ID token (see dropIdToken).
   */
  readonly knowsIssuer: boolean;
  /** Which client authentication the token endpoint gets first; learns from refusals. */
  readonly clientAuth: ClientAuthChoice;
  /**
   * Set when oidc_extra_audiences / oidc_audience_claims widen the audience rule: ID tokens then
   * reach openid-client set aside (under SET_ASIDE_ID_TOKEN) and this verifies them instead.
   */
  readonly idTokenVerifier?: IdTokenVerifier;
  /** The token endpoint's answer per login, for a second check after a JWKS refetch (replay.ts). */
  readonly tokenReplay: TokenReplay;
  /**
   * New configurations with nothing cached: openid-client keeps an issuer's JWKS per configuration
   * for a minute whatever key id a token names, so after a key rotation only new ones see the new key.
   */
  readonly freshConfigs: () => Pick<IssuerClients, 'basic' | 'post'>;
  /** oidc_public_key_files as a key set: what verifies ID tokens and bearer JWTs in place of a JWKS. */
  readonly localKeys?: JWTVerifyGetKey;
  /** RP-Initiated Logout: where sign-out continues at the issuer, when it has one. */
  readonly endSessionEndpoint?: string;
  readonly scopesSupported?: readonly string[];
  /** Set when the client authenticates without a secret: what to tell the operator when the issuer refuses it. */
  readonly credential?: { describe(): CredentialDescription };
  /** Push authorization requests (RFC 9126): configured, FAPI 2.0, or required by the issuer. */
  readonly pushAuthorizationRequests: boolean;
  /** Bind tokens to a DPoP key of each session's own (RFC 9449). */
  readonly dpop: boolean;
}

/**
 * The issuer cannot do what the configuration asks (a client authentication method, PAR, DPoP,
 * FAPI 2.0): no login could succeed, so the proxy stays not ready and says what is missing.
 */
export class IssuerShortfall extends Error {
  override readonly name = 'IssuerShortfall';
  readonly code = 'ISSUER_SHORTFALL';
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
  }
}

/** Where an ID token that Portcullis verifies itself (IssuerClients.idTokenVerifier) is kept in the token response. */
export const SET_ASIDE_ID_TOKEN = 'x_portcullis_id_token';

/** The configuration that authenticates with `method`. */
export function configFor(clients: Pick<IssuerClients, 'basic' | 'post'>, method: ClientAuthMethod): client.Configuration {
  return method === 'client_secret_basic' ? clients.basic : clients.post;
}

const MAX_BACKOFF_MS = 30_000;
const HTTP_TIMEOUT_S = 10;

/**
 * The issuer connection: discovery (or hand-given endpoints) with retry. A dead issuer never stops
 * the process: discovery keeps retrying with backoff, `/ready` answers 503 meanwhile, and logins get
 * a clear 503 page.
 */
export class Issuer {
  #clients: IssuerClients | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly #cfg: ProviderConfig;
  /** Set with provider_ca_files: the issuer is reached trusting those authorities. */
  readonly #fetch: client.CustomFetch | undefined;
  readonly #log: Logger;
  /** private_key_jwt's credential, made at the first connection and kept (its key file watched). */
  #signer: PrivateKeyJwtCredential | AssertionFileCredential | undefined;

  constructor(cfg: ProviderConfig, log: Logger) {
    this.#cfg = cfg;
    this.#fetch = cfg.caCertificates || cfg.insecureSkipVerify || cfg.clientTls
      ? fetchTrusting(cfg.caCertificates, { insecure: cfg.insecureSkipVerify, ...(cfg.clientTls ? { clientCertificate: cfg.clientTls } : {}) })
      : undefined;
    this.#log = log.child({ component: 'issuer' });
  }

  get clients(): IssuerClients | undefined { return this.#clients; }

  /** The provider this issuer serves. */
  get provider(): ProviderConfig { return this.#cfg; }

  /** Resolves on the first success; keeps retrying (never rejects) until stop(). */
  start(): Promise<void> {
    return new Promise((resolve) => {
      const attempt = async (n: number): Promise<void> => {
        if (this.#stopped) return resolve();
        try {
          this.#clients = await this.#connect();
          this.#log.info(this.#describeMode(this.#clients), 'issuer ready');
          resolve();
        } catch (err) {
          if (err instanceof IssuerShortfall) {
            // Not a hiccup: no login can work until the issuer or the configuration changes. Said
            // loudly, then looked at again slowly (an administrator may turn the feature on).
            this.#log.error({ event: 'issuer_shortfall', issuer: this.#cfg.issuerUrl?.href, problems: err.problems, retryInMs: MAX_BACKOFF_MS },
              `the issuer cannot serve this configuration: ${err.message}`);
            this.#timer = setTimeout(() => void attempt(n + 1), MAX_BACKOFF_MS);
            this.#timer.unref();
            return;
          }
          const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(n, 10));
          this.#log.warn({ issuer: this.#cfg.issuerUrl?.href, attempt: n + 1, retryInMs: delay, err: describe(err) }, 'issuer discovery failed; retrying');
          this.#timer = setTimeout(() => void attempt(n + 1), delay);
          this.#timer.unref();
        }
      };
      void attempt(0);
    });
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  async #connect(): Promise<IssuerClients> {
    const c = this.#cfg;
    let metadata: { -readonly [K in keyof client.ServerMetadata]: client.ServerMetadata[K] };
    if (!c.issuerUrl) {
      // openid-client needs an issuer identifier; in this mode nothing is compared with it (the
      // callback's `iss` and the ID token are set aside, see knowsIssuer).
      metadata = { issuer: c.loginUrl?.origin ?? 'urn:portcullis:no-issuer' };
    } else if (c.skipDiscovery) {
      metadata = { issuer: c.issuerUrl.href };
    } else {
      // insecure_oidc_skip_issuer_verification: openid-client compares the document's issuer with
      // the URL only when it resolves the well-known path itself, so it is handed the full path.
      const where = c.skipIssuerVerification ? new URL(`${c.issuerUrl.href.replace(/\/+$/, '')}/.well-known/openid-configuration`) : c.issuerUrl;
      const discovered = await client.discovery(where, c.clientId, undefined, c.clientSecret ? client.ClientSecretBasic(c.clientSecret) : client.None(), {
        execute: this.#usesHttp() ? [client.allowInsecureRequests] : [],
        timeout: HTTP_TIMEOUT_S,
        ...(this.#fetch ? { [client.customFetch]: this.#fetch } : {}),
      });
      metadata = { ...discovered.serverMetadata() };
      if (c.skipIssuerVerification && metadata.issuer !== c.issuerUrl.href) {
        this.#log.warn({ event: 'issuer_mismatch_accepted', configured: c.issuerUrl.href, discovered: metadata.issuer }, 'the discovery document names another issuer; accepted (insecure_oidc_skip_issuer_verification), and ID tokens must carry that one');
      }
    }
    // Hand-given endpoints win over discovered ones; their own query strings (e.g. Crossid's
    // ?audience=…) survive, because openid-client adds parameters to these URLs rather than replacing them.
    if (c.loginUrl) metadata.authorization_endpoint = c.loginUrl.href;
    if (c.redeemUrl) metadata.token_endpoint = c.redeemUrl.href;
    if (c.userinfoUrl) metadata.userinfo_endpoint = c.userinfoUrl.href;
    if (c.jwksUrl) metadata.jwks_uri = c.jwksUrl.href;
    if (!metadata.authorization_endpoint || !metadata.token_endpoint) {
      throw new Error('the issuer metadata has no authorization_endpoint or token_endpoint');
    }
    // Local public keys (oidc_public_key_files) stand in for the JWKS; either way an ID token is verifiable.
    const localKeys = c.publicKeys ? localKeySet(c.publicKeys) : undefined;
    const verifiable = !!c.issuerUrl && (!!metadata.jwks_uri || !!localKeys);
    // openid-client checks ID tokens against `aud` = client_id, a nonce that must be there and any
    // algorithm the issuer lists, from the JWKS only: anything else, Portcullis checks itself.
    const ownCheck = verifiable && (!isPlainAudienceRule({ clientId: c.clientId, extraAudiences: c.extraAudiences, audienceClaims: c.audienceClaims })
      || !!localKeys || !!c.skipNonce || !!c.signingAlgs);
    const credential = this.#credential();
    this.#holdAgainst(metadata, credential);
    // RFC 8705 §5: an issuer may serve mTLS on other endpoints (mtls_endpoint_aliases); openid-client picks them.
    const clientMetadata = c.clientTls ? { use_mtls_endpoint_aliases: true } : undefined;
    const fixedAuth = credential?.auth ?? (c.clientAuth ? client.TlsClientAuth() : undefined);
    const tokenReplay = new TokenReplay();
    const make = (auth: client.ClientAuth): client.Configuration => {
      const cfg = new client.Configuration(metadata, c.clientId, clientMetadata, auth);
      cfg.timeout = HTTP_TIMEOUT_S;
      if (this.#usesHttp()) client.allowInsecureRequests(cfg);
      // Verify ID token signatures against the JWKS (openid-client skips this by default for
      // tokens from the token endpoint); the issue asks for signature, iss, aud, exp and nonce.
      if (metadata.jwks_uri) client.enableNonRepudiationChecks(cfg);
      if (this.#fetch) cfg[client.customFetch] = this.#fetch;
      if (!c.issuerUrl) cfg[client.customFetch] = setAsideIdToken(metadata.token_endpoint!, undefined, this.#fetch);
      else if (ownCheck) cfg[client.customFetch] = setAsideIdToken(metadata.token_endpoint!, SET_ASIDE_ID_TOKEN, this.#fetch);
      cfg[client.customFetch] = tokenReplay.wrap(metadata.token_endpoint!, cfg[client.customFetch] ?? ((url, options) => fetch(url, options as RequestInit)));
      return cfg;
    };
    const first = c.clientAuth?.method ?? firstClientAuthMethod(metadata.token_endpoint_auth_methods_supported);
    // Basic credentials as Go's oauth2 escapes them (basicauth.ts): Glewlwyd refuses a dashed client id otherwise.
    const configs = (): Pick<IssuerClients, 'basic' | 'post'> => {
      if (fixedAuth) { const one = make(fixedAuth); return { basic: one, post: one }; }
      return { basic: make(clientSecretBasicQueryEscaped(c.clientSecret)), post: make(client.ClientSecretPost(c.clientSecret)) };
    };
    return {
      ...configs(),
      verifiesIdToken: verifiable,
      hasUserinfo: !!metadata.userinfo_endpoint,
      knowsIssuer: !!c.issuerUrl,
      clientAuth: new ClientAuthChoice(first, (from, to, refusedWith) => this.#log.info(
        { event: 'token_auth_switch', from, to, refusedWith },
        `the token endpoint refused ${from} (${refusedWith}) and accepted ${to}; using ${to} from now on`,
      ), { fixed: !!fixedAuth }),
      idTokenVerifier: ownCheck ? new IdTokenVerifier({
        issuer: metadata.issuer, ...(localKeys ? { keys: localKeys } : { jwksUri: metadata.jwks_uri! }),
        algorithms: idTokenAlgorithms(metadata.id_token_signing_alg_values_supported, c.signingAlgs, !!localKeys),
        rule: { clientId: c.clientId, extraAudiences: c.extraAudiences, audienceClaims: c.audienceClaims },
        skipNonce: c.skipNonce,
        ...(this.#fetch ? { fetch: this.#fetch as unknown as typeof fetch } : {}),
      }) : undefined,
      tokenReplay,
      freshConfigs: configs,
      ...(localKeys ? { localKeys } : {}),
      endSessionEndpoint: metadata.end_session_endpoint,
      scopesSupported: metadata.scopes_supported,
      ...(credential ? { credential } : c.clientAuth ? { credential: { describe: () => this.#describeCertificate() } } : {}),
      pushAuthorizationRequests: !!c.pushedAuthorizationRequests || metadata.require_pushed_authorization_requests === true,
      dpop: !!c.dpop,
    };
  }

  /**
   * Throws IssuerShortfall when the issuer's metadata cannot serve what is configured. Without
   * discovery there is nothing to hold the configuration against but an endpoint to push to.
   */
  #holdAgainst(metadata: client.ServerMetadata, credential: PrivateKeyJwtCredential | AssertionFileCredential | undefined): void {
    const c = this.#cfg;
    const needs: IssuerNeeds = {
      ...(c.clientAuth ? { method: c.clientAuth.method } : {}),
      ...(credential instanceof PrivateKeyJwtCredential ? { key: credential.key } : {}),
      par: !!c.pushedAuthorizationRequests, dpop: !!c.dpop, certificateBound: !!c.clientTls, fapi2: !!c.fapi2,
    };
    const shortfalls = c.issuerUrl && !c.skipDiscovery
      ? issuerShortfalls(metadata, needs)
      : issuerShortfalls({ issuer: metadata.issuer }, { par: needs.par, dpop: false, certificateBound: false, fapi2: false });
    if (shortfalls.length) throw new IssuerShortfall(shortfalls);
  }

  /** The private_key_jwt credential, made once (its key file is watched from then on). */
  #credential(): PrivateKeyJwtCredential | AssertionFileCredential | undefined {
    const a = this.#cfg.clientAuth;
    if (!a || a.method !== 'private_key_jwt') return undefined;
    this.#signer ??= 'assertionFile' in a ? new AssertionFileCredential(a.assertionFile) : new PrivateKeyJwtCredential({
      keyFile: a.keyFile, certificateFile: a.certificateFile, audience: a.audience, fapi: this.#cfg.fapi2,
      onRotate: (key) => this.#log.info({ event: 'client_key_rotated', kid: key.kid, key: key.describe, file: a.keyFile }, 'the client key file changed; signing with the new key'),
    });
    return this.#signer;
  }

  /** For a refused mTLS client authentication: which certificate was presented. */
  #describeCertificate(): CredentialDescription {
    const t = this.#cfg.clientTls;
    let subject = '?';
    try { subject = t ? new X509Certificate(t.cert).subject.replace(/\n/g, ', ') : '?'; } catch { /* shown as ? */ }
    const method = this.#cfg.clientAuth?.method ?? 'tls_client_auth';
    return { method, hint: `does the issuer accept the TLS client certificate from ${t?.certFile} (subject ${subject})? ${method === 'tls_client_auth' ? 'Its CA must be one the issuer trusts, and the client registered with its subject (tls_client_auth_subject_dn or a SAN)' : 'The certificate itself must be registered with the client (its jwks)'}` };
  }

  /** What the 'issuer ready' line says: where endpoints come from and what identity rests on. */
  #describeMode(clients: IssuerClients): Record<string, unknown> {
    const c = this.#cfg;
    return {
      mode: !c.issuerUrl ? 'endpoints without issuer' : c.skipDiscovery ? 'endpoints' : 'discovery',
      issuer: c.issuerUrl?.href,
      identity: clients.verifiesIdToken ? 'ID token (signature verified)' : 'userinfo (with the access token)',
      ...(clients.knowsIssuer ? {} : { idToken: 'not used: no issuer URL or JWKS to check it against' }),
      ...(clients.idTokenVerifier ? { audience: 'oidc_extra_audiences / oidc_audience_claims (ID tokens verified by Portcullis)' } : {}),
      signOut: clients.endSessionEndpoint ? 'continues at the issuer\'s end_session_endpoint' : 'local only (the issuer lists no end_session_endpoint)',
      tokenEndpointAuth: clients.clientAuth.first,
      ...(clients.pushAuthorizationRequests ? { par: true } : {}),
      ...(clients.dpop ? { dpop: true } : {}),
      ...(c.clientTls ? { mtls: c.clientTls.certFile } : {}),
      ...(c.fapi2 ? { profile: 'FAPI 2.0 Security Profile' } : {}),
    };
  }

  /** Validation allowed http only on loopback or by explicit opt-in; here we only tell openid-client. */
  #usesHttp(): boolean {
    const c = this.#cfg;
    return [c.issuerUrl, c.loginUrl, c.redeemUrl, c.userinfoUrl, c.jwksUrl].some((u) => u?.protocol === 'http:');
  }
}

/**
 * Hands openid-client the token response without its ID token, which is dropped (`keepAs`
 * undefined) or moved to another field. Without an issuer URL an ID token cannot be checked (no
 * issuer to match its `iss`, no JWKS for its signature), so it proves nothing and identity comes from
 * userinfo; openid-client validates every ID token it is given and would fail the login on the
 * unknown `iss`. With a widened audience rule openid-client would refuse a token the rule accepts,
 * so Portcullis verifies it itself (IdTokenVerifier). PKCE and state are still checked as always.
 */
function setAsideIdToken(tokenEndpoint: string, keepAs: string | undefined, base?: client.CustomFetch): client.CustomFetch {
  const target = new URL(tokenEndpoint).href;
  return async (url, options) => {
    const res = await (base ? base(url, options) : fetch(url, options as RequestInit)); // CustomFetchOptions is RequestInit, typed apart
    if (url !== target || !res.ok) return res;
    const text = await res.text();
    let body: unknown;
    try { body = JSON.parse(text); } catch { body = undefined; }
    const headers = new Headers(res.headers);
    headers.delete('content-length');
    headers.delete('content-encoding'); // fetch already decoded the body
    if (!body || typeof body !== 'object' || !('id_token' in body)) return new Response(text, { status: res.status, statusText: res.statusText, headers });
    const rest: Record<string, unknown> = { ...body };
    if (keepAs) rest[keepAs] = rest.id_token;
    delete rest.id_token;
    return new Response(JSON.stringify(rest), { status: res.status, statusText: res.statusText, headers });
  };
}

/** An error as it may be logged: message and code, never a response body that could hold a token. */
export function describe(err: unknown): { message: string; code?: string; cause?: string } {
  const e = err as { message?: string; code?: string; cause?: { code?: string; message?: string } };
  const cause = e?.cause && typeof e.cause === 'object' && 'code' in e.cause ? String(e.cause.code ?? e.cause.message) : undefined;
  return { message: String(e?.message ?? err), code: e?.code, cause };
}
