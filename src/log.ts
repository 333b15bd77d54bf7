import cluster from 'node:cluster';
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type { SonicBoom as Boom } from 'sonic-boom';

// sonic-boom is CommonJS whose typings declare an ES default export; require it as what it is.
const SonicBoom = createRequire(import.meta.url)('sonic-boom') as typeof Boom;

/**
 * POSIX guarantees that a write of at most PIPE_BUF bytes (4096 on Linux) to a pipe is never
 * interleaved with another process's; a longer one may be split wherever the pipe is full.
 */
const PIPE_BUF = 4096;

/**
 * Lines wait this long, or until this many characters are pending, to leave in one write: each
 * write is a hand-off to a libuv worker thread and back, which costs about as much as formatting
 * several lines, so under load the per-request share of it shrinks with the batch.
 */
const FLUSH_MS = 10;
const FLUSH_CHARS = 64 * 1024;

/**
 * Where every log line goes: stdout, without ever stopping the proxy. Lines of 10 ms leave in one
 * write (under load that is many lines per write), handed to sonic-boom in its
 * asynchronous mode, whose writes run off the event loop. A reader that stalls (a log shipper that
 * is slow or stuck) therefore holds at most one of libuv's worker threads, never the requests:
 * lines wait in memory up to `maxBytes`, and beyond that are dropped and counted, and a warning
 * with the count is written once the reader catches up. A reader that is gone (EPIPE) costs a
 * dropped line each. Nothing waits on stdout at exit (sonic-boom 4.2.1's exit flushSync retries
 * EPIPE in a sleep loop for ever); a graceful stop waits for `drain()` for a bounded time instead.
 */
export class LogSink {
  readonly #out: Boom;
  /** Bytes handed to sonic-boom and not yet written. */
  #queued = 0;
  #pending = '';
  #dropped = 0;
  #reported = 0;
  #broken = false;
  #atomic = false;
  #timer?: NodeJS.Timeout;

  constructor(fd = 1, maxBytes = 16 * 1024 * 1024, o: { shared?: boolean } = {}) {
    this.#out = new SonicBoom({ fd, sync: false, maxLength: maxBytes, minLength: 0 });
    if (o.shared) this.shareWithOtherProcesses();
    this.#out.on('drop', (data: string) => { this.#dropped += countLines(data); });
    this.#out.on('write', (n: number) => { this.#queued -= n; });
    this.#out.on('error', () => { this.#broken = true; });
  }

