import cluster, { type Worker } from 'node:cluster';
import { createPrivateKey, type JsonWebKey } from 'node:crypto';
import type { Logger } from 'pino';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import type { RawOptions } from '../config/load.js';
import { validateConfig, type Config } from '../config/validate.js';
import { validateAlphaConfig, type AlphaFile } from '../config/alpha/read.js';
import { createLogger, stdoutSink } from '../log.js';
import { startPortcullis, type Running, type WorkerLink } from '../run.js';
import type { SiblingProcesses } from '../session/store.js';
import { identityKey } from '../upstream/identityjwt.js';
import { ListenError, clearStaleSocket } from './listen.js';
import { serveMetrics, type MetricsListener } from './metrics.js';
import { stopOnSignals, type Stoppable, type Stopper } from './stopping.js';

/*
 * workers > 1: the primary forks that many workers, each running the whole proxy on the same
 * listeners (node:cluster hands the connections out). What each process keeps for itself, and why
 * that stays correct:
 * - the configuration: validated once by the primary and sent to every worker as the raw options
 *   it read (so a .env edited later cannot make two workers differ), with the identity JWT key the
 *   primary made when there is no key file (else each worker would sign with a key of its own and
 *   publish only that one at /oauth2/jwks.json);
 * - unsealed sessions (the codec's cache): a cache of what the cookie says, the same in every worker;
 * - revocations of cookie sessions (sign-out, back-channel logout): with Redis every worker reads
 *   them from Redis; without it a worker passes each one to the primary, which passes it to the
 *   others and keeps those still in force for a worker that starts later; the sign-out waits for
 *   the others to confirm, since the replayed cookie's next connection may go to any of them;
 * - login state: in the browser's cookies, so a callback may reach any worker;
 * - JWKS, discovery, the issuer's state and /ready: per worker, each fetching its own;
 * - metrics: per worker, summed by the primary at /metrics (prom-client's AggregatorRegistry).
 * Not handled here yet: a session refresh that must happen once per session (single flight, when
 * cookie_refresh arrives) is once per worker; two requests of one session on two workers could
 * each present the refresh token. That lock belongs on this channel, as the revocations do.
 */

type ToWorker =
  | { type: 'portcullis:setup'; raw: RawOptions; alpha?: AlphaFile; identityJwtKeys?: JsonWebKey[]; revocations: string[] }
  | { type: 'portcullis:revoked'; entry: string; ack?: number }
  | { type: 'portcullis:relayed'; ack: number }
  | { type: 'portcullis:stop'; now?: boolean };

type ToPrimary =
  | { type: 'portcullis:hello' }
  | { type: 'portcullis:listening'; url: string }
  | { type: 'portcullis:failed'; lines: string[] }
  | { type: 'portcullis:revoked'; entry: string; ack: number }
  | { type: 'portcullis:applied'; ack: number };

/** How long a sign-out waits for the other workers to take its revocation in, before it answers all the same. */
export const RELAY_WAIT_MS = 2000;

const isMessage = <T extends { type: string }>(m: unknown): m is T =>
  typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string' && (m as { type: string }).type.startsWith('portcullis:');

/** A worker that could not start (its configuration or a listener): the lines say why, as a single process would. */
export class WorkerStartError extends Error {
  readonly lines: string[];
  constructor(lines: string[]) {
    super(lines.join('; '));
    this.lines = lines;
  }
}

/** A worker that lived shorter than this before it died counts as failing, and waits longer to be replaced. */
const SHORT_LIFE_MS = 10_000;
const FIRST_RESTART_MS = 100;
const MAX_RESTART_MS = 30_000;

/** The cluster's primary: it serves no request itself, only /metrics when configured. */
export class Workers implements Stoppable {
  readonly #config: Config;
  readonly #raw: RawOptions;
  readonly #alpha: AlphaFile | undefined;
  readonly #log: Logger;
  readonly #count: number;
  readonly #identityJwtKeys?: JsonWebKey[];
  /** Revocations still in force, by their JSON, with when they may be forgotten. */
  readonly #revocations = new Map<string, number>();
  readonly #started = new Map<Worker, number>();
  readonly #listening = new Set<Worker>();
  /** Workers set up (they listen for messages): one not yet set up gets the revocations in its setup. */
  readonly #setUp = new Set<Worker>();
  #everyListening = false;
  #stopping = false;
  #shortLives = 0;
  #restartTimer?: NodeJS.Timeout;
  #metrics?: MetricsListener;
  #startFailed?: (e: Error) => void;
  #allExited?: () => void;
  readonly #restarts: Counter;
  readonly #alive: Gauge;
  readonly #ownMetrics = new Registry();

