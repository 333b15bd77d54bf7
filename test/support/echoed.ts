import type { Echoed } from './stack.js';

/** The echo upstream's JSON view in a raw HTTP/1.1 answer (plain or chunked), or undefined when the answer is not a 200 from it. */
export function echoedIn(text: string): Echoed | undefined {
  if (!/^HTTP\/1\.1 200 /.test(text)) return undefined;
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  let body = text.slice(head.length + 4);
  if (/\r\ntransfer-encoding: chunked/i.test(head)) {
    let out = '';
    for (;;) {
      const nl = body.indexOf('\r\n');
      const size = parseInt(body.slice(0, nl), 16);
      if (!size) break;
      out += body.slice(nl + 2, nl + 2 + size);
      body = body.slice(nl + 2 + size + 2);
    }
    body = out;
  }
  try {
    return JSON.parse(Buffer.from(body, 'latin1').toString('utf8')) as Echoed;
  } catch {
    return undefined;
  }
}
