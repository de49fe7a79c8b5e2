import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * The JWS signing keys of signed sign-in results (and later the OIDC provider): platform level, one key set for
 * the deployment. The private JWK is sealed by the secret box (AAD `signing_key:<kid>`), never stored in clear.
 *
 * "Exactly one active key" is a database fact, not a convention: a partial unique index over `state` where it is
 * `active` lets a second active row fail, so nodes starting together on one empty PostgreSQL database (each
 * creating a key on first start) end with one active key, whoever wins.
 */
export function signingKeysMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('signing_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('alg', 'text', (c) => c.notNull())
        .addColumn('public_jwk', 'text', (c) => c.notNull())
        .addColumn('private_jwk_sealed', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('activated_at', 'bigint', (c) => c.notNull())
        .addColumn('retired_at', 'bigint')
        .addColumn('retire_after', 'bigint')
        .addCheckConstraint('signing_keys_state_check', sql`state in ('active', 'retiring')`)
        // A retiring key always says until when it stays published; an active one never does.
        .addCheckConstraint('signing_keys_retire_check', sql`(state = 'active') = (retire_after is null)`)
        .execute();
      await db.schema.createIndex('signing_keys_one_active').on('signing_keys').column('state').unique().where(sql.ref('state'), '=', sql.lit('active')).execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('signing_keys').ifExists().execute();
    },
  };
}
