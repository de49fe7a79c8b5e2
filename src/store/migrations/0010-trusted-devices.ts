import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * Remembered devices (SECURITY rule 6): a random device token handed to the caller after an MFA-complete answer;
 * only its SHA-256 is stored, bound to tenant, user and the application that asked. `mfa_at` is the last MFA on the
 * device (trust lasts `trustedDeviceDays` from it); the hash is replaced on every use (rotation). A factor or
 * password change deletes the user's rows.
 */
export function trustedDevicesMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('device_trusts')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('application_id', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull())
        .addColumn('mfa_at', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .addColumn('user_agent', 'text')
        .addColumn('ip', 'text')
        .addPrimaryKeyConstraint('device_trusts_pkey', ['tenant_id', 'id'])
        .addForeignKeyConstraint('device_trusts_user_fkey', ['tenant_id', 'user_id'], 'users', ['tenant_id', 'id'], (c) => c.onDelete('cascade'))
        .execute();
      await db.schema.createIndex('device_trusts_token_idx').unique().on('device_trusts').columns(['token_hash']).execute();
      await db.schema.createIndex('device_trusts_user_idx').on('device_trusts').columns(['tenant_id', 'user_id']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('device_trusts').ifExists().execute();
    },
  };
}
