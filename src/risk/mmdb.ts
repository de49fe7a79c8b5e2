/**
 * A MaxMind DB (MMDB 2.0) reader that does not hold the file in memory: it keeps an open file descriptor and reads
 * the search tree and the data section with positional reads. In memory it holds only the metadata, a lazily filled
 * table of where the first {@link TOP_BITS} bits of an address lead in the tree (the top of the tree: at most
 * 2^16 entries of 5 bytes, 320 KiB, per start node — two start nodes in an IPv6 file), a small LRU of 4 KiB pages
 * of the data section (≤ 1 MiB) and a small LRU of decoded records (≤ 2,000). Lookups are synchronous.
 * Format: MaxMind DB File Format Specification 2.0 (https://maxmind.github.io/MaxMind-DB/).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { isIP } from 'node:net';

/** The metadata map of an MMDB file (the fields the reader uses typed; the whole map in `raw`). */
export interface MmdbMetadata {
  readonly nodeCount: number;
  readonly recordSize: 24 | 28 | 32;
  readonly ipVersion: 4 | 6;
  readonly databaseType: string;
  readonly binaryFormatMajorVersion: number;
  readonly raw: Readonly<Record<string, unknown>>;
}

/** One open MMDB file. */
export interface MmdbReader {
  readonly metadata: MmdbMetadata;
  /** The data record of the network holding `ip`, or null. Throws for an IPv6 address on an IPv4-only file. */
  get(ip: string): unknown;
  /** Closes the file descriptor; later lookups throw. */
  close(): void;
}

const METADATA_MARKER = Buffer.concat([Buffer.from([0xab, 0xcd, 0xef]), Buffer.from('MaxMind.com', 'ascii')]);
const METADATA_MAX = 128 * 1024;
const DATA_SEPARATOR = 16;
/** Bits of an address resolved through the in-memory top-of-tree table. */
const TOP_BITS = 16;
const PAGE = 4096;
const MAX_PAGES = 256;
const MAX_RECORDS = 2000;

// Spec "Output Data Section" type numbers.
const T = {
  extended: 0,
  pointer: 1,
  utf8: 2,
  double: 3,
  bytes: 4,
  uint16: 5,
  uint32: 6,
  map: 7,
  int32: 8,
  uint64: 9,
  uint128: 10,
  array: 11,
  container: 12,
  endMarker: 13,
  boolean: 14,
  float: 15,
} as const;

/** Random access to bytes of some source, by position relative to the decoder's section. */
interface ByteSource {
  /** `len` bytes at `pos` (may be a view into a shared page: use before the next call). */
  bytes(pos: number, len: number): Buffer;
}

class BufferSource implements ByteSource {
  private readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  bytes(pos: number, len: number): Buffer {
    if (pos < 0 || pos + len > this.buf.length) throw new Error('MMDB: read past the end of the metadata');
    return this.buf.subarray(pos, pos + len);
  }
}

/** Reads the data section through an LRU of pages. */
class PagedSource implements ByteSource {
  private readonly pages = new Map<number, Buffer>();
  private readonly fd: () => number;
  private readonly base: number;
  private readonly end: number;
  constructor(fd: () => number, base: number, end: number) {
    this.fd = fd;
    this.base = base;
    this.end = end;
  }

  private page(index: number): Buffer {
    const hit = this.pages.get(index);
    if (hit !== undefined) {
      this.pages.delete(index);
      this.pages.set(index, hit);
      return hit;
    }
    const start = this.base + index * PAGE;
    const len = Math.min(PAGE, this.end - start);
    const buf = Buffer.allocUnsafe(len);
    readFully(this.fd(), buf, start);
    if (this.pages.size >= MAX_PAGES) this.pages.delete(this.pages.keys().next().value as number);
    this.pages.set(index, buf);
    return buf;
  }