  constructor(config: Config, raw: RawOptions, log: Logger, alpha?: AlphaFile) {
    this.#alpha = alpha;
    this.#config = config;
    this.#raw = raw;
    this.#log = log;
    this.#count = config.workers;
    const generated = config.identityJwt?.generated ? config.identityJwt.keys : undefined;
    this.#identityJwtKeys = generated?.map((k) => k.privateKey.export({ format: 'jwk' }));
    this.#restarts = new Counter({ name: 'portcullis_worker_restarts_total', help: 'Workers that exited while the proxy was not stopping, and were replaced.', registers: [this.#ownMetrics] });
    this.#alive = new Gauge({ name: 'portcullis_workers', help: 'Workers serving requests (listening).', registers: [this.#ownMetrics] });
  }

  /** Forks the workers; resolves once every one listens, rejects when one cannot start. */
  async start(): Promise<void> {
    // Other processes write to the same stdout from now on.
    stdoutSink().shareWithOtherProcesses();
    for (const addr of [this.#config.listen, this.#config.https?.address]) {
      if (addr?.kind !== 'unix') continue;
      // In a cluster the primary binds every listener: it clears a dead instance's socket file once,
      // and binds under a umask that leaves the new file owner-only until a worker sets its mode.
      await clearStaleSocket(addr.path);
      process.umask(0o177);
    }
    const metricsAt = this.#config.metricsAddress;
    const metricsTls = this.#config.metricsTls;
    if (metricsAt || metricsTls) {
      const aggregator = new AggregatorRegistry();
      this.#metrics = await serveMetrics(metricsAt, {
        contentType: aggregator.contentType,
        metrics: async () => `${await aggregator.clusterMetrics()}\n${await this.#ownMetrics.metrics()}`,
      }, this.#log, { secure: metricsTls, maxConnections: this.#config.maxConnections }).catch((e: unknown) => {
        const secure = (e as { metricsListener?: string }).metricsListener === 'metrics_secure_address';
        throw new ListenError(secure ? 'metrics_secure_address' : 'metrics_address', secure ? metricsTls!.address : metricsAt!, e as NodeJS.ErrnoException);
      });
    }
    cluster.on('message', (worker, m: unknown) => { if (isMessage<ToPrimary>(m)) this.#received(worker, m); });
    cluster.on('exit', (worker, code, signal) => this.#exited(worker, code, signal));
    const started = new Promise<void>((resolve, reject) => {
      this.#startFailed = reject;
      this.#allListening = resolve;
    });
    for (let i = 0; i < this.#count; i++) this.#fork();
    try {
      await started;
    } catch (e) {
      await this.close(2000);
      throw e;
    }
  }

  #allListening?: () => void;

  #fork(): void {
    const worker = cluster.fork();
    this.#started.set(worker, Date.now());
    this.#log.info({ event: 'worker_started', worker: worker.id, pid: worker.process.pid }, 'worker started');
  }

  #received(worker: Worker, m: ToPrimary): void {
    switch (m.type) {
      case 'portcullis:hello':
        this.#setUp.add(worker);
        this.#send(worker, { type: 'portcullis:setup', raw: this.#raw, ...(this.#alpha ? { alpha: this.#alpha } : {}), identityJwtKeys: this.#identityJwtKeys, revocations: this.#liveRevocations() });
        break;
      case 'portcullis:listening':
        this.#listening.add(worker);
        this.#alive.set(this.#listening.size);
        if (!this.#everyListening && this.#listening.size === this.#count) {
          this.#everyListening = true;
          this.#log.info({ event: 'workers_listening', workers: this.#count, address: m.url }, 'all workers listening');
          this.#allListening?.();
        }
        break;
      case 'portcullis:failed':
        // Before every worker has started, a worker that cannot start is a configuration the user
        // must fix (a taken port, an unreadable file): the whole start fails, with its words.
        if (!this.#everyListening) this.#startFailed?.(new WorkerStartError(m.lines));
        else this.#log.error({ event: 'worker_start_failed', worker: worker.id, problems: m.lines }, 'a replacement worker could not start');
        break;
      case 'portcullis:revoked': {
        // An entry with an end (a cookie session's revocation) is kept for workers that start later;
        // one without (Redis sessions ended: they are gone from Redis) concerns only caches of now.
        const until = untilOf(m.entry);
        const live = until === undefined || until > Date.now();
        if (until !== undefined && live) {
          this.#revocations.set(m.entry, until);
          // Forgotten once past: else, with no worker restarting to read the list, it only grows.
          if (this.#revocations.size % 256 === 0) this.#liveRevocations();
        }
        this.#relay(worker, m.ack, m.entry, live ? [...this.#setUp].filter((w) => w !== worker && w.isConnected()) : []);
        break;
      }
      case 'portcullis:applied':
        this.#applied(worker, m.ack);
        break;
    }
  }

  /** Relays in flight: the worker that asked and its number for it, by the primary's own number. */
  readonly #relays = new Map<number, { from: Worker; ack: number; waiting: Set<Worker> }>();
  #nextRelay = 1;

  /**
   * Passes a revocation to the other workers and tells its sender once each has applied it (a
   * worker that exits meanwhile counts as told: its replacement gets the list at setup).
   */
  #relay(from: Worker, ack: number, entry: string, others: Worker[]): void {
    const id = this.#nextRelay++;
    const relay = { from, ack, waiting: new Set(others) };
    this.#relays.set(id, relay);
    for (const w of others) this.#send(w, { type: 'portcullis:revoked', entry, ack: id });
    // The sender stops waiting after RELAY_WAIT_MS; so does this, for a worker that never answers.
    setTimeout(() => this.#relays.delete(id), RELAY_WAIT_MS).unref();
    this.#settle(id);
  }

  #applied(worker: Worker, id: number): void {
    this.#relays.get(id)?.waiting.delete(worker);
    this.#settle(id);
  }

  #settle(id: number): void {
    const relay = this.#relays.get(id);
    if (!relay) return;
    for (const w of relay.waiting) if (!w.isConnected() || w.isDead()) relay.waiting.delete(w);
    if (relay.waiting.size > 0) return;
    this.#relays.delete(id);
    this.#send(relay.from, { type: 'portcullis:relayed', ack: relay.ack });
  }

  #liveRevocations(): string[] {
    const now = Date.now();
    for (const [entry, until] of this.#revocations) if (until <= now) this.#revocations.delete(entry);
    return [...this.#revocations.keys()];
  }

  #send(worker: Worker, m: ToWorker): void {
    if (!worker.isConnected()) return;
    // A worker that died meanwhile cannot be told; its replacement gets the state at setup.
    worker.send(m, undefined, () => undefined);
  }

  #exited(worker: Worker, code: number | null, signal: string | null): void {
    const startedAt = this.#started.get(worker) ?? Date.now();
    this.#started.delete(worker);
    this.#listening.delete(worker);
    this.#setUp.delete(worker);
    for (const [id, relay] of this.#relays) if (relay.waiting.delete(worker)) this.#settle(id);
    this.#alive.set(this.#listening.size);
    if (this.#stopping) {
      if (this.#started.size === 0) this.#allExited?.();
      return;
    }
    if (!this.#everyListening) {
      this.#startFailed?.(new WorkerStartError([`worker ${worker.id} exited during start-up (${signal ?? `status ${code}`})`]));
      return;
    }
    this.#shortLives = Date.now() - startedAt < SHORT_LIFE_MS ? this.#shortLives + 1 : 0;
    // One that served a while is replaced at once; one that keeps dying young, ever more slowly.
    const delay = Math.min(MAX_RESTART_MS, FIRST_RESTART_MS * 2 ** this.#shortLives);
    this.#restarts.inc();
    this.#log.warn({ event: 'worker_exited', worker: worker.id, pid: worker.process.pid, code, signal, restartInMs: delay }, 'a worker exited; starting another');
    const timer = setTimeout(() => {
      if (this.#restartTimer === timer) this.#restartTimer = undefined;
      if (!this.#stopping) this.#fork();
    }, delay);
    this.#restartTimer = timer;
  }

  /** Every worker drains (each within `graceMs`); one still running a little after that is killed. */
  async close(graceMs: number): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    const gone = new Promise<void>((resolve) => { this.#allExited = resolve; });
    if (this.#started.size === 0) this.#allExited!();
    for (const w of this.#started.keys()) this.#send(w, { type: 'portcullis:stop' });
    const killer = setTimeout(() => {
      for (const w of this.#started.keys()) w.process.kill('SIGKILL');
    }, graceMs + 3000);
    await gone;
    clearTimeout(killer);
    await this.#metrics?.close();
  }

  abort(): void {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    for (const w of this.#started.keys()) this.#send(w, { type: 'portcullis:stop', now: true });
  }
}

function untilOf(entry: string): number | undefined {
  try {
    const until = (JSON.parse(entry) as { until?: unknown }).until;
    return typeof until === 'number' ? until : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Revocations to and from the siblings, through the primary. Those that arrive before the session
 * store subscribes (the ones in force at setup, and any published meanwhile) wait for it.
 */
class SiblingRelay implements SiblingProcesses {
  #receive?: (entry: string) => void;
  readonly #early: string[] = [];
  readonly #pending = new Map<number, () => void>();
  #nextAck = 1;
  readonly #log: () => Logger | undefined;

  constructor(log: () => Logger | undefined) {
    this.#log = log;
  }

  /** The revocations in force when this worker was set up. */
  inForce(entries: readonly string[]): void {
    for (const e of entries) this.deliver(e, undefined);
  }

  /** The primary is gone: no confirmation will come, and no sign-out waits for one. */
  releaseAll(): void {
    for (const ack of [...this.#pending.keys()]) this.relayed(ack);
  }

  publish(entry: string): Promise<void> {
    const ack = this.#nextAck++;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        // A primary too busy (or gone) must not hold a sign-out forever: it answers, and says so.
        this.#pending.delete(ack);
        this.#log()?.warn({ event: 'revocation_relay_slow', waitedMs: RELAY_WAIT_MS }, 'the other workers did not confirm a sign-out in time; a replayed cookie may be served by them for a moment');
        resolve();
      }, RELAY_WAIT_MS);
      this.#pending.set(ack, () => { clearTimeout(timer); resolve(); });
      if (!process.send?.({ type: 'portcullis:revoked', entry, ack } satisfies ToPrimary, undefined, () => undefined)) {
        if (!process.connected) this.relayed(ack);
      }
    });
  }

  relayed(ack: number): void {
    const done = this.#pending.get(ack);
    this.#pending.delete(ack);
    done?.();
  }

  subscribe(receive: (entry: string) => void): void {
    this.#receive = receive;
    for (const e of this.#early.splice(0)) receive(e);
  }

  /** A sibling's revocation: applied (or kept for the store that subscribes), then confirmed to the primary. */
  deliver(entry: string, ack: number | undefined): void {
    if (this.#receive) this.#receive(entry);
    else this.#early.push(entry);
    if (ack !== undefined) process.send?.({ type: 'portcullis:applied', ack } satisfies ToPrimary, undefined, () => undefined);
  }
}

/**
 * A worker's life: asks the primary for the configuration, starts the proxy, and stops when the
 * primary says so, on SIGTERM/SIGINT of its own (Ctrl-C reaches the whole process group), or when
 * the primary is gone. `describe` words a start-up error as the single process would.
 */
export async function runWorker(describe: (e: Error) => string): Promise<void> {
  let log: Logger | undefined;
  // Made before anything arrives: a revocation relayed in the same read as the setup is handled
  // before code after an await runs, and must be kept (and only then confirmed), not dropped.
  const relay = new SiblingRelay(() => log);
  let stopper: Stopper | undefined;
  let pendingStop: { now?: boolean } | undefined;
  const setup = await new Promise<Extract<ToWorker, { type: 'portcullis:setup' }>>((resolve) => {
    process.on('message', (m: unknown) => {
      if (!isMessage<ToWorker>(m)) return;
      if (m.type === 'portcullis:setup') {
        relay.inForce(m.revocations);
        resolve(m);
      } else if (m.type === 'portcullis:revoked') relay.deliver(m.entry, m.ack);
      else if (m.type === 'portcullis:relayed') relay.relayed(m.ack);
      else if (m.type === 'portcullis:stop') {
        // Ctrl-C reaches every process of the group: a worker may be draining already.
        if (!stopper) pendingStop = m;
        else if (m.now || !stopper.stopping) stopper.stop('SIGTERM', m.now);
      }
    });
    process.send!({ type: 'portcullis:hello' } satisfies ToPrimary);
  });
  const failed = (lines: string[]): void => {
    process.send!({ type: 'portcullis:failed', lines } satisfies ToPrimary, undefined, () => process.exit(2));
    // Should the primary be gone, exit all the same.
    setTimeout(() => process.exit(2), 1000).unref();
  };
  // The alpha file's text as the primary read it: every process runs the same configuration.
  const result = setup.alpha ? validateAlphaConfig(setup.raw, setup.alpha) : validateConfig(setup.raw);
  if (!result.ok) return failed(result.errors);
  let config = result.config;
  if (setup.identityJwtKeys && config.identityJwt) {
    config = { ...config, identityJwt: { ...config.identityJwt, keys: setup.identityJwtKeys.map((jwk) => identityKey(createPrivateKey({ key: jwk, format: 'jwk' }))) } };
  }
  log = createLogger(config.logLevel);
  const link: WorkerLink = {
    siblings: relay,
    shareMetrics: (registry) => {
      // Constructed in a worker, it answers the primary's requests for this worker's metrics.
      new AggregatorRegistry();
      AggregatorRegistry.setRegistries([registry]);
    },
  };
  let running: Running;
  try {
    running = await startPortcullis(config, log, { worker: link });
  } catch (e) {
    return failed([describe(e as Error)]);
  }
  process.on('unhandledRejection', (reason) => log.error({ err: String(reason) }, 'unhandled rejection'));
  const s = stopOnSignals(running, log);
  stopper = s;
  // The primary is gone (killed): no one hands this worker connections any more.
  process.once('disconnect', () => {
    relay.releaseAll();
    if (!s.stopping) s.stop('SIGTERM');
  });
  process.send!({ type: 'portcullis:listening', url: running.url } satisfies ToPrimary);
  if (pendingStop) s.stop('SIGTERM', pendingStop.now);
}
