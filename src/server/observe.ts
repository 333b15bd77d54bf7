import { channel } from 'node:diagnostics_channel';

/**
 * What the proxy tells observers (metrics, tracing, tests), through node:diagnostics_channel.
 * Publishing is guarded by `hasSubscribers` at each site, as fastify does, so with nobody listening
 * a request pays nothing: no message object, no listener on the response.
 */
export const observe = {
  /** One message per finished request: { method, path, status, durationMs, user?, upgrade }. */
  request: channel('portcullis:request'),
  /** Login progress: { outcome: 'started' | 'completed' | 'failed', code? }. */
  login: channel('portcullis:login'),
  /** An upstream that could not take or finish a request: { upstream, code? }. */
  upstreamError: channel('portcullis:upstream-error'),
  /** A connection closed as it arrived, because max_connections were open: {}. */
  connectionRefused: channel('portcullis:connection-refused'),
} as const;

export interface RequestFinished {
  readonly method: string | undefined;
  readonly path: string;
  readonly status: number;
  readonly durationMs: number;
  readonly user: string | undefined;
  readonly upgrade: boolean;
}