  bytes(pos: number, len: number): Buffer {
    if (pos < 0 || this.base + pos + len > this.end) throw new Error('MMDB: pointer past the end of the data section');
    const index = Math.floor(pos / PAGE);
    const within = pos - index * PAGE;
    if (within + len <= PAGE) return this.page(index).subarray(within, within + len);
    const buf = Buffer.allocUnsafe(len);
    readFully(this.fd(), buf, this.base + pos);
    return buf;
  }
}

function readFully(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw new Error('MMDB: unexpected end of file');
    done += n;
  }
}

/** Decodes data-section values; pointers are relative to the start of the section (the pointer base). */
class Decoder {
  private readonly src: ByteSource;
  constructor(src: ByteSource) {
    this.src = src;
  }

  /** The value at `pos` and the position after it. */
  decode(pos: number): [unknown, number] {
    const ctrl = this.src.bytes(pos, 1)[0] as number;
    pos += 1;
    let type = ctrl >> 5;
    if (type === T.pointer) {
      const ss = (ctrl >> 3) & 3;
      const b = this.src.bytes(pos, ss + 1);
      const v = ctrl & 7;
      let target: number;
      if (ss === 0) target = (v << 8) | (b[0] as number);
      else if (ss === 1) target = ((v << 16) | b.readUInt16BE(0)) + 2048;
      else if (ss === 2) target = (v * 0x1000000 + b.readUIntBE(0, 3)) + 526_336;
      else target = b.readUInt32BE(0);
      // Spec: a pointer to a pointer is invalid; the pointed-to value is decoded in place of the pointer.
      return [this.decode(target)[0], pos + ss + 1];
    }
    if (type === T.extended) {
      type = 7 + (this.src.bytes(pos, 1)[0] as number);
      pos += 1;
      if (type < 8 || type > T.float) throw new Error(`MMDB: invalid extended type ${type}`);
    }
    let size = ctrl & 0x1f;
    if (size >= 29) {
      const n = size - 28;
      const b = this.src.bytes(pos, n);
      pos += n;
      if (n === 1) size = 29 + (b[0] as number);
      else if (n === 2) size = 285 + b.readUInt16BE(0);
      else size = 65_821 + b.readUIntBE(0, 3);
    }
    switch (type) {
      case T.utf8:
        return [size === 0 ? '' : this.src.bytes(pos, size).toString('utf8'), pos + size];
      case T.double:
        if (size !== 8) throw new Error(`MMDB: invalid double size ${size}`);
        return [this.src.bytes(pos, 8).readDoubleBE(0), pos + 8];
      case T.float:
        if (size !== 4) throw new Error(`MMDB: invalid float size ${size}`);
        return [this.src.bytes(pos, 4).readFloatBE(0), pos + 4];
      case T.bytes:
        return [Buffer.from(size === 0 ? Buffer.alloc(0) : this.src.bytes(pos, size)), pos + size];
      case T.uint16:
      case T.uint32: {
        if (size > (type === T.uint16 ? 2 : 4)) throw new Error(`MMDB: invalid unsigned integer size ${size}`);
        return [size === 0 ? 0 : this.src.bytes(pos, size).readUIntBE(0, size), pos + size];
      }
      case T.int32: {
        if (size > 4) throw new Error(`MMDB: invalid int32 size ${size}`);
        if (size === 0) return [0, pos];
        const b = this.src.bytes(pos, size);
        return [size === 4 ? b.readInt32BE(0) : b.readUIntBE(0, size), pos + size];
      }
      case T.uint64:
      case T.uint128: {
        if (size > (type === T.uint64 ? 8 : 16)) throw new Error(`MMDB: invalid big unsigned integer size ${size}`);
        let value = 0n;
        if (size > 0) for (const byte of this.src.bytes(pos, size)) value = (value << 8n) | BigInt(byte);
        return [value, pos + size];
      }
      case T.map: {
        const map: Record<string, unknown> = {};
        for (let i = 0; i < size; i++) {
          const [key, afterKey] = this.decode(pos);
          if (typeof key !== 'string') throw new Error('MMDB: a map key is not a string');
          const [value, afterValue] = this.decode(afterKey);
          map[key] = value;
          pos = afterValue;
        }
        return [map, pos];
      }
      case T.array: {
        const array: unknown[] = new Array(size);
        for (let i = 0; i < size; i++) {
          const [value, after] = this.decode(pos);
          array[i] = value;
          pos = after;
        }
        return [array, pos];
      }
      case T.boolean:
        if (size > 1) throw new Error(`MMDB: invalid boolean ${size}`);
        return [size === 1, pos];
      default:
        // Data cache containers and end markers never appear as values in a lookup result.
        throw new Error(`MMDB: unexpected data type ${type}`);
    }
  }
}

