import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * `oidc_payloads`' secondary keys are each set on a few models only — `grant_id` on codes and tokens, `uid` on
 * sessions, `user_code` on device codes (a flow not enabled) — yet every row had an entry in all three indexes, so
 * every write of an interaction, a grant or the pages' flow state rewrote index pages it is never looked up by. Here
 * they index only the rows that have the key (partial indexes, both dialects): a lookup `where grant_id = ?` (or
 * `uid = ?`, `user_code = ?`) implies the key is not null, so it still uses them.
 */
const INDEXES = [
  { name: 'oidc_payloads_grant', columns: ['grant_id'], key: 'grant_id' },
  { name: 'oidc_payloads_uid', columns: ['model', 'uid'], key: 'uid' },
  { name: 'oidc_payloads_user_code', columns: ['model', 'user_code'], key: 'user_code' },
] as const;

export function oidcPartialIndexesMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      for (const index of INDEXES) {
        await db.schema.dropIndex(index.name).execute();
        await sql`create index ${sql.id(index.name)} on oidc_payloads (${sql.join(index.columns.map((c) => sql.id(c)))}) where ${sql.id(index.key)} is not null`.execute(db);
      }
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const index of INDEXES) {
        await db.schema.dropIndex(index.name).execute();
        await db.schema.createIndex(index.name).on('oidc_payloads').columns([...index.columns]).execute();
      }
    },
  };
}
