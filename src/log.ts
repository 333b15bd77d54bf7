import cluster from 'node:cluster';
import { pino, type Logger } from 'pino';
import { LogSink } from './logsink.js';

export { LogSink };

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

/** What one request-log line says: the fields of oauth2-proxy's request log that Portcullis keeps. */
export interface RequestLine {
  readonly method: string | undefined;
  readonly path: string;
  readonly status: number;
  readonly durationMs: number;
  readonly user: string | undefined;
  readonly client: string | undefined;
  readonly requestId: string | undefined;
  readonly upgrade: boolean;
}

/**
 * The per-request log. Its one line shape is written by hand rather than through pino: the same
 * bytes pino writes for `info({ method, path, status, durationMs, user, client, requestId })` with
 * this logger's bindings (test/requestlog.test.ts compares the two), without pino's per-line work
 * (walking the object's keys, serializer and hook checks, the redaction pass the main logger runs),
 * which measured 1.3–1.5 µs a line in isolation and more in a busy process. Its fields are only
 * method, path, status, duration, user, client and request id: nothing that needs redaction.
 */
export class RequestLog {
  readonly #out: { write(line: string): unknown };
  /** `,"service":…,"component":"request"` and the worker id, as pino writes its bindings. */
  readonly #bindings: string;

  constructor(out: { write(line: string): unknown }) {
    this.#out = out;
    const base: Record<string, unknown> = { service: 'portcullis', component: 'request', ...workerBinding() };
    this.#bindings = Object.entries(base).map(([k, v]) => `,${JSON.stringify(k)}:${JSON.stringify(v)}`).join('');
  }

  write(l: RequestLine): void {
    // Keys in pino's order; an undefined field is left out, as pino leaves it out.
    let line = `{"level":30,"time":${Date.now()}${this.#bindings}`;
    if (l.method !== undefined) line += `,"method":${asString(l.method)}`;
    line += `,"path":${asString(l.path)},"status":${jsonNumber(l.status)},"durationMs":${jsonNumber(l.durationMs)}`;
    if (l.user !== undefined) line += `,"user":${asString(l.user)}`;
    if (l.client !== undefined) line += `,"client":${asString(l.client)}`;
    if (l.requestId !== undefined) line += `,"requestId":${asString(l.requestId)}`;
    if (l.upgrade) line += ',"upgrade":true';
    this.#out.write(`${line}}\n`);
  }
}

/**
 * A string as pino 10 writes it: on Node 25 and later JSON.stringify; before that its own loop,
 * which is JSON.stringify except that a lone surrogate goes out raw (then UTF-8 makes it U+FFFD)
 * instead of as `\udXXX`. Only a claim could hold one (the user); the test compares both.
 */
const asString = Number(process.versions.node.split('.')[0]) >= 25 ? JSON.stringify : (str: string): string => {
  const l = str.length;
  if (l > 100) return JSON.stringify(str);
  let result = '';
  let last = 0;
  let found = false;
  let point = 255;
  for (let i = 0; i < l && point >= 32; i++) {
    point = str.charCodeAt(i);
    if (point === 34 || point === 92) {
      result += `${str.slice(last, i)}\\`;
      last = i;
      found = true;
    }
  }
  result = found ? result + str.slice(last) : str;
  return point < 32 ? JSON.stringify(str) : `"${result}"`;
};

/** A number as pino writes it: JSON's form, and null for what JSON cannot hold. */
function jsonNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

/**
 * The request log at `level` (its lines are info), or undefined when that level leaves them out;
 * on stdout unless `destination` is given (tests).
 */
export function requestLogger(level: string, destination?: { write(line: string): unknown }): RequestLog | undefined {
  const value = pino.levels.values[level] ?? (level === 'silent' ? Infinity : undefined);
  if (value === undefined || value > pino.levels.values.info!) return undefined;
  return new RequestLog(destination ?? stdoutDestination());
}

export type { Logger };
