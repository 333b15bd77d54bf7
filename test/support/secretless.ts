import { mergeSources } from '../../src/config/load.js';
import { validateConfig } from '../../src/config/validate.js';
import { startDevIssuer, type DevIssuer, type DevIssuerOptions } from '../../src/devissuer/issuer.js';
import { startEchoUpstream } from '../../src/demo/echo.js';
import { createLogger } from '../../src/log.js';
import { startPortcullis } from '../../src/run.js';
import { LogLines, type InProcess } from './inprocess.js';
import { freePort } from './proxy.js';

export const SECRETLESS_CLIENT = 'portcullis-secretless';
export const COOKIE_SECRET = 'y'.repeat(32);
export const ACCOUNT = { sub: 'sam-1', email: 'sam@example.com', email_verified: true, preferred_username: 'sam', groups: ['staff'] };

export interface Secretless {
  readonly issuer: DevIssuer;
  readonly proxy: InProcess;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A real issuer (oidc-provider) with one client registered without a secret (`client` metadata:
 * its token_endpoint_auth_method, jwks, ...), an echo upstream, and Portcullis in this process
 * with `env` over generic-OIDC variables (no client secret). Unlike startInProcess this does not
 * wait for the issuer: a proxy the issuer cannot serve never becomes ready (`ready` says so).
 * `clientId`: the client's id at the issuer and the proxy's (a page's own, e.g. `portcullis`).
 */
export async function startSecretless(o: { issuer?: Partial<DevIssuerOptions>; client: Record<string, unknown>; env: (issuer: DevIssuer) => Record<string, string>; https?: boolean; waitReady?: boolean; clientId?: string }): Promise<Secretless> {
  const port = await freePort();
  const issuer = await startDevIssuer({
    shape: 'hydra', accounts: [ACCOUNT], ...o.issuer,
    clients: [{ client_id: o.clientId ?? SECRETLESS_CLIENT, client_secret: '', redirect_uris: [`http://127.0.0.1:${port}/oauth2/callback`], metadata: o.client }],
  });
  const upstream = await startEchoUpstream();
  const result = validateConfig(mergeSources({
    flags: {}, dotenv: {},
    env: {
      OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}`,
      OAUTH2_PROXY_OIDC_ISSUER_URL: issuer.issuer,
      OAUTH2_PROXY_CLIENT_ID: o.clientId ?? SECRETLESS_CLIENT,
      OAUTH2_PROXY_COOKIE_SECRET: COOKIE_SECRET,
      OAUTH2_PROXY_COOKIE_SECURE: 'false',
      OAUTH2_PROXY_EMAIL_DOMAINS: '*',
      OAUTH2_PROXY_UPSTREAMS: upstream.url,
      ...o.env(issuer),
    },
  }));
  if (!result.ok) {
    await Promise.all([issuer.stop(), upstream.close()]);
    throw new Error(`bad test configuration: ${result.errors.join('; ')}`);
  }
  const logs = new LogLines();
  const running = await startPortcullis(result.config, createLogger('info', logs), { requestLog: logs });
  const proxy: InProcess = { url: running.url, running, logs, close: () => running.close(1000) };
  if (o.waitReady ?? true) await running.issuerReady;
  return { issuer, proxy, port, close: async () => { await proxy.close(); await Promise.all([issuer.stop(), upstream.close()]); } };
}

/** The first log line that `match` accepts, waiting for it (bounded). */
export async function logLine(proxy: InProcess, match: (l: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const line = proxy.logs.lines.find(match);
    if (line) return line;
    if (Date.now() > until) throw new Error(`no such log line within ${timeoutMs} ms; lines: ${proxy.logs.lines.map((l) => l.msg).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
