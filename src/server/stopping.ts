import { constants } from 'node:os';
import type { Logger } from 'pino';
import { stderrSink, stdoutSink } from '../log.js';

/** What a stop signal ends: one proxy process, or a cluster's primary with its workers. */
export interface Stoppable {
  /** Stops taking requests and lets those in flight finish, for at most `graceMs`. */
  close(graceMs: number): Promise<void>;
  /** The second signal: whatever is still running is asked to end at once. */
  abort?(signal: NodeJS.Signals): void;
}

/**
 * SIGTERM or SIGINT drains, then exits 0; `stop()` does the same for a stop that comes another way
 * (a cluster worker told by its primary). `after` runs once the drain is over (the demo's servers).
 */
export function stopOnSignals(target: Stoppable, log: Logger, after: () => Promise<void> = async () => undefined): Stopper {
  let stopping = false;
  const stop = (signal: NodeJS.Signals, now = false): void => {
    // A second signal means "now": whoever sent it will not wait for the drain (a second Ctrl-C,
    // or an orchestrator that has run out of patience). 128 + the signal's number, as a shell reports it.
    if (stopping || now) {
      log.warn({ signal }, 'second signal: exiting without waiting for requests in flight');
      target.abort?.(signal);
      // A fifth of a second for the log lines to leave, no more: "now" is what was asked.
      void Promise.all([stdoutSink().drain(200), stderrSink().drain(200)]).finally(() => process.exit(128 + constants.signals[signal]));
      return;
    }
    stopping = true;
    log.info({ signal }, 'shutting down: draining requests in flight');
    void target.close(10_000).then(after).finally(() => {
      log.info('stopped');
      // The last lines get a second to reach a reader that is still there; a stalled one loses them.
      void Promise.all([stdoutSink().drain(1000), stderrSink().drain(1000)]).finally(() => process.exit(0));
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return { stop, get stopping() { return stopping; } };
}

export interface Stopper {
  /** As if `signal` came; `now`: as if it came a second time. */
  stop(signal: NodeJS.Signals, now?: boolean): void;
  readonly stopping: boolean;
}
