import { randomUUID } from 'node:crypto';
import { ServerResponse } from 'node:http';
import type { Config } from '../config/validate.js';
import type { RequestContext } from './context.js';
import { isSaneRequestId } from './requestid.js';
import { ProxyResponse } from './response.js';

export { isSaneRequestId };


/**
 * What every request gets before the road, built once from the configuration: its id (kept from
 * the client when sane, else a UUID; set on the request that goes upstream and on the response),
 * and whether the request log leaves it out (silence_ping_logging, exclude_logging_paths).
 * Undefined when neither is configured, so the road then pays one comparison per request.
 */
export function createPrelude(config: Pick<Config, 'requestIdHeader' | 'silencePingLogging' | 'excludeLoggingPaths' | 'pingPath' | 'readyPath'> & Partial<Pick<Config, 'healthCheckPaths'>>): ((ctx: RequestContext) => void) | undefined {
  const unlogged = new Set(config.excludeLoggingPaths);
  if (config.silencePingLogging) for (const p of [config.pingPath, config.readyPath, ...config.healthCheckPaths ?? []]) unlogged.add(p);
  const header = config.requestIdHeader;
  if (!header && unlogged.size === 0) return undefined;
  const name = header?.toLowerCase();

  return (ctx) => {
    if (unlogged.size !== 0 && unlogged.has(ctx.path)) ctx.unlogged = true;
    if (!name) return;
    const given = ctx.req.headers[name];
    const id = isSaneRequestId(given) ? given : randomUUID();
    ctx.requestId = id;
    ctx.req.headers[name] = id;
    // An upgrade's own answers are raw bytes on the socket; the upstream still gets the id. The
    // listeners' responses hold it back until the head is written (response.ts: the same bytes).
    if (ctx.out instanceof ProxyResponse) ctx.out.holdHeader(header!, name, id);
    else if (ctx.out instanceof ServerResponse) ctx.out.setHeader(header!, id);
  };
}
