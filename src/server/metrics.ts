import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { METHODS, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Duplex } from 'node:stream';
import type { ListenAddress, TlsListener } from '../config/validate.js';
import type { Issuer, IssuerClients } from '../oidc/issuer.js';
import type { Issuers } from '../oidc/issuers.js';
import { listen, type Listener } from './listen.js';
import type { RequestFinished } from './observe.js';

export interface MetricsListener {
  /** The plain listener's address, else the HTTPS one's. */
  readonly url: string;
  /** metrics_secure_address's listener, when it runs. */
  readonly secureUrl?: string;
  close(): Promise<void>;
}

/** Seconds: Prometheus's default buckets, as oauth2-proxy's response_duration histogram uses. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const STATUS_CLASSES = ['other', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;
const KNOWN_METHODS = new Set(METHODS);

/**
 * Prometheus metrics at /metrics on a listener of their own (oauth2-proxy's metrics_address).
 * Everything is learnt by subscribing to the proxy's diagnostics channels (observe.ts) and to
 * undici's, through which openid-client calls the issuer: nothing here is on the road, and with
 * metrics off nobody subscribes, so requests pay nothing at all.
 */
export async function startMetrics(addr: ListenAddress | undefined, issuers: Pick<Issuers, 'all' | 'several'>, log: Logger, o: ServeOptions = {}): Promise<MetricsListener> {
  const collector = collectMetrics(issuers);
  let listener: MetricsListener;
  try {
    listener = await serveMetrics(addr, collector.registry, log, o);
  } catch (err) {
    collector.stop();
    throw err;
  }
  return {
    ...listener,
    close: async () => {
      collector.stop();
      await listener.close();
    },
  };
}

/** metrics_secure_address's TLS listener beside (or instead of) the plain one, and max_connections for both. */
export interface ServeOptions {
  readonly secure?: TlsListener;
  readonly maxConnections?: number;
}

/** This process's metrics, kept up to date from the diagnostics channels until stop(). */
export interface MetricsCollector {
  readonly registry: Registry;
  stop(): void;
}

/** What /metrics answers with: one registry, or (in a cluster's primary) the workers' summed. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** Subscribes the counters and histograms of this process (see startMetrics); serves nothing. */
export function collectMetrics(issuers: Pick<Issuers, 'all' | 'several'>): MetricsCollector {
  const registry = new Registry();
  // Failure is per provider: each one's state, read when scraped (a cluster's primary keeps the lowest).
  new Gauge({
    name: 'portcullis_provider_up', help: 'Whether a provider\'s issuer is usable (its discovery, or hand-given endpoints, succeeded): 1 or 0, by provider id.',
    labelNames: ['provider'], registers: [registry], aggregator: 'min',
    collect() { for (const i of issuers.all) this.set({ provider: i.provider.id }, i.clients ? 1 : 0); },
  });
  collectDefaultMetrics({ register: registry });
  const subscriptions: Array<[string, (message: unknown) => void]> = [];
  const on = (name: string, fn: (message: unknown) => void): void => {
    subscribe(name, fn);
    subscriptions.push([name, fn]);
  };

  const requests = new Counter({ name: 'portcullis_requests_total', help: 'Requests answered, by method and status class (1xx-5xx); websocket upgrades included.', labelNames: ['method', 'status_class'], registers: [registry] });
  const duration = new Histogram({ name: 'portcullis_request_duration_seconds', help: 'Time from the request to its end (the response finished, or the upgraded connection closed).', labelNames: ['method'], buckets: BUCKETS, registers: [registry] });
  // Label lookups hash their values on every call; one child per method and class is looked up once.
  const perMethod = new Map<string, { count: Counter.Internal[]; duration: Histogram.Internal<'method'> }>();
  on('portcullis:request', (message) => {
    const m = message as RequestFinished;
    const method = m.method !== undefined && KNOWN_METHODS.has(m.method) ? m.method : 'other';
    let children = perMethod.get(method);
    if (!children) {
      children = { count: STATUS_CLASSES.map((c) => requests.labels(method, c)), duration: duration.labels(method) };
      perMethod.set(method, children);
    }
    const cls = m.status >= 100 && m.status < 600 ? Math.floor(m.status / 100) : 0;
    children.count[cls]!.inc();
    children.duration.observe(m.durationMs / 1000);
  });

  const loginsStarted = new Counter({ name: 'portcullis_logins_started_total', help: 'Logins sent to the issuer (/oauth2/start).', registers: [registry] });
  const providerLogins = new Counter({ name: 'portcullis_provider_logins_total', help: 'Logins by provider id and outcome (started, completed, failed).', labelNames: ['provider', 'outcome'], registers: [registry] });
  const loginsCompleted = new Counter({ name: 'portcullis_logins_completed_total', help: 'Logins that ended in a session.', registers: [registry] });
  const loginsFailed = new Counter({ name: 'portcullis_logins_failed_total', help: 'Logins that failed at the callback, by error code (docs/troubleshooting.md).', labelNames: ['code'], registers: [registry] });
  on('portcullis:login', (message) => {
    const m = message as { outcome: string; code?: string; provider?: string };
    if (m.provider !== undefined) providerLogins.inc({ provider: m.provider, outcome: m.outcome });
    if (m.outcome === 'started') loginsStarted.inc();
    else if (m.outcome === 'completed') loginsCompleted.inc();
    else if (m.outcome === 'failed') loginsFailed.inc({ code: m.code ?? 'unknown' });
  });

  const upstreamErrors = new Counter({ name: 'portcullis_upstream_errors_total', help: 'Requests an upstream could not take or finish, by upstream (its origin) and error code (ECONNREFUSED, ECONNRESET, ...).', labelNames: ['upstream', 'code'], registers: [registry] });
  on('portcullis:upstream-error', (message) => {
    const m = message as { upstream?: string; code?: string };
    upstreamErrors.inc({ upstream: m.upstream ?? 'unknown', code: m.code ?? 'unknown' });
  });

  const connectionsRefused = new Counter({ name: 'portcullis_connections_refused_total', help: 'Connections closed as they arrived because max_connections were already open.', registers: [registry] });
  on('portcullis:connection-refused', () => connectionsRefused.inc());

  const issuerRequests = new Counter({ name: 'portcullis_issuer_requests_total', help: 'Calls to the issuer, by endpoint (discovery, token, userinfo, jwks, other) and outcome (status class, or error when no answer came).', labelNames: ['endpoint', 'outcome'], registers: [registry] });
  const issuerDuration = new Histogram({ name: 'portcullis_issuer_request_duration_seconds', help: 'Time from a call to the issuer to its response headers, or to its failure.', labelNames: ['endpoint'], buckets: BUCKETS, registers: [registry] });
  const namers = issuers.all.map((i) => issuerEndpointNamer(i));
  const endpointOf = (origin: string, path: string): string => {
    for (const n of namers) {
      const name = n(origin, path);
      if (name !== 'other') return name;
    }
    return 'other';
  };
  const pending = new WeakMap<object, { endpoint: string; started: bigint }>();
  const finish = (request: object, outcome: string): void => {
    const p = pending.get(request);
    if (!p) return; // an error after the headers was counted with them
    pending.delete(request);
    issuerRequests.inc({ endpoint: p.endpoint, outcome });
    issuerDuration.observe({ endpoint: p.endpoint }, Number(process.hrtime.bigint() - p.started) / 1e9);
  };
  // openid-client calls the issuer with fetch, whose undici publishes each request on these channels;
  // the proxy itself makes no other fetch calls (upstreams go through node:http).
  on('undici:request:create', (message) => {
    const { request } = message as { request: { origin: string; path: string } };
    pending.set(request, { endpoint: endpointOf(String(request.origin), String(request.path)), started: process.hrtime.bigint() });
  });
  on('undici:request:headers', (message) => {
    const { request, response } = message as { request: object; response: { statusCode: number } };
    const s = response.statusCode;
    finish(request, s >= 100 && s < 600 ? STATUS_CLASSES[Math.floor(s / 100)]! : 'other');
  });
  on('undici:request:error', (message) => finish((message as { request: object }).request, 'error'));

  return {
    registry,
    stop: () => {
      for (const [name, fn] of subscriptions) unsubscribe(name, fn);
    },
  };
}

