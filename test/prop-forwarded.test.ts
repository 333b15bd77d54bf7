// X-Forwarded-For, trusted_ips and CIDR ranges: the client address chosen is never one that an
// untrusted peer wrote. Address ranges are checked against a model in BigInt arithmetic; the
// client address against a model of the forwarding chain (what the client wrote on the left, the
// real client, then the load balancers of trusted_proxy_ips), in the pure function and end to end
// through a real proxy whose trusted_ips let a range in without login.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { isIPv4 } from 'node:net';
import fc from 'fast-check';
import { AddressRanges, addressBytes, parseRange } from '../src/access/cidr.js';
import { trustedClientAddress, type ForwardingTrust } from '../src/server/forwarded.js';
import { startEchoUpstream } from '../src/demo/echo.js';
import { BASE_ENV } from './support/config.js';
import { rawRequest } from './support/http.js';
import { startInProcess, type InProcess } from './support/inprocess.js';
import { prop } from './support/prop.js';

/** An address as a number of its family: 32 bits, or 128 (an IPv4-mapped IPv6 one as its IPv4). */
function modelValue(text: string): { v4: boolean; n: bigint } | undefined {
  const b = addressBytesModel(text);
  if (!b) return undefined;
  return { v4: b.length === 4, n: b.reduce((acc, x) => (acc << 8n) | BigInt(x), 0n) };
}

/** Independent of src/: WHATWG's host parser canonicalises an IPv6 literal; IPv4 is four decimal octets. */
function addressBytesModel(text: string): number[] | undefined {
  if (isIPv4(text)) return text.split('.').map(Number);
  if (!text.includes(':') || text.includes('%') || text.includes('[')) return undefined;
  let host: string;
  try { host = new URL(`http://[${text}]/`).hostname.slice(1, -1); } catch { return undefined; }
  const [head, tail] = host.split('::') as [string, string | undefined];
  const groups = (s: string): number[] => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
  const bytes = all.flatMap((g) => [g >> 8, g & 0xff]);
  const mapped = bytes.slice(0, 10).every((x) => x === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? bytes.slice(12) : bytes;
}

const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
const group = fc.nat(0xffff).map((g) => g.toString(16));
const v6 = fc.oneof(
  fc.array(group, { minLength: 8, maxLength: 8 }).map((g) => g.join(':')),
  fc.tuple(fc.array(group, { maxLength: 3 }), fc.array(group, { maxLength: 3 })).map(([a, b]) => `${a.join(':')}::${b.join(':')}`),
  v4.map((a) => `::ffff:${a}`),
  fc.constantFrom('::1', '::', 'fe80::1%eth0', '::ffff:7f00:1', '2001:db8::'),
);
const address = fc.oneof(v4, v6, fc.constantFrom('10.0.0.1', '127.0.0.1', '192.168.1.7', '01.2.3.4', '1.2.3', '256.1.1.1', 'localhost', ''));

describe('address ranges', () => {
  /** A range written as users write them (network address masked to its prefix) and an address near it. */
  const rangeAndAddress = fc.oneof(
    fc.record({ family: fc.constant(4 as const), bytes: fc.array(fc.nat(255), { minLength: 4, maxLength: 4 }), prefix: fc.integer({ min: 0, max: 32 }) }),
    fc.record({ family: fc.constant(6 as const), bytes: fc.array(fc.nat(255), { minLength: 16, maxLength: 16 }), prefix: fc.integer({ min: 0, max: 128 }) }),
    fc.record({ family: fc.constant('mapped' as const), bytes: fc.array(fc.nat(255), { minLength: 4, maxLength: 4 }), prefix: fc.integer({ min: 96, max: 128 }) }),
  ).chain((r) => fc.tuple(fc.constant(r), fc.array(fc.nat(r.family === 6 ? 127 : 31), { maxLength: 3 }), fc.constantFrom('plain', 'mapped', 'v6-of-v4', 'other')));

  const render = (family: 4 | 6 | 'mapped', b: number[]): string => family === 4 ? b.join('.')
    : family === 'mapped' ? `::ffff:${b.join('.')}`
      : Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16)).join(':');

  prop('an address is in a range exactly when its first prefix bits equal the network\'s (IPv4-mapped IPv6 as IPv4)', 3000, () => fc.property(rangeAndAddress, ([r, flips, spelling]) => {
    const width = r.bytes.length * 8;
    const ownPrefix = r.family === 'mapped' ? r.prefix - 96 : r.prefix;
    const net = r.bytes.map((x, i) => { const keep = Math.max(0, Math.min(8, ownPrefix - i * 8)); return x & ((0xff << (8 - keep)) & 0xff); });
    const entry = `${render(r.family, net)}/${r.prefix}`;
    const parsed = parseRange(entry);
    assert.ok(!('error' in parsed), `${entry}: ${'error' in parsed ? parsed.error : ''}`);
    const addr = [...net];
    for (const f of flips) addr[f >> 3] = addr[f >> 3]! ^ (0x80 >> (f & 7));
    const v4ish = r.family !== 6;
    const a = spelling === 'other' ? (v4ish ? render(6, [...Array<number>(12).fill(0), ...addr]) : addr.slice(12).join('.'))
      : spelling === 'mapped' && v4ish ? `::ffff:${addr.join('.')}` : render(v4ish ? 4 : 6, addr);
    const x = modelValue(a)!;
    const bits = BigInt(width);
    const shift = bits - BigInt(ownPrefix);
    const n = addr.reduce((acc, y) => (acc << 8n) | BigInt(y), 0n);
    const m = net.reduce((acc, y) => (acc << 8n) | BigInt(y), 0n);
    const inside = x.v4 === v4ish && (x.n >> shift) === (m >> shift) && x.n === n;
    assert.equal(AddressRanges.parse([entry]).ranges.has(a), inside, `${a} in ${entry}`);
  }));

  prop('addressBytes agrees with WHATWG\'s reading of an address', 3000, () => fc.property(address, (a) => {
    const got = addressBytes(a);
    const want = addressBytesModel(a);
    assert.deepEqual(got ? [...got] : undefined, want, a);
  }));
});

