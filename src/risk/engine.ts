import { DEFAULT_RISK_SETTINGS, type GeoPoint, type RiskFacts, type RiskSettings } from '../core/index.ts';
import type { TenantStore } from '../store/index.ts';
import { deviceKeyOf, networkKeyOf, normaliseIp } from './keys.ts';
import type { GeoIpLookup } from './geoip.ts';
import type { DenyLists, IpRanges } from './ip-lists.ts';

/** What the caller knows of the request: all optional, all untrusted. */
export interface RequestContext {
  readonly ip?: string | null;
  readonly userAgent?: string | null;
  readonly deviceId?: string | null;
  /** A remembered device's token (src/services/device-trust.ts); secret: never stored or logged. */
  readonly deviceToken?: string | null;
  /**
   * Why the client address could not be read (an unparsable `X-Forwarded-For` from a trusted proxy, or a context ip
   * that is no address): a risk signal, never an exception (SECURITY rule 7).
   */
  readonly ipUnparsable?: string | null;
}

/** The facts of one attempt, or why they could not be had (→ "unavailable" → challenge). */
export type RiskCollection =
  | {
      readonly status: 'ok';
      readonly facts: RiskFacts;
      readonly deviceTrustedAt: number | null;
      /** Where this attempt is, as its history row records it (null for a classified network or no answer). */
      readonly location: GeoPoint | null;
      readonly networkClass: string | null;
    }
  | { readonly status: 'unavailable'; readonly reason: string };

/** How the GeoIP database stands: configured and open, configured but unusable, or turned off by configuration. */
export type GeoIpState = { readonly kind: 'open'; readonly lookup: GeoIpLookup } | { readonly kind: 'failed'; readonly reason: string } | { readonly kind: 'off' };

export interface RiskEngineOptions {
  readonly geoip: GeoIpState;
  readonly denyLists?: DenyLists | null;
  /** Configured network classes (VPN exits, corporate ranges), first match wins. */
  readonly networkClasses?: readonly IpRanges[];
  readonly settings?: RiskSettings;
  /** The time budget of signal collection, ms. */
  readonly timeoutMs?: number;
}

/** Collects the risk facts of sign-in attempts: the signals' I/O (one history read, GeoIP, lists). */
export interface RiskEngine {
  readonly settings: RiskSettings;
  collect(tenant: TenantStore, userId: string, context: RequestContext, now: number): Promise<RiskCollection>;
}

/**
 * The budget of an engine built without one. The server wires its configured budget (`riskTimeoutMs`, 50 ms by
 * default); this lenient one serves embedders and tests that build services by hand on a busy machine.
 */
export const UNWIRED_RISK_TIMEOUT_MS = 2_000;

class RiskTimeout extends Error {
  override readonly name = 'timeout';
}

/** `work`, or a `RiskTimeout` rejection after `ms` (the timer never holds the process open). */
function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RiskTimeout(`risk signals took longer than ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Builds the engine. Every failure inside `collect` — the history read throwing or exceeding the budget, a GeoIP
 * database that is configured but unusable, a lookup that throws — answers `unavailable` with a reason, which
 * `decide` turns into a challenge (fail closed; SECURITY rule 7).
 *
 * @example
 * const engine = createRiskEngine({ geoip: { kind: 'open', lookup: await openGeoIp([path]) }, timeoutMs: 50 });
 * const collected = await engine.collect(store.forTenant(tenantId), userId, { ip, deviceId }, Date.now());
 */
export function createRiskEngine(options: RiskEngineOptions): RiskEngine {
  const settings = options.settings ?? DEFAULT_RISK_SETTINGS;
  const timeoutMs = options.timeoutMs ?? UNWIRED_RISK_TIMEOUT_MS;
  const classes = options.networkClasses ?? [];
  return {
    settings,
    collect: async (tenant, userId, context, now) => {
      try {
        if (options.geoip.kind === 'failed') return { status: 'unavailable', reason: `geoip: ${options.geoip.reason}` };
        const deviceKey = deviceKeyOf(tenant.tenantId, context.deviceId);
        const ip = normaliseIp(context.ip);
        const rawIp = typeof context.ip === 'string' && context.ip.length > 0 ? context.ip : null;
        const ipUnparsable = context.ipUnparsable ?? (rawIp !== null && ip === null ? 'the client address is not an IP address' : null);
        const networkClass = ip === null ? null : (classes.find((c) => c.has(ip))?.name ?? null);
        const geo = options.geoip.kind === 'open' && ip !== null ? options.geoip.lookup.lookup(ip) : null;
        const located = networkClass === null ? geo : null;
        const history = await within(
          tenant.riskHistory.read(userId, {
            deviceKey,
            networkKey: networkKeyOf(tenant.tenantId, ip),
            ip,
            country: located?.country ?? null,
            city: located?.city ?? null,
            failuresSince: now - settings.failureWindowMinutes * 60_000,
          }),
          timeoutMs,
        );
        const last = history.lastLocated;
        const facts: RiskFacts = {
          device: deviceKey === null ? 'unidentified' : history.deviceTrustedAt === null ? 'new' : 'known',
          network: history.networkTrustedAt === null ? 'new' : 'known',
          ipUnparsable,
          networkClass,
          denyListed: ip === null ? null : (options.denyLists?.match(ip) ?? null),
          location: located,
          anySuccess: history.anySuccess,
          countrySeen: history.countrySeen,
          citySeen: history.citySeen,
          lastSuccessAt: history.lastSuccessAt,
          lastLocated: last === null ? null : { at: last.at, point: { country: last.country, city: last.city, latitude: last.latitude, longitude: last.longitude, accuracyKm: last.accuracyKm } },
          failuresByDevice: deviceKey === null ? 0 : history.failuresByDevice,
          failuresByIp: ip === null ? 0 : history.failuresByIp,
        };
        return { status: 'ok', facts, deviceTrustedAt: history.deviceTrustedAt, location: located, networkClass };
      } catch (error) {
        return { status: 'unavailable', reason: error instanceof Error ? error.name : 'error' };
      }
    },
  };
}
