// Glewlwyd (Debian `glewlwyd`, an OpenID Provider written in C) as a second, independent issuer: a
// fresh sqlite database from the package's own schema, a config file of ours bound to 127.0.0.1,
// then the oidc plugin, the clients and the users created through its admin API.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HttpBrowser, Response } from './browser.js';
import { freePort } from './proxy.js';

const GLEWLWYD = process.env.GLEWLWYD_PATH || '/usr/bin/glewlwyd';
const SQLITE = '/usr/bin/sqlite3'; // a dependency of the glewlwyd package
const SCHEMA = '/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3';
// The schema's administrator; the database is thrown away with the test.
const ADMIN = { username: 'admin', password: 'password' };

export interface GlewlwydClient {
  clientId: string; clientSecret: string; redirectUris: string[];
  /** token_endpoint_auth_method; both client_secret_basic and client_secret_post by default. */
  authMethods?: Array<'client_secret_basic' | 'client_secret_post'>;
}
export interface GlewlwydUser { username: string; password: string; name: string; email: string }

export interface Glewlwyd {
  /** http://127.0.0.1:PORT, without a trailing slash (Glewlwyd's external_url). */
  readonly url: string;
  /** The oidc plugin's issuer: discovery is at `${issuer}/.well-known/openid-configuration`. */
  readonly issuer: string;
  /** Everything Glewlwyd wrote (its console log). */
  readonly lines: string[];
  /** A counter from Glewlwyd's Prometheus endpoint (0 when absent). */
  metric(name: string): Promise<number>;
  /**
   * Does what Glewlwyd's login page does once the browser is there: signs the user in, grants the
   * client the scope it asked for, and continues the authorization request (with `g_continue`).
   */
  signIn(browser: HttpBrowser, loginPage: string, user: GlewlwydUser): Promise<Response>;
  stop(): Promise<void>;
}

function requireInstalled(): void {
  for (const [path, what] of [[GLEWLWYD, 'the glewlwyd binary'], [SQLITE, 'sqlite3'], [SCHEMA, "glewlwyd's sqlite schema"]] as const) {
    if (!existsSync(path)) {
      throw new Error(`${what} not found at ${path}: this test needs a real Glewlwyd. Install it with `
        + '`apt-get update && apt-get install -y glewlwyd` (.ci/run does this), or set GLEWLWYD_PATH.');
    }
  }
}

function configFile(dir: string, port: number, metricsPort: number): string {
  // Only what the test needs, everything on loopback; the package's /etc/glewlwyd/glewlwyd.conf
  // binds every interface and logs to /var/log.
  return [
    `port=${port}`,
    'bind_address="127.0.0.1"',
    `external_url="http://127.0.0.1:${port}"`,
    'login_url="login.html"',
    'api_prefix="api"',
    'log_mode="console"',
    'log_level="INFO"',
    'cookie_secure=0',
    'session_key="GLEWLWYD2_SESSION_ID"',
    'session_expiration=3600',
    'admin_scope="g_admin"',
    'profile_scope="g_profile"',
    'hash_algorithm="SHA512"',
    'user_module_path="/usr/lib/glewlwyd/user"',
    'client_module_path="/usr/lib/glewlwyd/client"',
    'user_auth_scheme_module_path="/usr/lib/glewlwyd/scheme"',
    'plugin_module_path="/usr/lib/glewlwyd/plugin"',
    'metrics_endpoint=true',
    'metrics_bind_address="127.0.0.1"',
    `metrics_endpoint_port=${metricsPort}`,
    `database = { type = "sqlite3"; path = "${join(dir, 'glewlwyd.db')}"; };`,
    '',
  ].join('\n');
}

/** Starts glewlwyd and resolves once it listens; rejects with its output if it exits first. */
function launch(conf: string, lines: string[]): Promise<ChildProcess> {
  const child = spawn(GLEWLWYD, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`glewlwyd did not start within 10 s:\n${lines.join('\n')}`)); }, 10_000);
    const onData = (buf: Buffer): void => {
      lines.push(...buf.toString('utf8').split('\n').filter(Boolean));
      if (lines.some((l) => l.includes('Glewlwyd started on port'))) { clearTimeout(timer); resolve(child); }
    };
    // Keep reading for the whole run: a full pipe would block Glewlwyd's logging.
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`glewlwyd exited (${code}):\n${lines.join('\n')}`)); });
  });
}

