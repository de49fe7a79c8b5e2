/**
 * The factor registry: one entry per factor type the server verifies, dispatched by type — instead of
 * `totp` / `recovery_codes` branches in every flow. An entry says how to pick the factor an attempt is counted on,
 * what must hold before any guess is evaluated (nothing counted for it), how to check a proof (storage-free
 * verifiers of src/factors, returning the single-use write to make), and what removing one is audited as.
 *
 * Enrollment has one route family (`/auth/mfa/enroll/{type}`, src/http/routes/auth) ending in one step
 * (`finishEnrollment`, src/services/enrollment-service.ts); a factor issue (email, SMS) adds its entry here and its
 * begin/confirm pair there.
 */
import { PortcullisError, type CompletedStep, type FactorType } from '../core/index.ts';
import { recoveryCodesFactor } from '../factors/recovery-codes-factor.ts';
import { totpFactor } from '../factors/totp-factor.ts';
import { challengeId, challengeOf, credentialOf, parseAuthenticationResponse, verifyAssertion } from '../factors/webauthn-factor.ts';
import type { AuditEventName } from '../core/index.ts';
import type { FactorRecord, RecoveryCodeRecord, TenantStore, UserRecord } from '../store/index.ts';
import type { ServiceDeps } from './deps.ts';
import { catalogOf, type Caller } from './tenant-access.ts';
import { DEFAULT_WEBAUTHN_CONFIG, relyingPartyFor } from './webauthn-settings.ts';

/** What a verifier is given: the attempt's factor (counted), all the user's active factors of the type, the proof. */
export interface ProofInput {
  readonly deps: ServiceDeps;
  readonly tenant: TenantStore;
  readonly user: UserRecord;
  /** The factor the attempt was counted on. */
  readonly factor: FactorRecord;
  /** The user's active factors of this type, oldest first. */
  readonly factors: readonly FactorRecord[];
  readonly proof: unknown;
  readonly now: number;
  /** The MFA session answered (null: a passkey-first sign-in). */
  readonly sessionId: string | null;
  readonly caller: Caller;
  /** What {@link FactorVerifier.prepare} found. */
  readonly prepared: Prepared;
}

/** What a type checks before the attempt is counted (e.g. the unused recovery codes). */
export interface Prepared {
  readonly unusedCodes?: readonly RecoveryCodeRecord[];
}

/** A proof that checked out: the single-use write to make in the outcome's transaction, and the completed step. */
export interface ProofAccepted {
  readonly ok: true;
  /** The factor that answered (among several TOTP apps, the one whose code it was). */
  readonly answered: FactorRecord;
  readonly step: CompletedStep;
  /** The single-use write; null when it lost (a replay, a concurrent success). */
  spend(t: TenantStore): Promise<{ readonly remaining?: number } | null>;
  /** Whether `spend` also ends the counted factor's failures and records its use (one statement). */
  readonly spendResets: boolean;
}

export type ProofOutcome = ProofAccepted | { readonly ok: false; readonly reason: string };

/** One factor type's part in verification. */
export interface FactorVerifier {
  /** The factor an attempt is counted on (default: the oldest of the type). */
  pick?(factors: readonly FactorRecord[], proof: unknown): FactorRecord | undefined;
  /**
   * Checks made before any guess is evaluated; may refuse with a stable error (audited by the caller with `reason`).
   */
  prepare?(tenant: TenantStore, user: UserRecord): Promise<{ prepared: Prepared } | { refused: { reason: string; error: PortcullisError } }>;
  /** Checks the proof. Throws only when the verifier cannot run (→ 503, reservations given back). */
  check(input: ProofInput): Promise<ProofOutcome>;
  /** Audit records of a success beside `user.mfa_succeeded` (e.g. `mfa.recovery_code_used`). */
  successAudits?(spent: { readonly remaining?: number }): readonly { event: AuditEventName; data: Record<string, number> }[];
}

const totp: FactorVerifier = {
  async check({ deps, tenant, user, factor, factors, proof, now }) {
    for (const f of factors) {
      if (f.secretEnc === null) continue;
      const ctx = { now, tenantId: tenant.tenantId, userId: user.id, factorId: f.id, secrets: deps.secrets };
      const result = await totpFactor.verify({ secretEnc: f.secretEnc, lastStep: f.lastStep }, proof, ctx);
      if (!result.ok) continue;
      // The usual case — the code answered the factor the attempt was counted on — is one statement.
      const spendResets = f.id === factor.id;
      return {
        ok: true,
        answered: f,
        step: { method: 'totp', factorId: f.id },
        spendResets,
        spend: async (t) => ((await t.factors.advanceTotpStep(f.id, result.commit.step, spendResets ? { at: now } : undefined)) ? {} : null),
      };
    }
    return { ok: false, reason: 'invalid_code' };
  },
};

