// The targets the benchmark compares, all in front of the same upstream process: how each starts,
// how it gets a session cookie from a real login against the dev issuer, and the checks that it
// really serves the upstream's 200 body (not a login redirect or an error page) before it is measured.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DevClient } from '../src/devissuer/issuer.js';
import { HttpBrowser } from '../test/support/browser.js';
import { freePort } from '../test/support/proxy.js';
import { apacheAvailable, apacheRedirectUri, startApache, type ApacheSessionMode } from './apache.js';
import { get, waitHttp } from './client.js';
import { nginxAvailable, startNginx } from './nginx.js';
import { readPort, spawnChild, spawnNode, type Child } from './procs.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench

export const TARGET_NAMES = [
  'bare-http-proxy', 'bare-http-proxy-3', 'bare-node-http', 'nginx', 'apache-oidc-cookie', 'apache-oidc-shm',
  'express-openid-connect', 'portcullis', 'portcullis-no-log', 'portcullis-workers-2',
  'portcullis-log-file', 'portcullis-slow-reader', 'portcullis-redis',
  'auth-zero', 'portcullis-auth', 'nginx-auth-zero', 'nginx-auth-portcullis', 'nginx-auth-floor',
  'auth-zero-unseal', 'auth-zero-session', 'auth-zero-log', 'auth-floor', 'bare-http-proxy-log',
  'portcullis-baseline', 'portcullis-no-log-baseline', 'portcullis-slow-reader-baseline', 'portcullis-auth-baseline',
] as const;
export type TargetName = typeof TARGET_NAMES[number];

/** Targets that run another build of Portcullis (--baseline-bin), for before/after measurements of a change. */
export const BASELINE_TARGETS: readonly TargetName[] = ['portcullis-baseline', 'portcullis-no-log-baseline', 'portcullis-slow-reader-baseline', 'portcullis-auth-baseline'];

/** Targets asked `GET /oauth2/auth` (forward-auth) instead of `GET /`. */
export const FORWARD_AUTH_TARGETS: readonly TargetName[] = ['auth-zero', 'portcullis-auth', 'portcullis-auth-baseline', 'auth-zero-unseal', 'auth-zero-session', 'auth-zero-log', 'auth-floor'];

/** The zero-work server's floors (bench/zero-auth.ts): each does one piece of the work Portcullis's /oauth2/auth must do. */
export const FLOOR_MODES: Partial<Record<TargetName, string>> = {
  'auth-zero-unseal': 'unseal', 'auth-zero-session': 'session', 'auth-zero-log': 'log', 'auth-floor': 'floor',
};

/** The path wrk asks a target for. */
export function loadPath(name: TargetName): string {
  return FORWARD_AUTH_TARGETS.includes(name) ? '/oauth2/auth' : '/';
}

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
  'portcullis-log-file': 'the defaults with stdout (the request log) to a file',
  'portcullis-slow-reader': 'the defaults with stdout to a FIFO read by a slow reader in its own process (bench/slow-reader.ts: 4 KiB reads, every line parsed and kept, 1 ms pause after a full read); aux = the reader',
  'portcullis-slow-reader-baseline': 'portcullis-slow-reader from another build (--baseline-bin)',
  'portcullis-redis': 'the defaults with OAUTH2_PROXY_SESSION_STORE_TYPE=redis (a local redis-server 7, no persistence); aux = redis-server',
  'auth-zero': 'GET /oauth2/auth of a zero-work Node server: the same empty 202 and headers as Portcullis, the same cookie (bench/zero-auth.ts)',
  'portcullis-auth': 'GET /oauth2/auth of Portcullis (defaults, request log on) with a valid session cookie: forward-auth asked directly',
  'portcullis-auth-baseline': 'portcullis-auth from another build (--baseline-bin)',
  'nginx-auth-zero': 'nginx (1 worker, keep-alive to both) with auth_request to the zero-work 202 server, then proxy_pass to the upstream (bench/nginx.ts); aux = the 202 server',
  'nginx-auth-portcullis': 'the same nginx with auth_request to Portcullis\'s /oauth2/auth (defaults, request log on); aux = Portcullis',
  'nginx-auth-floor': 'floor: the same nginx with auth_request to the auth-floor server (bench/zero-auth.ts floor: session read as Portcullis does, the log line, a request id); aux = that server',
  'auth-zero-unseal': 'floor: auth-zero + an iron unseal of the same cookie with the same password on every request (no cache)',
  'auth-zero-session': 'floor: auth-zero + the session read as Portcullis reads it: SHA-256 of the cookie, looked up among the sessions this process unsealed (src/session/codec.ts)',
  'auth-zero-log': 'floor: auth-zero + Portcullis\'s request-log line (src/log.ts) through the same stdout sink (src/logsink.ts), on finish',
  'auth-floor': 'floor: auth-zero + the session read as Portcullis does + the log line + a fresh request id (randomUUID): all the work /oauth2/auth must do',
  'bare-http-proxy-log': 'floor: bare-http-proxy + Portcullis\'s request-log line through the same stdout sink, on finish',
};

