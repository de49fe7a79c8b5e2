import type { RiskAssessment, RiskSignal } from '../decision/types.ts';
import { DAY_MS } from '../time.ts';
import { describePoint, greatCircleKm, type GeoPoint } from './geo.ts';

/** Every signal the risk engine can raise; each has a weight (points) a tenant may change. */
export const RISK_SIGNAL_CODES = [
  'new_device',
  'new_ip',
  'new_country',
  'new_city',
  'impossible_travel',
  'ip_reputation',
  'failed_attempts_device',
  'failed_attempts_ip',
  'long_inactivity',
  'ip_unparsable',
  'cold_start',
  'network_class',
] as const;

export type RiskSignalCode = (typeof RISK_SIGNAL_CODES)[number];

/** Points per signal, 0–100 each; the score is their sum, capped at 100. */
export type RiskWeights = Readonly<Record<RiskSignalCode, number>>;

/**
 * The built-in weights. With the default thresholds (challengeAt 30, blockAt 80): a deny-listed address blocks by
 * itself; impossible travel from a new country and network blocks; failed-attempt velocity, long inactivity and an
 * unreadable client address each challenge by themselves; new device/IP/country always challenge under `adaptive`
 * (they are triggers in `decide`), a new city only adds to the score.
 */
export const DEFAULT_RISK_WEIGHTS: RiskWeights = Object.freeze({
  new_device: 20,
  new_ip: 10,
  new_country: 25,
  new_city: 10,
  impossible_travel: 60,
  ip_reputation: 80,
  failed_attempts_device: 30,
  failed_attempts_ip: 30,
  long_inactivity: 30,
  ip_unparsable: 30,
  cold_start: 10,
  network_class: 0,
});

/** Deployment-wide settings of the signals (server configuration, not policy). */
export interface RiskSettings {
  /** Above this ground speed between two successful sign-ins, travel is impossible. */
  readonly impossibleTravelKmh: number;
  /** No successful sign-in for this long → `long_inactivity`. */
  readonly inactivityDays: number;
  /** This many failed sign-ins inside the window, per device or per IP (tenant-wide), raise the velocity signals. */
  readonly failureThreshold: number;
  readonly failureWindowMinutes: number;
}

export const DEFAULT_RISK_SETTINGS: RiskSettings = Object.freeze({ impossibleTravelKmh: 1000, inactivityDays: 90, failureThreshold: 5, failureWindowMinutes: 15 });

/** The last successful sign-in with a usable location (sign-ins from classified networks are never one). */
export interface LocatedSignin {
  readonly at: number;
  readonly point: GeoPoint;
}

/** Everything the signals are computed from, read by `src/risk` (I/O) and scored here (pure). */
export interface RiskFacts {
  /** `unidentified`: the request carried no device id (a signal, never an exemption). */
  readonly device: 'unidentified' | 'new' | 'known';
  readonly network: 'new' | 'known';
  /** Why the client address could not be read (an unparsable forwarded header or context ip), or null. */
  readonly ipUnparsable: string | null;
  /** The configured network class the address belongs to (`vpn`, `corporate`, …), or null. */
  readonly networkClass: string | null;
  /** The deny list that holds the address, or null. */
  readonly denyListed: string | null;
  /** Where the address is, per the GeoIP database; null when it has no answer (or there is no address). */
  readonly location: GeoPoint | null;
  /** The user has a successful sign-in on record (false → the cold-start rule). */
  readonly anySuccess: boolean;
  readonly countrySeen: boolean;
  readonly citySeen: boolean;
  readonly lastSuccessAt: number | null;
  readonly lastLocated: LocatedSignin | null;
  /** Failed sign-ins in the window from this device / this IP, tenant-wide. */
  readonly failuresByDevice: number;
  readonly failuresByIp: number;
}

/** The travel between the last located sign-in and this one, as the trace reports it. */
export interface Travel {
  readonly distanceKm: number;
  /** The distance less both accuracy radii (never below 0): the least the user must have travelled. */
  readonly minimumKm: number;
  readonly hours: number;
  readonly speedKmh: number;
}

/**
 * The ground speed needed between two sign-ins, allowing for each location's accuracy radius: the points may be
 * off by their radii, so only the distance beyond both radii counts. Simultaneous sign-ins any distance apart that
 * the radii do not explain are infinitely fast.
 */
export function travelBetween(from: LocatedSignin, to: GeoPoint, now: number): Travel {
  const distanceKm = greatCircleKm(from.point, to);
  const minimumKm = Math.max(0, distanceKm - (from.point.accuracyKm ?? 0) - (to.accuracyKm ?? 0));
  const hours = Math.max(0, now - from.at) / 3_600_000;
  const speedKmh = minimumKm === 0 ? 0 : hours === 0 ? Number.POSITIVE_INFINITY : minimumKm / hours;
  return { distanceKm, minimumKm, hours, speedKmh };
}

