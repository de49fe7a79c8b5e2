/** A tenant's WebAuthn ceremony challenges over Kysely: stored by hash, spent by one conditional UPDATE. */
import type { Selectable } from 'kysely';
import { changed, num, numOrNull, write, type Binding } from './kysely-support.ts';
import type { WebauthnChallengesTable } from './schema.ts';
import type { WebauthnCeremony, WebauthnChallengeRecord, WebauthnChallengeRepository } from './types.ts';

function toChallenge(row: Selectable<WebauthnChallengesTable>): WebauthnChallengeRecord {
  return {
    id: row.id,
    kind: row.kind as WebauthnCeremony,
    applicationId: row.application_id,
    mfaSessionId: row.mfa_session_id,
    userId: row.user_id,
    userVerification: row.user_verification as WebauthnChallengeRecord['userVerification'],
    rpId: row.rp_id,
    createdAt: num(row.created_at),
    expiresAt: num(row.expires_at),
    usedAt: numOrNull(row.used_at),
  };
}

export function webauthnChallengeRepository(b: Binding, tenantId: string): WebauthnChallengeRepository {
  const { db } = b;
  return {
    create: (input) =>
      write('The WebAuthn challenge', async () => {
        await db
          .insertInto('webauthn_challenges')
          .values({
            tenant_id: tenantId,
            id: input.id,
            kind: input.kind,
            application_id: input.applicationId,
            mfa_session_id: input.mfaSessionId,
            user_id: input.userId,
            factor_id: null,
            user_verification: input.userVerification,
            rp_id: input.rpId,
            created_at: input.now,
            expires_at: input.expiresAt,
            used_at: null,
          })
          .execute();
      }),
    get: async (id) => {
      const row = await db.selectFrom('webauthn_challenges').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
      return row === undefined ? null : toChallenge(row);
    },
    // SECURITY rule 2: a challenge answers one ceremony; the affected-row count decides.
    consume: async (id, now) =>
      changed(
        await db
          .updateTable('webauthn_challenges')
          .set({ used_at: now })
          .where('tenant_id', '=', tenantId)
          .where('id', '=', id)
          .where('used_at', 'is', null)
          .where('expires_at', '>', now)
          .executeTakeFirst(),
      ),
  };
}
