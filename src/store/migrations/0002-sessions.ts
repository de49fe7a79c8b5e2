import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * Login sessions (what a completed flow leaves, DESIGN §1) and applications bound to tenants.
 *
 * Existing data migrates without loss and without widening anyone's reach: before this migration every application
 * reached every tenant, so each existing application is assigned to the tenants it has already served — those in
 * whose MFA sessions, sign-in history or audit records it appears, or for which a tenant×application policy layer
 * exists. No application is given `all_tenants`; a platform admin sets that explicitly.
 */
export function sessionsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('applications').addColumn('all_tenants', 'integer', (c) => c.notNull().defaultTo(0)).execute();

      await db.schema
        .createTable('application_tenants')
        .addColumn('application_id', 'text', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('application_tenants_pkey', ['application_id', 'tenant_id'])
        .execute();
      await db.schema.createIndex('application_tenants_tenant_idx').on('application_tenants').columns(['tenant_id', 'application_id']).execute();

      await sql`
        insert into application_tenants (application_id, tenant_id, created_at)
        select distinct a.id, t.id, a.created_at
        from applications a
        join tenants t on
          exists (select 1 from mfa_sessions s where s.application_id = a.id and s.tenant_id = t.id)
          or exists (select 1 from signin_history h where h.application_id = a.id and h.tenant_id = t.id)
          or exists (select 1 from audit_events e where e.application_id = a.id and e.tenant_id = t.id)
          or exists (select 1 from policy_versions p where p.application_id = a.id and p.tenant_id = t.id)
      `.execute(db);

      await db.schema
        .createTable('login_sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('application_id', 'text', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('amr', 'text', (c) => c.notNull())
        .addColumn('acr', 'text', (c) => c.notNull())
        .addColumn('auth_time', 'bigint', (c) => c.notNull())
        .addColumn('mfa_at', 'bigint')
        .addColumn('factors', 'text', (c) => c.notNull())
        .addColumn('grants', 'text', (c) => c.notNull())
        .addColumn('device_id', 'text')
        .addColumn('ip', 'text')
        .addColumn('user_agent', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .addUniqueConstraint('login_sessions_tenant_id_id_key', ['tenant_id', 'id'])
        .addForeignKeyConstraint('login_sessions_user_fkey', ['tenant_id', 'user_id'], 'users', ['tenant_id', 'id'], (c) => c.onDelete('cascade'))
        .execute();
      await db.schema.createIndex('login_sessions_user_idx').on('login_sessions').columns(['tenant_id', 'user_id', 'created_at']).execute();
      await db.schema.createIndex('login_sessions_expiry_idx').on('login_sessions').column('expires_at').execute();

      // A step-up MFA session remembers the login session whose freshness it will refresh.
      await db.schema.alterTable('mfa_sessions').addColumn('login_session_id', 'text').execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('mfa_sessions').dropColumn('login_session_id').execute();
      await db.schema.dropTable('login_sessions').ifExists().execute();
      await db.schema.dropTable('application_tenants').ifExists().execute();
      await db.schema.alterTable('applications').dropColumn('all_tenants').execute();
    },
  };
}