function int(value: unknown, name: string): number {
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new Error(`MMDB: metadata ${name} missing or invalid`);
  return n;
}

function parseMetadata(tail: Buffer): MmdbMetadata {
  const at = tail.lastIndexOf(METADATA_MARKER);
  if (at < 0) throw new Error('not an MMDB file (no metadata marker)');
  const [raw] = new Decoder(new BufferSource(tail.subarray(at + METADATA_MARKER.length))).decode(0);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('MMDB: metadata is not a map');
  const m = raw as Record<string, unknown>;
  const recordSize = int(m.record_size, 'record_size');
  if (recordSize !== 24 && recordSize !== 28 && recordSize !== 32) throw new Error(`MMDB: unsupported record size ${recordSize}`);
  const ipVersion = int(m.ip_version, 'ip_version');
  if (ipVersion !== 4 && ipVersion !== 6) throw new Error(`MMDB: unsupported ip_version ${ipVersion}`);
  const major = int(m.binary_format_major_version, 'binary_format_major_version');
  if (major !== 2) throw new Error(`MMDB: unsupported binary format ${major}`);
  return {
    nodeCount: int(m.node_count, 'node_count'),
    recordSize,
    ipVersion,
    databaseType: typeof m.database_type === 'string' ? m.database_type : '',
    binaryFormatMajorVersion: major,
    raw: m,
  };
}

