import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * Issue 11 (enumeration and lockout as a weapon), portable DDL for SQLite and PostgreSQL:
 * - `users.unknown_device_failures` / `unknown_device_locked_until`: smart lockout counts wrong passwords from
 *   devices the user never completed MFA on apart from the account's count, so a stranger's guesses lock only the
 *   stranger's path. One column per `ALTER TABLE` (SQLite adds one at a time).
 * - `signin_throttle`: fixed-window failure counters keyed by tenant, scope (`ip`, `identifier`) and a hash, upserted
 *   atomically by every node; rows of ended windows are swept (`window_ends_at` index).
 */
export function signinThrottleMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('users').addColumn('unknown_device_failures', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('users').addColumn('unknown_device_locked_until', 'bigint').execute();
      await db.schema
        .createTable('signin_throttle')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('failures', 'integer', (c) => c.notNull())
        .addColumn('window_ends_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('signin_throttle_pkey', ['tenant_id', 'scope', 'key'])
        .execute();
      await db.schema.createIndex('signin_throttle_window_idx').on('signin_throttle').column('window_ends_at').execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('signin_throttle').ifExists().execute();
      // SQLite ≥ 3.35 and PostgreSQL both drop a column.
      await sql`alter table users drop column unknown_device_locked_until`.execute(db);
      await sql`alter table users drop column unknown_device_failures`.execute(db);
    },
  };
}
