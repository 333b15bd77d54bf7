import { isIP } from 'node:net';
import { Redis, Cluster, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisConfig } from '../config/validation/sessionstore.js';
import { PortcullisError } from '../errors.js';

/**
 * The few things the session stores need from a key/value server. Every call either succeeds or
 * rejects with SESSION_STORE_UNAVAILABLE at once: nothing waits in a queue for a server that is gone.
 */
export interface KeyValue {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Sets only when the key is absent; true when this call set it (a first sighting). */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Writes only over a key that is there: false when it is gone (deleted meanwhile). */
  setIfPresent(key: string, value: string, ttlMs: number): Promise<boolean>;
  del(keys: readonly string[]): Promise<number>;
  /** Adds a member to the set at `key` and makes the set live `ttlMs` from now. */
  addToSet(key: string, member: string, ttlMs: number): Promise<void>;
  members(key: string): Promise<string[]>;
  /** A hash field, and the hash lives at least until `untilMs` (epoch ms). */
  putField(key: string, field: string, value: string, untilMs: number): Promise<void>;
  fields(key: string): Promise<Record<string, string>>;
  dropFields(key: string, fields: readonly string[]): Promise<void>;
  publish(channel: string, message: string): Promise<void>;
}

/** Whether a store can serve sessions now, and if not, why (for /ready: no addresses, no error text). */
export interface StoreHealth {
  readonly ready: boolean;
  readonly detail: string;
}

export interface RedisLinkEvents {
  /** A message on the store's channel. */
  message(text: string): void;
  /** The subscription is (again) in place: whatever was cached before may be stale. */
  synced(): void;
  /** The subscription is lost: messages may be missed from now on. */
  lost(): void;
}

const COMMAND_TIMEOUT_MS = 2000;
const CONNECT_TIMEOUT_MS = 3000;
/** Reconnect quickly at first, then every second: recovery within about a second of Redis coming back. */
const retry = (times: number): number => Math.min(50 * 2 ** Math.min(times, 5), 1000);

/**
 * One Redis deployment (standalone, Sentinel or Cluster, through ioredis) seen as a KeyValue plus
 * one pub/sub channel. Two connections: commands, and a subscriber for the channel. The link is
 * "in sync" only while the subscriber is subscribed; a store may trust what it cached only then,
 * because a message sent while the subscription was down is lost.
 */
export class RedisLink implements KeyValue {
  readonly #client: Redis | Cluster;
  readonly #sub: Redis | Cluster;
  readonly #channel: string;
  readonly #log: Logger;
  readonly #events: RedisLinkEvents;
  #synced = false;
  #lastError = 'connecting';
  #pinger?: NodeJS.Timeout;
  #closed = false;

  constructor(cfg: RedisConfig, channel: string, log: Logger, events: RedisLinkEvents) {
    this.#channel = channel;
    this.#log = log.child({ component: 'redis' });
    this.#events = events;
    this.#client = connect(cfg);
    this.#sub = connect(cfg);
    this.#client.on('error', (err: Error) => this.#noteError(err));
    this.#sub.on('error', (err: Error) => this.#noteError(err));
    this.#client.on('ready', () => this.#log.info({ event: 'redis_ready', mode: cfg.mode }, 'redis connected'));
    this.#sub.on('ready', () => void this.#subscribe());
    for (const e of ['close', 'reconnecting', 'end']) this.#sub.on(e, () => this.#lose(e));
    this.#sub.on('message', (ch: string, text: string) => { if (ch === this.#channel) this.#events.message(text); });
    if (cfg.idleTimeoutS > 0) {
      // A server with `timeout N` closes a connection quiet for N seconds; a PING sooner keeps both open.
      this.#pinger = setInterval(() => {
        for (const c of [this.#client, this.#sub]) if (c.status === 'ready') c.ping().catch(() => {});
      }, cfg.idleTimeoutS * 1000);
      this.#pinger.unref();
    }
  }

