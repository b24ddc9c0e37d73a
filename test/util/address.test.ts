import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isHostName, parseCidr, parseHostPort, parsePortRange, unmapIPv4 } from '../../src/util/address.ts';

describe('address parsing', () => {
  it('unmaps IPv4-mapped IPv6 in both text forms, and only those', () => {
    assert.equal(unmapIPv4('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(unmapIPv4('::ffff:7f00:1'), '127.0.0.1');
    assert.equal(unmapIPv4('::FFFF:A00:102'), '10.0.1.2');
    assert.equal(unmapIPv4('::1'), '::1');
    assert.equal(unmapIPv4('2001:db8::ffff:7f00:1'), '2001:db8::ffff:7f00:1');
    assert.equal(unmapIPv4('10.0.0.1'), '10.0.0.1');
  });

  it('accepts DNS names and refuses what cannot be one', () => {
    for (const ok of ['example.com', 'a-b.c_d.example.', 'x', `${'a'.repeat(63)}.com`]) assert.equal(isHostName(ok), true, ok);
    for (const bad of ['', 'a b', 'pw@host', 'a\r\nb', 'a"b', '-lead.com', `${'a'.repeat(64)}.com`, 'a'.repeat(254), 'a..b', 'a;b']) {
      assert.equal(isHostName(bad), false, JSON.stringify(bad));
    }
  });

  it('parses host:port, CIDRs and port ranges strictly', () => {
    assert.deepEqual(parseHostPort('[::1]:443'), { host: '::1', port: 443 });
    assert.deepEqual(parseHostPort('example.com:8080'), { host: 'example.com', port: 8080 });
    assert.equal(parseHostPort('example.com'), undefined);
    assert.equal(parseHostPort('example.com:0'), undefined);
    assert.equal(parseHostPort('example.com:65536'), undefined);
    assert.deepEqual(parseCidr('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    assert.equal(parseCidr('10.0.0.0/33'), undefined);
    assert.deepEqual(parsePortRange('1024-65535'), [1024, 65535]);
    assert.equal(parsePortRange('9-1'), undefined);
  });
});
