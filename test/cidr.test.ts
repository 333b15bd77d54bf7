import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressRanges, addressBytes } from '../src/access/cidr.js';
import { table } from './support/table.js';

/** Whether `address` is in the ranges `entries` (which must all parse). */
function inRanges([entries, address]: readonly [string, string | undefined]): boolean {
  const { ranges, bad } = AddressRanges.parse(entries.split(','));
  assert.deepEqual(bad, [], `test ranges must parse: ${entries}`);
  return ranges.has(address);
}

test('addresses as bytes: IPv4, IPv6 in every spelling, IPv4-mapped IPv6 as its IPv4 address', () => {
  const hex = (s: string): string | undefined => { const b = addressBytes(s); return b && Buffer.from(b).toString('hex'); };
  table([
    ['127.0.0.1', '7f000001'],
    ['0.0.0.0', '00000000'],
    ['255.255.255.255', 'ffffffff'],
    ['::1', '00000000000000000000000000000001'],
    ['::', '00000000000000000000000000000000'],
    ['fd00::', 'fd000000000000000000000000000000'],
    ['2001:db8::8a2e:370:7334', '20010db80000000000008a2e03707334'],
    ['2001:0db8:0000:0000:0000:8a2e:0370:7334', '20010db80000000000008a2e03707334'],
    ['2001:DB8::8A2E:370:7334', '20010db80000000000008a2e03707334'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['1::8', '00010000000000000000000000000008'],
    ['::ffff:127.0.0.1', '7f000001'],
    ['::ffff:7f00:1', '7f000001'],
    ['::FFFF:10.1.2.3', '0a010203'],
    // IPv4-compatible (deprecated) and NAT64 addresses are IPv6, not IPv4.
    ['::127.0.0.1', '0000000000000000000000007f000001'],
    ['64:ff9b::127.0.0.1', '0064ff9b00000000000000007f000001'],
    // Not addresses.
    ['', undefined], ['localhost', undefined], ['127.0.0.1.', undefined], ['127.0.0', undefined],
    ['127.000.0.1', undefined], ['256.0.0.1', undefined], ['1.2.3.4/32', undefined], ['fe80::1%eth0', undefined],
    [':::1', undefined], ['1:2:3:4:5:6:7:8:9', undefined], ['[::1]', undefined], ['::ffff:1.2.3', undefined],
  ], hex);
});

test('range membership: IPv4, IPv6, and IPv4-mapped IPv6 either way round', () => {
  table<readonly [string, string | undefined], boolean>([
    // The default: loopback only.
    [['127.0.0.0/8,::1', '127.0.0.1'], true],
    [['127.0.0.0/8,::1', '127.255.0.9'], true],
    [['127.0.0.0/8,::1', '::1'], true],
    [['127.0.0.0/8,::1', '::ffff:127.0.0.1'], true],
    [['127.0.0.0/8,::1', '128.0.0.1'], false],
    [['127.0.0.0/8,::1', '10.0.0.1'], false],
    [['127.0.0.0/8,::1', '::2'], false],
    [['127.0.0.0/8,::1', '::ffff:10.0.0.1'], false],
    [['127.0.0.0/8,::1', '::127.0.0.1'], false],
    [['127.0.0.0/8,::1', undefined], false],
    [['127.0.0.0/8,::1', 'not-an-ip'], false],
    // Prefix lengths that are not multiples of 8.
    [['10.0.0.0/8', '10.200.1.1'], true],
    [['10.0.0.0/8', '11.0.0.0'], false],
    [['172.16.0.0/12', '172.31.255.255'], true],
    [['172.16.0.0/12', '172.32.0.0'], false],
    [['172.16.0.0/12', '172.15.255.255'], false],
    [['192.168.1.7', '192.168.1.7'], true],
    [['192.168.1.7', '192.168.1.8'], false],
    [['192.168.1.7/32', '::ffff:192.168.1.7'], true],
    [['0.0.0.0/0', '203.0.113.9'], true],
    [['0.0.0.0/0', '::1'], false],
    [['::/0', '2001:db8::1'], true],
    [['::/0', '203.0.113.9'], false],
    [['fd00::/8', 'fdff:1234::1'], true],
    [['fd00::/8', 'fe00::1'], false],
    [['2001:db8::/33', '2001:db8:7fff::1'], true],
    [['2001:db8::/33', '2001:db8:8000::1'], false],
    // A range written as IPv4-mapped IPv6 is that IPv4 range.
    [['::ffff:10.0.0.0/104', '10.9.9.9'], true],
    [['::ffff:10.0.0.0/104', '::ffff:10.9.9.9'], true],
    [['::ffff:10.0.0.0/104', '11.0.0.1'], false],
    [['::ffff:127.0.0.1', '127.0.0.1'], true],
    // The test's "a peer outside the trusted list" on one machine.
    [['10.0.0.0/8', '127.0.0.1'], false],
    [['10.0.0.0/8', '::ffff:127.0.0.1'], false],
    [['127.0.0.1', '127.0.0.1'], true],
  ], inRanges);
});

test('bad entries are refused with the reason', () => {
  table([
    ['10.0.0.1/8', 'bits are set past the /8 prefix (write the network address)'],
    ['192.168.1.0/33', 'the prefix must be 0 to 32'],
    ['fd00::/129', 'the prefix must be 0 to 128'],
    ['10.0.0.0/', 'the prefix must be 0 to 32'],
    ['10.0.0.0/8/8', 'the prefix must be 0 to 32'],
    ['10.0.0.0/-1', 'the prefix must be 0 to 32'],
    ['10.0.0.0/ 8', 'the prefix must be 0 to 32'],
    ['localhost', 'not an IP address'],
    ['10.0.0.0-10.0.0.9', 'not an IP address'],
    ['[::1]', 'not an IP address'],
    ['*', 'not an IP address'],
    ['::ffff:10.0.0.0/8', 'an IPv4-mapped range needs a prefix of 96 or more'],
    ['fd00::1/8', 'bits are set past the /8 prefix (write the network address)'],
    ['10.0.0.0/8', 'ok'],
    ['::1/128', 'ok'],
    ['0.0.0.0/0', 'ok'],
  ], (entry: string) => AddressRanges.parse([entry]).bad[0]?.why ?? 'ok');
});