const recoveryCodes: FactorVerifier = {
  async prepare(tenant, user) {
    const unusedCodes = await tenant.recoveryCodes.listUnused(user.id);
    if (unusedCodes.length > 0) return { prepared: { unusedCodes } };
    return {
      refused: {
        reason: 'recovery_codes_exhausted',
        error: new PortcullisError('MFA_RECOVERY_CODES_EXHAUSTED', 'All recovery codes have been used; regenerate a batch or ask an administrator to reset MFA.'),
      },
    };
  },
  async check({ deps, tenant, user, factor, proof, now, prepared }) {
    const ctx = { now, tenantId: tenant.tenantId, userId: user.id, factorId: factor.id, secrets: deps.secrets };
    const result = await recoveryCodesFactor.verify({ unused: (prepared.unusedCodes ?? []).map((c) => ({ id: c.id, hash: c.codeHash })) }, proof, ctx);
    if (!result.ok) return { ok: false, reason: 'invalid_code' };
    return {
      ok: true,
      answered: factor,
      step: { method: 'recovery_codes', factorId: factor.id },
      spendResets: false,
      spend: async (t) => ((await t.recoveryCodes.consume(user.id, result.commit.codeId, now)) ? { remaining: await t.recoveryCodes.countRemaining(user.id) } : null),
    };
  },
  successAudits: (spent) => [{ event: 'mfa.recovery_code_used', data: { remaining: spent.remaining ?? 0 } }],
};

const webauthn: FactorVerifier = {
  // A WebAuthn answer names its credential: the attempt is counted on that factor when it is the user's.
  pick(factors, proof) {
    const assertion = parseAuthenticationResponse(proof);
    return factors.find((f) => assertion !== null && f.credentialId === assertion.id) ?? factors[0];
  },
  async check({ deps, tenant, user, factor, proof, now, sessionId, caller }) {
    // The challenge must be this application's, for this MFA session (or, passkey-first, for none), unused and
    // unexpired; it is spent with the counter in the transaction that records the outcome (SECURITY rule 2).
    const assertion = parseAuthenticationResponse(proof);
    if (assertion === null) return { ok: false, reason: 'malformed' };
    const challenge = challengeOf(assertion);
    const issued = challenge === null ? null : await tenant.webauthnChallenges.get(challengeId(challenge));
    const usable =
      issued !== null &&
      issued.kind === 'authentication' &&
      issued.mfaSessionId === sessionId &&
      issued.applicationId === caller.application.id &&
      issued.usedAt === null &&
      issued.expiresAt > now &&
      (issued.userId === null || issued.userId === user.id);
    const stored = credentialOf(factor);
    if (challenge === null || issued === null || !usable || stored === null) return { ok: false, reason: 'challenge_unknown_or_used' };
    const rp = await relyingPartyFor(deps.webauthn ?? DEFAULT_WEBAUTHN_CONFIG, await catalogOf(deps, caller), tenant.tenantId, caller.application.clientId);
    const result = await verifyAssertion(assertion, stored, { challenge, rp: { ...rp, id: issued.rpId }, userVerification: issued.userVerification });
    if (!result.ok) return { ok: false, reason: result.reason };
    return {
      ok: true,
      answered: factor,
      step: { method: 'webauthn', factorId: factor.id, userVerified: result.userVerified, synced: factor.data?.deviceType === 'multiDevice' },
      spendResets: true,
      spend: async (t) => ((await t.webauthnChallenges.consume(issued.id, now)) && (await t.factors.advanceSignCount(factor.id, result.counter, { at: now })) ? {} : null),
    };
  },
};

/** The verifiers by factor type: a type without one is not verifiable on this server. */
export const FACTOR_VERIFIERS: Readonly<Partial<Record<FactorType, FactorVerifier>>> = { totp, recovery_codes: recoveryCodes, webauthn };

/** The audit event of removing one factor: one passkey revoked alone is `mfa.passkey_revoked` (WeftID). */
export function removalEvent(type: FactorType): AuditEventName {
  return type === 'webauthn' ? 'mfa.passkey_revoked' : 'mfa.factor_removed';
}
