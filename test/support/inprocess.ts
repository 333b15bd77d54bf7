import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { mergeSources } from '../../src/config/load.js';
import { validateConfig, type Config, type ProviderConfig } from '../../src/config/validate.js';
import { startDevIssuer, type DevAccount, type DevIssuer, type DevIssuerOptions } from '../../src/devissuer/issuer.js';
import { startEchoUpstream } from '../../src/demo/echo.js';
import { createLogger } from '../../src/log.js';
import { startPortcullis, type Running } from '../../src/run.js';
import type { ClientTimeouts } from '../../src/server/listen.js';
import { freePort } from './proxy.js';
import { ALICE, CLIENT_ID, CLIENT_SECRET } from './stack.js';

/** Log lines written by an in-process proxy, parsed. */
export class LogLines extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    for (const l of chunk.toString('utf8').split('\n')) if (l) this.lines.push(JSON.parse(l) as Record<string, unknown>);
    done();
  }
}

export interface InProcess {
  readonly url: string;
  readonly running: Running;
  readonly logs: LogLines;
  close(): Promise<void>;
}

/**
 * Portcullis inside the test process (the same code bin/portcullis runs, minus the CLI), configured
 * by OAUTH2_PROXY_* variables: pipeline tests start in milliseconds instead of a child process each.
 * `clientTimeouts` shortens the 408 limits, so a slow-client test takes a second, not a minute.
 */
/**
 * One more provider for an in-process proxy (until the alpha configuration reads lists): `env`
 * holds its OAUTH2_PROXY_* provider variables over the proxy's own, validated as the legacy
 * options are; the other fields (id, displayName, emailDomains, …) are set on the result.
 */
export type ExtraProvider = Partial<Omit<ProviderConfig, 'clientId' | 'clientSecret' | 'issuerUrl'>> & { readonly id: string; readonly env: Record<string, string> };

export async function startInProcess(env: Record<string, string>, port?: number, o: {
  clientTimeouts?: ClientTimeouts;
  /** Fields set on the first provider (its id, displayName, emailDomains, homeDomains, …). */
  firstProvider?: Partial<ProviderConfig>;
  /** Providers after the first, each from its own variables. */
  extraProviders?: readonly ExtraProvider[];
  /** False: return without waiting for every issuer (a test whose issuer is down on purpose). */
  waitIssuers?: boolean;
} = {}): Promise<InProcess> {
  const p = port ?? await freePort();
  const base = { OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${p}`, ...env };
  const result = validateConfig(mergeSources({ flags: {}, env: base, dotenv: {} }));
  if (!result.ok) throw new Error(`bad test configuration: ${result.errors.join('; ')}`);
  let config: Config = result.config;
  if (o.firstProvider || o.extraProviders?.length) {
    const first: ProviderConfig = { ...config.provider, ...o.firstProvider };
    const extra = (o.extraProviders ?? []).map(({ env: own, ...fields }) => {
      const r = validateConfig(mergeSources({ flags: {}, env: { ...base, ...own }, dotenv: {} }));
      if (!r.ok) throw new Error(`bad test configuration of provider ${fields.id}: ${r.errors.join('; ')}`);
      return { ...r.config.provider, ...fields } as ProviderConfig;
    });
    config = { ...config, provider: first, providers: [first, ...extra] };
  }
  const logs = new LogLines();
  const log = createLogger('info', logs);
  const running = await startPortcullis(config, log, { requestLog: logs, clientTimeouts: o.clientTimeouts });
  if (o.waitIssuers !== false) await running.issuerReady;
  return { url: running.url, running, logs, close: () => running.close(1000) };
}

export interface Peers {
  readonly issuer: DevIssuer;
  readonly upstreamUrl: string;
  readonly port: number;
  /** oauth2-proxy's "generic OIDC with discovery" variables for a proxy on `port`. */
  readonly env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * A real issuer (oidc-provider) and an echo upstream, for proxies that will listen on `ports` of
 * 127.0.0.1 (plain http), plus any other `redirectUris` the issuer must accept.
 */
export async function startPeers(o: { accounts?: DevAccount[]; ports?: number[]; redirectUris?: string[]; issuerOptions?: Partial<DevIssuerOptions> } = {}): Promise<Peers> {
  const ports = o.ports ?? [await freePort()];
  const issuer = await startDevIssuer({
    shape: 'hydra',
    accounts: o.accounts ?? [ALICE],
    clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [...ports.map((p) => `http://127.0.0.1:${p}/oauth2/callback`), ...o.redirectUris ?? []] }],
    ...o.issuerOptions,
  });
  const echo = await startEchoUpstream();
  return {
    issuer, upstreamUrl: echo.url, port: ports[0]!,
    env: {
      OAUTH2_PROXY_OIDC_ISSUER_URL: issuer.issuer,
      OAUTH2_PROXY_CLIENT_ID: CLIENT_ID,
      OAUTH2_PROXY_CLIENT_SECRET: CLIENT_SECRET,
      OAUTH2_PROXY_COOKIE_SECRET: randomBytes(32).toString('base64url'),
      OAUTH2_PROXY_COOKIE_SECURE: 'false',
      OAUTH2_PROXY_EMAIL_DOMAINS: '*',
      OAUTH2_PROXY_UPSTREAMS: echo.url,
      OAUTH2_PROXY_SCOPE: 'openid email profile groups',
    },
    close: async () => { await Promise.all([issuer.stop(), echo.close()]); },
  };
}