async function adminApi(base: string): Promise<(method: string, path: string, body: unknown) => Promise<void>> {
  const login = await fetch(`${base}/api/auth/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
  if (login.status !== 200) throw new Error(`glewlwyd admin login: HTTP ${login.status}`);
  const cookie = login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  return async (method, path, body) => {
    const res = await fetch(`${base}/api${path}`, { method, headers: { 'content-type': 'application/json', cookie }, body: JSON.stringify(body) });
    if (res.status !== 200) throw new Error(`glewlwyd ${method} /api${path}: HTTP ${res.status} ${await res.text()}`);
  };
}

export async function startGlewlwyd(o: { clients: GlewlwydClient[]; users: GlewlwydUser[] }): Promise<Glewlwyd> {
  requireInstalled();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-glewlwyd-'));
  const schema = spawnSync(SQLITE, [join(dir, 'glewlwyd.db')], { input: readFileSync(SCHEMA), encoding: 'utf8' });
  if (schema.status !== 0) throw new Error(`sqlite3 could not create glewlwyd's database: ${schema.stderr}`);

  const lines: string[] = [];
  let child: ChildProcess | undefined;
  let port = 0;
  let metricsPort = 0;
  // freePort() only finds a port that was free a moment ago: on a clash, try again.
  for (let attempt = 1; !child; attempt++) {
    port = await freePort();
    metricsPort = await freePort();
    const conf = join(dir, 'glewlwyd.conf');
    writeFileSync(conf, configFile(dir, port, metricsPort));
    lines.length = 0;
    try {
      child = await launch(conf, lines);
    } catch (err) {
      if (attempt >= 3) { rmSync(dir, { recursive: true, force: true }); throw err; }
    }
  }
  const running = child;
  const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const issuer = `${url}/api/oidc`;
  const stop = async (): Promise<void> => {
    if (running.exitCode === null && running.signalCode === null) running.kill('SIGTERM');
    const killer = setTimeout(() => running.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(killer);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const admin = await adminApi(url);
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const kid = randomUUID();
    await admin('POST', '/mod/plugin/', {
      module: 'oidc', name: 'oidc', display_name: 'OpenID Connect', enabled: true,
      parameters: {
        iss: issuer,
        'jwks-private': JSON.stringify({ keys: [{ ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256' }] }),
        'default-kid': kid,
        'jwks-show': true,
        'access-token-duration': 3600, 'refresh-token-duration': 1209600, 'code-duration': 600,
        'auth-type-code-enabled': true, 'auth-type-refresh-enabled': true,
        'pkce-allowed': true, 'pkce-method-plain-allowed': false,
        'subject-type': 'public',
        // Glewlwyd has no email scope out of the box; these put name and email in every ID token and userinfo.
        'name-claim': 'mandatory', 'email-claim': 'mandatory',
        'allowed-scope': ['openid'],
      },
    });
    for (const c of o.clients) {
      await admin('POST', '/client/', {
        client_id: c.clientId, name: c.clientId, enabled: true, confidential: true, client_secret: c.clientSecret,
        redirect_uri: c.redirectUris, authorization_type: ['code', 'refresh_token'],
        token_endpoint_auth_method: c.authMethods ?? ['client_secret_basic', 'client_secret_post'],
      });
    }
    for (const u of o.users) {
      await admin('POST', '/user/', { username: u.username, name: u.name, email: u.email, password: u.password, enabled: true, scope: ['openid'] });
    }
  } catch (err) {
    await stop();
    throw Object.assign(err as Error, { message: `${(err as Error).message}\nglewlwyd output:\n${lines.slice(-30).join('\n')}` });
  }

  const json = (body: unknown): { method: string; headers: Record<string, string>; body: string } => {
    const text = JSON.stringify(body);
    return { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }, body: text };
  };
  return {
    url, issuer, lines,
    async metric(name) {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
      return line ? Number(line.trim().split(/\s+/).pop()) : 0;
    },
    async signIn(browser, loginPage, user) {
      const page = new URL(loginPage);
      if (page.origin !== url || page.pathname !== '/login.html') throw new Error(`not Glewlwyd's login page: ${loginPage}`);
      const auth = await browser.request(`${url}/api/auth/`, json({ username: user.username, password: user.password }));
      if (auth.status !== 200) throw new Error(`glewlwyd sign-in of ${user.username}: HTTP ${auth.status}`);
      const clientId = page.searchParams.get('client_id') ?? '';
      const grant = await browser.request(`${url}/api/auth/grant/${encodeURIComponent(clientId)}`, { ...json({ scope: page.searchParams.get('scope') ?? '' }), method: 'PUT' });
      if (grant.status !== 200) throw new Error(`glewlwyd grant for ${clientId}: HTTP ${grant.status}`);
      const callback = page.searchParams.get('callback_url') ?? '';
      return browser.navigate(`${callback}${callback.includes('?') ? '&' : '?'}g_continue`);
    },
    stop,
  };
}
