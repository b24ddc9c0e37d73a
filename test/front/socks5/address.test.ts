// SOCKS5 addresses: IPv6 bytes ↔ text in Node's (RFC 5952) form, and reply address encoding.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { encodeAddress, formatIpv6, ipv6Bytes } from '../../../src/front/socks5/address.ts';

const CASES: Array<[string, string]> = [
  ['00000000000000000000000000000000', '::'],
  ['00000000000000000000000000000001', '::1'],
  ['20010db8000000000000000000000001', '2001:db8::1'],
  ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
  ['20010000000000010000000000000001', '2001:0:0:1::1'],
  ['20010db8000100010001000100010000', '2001:db8:1:1:1:1:1:0'],
  ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'],
  ['fe800000000000000000000000000000', 'fe80::'],
  ['00000000000000000000ffff7f000001', '::ffff:127.0.0.1'],
];

describe('SOCKS5 IPv6 addresses', () => {
  for (const [hex, text] of CASES) {
    it(`${hex} ↔ ${text}`, () => {
      assert.equal(formatIpv6(Buffer.from(hex, 'hex')), text);
      assert.equal(ipv6Bytes(text).toString('hex'), hex);
      assert.equal(net.isIPv6(text), true);
    });
  }

  it('encodes reply addresses: IPv4, IPv6, IPv4-mapped as IPv4, none as 0.0.0.0:0', () => {
    assert.equal(encodeAddress('10.1.2.3', 8080).toString('hex'), '010a0102031f90');
    assert.equal(encodeAddress('::1', 443).toString('hex'), `04${'00'.repeat(15)}0101bb`);
    assert.equal(encodeAddress('::ffff:127.0.0.1', 80).toString('hex'), '017f0000010050');
    assert.equal(encodeAddress(undefined, undefined).toString('hex'), '01000000000000');
  });
});
