// The Apache + mod_auth_openidc peer (Debian apache2 + libapache2-mod-auth-openidc): its own
// ServerRoot and config in a temporary directory, loopback only, the event MPM with Debian's
// default process and thread counts, an access log (Portcullis logs every request too), and
// mod_proxy_http in front of the upstream. Two session modes are measured as two targets:
//   cookie  OIDCSessionType client-cookie: the whole session, encrypted, in the browser's cookie
//   shm     OIDCSessionType server-cache + OIDCCacheType shm: a session id in the cookie, the
//           session in shared memory that all worker processes see
// Stop it with SIGTERM to the parent (procs.stop): SIGKILL would leave its workers behind.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnChild, type Child } from './procs.js';

export const APACHE = '/usr/sbin/apache2';
const MODULES = '/usr/lib/apache2/modules';
export type ApacheSessionMode = 'cookie' | 'shm';

export function apacheAvailable(): boolean {
  return existsSync(APACHE) && existsSync(join(MODULES, 'mod_auth_openidc.so'));
}

export interface ApacheOptions {
  dir: string;
  port: number;
  upstreamPort: number;
  mode: ApacheSessionMode;
  /** The dev issuer's discovery document URL. */
  metadataUrl: string;
  clientId: string;
  clientSecret: string;
  cryptoPassphrase: string;
  /** Sessions of several KB (--session-size): larger shm cache entries. */
  largeSessions: boolean;
}

export function apacheConfig(o: ApacheOptions): string {
  const root = process.getuid?.() === 0;
  return `# written by bench/apache.ts
ServerRoot ${o.dir}
DefaultRuntimeDir ${o.dir}
PidFile ${o.dir}/apache.pid
ServerName 127.0.0.1
Listen 127.0.0.1:${o.port}
ErrorLog ${o.dir}/error.log
LogLevel warn
LoadModule mpm_event_module ${MODULES}/mod_mpm_event.so
LoadModule authn_core_module ${MODULES}/mod_authn_core.so
LoadModule authz_core_module ${MODULES}/mod_authz_core.so
LoadModule authz_user_module ${MODULES}/mod_authz_user.so
LoadModule proxy_module ${MODULES}/mod_proxy.so
LoadModule proxy_http_module ${MODULES}/mod_proxy_http.so
LoadModule auth_openidc_module ${MODULES}/mod_auth_openidc.so
${root ? 'User www-data\nGroup www-data' : ''}
# A fixed pool: 2 worker processes (Debian's StartServers) × 64 threads (Debian's ThreadLimit), never
# forked or stopped. With Debian's mpm_event.conf as it is (25 threads each, spare-thread limits)
# Apache forked and stopped workers between rounds, and a worker with no idle thread closed its
# keep-alive connections ("all workers busy"); wrk counted both as read errors. 64 threads per
# worker serve even all 32 connections landing on one worker.
ServerLimit 2
StartServers 2
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 128
MinSpareThreads 32
MaxSpareThreads 128
MaxConnectionsPerChild 0
# Client keep-alive without a request limit, as on every other target (Debian's default is 100).
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 65
# Room for a large (chunked) session cookie (the default limit of one header line is 8190 bytes).
LimitRequestFieldSize 65536
LogFormat "%h %l %u %t \\"%r\\" %>s %b %D" bench
CustomLog ${o.dir}/access.log bench

OIDCProviderMetadataURL ${o.metadataUrl}
OIDCClientID ${o.clientId}
OIDCClientSecret ${o.clientSecret}
OIDCRedirectURI http://127.0.0.1:${o.port}/oidc-callback
OIDCCryptoPassphrase ${o.cryptoPassphrase}
OIDCScope "openid email profile groups"
OIDCPKCEMethod S256
OIDCRemoteUserClaim sub
# The bench's rounds may last longer than the default 300 s of inactivity.
OIDCSessionInactivityTimeout 3600
${o.mode === 'cookie' ? 'OIDCSessionType client-cookie' : 'OIDCSessionType server-cache\nOIDCCacheType shm'}
${o.mode === 'shm' && o.largeSessions ? 'OIDCCacheShmEntrySizeMax 65536\nOIDCCacheShmMax 500' : ''}

<Location />
  AuthType openid-connect
  Require valid-user
</Location>
ProxyPass /oidc-callback !
ProxyPass / http://127.0.0.1:${o.upstreamPort}/
`;
}

export function apacheRedirectUri(port: number): string {
  return `http://127.0.0.1:${port}/oidc-callback`;
}

/** Starts Apache in the foreground: the parent and its forked workers share one process group. */
export function startApache(o: ApacheOptions): Child {
  mkdirSync(o.dir, { recursive: true });
  chmodSync(o.dir, 0o755); // workers run as www-data when started by root
  const conf = join(o.dir, 'httpd.conf');
  writeFileSync(conf, apacheConfig(o));
  return spawnChild(`apache-oidc-${o.mode}`, APACHE, ['-d', o.dir, '-f', conf, '-D', 'FOREGROUND']);
}