/** A request as the socket layer hands it over: only what trustedClientAddress reads. */
const requestFrom = (peer: string, headers: Record<string, string | string[]>): IncomingMessage => ({ socket: { remoteAddress: peer }, headers } as unknown as IncomingMessage);

const LBS = ['192.168.0.0/16', '127.0.0.0/8', '::1'];
const trust = (header: string): ForwardingTrust => ({ reverseProxy: true, trustedProxies: AddressRanges.parse(LBS).ranges, realClientIpHeader: header } as ForwardingTrust);
const written = fc.oneof(v4, v6, fc.constantFrom('10.1.2.3', '192.168.5.5', '127.0.0.1', 'unknown', '10.1.2.3:443', '[::1]:80', ''));
const lb = fc.constantFrom('192.168.0.1', '192.168.9.9', '127.0.0.1', '::1');
const client = fc.oneof(v4, fc.constantFrom('10.1.2.3', '203.0.113.9', '2001:db8::7'));

describe('the client address behind load balancers', () => {
  prop('from a peer outside trusted_proxy_ips, the address is the peer\'s own, whatever the headers say', 2000, () => fc.property(
    fc.oneof(v4, v6).filter((p) => !AddressRanges.parse(LBS).ranges.has(p)), fc.array(written, { maxLength: 5 }), fc.constantFrom('x-forwarded-for', 'x-real-ip', 'cf-connecting-ip'),
    (peer, chain, header) => {
      assert.equal(trustedClientAddress(requestFrom(peer, { [header]: chain.join(', ') }), trust(header)), peer);
    }));

  prop('X-Forwarded-For: the rightmost address that is not a trusted load balancer, never one the client wrote before it', 3000, () => fc.property(
    fc.array(written, { maxLength: 4 }), client, fc.array(lb, { maxLength: 3 }), lb, fc.constantFrom(', ', ',', ' ,  '),
    (forged, real, hops, peer, comma) => {
      const chain = [...forged, real, ...hops];
      // Node joins repeated X-Forwarded-For lines into one value with ", ".
      const value = chain.join(comma);
      const got = trustedClientAddress(requestFrom(peer, { 'x-forwarded-for': value }), trust('x-forwarded-for'));
      const lbs = AddressRanges.parse(LBS).ranges;
      const bare = (e: string): string | undefined => {
        const ip = /^\[([^\]]+)\](:\d+)?$/.exec(e)?.[1] ?? (/^[\d.]+:\d+$/.test(e) ? e.slice(0, e.lastIndexOf(':')) : e);
        return addressBytesModel(ip) ? ip : undefined;
      };
      const entries = chain.map((e) => bare(e.trim()));
      if (entries.some((e) => e === undefined)) return assert.equal(got, undefined, 'an unusable entry: no address at all');
      const expected = [...entries].reverse().find((e) => !lbs.has(e)) ?? entries[0];
      assert.equal(got, expected);
      // The real client is trusted LBs' word; what the client wrote before it is never chosen over it.
      if (!lbs.has(real)) assert.equal(got, real);
    }));
});

