import { rootCertificates } from 'node:tls';
import type { OptionName } from '../options.js';
import type { OptionReader } from '../reader.js';
import { parseDuration } from '../values.js';
import type { RedisAddress, RedisConfig, SessionStoreConfig } from '../types.js';

export type { RedisAddress, RedisConfig, SessionStoreConfig };

/** session_store_type and the redis_* options (oauth2-proxy's names and shapes). */
export function validateSessionStore(r: OptionReader): { sessionStore: SessionStoreConfig } {
  const type = r.enumOf('session_store_type') as SessionStoreConfig['type'];
  const sentinel = r.bool('redis_use_sentinel');
  const cluster = r.bool('redis_use_cluster');
  const url = r.str('redis_connection_url');
  const password = r.str('redis_password') || undefined;
  const username = r.str('redis_username') || undefined;
  const minimal = readMinimal(r, type);
  const idle = r.str('redis_connection_idle_timeout');
  const idleTimeoutS = /^\d{1,6}$/.test(idle) ? Number(idle) : (r.fail('redis_connection_idle_timeout', 'a whole number of seconds, e.g. 240 (0: no PINGs)'), 0);

  const wanted = type === 'redis' || url !== '' || sentinel || cluster;
  if (!wanted) return { sessionStore: { type, ...(minimal ? { minimal } : {}) } };
  const tlsOptions = redisTls(r);
  const common = { password, idleTimeoutS, ...(tlsOptions ? { tlsOptions } : {}) };
  if (sentinel && cluster) r.errors.push('set only one of OAUTH2_PROXY_REDIS_USE_SENTINEL and OAUTH2_PROXY_REDIS_USE_CLUSTER');

  let redis: RedisConfig | undefined;
  if (sentinel) {
    const masterName = r.str('redis_sentinel_master_name');
    if (masterName === '') r.missing('redis_sentinel_master_name', 'the master name your Sentinels monitor, because OAUTH2_PROXY_REDIS_USE_SENTINEL=true');
    const sentinels = hostPorts(r, 'redis_sentinel_connection_urls', 'the Sentinels, because OAUTH2_PROXY_REDIS_USE_SENTINEL=true');
    const first = safeUrl(r.list('redis_sentinel_connection_urls')[0] ?? '');
    const inUrl = first?.password ? decodeURIComponent(first.password) : undefined;
    redis = {
      mode: 'sentinel', masterName, sentinels, sentinelPassword: r.str('redis_sentinel_password') || inUrl, ...common,
      ...(username ? { username } : {}), ...(first?.protocol === 'rediss:' ? { tls: true } : {}),
    };
  } else if (cluster) {
    const first = safeUrl(r.list('redis_cluster_connection_urls')[0] ?? '');
    redis = {
      mode: 'cluster', nodes: hostPorts(r, 'redis_cluster_connection_urls', 'some nodes of the cluster, because OAUTH2_PROXY_REDIS_USE_CLUSTER=true'), ...common,
      ...(username ? { username } : {}), ...(first?.protocol === 'rediss:' ? { tls: true } : {}),
    };
  } else if (url === '') {
    r.missing('redis_connection_url', 'the Redis server, because OAUTH2_PROXY_SESSION_STORE_TYPE=redis (or set OAUTH2_PROXY_REDIS_USE_SENTINEL / OAUTH2_PROXY_REDIS_USE_CLUSTER)');
  } else {
    const standalone = parseStandalone(url);
    if (!standalone) r.fail('redis_connection_url', 'redis://[user:password@]host:port[/db], rediss://… for TLS, or unix:///path/to/redis.sock');
    else redis = { mode: 'standalone', ...standalone, ...common, username: username ?? standalone.username, password: password ?? standalone.password };
  }
  if (type === 'cookie' && redis) {
    r.warnings.push('OAUTH2_PROXY_SESSION_STORE_TYPE=cookie with Redis configured: sessions stay in cookies, and Redis keeps only revocations (back-channel logout, portcullis sessions revoke) for every replica');
  }
  if (!sentinel && r.str('redis_sentinel_password') !== '') r.warnings.push('OAUTH2_PROXY_REDIS_SENTINEL_PASSWORD has no effect without OAUTH2_PROXY_REDIS_USE_SENTINEL=true');
  return { sessionStore: { type, redis, ...(minimal ? { minimal } : {}) } };
}

