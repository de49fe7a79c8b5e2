import { randomUUID } from 'node:crypto';
import type { FactorModule } from './factor.ts';
import { generateRecoveryCodes, hashRecoveryCode, normaliseRecoveryCode, verifyRecoveryCode, type RecoveryCodeCandidate } from './recovery-codes.ts';

/** The stored state of a user's recovery codes: the unused ones (used codes never match again). */
export interface RecoveryCodesStored {
  readonly unused: readonly RecoveryCodeCandidate[];
}

/** The shapes of the recovery-codes factor (see `FactorShapes`). */
export interface RecoveryCodesShapes {
  readonly stored: RecoveryCodesStored;
  readonly enrollOptions: { readonly count: number };
  /** The codes in clear text: shown once, never stored. */
  readonly display: { readonly codes: readonly string[] };
  readonly challenge: null;
  /** Persist with `UPDATE … SET used_at = ? WHERE id = :codeId AND used_at IS NULL`; one affected row accepts. */
  readonly commit: { readonly codeId: string };
  readonly enrollCommit: null;
}

/**
 * Recovery codes behind the factor interface. Enrollment makes a new batch (the caller replaces the old one in the
 * same transaction, so the old batch stops working); there is nothing to prove at completion; verification finds
 * which unused code was given and returns its id to consume atomically. No unused code left → `exhausted`, which
 * the caller reports as `MFA_RECOVERY_CODES_EXHAUSTED`.
 *
 * @example
 * const { pending, display } = await recoveryCodesFactor.beginEnrollment(ctx, { count: 10 });
 * await recoveryCodes.replaceBatch(userId, ctx.factorId, pending.unused);
 * return display.codes; // once
 */
export const recoveryCodesFactor: FactorModule<RecoveryCodesShapes> = {
  type: 'recovery_codes',

  async beginEnrollment(_ctx, options) {
    const codes = generateRecoveryCodes(options.count);
    const hashes = await Promise.all(codes.map((code) => hashRecoveryCode(code)));
    return {
      pending: { unused: hashes.map((hash) => ({ id: randomUUID(), hash })) },
      display: { codes },
    };
  },

  async completeEnrollment(pending) {
    // Nothing to prove: the codes were generated here and shown once. The batch is active as soon as it is stored.
    return { ok: true, newState: pending, commit: null };
  },

  async beginChallenge() {
    return null;
  },

  async verify(stored, proof) {
    if (normaliseRecoveryCode(proof) === null) return { ok: false, reason: 'malformed' };
    if (stored.unused.length === 0) return { ok: false, reason: 'exhausted' };
    const id = await verifyRecoveryCode(proof, stored.unused);
    if (id === null) return { ok: false, reason: 'invalid' };
    return { ok: true, newState: { unused: stored.unused.filter((c) => c.id !== id) }, commit: { codeId: id } };
  },
};
