import { pino, type Logger } from 'pino';

/**
 * JSON lines on stdout. Redaction is a second line of defence: nothing in Portcullis logs a token,
 * cookie or secret on purpose, and these paths make sure a header dump would not either.
 *
 * Written synchronously, as the request log is: pino's default asynchronous destination flushes at
 * exit with sonic-boom's flushSync, which (4.2.1) retries EPIPE in a sleep loop for ever, so a
 * parent that closed our stdout as it sent SIGTERM left the proxy hanging. A synchronous write
 * that meets EPIPE makes pino turn the destination into a no-op instead. These lines are few
 * (start-up, logins, warnings), so writing each at once costs nothing measurable.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'portcullis' },
      redact: {
        paths: ['req.headers.cookie', 'req.headers.authorization', 'headers.cookie', 'headers.authorization', '*.client_secret', '*.cookie_secret', '*.access_token', '*.id_token', '*.refresh_token'],
        censor: '[redacted]',
      },
    },
    destination as pino.DestinationStream | undefined ?? pino.destination({ dest: 1, sync: true }),
  );
}

/**
 * The per-request log: its lines carry only method, path, status, duration and user, so it skips
 * the redaction pass (measured at ≈3 µs a line) that the main logger runs. Lines written in one
 * turn of the event loop go out in one write(2) at its end rather than one each: under load that
 * is many lines per syscall, and no line waits longer than the turn it was logged in. (pino's
 * asynchronous destination was measured too, and cost more than it saved.)
 */
export function requestLogger(parent: Logger, destination?: NodeJS.WritableStream): Logger {
  return pino({ level: parent.level, base: { service: 'portcullis', component: 'request' } }, destination as pino.DestinationStream | undefined ?? turnBatchedStdout());
}

function turnBatchedStdout(): pino.DestinationStream {
  // sonic-boom in sync mode does the writing: it copes with partial writes and EAGAIN on pipes.
  const out = pino.destination({ dest: 1, sync: true });
  let pending = '';
  const flush = (): void => {
    if (pending === '') return;
    const text = pending;
    pending = '';
    out.write(text);
  };
  process.on('exit', flush);
  return {
    write(line: string): void {
      if (pending === '') setImmediate(flush);
      pending += line;
    },
  };
}

export type { Logger };
