import { describeOrigin } from '../load.js';
import type { OptionReader } from '../reader.js';
import { parseListenAddress } from '../listen.js';
import { validateMetricsTls } from './tls.js';
import { isOwnedIdentityHeader } from '../../access/identitynames.js';
import type { ListenAddress, OperationsPart } from '../types.js';

export type { OperationsPart };

/** RFC 9110 `token`: what a header name may be made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;

/**
 * Names a request id must not take over: framing and connection headers (the request or response
 * would break), credentials and cookies (an id would replace them), forwarding headers (their
 * meaning is the client's address), and the identity headers the proxy owns.
 */
const NOT_FOR_REQUEST_IDS = new Set([
  'host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'content-length', 'content-type',
  'content-encoding', 'te', 'trailer', 'upgrade', 'expect', 'cookie', 'set-cookie', 'authorization',
  'proxy-authorization', 'www-authenticate', 'location', 'forwarded',
]);

/** The metrics listener, request ids, and which requests the request log leaves out. */
export function validateOperations(r: OptionReader): OperationsPart {
  let metricsAddress: ListenAddress | undefined;
  const metrics = r.str('metrics_address');
  if (metrics !== '') {
    metricsAddress = parseListenAddress(metrics);
    if (!metricsAddress) r.fail('metrics_address', 'host:port, http://host:port, :port or unix:///path/to.sock, or empty for no metrics');
    else if (sameAddress(metricsAddress, parseListenAddress(r.str('http_address')))) r.fail('metrics_address', 'an address other than http_address (metrics have a listener of their own)');
  }

  const metricsTls = validateMetricsTls(r);
  if (metricsTls && (sameAddress(metricsTls.address, parseListenAddress(r.str('http_address'))) || (metricsAddress && sameAddress(metricsTls.address, metricsAddress)))) {
    r.fail('metrics_secure_address', 'an address of its own, other than http_address and metrics_address');
  }

  let requestIdHeader: string | undefined = r.str('request_id_header');
  if (requestIdHeader === '') requestIdHeader = undefined;
  else if (!TOKEN.test(requestIdHeader)) {
    r.fail('request_id_header', 'a header name (letters, digits and - _ . ! # $ % & \' * + ^ ` | ~, at most 64), e.g. X-Request-Id, or empty for no request ids');
    requestIdHeader = undefined;
  } else {
    const lower = requestIdHeader.toLowerCase();
    if (NOT_FOR_REQUEST_IDS.has(lower) || lower.startsWith('x-forwarded-') || isOwnedIdentityHeader(lower)) {
      r.fail('request_id_header', 'a header of its own, e.g. X-Request-Id: not a framing, credential, forwarding or identity header');
      requestIdHeader = undefined;
    }
  }

  const excludeLoggingPaths: string[] = [];
  for (const p of r.list('exclude_logging_paths')) {
    if (p.startsWith('/') && !/[?#]/.test(p)) excludeLoggingPaths.push(p);
    else r.errors.push(`${describeOrigin(r.spec('exclude_logging_paths'), r.raw.exclude_logging_paths!.origin)}: got ${JSON.stringify(p)}, expected paths starting with / and without a query, e.g. /healthz,/favicon.ico`);
  }

  return { metricsAddress, ...(metricsTls ? { metricsTls } : {}), requestIdHeader, silencePingLogging: r.bool('silence_ping_logging'), excludeLoggingPaths };
}

function sameAddress(a: ListenAddress, b: ListenAddress | undefined): boolean {
  if (!b) return false;
  if (a.kind === 'unix' || b.kind === 'unix') return a.kind === 'unix' && b.kind === 'unix' && a.path === b.path;
  const wildcard = (h: string): boolean => h === '0.0.0.0' || h === '::';
  return a.port === b.port && a.port !== 0 && (a.host === b.host || wildcard(a.host) || wildcard(b.host));
}
