import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * WebAuthn (passkeys and security keys). A credential is a `factors` row of type `webauthn`: its public key, AAGUID,
 * transports and backup flags in `data`, its sign counter in `last_step` (the column that is TOTP's replay guard;
 * both are "accept only a larger number"), and its credential id in the new `credential_id` column, unique per
 * tenant, so that a passkey-first sign-in finds the user from the assertion alone.
 *
 * `webauthn_challenges`: each ceremony's challenge, stored as its SHA-256 only, bound to the application that asked
 * and — inside a flow — to the MFA session (and for a registration, to the pending factor), single use (`used_at`
 * set by one conditional UPDATE) and short-lived.
 */
export function webauthnMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('factors').addColumn('credential_id', 'text').execute();
      await db.schema.createIndex('factors_credential_idx').unique().on('factors').columns(['tenant_id', 'credential_id']).execute();
      await db.schema
        .createTable('webauthn_challenges')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('application_id', 'text', (c) => c.notNull())
        .addColumn('mfa_session_id', 'text')
        .addColumn('user_id', 'text')
        .addColumn('factor_id', 'text')
        .addColumn('user_verification', 'text', (c) => c.notNull())
        .addColumn('rp_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addPrimaryKeyConstraint('webauthn_challenges_pkey', ['tenant_id', 'id'])
        .execute();
      await db.schema.createIndex('webauthn_challenges_expiry_idx').on('webauthn_challenges').columns(['expires_at']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('webauthn_challenges').ifExists().execute();
      await db.schema.dropIndex('factors_credential_idx').ifExists().execute();
      await db.schema.alterTable('factors').dropColumn('credential_id').execute();
    },
  };
}
