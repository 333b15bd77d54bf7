import { write as fsWrite, writeSync, writev as fsWritev } from 'node:fs';

/**
 * POSIX guarantees that a write of at most PIPE_BUF bytes (4096 on Linux) to a pipe is never
 * interleaved with another process's; a longer one may be split wherever the pipe is full.
 */
const PIPE_BUF = 4096;

/**
 * Lines wait this long, or until a chunk is full, to leave in one system call: each write is a
 * hand-off to a libuv worker thread and back, which costs about as much as formatting several
 * lines, so under load the per-request share of it shrinks with the batch (nginx's
 * `access_log … buffer=64k flush=…` makes the same trade).
 */
const FLUSH_MS = 10;
/** Bytes per chunk: lines are copied once, as UTF-8, into chunks of this size. */
const CHUNK = 64 * 1024;
/** writev takes at most IOV_MAX (1024) buffers; far more than one flush fills. */
const MAX_IOV = 512;
/** A full pipe on a non-blocking descriptor (EAGAIN): try again this much later, never in a loop. */
const RETRY_MS = 10;

interface Chunk { readonly buf: Buffer; used: number }

/**
 * Where every log line goes: stdout, without ever stopping the proxy, at a cost per line that does
 * not depend on how fast stdout is read. Each line is copied once, as UTF-8, into a 64 KiB buffer;
 * every 10 ms, or as soon as a buffer is full, the filled buffers leave in one `writev` run on a
 * libuv worker thread, with at most one write in flight. A slow reader therefore costs the proxy
 * memory, not CPU: while a write waits for the reader, lines gather into the next, larger batch.
 * (Formatting is the caller's: pino's lines, and the request log's own, log.ts.)
 *
 * Policy, with bounded memory: lines wait in memory up to `maxBytes` (16 MiB by default); past
 * that they are dropped and counted, and a `log_lines_dropped` warning with the count is written
 * once the reader has caught up. A reader that is gone (EPIPE, or any other write error) costs a
 * dropped line each. At the end: a process whose event loop empties writes what is left before it
 * exits (`beforeExit`); a stop signal waits for `drain()` for a bounded time (stopping.ts);
 * `process.exit()` writes what is left synchronously, unless a write is still waiting for a
 * stalled reader, and then the rest is lost: waiting on stdout for ever at exit (sonic-boom
 * 4.2.1's exit flushSync retries EPIPE in a sleep loop) would be worse.
 */
export class LogSink {
  readonly #fd: number;
  readonly #maxBytes: number;
  #chunkSize = CHUNK;
  #atomic = false;
  /** Chunks being filled, oldest first; lines go into the last. */
  #filling: Chunk[] = [];
  /** Chunks handed to the write in flight, and how far into the first it has got. */
  #sending: Chunk[] = [];
  #offset = 0;
  /** A written chunk or two, kept for reuse, so a steady stream of lines allocates nothing. */
  #spare: Chunk[] = [];
  /** Bytes not yet written: filling, and what is left of sending. */
  #queued = 0;
  #dropped = 0;
  #reported = 0;
  #broken = false;
  #timer?: NodeJS.Timeout;
  #waiters: Array<() => void> = [];

