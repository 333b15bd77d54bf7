// The targets the benchmark compares, all in front of the same upstream process: how each starts,
// how it gets a session cookie from a real login against the dev issuer, and the checks that it
// really serves the upstream's 200 body (not a login redirect or an error page) before it is measured.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DevClient } from '../src/devissuer/issuer.js';
import { HttpBrowser } from '../test/support/browser.js';
import { freePort } from '../test/support/proxy.js';
import { apacheAvailable, apacheRedirectUri, startApache, type ApacheSessionMode } from './apache.js';
import { get, waitHttp } from './client.js';
import { nginxAvailable, startNginx } from './nginx.js';
import { readPort, spawnNode, type Child } from './procs.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench

export const TARGET_NAMES = [
  'bare-http-proxy', 'bare-http-proxy-3', 'bare-node-http', 'nginx', 'apache-oidc-cookie', 'apache-oidc-shm',
  'express-openid-connect', 'portcullis', 'portcullis-no-log', 'portcullis-workers-2',
  'portcullis-baseline', 'portcullis-no-log-baseline',
] as const;
export type TargetName = typeof TARGET_NAMES[number];

/** Targets that run another build of Portcullis (--baseline-bin), for before/after measurements of a change. */
export const BASELINE_TARGETS: readonly TargetName[] = ['portcullis-baseline', 'portcullis-no-log-baseline'];

export const DESCRIPTIONS: Record<TargetName, string> = {
  'bare-http-proxy': 'node:http + http-proxy 1.18.1, nothing else (bench/bare-hop.ts)',
  'bare-http-proxy-3': 'the same hop with http-proxy-3, the maintained fork',
  'bare-node-http': 'the same hop with Portcullis\'s own forwarder on node:http (src/upstream/forward.ts), what Portcullis uses',
  nginx: 'nginx proxy_pass, 1 worker, upstream keepalive 64, no access log (bench/nginx.ts)',
  'apache-oidc-cookie': 'Apache event MPM + mod_auth_openidc, session in the cookie, access log on (bench/apache.ts)',
  'apache-oidc-shm': 'the same with the session in shared memory (server-cache + shm)',
  'express-openid-connect': 'Express 5 + express-openid-connect + http-proxy-middleware (bench/eoc.ts)',
  portcullis: 'Portcullis as users start it: defaults, request log on (stdout piped and drained by the bench)',
  'portcullis-no-log': 'the same with OAUTH2_PROXY_REQUEST_LOGGING=false',
  'portcullis-baseline': 'Portcullis as `portcullis`, from another build (--baseline-bin): the same run before and after a change',
  'portcullis-no-log-baseline': 'that build with OAUTH2_PROXY_REQUEST_LOGGING=false',
  'portcullis-workers-2': 'defaults with OAUTH2_PROXY_WORKERS=2: a primary and two workers (node:cluster), request log on; CPU is the three processes\' sum',
};

type AuthKind = 'none' | 'portcullis' | 'eoc' | 'apache';
const AUTH: Record<TargetName, AuthKind> = {
  'bare-http-proxy': 'none', 'bare-http-proxy-3': 'none', 'bare-node-http': 'none', nginx: 'none',
  'apache-oidc-cookie': 'apache', 'apache-oidc-shm': 'apache', 'express-openid-connect': 'eoc',
  portcullis: 'portcullis', 'portcullis-no-log': 'portcullis', 'portcullis-workers-2': 'portcullis',
  'portcullis-baseline': 'portcullis', 'portcullis-no-log-baseline': 'portcullis',
};
/** Which cookies of the browser's jar are the target's session (the jar also holds the issuer's). */
const SESSION_COOKIE: Record<Exclude<AuthKind, 'none'>, RegExp> = {
  portcullis: /^_oauth2_proxy(_\d+)?$/,
  eoc: /^appSession(\.\d+)?$/,
  apache: /^mod_auth_openidc_session/,
};
/** The header in which the upstream sees who is signed in. */
const IDENTITY_HEADER: Record<Exclude<AuthKind, 'none'>, string> = {
  portcullis: 'x-forwarded-user', eoc: 'x-forwarded-user', apache: 'oidc_claim_sub',
};

export function isAuthenticated(name: TargetName): boolean {
  return AUTH[name] !== 'none';
}

/** Why a target cannot run on this machine, or undefined. */
export function missingFor(name: TargetName): string | undefined {
  if (name === 'nginx' && !nginxAvailable()) return 'nginx is not installed (bash bench/setup.sh installs nginx-light)';
  if (name.startsWith('apache') && !apacheAvailable()) return 'apache2 or mod_auth_openidc is not installed (bash bench/setup.sh installs them)';
  return undefined;
}

