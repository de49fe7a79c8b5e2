/**
 * A minimal MaxMind DB (MMDB 2.0) writer for tests: an IPv4 (or IPv6, IPv4 networks at ::/96) search tree with 24-,
 * 28- or 32-bit records over a data section of maps, strings, doubles and unsigned integers (or pre-encoded bytes),
 * and the metadata block — enough for `maxmind`'s reader to answer
 * known test networks with known cities, with no file from the network. Format: MaxMind DB File Format
 * Specification 2.0 (https://maxmind.github.io/MaxMind-DB/).
 */
import { writeFileSync } from 'node:fs';
import { addressBytes } from '../../src/risk/mmdb.ts';

/** A value the writer can encode. Integers ≥ 0 are written as uint32; other numbers as doubles. */
export type MmdbValue = string | number | boolean | { readonly [key: string]: MmdbValue } | readonly MmdbValue[];

/** One network (`192.0.2.0/24`, or `2001:db8::/32` in an IPv6 file) and its record. */
export interface MmdbEntry {
  readonly network: string;
  readonly data: MmdbValue;
  /** Pre-encoded data-section bytes written instead of `data` (to test types and pointers the encoder lacks). */
  readonly raw?: Buffer;
}

/** The layout of the written file. */
export interface MmdbOptions {
  /** Bits per search-tree record: 24 (default), 28 or 32. */
  readonly recordSize?: 24 | 28 | 32;
  /** 4 (default) or 6; in an IPv6 file an IPv4 network `a.b.c.d/n` is written at `::a.b.c.d/(96+n)`. */
  readonly ipVersion?: 4 | 6;
}

// Spec "Output Data Section": control byte = type (3 bits) << 5 | size (5 bits); types above 7 are "extended".
const TYPE = { pointer: 1, string: 2, double: 3, uint32: 6, map: 7, uint16: 5, boolean: 14, array: 11, uint64: 9 } as const;

function control(type: number, size: number): Buffer {
  const head: number[] = [];
  let sizeBits: number;
  const extra: number[] = [];
  if (size < 29) sizeBits = size;
  else if (size < 285) {
    sizeBits = 29;
    extra.push(size - 29);
  } else if (size < 65_821) {
    sizeBits = 30;
    const v = size - 285;
    extra.push(v >> 8, v & 0xff);
  } else {
    sizeBits = 31;
    const v = size - 65_821;
    extra.push((v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
  }
  if (type <= 7) head.push((type << 5) | sizeBits);
  else head.push(sizeBits, type - 7);
  return Buffer.from([...head, ...extra]);
}

function uint(type: number, value: number | bigint): Buffer {
  let v = BigInt(value);
  const bytes: number[] = [];
  while (v > 0n) {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  }
  return Buffer.concat([control(type, bytes.length), Buffer.from(bytes)]);
}

/** Encodes one value of the data section. */
export function encodeValue(value: MmdbValue): Buffer {
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([control(TYPE.string, bytes.length), bytes]);
  }
  if (typeof value === 'boolean') return control(TYPE.boolean, value ? 1 : 0);
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value <= 0xffffffff) return uint(TYPE.uint32, value);
    const bytes = Buffer.alloc(8);
    bytes.writeDoubleBE(value);
    return Buffer.concat([control(TYPE.double, 8), bytes]);
  }
  if (Array.isArray(value)) return Buffer.concat([control(TYPE.array, value.length), ...value.map(encodeValue)]);
  const entries = Object.entries(value as Record<string, MmdbValue>);
  return Buffer.concat([control(TYPE.map, entries.length), ...entries.flatMap(([k, v]) => [encodeValue(k), encodeValue(v)])]);
}

type Record_ = { kind: 'empty' } | { kind: 'node'; index: number } | { kind: 'data'; offset: number };

function bitsOf6(network: string): boolean[] {
  const [address = '', prefixText = '128'] = network.split('/');
  const bytes = addressBytes(address);
  if (bytes === null || bytes.length !== 16) throw new Error(`not an IPv6 network: ${network}`);
  const prefix = Number(prefixText);
  const bits: boolean[] = [];
  for (let i = 0; i < prefix; i++) bits.push((((bytes[i >> 3] ?? 0) >> (7 - (i & 7))) & 1) === 1);
  return bits;
}

function bitsOf(network: string, ipVersion: 4 | 6 = 4): boolean[] {
  if (network.includes(':')) {
    if (ipVersion === 4) throw new Error(`an IPv6 network in an IPv4 file: ${network}`);
    return bitsOf6(network);
  }
  if (ipVersion === 6) return [...new Array<boolean>(96).fill(false), ...bitsOf(network)];
  const [address = '', prefixText = '32'] = network.split('/');
  const octets = address.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) throw new Error(`not an IPv4 network: ${network}`);
  const prefix = Number(prefixText);
  const bits: boolean[] = [];
  for (let i = 0; i < prefix; i++) bits.push((((octets[i >> 3] ?? 0) >> (7 - (i & 7))) & 1) === 1);
  return bits;
}