type AuthKind = 'none' | 'portcullis' | 'eoc' | 'apache' | 'forward-auth';
const AUTH: Record<TargetName, AuthKind> = {
  'bare-http-proxy': 'none', 'bare-http-proxy-3': 'none', 'bare-node-http': 'none', nginx: 'none',
  'apache-oidc-cookie': 'apache', 'apache-oidc-shm': 'apache', 'express-openid-connect': 'eoc',
  portcullis: 'portcullis', 'portcullis-no-log': 'portcullis', 'portcullis-workers-2': 'portcullis',
  'portcullis-baseline': 'portcullis', 'portcullis-no-log-baseline': 'portcullis',
  'portcullis-log-file': 'portcullis', 'portcullis-slow-reader': 'portcullis', 'portcullis-slow-reader-baseline': 'portcullis', 'portcullis-redis': 'portcullis',
  'auth-zero': 'none', 'nginx-auth-zero': 'none', 'nginx-auth-floor': 'none',
  'auth-zero-unseal': 'none', 'auth-zero-session': 'none', 'auth-zero-log': 'none', 'auth-floor': 'none', 'bare-http-proxy-log': 'none', 'portcullis-auth': 'forward-auth', 'portcullis-auth-baseline': 'forward-auth', 'nginx-auth-portcullis': 'forward-auth',
};
/** Which cookies of the browser's jar are the target's session (the jar also holds the issuer's). */
const SESSION_COOKIE: Record<Exclude<AuthKind, 'none'>, RegExp> = {
  portcullis: /^_oauth2_proxy(_\d+)?$/,
  'forward-auth': /^_oauth2_proxy(_\d+)?$/,
  eoc: /^appSession(\.\d+)?$/,
  apache: /^mod_auth_openidc_session/,
};
/** The header in which the upstream sees who is signed in. */
const IDENTITY_HEADER: Record<Exclude<AuthKind, 'none' | 'forward-auth'>, string> = {
  portcullis: 'x-forwarded-user', eoc: 'x-forwarded-user', apache: 'oidc_claim_sub',
};

export function isAuthenticated(name: TargetName): boolean {
  return AUTH[name] !== 'none';
}

/** Why a target cannot run on this machine, or undefined. */
export function missingFor(name: TargetName): string | undefined {
  if (name.startsWith('nginx') && !nginxAvailable()) return 'nginx is not installed (bash bench/setup.sh installs nginx-light)';
  if (name.startsWith('apache') && !apacheAvailable()) return 'apache2 or mod_auth_openidc is not installed (bash bench/setup.sh installs them)';
  if (name === 'portcullis-redis' && !existsSync(REDIS)) return `${REDIS} is not installed (apt-get install redis-server)`;
  return undefined;
}

