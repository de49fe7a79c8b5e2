import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Dialect } from '../database.ts';

/**
 * The tables whose rows every decision reads and every node may cache (src/store/catalog.ts): tenants,
 * applications, their assignments and the policy layers. Any write to them — through any code path, a migration or
 * an operator's SQL — moves `catalog_version.version` on in the same transaction, by trigger.
 */
export const CATALOG_TABLES = ['tenants', 'applications', 'application_tenants', 'policy_versions'] as const;

/**
 * `catalog_version`: one row whose `version` a trigger increments in the transaction of every write to the catalog
 * tables. A node reads it once per request and keeps its cached catalog while the number stands still, so a policy
 * saved on one node is in force at the very next decision on every other node (DESIGN §2, issue 13) without reading
 * the catalog rows each time.
 */
export function catalogVersionMigration(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('catalog_version')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('version', 'bigint', (c) => c.notNull())
        .execute();
      await sql`insert into catalog_version (id, version) values (1, 1)`.execute(db);
      if (dialect === 'postgres') {
        await sql`create function portcullis_catalog_changed() returns trigger language plpgsql as $$
          begin
            update catalog_version set version = version + 1 where id = 1;
            return null;
          end $$`.execute(db);
        for (const table of CATALOG_TABLES) {
          await sql`create trigger ${sql.id(`${table}_catalog_changed`)} after insert or update or delete or truncate on ${sql.table(table)}
            for each statement execute function portcullis_catalog_changed()`.execute(db);
        }
        return;
      }
      for (const table of CATALOG_TABLES) {
        for (const event of ['insert', 'update', 'delete'] as const) {
          await sql`create trigger ${sql.id(`${table}_catalog_${event}`)} after ${sql.raw(event)} on ${sql.table(table)}
            begin update catalog_version set version = version + 1 where id = 1; end`.execute(db);
        }
      }
    },
    async down(db: Kysely<unknown>): Promise<void> {
      if (dialect === 'postgres') {
        for (const table of CATALOG_TABLES) await sql`drop trigger if exists ${sql.id(`${table}_catalog_changed`)} on ${sql.table(table)}`.execute(db);
        await sql`drop function if exists portcullis_catalog_changed()`.execute(db);
      } else {
        for (const table of CATALOG_TABLES) for (const event of ['insert', 'update', 'delete']) await sql`drop trigger if exists ${sql.id(`${table}_catalog_${event}`)}`.execute(db);
      }
      await db.schema.dropTable('catalog_version').ifExists().execute();
    },
  };
}
