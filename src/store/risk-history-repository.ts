import { sql, type RawBuilder } from 'kysely';
import { bool, num, numOrNull, type Binding } from './kysely-support.ts';
import type { RiskHistoryRepository } from './types.ts';

interface Row {
  device_trusted_at: number | string | null;
  network_trusted_at: number | string | null;
  any_success: unknown;
  country_seen: unknown;
  city_seen: unknown;
  last_success_at: number | string | null;
  device_failures: number | string;
  ip_failures: number | string;
  last_at: number | string | null;
  last_latitude: number | string | null;
  last_longitude: number | string | null;
  last_accuracy_km: number | string | null;
  last_country: string | null;
  last_city: string | null;
}

/**
 * The risk engine's one read per decision: trusted device and network, the user's successful history (any, this
 * country, this city, the latest, the latest with a location) and the tenant-wide failed attempts from this device
 * and this IP in the velocity window — one statement, so the signals cost one round trip on PostgreSQL (the
 * request budget of issue 13). Written as SQL text for the same reason `priorSuccess` is: it runs on every decision.
 */
export function riskHistoryRepository(b: Binding, tenantId: string): RiskHistoryRepository {
  const { db } = b;
  return {
    read: async (userId, q) => {
      const success = sql`select 1 from signin_history where tenant_id = ${tenantId} and user_id = ${userId} and outcome = 'succeeded'`;
      const trustedAt = (key: string | null): RawBuilder<unknown> =>
        key === null ? sql`null` : sql`(select trusted_at from trusted_devices where tenant_id = ${tenantId} and user_id = ${userId} and device_id = ${key})`;
      const failures = (column: 'device_id' | 'ip', value: string | null): RawBuilder<unknown> =>
        value === null ? sql`0` : sql`(select count(*) from signin_history where tenant_id = ${tenantId} and outcome = 'failed' and ${sql.ref(column)} = ${value} and at >= ${q.failuresSince})`;
      const countrySeen = q.country === null ? sql`0` : sql`exists(${success} and country = ${q.country})`;
      const citySeen = q.country === null || q.city === null ? sql`0` : sql`exists(${success} and country = ${q.country} and city = ${q.city})`;
      const result = await sql<Row>`
        select ${trustedAt(q.deviceKey)} as device_trusted_at,
               ${trustedAt(q.networkKey)} as network_trusted_at,
               exists(${success}) as any_success,
               ${countrySeen} as country_seen,
               ${citySeen} as city_seen,
               (select max(at) from signin_history where tenant_id = ${tenantId} and user_id = ${userId} and outcome = 'succeeded') as last_success_at,
               ${failures('device_id', q.deviceKey)} as device_failures,
               ${failures('ip', q.ip)} as ip_failures,
               l.at as last_at, l.latitude as last_latitude, l.longitude as last_longitude, l.accuracy_km as last_accuracy_km,
               l.country as last_country, l.city as last_city
        from (select 1 as one) o
        left join (
          select at, latitude, longitude, accuracy_km, country, city from signin_history
          where tenant_id = ${tenantId} and user_id = ${userId} and outcome = 'succeeded' and latitude is not null and longitude is not null
          order by at desc, id desc limit 1
        ) l on 1 = 1`.execute(db);
      const row = result.rows[0];
      if (row === undefined) throw new Error('risk history query returned no row');
      const lastAt = numOrNull(row.last_at);
      const lat = numOrNull(row.last_latitude);
      const lon = numOrNull(row.last_longitude);
      return {
        deviceTrustedAt: numOrNull(row.device_trusted_at),
        networkTrustedAt: numOrNull(row.network_trusted_at),
        anySuccess: bool(row.any_success),
        countrySeen: bool(row.country_seen),
        citySeen: bool(row.city_seen),
        lastSuccessAt: numOrNull(row.last_success_at),
        lastLocated:
          lastAt === null || lat === null || lon === null
            ? null
            : { at: lastAt, latitude: lat, longitude: lon, accuracyKm: numOrNull(row.last_accuracy_km), country: row.last_country, city: row.last_city },
        failuresByDevice: num(row.device_failures),
        failuresByIp: num(row.ip_failures),
      };
    },
  };
}