export interface Target {
  readonly name: TargetName;
  readonly child: Child;
  readonly url: string;
  /** The path the load asks for: / (a proxied GET), or /oauth2/auth (forward-auth asked directly). */
  readonly path: string;
  /** Processes the target relies on, measured apart (the auth service behind nginx, the log reader, Redis). */
  readonly aux: Child[];
  /** Where a login starts (the Portcullis behind nginx's auth_request). */
  readonly loginUrl?: string;
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
  /** The forward-auth service's own port, behind nginx's auth_request. */
  readonly authPort?: number;
  readonly client?: DevClient;
}

export async function plan(name: TargetName): Promise<Planned> {
  const port = await freePort();
  const authPort = name.startsWith('nginx-auth') ? await freePort() : undefined;
  const kind = AUTH[name];
  if (kind === 'none') return { name, port, authPort };
  const redirect = kind === 'forward-auth' ? `http://127.0.0.1:${authPort ?? port}/oauth2/callback`
    : kind === 'portcullis' ? `http://127.0.0.1:${port}/oauth2/callback`
    : kind === 'eoc' ? `http://127.0.0.1:${port}/callback` : apacheRedirectUri(port);
  return { name, port, authPort, client: { client_id: `bench-${name}`, client_secret: randomBytes(24).toString('base64url'), redirect_uris: [redirect] } };
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
  const aux: Child[] = [];
  let loginUrl: string | undefined;
  switch (p.name) {
    case 'bare-http-proxy':
    case 'bare-http-proxy-log':
    case 'bare-http-proxy-3':
    case 'bare-node-http': {
      const impl = p.name.startsWith('bare-http-proxy') && p.name !== 'bare-http-proxy-3' ? 'http-proxy' : p.name === 'bare-http-proxy-3' ? 'http-proxy-3' : 'node-http';
      const c = child = spawnNode(p.name, [...ctx.nodeArgs(p.name), join(HERE, 'bare-hop.js'), impl, String(ctx.upstreamPort), String(p.port), ...(p.name === 'bare-http-proxy-log' ? ['log'] : [])]);
      await readPort(child);
      readyMs = performance.now() - t0;
      if (p.name === 'bare-http-proxy-log') logLines = () => c.stdoutLines();
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
    case 'auth-zero':
    case 'auth-zero-unseal':
    case 'auth-zero-session':
    case 'auth-zero-log':
    case 'auth-floor': {
      const c = child = spawnNode(p.name, [...ctx.nodeArgs(p.name), join(HERE, 'zero-auth.js'), String(p.port), FLOOR_MODES[p.name] ?? 'zero'], {
        env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', PORTCULLIS_BENCH_COOKIE_SECRET: ctx.cookieSecret },
      });
      await readPort(child);
      readyMs = performance.now() - t0;
      if (p.name === 'auth-zero-log' || p.name === 'auth-floor') logLines = () => c.stdoutLines();
      break;
    }
    case 'nginx-auth-zero':
    case 'nginx-auth-floor': {
      // The same nginx and config as nginx-auth-portcullis; only the service behind auth_request differs.
      const floor = p.name === 'nginx-auth-floor';
      const zero = spawnNode(`${p.name}-202`, [...ctx.nodeArgs(p.name), join(HERE, 'zero-auth.js'), String(p.authPort), ...(floor ? ['floor'] : [])], floor ? {
        env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', PORTCULLIS_BENCH_COOKIE_SECRET: ctx.cookieSecret },
      } : {});
      aux.push(zero);
      await readPort(zero);
      child = startNginx(join(ctx.workDir, p.name), p.port, ctx.upstreamPort, p.authPort);
      readyMs = await waitHttp(child, `${url}/`, anyAnswer, t0);
      if (floor) logLines = () => zero.stdoutLines();
      break;
    }
    case 'nginx-auth-portcullis': {
      const auth = startPortcullis(p, p.authPort!, ctx, {});
      aux.push(auth);
      await waitHttp(auth, `http://127.0.0.1:${p.authPort}/ready`, (r) => r.status === 200, t0);
      child = startNginx(join(ctx.workDir, p.name), p.port, ctx.upstreamPort, p.authPort);
      readyMs = await waitHttp(child, `${url}/`, anyAnswer, t0);
      loginUrl = `http://127.0.0.1:${p.authPort}`;
      logLines = () => auth.stdoutLines();
      break;
    }
    case 'portcullis-log-file': {
      const file = join(ctx.workDir, `${p.name}.log`);
      const fd = openSync(file, 'w');
      child = startPortcullis(p, p.port, ctx, {}, fd);
      closeSync(fd);
      readyMs = await waitHttp(child, `${url}/ready`, (r) => r.status === 200, t0);
      logLines = () => countLines(file);
      break;
    }
    case 'portcullis-slow-reader':
    case 'portcullis-slow-reader-baseline': {
      mkdirSync(ctx.workDir, { recursive: true });
      const fifo = join(ctx.workDir, `${p.name}.fifo`);
      execFileSync('mkfifo', [fifo]);
      const reader = spawnNode(`${p.name}-reader`, [join(HERE, 'slow-reader.js'), fifo], { keepStdout: true });
      aux.push(reader);
      const fd = openSync(fifo, 'w'); // returns once the reader has opened its end
      child = startPortcullis(p, p.port, ctx, {}, fd);
      closeSync(fd);
      readyMs = await waitHttp(child, `${url}/ready`, (r) => r.status === 200, t0);
      logLines = () => Number(/"lines":(\d+)\}\s*$/.exec(reader.stdoutText())?.[1] ?? 0);
      break;
    }
    case 'portcullis-redis': {
      const redisPort = await freePort();
      const redis = spawnChild(`${p.name}-redis`, REDIS, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
      aux.push(redis);
      await waitTcp(redisPort, redis);
      child = startPortcullis(p, p.port, ctx, { OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_CONNECTION_URL: `redis://127.0.0.1:${redisPort}` });
      readyMs = await waitHttp(child, `${url}/ready`, (r) => r.status === 200, t0);
      const c = child;
      logLines = () => c.stdoutLines();
      break;
    }
    case 'portcullis':
    case 'portcullis-no-log':
    case 'portcullis-workers-2':
    case 'portcullis-baseline':
    case 'portcullis-no-log-baseline':
    case 'portcullis-auth':
    case 'portcullis-auth-baseline': {
      const c = child = startPortcullis(p, p.port, ctx, {
        ...(p.name === 'portcullis-no-log' || p.name === 'portcullis-no-log-baseline' ? { OAUTH2_PROXY_REQUEST_LOGGING: 'false' } : {}),
        ...(p.name === 'portcullis-workers-2' ? { OAUTH2_PROXY_WORKERS: '2' } : {}),
      });
      readyMs = await waitHttp(child, `${url}/ready`, (r) => r.status === 200, t0);
      // Each worker reaches the issuer on its own: a fresh connection goes to the next worker in
      // turn, so a run of 200s on fresh connections covers them all.
      if (p.name === 'portcullis-workers-2') for (let i = 0; i < 4; i++) readyMs = await waitHttp(child, `${url}/ready`, (r) => r.status === 200, t0);
      logLines = () => c.stdoutLines();
      break;
    }
  }
  return { name: p.name, child, url, path: loadPath(p.name), aux, loginUrl, readyMs, cookie: '', user: '', logLines };
}

export const REDIS = '/usr/bin/redis-server';

/** Portcullis as users start it (`OAUTH2_PROXY_*`, NODE_ENV=production), on `port`, with `extra` variables; stdout to `stdout` when given. */
function startPortcullis(p: Planned, port: number, ctx: StartContext, extra: Record<string, string>, stdout?: number): Child {
  return spawnNode(p.name, [...ctx.nodeArgs(p.name), BASELINE_TARGETS.includes(p.name) ? ctx.baselineBin! : ctx.bin], {
    cwd: ctx.cwd,
    stdout,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}`,
      OAUTH2_PROXY_OIDC_ISSUER_URL: ctx.issuer,
      OAUTH2_PROXY_CLIENT_ID: p.client!.client_id,
      OAUTH2_PROXY_CLIENT_SECRET: p.client!.client_secret,
      OAUTH2_PROXY_COOKIE_SECRET: ctx.cookieSecret,
      OAUTH2_PROXY_COOKIE_SECURE: 'false',
      OAUTH2_PROXY_EMAIL_DOMAINS: '*',
      // The same scopes as the peers ask for: a user who wants groups asks for them.
      OAUTH2_PROXY_SCOPE: 'openid email profile groups',
      OAUTH2_PROXY_UPSTREAMS: `http://127.0.0.1:${ctx.upstreamPort}/`,
      ...extra,
    },
  });
}