/** The /metrics listener (metrics_address), answering with what `source` collects. */
export async function serveMetrics(addr: ListenAddress | undefined, source: MetricsSource, log: Logger, o: ServeOptions = {}): Promise<MetricsListener> {
  const serve = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return void res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: metrics are at /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('Method not allowed\n');
    source.metrics().then(
      (text) => res.writeHead(200, { 'content-type': source.contentType, 'cache-control': 'no-store' }).end(text),
      (err: unknown) => {
        log.error({ err: (err as Error)?.message }, 'metrics could not be collected');
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n');
      },
    );
  };
  // One source, one or two listeners: plain (metrics_address) and HTTPS (metrics_secure_address).
  const handlers = { handle: serve, handleUpgrade: (_req: IncomingMessage, socket: Duplex) => socket.destroy() };
  const listeners: Listener[] = [];
  const closeAll = async (): Promise<void> => {
    await Promise.all(listeners.map((l) => l.close(1000)));
  };
  try {
    if (addr) listeners.push(await listen(addr, handlers, log, { maxConnections: o.maxConnections }));
    if (o.secure) listeners.push(await listen(o.secure.address, handlers, log, { tls: o.secure, maxConnections: o.maxConnections }));
  } catch (err) {
    await closeAll();
    throw Object.assign(err as Error, { metricsListener: addr && listeners.length === 0 ? 'metrics_address' : 'metrics_secure_address' });
  }
  for (const l of listeners) log.info({ address: `${l.url}/metrics` }, 'metrics listening');
  return {
    url: listeners[0]!.url,
    ...(o.secure ? { secureUrl: listeners[listeners.length - 1]!.url } : {}),
    close: closeAll,
  };
}

/**
 * Names a call by the issuer endpoint it reaches, so the label has a handful of values whatever
 * the URLs: the discovery document by its well-known path, the rest from the issuer's metadata.
 */
function issuerEndpointNamer(issuer: Pick<Issuer, 'clients'>): (origin: string, path: string) => string {
  let from: IssuerClients | undefined;
  let known = new Map<string, string>();
  return (origin, path) => {
    const q = path.indexOf('?');
    const url = origin + (q < 0 ? path : path.slice(0, q));
    if (url.endsWith('/.well-known/openid-configuration') || url.endsWith('/.well-known/oauth-authorization-server')) return 'discovery';
    const clients = issuer.clients;
    if (clients && clients !== from) {
      from = clients;
      const m = clients.basic.serverMetadata();
      known = new Map();
      for (const [name, u] of [['token', m.token_endpoint], ['userinfo', m.userinfo_endpoint], ['jwks', m.jwks_uri]] as const) {
        if (!u) continue;
        try {
          const parsed = new URL(u);
          known.set(parsed.origin + parsed.pathname, name);
        } catch { /* not a URL: nothing will match it */ }
      }
    }
    return known.get(url) ?? 'other';
  };
}
