import { randomBytes } from 'node:crypto';
import { startDevIssuer, type DevAccount, type DevIssuer, type DevIssuerOptions } from '../../src/devissuer/issuer.js';
import { startEchoUpstream } from '../../src/demo/echo.js';
import { freePort, startProxy, type ProxyProcess } from './proxy.js';

export const CLIENT_ID = 'portcullis-test';
export const CLIENT_SECRET = 'test-secret-for-portcullis-0123456789';

export const ALICE: DevAccount = {
  sub: 'alice-subject-0001', email: 'alice@example.com', email_verified: true,
  name: 'Alice', preferred_username: 'alice', groups: ['admins', 'devs'],
};

export interface Stack {
  readonly issuer: DevIssuer;
  readonly proxy: ProxyProcess;
  readonly upstreamUrl: string;
  readonly cookieSecret: string;
  close(): Promise<void>;
}

/**
 * A real issuer (oidc-provider), an echo upstream and bin/portcullis as a child process.
 * `env(issuer, upstreamUrl, port)` gives the proxy's variables; the defaults are oauth2-proxy's
 * "generic OIDC with discovery" set.
 */
export async function startStack(o: StackOptions = {}): Promise<Stack> {
  // The proxy's port is chosen before the issuer (which must know the callback), and a busy machine
  // can hand it to another socket in between (even as the local port of an outgoing connection):
  // then start everything again on another port.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startStackOnce(o);
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE/.test(String((err as Error)?.message ?? err))) throw err;
    }
  }
}

interface StackOptions {
  shape?: DevIssuerOptions['shape'];
  accounts?: DevAccount[];
  issuerOptions?: Partial<DevIssuerOptions>;
  /** Replaces the default variables entirely. */
  env?: (issuer: DevIssuer, upstreamUrl: string, port: number) => Record<string, string>;
  /** Added over the default variables. */
  extraEnv?: (issuer: DevIssuer, upstreamUrl: string, port: number) => Record<string, string>;
  waitReady?: boolean;
  /** Start the proxy while the issuer is down (it is started again with issuer.start()). */
  issuerDownAtStart?: boolean;
}

async function startStackOnce(o: StackOptions): Promise<Stack> {
  const port = await freePort();
  const issuer = await startDevIssuer({
    shape: o.shape ?? 'hydra',
    accounts: o.accounts ?? [ALICE],
    clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`http://127.0.0.1:${port}/oauth2/callback`] }],
    ...o.issuerOptions,
  });
  if (o.issuerDownAtStart) await issuer.stop();
  const echo = await startEchoUpstream();
  const cookieSecret = randomBytes(32).toString('base64url');
  const env = o.env ? o.env(issuer, echo.url, port) : {
    OAUTH2_PROXY_OIDC_ISSUER_URL: issuer.issuer,
    OAUTH2_PROXY_CLIENT_ID: CLIENT_ID,
    OAUTH2_PROXY_CLIENT_SECRET: CLIENT_SECRET,
    OAUTH2_PROXY_REDIRECT_URL: `http://127.0.0.1:${port}/oauth2/callback`,
    OAUTH2_PROXY_COOKIE_SECRET: cookieSecret,
    OAUTH2_PROXY_COOKIE_SECURE: 'false',
    OAUTH2_PROXY_EMAIL_DOMAINS: '*',
    OAUTH2_PROXY_UPSTREAMS: echo.url,
    // Like Keycloak and others, the dev issuer releases groups only for the groups scope.
    OAUTH2_PROXY_SCOPE: 'openid email profile groups',
    ...o.extraEnv?.(issuer, echo.url, port),
  };
  let proxy: ProxyProcess;
  try {
    proxy = await startProxy({ OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}`, OAUTH2_PROXY_COOKIE_SECRET: cookieSecret, ...env });
  } catch (err) {
    await Promise.all([issuer.stop(), echo.close()]);
    throw err;
  }
  if (o.waitReady ?? !o.issuerDownAtStart) await waitReady(proxy.url);
  return {
    issuer, proxy, upstreamUrl: echo.url, cookieSecret,
    close: async () => {
      await proxy.stop();
      await Promise.all([issuer.stop(), echo.close()]);
    },
  };
}

/** Polls /ready (bounded) until the proxy has reached its issuer. */
export async function waitReady(proxyUrl: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      if ((await fetch(`${proxyUrl}/ready`)).status === 200) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${proxyUrl}/ready did not turn 200 within ${timeoutMs} ms`);
}

/** The echo upstream's JSON view of the request it received. */
export interface Echoed { method: string; url: string; headers: Record<string, string | string[]> }