/** Waits until something accepts TCP connections on the port (Redis). */
async function waitTcp(port: number, child: Child, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (child.exited()) throw new Error(`${child.name} exited during start-up:\n${child.tail.join('\n')}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${child.name}: nothing listens on ${port} after ${timeoutMs} ms`);
}

/** Logs in through the target like a browser (node:http, navigation headers) and keeps its session cookie. */
export async function login(t: Target): Promise<void> {
  const kind = AUTH[t.name];
  if (kind === 'none') return;
  const browser = new HttpBrowser();
  const entry = kind === 'portcullis' || kind === 'forward-auth' ? `${t.loginUrl ?? t.url}/oauth2/start?rd=/` : `${t.url}/`;
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
  const kind = AUTH[t.name];
  if (t.path === '/oauth2/auth') {
    // Forward-auth asked directly: the empty 202 with the cookie, a refusal without it.
    const r = await get(`${t.url}/oauth2/auth`, headers);
    if (r.status !== 202 || r.body !== '') throw new Error(`GET /oauth2/auth with the session cookie gave ${r.status} ${JSON.stringify(r.body.slice(0, 200))}, not an empty 202`);
    const anon = await get(`${t.url}/oauth2/auth`);
    if (anon.status !== 401) throw new Error(`GET /oauth2/auth without the cookie gave ${anon.status}, not 401`);
    t.user = kind === 'none' ? '' : '(forward-auth)';
    return;
  }
  const r = await get(`${t.url}/`, headers);
  if (r.status !== 200 || r.body !== upstreamBody) {
    throw new Error(`GET / with the session cookie gave ${r.status} ${JSON.stringify(r.body.slice(0, 200))}, not the upstream's 200 body`);
  }
  const echo = await get(`${t.url}/__echo`, headers);
  if (echo.status !== 200) throw new Error(`GET /__echo gave ${echo.status}`);
  const seen = (JSON.parse(echo.body) as { headers: Record<string, string | undefined> }).headers;
  if (!seen['x-forwarded-for']) throw new Error(`the upstream saw no X-Forwarded-For: ${echo.body.slice(0, 300)}`);
  // Behind nginx's auth_request the upstream gets no identity (the README's set-up passes none).
  if (kind !== 'none' && kind !== 'forward-auth') {
    t.user = seen[IDENTITY_HEADER[kind]] ?? '';
    if (!t.user) throw new Error(`the upstream saw no ${IDENTITY_HEADER[kind]}: ${echo.body.slice(0, 500)}`);
  }
  if (kind === 'none' && !t.name.startsWith('nginx-auth')) return;
  const anon = await get(`${t.url}/`);
  if (anon.status === 200) throw new Error('GET / without the cookie was served (200): the target does not authenticate');
}
