/** Mean Earth radius in km (IUGG), the sphere the haversine formula works on. */
export const EARTH_RADIUS_KM = 6371.0088;

/** A place on Earth, as an offline GeoIP database answers it. */
export interface GeoPoint {
  /** ISO 3166-1 alpha-2, or null when the database does not say. */
  readonly country: string | null;
  readonly city: string | null;
  readonly latitude: number;
  readonly longitude: number;
  /** How far the true location may be from the point, in km (GeoIP2 `accuracy_radius`); null when unknown. */
  readonly accuracyKm: number | null;
}

const RAD = Math.PI / 180;

/**
 * Great-circle distance in km between two points (haversine; error under 0.5 % against the ellipsoid, well inside
 * any GeoIP accuracy).
 *
 * @example
 * greatCircleKm({ latitude: 51.5074, longitude: -0.1278 }, { latitude: -33.8688, longitude: 151.2093 }); // ≈ 16994
 */
export function greatCircleKm(a: { readonly latitude: number; readonly longitude: number }, b: { readonly latitude: number; readonly longitude: number }): number {
  const dLat = (b.latitude - a.latitude) * RAD;
  const dLon = (b.longitude - a.longitude) * RAD;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.latitude * RAD) * Math.cos(b.latitude * RAD) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** A point's name for a reason trace: `London, GB (51.51, -0.13 ±50 km)`. */
export function describePoint(p: GeoPoint): string {
  const name = [p.city, p.country].filter((s): s is string => s !== null && s.length > 0).join(', ') || 'unknown place';
  const radius = p.accuracyKm === null ? '' : ` ±${Math.round(p.accuracyKm)} km`;
  return `${name} (${p.latitude.toFixed(2)}, ${p.longitude.toFixed(2)}${radius})`;
}
