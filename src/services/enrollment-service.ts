import { removalEvent } from './factor-registry.ts';
import { randomUUID } from 'node:crypto';
import { acceptableSetOf, PortcullisError, type CompletedStep, type FactorType } from '../core/index.ts';
import { flowState, type FactorRecord, type MfaSessionRecord, type Store, type TenantStore, type UserRecord } from '../store/index.ts';
import { loadPolicy } from './decision-service.ts';
import type { ServiceDeps } from './deps.ts';
import { recoveryCodesFactor } from '../factors/recovery-codes-factor.ts';
import { totpFactor } from '../factors/totp-factor.ts';
import { assertNotLocked } from './factor-verify.ts';
import { enrollableOptions, MFA_SESSION_TTL_MS, type FlowResult } from './flow-result.ts';
import { actorOf, concludeAfterEnrollment, loadTenantUser, openSession, type Caller, type UserRef } from './flow-service.ts';
import { downgradeSessionsUsing, freshnessFor, MANAGE_MFA_ACTION, openLoginSession } from './login-sessions.ts';
import type { RequestContext } from './risk.ts';
import { issueToken } from '../factors/tokens.ts';
import { pausePoint } from '../testing/pause-point.ts';

/** A pending factor that is not confirmed in this time is swept; it never counts meanwhile (SECURITY rule 5). */
export const PENDING_FACTOR_TTL_MS = 10 * 60_000;

/** At most this many authenticator apps per user (a voluntary enrollment may add backups up to it). */
export const MAX_TOTP_FACTORS = 5;

/** A factor the user can still present: anything active, recovery codes while some remain. */
async function holdsAnyFactor(tenant: TenantStore, userId: string, factors: readonly FactorRecord[]): Promise<boolean> {
  for (const f of factors) {
    if (f.status !== 'active') continue;
    if (f.type !== 'recovery_codes' || (await tenant.recoveryCodes.countRemaining(userId)) > 0) return true;
  }
  return false;
}

/**
 * The calling application's login session, fresh enough for a privileged act of its user (SECURITY rule 5): it
 * completed MFA, or earned a `manage-mfa` step-up, within the policy's step-up max age for that action. Otherwise
 * `STEP_UP_REQUIRED` (naming the action to step up for). With `unlessNoFactor`, a user who holds no factor at all
 * (recovery codes included) may act on any live session: there is nothing to present.
 */
async function privilegedSession(
  deps: ServiceDeps,
  caller: Caller,
  sessionToken: string | undefined,
  options: { unlessNoFactor?: boolean } = {},
): Promise<{ tenant: TenantStore; user: UserRecord; now: number; sessionId: string }> {
  const { tenant, session, user } = await openLoginSession(deps, caller, sessionToken);
  const now = deps.now();
  assertNotLocked(user, now);
  const policy = await loadPolicy(tenant, caller.application, user.id, now);
  const maxAge = policy.values.stepUp.actions[MANAGE_MFA_ACTION] ?? policy.values.stepUp.defaultMaxAgeSeconds;
  const at = freshnessFor(session, MANAGE_MFA_ACTION);
  const fresh = at !== null && now >= at && now - at < maxAge * 1000;
  if (!fresh && !(options.unlessNoFactor === true && !(await holdsAnyFactor(tenant, user.id, await tenant.factors.listForUser(user.id, 'active'))))) {
    throw new PortcullisError('STEP_UP_REQUIRED', `This change needs a recent MFA in this session; step up for "${MANAGE_MFA_ACTION}" first.`, { extra: { action: MANAGE_MFA_ACTION } });
  }
  return { tenant, user, now, sessionId: session.id };
}

/**
 * Opens a voluntary enrollment session for a signed-in user. Adding a factor is a privileged act (SECURITY rule 5):
 * a user who holds any factor — held recovery codes included — must have completed MFA in this application's
 * session within the max age; a user with none may enroll their first one.
 */
