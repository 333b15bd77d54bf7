// ProxyResponse (src/server/response.ts) holds the request id back until the head is written, so
// that Node's writeHead takes its fast road. The bytes on the wire must be what Node's own
// ServerResponse writes when the id is set first with setHeader, as the proxy did before: a
// property compares the raw answers of two real servers on loopback, one of each, for generated
// heads (objects and flat lists, the id's header among them in any case, repeated names, reason
// phrases, an implicit head, headers touched before the head, values Node refuses), and for
// upstream answers passed on by the forwarder (src/upstream/forward.ts).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import fc from 'fast-check';
import { ProxyResponse } from '../src/server/response.js';
import { forwardRequest, type ForwardTarget } from '../src/upstream/forward.js';
import { check } from './support/prop.js';

const ID_NAME = 'X-Request-Id';
const ID = '7f3a9c1e-0b4d-4e8a-9f21-5c6d7e8f9a0b';

type Field = [string, string | string[]];
interface Scenario {
  status: number;
  reason?: string;
  /** How the head is written: writeHead with an object, with a flat list, or implicitly by end(). */
  form: 'object' | 'list' | 'implicit';
  fields: Field[];
  /** Something else uses the headers before the head (setHeader, getHeader, hasHeader, removeHeader), or not. */
  touch?: 'set' | 'get' | 'has' | 'remove-id' | 'append';
  body: string;
}

const names = fc.constantFrom('cache-control', 'Content-Type', 'location', 'set-cookie', 'Set-Cookie', 'x-custom', 'X-Request-Id', 'x-request-id', 'X-REQUEST-ID', 'x-request-idx', 'www-authenticate', 'content-length');
const goodValue = fc.string({ unit: fc.constantFrom(...'abcXYZ019 =;/-_.'), minLength: 1, maxLength: 12 }).map((s) => s.trim() || 'v');
// Now and then a value Node refuses (a line break), which makes writeHead throw.
const value = fc.oneof({ weight: 12, arbitrary: goodValue }, { weight: 1, arbitrary: fc.constant('bad\nvalue') }, { weight: 2, arbitrary: fc.array(goodValue, { minLength: 1, maxLength: 3 }) });
const scenario: fc.Arbitrary<Scenario> = fc.record({
  status: fc.constantFrom(200, 202, 302, 401, 403, 404, 502),
  reason: fc.option(fc.constantFrom('OK', 'Accepted', 'Custom Reason'), { nil: undefined }),
  form: fc.constantFrom('object', 'list', 'implicit'),
  fields: fc.array(fc.tuple(names, value), { maxLength: 6 }),
  touch: fc.option(fc.constantFrom('set', 'get', 'has', 'remove-id', 'append'), { nil: undefined }),
  body: fc.constantFrom('', 'hello'),
}, { requiredKeys: ['status', 'form', 'fields', 'body'] });

/** Writes the scenario's answer; a head Node refuses is followed by a 500, as the proxy's failure path does. */
function play(res: http.ServerResponse, s: Scenario): void {
  res.sendDate = false;
  // A content-length field that does not match the body would make Node refuse the body: leave it to Node.
  const fields = s.fields.filter(([n]) => n.toLowerCase() !== 'content-length' || s.body === '');
  if (s.touch === 'set') res.setHeader('x-touched', '1');
  if (s.touch === 'get') res.getHeader('cache-control');
  if (s.touch === 'has') res.hasHeader(ID_NAME);
  if (s.touch === 'remove-id') res.removeHeader(ID_NAME);
  if (s.touch === 'append') res.appendHeader('set-cookie', 'a=1');
  try {
    if (s.form === 'implicit') {
      res.statusCode = s.status;
      for (const [n, v] of fields) res.setHeader(n, v);
    } else {
      const head = s.form === 'object' ? Object.fromEntries(fields) : fields.flatMap(([n, v]) => (Array.isArray(v) ? v.flatMap((one) => [n, one]) : [n, v]));
      if (s.reason === undefined) res.writeHead(s.status, head);
      else res.writeHead(s.status, s.reason, head);
    }
    res.end(s.body);
  } catch {
    res.statusMessage = '';
    res.writeHead(500, { 'content-type': 'text/plain' }).end('failed');
  }
}

