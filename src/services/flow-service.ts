import { PortcullisError, type CompletedStep, type FactorType, type Purpose } from '../core/index.ts';
import type { ApplicationRecord, JsonObject, MfaSessionRecord, TenantStore, UserRecord } from '../store/index.ts';
import { verifyPasswordOrDummy } from '../factors/password.ts';
import { decisionRecord, evaluate, findTenant, type Evaluation } from './decision-service.ts';
import type { ServiceDeps } from './deps.ts';
import { verifyFactorProof } from './factor-verify.ts';
import { amrOf, blockedError, enrollableOptions, MFA_SESSION_MAX_ATTEMPTS, MFA_SESSION_TTL_MS, viewDecision, type FlowResult } from './flow-result.ts';
import { deviceKeyOf, type RequestContext } from './risk.ts';
import { IP_FAILURE_LIMIT, releaseIpAttempt, reserveIpAttempt, reservePasswordAttempt } from './signin-throttle.ts';
import { issueSessionToken, parseSessionToken } from './session-token.ts';

export interface Caller {
  readonly application: ApplicationRecord;
}

/** A user identified by our id or the application's `externalId`. */
export type UserRef = { readonly userId: string } | { readonly externalId: string };

async function tenantStoreOf(deps: ServiceDeps, tenantRef: string): Promise<TenantStore> {
  const tenant = await findTenant(deps.store, tenantRef);
  // A wrong or missing tenant denies (helivanta #913): the same answer as an unknown user.
  if (tenant === null) throw new PortcullisError('NOT_FOUND', 'No such tenant or user.');
  return deps.store.forTenant(tenant.id);
}

async function findUser(tenant: TenantStore, ref: UserRef): Promise<UserRecord> {
  const user = 'userId' in ref ? await tenant.users.get(ref.userId) : await tenant.users.findByExternalId(ref.externalId);
  if (user === null) throw new PortcullisError('NOT_FOUND', 'No such tenant or user.');
  return user;
}

/** The tenant store and user a request names; a wrong tenant or user is "not found" either way. */
export async function loadTenantUser(deps: ServiceDeps, tenantRef: string, ref: UserRef): Promise<{ tenant: TenantStore; user: UserRecord }> {
  const tenant = await tenantStoreOf(deps, tenantRef);
  return { tenant, user: await findUser(tenant, ref) };
}

function actorOf(caller: Caller): string {
  return `application:${caller.application.id}`;
}

/**
 * Turns a decision into what the caller sees, opening an MFA session when a challenge or enrollment follows.
 * `allow` completes the sign-in: grace anchor, history, last MFA and device trust are recorded here and only here.
 * Each outcome's writes, the decision's audit events included (`evaluation.writeAudit`, for an evaluation made
 * with `deferAudit`), commit in one transaction; a session found no longer open still leaves the decision audited.
 */