export async function startEnrollment(deps: ServiceDeps, caller: Caller, input: { sessionToken: string | undefined; context: RequestContext }): Promise<{ mfaSessionId: string; enrollOptions: readonly FactorType[]; expiresIn: number }> {
  const { tenant, user, now, sessionId } = await privilegedSession(deps, caller, input.sessionToken, { unlessNoFactor: true });
  const policy = await loadPolicy(tenant, caller.application, user.id, now);
  const set = acceptableSetOf(policy.values);
  const enrollOptions = enrollableOptions(policy.values.allowedFactors, deps.deliverableFactors).filter((t) => (set.routine.has(t) || policy.values.enrollment === 'optional'));
  const { token, id } = issueToken('mfa', tenant.tenantId);
  await tenant.mfaSessions.create({
    id,
    userId: user.id,
    applicationId: caller.application.id,
    purpose: 'enrollment',
    methods: [],
    state: flowState({ outcome: 'enroll', enrollOptions, context: { ip: input.context.ip ?? null, userAgent: input.context.userAgent ?? null, deviceId: input.context.deviceId ?? null, ipUnparsable: null } }),
    completed: [],
    loginSessionId: sessionId,
    expiresAt: now + MFA_SESSION_TTL_MS,
    now,
  });
  return { mfaSessionId: token, enrollOptions, expiresIn: MFA_SESSION_TTL_MS / 1000 };
}

/** A recovery code answered this session's challenge as break-glass. */
function usedBreakGlass(session: { completed: readonly { method: string }[] }): boolean {
  return session.completed.some((s) => s.method === 'recovery_codes');
}

/** The session may enroll now: a voluntary enrollment, or a sign-in at the enrollment wall whose challenge is done. */
export function assertMayEnroll(session: Pick<MfaSessionRecord, 'purpose' | 'methods' | 'state'>, type: FactorType): void {
  // At the wall, enrollment opens once nothing is left to present: no factor to challenge, and no held recovery code
  // still to be presented as break-glass (a user who holds only recovery codes presents one first).
  const atWall = session.purpose === 'signin' && session.state.outcome === 'enroll' && session.methods.length === 0 && !session.state.recovery;
  if (session.purpose !== 'enrollment' && !atWall) {
    throw new PortcullisError('ENROLLMENT_NOT_ALLOWED', 'Enrollment is not open in this MFA session; answer the challenge first.');
  }
  const options = session.state.enrollOptions;
  if (!options.includes(type)) throw new PortcullisError('MFA_FACTOR_NOT_ALLOWED', `The policy does not allow enrolling ${type} here.`, { extra: { enrollOptions: options } });
}

export interface TotpEnrollmentStart {
  readonly factorId: string;
  /** Base32 secret for manual entry; shown only now. */
  readonly secret: string;
  readonly otpauthUri: string;
  readonly qrSvg: string;
  readonly expiresIn: number;
}

/**
 * Begins TOTP enrollment: a pending factor with an encrypted secret, its `otpauth://` URI and a QR code. One pending
 * factor per MFA session: beginning again replaces which one this session may confirm.
 */
export async function beginTotpEnrollment(deps: ServiceDeps, caller: Caller, input: { mfaSessionId: string; label?: string }): Promise<TotpEnrollmentStart> {
  const { tenant, session, user } = await openSession(deps, caller, input.mfaSessionId);
  assertMayEnroll(session, 'totp');
  const active = await tenant.factors.listForUser(user.id, 'active');
  // After break-glass (a recovery code answered the challenge: the authenticator is presumably lost) the new app
  // replaces the old one on confirmation. Inside a sign-in, one authenticator app per user; a voluntary enrollment
  // (a privileged act on a fresh session, e.g. the account portal) may add another app — a backup device — up to
  // MAX_TOTP_FACTORS.
  const totps = active.filter((f) => f.type === 'totp').length;
  if (totps > 0 && !usedBreakGlass(session) && (session.purpose !== 'enrollment' || totps >= MAX_TOTP_FACTORS)) {
    throw new PortcullisError('FACTOR_ALREADY_ACTIVE', session.purpose === 'enrollment' ? `The user already has ${MAX_TOTP_FACTORS} authenticator apps; remove one first.` : 'The user already has an authenticator app; remove it first.');
  }
  const now = deps.now();
  const policy = await loadPolicy(tenant, caller.application, user.id, now);
  const factorId = randomUUID();
  // The key-uri label may not hold a colon; an application name with one is shown without it.
  const issuer = policy.values.totpIssuer ?? (caller.application.name.replaceAll(':', ' ').trim() || 'Portcullis');
  const ctx = { now, tenantId: tenant.tenantId, userId: user.id, factorId, secrets: deps.secrets };
  const { pending, display } = await totpFactor.beginEnrollment(ctx, { issuer, account: user.email });
  const created = await deps.store.transaction(async (tx) => {
    const t = tx.forTenant(tenant.tenantId);
    if (!(await t.mfaSessions.update(session.id, { state: { ...session.state, pendingFactorId: factorId } }, now, session.completed))) return false;
    await t.factors.create({ id: factorId, userId: user.id, type: 'totp', status: 'pending', label: input.label ?? 'Authenticator app', secretEnc: pending.secretEnc, expiresAt: now + PENDING_FACTOR_TTL_MS, now });
    return true;
  });
  if (!created) throw new PortcullisError('MFA_SESSION_USED', 'The MFA session was already completed; start again.');
  return { factorId, secret: display.secret, otpauthUri: display.otpauthUri, qrSvg: display.qrSvg, expiresIn: PENDING_FACTOR_TTL_MS / 1000 };
}