function duration(hours: number): string {
  if (hours < 1) return `${Math.round(hours * 60)} min`;
  if (hours < 48) return `${hours.toFixed(1)} h`;
  return `${Math.round(hours / 24)} days`;
}

/**
 * Scores the facts: each raised signal with its weight and a human detail, the score their sum capped at 100.
 * Pure: `now` is an input.
 *
 * Cold start: a user with no successful sign-in has no baseline, so geographic novelty, travel and inactivity are
 * not scored (every first sign-in would raise them); `cold_start` stands in for them, and the device is new anyway.
 * A classified network (VPN, corporate range) says nothing about where the user is: no country, city or travel
 * signal is computed from it, and its sign-ins never become a travel baseline.
 *
 * @example
 * scoreRisk(facts, DEFAULT_RISK_WEIGHTS, DEFAULT_RISK_SETTINGS, Date.now());
 * // { status: 'ok', score: 30, signals: [{ code: 'new_device', weight: 20, detail: '…' }, …] }
 */
export function scoreRisk(facts: RiskFacts, weights: RiskWeights, settings: RiskSettings, now: number): Extract<RiskAssessment, { status: 'ok' }> {
  const signals: RiskSignal[] = [];
  const raise = (code: RiskSignalCode, detail: string): void => {
    signals.push({ code, weight: weights[code], detail });
  };
  if (facts.device === 'unidentified') raise('new_device', 'the request carried no device id');
  else if (facts.device === 'new') raise('new_device', 'no MFA was completed on this device');
  if (facts.network === 'new') raise('new_ip', 'no MFA was completed from this address');
  if (facts.ipUnparsable !== null) raise('ip_unparsable', facts.ipUnparsable);
  if (facts.denyListed !== null) raise('ip_reputation', `the address is on the deny list ${facts.denyListed}`);
  if (facts.failuresByDevice >= settings.failureThreshold) {
    raise('failed_attempts_device', `${facts.failuresByDevice} failed sign-ins from this device in ${settings.failureWindowMinutes} min (threshold ${settings.failureThreshold})`);
  }
  if (facts.failuresByIp >= settings.failureThreshold) {
    raise('failed_attempts_ip', `${facts.failuresByIp} failed sign-ins from this address in ${settings.failureWindowMinutes} min (threshold ${settings.failureThreshold})`);
  }
  if (facts.networkClass !== null) raise('network_class', `the address is in the ${facts.networkClass} network class; excluded from location and travel`);

  if (!facts.anySuccess) {
    raise('cold_start', 'no successful sign-in on record: no baseline for location, travel or inactivity');
  } else {
    if (facts.lastSuccessAt !== null && now - facts.lastSuccessAt >= settings.inactivityDays * DAY_MS) {
      raise('long_inactivity', `last successful sign-in ${Math.floor((now - facts.lastSuccessAt) / DAY_MS)} days ago (limit ${settings.inactivityDays} days)`);
    }
    const here = facts.networkClass === null ? facts.location : null;
    if (here !== null) {
      if (here.country !== null && !facts.countrySeen) raise('new_country', `first successful sign-in from ${here.country}`);
      else if (here.city !== null && !facts.citySeen) raise('new_city', `first successful sign-in from ${here.city}${here.country === null ? '' : `, ${here.country}`}`);
      const last = facts.lastLocated;
      if (last !== null) {
        const t = travelBetween(last, here, now);
        if (t.speedKmh > settings.impossibleTravelKmh) {
          const speed = Number.isFinite(t.speedKmh) ? `${Math.round(t.speedKmh)} km/h` : 'simultaneous';
          raise(
            'impossible_travel',
            `from ${describePoint(last.point)} ${duration(t.hours)} earlier to ${describePoint(here)}: ${Math.round(t.distanceKm)} km (${Math.round(t.minimumKm)} km beyond accuracy radii), ${speed} > ${settings.impossibleTravelKmh} km/h`,
          );
        }
      }
    }
  }
  let score = 0;
  for (const s of signals) score += s.weight;
  return { status: 'ok', score: Math.min(100, score), signals };
}

/** The weights in force: the built-in ones with a policy's overrides on top. */
export function weightsWith(overrides: Readonly<Partial<Record<string, number>>> | undefined): RiskWeights {
  if (overrides === undefined) return DEFAULT_RISK_WEIGHTS;
  const out: Record<string, number> = { ...DEFAULT_RISK_WEIGHTS };
  for (const code of RISK_SIGNAL_CODES) {
    const w = overrides[code];
    if (typeof w === 'number') out[code] = w;
  }
  return out as RiskWeights;
}