/** redis_ca_path read at start-up (each file must hold a certificate), and redis_insecure_skip_tls_verify. */
function redisTls(r: OptionReader): RedisConfig['tlsOptions'] {
  const insecure = r.bool('redis_insecure_skip_tls_verify');
  const file = r.str('redis_ca_path');
  let ca: string[] | undefined;
  if (file !== '') {
    try {
      const found = r.readFile(file).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
      if (found) ca = [...rootCertificates, ...found];
      else r.fail('redis_ca_path', `a PEM file of CA certificates (${file} holds no -----BEGIN CERTIFICATE----- block)`);
    } catch (e) {
      r.fail('redis_ca_path', `a readable PEM file (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
  }
  if (insecure) r.warnings.push('OAUTH2_PROXY_REDIS_INSECURE_SKIP_TLS_VERIFY=true: Redis\'s certificate is not checked, so anyone on the path can read and change the sessions; trust its CA with OAUTH2_PROXY_REDIS_CA_PATH instead');
  if (!insecure && !ca) return undefined;
  return { ...(ca ? { ca } : {}), ...(insecure ? { insecure } : {}) };
}

/**
 * session_cookie_minimal (oauth2-proxy's rule, cookie sessions only): no token is kept, so the
 * options that need one are refused rather than left without what they send.
 */
function readMinimal(r: OptionReader, type: SessionStoreConfig['type']): boolean {
  if (!r.bool('session_cookie_minimal')) return false;
  const needs = (['pass_access_token', 'pass_authorization_header', 'set_authorization_header'] as const).filter((n) => r.bool(n));
  for (const n of needs) r.fail('session_cookie_minimal', `false with OAUTH2_PROXY_${n.toUpperCase()}=true, which sends a token the session would not keep`);
  const refresh = parseDuration(r.str('cookie_refresh'));
  if (refresh.ok && refresh.value > 0) {
    r.fail('session_cookie_minimal', 'false with OAUTH2_PROXY_COOKIE_REFRESH set: a refresh needs the refresh token the session would not keep');
  }
  if (type !== 'cookie') {
    r.warnings.push('OAUTH2_PROXY_SESSION_COOKIE_MINIMAL applies to cookie sessions only: with Redis the tokens stay in Redis, never in the cookie');
    return false;
  }
  return true;
}

function safeUrl(v: string): URL | undefined {
  try { return new URL(v); } catch { return undefined; }
}

function parseStandalone(v: string): { address: RedisAddress; tls: boolean; db: number; username?: string; password?: string } | undefined {
  const u = safeUrl(v);
  if (!u) return undefined;
  const credentials = { username: decodeURIComponent(u.username) || undefined, password: decodeURIComponent(u.password) || undefined };
  if (u.protocol === 'unix:') {
    return u.hostname === '' && u.pathname.startsWith('/') && u.pathname.length > 1 ? { address: { path: decodeURIComponent(u.pathname) }, tls: false, db: 0, ...credentials } : undefined;
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') return undefined;
  const db = u.pathname === '' || u.pathname === '/' ? 0 : /^\/\d{1,2}$/.test(u.pathname) ? Number(u.pathname.slice(1)) : NaN;
  if (!u.hostname || Number.isNaN(db)) return undefined;
  return { address: { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 6379) }, tls: u.protocol === 'rediss:', db, ...credentials };
}

function hostPorts(r: OptionReader, name: OptionName, why: string): Array<{ host: string; port: number }> {
  const list = r.list(name);
  if (list.length === 0) r.missing(name, `${why}: redis://host:port, comma-separated`);
  const out: Array<{ host: string; port: number }> = [];
  for (const entry of list) {
    const u = safeUrl(entry);
    if (!u || (u.protocol !== 'redis:' && u.protocol !== 'rediss:') || !u.hostname || (u.pathname !== '' && u.pathname !== '/')) {
      r.fail(name, `redis://host:port for each entry (${JSON.stringify(entry)} is not)`);
      continue;
    }
    out.push({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 6379) });
  }
  return out;
}