/** Generates, stores (hashed) and returns a fresh batch: the old batch stops working in the same transaction. */
export async function issueRecoveryCodes(deps: ServiceDeps, tx: Store, tenantId: string, user: UserRecord, count: number, now: number): Promise<string[]> {
  const t = tx.forTenant(tenantId);
  const existing = (await t.factors.listForUser(user.id)).find((f) => f.type === 'recovery_codes');
  const factor = existing ?? (await t.factors.create({ userId: user.id, type: 'recovery_codes', status: 'active', label: 'Recovery codes', now }));
  const { pending, display } = await recoveryCodesFactor.beginEnrollment({ now, tenantId, userId: user.id, factorId: factor.id, secrets: deps.secrets }, { count });
  await t.recoveryCodes.replaceBatch(user.id, factor.id, pending.unused.map((c) => c.hash));
  return [...display.codes];
}

export type TotpConfirmResult = EnrollmentConfirmResult;

/** What confirming any factor answers: the flow's envelope (or `enrolled` for a voluntary enrollment), the factor. */
export type EnrollmentConfirmResult = (FlowResult | { readonly status: 'enrolled'; readonly userId: string }) & {
  readonly factorId: string;
  /** Shown once, at first enrollment when the policy enables them. */
  readonly recoveryCodes: readonly string[] | null;
};

/** The session lost a race for itself (another confirmation completed it): the transaction rolls back. */
class SessionTaken extends Error {}

/** The factor's single-use write lost (a replayed code or challenge): the transaction rolls back, the claim too. */
class ActivationLost extends Error {}

/** How one factor type's proven enrollment is written, inside the transaction {@link finishEnrollment} opens. */
export interface EnrollmentActivation {
  readonly type: FactorType;
  /** The factor that becomes active (a pending row's id, or the id the new row will get). */
  readonly factorId: string;
  /**
   * Makes the factor's single-use write and activates it (or creates it active); false when the single-use write
   * lost (a replayed code or challenge): the transaction rolls back and the caller refuses.
   */
  activate(t: TenantStore, now: number): Promise<boolean>;
  /** The completed step the decision sees (the factor id is added). */
  readonly step: Omit<CompletedStep, 'factorId'>;
  /** Audit details of `mfa.factor_enrolled` beside the type (e.g. a passkey's AAGUID and kind). */
  readonly auditData?: Record<string, string | number | boolean | null>;
  /** After break-glass, the user's other factors of this type are replaced (a lost authenticator app). */
  readonly replacesAfterBreakGlass: boolean;
}

/**
 * The one end of every enrollment (the factor registry's confirm step): claims the MFA session, makes the factor's
 * single-use write and activation, replaces what break-glass says is lost, ends the failure runs, revokes trusted
 * devices, audits and issues recovery codes at the first enrollment — one transaction, so that of concurrent
 * confirmations in one session exactly one commits and no recovery code is issued in a refused answer. Then the
 * decision runs again with the new factor completed: the sign-in continues only if the policy is now met.
 */
