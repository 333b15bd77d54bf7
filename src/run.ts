import type { Logger } from 'pino';
import { authLogger, standardLogger } from './log.js';
import type { Config, ListenAddress } from './config/validate.js';
import type { Issuer } from './oidc/issuer.js';
import { Issuers } from './oidc/issuers.js';
import type { Registry } from 'prom-client';
import { createApp } from './server/road.js';
import { ListenError, listen, redirectingToHttps, type ClientTimeouts, type Listener } from './server/listen.js';
import { collectMetrics, startMetrics } from './server/metrics.js';
import type { SiblingProcesses } from './session/store.js';

export interface Running {
  /** The plain-HTTP listener's address when it runs, else the HTTPS one's. */
  readonly url: string;
  readonly httpUrl?: string;
  readonly httpsUrl?: string;
  /** Where /metrics is served, when metrics_address (or metrics_secure_address) is set. */
  readonly metricsUrl: string | undefined;
  /** Where /metrics is served over HTTPS, when metrics_secure_address is set. */
  readonly metricsSecureUrl?: string;
  /** The first provider's issuer (the only one with legacy options). */
  readonly issuer: Issuer;
  /** Every provider's issuer. */
  readonly issuers: Issuers;
  /** Resolves when every issuer is first usable (never rejects; each retries meanwhile). */
  readonly issuerReady: Promise<void>;
  close(graceMs?: number): Promise<void>;
}

/** What a cluster worker (server/workers.ts) shares with the primary and its siblings. */
export interface WorkerLink {
  readonly siblings: SiblingProcesses;
  /** The primary serves /metrics, summing every worker's registry. */
  shareMetrics(registry: Registry): void;
}

/**
 * Starts serving at once; the issuer connects in the background so a dead issuer never blocks
 * start-up. Both listeners walk the same road; when one cannot bind, none is left open.
 */
export async function startPortcullis(config: Config, log: Logger, o: { requestLog?: NodeJS.WritableStream; clientTimeouts?: ClientTimeouts; worker?: WorkerLink } = {}): Promise<Running> {
  // oauth2-proxy's log streams: standard (everything below), auth (sign-in events) and the request log.
  const authLog = authLogger(log, config.logLevel, config.authLogging);
  log = standardLogger(log, config.standardLogging);
  const issuers = new Issuers(config.providers, log);
  // Subscribed before the first request, so the counters start at zero with the proxy.
  let metrics: { url?: string; secureUrl?: string; close(): Promise<void> } | undefined;
  const metricsAt = config.metricsAddress;
  const metricsTls = config.metricsTls;
  if ((metricsAt || metricsTls) && o.worker) {
    // In a cluster the primary serves /metrics, the workers' summed: this one only collects.
    const collector = collectMetrics(issuers);
    o.worker.shareMetrics(collector.registry);
    metrics = { close: async () => collector.stop() };
  } else if (metricsAt || metricsTls) {
    metrics = await startMetrics(metricsAt, issuers, log, { secure: metricsTls, maxConnections: config.maxConnections }).catch((e: unknown) => {
      const secure = (e as { metricsListener?: string }).metricsListener === 'metrics_secure_address';
      throw new ListenError(secure ? 'metrics_secure_address' : 'metrics_address', secure ? metricsTls!.address : metricsAt!, e as NodeJS.ErrnoException);
    });
  }
  const app = createApp(config, issuers, log, { requestLog: o.requestLog, authLog, siblings: o.worker?.siblings });
  let httpsPort = 443;
  const front = config.forceHttps ? redirectingToHttps(app, config, () => httpsPort) : app;
  const opened: Listener[] = [];
  const open = async (option: ListenError['option'], addr: ListenAddress, tls?: NonNullable<Config['https']>): Promise<Listener> => {
    try {
      const l = await listen(addr, front, log, { tls, maxConnections: config.maxConnections, timeouts: o.clientTimeouts });
      opened.push(l);
      return l;
    } catch (e) {
      await Promise.all(opened.map((l) => l.close(0)));
      app.close();
      await metrics?.close();
      throw new ListenError(option, addr, e as NodeJS.ErrnoException);
    }
  };
  const secure = config.https ? await open('https_address', config.https.address, config.https) : undefined;
  if (secure?.port) httpsPort = secure.port;
  const plain = config.listen ? await open('http_address', config.listen) : undefined;
  const issuerReady = issuers.start();
  const url = (plain ?? secure)!.url;
  log.info({ address: url, ...(plain && secure ? { https: secure.url } : {}), upstreams: config.upstreams.map((u) => u.url.href) }, 'portcullis listening');
  return {
    url,
    httpUrl: plain?.url,
    httpsUrl: secure?.url,
    metricsUrl: metrics?.url,
    ...(metrics?.secureUrl ? { metricsSecureUrl: metrics.secureUrl } : {}),
    issuer: issuers.first,
    issuers,
    issuerReady,
    close: async (graceMs) => {
      issuers.stop();
      await Promise.all(opened.map((l) => l.close(graceMs)));
      app.close();
      await metrics?.close();
    },
  };
}