async function conclude(
  deps: ServiceDeps,
  tenant: TenantStore,
  caller: Caller,
  user: UserRecord,
  evaluation: Evaluation,
  completed: readonly CompletedStep[],
  context: RequestContext,
  existing: MfaSessionRecord | null,
): Promise<FlowResult> {
  const { decision, policy, now } = evaluation;
  const view = viewDecision(decision, policy);
  const methods = completed.map((s) => s.method);
  if (decision.outcome === 'block') {
    await deps.store.transaction(async (tx) => {
      const t = tx.forTenant(tenant.tenantId);
      await evaluation.writeAudit(t);
      await t.signins.append({ userId: user.id, applicationId: caller.application.id, ip: context.ip ?? null, deviceId: evaluation.risk.deviceKey, userAgent: context.userAgent ?? null, outcome: 'blocked', at: now });
      if (existing !== null) await t.mfaSessions.setStatus(existing.id, 'cancelled', 'open');
    });
    throw blockedError();
  }
  if (decision.outcome === 'allow') {
    const mfaDone = methods.some((m) => m !== 'password' && m !== 'email_link' && m !== 'sms_link');
    const completedNow = await deps.store.transaction(async (tx) => {
      const t = tx.forTenant(tenant.tenantId);
      await evaluation.writeAudit(t);
      // Not open any more: commit the decision's audit alone, then refuse.
      if (existing !== null && !(await t.mfaSessions.complete(existing.id, now, 'open'))) return false;
      if (user.firstSignInAt === null) await t.users.setFirstSignIn(user.id, now); // the grace anchor, set once
      await t.users.resetSigninFailures(user.id);
      if (mfaDone) {
        await t.users.recordMfa(user.id, now);
        if (evaluation.risk.deviceKey !== null) await t.trustedDevices.upsert(user.id, evaluation.risk.deviceKey, now);
      }
      await t.signins.append({ userId: user.id, applicationId: caller.application.id, ip: context.ip ?? null, deviceId: evaluation.risk.deviceKey, userAgent: context.userAgent ?? null, outcome: 'succeeded', at: now });
      await t.audit.append({ at: now, actor: actorOf(caller), userId: user.id, applicationId: caller.application.id, event: 'user.signin_succeeded', data: { amr: amrOf(methods), mfa: mfaDone } });
      return true;
    });
    if (!completedNow) throw new PortcullisError('MFA_SESSION_EXPIRED', 'The MFA session is no longer open.');
    return { status: 'authenticated', userId: user.id, amr: amrOf(methods), decision: view };
  }

  // challenge or enroll: open (or carry on) an MFA session bound to this application, user and purpose.
  const state: JsonObject = { ...decisionRecord(decision, policy), enrollOptions: enrollableOptions(decision.enrollOptions), context: { ip: context.ip ?? null, userAgent: context.userAgent ?? null, deviceId: context.deviceId ?? null } };
  let token: string;
  if (existing === null) {
    const issued = issueSessionToken(tenant.tenantId);
    token = issued.token;
    await deps.store.transaction(async (tx) => {
      const t = tx.forTenant(tenant.tenantId);
      await evaluation.writeAudit(t);
      await t.mfaSessions.create({
        id: issued.id,
        userId: user.id,
        applicationId: caller.application.id,
        purpose: 'signin',
        methods: decision.methods,
        decision: state,
        completed,
        expiresAt: now + MFA_SESSION_TTL_MS,
        now,
      });
      if (user.firstSignInAt === null) await t.users.setFirstSignIn(user.id, now); // the grace anchor, set once
      await t.signins.append({ userId: user.id, applicationId: caller.application.id, ip: context.ip ?? null, deviceId: evaluation.risk.deviceKey, userAgent: context.userAgent ?? null, outcome: 'challenged', at: now });
    });
  } else {
    token = '';
    const updated = await deps.store.transaction(async (tx) => {
      const t = tx.forTenant(tenant.tenantId);
      await evaluation.writeAudit(t);
      return t.mfaSessions.update(existing.id, { methods: decision.methods, decision: state, completed }, now);
    });
    if (!updated) throw new PortcullisError('MFA_SESSION_EXPIRED', 'The MFA session is no longer open.');
  }
  const expiresIn = Math.max(0, Math.round(((existing?.expiresAt ?? now + MFA_SESSION_TTL_MS) - now) / 1000));
  if (decision.outcome === 'challenge') {
    return { status: 'mfa_required', userId: user.id, mfaSessionId: token, methods: decision.methods, recovery: decision.recovery, expiresIn, decision: view };
  }
  return { status: 'enrollment_required', userId: user.id, mfaSessionId: token, methods: decision.methods, enrollOptions: enrollableOptions(decision.enrollOptions), errorCode: decision.errorCode, expiresIn, decision: view };
}

export interface SigninInput {
  readonly tenant: string;
  readonly identifier: string;
  readonly password: string;
  readonly context: RequestContext;
}

/**
 * Password sign-in (headless). Issue 11, enumeration and lockout as a weapon:
 *
 * - **One answer.** An unknown tenant or identifier, a wrong password, and any password on a locked path all
 *   answer `INVALID_CREDENTIALS` with the same message; the lock shows only to administrators (the user's
 *   `locked` / `unknownDeviceLocked`, and the `reason` of `user.signin_failed`).
 * - **The same work.** For a tenant that exists, each of those does the same statements: the IP count, one lookup
 *   (user and known device together), one write reserving the attempt (the user's counter, or for an unknown
 *   identifier a throttle row standing in for it), one argon2 verification (against a dummy hash when there is
 *   nothing to check), and the failure's history row and audit record in one transaction.
 * - **Smart lockout.** An attempt from a known device (one that completed MFA for this user) counts on the
 *   account's counter, shared with every MFA code (SECURITY rule 3); any other counts on the user's unknown-device
 *   counter. Each locks at 100 until a reset (a completed sign-in, a verified factor, an admin unlock resets
 *   both); a stranger's guesses lock only the unknown-device path, and the user's own devices still sign in.
 *   The account lock closes both paths.
 * - **Spraying.** Failures from one IP across a tenant's accounts are counted in the database (every node): past
 *   50 in a 15-minute window, password sign-in from that IP answers `RATE_LIMITED` with `retryAfter` before its
 *   password is checked — except from a known device, which a sprayer does not hold.
 *
 * Every attempt is counted before its password is checked (reserve first) and checked only within its limits, so
 * that concurrent guesses past a limit are refused unevaluated — a right password among them too; a right
 * password gives its reservations back. The counters are in src/services/signin-throttle.ts.
 */
