import http from 'node:http';
import { defaultOf } from '../config/options.js';
import { parseListenAddress } from '../config/validate.js';

const TIMEOUT_MS = 3000;

/**
 * `portcullis healthcheck`: the container HEALTHCHECK (no curl in the image). GETs the ping path
 * on the address the proxy listens on, exit 0 on 200, else 1. It reads the same variables as the
 * proxy (flags and .env files are not seen: set these in the environment), with ping_user_agent's
 * User-Agent when one is set.
 */
export function healthcheck(env: NodeJS.ProcessEnv = process.env): void {
  const done = (code: number, why?: string): never => {
    if (why) process.stderr.write(`healthcheck: ${why}\n`);
    process.exit(code);
  };
  const addr = parseListenAddress((env.OAUTH2_PROXY_HTTP_ADDRESS ?? defaultOf('http_address')).trim());
  if (!addr) done(1, `cannot parse OAUTH2_PROXY_HTTP_ADDRESS=${JSON.stringify(env.OAUTH2_PROXY_HTTP_ADDRESS)}`);
  const path = env.OAUTH2_PROXY_PING_PATH?.trim() || defaultOf('ping_path');
  // A wildcard listen address is asked on loopback.
  const target = addr!.kind === 'unix'
    ? { socketPath: addr!.path }
    : { host: addr!.host === '0.0.0.0' ? '127.0.0.1' : addr!.host === '::' ? '::1' : addr!.host, port: addr!.port };
  // With ping_user_agent (or gcp_healthchecks) the ping path answers only that User-Agent.
  const agent = env.OAUTH2_PROXY_PING_USER_AGENT?.trim() || (/^(true|1|yes|on|t)$/i.test(env.OAUTH2_PROXY_GCP_HEALTHCHECKS?.trim() ?? '') ? 'GoogleHC/1.0' : 'portcullis-healthcheck');
  const req = http.request({ ...target, path, method: 'GET', headers: { 'user-agent': agent } }, (res) => {
    res.resume();
    if (res.statusCode === 200) done(0);
    done(1, `GET ${path} answered ${res.statusCode}`);
  });
  req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
  req.on('error', (err) => done(1, `GET ${path}: ${err.message}`));
  req.end();
}
