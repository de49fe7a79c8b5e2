/**
 * The buckets the per-IP sign-in limit counts in (src/services/signin-throttle.ts): IPv4 as it is, IPv4-mapped
 * IPv6 as its IPv4, IPv6 by its /64 whatever its spelling, untrusted text as text, no address as one bucket; and
 * the store only ever sees a hash of what is counted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ipBucketOf, throttleKey } from '../../src/services/signin-throttle.ts';

describe('ipBucketOf', () => {
  it('keeps IPv4, maps IPv4-mapped IPv6 back to IPv4', () => {
    assert.equal(ipBucketOf('192.0.2.7'), '192.0.2.7');
    assert.equal(ipBucketOf(' 192.0.2.7 '), '192.0.2.7');
    assert.equal(ipBucketOf('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(ipBucketOf('::FFFF:c000:0207'), '192.0.2.7');
  });

  it('counts IPv6 by its /64, however it is written', () => {
    const bucket = '2001:db8:1:2::/64';
    for (const ip of ['2001:db8:1:2::1', '2001:0DB8:0001:0002:ffff:ffff:ffff:ffff', '2001:db8:1:2:3:4:5:6', '2001:db8:1:2::192.0.2.1', '2001:db8:1:2::9%eth0']) {
      assert.equal(ipBucketOf(ip), bucket, ip);
    }
    assert.equal(ipBucketOf('2001:db8:1:3::1'), '2001:db8:1:3::/64');
    assert.equal(ipBucketOf('::1'), '0:0:0:0::/64');
    assert.equal(ipBucketOf('2001:db8::'), '2001:db8:0:0::/64');
  });

  it('keeps text that is no address apart from addresses, and puts no address in one bucket', () => {
    assert.equal(ipBucketOf('not an ip'), 'text:not an ip');
    assert.equal(ipBucketOf('192.0.2.7, 10.0.0.1'), 'text:192.0.2.7, 10.0.0.1');
    assert.equal(ipBucketOf('x'.repeat(1000)).length, 'text:'.length + 256);
    for (const none of [null, undefined, '', '   ']) assert.equal(ipBucketOf(none), 'none');
  });
});

describe('throttleKey', () => {
  it('is a SHA-256 of scope and value: the store never holds the address or the identifier', () => {
    const key = throttleKey('ip', '192.0.2.7');
    assert.match(key, /^[0-9a-f]{64}$/);
    assert.notEqual(throttleKey('identifier', '192.0.2.7'), key, 'scopes do not collide');
    assert.equal(throttleKey('ip', '192.0.2.7'), key);
  });
});