export async function signIn(deps: ServiceDeps, caller: Caller, input: SigninInput): Promise<FlowResult> {
  const invalid = (): PortcullisError => new PortcullisError('INVALID_CREDENTIALS', 'The identifier or password is wrong.');
  const tenantRecord = await findTenant(deps.store, input.tenant);
  if (tenantRecord === null) {
    // Tenants are not secret (their slugs name the sign-in pages); no row is written under one that does not exist.
    await verifyPasswordOrDummy(null, input.password);
    throw invalid();
  }
  const tenant = deps.store.forTenant(tenantRecord.id);
  const now = deps.now();
  const ip = await reserveIpAttempt(tenant, input.context.ip, now);
  const found = await tenant.users.findForSignin(input.identifier, deviceKeyOf(tenant.tenantId, input.context.deviceId));
  if (!ip.within && found?.knownDevice !== true) {
    // Audited once per window (the one attempt whose place is just past the limit), not once per refusal.
    if (ip.failures === IP_FAILURE_LIMIT + 1) {
      await tenant.audit.append({ at: now, actor: actorOf(caller), applicationId: caller.application.id, event: 'auth.signin_blocked', data: { reason: 'ip_failure_limit', ip: input.context.ip ?? null, failures: ip.failures, until: new Date(ip.windowEndsAt).toISOString() } });
    }
    throw new PortcullisError('RATE_LIMITED', 'Too many failed sign-ins from this address; retry later.', { extra: { retryAfter: new Date(ip.windowEndsAt).toISOString() } });
  }
  const attempt = await reservePasswordAttempt(tenant, found, input.identifier, now);
  // A user without a password (made by an administrator, or by an application's own sign-in), an unknown
  // identifier and a refused attempt are all checked against the dummy hash: the same cost, never a pass.
  const checked = found !== null && attempt.refusal === null ? found.user.passwordHash : null;
  const passed = await verifyPasswordOrDummy(checked, input.password);
  if (found === null || !passed) {
    const reason = found === null ? 'unknown_identifier' : (attempt.refusal ?? 'bad_password');
    await deps.store.transaction(async (tx) => {
      const t = tx.forTenant(tenant.tenantId);
      await t.signins.append({ userId: found?.user.id ?? null, applicationId: caller.application.id, ip: input.context.ip ?? null, deviceId: null, userAgent: input.context.userAgent ?? null, outcome: 'failed', at: now });
      await t.audit.append({ at: now, actor: actorOf(caller), userId: found?.user.id ?? null, applicationId: caller.application.id, event: 'user.signin_failed', data: { reason, path: attempt.path, failures: attempt.failures } });
    });
    throw invalid();
  }
  await Promise.all([attempt.release(), releaseIpAttempt(tenant, ip, now)]);
  // A right password alone does not reset the failure counts: MFA failures share the account's, and only a
  // completed sign-in resets them (in `conclude`, or a verified factor), so a password cannot wipe the count of
  // wrong codes.
  return decideAfterPassword(deps, tenant, caller, found.user, input.context);
}

/** The sign-in decision once the primary step (a password) is done: allow, challenge, enroll or deny. */
async function decideAfterPassword(deps: ServiceDeps, tenant: TenantStore, caller: Caller, user: UserRecord, context: RequestContext): Promise<FlowResult> {
  const completed: CompletedStep[] = [{ method: 'password' }];
  const evaluation = await evaluate(deps, { tenant, application: caller.application, user, purpose: { kind: 'signin' }, context, completed, actor: actorOf(caller), deferAudit: true });
  return conclude(deps, tenant, caller, user, evaluation, completed, context, null);
}

export interface StatusCheckInput {
  readonly tenant: string;
  readonly user: UserRef;
  readonly context: RequestContext;
}

/**
 * `POST /auth/mfa/status/check`: the application did its own primary sign-in and asks whether MFA is needed.
 * The primary step is taken to be a password (the most common); it never counts as a second factor.
 */