export async function finishEnrollment(
  deps: ServiceDeps,
  caller: Caller,
  opened: { tenant: TenantStore; session: MfaSessionRecord; user: UserRecord },
  activation: EnrollmentActivation,
  options: { rememberDevice?: boolean; refuse: () => Promise<never> },
): Promise<EnrollmentConfirmResult> {
  const { tenant, session, user } = opened;
  const now = deps.now();
  const base = { at: now, actor: actorOf(caller), userId: user.id, applicationId: caller.application.id };
  const policy = await loadPolicy(tenant, caller.application, user.id, now);
  const { factorId } = activation;
  const completed: CompletedStep[] = [...session.completed, { ...activation.step, factorId }];
  let codes: string[];
  try {
    codes = await deps.store.transaction(async (tx) => {
      const t = tx.forTenant(tenant.tenantId);
      // Claim the session first: a voluntary enrollment ends here; at the wall the session moves on to its decision.
      const claimed = session.purpose === 'enrollment' ? await t.mfaSessions.complete(session.id, now, 'open') : await t.mfaSessions.update(session.id, { completed }, now, session.completed);
      if (!claimed) throw new SessionTaken();
      // Rolled back with the claim: a lost activation must not leave its step in the session's completed steps.
      if (!(await activation.activate(t, now))) throw new ActivationLost();
      pausePoint('totp-confirm:factor-activated'); // crash tests only (src/testing/pause-point.ts); inert otherwise
      if (activation.replacesAfterBreakGlass && usedBreakGlass(session)) {
        for (const old of await t.factors.listForUser(user.id, 'active')) {
          if (old.type !== activation.type || old.id === factorId) continue;
          await t.factors.delete(old.id);
          await downgradeSessionsUsing(t, user.id, [old.id], now);
          await t.audit.append({ ...base, subject: old.id, event: 'mfa.factor_removed', data: { type: old.type, reason: 'replaced_after_recovery_code' } });
        }
      }
      // A success ends both consecutive-failure runs: wrong first codes do not follow the factor into use.
      await t.factors.resetFailures(factorId);
      await t.users.resetSigninFailures(user.id);
      await t.trustedDevices.revokeAll(user.id);
      await t.audit.append({ ...base, subject: factorId, event: 'mfa.factor_enrolled', data: { type: activation.type, ...activation.auditData } });
      const hasCodes = (await t.recoveryCodes.countRemaining(user.id)) > 0;
      if (!policy.values.recoveryCodes.enabled || hasCodes) return [];
      const issued = await issueRecoveryCodes(deps, tx, tenant.tenantId, user, policy.values.recoveryCodes.count, now);
      await t.audit.append({ ...base, event: 'mfa.backup_codes_regenerated', data: { count: issued.length, reason: 'first_enrollment' } });
      return issued;
    });
  } catch (error) {
    if (error instanceof SessionTaken) throw new PortcullisError('MFA_SESSION_USED', 'The MFA session was already completed; start again.');
    if (error instanceof ActivationLost) return options.refuse();
    throw error;
  }
  const shown = codes.length === 0 ? null : codes;
  if (session.purpose === 'enrollment') {
    // Enrolling proves the new factor, not the user: it does not count as an MFA for step-up's max age.
    return { status: 'enrolled', userId: user.id, factorId, recoveryCodes: shown };
  }
  const flow = await concludeAfterEnrollment(deps, caller, tenant, user, { ...session, completed }, completed, { rememberDevice: options.rememberDevice === true });
  return { ...flow, factorId, recoveryCodes: shown };
}

/**
 * Confirms TOTP with a first valid code: the step write and activation go through {@link finishEnrollment}.
 */
