import { availableParallelism } from 'node:os';
import { AddressRanges } from '../../access/cidr.js';
import { defaultOf } from '../options.js';
import type { OptionReader } from '../reader.js';
import { parseListenAddress } from '../listen.js';
import { validateTls } from './tls.js';
import type { ServerPart } from '../types.js';

export type { ServerPart };

/** More than a million open connections is beyond any one process's descriptors: surely a typo. */
const MAX_CONNECTIONS_LIMIT = 1_000_000;

/** oauth2-proxy's GCP health checks: these paths, for Google's load balancer's User-Agent. */
const GCP_HEALTH_PATHS = ['/liveness_check', '/readiness_check'];
const GCP_USER_AGENT = 'GoogleHC/1.0';

/** oauth2-proxy's accepted real_client_ip_header values (pkg/ip/realclientip.go). */
const CLIENT_IP_HEADERS = ['X-Real-IP', 'X-Forwarded-For', 'X-ProxyUser-IP', 'X-Envoy-External-Address', 'CF-Connecting-IP'];

/** Listeners, the proxy's own paths, and whom to believe about the client. */
export function validateServer(r: OptionReader): ServerPart {
  const httpAddress = r.str('http_address');
  const listen = parseListenAddress(httpAddress);
  if (!listen) r.fail('http_address', 'host:port, http://host:port, :port, unix:///path/to.sock or unix:///path/to.sock,mode=0660');
  const https = validateTls(r);
  // oauth2-proxy's flags serve only HTTPS once certificates are set; an http_address given as well
  // adds the plain listener (the one force_https redirects from).
  const httpGiven = r.raw.http_address!.origin !== 'default';
  const serveHttp = !https || httpGiven;
  const forceHttps = r.bool('force_https');
  if (https && httpGiven && !forceHttps) {
    r.warnings.push(`plain HTTP on ${httpAddress} serves the same pages as HTTPS; set OAUTH2_PROXY_FORCE_HTTPS=true to redirect it to HTTPS`);
  }

  const reverseProxy = r.bool('reverse_proxy');
  const entries = r.list('trusted_proxy_ips');
  const { ranges, bad } = AddressRanges.parse(entries);
  if (bad.length) {
    r.fail('trusted_proxy_ips', `IP addresses or CIDR ranges such as 10.0.0.0/8, 192.168.1.7 or fd00::/8 (${bad.map((b) => `${JSON.stringify(b.entry)}: ${b.why}`).join('; ')})`);
  } else if (entries.length === 0 && reverseProxy) {
    r.fail('trusted_proxy_ips', 'the addresses of your load balancers: with none, OAUTH2_PROXY_REVERSE_PROXY=true would believe no one (oauth2-proxy\'s trust-everyone is 0.0.0.0/0,::/0, which lets any client that reaches the proxy choose its own address and scheme)');
  }
  if (!reverseProxy && r.raw.trusted_proxy_ips!.origin !== 'default') {
    r.warnings.push('OAUTH2_PROXY_TRUSTED_PROXY_IPS has no effect without OAUTH2_PROXY_REVERSE_PROXY=true');
  }
  const headerName = r.str('real_client_ip_header');
  const realClientIpHeader = CLIENT_IP_HEADERS.find((h) => h.toLowerCase() === headerName.toLowerCase());
  if (!realClientIpHeader) r.fail('real_client_ip_header', `one of ${CLIENT_IP_HEADERS.join(', ')}`);
  const cap = r.str('max_connections');
  const maxConnections = /^\d{1,7}$/.test(cap) && Number(cap) <= MAX_CONNECTIONS_LIMIT ? Number(cap) : undefined;
  if (maxConnections === undefined) r.fail('max_connections', `a whole number of connections from 0 (no limit) to ${MAX_CONNECTIONS_LIMIT}, e.g. ${defaultOf('max_connections')}`);

  const pingPath = r.path('ping_path', false);
  const gcp = r.bool('gcp_healthchecks');
  const pingAgent = r.str('ping_user_agent');
  if (gcp) r.warnings.push(`OAUTH2_PROXY_GCP_HEALTHCHECKS is deprecated in oauth2-proxy too: the health-check paths now answer only User-Agent ${[pingAgent, GCP_USER_AGENT].filter(Boolean).join(' or ')}; point the checks at ${pingPath} and set OAUTH2_PROXY_PING_USER_AGENT=${GCP_USER_AGENT} instead`);

  return {
    healthCheckPaths: gcp ? [pingPath, ...GCP_HEALTH_PATHS] : [pingPath],
    healthCheckUserAgents: [...new Set([pingAgent, ...(gcp ? [GCP_USER_AGENT] : [])].filter((a) => a !== ''))],
    allowQuerySemicolons: r.bool('allow_query_semicolons'),
    listen: serveHttp ? listen ?? parseListenAddress(defaultOf('http_address'))! : undefined,
    https,
    forceHttps,
    proxyPrefix: r.path('proxy_prefix', false),
    pingPath,
    readyPath: r.path('ready_path', false),
    reverseProxy,
    trustedProxies: ranges,
    realClientIpHeader: (realClientIpHeader ?? defaultOf('real_client_ip_header')).toLowerCase(),
    maxConnections: maxConnections ?? Number(defaultOf('max_connections')),
    workers: validateWorkers(r),
  };
}

/** Beyond this many processes per CPU, workers only add memory and context switches. */
const MAX_WORKERS = 256;

function validateWorkers(r: OptionReader): number {
  const v = r.str('workers').toLowerCase();
  const cpus = availableParallelism();
  if (v === 'auto' || v === '0') return cpus;
  const n = /^\d{1,4}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= MAX_WORKERS)) {
    r.fail('workers', `a number of processes from 1 to ${MAX_WORKERS}, or 0 or auto for one per CPU (${cpus} here)`);
    return 1;
  }
  if (n > cpus) r.warnings.push(`OAUTH2_PROXY_WORKERS=${n} is more than the ${cpus} CPUs this process may use: the extra workers add memory, not throughput`);
  return n;
}
