import assert from 'node:assert/strict';
import { startEchoUpstream } from '../../src/demo/echo.js';
import { startDevIssuer, type DevAccount, type DevIssuer, type DevIssuerOptions } from '../../src/devissuer/issuer.js';
import { HttpBrowser } from './browser.js';
import { startInProcess, type InProcess } from './inprocess.js';
import { freePort } from './proxy.js';
import { CLIENT_ID, CLIENT_SECRET } from './stack.js';

export const COOKIE_SECRET = 'x'.repeat(32);

export interface Rig {
  readonly issuer: DevIssuer;
  readonly proxy: InProcess;
  readonly account: DevAccount;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A real issuer (oidc-provider, options as given), an upstream (the echo one unless given) and
 * Portcullis in this process with oauth2-proxy's generic-OIDC variables plus `env`. The issuer
 * knows the proxy's callback, and its sign_out as a post-logout redirect URI.
 */
export async function startRig(o: RigOptions = {}): Promise<Rig> {
  // The proxy's port is chosen before the issuer (which must know the callback), so something else
  // can take it in between: then start everything again on another port.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRigOnce(o);
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE/.test(String((err as Error)?.message ?? err))) throw err;
    }
  }
}

export interface RigOptions {
  /** Added over the defaults; a function when it needs the issuer's URLs (or, awaited, something fetched from it). */
  env?: Record<string, string> | ((issuer: DevIssuer) => Record<string, string> | Promise<Record<string, string>>);
  issuer?: Partial<DevIssuerOptions>;
  account?: DevAccount;
  upstream?: { url: string; close(): Promise<void> };
  /** Host names the browser may reach the proxy by (the issuer accepts a callback on each); 127.0.0.1 by default. */
  hosts?: string[];
}

async function startRigOnce(o: RigOptions): Promise<Rig> {
  const port = await freePort();
  const account: DevAccount = o.account ?? { sub: 'rig-user-1', email: 'rita@example.com', email_verified: true, preferred_username: 'rita', groups: ['staff'] };
  const issuer = await startDevIssuer({
    shape: 'hydra', accounts: [account], ...o.issuer,
    clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: (o.hosts ?? ['127.0.0.1']).map((h) => `http://${h}:${port}/oauth2/callback`) }],
  });
  const upstream = o.upstream ?? await startEchoUpstream();
  let proxy: InProcess;
  try {
    proxy = await startInProcess({
      OAUTH2_PROXY_OIDC_ISSUER_URL: issuer.issuer,
      OAUTH2_PROXY_CLIENT_ID: CLIENT_ID,
      OAUTH2_PROXY_CLIENT_SECRET: CLIENT_SECRET,
      OAUTH2_PROXY_COOKIE_SECRET: COOKIE_SECRET,
      OAUTH2_PROXY_COOKIE_SECURE: 'false',
      OAUTH2_PROXY_EMAIL_DOMAINS: '*',
      OAUTH2_PROXY_UPSTREAMS: upstream.url,
      OAUTH2_PROXY_SCOPE: 'openid email profile groups',
      ...(typeof o.env === 'function' ? await o.env(issuer) : o.env),
    }, port);
  } catch (err) {
    // A given upstream outlives a failed attempt: the next one uses it.
    await Promise.all([issuer.stop(), o.upstream ? undefined : upstream.close()]);
    throw err;
  }
  return { issuer, proxy, account, port, close: async () => { await proxy.close(); await Promise.all([issuer.stop(), upstream.close()]); } };
}

/** Signs in through the proxy like a browser (non-interactive issuer); returns the browser with its cookies. */
export async function loginThrough(proxyUrl: string, rd = '/'): Promise<HttpBrowser> {
  // A proxy listens before its issuer's discovery is done, and a login in that moment gets 503
  // (seen in CI under load): give /ready up to 10 s to say so, then try the login whatever it said.
  for (const until = Date.now() + 10_000; Date.now() < until;) {
    const ready = await fetch(`${proxyUrl}/ready`).then((r) => r.status, () => 0);
    if (ready === 200 || ready === 404) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const b = new HttpBrowser();
  const res = await b.navigate(`${proxyUrl}/oauth2/start?rd=${encodeURIComponent(rd)}`);
  assert.equal(res.status, 200, `login should end on the upstream, got ${res.status} at ${res.url}: ${res.body.slice(0, 300)}`);
  return b;
}

/** Log lines of one event. */
export function events(proxy: InProcess, event: string): Array<Record<string, unknown>> {
  return proxy.logs.lines.filter((l) => l.event === event);
}