export async function confirmTotpEnrollment(deps: ServiceDeps, caller: Caller, input: { mfaSessionId: string; factorId: string; code: unknown; rememberDevice?: boolean }): Promise<TotpConfirmResult> {
  const opened = await openSession(deps, caller, input.mfaSessionId);
  const { tenant, session, user } = opened;
  assertMayEnroll(session, 'totp');
  const factor = session.state.pendingFactorId === input.factorId ? await tenant.factors.get(input.factorId) : null;
  const now = deps.now();
  // This session's own factor already active: a twin confirmation won the session (409, not "not found").
  if (factor !== null && factor.userId === user.id && factor.status === 'active') throw new PortcullisError('MFA_SESSION_USED', 'The MFA session was already completed; start again.');
  if (factor === null || factor.userId !== user.id || factor.type !== 'totp' || factor.status !== 'pending' || factor.secretEnc === null) {
    throw new PortcullisError('FACTOR_NOT_FOUND', 'No such pending factor in this MFA session.');
  }
  if (factor.lockedUntil !== null && factor.lockedUntil > now) throw new PortcullisError('MFA_LOCKED', 'Too many failed attempts; begin enrollment again later.');
  const ctx = { now, tenantId: tenant.tenantId, userId: user.id, factorId: factor.id, secrets: deps.secrets };
  const result = await totpFactor.completeEnrollment({ secretEnc: factor.secretEnc, lastStep: factor.lastStep }, input.code, ctx);
  const refuse = async (): Promise<never> => {
    await Promise.all([tenant.factors.recordFailure(factor.id, now), tenant.users.recordSigninFailure(user.id, now)]);
    await tenant.audit.append({ at: now, actor: actorOf(caller), userId: user.id, applicationId: caller.application.id, subject: factor.id, event: 'user.mfa_failed', data: { method: 'totp', reason: 'enrollment_code_invalid' } });
    throw new PortcullisError('MFA_CODE_INVALID', 'The code is not valid.');
  };
  if (!result.ok) return refuse();
  const flow = await finishEnrollment(
    deps,
    caller,
    opened,
    {
      type: 'totp',
      factorId: factor.id,
      step: { method: 'totp' },
      replacesAfterBreakGlass: true,
      activate: async (t, at) => {
        if (!(await t.factors.advanceTotpStep(factor.id, result.commit.step))) return false;
        if (!(await t.factors.activate(factor.id, at))) throw new PortcullisError('FACTOR_NOT_FOUND', 'The pending factor expired; begin enrollment again.');
        return true;
      },
    },
    { rememberDevice: input.rememberDevice === true, refuse },
  );
  return withSessionId(flow, input.mfaSessionId);
}

/** An answer that leaves the flow open carries the MFA session token the caller presented. */
export function withSessionId(flow: EnrollmentConfirmResult, mfaSessionId: string): EnrollmentConfirmResult {
  return flow.status === 'authenticated' || flow.status === 'enrolled' ? flow : ({ ...flow, mfaSessionId } as EnrollmentConfirmResult);
}

/** Regenerates recovery codes (after a recent MFA in this session); the old batch stops working at once. */
export async function regenerateRecoveryCodes(deps: ServiceDeps, caller: Caller, input: { sessionToken: string | undefined }): Promise<{ recoveryCodes: readonly string[] }> {
  const { tenant, user, now } = await privilegedSession(deps, caller, input.sessionToken);
  const policy = await loadPolicy(tenant, caller.application, user.id, now);
  if (!policy.values.recoveryCodes.enabled) throw new PortcullisError('MFA_FACTOR_NOT_ALLOWED', 'Recovery codes are turned off by the policy.');
  const codes = await deps.store.transaction(async (tx) => {
    const issued = await issueRecoveryCodes(deps, tx, tenant.tenantId, user, policy.values.recoveryCodes.count, now);
    // A factor change (a new batch of codes) revokes trusted devices (SECURITY rule 6).
    const trustedDevicesRevoked = await tx.forTenant(tenant.tenantId).trustedDevices.revokeAll(user.id);
    await tx.forTenant(tenant.tenantId).audit.append({ at: now, actor: actorOf(caller), userId: user.id, applicationId: caller.application.id, event: 'mfa.backup_codes_regenerated', data: { count: issued.length, reason: 'user_request', trustedDevicesRevoked } });
    return issued;
  });
  return { recoveryCodes: codes };
}

