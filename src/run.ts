import type { Logger } from 'pino';
import type { OptionName } from './config/options.js';
import type { Config } from './config/validate.js';
import { Issuer } from './oidc/issuer.js';
import { createApp } from './server/road.js';
import { listen } from './server/listen.js';
import { startMetrics, type MetricsListener } from './server/metrics.js';

export interface Running {
  readonly url: string;
  /** Where /metrics is served, when metrics_address is set. */
  readonly metricsUrl: string | undefined;
  readonly issuer: Issuer;
  /** Resolves when the issuer is first usable (never rejects; retries meanwhile). */
  readonly issuerReady: Promise<void>;
  close(graceMs?: number): Promise<void>;
}

/** A listener that could not bind, with the option that names its address. */
export class ListenError extends Error {
  readonly option: OptionName;
  readonly code: string | undefined;
  constructor(option: OptionName, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException)?.code;
    super(`cannot listen (${code ?? (cause as Error)?.message ?? String(cause)})`, { cause });
    this.option = option;
    this.code = code;
  }
}

/** Starts serving at once; the issuer connects in the background so a dead issuer never blocks start-up. */
export async function startPortcullis(config: Config, log: Logger, o: { requestLog?: NodeJS.WritableStream } = {}): Promise<Running> {
  const issuer = new Issuer(config.provider, log);
  // Subscribed before the first request, so the counters start at zero with the proxy.
  let metrics: MetricsListener | undefined;
  if (config.metricsAddress) metrics = await startMetrics(config.metricsAddress, issuer, log).catch((e: unknown) => { throw new ListenError('metrics_address', e); });
  const app = createApp(config, issuer, log, o);
  const listener = await listen(config.listen, app, log).catch(async (e: unknown) => {
    app.close();
    await metrics?.close();
    throw new ListenError('http_address', e);
  });
  const issuerReady = issuer.start();
  log.info({ address: listener.url, upstreams: config.upstreams.map((u) => u.url.href) }, 'portcullis listening');
  return {
    url: listener.url,
    metricsUrl: metrics?.url,
    issuer,
    issuerReady,
    close: async (graceMs) => {
      issuer.stop();
      await listener.close(graceMs);
      app.close();
      await metrics?.close();
    },
  };
}
