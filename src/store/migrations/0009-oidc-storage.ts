import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * The OpenID Connect provider's storage (issue 14):
 *
 * - `oidc_payloads`: what oidc-provider persists through its adapter — sessions, interactions, grants,
 *   authorization codes, access and refresh tokens — one row per (model, id), the payload as JSON, with the
 *   secondary keys the adapter looks up by (`grant_id` for revocation by grant, `uid` for sessions, `user_code`).
 *   `consumed_at` is written by one conditional update, so a code or refresh token is spent once (SECURITY rule 2).
 * - `oidc_clients`: the OIDC settings of an application (platform level, like `applications`): its registered
 *   redirect URIs and post-logout redirect URIs. An application without a row is not an OIDC client.
 */
export function oidcStorageMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('oidc_payloads')
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('grant_id', 'text')
        .addColumn('uid', 'text')
        .addColumn('user_code', 'text')
        .addColumn('expires_at', 'bigint')
        .addColumn('consumed_at', 'bigint')
        .addPrimaryKeyConstraint('oidc_payloads_pk', ['model', 'id'])
        .execute();
      await db.schema.createIndex('oidc_payloads_grant').on('oidc_payloads').column('grant_id').execute();
      await db.schema.createIndex('oidc_payloads_uid').on('oidc_payloads').columns(['model', 'uid']).execute();
      await db.schema.createIndex('oidc_payloads_user_code').on('oidc_payloads').columns(['model', 'user_code']).execute();
      await db.schema.createIndex('oidc_payloads_expires').on('oidc_payloads').column('expires_at').execute();
      await db.schema
        .createTable('oidc_clients')
        .addColumn('application_id', 'text', (c) => c.primaryKey().references('applications.id').onDelete('cascade'))
        .addColumn('redirect_uris', 'text', (c) => c.notNull())
        .addColumn('post_logout_redirect_uris', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('oidc_clients').ifExists().execute();
      await db.schema.dropTable('oidc_payloads').ifExists().execute();
    },
  };
}
