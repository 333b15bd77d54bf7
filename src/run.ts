import type { Logger } from 'pino';
import type { Config } from './config/validate.js';
import { Issuer } from './oidc/issuer.js';
import { createApp } from './server/road.js';
import { listen } from './server/listen.js';

export interface Running {
  readonly url: string;
  readonly issuer: Issuer;
  /** Resolves when the issuer is first usable (never rejects; retries meanwhile). */
  readonly issuerReady: Promise<void>;
  close(graceMs?: number): Promise<void>;
}

/** Starts serving at once; the issuer connects in the background so a dead issuer never blocks start-up. */
export async function startPortcullis(config: Config, log: Logger, o: { requestLog?: NodeJS.WritableStream } = {}): Promise<Running> {
  const issuer = new Issuer(config.provider, log);
  const app = createApp(config, issuer, log, o);
  const listener = await listen(config.listen, app, log);
  const issuerReady = issuer.start();
  log.info({ address: listener.url, upstreams: config.upstreams.map((u) => u.url.href) }, 'portcullis listening');
  return {
    url: listener.url,
    issuer,
    issuerReady,
    close: async (graceMs) => {
      issuer.stop();
      await listener.close(graceMs);
      app.close();
    },
  };
}