export async function checkStatus(deps: ServiceDeps, caller: Caller, input: StatusCheckInput): Promise<FlowResult> {
  const tenant = await tenantStoreOf(deps, input.tenant);
  const user = await findUser(tenant, input.user);
  return decideAfterPassword(deps, tenant, caller, user, input.context);
}

export interface StepUpInput {
  readonly tenant: string;
  readonly user: UserRef;
  readonly action: string;
  readonly maxAgeSeconds?: number;
  readonly context: RequestContext;
}

export type StepUpResult =
  | { readonly stepUpRequired: false; readonly verified: true; readonly reason: string; readonly decision: ReturnType<typeof viewDecision> }
  | {
      readonly stepUpRequired: true;
      readonly mfaSessionId: string;
      readonly methods: readonly FactorType[];
      readonly recovery: boolean;
      readonly expiresIn: number;
      readonly enrollmentRequired: boolean;
      readonly enrollOptions: readonly FactorType[];
      readonly decision: ReturnType<typeof viewDecision>;
    };

/** Step-up for a sensitive action (ZewstID's two response shapes). The session is bound to client, user and action. */
export async function stepUp(deps: ServiceDeps, caller: Caller, input: StepUpInput): Promise<StepUpResult> {
  const tenant = await tenantStoreOf(deps, input.tenant);
  const user = await findUser(tenant, input.user);
  const purpose: Purpose = input.maxAgeSeconds === undefined ? { kind: 'step_up', action: input.action } : { kind: 'step_up', action: input.action, maxAgeSeconds: input.maxAgeSeconds };
  const evaluation = await evaluate(deps, { tenant, application: caller.application, user, purpose, context: input.context, completed: [], actor: actorOf(caller) });
  const { decision, policy, now } = evaluation;
  const view = viewDecision(decision, policy);
  if (decision.outcome === 'block') throw blockedError();
  if (decision.outcome === 'allow') {
    return { stepUpRequired: false, verified: true, reason: 'MFA was recently completed', decision: view };
  }
  const { token, id } = issueSessionToken(tenant.tenantId);
  await deps.store.transaction(async (tx) => {
    const t = tx.forTenant(tenant.tenantId);
    await t.mfaSessions.create({
      id,
      userId: user.id,
      applicationId: caller.application.id,
      purpose: 'step_up',
      action: input.action,
      methods: decision.methods,
      decision: { ...decisionRecord(decision, policy), context: { ip: input.context.ip ?? null, userAgent: input.context.userAgent ?? null, deviceId: input.context.deviceId ?? null } },
      completed: [],
      expiresAt: now + MFA_SESSION_TTL_MS,
      now,
    });
    await t.audit.append({ at: now, actor: actorOf(caller), userId: user.id, applicationId: caller.application.id, event: 'mfa.step_up_requested', data: { action: input.action } });
  });
  return {
    stepUpRequired: true,
    mfaSessionId: token,
    methods: decision.methods,
    recovery: decision.recovery,
    expiresIn: MFA_SESSION_TTL_MS / 1000,
    enrollmentRequired: decision.outcome === 'enroll',
    enrollOptions: enrollableOptions(decision.enrollOptions),
    decision: view,
  };
}

/** Loads an open MFA session by token, bound to the calling application; anything else is "not found". */
export async function openSession(deps: ServiceDeps, caller: Caller, token: string): Promise<{ tenant: TenantStore; session: MfaSessionRecord; user: UserRecord }> {
  const parsed = parseSessionToken(token);
  if (parsed === null) throw new PortcullisError('MFA_SESSION_NOT_FOUND', 'No such MFA session.');
  const tenant = deps.store.forTenant(parsed.tenantId);
  const session = await tenant.mfaSessions.get(parsed.id);
  // A session is bound to the application that opened it (FusionAuth #2010): another client's token is unknown.
  if (session === null || session.applicationId !== caller.application.id) throw new PortcullisError('MFA_SESSION_NOT_FOUND', 'No such MFA session.');
  if (session.status !== 'open' || session.expiresAt <= deps.now()) throw new PortcullisError('MFA_SESSION_EXPIRED', 'The MFA session has expired or was already used; start again.');
  const user = await tenant.users.get(session.userId);
  if (user === null) throw new PortcullisError('MFA_SESSION_NOT_FOUND', 'No such MFA session.');
  return { tenant, session, user };
}

export interface VerifyInput {
  readonly mfaSessionId: string;
  readonly method: string;
  readonly code: unknown;
}

