import http from 'node:http';
import https from 'node:https';
import type * as client from 'openid-client';

/**
 * The fetch openid-client uses for the issuer when provider_ca_files is set: node:https with
 * exactly those certificate authorities (and the system's when use_system_trust_store is on), so a
 * private issuer's certificate is verified rather than the check turned off; or, with
 * ssl_insecure_skip_verify, with the check turned off after all. Node's own fetch
 * takes no CA without the undici package; this is the few requests the OAuth flow makes
 * (discovery, JWKS, token, userinfo), with their bodies read whole.
 */
export function fetchTrusting(ca: readonly string[] | undefined, o: { insecure?: boolean; clientCertificate?: { cert: string; key: string } } = {}): client.CustomFetch {
  // ssl_insecure_skip_verify: Node's own fetch cannot be told to skip the check either.
  // client_tls_cert_file (RFC 8705): the same certificate on every connection to the issuer, so
  // tokens bound to it at the token endpoint are accepted at userinfo.
  const agent = new https.Agent({
    keepAlive: true, ...(ca ? { ca: [...ca] } : {}), ...(o.insecure ? { rejectUnauthorized: false } : {}),
    ...(o.clientCertificate ? { cert: o.clientCertificate.cert, key: o.clientCertificate.key } : {}),
  });
  return (url, options) => new Promise<Response>((resolve, reject) => {
    const target = new URL(url);
    const headers: Record<string, string> = {};
    new Headers(options.headers as HeadersInit).forEach((value, name) => { headers[name] = value; });
    const send = target.protocol === 'https:' ? https.request : http.request;
    const req = send(target, { method: options.method, headers, ...(target.protocol === 'https:' ? { agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const status = res.statusCode ?? 502;
        const out = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2) out.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
        // A Response may not carry a body with these statuses.
        const body = status === 204 || status === 304 ? null : Buffer.concat(chunks);
        resolve(new Response(body, { status, statusText: res.statusMessage, headers: out }));
      });
    });
    req.on('error', reject);
    const signal = options.signal as AbortSignal | undefined;
    if (signal) {
      if (signal.aborted) req.destroy(signal.reason as Error);
      else signal.addEventListener('abort', () => req.destroy(signal.reason as Error), { once: true });
    }
    const body = options.body as string | URLSearchParams | Uint8Array | undefined | null;
    req.end(body === undefined || body === null ? undefined : body instanceof URLSearchParams ? body.toString() : body);
  });
}
