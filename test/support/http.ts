import http from 'node:http';
import net from 'node:net';

export interface Answer { readonly status: number; readonly headers: http.IncomingHttpHeaders; readonly body: Buffer; text(): string }

/** One request over node:http (no fetch: its cors headers and its URL normalisation stay out of the way). */
export function request(url: string, o: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<Answer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    // Node sends a DELETE or OPTIONS body without Content-Length unless told: say it always.
    const headers = o.body === undefined ? o.headers : { 'content-length': String(Buffer.byteLength(o.body)), ...o.headers };
    const req = http.request({ host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, method: o.method ?? 'GET', headers, timeout: 10_000, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: () => body.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end(o.body);
  });
}

/**
 * Sends a request target byte for byte (`..`, backslashes, odd encodings: what a client library
 * would normalise or refuse) and returns the status line's code and the whole answer as text.
 */
export function rawRequest(origin: string, target: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; text: string }> {
  const u = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(u.port), u.hostname);
    let text = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer to ${target}; got ${JSON.stringify(text)}`)); }, 5000);
    socket.on('data', (c: Buffer) => { text += c.toString('latin1'); });
    socket.on('end', () => { clearTimeout(timer); resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text }); });
    socket.on('error', (e) => { clearTimeout(timer); reject(e); });
    const lines = Object.entries({ host: u.host, connection: 'close', ...headers }).map(([k, v]) => `${k}: ${v}`);
    socket.write(`${method} ${target} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  });
}

/** What came back on a raw connection: the bytes (latin1), whether the peer closed, and when. */
export interface Exchange {
  readonly text: string;
  /** The status code of the first status line, 0 when none came. */
  readonly status: number;
  /** 'closed' when the peer ended or reset the connection, 'waiting' when `waitMs` ran out first. */
  readonly end: 'closed' | 'waiting';
  /** Milliseconds from connecting to the end. */
  readonly ms: number;
}

/**
 * Writes `parts` to a fresh connection, byte for byte (a number is a pause of that many ms: a slow
 * client), and collects what comes back until the peer closes or `waitMs` passes. For what no
 * client library would send: malformed framing, trickled heads and bodies.
 */
export function exchange(origin: string, parts: ReadonlyArray<string | Buffer | number>, waitMs = 5000): Promise<Exchange> {
  const u = new URL(origin);
  return new Promise((resolve) => {
    const t0 = performance.now();
    const socket = net.connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (end: Exchange['end']): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ text, status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0), end, ms: performance.now() - t0 });
    };
    const timer = setTimeout(() => finish('waiting'), waitMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => finish('closed'));
    socket.on('error', () => finish('closed'));
    socket.on('connect', () => void (async () => {
      for (const p of parts) {
        if (done || socket.destroyed) return;
        if (typeof p === 'number') await new Promise((r) => setTimeout(r, p));
        else socket.write(typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
      }
    })());
  });
}