export interface Target {
  readonly name: TargetName;
  readonly child: Child;
  readonly url: string;
  /** Milliseconds from spawn to the first good answer (Portcullis: /ready 200). */
  readonly readyMs: number;
  /** The Cookie header every benchmark request carries ('' for the unauthenticated hops). */
  cookie: string;
  /** What the upstream saw as the user, through /__echo ('' for the hops). */
  user: string;
  /** Lines of the target's request log so far (Portcullis: its stdout; Apache: its access log), if it keeps one. */
  logLines(): number | undefined;
}

function countLines(file: string): number {
  try {
    const buf = readFileSync(file);
    let n = 0;
    for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) n++;
    return n;
  } catch {
    return 0;
  }
}

/** A target planned before the issuer starts: its port is chosen now so the issuer knows its redirect URI. */
export interface Planned {
  readonly name: TargetName;
  readonly port: number;
  readonly client?: DevClient;
}

export async function plan(name: TargetName): Promise<Planned> {
  const port = await freePort();
  const kind = AUTH[name];
  if (kind === 'none') return { name, port };
  const redirect = kind === 'portcullis' ? `http://127.0.0.1:${port}/oauth2/callback`
    : kind === 'eoc' ? `http://127.0.0.1:${port}/callback` : apacheRedirectUri(port);
  return { name, port, client: { client_id: `bench-${name}`, client_secret: randomBytes(24).toString('base64url'), redirect_uris: [redirect] } };
}

export interface StartContext {
  upstreamPort: number;
  /** The dev issuer's issuer URL (with its trailing slash) and discovery URL. */
  issuer: string;
  discovery: string;
  /** A directory of this run's own, for the nginx and Apache prefixes. */
  workDir: string;
  /** Portcullis's entry point (bin/portcullis unless --bin). */
  bin: string;
  /** Another build's entry point, for the baseline targets (--baseline-bin). */
  baselineBin?: string;
  /** Cookie secret for the Portcullis targets (the sessions mode seals sessions with it too). */
  cookieSecret: string;
  largeSessions: boolean;
  /** Extra node flags for the Node targets (--cpu-prof). */
  nodeArgs: (name: string) => string[];
  /** Working directory for Portcullis, so a developer's ./.env cannot change its configuration. */
  cwd: string;
}

