import { scoreRisk, weightsWith, type GeoPoint, type ResolvedPolicy, type RiskAssessment } from '../core/index.ts';
import type { RiskCollection, RiskEngine } from '../risk/engine.ts';

export { deviceKeyOf, networkKeyOf, normaliseIp } from '../risk/keys.ts';
export type { RequestContext } from '../risk/engine.ts';

export interface RiskResult {
  readonly risk: RiskAssessment;
  /** The trusted-device state of this device, or null when unknown / not trusted. */
  readonly device: { readonly trustedAt: number | null } | null;
  /** The stored form of the device id (a hash), or null. */
  readonly deviceKey: string | null;
  /** What the sign-in history records of this attempt's place (none for a classified network). */
  readonly history: { readonly country: string | null; readonly city: string | null; readonly latitude: number | null; readonly longitude: number | null; readonly accuracyKm: number | null; readonly networkClass: string | null };
}

const NO_PLACE = { country: null, city: null, latitude: null, longitude: null, accuracyKm: null, networkClass: null };

function placeOf(location: GeoPoint | null, networkClass: string | null): RiskResult['history'] {
  if (location === null) return { ...NO_PLACE, networkClass };
  return { country: location.country, city: location.city, latitude: location.latitude, longitude: location.longitude, accuracyKm: location.accuracyKm, networkClass };
}

/**
 * Scores collected facts with the weights of the resolved policy (per tenant: `risk.weights`). An unavailable
 * collection stays unavailable, with its reason (→ `risk_unavailable` → challenge under `adaptive`).
 */
export function scoreCollection(engine: RiskEngine, collected: RiskCollection, deviceKey: string | null, policy: ResolvedPolicy, now: number): RiskResult {
  if (collected.status === 'unavailable') return { risk: { status: 'unavailable', reason: collected.reason }, device: null, deviceKey, history: NO_PLACE };
  return {
    risk: scoreRisk(collected.facts, weightsWith(policy.values.risk.weights), engine.settings, now),
    device: collected.deviceTrustedAt === null ? null : { trustedAt: collected.deviceTrustedAt },
    deviceKey,
    history: placeOf(collected.location, collected.networkClass),
  };
}
