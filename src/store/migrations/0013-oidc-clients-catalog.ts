import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Dialect } from '../database.ts';

/**
 * `oidc_clients` joins the catalog (migration 0006): a write to it moves `catalog_version` on in the same
 * transaction, so a node may keep an application's OIDC settings (its registered redirect URIs) in memory while the
 * version it reads once per request stands still — the provider loads its client on most requests — and a change
 * made on any node is in force at the next request on every node.
 */
export function oidcClientsCatalogMigration(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      if (dialect === 'postgres') {
        await sql`create trigger oidc_clients_catalog_changed after insert or update or delete or truncate on oidc_clients
          for each statement execute function portcullis_catalog_changed()`.execute(db);
        return;
      }
      for (const event of ['insert', 'update', 'delete'] as const) {
        await sql`create trigger ${sql.id(`oidc_clients_catalog_${event}`)} after ${sql.raw(event)} on oidc_clients
          begin update catalog_version set version = version + 1 where id = 1; end`.execute(db);
      }
    },
    async down(db: Kysely<unknown>): Promise<void> {
      if (dialect === 'postgres') {
        await sql`drop trigger if exists oidc_clients_catalog_changed on oidc_clients`.execute(db);
        return;
      }
      for (const event of ['insert', 'update', 'delete']) await sql`drop trigger if exists ${sql.id(`oidc_clients_catalog_${event}`)}`.execute(db);
    },
  };
}
