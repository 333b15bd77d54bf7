// Imports nothing: the pages show a request id too, and sit below the road (prelude.ts).
/**
 * A client's request id is kept only when it looks like one: 1–128 characters of letters, digits
 * and `- _ . : + / = @` (UUIDs, nginx's $request_id, base64 and most tracing ids). Anything else
 * (longer, spaces, quotes, several values joined by a comma) is replaced, so a client cannot put
 * arbitrary text into the log lines, the upstream's request or the answer. The value is taken from
 * any client for now; trusting it only from known proxies (trusted_proxy_ips) comes later.
 */
const SANE_REQUEST_ID = /^[A-Za-z0-9\-_.:+/=@]{1,128}$/;

export function isSaneRequestId(value: string | string[] | undefined): value is string {
  return typeof value === 'string' && SANE_REQUEST_ID.test(value);
}
