import http from 'node:http';
import https from 'node:https';

export interface Response {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly url: string;
}

/** Where to connect instead of the URL's host: another address, or a unix socket. */
export type Dial = { readonly host: string } | { readonly socketPath: string };

interface StoredCookie { name: string; value: string; path: string; expires?: number; secure: boolean }

/**
 * Chromium's rule for Secure cookies: they are set from, and sent to, https URLs and "potentially
 * trustworthy" http ones, which include loopback (localhost, *.localhost, 127.0.0.0/8, ::1). Seen
 * with Chromium 156 here: a Secure cookie from http://127.0.0.1 or http://localhost is kept and sent
 * back; from http://portcullis.test (mapped to 127.0.0.1 by --host-resolver-rules) it is dropped.
 */
export function isPotentiallyTrustworthy(url: URL): boolean {
  if (url.protocol === 'https:') return true;
  const h = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * A minimal browser over node:http: a cookie jar (cookies keyed by host only, not port, as real
 * browsers do; Secure cookies only on trustworthy origins, as Chromium does), redirects followed by
 * hand, and navigation headers (fetch would add Sec-Fetch-Mode: cors and look like an API call).
 */
export class HttpBrowser {
  readonly jar = new Map<string, StoredCookie[]>();
  readonly history: string[] = [];
  readonly #timeoutMs: number;
  readonly #ca?: string;
  readonly #dial?: (url: URL) => Dial | undefined;

  /**
   * `timeoutMs`: how long one request may take before it fails (longer than any timeout under test).
   * `ca`: the certificate authority https URLs are checked against. `dial`: where to connect for a
   * URL instead of its own host (a loopback address for a test host name, as Chromium's
   * --host-resolver-rules do, or a unix socket); the Host header and TLS name stay the URL's.
   */
  constructor(o: { timeoutMs?: number; ca?: string; dial?: (url: URL) => Dial | undefined } = {}) {
    this.#timeoutMs = o.timeoutMs ?? 10_000;
    this.#ca = o.ca;
    this.#dial = o.dial;
  }

  cookieHeader(url: URL): string {
    const now = Date.now();
    const secureOk = isPotentiallyTrustworthy(url);
    const list = (this.jar.get(url.hostname) ?? []).filter((c) => (c.expires === undefined || c.expires > now) && (secureOk || !c.secure) && (url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)));
    return list.map((c) => `${c.name}=${c.value}`).join('; ');
  }

  cookies(host = '127.0.0.1'): Map<string, string> {
    return new Map((this.jar.get(host) ?? []).map((c) => [c.name, c.value]));
  }

  setCookie(host: string, name: string, value: string, path = '/'): void {
    const list = (this.jar.get(host) ?? []).filter((c) => !(c.name === name && c.path === path));
    list.push({ name, value, path, secure: false });
    this.jar.set(host, list);
  }

  #store(url: URL, setCookie: string[] | undefined): void {
    for (const line of setCookie ?? []) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      let path = '/';
      let expires: number | undefined;
      let secure = false;
      for (const a of attrs) {
        const [k, v] = a.trim().split('=');
        if (k!.toLowerCase() === 'path') path = v ?? '/';
        if (k!.toLowerCase() === 'max-age') expires = Date.now() + Number(v) * 1000;
        if (k!.toLowerCase() === 'secure') secure = true;
      }
      if (secure && !isPotentiallyTrustworthy(url)) continue;
      const list = (this.jar.get(url.hostname) ?? []).filter((c) => !(c.name === name && c.path === path));
      if (expires === undefined || expires > Date.now()) list.push({ name, value, path, expires, secure });
      this.jar.set(url.hostname, list);
    }
  }

  request(target: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Response> {
    const url = new URL(target);
    this.history.push(url.href);
    const cookie = this.cookieHeader(url);
    const headers: Record<string, string> = { accept: 'text/html,application/xhtml+xml', 'user-agent': 'portcullis-test', ...(cookie ? { cookie } : {}), ...o.headers };
    return new Promise((resolve, reject) => {
      const tls = url.protocol === 'https:';
      const options: https.RequestOptions = { method: o.method ?? 'GET', headers: { host: url.host, ...headers }, timeout: this.#timeoutMs };
      const dial = this.#dial?.(url);
      if (dial && 'host' in dial) options.hostname = dial.host;
      if (dial && 'socketPath' in dial) options.socketPath = dial.socketPath;
      if (tls) Object.assign(options, { ca: this.#ca, servername: /^[\d.]+$|:/.test(url.hostname) ? undefined : url.hostname });
      const req = (tls ? https : http).request(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          this.#store(url, res.headers['set-cookie']);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), url: url.href });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`timeout: ${url.href}`)));
      req.on('error', reject);
      if (o.body) req.write(o.body);
      req.end();
    });
  }

  /** GET, following redirects (at most `maxHops`), the way a browser navigates. */
  async navigate(target: string, o: { headers?: Record<string, string>; maxHops?: number; stopAt?: (u: URL) => boolean } = {}): Promise<Response> {
    let url = target;
    for (let hop = 0; hop <= (o.maxHops ?? 15); hop++) {
      if (o.stopAt?.(new URL(url))) return { status: 0, headers: {}, body: '', url };
      const res = await this.request(url, { headers: o.headers });
      const loc = res.headers.location;
      if (res.status < 300 || res.status >= 400 || !loc) return res;
      url = new URL(loc, url).href;
    }
    throw new Error(`too many redirects from ${target}`);
  }
}
