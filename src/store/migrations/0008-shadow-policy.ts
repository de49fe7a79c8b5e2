import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/** A tenant's shadow (report-only) policy: a draft tenant layer every live decision is also evaluated with. */
export function shadowPolicyMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('shadow_policies')
        .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id').onDelete('cascade'))
        .addColumn('layer', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('shadow_policies').ifExists().execute();
    },
  };
}