let scenarioOf: (path: string) => Scenario;
/** What the upstream answers for a path: status, reason phrase and raw header list (repeats and all). */
let upstreamOf: (path: string) => { status: number; reason: string; head: string[]; body: string };
const upstream = http.createServer((req, res) => {
  const u = upstreamOf(req.url!);
  res.sendDate = false;
  res.writeHead(u.status, u.reason, u.head).end(u.body);
});
const agent = new http.Agent({ keepAlive: true });
const target = (): ForwardTarget => {
  const port = (upstream.address() as net.AddressInfo).port;
  return { protocol: 'http:', hostname: '127.0.0.1', port, host: `127.0.0.1:${port}`, agent, changeOrigin: false, timeoutMs: 0 };
};
const failed = (res: http.ServerResponse) => (): void => { res.statusMessage = ''; res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway'); };
const plainProxy = http.createServer((req, res) => {
  res.sendDate = false;
  res.setHeader(ID_NAME, ID);
  forwardRequest(req, res, target(), failed(res));
});
const heldProxy = http.createServer({ ServerResponse: ProxyResponse }, (req, res) => {
  res.sendDate = false;
  (res as ProxyResponse).holdHeader(ID_NAME, ID_NAME.toLowerCase(), ID);
  forwardRequest(req, res, target(), failed(res));
});
const plain = http.createServer((req, res) => {
  res.setHeader(ID_NAME, ID);
  play(res, scenarioOf(req.url!));
});
const held = http.createServer({ ServerResponse: ProxyResponse }, (req, res) => {
  (res as ProxyResponse).holdHeader(ID_NAME, ID_NAME.toLowerCase(), ID);
  play(res, scenarioOf(req.url!));
});

/** The raw bytes of one answer, read off the socket until the server closes it. */
function raw(server: http.Server, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const port = (server.address() as net.AddressInfo).port;
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => { text += d; });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no answer to ${path}`)));
  });
}

describe('ProxyResponse: the request id held back until the head', () => {
  const scenarios = new Map<string, Scenario>();
  let n = 0;
  scenarioOf = (path) => scenarios.get(path)!;
  const answers = new Map<string, { status: number; reason: string; head: string[]; body: string }>();
  upstreamOf = (path) => answers.get(path)!;
  const servers = [plain, held, upstream, plainProxy, heldProxy];
  before(async () => {
    for (const s of servers) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  });
  after(() => {
    for (const s of servers) s.close();
    agent.destroy();
  });

  test('writes the same bytes as setHeader(id) then writeHead, for any head', async () => {
    await check('response: held id = setHeader first', fc.asyncProperty(scenario, async (s) => {
      const path = `/${n++}`;
      scenarios.set(path, s);
      const [a, b] = await Promise.all([raw(plain, path), raw(held, path)]);
      scenarios.delete(path);
      assert.equal(b, a);
    }), 300);
  });

  test('the id goes first on the fast road, and a head naming it keeps Node\'s own answer', async () => {
    const fast = '/fast';
    scenarios.set(fast, { status: 202, form: 'object', fields: [['cache-control', 'no-store'], ['content-length', '0']], body: '' });
    assert.match(await raw(held, fast), /^HTTP\/1\.1 202 Accepted\r\nX-Request-Id: 7f3a9c1e-0b4d-4e8a-9f21-5c6d7e8f9a0b\r\ncache-control: no-store\r\ncontent-length: 0\r\n/);
    const named = '/named';
    scenarios.set(named, { status: 200, form: 'list', fields: [['content-type', 'text/plain'], ['x-request-id', 'from-upstream']], body: 'x' });
    const [a, b] = await Promise.all([raw(plain, named), raw(held, named)]);
    assert.equal(b, a);
    assert.match(b, /\r\nx-request-id: from-upstream\r\n/);
  });

  test('passes an upstream\'s head on with the same bytes as setHeader(id) then the forwarder', async () => {
    const upstreamName = fc.constantFrom('Content-Type', 'content-type', 'Set-Cookie', 'set-cookie', 'X-Request-Id', 'x-request-id', 'cache-control', 'x-app', 'Keep-Alive', 'vary');
    const answer = fc.record({
      status: fc.constantFrom(200, 201, 204, 302, 404, 500),
      reason: fc.constantFrom('OK', 'Whatever', ''),
      head: fc.array(fc.tuple(upstreamName, goodValue), { maxLength: 6 }).map((fs) => fs.flat()),
      body: fc.constantFrom('', 'body'),
    });
    await check('response: forwarded head with the held id = setHeader first', fc.asyncProperty(answer, async (u) => {
      const path = `/up${n++}`;
      answers.set(path, u.status === 204 ? { ...u, body: '' } : u);
      const [a, b] = await Promise.all([raw(plainProxy, path), raw(heldProxy, path)]);
      answers.delete(path);
      assert.equal(b, a);
      assert.match(b, /^HTTP\/1\.1 \d{3} [^\r]*\r\nX-Request-Id: /);
    }), 200);
  });
});