  get synced(): boolean { return this.#synced; }

  health(): StoreHealth {
    if (this.#client.status === 'ready' && this.#synced) return { ready: true, detail: 'redis: connected' };
    return { ready: false, detail: `redis: ${this.#lastError}` };
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.#run(() => this.#client.get(key))) ?? undefined;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.#run(() => this.#client.set(key, value, 'PX', Math.max(1, Math.ceil(ttlMs))));
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.#run(() => this.#client.set(key, value, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'))) === 'OK';
  }

  async setIfPresent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.#run(() => this.#client.set(key, value, 'PX', Math.max(1, Math.ceil(ttlMs)), 'XX'))) === 'OK';
  }

  async del(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    // One DEL per key: in a Cluster, keys of different slots cannot share a command.
    const counts = await Promise.all(keys.map((k) => this.#run(() => this.#client.del(k))));
    return counts.reduce((a, b) => a + b, 0);
  }

  async addToSet(key: string, member: string, ttlMs: number): Promise<void> {
    await this.#run(() => this.#client.multi().sadd(key, member).pexpire(key, Math.ceil(ttlMs)).exec());
  }

  async members(key: string): Promise<string[]> {
    return this.#run(() => this.#client.smembers(key));
  }

  async putField(key: string, field: string, value: string, untilMs: number): Promise<void> {
    await this.#run(() => this.#client.hset(key, field, value));
    const ttl = await this.#run(() => this.#client.pttl(key));
    const want = untilMs - Date.now();
    if (ttl < want) await this.#run(() => this.#client.pexpire(key, Math.max(1, Math.ceil(want))));
  }

  async fields(key: string): Promise<Record<string, string>> {
    return this.#run(() => this.#client.hgetall(key));
  }

  async dropFields(key: string, fields: readonly string[]): Promise<void> {
    if (fields.length) await this.#run(() => this.#client.hdel(key, ...fields));
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.#run(() => this.#client.publish(channel, message));
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#pinger) clearInterval(this.#pinger);
    this.#synced = false;
    await Promise.allSettled([this.#client.quit(), this.#sub.quit()]);
    this.#client.disconnect();
    this.#sub.disconnect();
  }

  async #subscribe(): Promise<void> {
    try {
      await this.#sub.subscribe(this.#channel);
    } catch (err) {
      this.#noteError(err as Error);
      return;
    }
    if (this.#synced || this.#closed) return;
    this.#synced = true;
    this.#log.info({ event: 'redis_subscribed' }, 'redis subscription in place');
    this.#events.synced();
  }

  #lose(why: string): void {
    if (!this.#synced) return;
    this.#synced = false;
    if (!this.#closed) this.#log.warn({ event: 'redis_lost', why, err: this.#lastError }, 'redis connection lost; sessions wait for it');
    this.#events.lost();
  }

  /** The log gets the message; health() (public, on /ready) only the error's code. */
  #noteError(err: Error): void {
    const code = (err as NodeJS.ErrnoException).code ?? err.name;
    if (code !== this.#lastError) this.#log.warn({ event: 'redis_error', code, err: err.message }, 'redis error');
    this.#lastError = code;
  }

  async #run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (err) {
      this.#noteError(err as Error);
      throw new PortcullisError('SESSION_STORE_UNAVAILABLE', { detail: `redis: ${(err as Error).message}`, cause: err });
    }
  }
}

/** ioredis options that make every command fail fast while Redis is away, and reconnect for ever. */
const FAIL_FAST = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  commandTimeout: COMMAND_TIMEOUT_MS,
  connectTimeout: CONNECT_TIMEOUT_MS,
  autoResubscribe: false,
} as const;

function connect(cfg: RedisConfig): Redis | Cluster {
  const auth = { username: cfg.username, password: cfg.password };
  const extra = cfg.tlsOptions;
  /** TLS for a server: as the URL asks (rediss://), or because redis_ca_path / redis_insecure_skip_tls_verify turn it on. */
  const tlsFor = (wanted: boolean, servername?: string): RedisOptions['tls'] => (wanted || extra
    ? { ...(servername ? { servername } : {}), ...(extra?.ca ? { ca: [...extra.ca] } : {}), ...(extra?.insecure ? { rejectUnauthorized: false } : {}) }
    : undefined);
  switch (cfg.mode) {
    case 'standalone': {
      const a = cfg.address;
      // SNI names a host, never an address (Node refuses an IP there).
      const tls = 'path' in a ? undefined : tlsFor(cfg.tls, isIP(a.host) ? undefined : a.host);
      const where: RedisOptions = 'path' in a ? { path: a.path } : { host: a.host, port: a.port, ...(tls ? { tls } : {}) };
      return new Redis({ ...where, ...auth, db: cfg.db, ...FAIL_FAST, retryStrategy: retry });
    }
    case 'sentinel': {
      // As go-redis's failover client: one TLS setting for the Sentinels and the servers they name.
      const tls = tlsFor(cfg.tls === true);
      return new Redis({
        sentinels: cfg.sentinels.map((s) => ({ host: s.host, port: s.port })), name: cfg.masterName,
        sentinelPassword: cfg.sentinelPassword, ...auth, ...FAIL_FAST, retryStrategy: retry, sentinelRetryStrategy: retry,
        ...(tls ? { tls, sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
      });
    }
    case 'cluster': {
      const tls = tlsFor(cfg.tls === true);
      return new Cluster(cfg.nodes.map((n) => ({ host: n.host, port: n.port })), {
        enableOfflineQueue: false,
        clusterRetryStrategy: retry,
        redisOptions: { ...auth, maxRetriesPerRequest: 0, commandTimeout: COMMAND_TIMEOUT_MS, connectTimeout: CONNECT_TIMEOUT_MS, ...(tls ? { tls } : {}) },
      });
    }
  }
}
