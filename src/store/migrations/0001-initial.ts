import type { ColumnDefinitionBuilder, CreateTableBuilder, Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Dialect } from '../database.ts';

type Table = CreateTableBuilder<string, never>;

/**
 * The initial schema, portable DDL for SQLite and PostgreSQL. Only the auto-increment id differs by dialect.
 *
 * Tenant isolation at the database level: tenant-owned child rows reference their parent through
 * `(tenant_id, parent_id)`, so a row can never point at another tenant's user or factor even if a query forgot
 * its scope.
 */
export function initialMigration(dialect: Dialect): Migration {
  const autoId = (t: Table): Table =>
    dialect === 'postgres'
      ? t.addColumn('id', 'bigserial', (c) => c.primaryKey())
      : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
  const notNull = (c: ColumnDefinitionBuilder): ColumnDefinitionBuilder => c.notNull();

  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('tenants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('slug', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', notNull)
        .addColumn('created_at', 'bigint', notNull)
        .addColumn('updated_at', 'bigint', notNull)
        .execute();

      await db.schema
        .createTable('applications')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', notNull)
        .addColumn('first_party', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('client_id', 'text', (c) => c.notNull().unique())
        .addColumn('client_secret_hash', 'text', notNull)
        .addColumn('created_at', 'bigint', notNull)
        .addColumn('updated_at', 'bigint', notNull)
        .execute();

      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('email', 'text', notNull)
        .addColumn('email_verified', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('phone', 'text')
        .addColumn('roles', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('password_hash', 'text')
        .addColumn('external_id', 'text')
        .addColumn('first_sign_in_at', 'bigint')
        .addColumn('grace_until', 'bigint')
        .addColumn('exempt_until', 'bigint')
        .addColumn('last_mfa_at', 'bigint')
        .addColumn('failed_signins', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('locked_until', 'bigint')
        .addColumn('created_at', 'bigint', notNull)
        .addColumn('updated_at', 'bigint', notNull)
        .addUniqueConstraint('users_tenant_id_id_key', ['tenant_id', 'id'])
        .addUniqueConstraint('users_tenant_email_key', ['tenant_id', 'email'])
        .addUniqueConstraint('users_tenant_external_id_key', ['tenant_id', 'external_id'])
        .execute();

      await db.schema
        .createTable('policy_heads')
        .addColumn('scope_key', 'text', (c) => c.primaryKey())
        .addColumn('last_version', 'integer', notNull)
        .execute();

      await db.schema
        .createTable('policy_versions')
        .addColumn('scope_key', 'text', notNull)
        .addColumn('level', 'text', notNull)
        .addColumn('tenant_id', 'text', (c) => c.references('tenants.id').onDelete('cascade'))
        .addColumn('application_id', 'text', (c) => c.references('applications.id').onDelete('cascade'))
        .addColumn('user_id', 'text')
        .addColumn('version', 'integer', notNull)
        .addColumn('effective_at', 'bigint', notNull)
        .addColumn('expires_at', 'bigint')
        .addColumn('layer', 'text', notNull)
        .addColumn('created_at', 'bigint', notNull)
        .addColumn('created_by', 'text', notNull)
        .addPrimaryKeyConstraint('policy_versions_pkey', ['scope_key', 'version'])
        .addForeignKeyConstraint('policy_versions_user_fkey', ['tenant_id', 'user_id'], 'users', ['tenant_id', 'id'], (c) => c.onDelete('cascade'))
        .execute();
      await db.schema.createIndex('policy_versions_tenant_idx').on('policy_versions').columns(['tenant_id', 'level']).execute();
      await db.schema.createIndex('policy_versions_application_idx').on('policy_versions').columns(['application_id', 'level']).execute();

      await db.schema
        .createTable('factors')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', notNull)
        .addColumn('user_id', 'text', notNull)
        .addColumn('type', 'text', notNull)
        .addColumn('status', 'text', notNull)
        .addColumn('label', 'text', notNull)
        .addColumn('secret_enc', 'text')
        .addColumn('data', 'text')
        .addColumn('last_step', 'bigint')
        .addColumn('failed_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('locked_until', 'bigint')
        .addColumn('created_at', 'bigint', notNull)
        .addColumn('confirmed_at', 'bigint')
        .addColumn('last_used_at', 'bigint')
        .addColumn('expires_at', 'bigint')
        .addUniqueConstraint('factors_tenant_id_id_key', ['tenant_id', 'id'])
        .addForeignKeyConstraint('factors_user_fkey', ['tenant_id', 'user_id'], 'users', ['tenant_id', 'id'], (c) => c.onDelete('cascade'))
        .execute();
      // Serves the per-user listing in its order (no sort); the planner prefers it over any one-column index.
      await db.schema.createIndex('factors_user_idx').on('factors').columns(['tenant_id', 'user_id', 'created_at', 'id']).execute();
      await db.schema.createIndex('factors_expiry_idx').on('factors').column('expires_at').execute();

      await db.schema
        .createTable('recovery_codes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', notNull)
        .addColumn('user_id', 'text', notNull)
        .addColumn('factor_id', 'text', notNull)
        .addColumn('code_hash', 'text', notNull)
        .addColumn('used_at', 'bigint')
        .addForeignKeyConstraint('recovery_codes_user_fkey', ['tenant_id', 'user_id'], 'users', ['tenant_id', 'id'], (c) => c.onDelete('cascade'))
        .addForeignKeyConstraint('recovery_codes_factor_fkey', ['tenant_id', 'factor_id'], 'factors', ['tenant_id', 'id'], (c) => c.onDelete('cascade'))
        .execute();
      await db.schema.createIndex('recovery_codes_user_idx').on('recovery_codes').columns(['tenant_id', 'user_id', 'id']).execute();
      await db.schema.createIndex('recovery_codes_factor_idx').on('recovery_codes').columns(['tenant_id', 'factor_id']).execute();

      await db.schema
        .createTable('mfa_sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', notNull)
        .addColumn('user_id', 'text', notNull)
        .addColumn('application_id', 'text', (c) => c.references('applications.id').onDelete('cascade'))
        .addColumn('purpose', 'text', notNull)
        .addColumn('action', 'text')
        .addColumn('methods', 'text', notNull)
        .addColumn('decision', 'text', notNull)
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('completed', 'text', notNull)
        .addColumn('status', 'text', notNull)
        .addColumn('expires_at', 'bigint', notNull)
        .addColumn('created_at', 'bigint', notNull)
        .addColumn('completed_at', 'bigint')
        .addForeignKeyConstraint('mfa_sessions_user_fkey', ['tenant_id', 'user_id'], 'users', ['tenant_id', 'id'], (c) => c.onDelete('cascade'))
        .execute();
      await db.schema.createIndex('mfa_sessions_user_idx').on('mfa_sessions').columns(['tenant_id', 'user_id']).execute();
      await db.schema.createIndex('mfa_sessions_expiry_idx').on('mfa_sessions').columns(['expires_at']).execute();

      await autoId(db.schema.createTable('signin_history'))
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('user_id', 'text')
        .addColumn('application_id', 'text')
        .addColumn('ip', 'text')
        .addColumn('device_id', 'text')
        .addColumn('user_agent', 'text')
        .addColumn('country', 'text')
        .addColumn('latitude', 'double precision')
        .addColumn('longitude', 'double precision')
        .addColumn('outcome', 'text', notNull)
        .addColumn('at', 'bigint', notNull)
        .addForeignKeyConstraint('signin_history_user_fkey', ['tenant_id', 'user_id'], 'users', ['tenant_id', 'id'], (c) => c.onDelete('cascade'))
        .execute();
      await db.schema.createIndex('signin_history_device_idx').on('signin_history').columns(['tenant_id', 'user_id', 'outcome', 'device_id']).execute();
      await db.schema.createIndex('signin_history_ip_idx').on('signin_history').columns(['tenant_id', 'user_id', 'outcome', 'ip']).execute();
      await db.schema.createIndex('signin_history_country_idx').on('signin_history').columns(['tenant_id', 'user_id', 'outcome', 'country']).execute();
      await db.schema.createIndex('signin_history_at_idx').on('signin_history').columns(['tenant_id', 'user_id', 'at']).execute();

      await db.schema
        .createTable('trusted_devices')
        .addColumn('tenant_id', 'text', notNull)
        .addColumn('user_id', 'text', notNull)
        .addColumn('device_id', 'text', notNull)
        .addColumn('trusted_at', 'bigint', notNull)
        .addPrimaryKeyConstraint('trusted_devices_pkey', ['tenant_id', 'user_id', 'device_id'])
        .addForeignKeyConstraint('trusted_devices_user_fkey', ['tenant_id', 'user_id'], 'users', ['tenant_id', 'id'], (c) => c.onDelete('cascade'))
        .execute();

      // Append-only; no foreign keys, so the record of a deleted tenant, user or application survives.
      await autoId(db.schema.createTable('audit_events'))
        .addColumn('tenant_id', 'text')
        .addColumn('at', 'bigint', notNull)
        .addColumn('actor', 'text', notNull)
        .addColumn('subject', 'text')
        .addColumn('event', 'text', notNull)
        .addColumn('user_id', 'text')
        .addColumn('application_id', 'text')
        .addColumn('data', 'text', notNull)
        .execute();
      await db.schema.createIndex('audit_events_tenant_idx').on('audit_events').columns(['tenant_id', 'id']).execute();
      await db.schema.createIndex('audit_events_event_idx').on('audit_events').columns(['tenant_id', 'event', 'id']).execute();
      await db.schema.createIndex('audit_events_user_idx').on('audit_events').columns(['tenant_id', 'user_id', 'id']).execute();
      await db.schema.createIndex('audit_events_at_idx').on('audit_events').columns(['tenant_id', 'at']).execute();

      await db.schema
        .createTable('admin_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('tenant_id', 'text', (c) => c.references('tenants.id').onDelete('cascade'))
        .addColumn('label', 'text', notNull)
        .addColumn('created_at', 'bigint', notNull)
        .execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of [
        'admin_tokens',
        'audit_events',
        'trusted_devices',
        'signin_history',
        'mfa_sessions',
        'recovery_codes',
        'factors',
        'policy_versions',
        'policy_heads',
        'users',
        'applications',
        'tenants',
      ]) {
        await db.schema.dropTable(table).ifExists().execute();
      }
    },
  };
}
