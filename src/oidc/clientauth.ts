import * as client from 'openid-client';

/**
 * The two ways to send the client secret to the token endpoint (RFC 6749 §2.3.1), and those
 * without a secret (RFC 7523 private_key_jwt, RFC 8705 mTLS), which have nothing to fall back to.
 */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'tls_client_auth' | 'self_signed_tls_client_auth';

/**
 * The method to try first, from the issuer's `token_endpoint_auth_methods_supported`. Basic when it
 * is listed or when nothing is listed (RFC 8414: an issuer that says nothing supports basic);
 * post when only post is listed.
 */
export function firstClientAuthMethod(supported: readonly string[] | undefined): ClientAuthMethod {
  if (!supported?.length || supported.includes('client_secret_basic')) return 'client_secret_basic';
  return supported.includes('client_secret_post') ? 'client_secret_post' : 'client_secret_basic';
}

const REFUSALS = new Set(['invalid_client', 'unauthorized_client']);

/**
 * True when the token endpoint refused how the client authenticated, so the other method may work.
 * RFC 6749 says invalid_client; Glewlwyd 2.7 answers unauthorized_client to Basic credentials it does
 * not form-decode. A server that follows RFC 6749 §5.2 answers Basic with 401 and a WWW-Authenticate
 * challenge, which openid-client raises as its own error class, not as a ResponseBodyError.
 */
export function isClientAuthRefusal(err: unknown): boolean {
  if (err instanceof client.ResponseBodyError) return REFUSALS.has(err.error);
  if (err instanceof client.WWWAuthenticateChallengeError) {
    return err.status === 401 || err.cause.some((c) => REFUSALS.has(c.parameters.error ?? ''));
  }
  return false;
}

function refusalCode(err: unknown): string {
  if (err instanceof client.ResponseBodyError) return err.error;
  if (err instanceof client.WWWAuthenticateChallengeError) return err.cause.find((c) => c.parameters.error)?.parameters.error ?? `HTTP ${err.status}`;
  return 'refused';
}

/**
 * Which method goes first, learnt per process: once one was refused and the other worked, later
 * logins go straight to the one that works (Go's oauth2, in oauth2-proxy, remembers it the same way).
 */
export class ClientAuthChoice {
  #first: ClientAuthMethod;
  readonly #onSwitch: (from: ClientAuthMethod, to: ClientAuthMethod, refusedWith: string) => void;

  /** A method without a secret (private_key_jwt, mTLS): there is no other to fall back to. */
  readonly #fixed: boolean;

  constructor(first: ClientAuthMethod, onSwitch: (from: ClientAuthMethod, to: ClientAuthMethod, refusedWith: string) => void = () => {}, o: { fixed?: boolean } = {}) {
    this.#first = first;
    this.#onSwitch = onSwitch;
    this.#fixed = o.fixed ?? false;
  }

  get first(): ClientAuthMethod { return this.#first; }

  /**
   * Runs `attempt` with the first method and, when the token endpoint refuses the client
   * authentication, once more with the other. The server authenticates the client before it looks
   * at the code (RFC 6749 §4.1.3), so a refused attempt leaves the code unused for the retry.
   */
  async run<T>(attempt: (method: ClientAuthMethod) => Promise<T>): Promise<T> {
    const first = this.#first;
    if (this.#fixed) return attempt(first);
    try {
      return await attempt(first);
    } catch (err) {
      if (!isClientAuthRefusal(err)) throw err;
      const other: ClientAuthMethod = first === 'client_secret_basic' ? 'client_secret_post' : 'client_secret_basic';
      const result = await attempt(other);
      if (this.#first === first) {
        this.#first = other;
        this.#onSwitch(first, other, refusalCode(err));
      }
      return result;
    }
  }
}
