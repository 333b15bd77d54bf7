import { defaultOf } from '../options.js';
import type { OptionReader } from '../reader.js';
import { parseListenAddress, type ListenAddress } from '../validate.js';

export interface ServerPart {
  readonly listen: ListenAddress;
  readonly proxyPrefix: string;
  readonly pingPath: string;
  readonly readyPath: string;
  readonly reverseProxy: boolean;
}

/** Listening address and the proxy's own paths. */
export function validateServer(r: OptionReader): ServerPart {
  const listen = parseListenAddress(r.str('http_address'));
  if (!listen) r.fail('http_address', 'host:port, http://host:port, :port or unix:///path/to.sock');
  const proxyPrefix = r.path('proxy_prefix', false);
  const pingPath = r.path('ping_path', false);
  const readyPath = r.path('ready_path', false);
  return {
    listen: listen ?? parseListenAddress(defaultOf('http_address'))!,
    proxyPrefix, pingPath, readyPath,
    reverseProxy: r.bool('reverse_proxy'),
  };
}
