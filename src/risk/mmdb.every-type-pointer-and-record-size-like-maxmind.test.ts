import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Reader } from 'maxmind';
import { encodeValue, writeMmdb, type MmdbEntry } from '../../test/support/mmdb-writer.ts';
import { openGeoIp } from './geoip.ts';
import { openMmdb } from './mmdb.ts';

// Hand-encoded data-section values (spec "Output Data Section") for the types the test writer does not produce.
const ctrl = (type: number, size: number): Buffer => (type <= 7 ? Buffer.from([(type << 5) | size]) : Buffer.from([size, type - 7]));
const be = (value: bigint, bytes: number): Buffer => {
  const out = Buffer.alloc(bytes);
  for (let i = bytes - 1, v = value; i >= 0; i--, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
};
function pointer(target: number, form: 0 | 1 | 2 | 3): Buffer {
  if (form === 0) return Buffer.from([0x20 | (target >> 8), target & 0xff]);
  if (form === 1) {
    const v = target - 2048;
    return Buffer.from([0x28 | (v >> 16), (v >> 8) & 0xff, v & 0xff]);
  }
  if (form === 2) {
    const v = target - 526_336;
    return Buffer.from([0x30 | (v >> 24), (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]);
  }
  return Buffer.concat([Buffer.from([0x38]), be(BigInt(target), 4)]);
}
const float = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeFloatBE(v);
  return Buffer.concat([ctrl(15, 4), b]);
};
const key = (k: string): Buffer => encodeValue(k);

/**
 * Networks 10.0.0.0/24 … whose records are laid out so that pointers of all four sizes are needed: a short string
 * at 0, a 3,000-byte string, a uint32 at ≥ 2,048, a 600,000-byte string (size extension 31), a string at ≥ 526,336,
 * then a map holding every type and pointers to those.
 */
function typedEntries(): { entries: MmdbEntry[]; expected: Record<string, unknown> } {
  const values = ['a', 'x'.repeat(3000), 1234, 'é'.repeat(300_000), 'far'];
  const offsets: number[] = [];
  let at = 0;
  const entries: MmdbEntry[] = values.map((data, i) => {
    offsets.push(at);
    at += encodeValue(data).length;
    return { network: `10.0.${i}.0/24`, data };
  });
  const [o0, , o2, , o4] = offsets as [number, number, number, number, number];
  assert.ok(o2 >= 2048 && o2 < 526_336 && o4 >= 526_336);
  const fields: [string, Buffer][] = [
    ['p0', pointer(o0, 0)],
    ['p1', pointer(o2, 1)],
    ['p2', pointer(o4, 2)],
    ['p3', pointer(o4, 3)],
    ['float', float(1.5)],
    ['int32', Buffer.concat([ctrl(8, 4), be(0xfffffff6n, 4)])],
    ['int32short', Buffer.concat([ctrl(8, 2), be(0x1234n, 2)])],
    ['int32zero', ctrl(8, 0)],
    ['uint16', Buffer.concat([ctrl(5, 2), be(65_535n, 2)])],
    ['uint64', Buffer.concat([ctrl(9, 8), be(2n ** 64n - 1n, 8)])],
    ['uint128', Buffer.concat([ctrl(10, 16), be(2n ** 127n + 5n, 16)])],
    ['uint128zero', ctrl(10, 0)],
    ['bytes', Buffer.concat([ctrl(4, 3), Buffer.from([0, 1, 255])])],
    ['false', ctrl(14, 0)],
    ['true', ctrl(14, 1)],
    ['double', encodeValue(-0.25)],
    ['empty', ctrl(2, 0)],
    ['long', encodeValue('y'.repeat(70_000))],
    ['list', Buffer.concat([ctrl(11, 3), encodeValue(1), pointer(o0, 0), Buffer.concat([ctrl(7, 0)])])],
  ];
  const raw = Buffer.concat([ctrl(7, fields.length), ...fields.flatMap(([k, v]) => [key(k), v])]);
  entries.push({ network: '10.0.9.0/24', data: '', raw });
  const expected = {
    p0: 'a',
    p1: 1234,
    p2: 'far',
    p3: 'far',
    float: 1.5,
    int32: -10,
    int32short: 0x1234,
    int32zero: 0,
    uint16: 65_535,
    uint64: 2n ** 64n - 1n,
    uint128: 2n ** 127n + 5n,
    uint128zero: 0n,
    bytes: Buffer.from([0, 1, 255]),
    false: false,
    true: true,
    double: -0.25,
    empty: '',
    long: 'y'.repeat(70_000),
    list: [1, 'a', {}],
  };
  return { entries, expected };
}

describe('the mmdb reader decodes every type and record size like maxmind', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmdb-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const { entries, expected } = typedEntries();
  const probes = ['10.0.0.1', '10.0.1.255', '10.0.2.3', '10.0.3.4', '10.0.4.5', '10.0.9.9', '10.0.5.1', '10.1.0.0', '192.0.2.1', '0.0.0.0'];

  for (const recordSize of [24, 28, 32] as const) {
    for (const ipVersion of [4, 6] as const) {
      it(`record size ${recordSize}, IPv${ipVersion} tree: the same records as maxmind, every type decoded`, () => {
        const path = join(dir, `typed-${recordSize}-${ipVersion}.mmdb`);
        const v6 = ipVersion === 6 ? [{ network: '2001:db8::/32', data: { v6: true } }] : [];
        writeMmdb(path, [...entries, ...v6], 'Test-Types', { recordSize, ipVersion });
        const ours = openMmdb(path);
        const theirs = new Reader<Record<string, unknown>>(readFileSync(path));
        try {
          assert.equal(ours.metadata.recordSize, recordSize);
          assert.equal(ours.metadata.ipVersion, ipVersion);
          assert.deepStrictEqual(ours.get('10.0.9.9'), expected);
          assert.equal(ours.get('10.0.3.1'), 'é'.repeat(300_000));
          assert.equal(ours.get('10.1.0.0'), null);
          const all = ipVersion === 6 ? [...probes, '2001:db8::1', '2001:db9::1', '::10.0.0.1', '::ffff:10.0.0.1'] : probes;
          for (const ip of all) assert.deepStrictEqual(ours.get(ip), theirs.get(ip), ip);
          if (ipVersion === 6) assert.deepStrictEqual(ours.get('2001:db8:ffff::1'), { v6: true });
          else assert.throws(() => ours.get('2001:db8::1'), /IPv4-only/);
        } finally {
          ours.close();
        }
        assert.throws(() => ours.get('10.0.0.1'), /closed/);
      });
    }
  }

  for (const recordSize of [28, 32] as const) {
    it(`record size ${recordSize}: records above 2^24 (a data section over 16 MiB) are read whole`, () => {
      const path = join(dir, `big-${recordSize}.mmdb`);
      // The largest string the size encoding allows (65,821 + 2^24 − 1 bytes) pushes the next record past 2^24.
      writeMmdb(path, [
        { network: '10.0.0.0/24', data: 'z'.repeat(65_821 + 2 ** 24 - 1) },
        { network: '10.0.1.0/24', data: { after: 'the big one' } },
        { network: '10.0.2.0/25', data: 7 },
      ], 'Test-Big', { recordSize });
      const ours = openMmdb(path);
      const theirs = new Reader<Record<string, unknown>>(readFileSync(path));
      try {
        assert.deepStrictEqual(ours.get('10.0.1.1'), { after: 'the big one' });
        assert.equal(ours.get('10.0.2.1'), 7);
        assert.equal(ours.get('10.0.2.200'), null);
        for (const ip of ['10.0.0.1', '10.0.1.1', '10.0.2.1', '10.0.2.200', '11.0.0.0']) assert.deepStrictEqual(ours.get(ip), theirs.get(ip), ip);
      } finally {
        ours.close();
      }
    });
  }

  it('refuses a missing file and a file that is not an MMDB, and openGeoIp rejects (fail closed)', async () => {
    const junk = join(dir, 'junk.mmdb');
    writeMmdb(join(dir, 'ok.mmdb'), [{ network: '10.0.0.0/8', data: 1 }]);
    writeFileSync(junk, Buffer.alloc(1000, 7));
    assert.throws(() => openMmdb(join(dir, 'missing.mmdb')), /ENOENT/);
    assert.throws(() => openMmdb(junk), /not an MMDB/);
    await assert.rejects(openGeoIp([join(dir, 'missing.mmdb')]));
    await assert.rejects(openGeoIp([join(dir, 'ok.mmdb'), junk]));
  });

  it('openGeoIp reload swaps files, keeps the old ones when a file is bad, and leaks no descriptors', async () => {
    const path = join(dir, 'reload.mmdb');
    writeMmdb(path, [{ network: '81.2.69.0/24', data: { country_code: 'GB', latitude: 51.5, longitude: -0.1 } }], 'Flat');
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const before = fds();
    const geo = await openGeoIp([path]);
    assert.equal(geo.lookup('81.2.69.160')?.country, 'GB');
    assert.equal(geo.lookup('2001:db8::1'), null); // an IPv4-only file is skipped for IPv6
    for (let i = 0; i < 20; i++) await geo.reload();
    assert.equal(fds(), before + 1);
    writeMmdb(path, [{ network: '81.2.69.0/24', data: { country_code: 'FR', latitude: 48.9, longitude: 2.3 } }], 'Flat');
    await geo.reload();
    assert.equal(geo.lookup('81.2.69.160')?.country, 'FR');
    rmSync(path);
    await assert.rejects(geo.reload());
    assert.equal(geo.lookup('81.2.69.160')?.country, 'FR');
    assert.equal(fds(), before + 1);
  });
});
