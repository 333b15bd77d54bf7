// Address ranges (trusted_proxy_ips): which peers may speak for a client through X-Forwarded-*.
//
// Written out rather than left to net.BlockList so that the two rules that matter here are ours
// and table-tested: an IPv4 peer on a dual-stack socket shows up as `::ffff:a.b.c.d` and must match
// an IPv4 range (and the other way round), and an entry with bits set past its prefix
// (`10.0.0.1/8`) is refused as oauth2-proxy refuses it, since it usually means a typo in the range.

import { isIPv4, isIPv6 } from 'node:net';

interface Range {
  /** 4 bytes for IPv4 (IPv4-mapped IPv6 included), 16 for IPv6. */
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

/**
 * An address as bytes: 4 for IPv4, 16 for IPv6; an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`)
 * gives its IPv4 bytes, so it compares equal to the address it stands for. Undefined when `text`
 * is not an IP address (zone ids such as `fe80::1%eth0` included).
 */
export function addressBytes(text: string): Uint8Array | undefined {
  if (isIPv4(text)) return Uint8Array.from(text.split('.'), Number);
  if (!isIPv6(text) || text.includes('%')) return undefined;
  let hex = text;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    // An embedded IPv4 tail (`::ffff:1.2.3.4`) stands for the last two 16-bit groups.
    const v4 = text.slice(lastColon + 1).split('.').map(Number);
    hex = `${text.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = hex.split('::');
  const groups = (s: string | undefined): number[] => (!s ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = groups(halves[0]);
  const right = groups(halves[1]);
  const all = halves.length === 1 ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => { bytes[2 * i] = g >> 8; bytes[2 * i + 1] = g & 0xff; });
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? bytes.slice(12) : bytes;
}

/** One entry (`10.0.0.0/8`, `::1`, `192.168.1.7`) as a range, or the reason it is not one. */
export function parseRange(entry: string): Range | { error: string } {
  const slash = entry.indexOf('/');
  const addr = slash < 0 ? entry : entry.slice(0, slash);
  const bytes = addressBytes(addr);
  if (!bytes) return { error: 'not an IP address' };
  const v6Written = addr.includes(':');
  const bits = v6Written ? 128 : 32;
  let prefix = bits;
  if (slash >= 0) {
    const p = entry.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits) return { error: `the prefix must be 0 to ${bits}` };
    prefix = Number(p);
  }
  if (v6Written && bytes.length === 4) {
    // `::ffff:10.0.0.0/104` is the IPv4 range 10.0.0.0/8 written in IPv6.
    if (prefix < 96) return { error: 'an IPv4-mapped range needs a prefix of 96 or more' };
    prefix -= 96;
  }
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    if (bytes[bit >> 3]! & (0x80 >> (bit & 7))) return { error: `bits are set past the /${slash < 0 ? bits : entry.slice(slash + 1)} prefix (write the network address)` };
  }
  return { bytes, prefix };
}

function inRange(addr: Uint8Array, r: Range): boolean {
  if (addr.length !== r.bytes.length) return false;
  const whole = r.prefix >> 3;
  for (let i = 0; i < whole; i++) if (addr[i] !== r.bytes[i]) return false;
  const rest = r.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (addr[whole]! & mask) === r.bytes[whole];
}

/** A list of address ranges, parsed once at start-up. */
export class AddressRanges {
  readonly #ranges: readonly Range[];
  /** The entries as written, for messages. */
  readonly entries: readonly string[];

  private constructor(ranges: readonly Range[], entries: readonly string[]) {
    this.#ranges = ranges;
    this.entries = entries;
  }

  /** Parses every entry; `bad` lists each one that is not an address or range, with why. */
  static parse(entries: readonly string[]): { ranges: AddressRanges; bad: Array<{ entry: string; why: string }> } {
    const ok: Range[] = [];
    const bad: Array<{ entry: string; why: string }> = [];
    for (const entry of entries) {
      const r = parseRange(entry);
      if ('error' in r) bad.push({ entry, why: r.error });
      else ok.push(r);
    }
    return { ranges: new AddressRanges(ok, entries), bad };
  }

  /** True when `address` (as a socket reports it) lies in one of the ranges. */
  has(address: string | undefined): boolean {
    if (!address) return false;
    const bytes = addressBytes(address);
    if (!bytes) return false;
    for (const r of this.#ranges) if (inRange(bytes, r)) return true;
    return false;
  }
}
