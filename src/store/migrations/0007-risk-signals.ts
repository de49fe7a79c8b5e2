import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * The risk engine's history: the city and the GeoIP accuracy radius of each sign-in (new-city and impossible-travel
 * signals) and the configured network class it came from (classified networks are no travel baseline); indexes for
 * the tenant-wide failed-attempt velocity per IP and per device, counted over a recent window.
 */
export function riskSignalsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('signin_history').addColumn('city', 'text').execute();
      await db.schema.alterTable('signin_history').addColumn('accuracy_km', 'double precision').execute();
      await db.schema.alterTable('signin_history').addColumn('network_class', 'text').execute();
      await db.schema.createIndex('signin_history_failed_ip_idx').on('signin_history').columns(['tenant_id', 'outcome', 'ip', 'at']).execute();
      await db.schema.createIndex('signin_history_failed_device_idx').on('signin_history').columns(['tenant_id', 'outcome', 'device_id', 'at']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('signin_history_failed_device_idx').ifExists().execute();
      await db.schema.dropIndex('signin_history_failed_ip_idx').ifExists().execute();
      await db.schema.alterTable('signin_history').dropColumn('network_class').execute();
      await db.schema.alterTable('signin_history').dropColumn('accuracy_km').execute();
      await db.schema.alterTable('signin_history').dropColumn('city').execute();
    },
  };
}
