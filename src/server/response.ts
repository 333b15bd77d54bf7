import { ServerResponse, type IncomingMessage, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http';

type HeaderValue = number | string | readonly string[];
type Head = OutgoingHttpHeaders | OutgoingHttpHeader[];

/**
 * The listeners' responses (listen.ts passes it to node:http as `ServerResponse`). One thing
 * differs from Node's: the request id header (prelude.ts) can be held back until the head is
 * written instead of set as the request enters. Node's writeHead takes its fast road only when
 * no header was set before it; otherwise it copies every field of the head through setHeader
 * (name and value checks, lower-casing, one store each) and then walks that store. With request
 * ids on, which is the default, every answer paid that: 8,400 of 184,000 instructions of a
 * /oauth2/auth answer (bench/callgrind.ts).
 *
 * The bytes on the wire are what `setHeader(id)` then `writeHead(status, head)` writes: the id
 * first, then the head's fields in their order. Any other use of the headers (setHeader,
 * getHeader, removeHeader, …) first sets the held id the ordinary way, and so does a head that
 * names the id's header itself or that Node's slow road would treat differently (an empty name,
 * an undefined value, an odd list): from then on everything is Node's own. As after Node's own
 * writeHead(status, fields) with nothing set before, a head written on the fast road is not kept
 * for getHeader() afterwards (nothing in the proxy reads a response's headers once they are sent).
 */
export class ProxyResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  /** [name as configured, its lower case, value] of the held header. */
  #held: [string, string, string] | undefined;
  /** A header was set (by anyone: Node's own methods go through these overrides too). */
  #touched = false;

  /**
   * Sends `name: value` first in the head, as setHeader would, without setting it now. `lower`
   * is `name` in lower case (worked out once, not per request).
   */
  holdHeader(name: string, lower: string, value: string): void {
    if (this.#touched) super.setHeader(name, value);
    else this.#held = [name, lower, value];
  }

  #release(): void {
    const h = this.#held;
    this.#touched = true;
    if (h === undefined) return;
    this.#held = undefined;
    super.setHeader(h[0], h[2]);
  }

  override writeHead(statusCode: number, reason?: string | Head, head?: Head): this {
    const h = this.#held;
    if (h === undefined) return super.writeHead(statusCode, reason as string, head);
    const fields = typeof reason === 'string' ? head : reason;
    const list = fields === undefined ? [h[0], h[2]] : withFirst(h, fields);
    if (list === undefined) {
      this.#release();
      return super.writeHead(statusCode, reason as string, head);
    }
    this.#held = undefined;
    try {
      return typeof reason === 'string' ? super.writeHead(statusCode, reason, list) : super.writeHead(statusCode, list);
    } catch {
      // A head Node refuses: Node's own road again, which throws the same error and leaves what it
      // leaves (the id and the fields before the bad one, set) for the answer that follows.
      this.#held = h;
      this.#release();
      return super.writeHead(statusCode, reason as string, head);
    }
  }

  /**
   * writeHead(status, reason, list) on the fast road, when it writes what setHeader(id) then
   * appendHeader per field would (no header touched, no name twice): true once written, false
   * (nothing done) otherwise. The forwarder's road for an upstream's head (upstream/forward.ts).
   */
  writeHeadAppending(statusCode: number, reason: string | undefined, list: readonly string[]): boolean {
    const h = this.#held;
    if (h === undefined || this.#touched) return false;
    const head = withFirst(h, list as string[]);
    if (head === undefined) return false;
    this.#held = undefined;
    try {
      if (reason === undefined) super.writeHead(statusCode, head);
      else super.writeHead(statusCode, reason, head);
    } catch (err) {
      this.#held = h;
      throw err;
    }
    return true;
  }

  override setHeader(name: string, value: HeaderValue): this {
    this.#release();
    return super.setHeader(name, value);
  }

  override setHeaders(headers: Headers | Map<string, HeaderValue>): this {
    this.#release();
    return super.setHeaders(headers);
  }

  override appendHeader(name: string, value: string | readonly string[]): this {
    this.#release();
    return super.appendHeader(name, value);
  }

  override getHeader(name: string): number | string | string[] | undefined {
    this.#release();
    return super.getHeader(name);
  }

  override getHeaders(): OutgoingHttpHeaders {
    this.#release();
    return super.getHeaders();
  }

  override getHeaderNames(): string[] {
    this.#release();
    return super.getHeaderNames();
  }

  /** Node's too (OutgoingMessage), though @types/node knows it only on ClientRequest. */
  getRawHeaderNames(): string[] {
    this.#release();
    return (ServerResponse.prototype as unknown as { getRawHeaderNames(this: ServerResponse): string[] }).getRawHeaderNames.call(this);
  }

  override hasHeader(name: string): boolean {
    this.#release();
    return super.hasHeader(name);
  }

  override removeHeader(name: string): void {
    this.#release();
    super.removeHeader(name);
  }
}

/**
 * The flat [name, value, …] list writeHead's fast road writes as it is: the held header, then the
 * head's fields in order. Undefined where Node's slow road (setHeader per field, into the store
 * that already holds the id) would write something else: two fields of one name in any case (the
 * id's among them: setHeader replaces in place, the fast road writes both), a field setHeader skips
 * or refuses (an empty name, an undefined value), a list of pairs or of odd length.
 */
function withFirst(h: readonly [string, string, string], fields: Head): OutgoingHttpHeader[] | undefined {
  const list: OutgoingHttpHeader[] = [h[0], h[2]];
  const seen: string[] = [h[1]];
  if (Array.isArray(fields)) {
    if (fields.length % 2 !== 0) return undefined;
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i];
      const value = fields[i + 1];
      if (typeof name !== 'string' || name === '' || value === undefined || !firstOfItsName(name, seen)) return undefined;
      list.push(name, value);
    }
    return list;
  }
  for (const name of Object.keys(fields)) {
    const value = (fields as OutgoingHttpHeaders)[name];
    if (name === '' || value === undefined || !firstOfItsName(name, seen)) return undefined;
    list.push(name, value);
  }
  return list;
}

/** False when `seen` (lower-case names so far) has the name already; else adds it. A head has a handful of fields. */
function firstOfItsName(name: string, seen: string[]): boolean {
  const lower = name.toLowerCase();
  for (const s of seen) if (s === lower) return false;
  seen.push(lower);
  return true;
}