export async function start(p: Planned, ctx: StartContext): Promise<Target> {
  const t0 = performance.now();
  const url = `http://127.0.0.1:${p.port}`;
  const up = `http://127.0.0.1:${ctx.upstreamPort}`;
  const anyAnswer = (): boolean => true;
  let child: Child;
  let readyMs: number;
  let logLines = (): number | undefined => undefined;
  switch (p.name) {
    case 'bare-http-proxy':
    case 'bare-http-proxy-3':
    case 'bare-node-http': {
      const impl = p.name === 'bare-http-proxy' ? 'http-proxy' : p.name === 'bare-http-proxy-3' ? 'http-proxy-3' : 'node-http';
      child = spawnNode(p.name, [...ctx.nodeArgs(p.name), join(HERE, 'bare-hop.js'), impl, String(ctx.upstreamPort), String(p.port)]);
      await readPort(child);
      readyMs = performance.now() - t0;
      break;
    }
    case 'nginx':
      child = startNginx(join(ctx.workDir, 'nginx'), p.port, ctx.upstreamPort);
      readyMs = await waitHttp(child, `${url}/`, anyAnswer, t0);
      break;
    case 'apache-oidc-cookie':
    case 'apache-oidc-shm': {
      const mode: ApacheSessionMode = p.name === 'apache-oidc-cookie' ? 'cookie' : 'shm';
      child = startApache({
        dir: join(ctx.workDir, p.name), port: p.port, upstreamPort: ctx.upstreamPort, mode, metadataUrl: ctx.discovery,
        clientId: p.client!.client_id, clientSecret: p.client!.client_secret, cryptoPassphrase: randomBytes(24).toString('base64url'),
        largeSessions: ctx.largeSessions,
      });
      readyMs = await waitHttp(child, `${url}/`, anyAnswer, t0);
      const accessLog = join(ctx.workDir, p.name, 'access.log');
      logLines = () => countLines(accessLog);
      break;
    }
    case 'express-openid-connect':
      child = spawnNode(p.name, [...ctx.nodeArgs(p.name), join(HERE, 'eoc.js')], {
        env: {
          PATH: process.env.PATH ?? '', NODE_ENV: 'production', EOC_PORT: String(p.port), EOC_ISSUER: ctx.issuer,
          EOC_CLIENT_ID: p.client!.client_id, EOC_CLIENT_SECRET: p.client!.client_secret,
          EOC_SECRET: randomBytes(32).toString('base64url'), EOC_UPSTREAM: up,
        },
      });
      await readPort(child);
      readyMs = performance.now() - t0;
      break;
    case 'portcullis':
    case 'portcullis-no-log':
    case 'portcullis-workers-2':
    case 'portcullis-baseline':
    case 'portcullis-no-log-baseline':
      child = spawnNode(p.name, [...ctx.nodeArgs(p.name), BASELINE_TARGETS.includes(p.name) ? ctx.baselineBin! : ctx.bin], {
        cwd: ctx.cwd,
        env: {
          PATH: process.env.PATH ?? '',
          NODE_ENV: 'production',
          OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${p.port}`,
          OAUTH2_PROXY_OIDC_ISSUER_URL: ctx.issuer,
          OAUTH2_PROXY_CLIENT_ID: p.client!.client_id,
          OAUTH2_PROXY_CLIENT_SECRET: p.client!.client_secret,
          OAUTH2_PROXY_COOKIE_SECRET: ctx.cookieSecret,
          OAUTH2_PROXY_COOKIE_SECURE: 'false',
          OAUTH2_PROXY_EMAIL_DOMAINS: '*',
          // The same scopes as the peers ask for: a user who wants groups asks for them.
          OAUTH2_PROXY_SCOPE: 'openid email profile groups',
          OAUTH2_PROXY_UPSTREAMS: `${up}/`,
          ...(p.name === 'portcullis-no-log' || p.name === 'portcullis-no-log-baseline' ? { OAUTH2_PROXY_REQUEST_LOGGING: 'false' } : {}),
          ...(p.name === 'portcullis-workers-2' ? { OAUTH2_PROXY_WORKERS: '2' } : {}),
        },
      });
      readyMs = await waitHttp(child, `${url}/ready`, (r) => r.status === 200, t0);
      // Each worker reaches the issuer on its own: a fresh connection goes to the next worker in
      // turn, so a run of 200s on fresh connections covers them all.
      if (p.name === 'portcullis-workers-2') for (let i = 0; i < 4; i++) readyMs = await waitHttp(child, `${url}/ready`, (r) => r.status === 200, t0);
      logLines = () => child.stdoutLines();
      break;
  }
  return { name: p.name, child, url, readyMs, cookie: '', user: '', logLines };
}

/** Logs in through the target like a browser (node:http, navigation headers) and keeps its session cookie. */
export async function login(t: Target): Promise<void> {
  const kind = AUTH[t.name];
  if (kind === 'none') return;
  const browser = new HttpBrowser();
  const entry = kind === 'portcullis' ? `${t.url}/oauth2/start?rd=/` : `${t.url}/`;
  const final = await browser.navigate(entry);
  if (final.status !== 200) throw new Error(`login ended at ${final.url} with ${final.status}: ${final.body.slice(0, 300)} (history: ${browser.history.join(' → ')})`);
  const parts = [...browser.cookies('127.0.0.1')].filter(([name]) => SESSION_COOKIE[kind].test(name));
  if (parts.length === 0) throw new Error(`login finished but no session cookie matching ${SESSION_COOKIE[kind]} was set (history: ${browser.history.join(' → ')})`);
  t.cookie = parts.map(([n, v]) => `${n}=${v}`).join('; ');
}

export function requestHeaders(t: Target): Record<string, string> {
  return t.cookie ? { cookie: t.cookie } : {};
}

/**
 * With the exact headers the load generator sends: GET / returns the upstream's own 200 body,
 * /__echo shows a forwarded request (and, behind an authenticating target, the user); without the
 * cookie an authenticating target does not serve the upstream.
 */
export async function verify(t: Target, upstreamBody: string): Promise<void> {
  const headers = requestHeaders(t);
  const r = await get(`${t.url}/`, headers);
  if (r.status !== 200 || r.body !== upstreamBody) {
    throw new Error(`GET / with the session cookie gave ${r.status} ${JSON.stringify(r.body.slice(0, 200))}, not the upstream's 200 body`);
  }
  const echo = await get(`${t.url}/__echo`, headers);
  if (echo.status !== 200) throw new Error(`GET /__echo gave ${echo.status}`);
  const seen = (JSON.parse(echo.body) as { headers: Record<string, string | undefined> }).headers;
  if (!seen['x-forwarded-for']) throw new Error(`the upstream saw no X-Forwarded-For: ${echo.body.slice(0, 300)}`);
  const kind = AUTH[t.name];
  if (kind === 'none') return;
  t.user = seen[IDENTITY_HEADER[kind]] ?? '';
  if (!t.user) throw new Error(`the upstream saw no ${IDENTITY_HEADER[kind]}: ${echo.body.slice(0, 500)}`);
  const anon = await get(`${t.url}/`);
  if (anon.status === 200) throw new Error('GET / without the cookie was served (200): the target does not authenticate');
}