/**
 * The bytes of an IPv4 MMDB holding `entries` (networks must not nest). `databaseType` names the layout, e.g.
 * `GeoIP2-City` for records shaped like MaxMind's.
 *
 * @example
 * writeFileSync(path, buildMmdb([{ network: '192.0.2.0/24', data: { city: { names: { en: 'London' } } } }]));
 */
export function buildMmdb(entries: readonly MmdbEntry[], databaseType = 'GeoIP2-City', options: MmdbOptions = {}): Buffer {
  const recordSize = options.recordSize ?? 24;
  const ipVersion = options.ipVersion ?? 4;
  const nodes: [Record_, Record_][] = [[{ kind: 'empty' }, { kind: 'empty' }]];
  const data: Buffer[] = [];
  let dataLength = 0;
  for (const entry of entries) {
    const encoded = entry.raw ?? encodeValue(entry.data);
    const offset = dataLength;
    data.push(encoded);
    dataLength += encoded.length;
    const bits = bitsOf(entry.network, ipVersion);
    if (bits.length === 0) throw new Error('a /0 network is not supported');
    let node = 0;
    for (let i = 0; i < bits.length; i++) {
      const side = bits[i] ? 1 : 0;
      const pair = nodes[node] as [Record_, Record_];
      if (i === bits.length - 1) {
        pair[side] = { kind: 'data', offset };
        break;
      }
      const next = pair[side];
      if (next.kind === 'node') node = next.index;
      else if (next.kind === 'empty') {
        nodes.push([{ kind: 'empty' }, { kind: 'empty' }]);
        pair[side] = { kind: 'node', index: nodes.length - 1 };
        node = nodes.length - 1;
      } else throw new Error(`nested networks are not supported: ${entry.network}`);
    }
  }
  const nodeCount = nodes.length;
  // Spec "Search Tree Section": a record below the node count points to a node, equal to it means "no data", and
  // above it points into the data section at (record − node count − 16).
  const nodeBytes = recordSize / 4;
  const tree = Buffer.alloc(nodeCount * nodeBytes);
  const valueOf = (r: Record_): number => (r.kind === 'empty' ? nodeCount : r.kind === 'node' ? r.index : nodeCount + 16 + r.offset);
  nodes.forEach(([left, right], i) => {
    const l = valueOf(left);
    const r = valueOf(right);
    const at = i * nodeBytes;
    if (l >= 2 ** recordSize || r >= 2 ** recordSize) throw new Error(`a record does not fit in ${recordSize} bits`);
    if (recordSize === 24) {
      tree.writeUIntBE(l, at, 3);
      tree.writeUIntBE(r, at + 3, 3);
    } else if (recordSize === 32) {
      tree.writeUInt32BE(l, at);
      tree.writeUInt32BE(r, at + 4);
    } else {
      // 28 bits: the middle byte carries the top nibble of the left record, then that of the right record.
      tree.writeUIntBE(l % 0x1000000, at, 3);
      tree[at + 3] = (Math.floor(l / 0x1000000) << 4) | Math.floor(r / 0x1000000);
      tree.writeUIntBE(r % 0x1000000, at + 4, 3);
    }
  });
  const metadata = Buffer.concat([
    control(TYPE.map, 9),
    encodeValue('node_count'),
    uint(TYPE.uint32, nodeCount),
    encodeValue('record_size'),
    uint(TYPE.uint16, recordSize),
    encodeValue('ip_version'),
    uint(TYPE.uint16, ipVersion),
    encodeValue('database_type'),
    encodeValue(databaseType),
    encodeValue('languages'),
    encodeValue(['en']),
    encodeValue('binary_format_major_version'),
    uint(TYPE.uint16, 2),
    encodeValue('binary_format_minor_version'),
    uint(TYPE.uint16, 0),
    encodeValue('build_epoch'),
    uint(TYPE.uint64, 1_700_000_000),
    encodeValue('description'),
    encodeValue({ en: 'Portcullis test networks' }),
  ]);
  return Buffer.concat([tree, Buffer.alloc(16), ...data, Buffer.from([0xab, 0xcd, 0xef]), Buffer.from('MaxMind.com', 'ascii'), metadata]);
}

/** Writes {@link buildMmdb}'s bytes to `path`. */
export function writeMmdb(path: string, entries: readonly MmdbEntry[], databaseType?: string, options?: MmdbOptions): void {
  writeFileSync(path, buildMmdb(entries, databaseType, options));
}

/** A GeoIP2-City-shaped record. */
export function cityRecord(city: string, country: string, latitude: number, longitude: number, accuracyKm?: number): MmdbValue {
  return {
    city: { names: { en: city } },
    country: { iso_code: country },
    location: { latitude, longitude, ...(accuracyKm === undefined ? {} : { accuracy_radius: accuracyKm }) },
  };
}
