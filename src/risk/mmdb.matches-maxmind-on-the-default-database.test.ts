import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Reader } from 'maxmind';
import { openMmdb } from './mmdb.ts';
import { defaultGeoIpPaths } from './setup.ts';

// A small seeded generator (mulberry32): the same addresses on every run.
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WELL_KNOWN_V4 = ['8.8.8.8', '1.1.1.1', '81.2.69.160', '0.0.0.0', '255.255.255.255', '10.1.2.3', '127.0.0.1'];
const WELL_KNOWN_V6 = ['2001:4860:4860::8888', '2606:4700:4700::1111', '::', '::1', '::ffff:81.2.69.160', '2a00:1450:4001:80b::200e'];

function ipv4s(count: number, next: () => number): string[] {
  return Array.from({ length: count }, () => {
    const n = Math.floor(next() * 2 ** 32);
    return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
  });
}

// Addresses in allocated ranges: 2400::/12 (APNIC), 2600::/12 (ARIN), 2a00::/12 (RIPE).
function ipv6s(count: number, next: () => number): string[] {
  const prefixes = [0x2400, 0x2600, 0x2a00];
  return Array.from({ length: count }, (_, i) => {
    const first = (prefixes[i % 3] as number) | Math.floor(next() * 16);
    const rest = Array.from({ length: 7 }, () => Math.floor(next() * 0x10000).toString(16));
    return [first.toString(16), ...rest].join(':');
  });
}

const paths = defaultGeoIpPaths();

describe('the mmdb reader answers like maxmind on the default DB-IP database', { skip: paths === null ? 'the default database package is not installed' : false }, () => {
  const next = random(20_261_206);
  const v4 = [...WELL_KNOWN_V4, ...ipv4s(20_000, next)];
  const v6 = [...WELL_KNOWN_V6, ...ipv6s(5_000, next)];
  for (const path of paths ?? []) {
    it(`gives deep-equal records for 20,000 IPv4 and 5,000 IPv6 addresses in ${path.split('/').pop() ?? path}`, () => {
      const ours = openMmdb(path);
      const theirs = new Reader<Record<string, unknown>>(readFileSync(path));
      try {
        assert.equal(ours.metadata.nodeCount, theirs.metadata.nodeCount);
        assert.equal(ours.metadata.recordSize, theirs.metadata.recordSize);
        assert.equal(ours.metadata.ipVersion, theirs.metadata.ipVersion);
        let found = 0;
        const addresses = ours.metadata.ipVersion === 6 ? [...v4, ...v6] : v4;
        for (const ip of addresses) {
          const expected = theirs.get(ip);
          assert.deepStrictEqual(ours.get(ip), expected, ip);
          if (expected !== null && ip.includes(':') === (ours.metadata.ipVersion === 6)) found++;
        }
        // The comparison means something only if many addresses of the file's own family are known to it.
        const native = ours.metadata.ipVersion === 6 ? v6.length : v4.length;
        assert.ok(found > native / 4, `only ${found} of ${native} addresses found`);
        if (ours.metadata.ipVersion === 4) assert.throws(() => ours.get('2001:4860:4860::8888'), /IPv4-only/);
      } finally {
        ours.close();
      }
    });
  }
});