/**
 * Removes one of the user's factors (after a recent MFA in this session). Refused with `MFA_DISABLE_BLOCKED` — and
 * audited as `mfa.disable_blocked` — when enrollment is required and the removal takes an acceptable factor type
 * away from a user left with fewer than `minFactors` (DESIGN §2, §5). Only what the policy accepts routinely counts:
 * recovery codes never do (they may always go), nor does a factor the policy no longer accepts (an email code under
 * `enhanced`), which is why removing such a factor is never refused. The check is made inside the deleting
 * transaction (Supabase #2615); trusted devices are revoked and every live session that relied on the factor is
 * downgraded with it.
 */
export async function removeOwnFactor(deps: ServiceDeps, caller: Caller, input: { sessionToken: string | undefined; factorId: string }): Promise<{ removed: true; sessionsDowngraded: number }> {
  const { tenant, user, now } = await privilegedSession(deps, caller, input.sessionToken);
  const policy = await loadPolicy(tenant, caller.application, user.id, now);
  const base = { at: now, actor: actorOf(caller), userId: user.id, applicationId: caller.application.id };
  const outcome = await deps.store.transaction(async (tx) => {
    const t = tx.forTenant(tenant.tenantId);
    const factors = await t.factors.listForUser(user.id);
    const target = factors.find((f) => f.id === input.factorId);
    if (target === undefined) throw new PortcullisError('FACTOR_NOT_FOUND', 'No such factor.');
    const set = acceptableSetOf(policy.values);
    const acceptableTypes = (fs: readonly FactorRecord[]): number => new Set(fs.filter((f) => f.status === 'active' && f.type !== 'recovery_codes' && set.routine.has(f.type)).map((f) => f.type)).size;
    const held = acceptableTypes(factors);
    const left = acceptableTypes(factors.filter((f) => f.id !== target.id));
    if (policy.values.enrollment === 'required' && left < held && left < policy.values.minFactors) return { blocked: left };
    await t.factors.delete(target.id);
    if (target.type === 'recovery_codes') await t.recoveryCodes.deleteForUser(user.id);
    await t.trustedDevices.revokeAll(user.id);
    const downgraded = await downgradeSessionsUsing(t, user.id, [target.id], now);
    // One passkey revoked alone (WeftID): the user's other passkeys and factors stay.
    await t.audit.append({ ...base, subject: target.id, event: removalEvent(target.type), data: { type: target.type, sessionsDowngraded: downgraded } });
    return downgraded;
  });
  if (typeof outcome !== 'number') {
    const { minFactors } = policy.values;
    const reason = outcome.blocked === 0 ? 'last_acceptable_factor' : 'min_factors';
    await tenant.audit.append({ ...base, subject: input.factorId, event: 'mfa.disable_blocked', data: { reason, minFactors, acceptableLeft: outcome.blocked } });
    throw new PortcullisError(
      'MFA_DISABLE_BLOCKED',
      outcome.blocked === 0
        ? 'The policy requires MFA: this is the last acceptable factor; enroll another one first.'
        : `The policy requires ${minFactors} acceptable factors of different types; enroll another one before removing this one.`,
      { extra: { reason, minFactors } },
    );
  }
  return { removed: true, sessionsDowngraded: outcome };
}

/** The user's factors and recovery code count (ZewstID's `GET /auth/mfa/status`); no secrets. */
export async function mfaStatus(deps: ServiceDeps, caller: Caller, input: { tenant: string; user: UserRef }): Promise<{ userId: string; mfaEnabled: boolean; factors: { id: string; type: FactorType; label: string; createdAt: string; lastUsedAt: string | null }[]; recoveryCodesRemaining: number }> {
  const { tenant, user } = await loadTenantUser(deps, caller, input.tenant, input.user);
  const factors = await tenant.factors.listForUser(user.id, 'active');
  return {
    userId: user.id,
    mfaEnabled: factors.some((f) => f.type !== 'recovery_codes'),
    factors: factors.map((f) => ({ id: f.id, type: f.type, label: f.label, createdAt: new Date(f.createdAt).toISOString(), lastUsedAt: f.lastUsedAt === null ? null : new Date(f.lastUsedAt).toISOString() })),
    recoveryCodesRemaining: await tenant.recoveryCodes.countRemaining(user.id),
  };
}