  /**
   * Other processes write to the same stdout (cluster workers): every write from now on is whole
   * lines of at most PIPE_BUF bytes, so a reader never gets half a line of one process spliced
   * into another's. A single line longer than that still goes out alone. A single process does
   * not pay for it: it writes each batch at once.
   */
  shareWithOtherProcesses(): void {
    this.#atomic = true;
    // sonic-boom joins consecutive writes up to maxWrite bytes into one write(2).
    (this.#out as unknown as { maxWrite: number }).maxWrite = PIPE_BUF;
  }

  /** Lines dropped so far because the reader was too slow or gone. */
  get dropped(): number { return this.#dropped; }

  readonly write = (line: string): void => {
    if (this.#broken) {
      this.#dropped += countLines(line);
      return;
    }
    if (this.#pending === '') this.#timer = setTimeout(this.#flush, FLUSH_MS);
    this.#pending += line;
    if (this.#pending.length >= FLUSH_CHARS) {
      clearTimeout(this.#timer);
      this.#flush();
    }
  };

  readonly #flush = (): void => {
    clearTimeout(this.#timer);
    let text = this.#pending;
    this.#pending = '';
    if (this.#dropped > this.#reported && this.#queued === 0) {
      text = `${JSON.stringify({ level: 40, time: Date.now(), service: 'portcullis', event: 'log_lines_dropped', dropped: this.#dropped - this.#reported, msg: 'log lines were dropped: stdout was not read fast enough' })}\n${text}`;
      this.#reported = this.#dropped;
    }
    if (text === '') return;
    if (!this.#atomic || text.length * 3 <= PIPE_BUF) return this.#hand(text);
    for (const piece of linePieces(text, PIPE_BUF)) this.#hand(piece);
  };

  #hand(text: string): void {
    // Past maxBytes sonic-boom drops the text instead of queueing it, telling the 'drop' handler
    // synchronously, inside write().
    const droppedBefore = this.#dropped;
    this.#out.write(text);
    if (this.#dropped === droppedBefore) this.#queued += Buffer.byteLength(text);
  }

  /** Resolves once every line is written, or after `timeoutMs` (a stalled reader). */
  drain(timeoutMs: number): Promise<void> {
    this.#flush();
    if (this.#broken || this.#queued === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      this.#out.flush(() => { clearTimeout(timer); resolve(); });
    });
  }
}

/** `text` cut after newlines into pieces of at most `max` UTF-8 bytes (a longer line is a piece of its own). */
export function linePieces(text: string, max: number): string[] {
  const pieces: string[] = [];
  let start = 0;
  let bytes = 0;
  for (let from = 0; from < text.length;) {
    const nl = text.indexOf('\n', from);
    const end = nl < 0 ? text.length : nl + 1;
    const n = Buffer.byteLength(text.slice(from, end));
    if (bytes > 0 && bytes + n > max) {
      pieces.push(text.slice(start, from));
      start = from;
      bytes = 0;
    }
    bytes += n;
    from = end;
  }
  if (start < text.length) pieces.push(text.slice(start));
  return pieces;
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

let stdout: LogSink | undefined;

/**
 * The one sink on stdout, shared by the main log and the request log so their lines never interleave.
 * A cluster worker shares stdout with its siblings and the primary (which calls shareWithOtherProcesses).
 */
export function stdoutSink(): LogSink {
  return (stdout ??= new LogSink(1, undefined, { shared: cluster.isWorker }));
}

let stdoutView: ((line: string) => string) | undefined;

/**
 * Lines written to stdout from now on go through `view` first ('' drops a line): the demo's
 * readable terminal lines (terminallog.ts). Loggers made before the call keep writing JSON.
 */
export function viewStdoutWith(view: (line: string) => string): void {
  stdoutView = view;
}

/** stdout as the loggers write to it: the sink, through the view when one is set. */
function stdoutDestination(): { write(line: string): void } {
  const sink = stdoutSink();
  const view = stdoutView;
  return view ? { write: (line: string) => { const out = view(line); if (out) sink.write(out); } } : sink;
}

let stderr: LogSink | undefined;

/** The sink on stderr, for error lines when errors_to_info_log is false (oauth2-proxy's default). */
export function stderrSink(): LogSink {
  return (stderr ??= new LogSink(2));
}
/** A worker's log lines say which worker wrote them (cluster's id: 1, 2, …; a replacement gets a new one). */
const workerBinding = (): { worker?: number } => (cluster.isWorker ? { worker: cluster.worker!.id } : {});

/**
 * JSON lines. Redaction is a second line of defence: nothing in Portcullis logs a token, cookie or
 * secret on purpose, and these paths make sure a header dump would not either. `errors`: where
 * lines of level error and above go instead of `destination` (oauth2-proxy writes them to stderr).
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream, o: { errors?: { write(line: string): void } } = {}): Logger {
  const out = (destination ?? stdoutDestination()) as pino.DestinationStream;
  return pino(
    {
      level,
      base: { service: 'portcullis', ...workerBinding() },
      redact: {
        paths: ['req.headers.cookie', 'req.headers.authorization', 'headers.cookie', 'headers.authorization', '*.client_secret', '*.cookie_secret', '*.access_token', '*.id_token', '*.refresh_token'],
        censor: '[redacted]',
      },
    },
    // dedupe: a line goes to the one stream with the highest level at or below its own.
    o.errors ? pino.multistream([{ level: 'trace', stream: out }, { level: 'error', stream: o.errors as pino.DestinationStream }], { dedupe: true }) : out,
  );
}

/**
 * oauth2-proxy's standard log as a view of the main logger: with standard_logging=false only its
 * errors are kept (oauth2-proxy drops those too; a failure that says nothing is worse).
 */
export function standardLogger(root: Logger, enabled: boolean): Logger {
  if (enabled || root.levels.values[root.level]! >= root.levels.values.error!) return root;
  return root.child({}, { level: 'error' });
}

/** The authentication events (login, sign-out, refusals) at the configured level, or none (auth_logging=false). */
export function authLogger(root: Logger, level: string, enabled: boolean): Logger {
  return root.child({}, { level: enabled ? level : 'silent' });
}

/**
 * The per-request log: its lines carry only method, path, status, duration, user, client and
 * request id, so it skips the redaction pass (measured at ≈3 µs a line) that the main logger runs.
 */
export function requestLogger(parent: Logger | string, destination?: NodeJS.WritableStream): Logger {
  const level = typeof parent === 'string' ? parent : parent.level;
  return pino({ level, base: { service: 'portcullis', component: 'request', ...workerBinding() } }, (destination ?? stdoutDestination()) as pino.DestinationStream);
}

export type { Logger };