describe('trusted_ips end to end: let in without login only for an address a trusted load balancer reported', () => {
  let proxy: InProcess;
  let echo: Awaited<ReturnType<typeof startEchoUpstream>>;
  before(async () => {
    echo = await startEchoUpstream();
    proxy = await startInProcess({
      ...BASE_ENV, OAUTH2_PROXY_UPSTREAMS: echo.url, OAUTH2_PROXY_SKIP_OIDC_DISCOVERY: 'true', OAUTH2_PROXY_LOGIN_URL: 'http://127.0.0.1:1/auth',
      OAUTH2_PROXY_REDEEM_URL: 'http://127.0.0.1:1/token', OAUTH2_PROXY_OIDC_JWKS_URL: 'http://127.0.0.1:1/jwks', OAUTH2_PROXY_INSECURE_OIDC_ALLOW_HTTP_ISSUER: 'true',
      OAUTH2_PROXY_COOKIE_SECURE: 'false', OAUTH2_PROXY_REVERSE_PROXY: 'true', OAUTH2_PROXY_TRUSTED_PROXY_IPS: LBS.join(','),
      OAUTH2_PROXY_REAL_CLIENT_IP_HEADER: 'X-Forwarded-For', OAUTH2_PROXY_TRUSTED_IPS: '10.0.0.0/8', OAUTH2_PROXY_REQUEST_LOGGING: 'false',
    });
  });
  after(async () => { await proxy?.close(); await echo?.close(); });

  prop('in only when the rightmost untrusted address is in trusted_ips (this test\'s peer, 127.0.0.1, is a trusted load balancer)', 300, () => fc.asyncProperty(
    fc.array(written.filter((w) => !/[\r\n]/.test(w)), { maxLength: 4 }), client, fc.array(lb, { maxLength: 2 }),
    async (forged, real, hops) => {
      const chain = [...forged, real, ...hops].join(', ');
      const r = await rawRequest(proxy.url, '/app', { accept: 'application/json', 'x-forwarded-for': chain });
      const chosen = trustedClientAddress(requestFrom('127.0.0.1', { 'x-forwarded-for': chain }), trust('x-forwarded-for'));
      const inside = chosen !== undefined && AddressRanges.parse(['10.0.0.0/8']).ranges.has(chosen);
      assert.equal(r.status, inside ? 200 : 401, `X-Forwarded-For: ${chain}`);
      if (forged.length > 0 && !AddressRanges.parse(['10.0.0.0/8']).ranges.has(real) && !AddressRanges.parse(LBS).ranges.has(real)) {
        assert.equal(r.status, 401, 'what the client wrote before the real address never lets it in');
      }
    }));
});