/** The 4 or 16 bytes of an address (an IPv4 address as 4 bytes), or null when it is not an address. */
export function addressBytes(ip: string): Uint8Array | null {
  const family = isIP(ip);
  if (family === 4) return Uint8Array.from(ip.split('.').map(Number));
  if (family !== 6) return null;
  let text = ip;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const out = new Uint8Array(16);
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    // An embedded IPv4 address (::ffff:192.0.2.1) is the last 32 bits: rewrite it as two hex groups.
    const o = last.split('.').map(Number);
    const hi = (((o[0] ?? 0) << 8) | (o[1] ?? 0)).toString(16);
    const lo = (((o[2] ?? 0) << 8) | (o[3] ?? 0)).toString(16);
    text = `${text.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const groupsOf = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const double = text.indexOf('::');
  let groups: number[];
  if (double >= 0) {
    const head = groupsOf(text.slice(0, double));
    const rest = groupsOf(text.slice(double + 2));
    groups = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  } else groups = groupsOf(text);
  if (groups.length !== 8) return null;
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

/**
 * Opens an MMDB file. Throws when it is missing or not a valid MMDB 2.0 file.
 *
 * @example
 * const db = openMmdb('GeoLite2-City.mmdb');
 * db.get('81.2.69.160'); // { city: { names: { en: 'London' } }, ... }
 * db.close();
 */
export function openMmdb(path: string): MmdbReader {
  let fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const tailLen = Math.min(size, METADATA_MAX);
    const tail = Buffer.alloc(tailLen);
    readFully(fd, tail, size - tailLen);
    const metadata = parseMetadata(tail);
    const { nodeCount, recordSize, ipVersion } = metadata;
    const nodeBytes = recordSize / 4;
    const treeSize = nodeCount * nodeBytes;
    const dataStart = treeSize + DATA_SEPARATOR;
    const metadataStart = size - tailLen + tail.lastIndexOf(METADATA_MARKER);
    if (dataStart > metadataStart) throw new Error('MMDB: search tree larger than the file');
    const liveFd = (): number => {
      if (fd < 0) throw new Error('MMDB: reader is closed');
      return fd;
    };
    const nodeBuf = Buffer.alloc(8);
    // The two records of node `node`.
    const record = (node: number, right: number): number => {
      readFully(liveFd(), nodeBuf.subarray(0, nodeBytes), node * nodeBytes);
      if (recordSize === 24) return nodeBuf.readUIntBE(right * 3, 3);
      if (recordSize === 32) return nodeBuf.readUInt32BE(right * 4);
      // 28 bits: the middle byte holds the high nibble of the left record and the high nibble of the right one.
      const middle = nodeBuf[3] as number;
      return right === 0
        ? (middle >> 4) * 0x1000000 + nodeBuf.readUIntBE(0, 3)
        : (middle & 0x0f) * 0x1000000 + nodeBuf.readUIntBE(4, 3);
    };
    const bitOf = (bytes: Uint8Array, i: number): number => ((bytes[i >> 3] as number) >> (7 - (i & 7))) & 1;
    // Walks from `node` along bits [from, to) of `bytes`; stops early at a record that is not a node.
    const walk = (node: number, bytes: Uint8Array, from: number, to: number): [number, number] => {
      let i = from;
      for (; i < to && node < nodeCount; i++) node = record(node, bitOf(bytes, i));
      return [node, i];
    };
    let ipv4Start = 0;
    if (ipVersion === 6) ipv4Start = walk(0, new Uint8Array(16), 0, 96)[0];

    // The top of the tree: for each start node, where the first TOP_BITS bits lead (0 = not yet known; the depth
    // reached is stored + 1 so that 0 stays "unknown").
    const tops = new Map<number, { node: Uint32Array; depth: Uint8Array }>();
    const topOf = (start: number): { node: Uint32Array; depth: Uint8Array } => {
      let top = tops.get(start);
      if (top === undefined) {
        top = { node: new Uint32Array(1 << TOP_BITS), depth: new Uint8Array(1 << TOP_BITS) };
        tops.set(start, top);
      }
      return top;
    };

    const data = new PagedSource(liveFd, dataStart, metadataStart);
    const decoder = new Decoder(data);
    const records = new Map<number, unknown>();

    return {
      metadata,
      get: (ip) => {
        const bytes = addressBytes(ip);
        if (bytes === null) throw new Error(`not an IP address: ${ip}`);
        if (bytes.length === 16 && ipVersion === 4) {
          throw new Error(`cannot look up the IPv6 address ${ip} in an IPv4-only database`);
        }
        const bits = bytes.length * 8;
        const start = bytes.length === 4 && ipVersion === 6 ? ipv4Start : 0;
        let node = start;
        if (node < nodeCount) {
          let depth: number;
          const top = topOf(start);
          const index = ((bytes[0] as number) << 8) | (bytes[1] as number);
          const known = top.depth[index] as number;
          if (known !== 0) {
            node = top.node[index] as number;
            depth = known - 1;
          } else {
            [node, depth] = walk(start, bytes, 0, TOP_BITS);
            top.node[index] = node;
            top.depth[index] = depth + 1;
          }
          if (node < nodeCount) node = walk(node, bytes, depth, bits)[0];
        }
        if (node <= nodeCount) return null;
        const offset = node - nodeCount - DATA_SEPARATOR;
        if (records.has(offset)) {
          const hit = records.get(offset);
          records.delete(offset);
          records.set(offset, hit);
          return hit;
        }
        const [value] = decoder.decode(offset);
        if (records.size >= MAX_RECORDS) records.delete(records.keys().next().value as number);
        records.set(offset, value);
        return value;
      },
      close: () => {
        if (fd >= 0) closeSync(fd);
        fd = -1;
      },
    };
  } catch (error) {
    closeSync(fd);
    fd = -1;
    throw error;
  }
}
