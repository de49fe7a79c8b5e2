/**
 * What `POST /auth/mfa/verify` answers around the proof itself: the refusal of a method the MFA session does not
 * offer (told apart where the user's recovery codes are used up, or where downgrade protection held the method
 * back, and audited then), and the recovery-code notice of an answer that spent one (how many remain, and a warning
 * when two or fewer do). Kept beside the flow rather than in it, so that the verifiers stay one dispatch by type.
 */
import { factorClassOf, isFactorType, PortcullisError, RECOVERY_CODES_LOW } from '../core/index.ts';
import type { MfaSessionRecord, TenantStore, UserRecord } from '../store/index.ts';
import type { CheckedProof } from './factor-verify.ts';
import type { FlowResult } from './flow-result.ts';

/** Who answers, for the audit of a refusal. */
export interface RefusalMeta {
  readonly actor: string;
  readonly applicationId: string;
  readonly now: number;
}

/** The stable warning of an answer that left the user two or fewer recovery codes. */
export const RECOVERY_CODES_LOW_WARNING = 'recovery_codes_low';

function heldBackByDowngradeProtection(session: MfaSessionRecord): boolean {
  return session.state.reasons.some((r) => r.code === 'downgrade_protection');
}

/**
 * Refuses a method the MFA session does not offer, always with a stable code:
 *
 * - recovery codes that are all used: `MFA_RECOVERY_CODES_EXHAUSTED` (403, as documented in docs/api.md), audited as
 *   `user.mfa_failed` with reason `recovery_codes_exhausted` — not a generic "not offered";
 * - a weaker factor than the phishing-resistant one downgrade protection requires of this user (a phishing kit
 *   pushing a passkey holder to a code): `MFA_METHOD_NOT_ALLOWED` with `reason: downgrade_protection`, audited as
 *   `user.mfa_failed` with that reason (DESIGN §2 `downgradeProtection`);
 * - anything else: `MFA_METHOD_NOT_ALLOWED` with the methods on offer.
 */
export async function refuseUnofferedMethod(tenant: TenantStore, user: UserRecord, session: MfaSessionRecord, method: string, meta: RefusalMeta): Promise<never> {
  const offered = session.methods;
  const failed = (subject: string, data: Record<string, string>): Promise<unknown> =>
    tenant.audit.append({ at: meta.now, actor: meta.actor, userId: user.id, applicationId: meta.applicationId, subject, event: 'user.mfa_failed', data: { method, ...data } });
  if (method === 'recovery_codes') {
    const { factors, recoveryRemaining } = await tenant.factors.listActiveWithRecoveryCount(user.id);
    const batch = factors.find((f) => f.type === 'recovery_codes');
    if (batch !== undefined && recoveryRemaining === 0) {
      await failed(batch.id, { reason: 'recovery_codes_exhausted' });
      throw new PortcullisError('MFA_RECOVERY_CODES_EXHAUSTED', 'All recovery codes have been used; regenerate a batch or ask an administrator to reset MFA.');
    }
  } else if (isFactorType(method) && factorClassOf(method) !== 'phishing_resistant' && heldBackByDowngradeProtection(session)) {
    await failed(session.id, { reason: 'downgrade_protection' });
    throw new PortcullisError('MFA_METHOD_NOT_ALLOWED', 'This account holds a passkey or security key: only a phishing-resistant factor is accepted.', {
      extra: { methods: offered, reason: 'downgrade_protection' },
    });
  }
  throw new PortcullisError('MFA_METHOD_NOT_ALLOWED', `The method "${method.slice(0, 40)}" is not offered in this MFA session.`, { extra: { methods: offered } });
}

/** A proof whose spending is watched: `remaining()` is the recovery codes left once a code was spent, else undefined. */
export interface WatchedProof {
  readonly proof: CheckedProof;
  remaining(): number | undefined;
}

/** Wraps a checked proof to learn, from its single-use write, how many recovery codes are left after it. */
export function watchRecoveryCodes(proof: CheckedProof): WatchedProof {
  let left: number | undefined;
  const watched: CheckedProof = {
    factor: proof.factor,
    activeFactors: proof.activeFactors,
    method: proof.method,
    step: proof.step,
    consume: async (t, options) => {
      const spent = await proof.consume(t, options);
      if (spent !== null && proof.method === 'recovery_codes') left = spent.remaining ?? 0;
      return spent;
    },
    refuse: () => proof.refuse(),
  };
  return { proof: watched, remaining: () => left };
}

/**
 * Adds to an answer that spent a recovery code how many remain (`recoveryCodesRemaining`) and, when two or fewer do,
 * the `recovery_codes_low` warning, so the application can prompt the user to regenerate them.
 */
export function withRecoveryNotice(result: FlowResult, remaining: number | undefined): FlowResult {
  if (remaining === undefined) return result;
  return { ...result, recoveryCodesRemaining: remaining, ...(remaining <= RECOVERY_CODES_LOW ? { warnings: [RECOVERY_CODES_LOW_WARNING] } : {}) };
}