  constructor(fd = 1, maxBytes = 16 * 1024 * 1024, o: { shared?: boolean } = {}) {
    this.#fd = fd;
    this.#maxBytes = maxBytes;
    if (o.shared) this.shareWithOtherProcesses();
    process.on('beforeExit', this.#onBeforeExit);
    process.on('exit', this.#onExit);
  }

  /**
   * Other processes write to the same stdout (cluster workers): every write from now on is whole
   * lines of at most PIPE_BUF bytes, so a reader never gets half a line of one process spliced
   * into another's. A single line longer than that still goes out alone. A single process does
   * not pay for it: it writes 64 KiB at a time.
   */
  shareWithOtherProcesses(): void {
    this.#atomic = true;
    this.#chunkSize = PIPE_BUF;
  }

  /** Lines dropped so far because the reader was too slow or gone. */
  get dropped(): number { return this.#dropped; }

  /** Takes one or more whole lines, each ending in a newline. */
  readonly write = (line: string): void => {
    if (this.#broken) {
      this.#dropped += countLines(line);
      return;
    }
    let cur = this.#filling[this.#filling.length - 1];
    // A UTF-16 code unit is at most 3 UTF-8 bytes: the cheap bound decides without counting.
    if (cur === undefined || cur.used + line.length * 3 > cur.buf.length || this.#queued + line.length * 3 > this.#maxBytes) {
      // Full for sure (every code unit is at least a byte): dropped without counting its bytes.
      if (this.#queued + line.length > this.#maxBytes) {
        this.#dropped += countLines(line);
        return;
      }
      const bytes = Buffer.byteLength(line);
      if (this.#queued + bytes > this.#maxBytes) {
        this.#dropped += countLines(line);
        return;
      }
      if (cur === undefined || cur.used + bytes > cur.buf.length) {
        cur = this.#chunk(bytes);
        this.#filling.push(cur);
        // A full chunk leaves now rather than at the timer (under load, every 64 KiB).
        if (this.#filling.length > 1) this.#flushSoon(0);
      }
    }
    const n = cur.buf.write(line, cur.used);
    cur.used += n;
    this.#queued += n;
    if (this.#timer === undefined && this.#sending.length === 0) this.#flushSoon(FLUSH_MS);
  };

  #chunk(bytes: number): Chunk {
    if (bytes <= this.#chunkSize) {
      const spare = this.#spare.pop();
      if (spare && spare.buf.length === this.#chunkSize) return spare;
    }
    return { buf: Buffer.allocUnsafe(Math.max(this.#chunkSize, bytes)), used: 0 };
  }

  #flushSoon(ms: number): void {
    if (this.#sending.length > 0) return; // the write's completion sends the rest
    if (this.#timer !== undefined) {
      if (ms !== 0) return;
      clearTimeout(this.#timer);
    }
    this.#timer = setTimeout(this.#flush, ms);
    // Never keeps the process alive by itself: beforeExit writes what is left.
    this.#timer.unref();
  }

  readonly #flush = (): void => {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#sending.length > 0 || this.#broken) return;
    // Caught up (at most one chunk's worth waiting): say how many lines were lost.
    if (this.#dropped > this.#reported && this.#filling.length <= 1) this.#reportDrops();
    this.#sending = this.#filling.splice(0, this.#atomic ? 1 : MAX_IOV).filter((c) => c.used > 0);
    this.#offset = 0;
    if (this.#sending.length > 0) this.#send();
    else this.#settle();
  };

  #send(): void {
    const first = this.#sending[0]!;
    if (this.#sending.length === 1) {
      fsWrite(this.#fd, first.buf, this.#offset, first.used - this.#offset, null, this.#written);
    } else {
      const bufs = this.#sending.map((c, i) => c.buf.subarray(i === 0 ? this.#offset : 0, c.used));
      fsWritev(this.#fd, bufs, null, this.#written);
    }
  }

  readonly #written = (err: NodeJS.ErrnoException | null, n: number): void => {
    if (err) {
      // A non-blocking descriptor with a full pipe: the same bytes again, a little later.
      if (err.code === 'EAGAIN') return void setTimeout(() => this.#send(), RETRY_MS);
      this.#broken = true;
      for (const c of [...this.#sending, ...this.#filling]) this.#dropped += countLines(c.buf.toString('utf8', 0, c.used));
      this.#sending = [];
      this.#filling = [];
      this.#queued = 0;
      return this.#settle();
    }
    this.#queued -= n;
    // Past what was written; a short write (a signal, a non-blocking pipe) goes on from there.
    let left = n + this.#offset;
    while (this.#sending.length > 0 && left >= this.#sending[0]!.used) {
      const done = this.#sending.shift()!;
      left -= done.used;
      done.used = 0;
      if (this.#spare.length < 2) this.#spare.push(done);
    }
    this.#offset = left;
    if (this.#sending.length > 0) return this.#send();
    // What gathered meanwhile: a full chunk leaves at once, a partial one at the usual pace, so a
    // fast reader does not turn the batches into a write per line.
    if (this.#filling.length > 1) this.#flush();
    else if (this.#queued > 0 || this.#dropped > this.#reported) this.#flushSoon(FLUSH_MS);
    this.#settle();
  };

  #reportDrops(): void {
    const text = `${JSON.stringify({ level: 40, time: Date.now(), service: 'portcullis', event: 'log_lines_dropped', dropped: this.#dropped - this.#reported, msg: 'log lines were dropped: stdout was not read fast enough' })}\n`;
    this.#reported = this.#dropped;
    const buf = Buffer.from(text);
    this.#filling.unshift({ buf, used: buf.length });
    this.#queued += buf.length;
  }

  /** Wakes drain() callers once nothing is queued or the sink is broken. */
  #settle(): void {
    if (this.#queued !== 0 && !this.#broken) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once every line is written, or after `timeoutMs` (a stalled reader). */
  drain(timeoutMs: number): Promise<void> {
    if (this.#broken || this.#queued === 0) return Promise.resolve();
    if (this.#sending.length === 0) this.#flush();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      this.#waiters.push(() => { clearTimeout(timer); resolve(); });
    });
  }

  readonly #onBeforeExit = (): void => {
    // The event loop is empty: send what is left; the write keeps the loop alive until it is out.
    if (this.#queued !== 0 && this.#sending.length === 0 && !this.#broken) this.#flush();
  };

  readonly #onExit = (): void => {
    if (this.#broken || this.#sending.length > 0 || this.#queued === 0) return;
    try {
      for (const c of this.#filling) {
        for (let off = 0; off < c.used;) off += writeSync(this.#fd, c.buf, off, c.used - off);
      }
    } catch {
      // EPIPE, or EAGAIN on a full non-blocking pipe: the rest is lost; the process is leaving.
    }
    this.#filling = [];
    this.#queued = 0;
  };
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
