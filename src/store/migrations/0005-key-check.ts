import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * `key_check`: one value sealed with the secret-box key at the first start, so that every later start can prove
 * the configured key is the one the database's secrets were sealed with (see `src/services/key-check.ts`).
 */
export function keyCheckMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('key_check')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('sealed', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('key_check').ifExists().execute();
    },
  };
}