export type VerifyResult =
  | { readonly verified: true; readonly userId: string; readonly amr: readonly string[]; readonly action: string | null; readonly recoveryCodesRemaining?: number }
  /**
   * The code was right but the sign-in is not complete (a break-glass recovery code at the enrollment wall, or a
   * further step): `verified` is false so that a client reading ZewstID's `{ verified }` never takes it for a
   * session; `status` says what comes next, in the same MFA session.
   */
  | (Exclude<FlowResult, { readonly status: 'authenticated' }> & { readonly verified: false; readonly action: string | null });

/**
 * `POST /auth/mfa/verify`: answers a challenge. The proof is checked by the factor's verifier with its single-use
 * write and failure counters, and then the decision is re-run with the completed step (SECURITY rule 1) — a
 * recovery code used as break-glass meets the enrollment wall here, not a session.
 */
export async function verify(deps: ServiceDeps, caller: Caller, input: VerifyInput): Promise<VerifyResult> {
  const { tenant, session, user } = await openSession(deps, caller, input.mfaSessionId);
  const recoveryBreakGlass = session.decision.recovery === true;
  const offered = session.methods as readonly string[];
  if (!offered.includes(input.method) && !(input.method === 'recovery_codes' && recoveryBreakGlass)) {
    throw new PortcullisError('MFA_METHOD_NOT_ALLOWED', `The method "${input.method.slice(0, 40)}" is not offered in this MFA session.`, { extra: { methods: offered } });
  }
  const now = deps.now();
  const attempts = await tenant.mfaSessions.recordAttempt(session.id, now, MFA_SESSION_MAX_ATTEMPTS);
  if (attempts === null) throw new PortcullisError('MFA_LOCKED', 'This MFA session has no attempts left; start again.');
  const outcome = await verifyFactorProof(deps, tenant, user, input.method as FactorType, input.code, { actor: actorOf(caller), applicationId: caller.application.id, sessionAttemptsLeft: MFA_SESSION_MAX_ATTEMPTS - attempts });
  const completed: CompletedStep[] = [...session.completed, { method: input.method as FactorType }];
  const context = (session.decision.context ?? {}) as RequestContext;
  const purpose: Purpose = session.purpose === 'step_up' && session.action !== null ? { kind: 'step_up', action: session.action } : { kind: 'signin' };
  // A sign-in session's decision is audited in `conclude`'s transaction; a step-up's here.
  const evaluation = await evaluate(deps, { tenant, application: caller.application, user, purpose, context, completed, actor: actorOf(caller), deferAudit: session.purpose !== 'step_up' });
  if (session.purpose === 'step_up') {
    if (evaluation.decision.outcome !== 'allow') throw new PortcullisError('MFA_FACTOR_NOT_ALLOWED', 'The step-up was not satisfied by this factor.');
    const done = await deps.store.transaction(async (tx) => {
      const t = tx.forTenant(tenant.tenantId);
      if (!(await t.mfaSessions.complete(session.id, evaluation.now, 'open'))) return false;
      await t.users.recordMfa(user.id, evaluation.now);
      return true;
    });
    if (!done) throw new PortcullisError('MFA_SESSION_EXPIRED', 'The MFA session is no longer open.');
    return { verified: true, userId: user.id, amr: amrOf(completed.map((s) => s.method)), action: session.action, ...(outcome.remaining === undefined ? {} : { recoveryCodesRemaining: outcome.remaining }) };
  }
  const result = await conclude(deps, tenant, caller, user, evaluation, completed, context, session);
  if (result.status === 'authenticated') {
    return { verified: true, userId: user.id, amr: result.amr, action: null, ...(outcome.remaining === undefined ? {} : { recoveryCodesRemaining: outcome.remaining }) };
  }
  return { ...result, mfaSessionId: input.mfaSessionId, verified: false, action: null };
}

/** Re-runs the decision after an enrollment step completed inside a sign-in session and concludes the flow. */
export async function concludeAfterEnrollment(
  deps: ServiceDeps,
  caller: Caller,
  tenant: TenantStore,
  user: UserRecord,
  session: MfaSessionRecord,
  completed: readonly CompletedStep[],
): Promise<FlowResult> {
  const context = (session.decision.context ?? {}) as RequestContext;
  const fresh = (await tenant.users.get(user.id)) ?? user;
  const evaluation = await evaluate(deps, { tenant, application: caller.application, user: fresh, purpose: { kind: 'signin' }, context, completed, actor: actorOf(caller), deferAudit: true });
  return conclude(deps, tenant, caller, fresh, evaluation, completed, context, session);
}
