import { factorClassOf, IP_FAILURE_LIMIT, isFactorType, MFA_SESSION_MAX_ATTEMPTS, PortcullisError, type CompletedStep, type FactorType, type Purpose } from '../core/index.ts';
import type { LoginSessionRecord, MfaSessionRecord, NewAuditEvent, TenantStore, UserRecord } from '../store/index.ts';
import { hashPassword, needsRehash, verifyPasswordOrDummy } from '../factors/password.ts';
import { contextOfFlow, evaluate, flowStateOf, type Evaluation } from './decision-service.ts';
import type { ServiceDeps } from './deps.ts';
import { assertNotLocked, checkFactorProof, type CheckedProof } from './factor-verify.ts';
import { blockedError, enrollableOptions, envelopeBase, MFA_SESSION_TTL_MS, viewDecision, type FlowResult } from './flow-result.ts';
import { assuranceOfSteps, createLoginSession, freshnessFor, openLoginSession, stepsOf, viewSession } from './login-sessions.ts';
import { deviceKeyOf, networkKeyOf, normaliseIp, type RequestContext } from './risk.ts';
import { releaseIpAttempt, reserveIpAttempt, reservePasswordAttempt } from './signin-throttle.ts';
import { issueToken, parseSessionToken } from '../factors/tokens.ts';
import { deviceTokenSpent, grantDeviceTrust, parseDeviceToken, rememberedDeviceId, rememberedIdOf, rotateDeviceTrust, type IssuedDeviceToken } from './device-trust.ts';
import { parseAuthenticationResponse, userHandleOf } from '../factors/webauthn-factor.ts';
import { refuseUnofferedMethod, watchRecoveryCodes, withRecoveryNotice } from './verify-answer.ts';
import { catalogOf, requireServedTenant, servedTenant, servesTenant, type Caller } from './tenant-access.ts';

export type { Caller } from './tenant-access.ts';

/** A user identified by our id or the application's `externalId`. */
export type UserRef = { readonly userId: string } | { readonly externalId: string };

async function findUser(tenant: TenantStore, ref: UserRef): Promise<UserRecord> {
  const user = 'userId' in ref ? await tenant.users.get(ref.userId) : await tenant.users.findByExternalId(ref.externalId);
  if (user === null) throw new PortcullisError('NOT_FOUND', 'No such tenant or user.');
  return user;
}

/** The tenant store and user a request names, in a tenant the caller serves; anything else is "not found". */
export async function loadTenantUser(deps: ServiceDeps, caller: Caller, tenantRef: string, ref: UserRef): Promise<{ tenant: TenantStore; user: UserRecord }> {
  const tenant = await requireServedTenant(deps, caller, tenantRef);
  return { tenant, user: await findUser(tenant, ref) };
}

/** Who acts, for audit: the application, on the user's behalf. */
export function actorOf(caller: Caller): string {
  return `application:${caller.application.id}`;
}

/** A transaction that lost its claim on an MFA session, or its single-use write: rolled back, then answered. */
class LostRace extends Error {
  readonly what: 'session' | 'proof' | 'device';
  constructor(what: 'session' | 'proof' | 'device') {
    super(what);
    this.what = what;
  }
}

/** Runs `fn` in one transaction; a {@link LostRace} inside comes back as its kind instead of a throw. */
async function inRace<T>(deps: ServiceDeps, fn: (tx: TenantStore) => Promise<T>, tenantId: string): Promise<T | LostRace> {
  try {
    return await deps.store.transaction((tx) => fn(tx.forTenant(tenantId)));
  } catch (error) {
    if (error instanceof LostRace) return error;
    throw error;
  }
}

function sessionGone(session: MfaSessionRecord, now: number): PortcullisError {
  return session.expiresAt <= now
    ? new PortcullisError('MFA_SESSION_EXPIRED', 'The MFA session has expired; start again.')
    : new PortcullisError('MFA_SESSION_USED', 'The MFA session was already completed; start again.');
}

/** Spends a checked proof inside the claiming transaction (SECURITY rules 2 and 11). */
async function spend(t: TenantStore, proof: CheckedProof | null): Promise<void> {
  if (proof !== null && (await proof.consume(t)) === null) throw new LostRace('proof');
}

/** Signs the result of a session for the calling application (null when no signer is wired). */
async function signedResult(deps: ServiceDeps, caller: Caller, session: LoginSessionRecord, now: number): Promise<string | null> {
  if (deps.results === undefined) return null;
  return deps.results.signResult(
    { subject: session.userId, audience: caller.application.clientId, tenantId: session.tenantId, sessionId: session.id, amr: session.amr, acr: session.acr, authTime: session.authTime },
    now,
  );
}

/** Writes that ride in the transaction recording a flow's outcome (a right password's give-backs). */
type Prelude = (t: TenantStore) => Promise<void>;

/**
 * Turns a decision into what the caller sees, opening an MFA session when a challenge or enrollment follows.
 * `allow` completes the sign-in: a login session is written, with the grace anchor, history and device trust —
 * here and only here. Each outcome's writes, the decision's audit records (`evaluation.writeAudit`), the claim on
 * the MFA session being answered and the spending of the proof that answered it commit in one transaction: of
 * concurrent answers to one MFA session exactly one commits, and a proof is spent only with it.
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
  proof: CheckedProof | null = null,
  prelude: Prelude | null = null,
  options: ConcludeOptions = {},
): Promise<FlowResult> {
  const { decision, policy, now } = evaluation;
  const view = viewDecision(decision, policy);
  const history = { userId: user.id, applicationId: caller.application.id, ip: normaliseIp(context.ip), deviceId: evaluation.risk.deviceKey, userAgent: context.userAgent ?? null, ...evaluation.risk.history, at: now };
  const trustDays = policy.values.trustedDeviceDays;
  const lost = async (race: LostRace): Promise<never> => {
    await evaluation.writeAudit(tenant);
    if (race.what === 'proof' && proof !== null) return proof.refuse();
    if (race.what === 'device') throw deviceTokenSpent();
    throw sessionGone(existing as MfaSessionRecord, now);
  };

  if (decision.outcome === 'block') {
    await deps.store.transaction(async (tx) => {
      const t = tx.forTenant(tenant.tenantId);
      await prelude?.(t);
      await evaluation.writeAudit(t);
      await t.signins.append({ ...history, outcome: 'blocked' });
      if (existing !== null) await t.mfaSessions.setStatus(existing.id, 'cancelled', 'open');
    });
    throw blockedError();
  }

  if (decision.outcome === 'allow') {
    const methods = completed.map((s) => s.method);
    const done = await inRace(
      deps,
      async (t) => {
        if (existing !== null && !(await t.mfaSessions.complete(existing.id, now, 'open'))) throw new LostRace('session');
        // The proof's, the decision's and the sign-in's audit records go in one multi-row statement at the end.
        const audits: NewAuditEvent[] = [];
        if (proof !== null && (await proof.consume(t, { audits, callerResetsUser: true })) === null) throw new LostRace('proof');
        await prelude?.(t);
        await evaluation.writeAudit(t, audits);
        const created = await createLoginSession(t, { user, applicationId: caller.application.id, completed, deviceKey: evaluation.risk.deviceKey, ip: context.ip ?? null, userAgent: context.userAgent ?? null, now });
        const mfaDone = created.session.mfaAt !== null;
        // One write to the user: the grace anchor (set once), the failure reset, and the MFA time when MFA was done.
        await t.users.completeSignin(user.id, now, { mfa: mfaDone, resetFailures: true });
        if (mfaDone) {
          // Only a sign-in that completed MFA makes its device and network known (SECURITY rule 6).
          if (evaluation.risk.deviceKey !== null) await t.trustedDevices.upsert(user.id, evaluation.risk.deviceKey, now);
          const network = networkKeyOf(tenant.tenantId, context.ip);
          if (network !== null) await t.trustedDevices.upsert(user.id, network, now);
        }
        await t.signins.append({ ...history, outcome: 'succeeded' });
        // SECURITY rule 6: a remembered device that let this sign-in skip MFA is spent (rotated); one is remembered
        // only after an MFA on it, and only when the policy gives trust a lifetime.
        let device: IssuedDeviceToken | null = null;
        const audit = { at: now, actor: actorOf(caller), userId: user.id, applicationId: caller.application.id, subject: created.session.id };
        if (decision.trustedDevice === true && evaluation.remembered !== null) {
          device = await rotateDeviceTrust(t, evaluation.remembered, trustDays, now);
          if (device === null) throw new LostRace('device');
          audits.push({ ...audit, event: 'mfa.trusted_device_used', data: { deviceId: device.id, mfaAt: new Date(evaluation.remembered.mfaAt).toISOString(), rotated: true } });
        } else if (mfaDone && options.rememberDevice === true && trustDays > 0) {
          const previousId = evaluation.remembered?.id ?? rememberedIdOf(evaluation.context.deviceId);
          device = await grantDeviceTrust(t, { userId: user.id, applicationId: caller.application.id, previousId, userAgent: context.userAgent ?? null, ip: normaliseIp(context.ip), trustedDeviceDays: trustDays, now });
          audits.push({ ...audit, event: 'mfa.trusted_device_granted', data: { deviceId: device.id, trustedDeviceDays: trustDays, replaced: previousId, methods } });
        }
        audits.push({ ...audit, event: 'user.signin_succeeded', data: { amr: created.session.amr, acr: created.session.acr, mfa: mfaDone, methods, ...(decision.trustedDevice === true ? { trustedDevice: true } : {}) } });
        await t.audit.appendMany(audits);
        return { ...created, device };
      },
      tenant.tenantId,
    );
    if (done instanceof LostRace) return lost(done);
    const { session, token, device } = done;
    const trusted = device === null ? {} : { trustedDevice: { token: device.token, id: device.id, expiresAt: new Date(device.expiresAt).toISOString() } };
    return { status: 'authenticated', ...envelopeBase(user.id, view), amr: session.amr, acr: session.acr, session: viewSession(session, token), result: await signedResult(deps, caller, session, now), ...trusted };
  }

  // challenge or enroll: open (or carry on) an MFA session bound to this application, user and purpose.
  const state = flowStateOf(decision, policy, { enrollOptions: enrollableOptions(decision.enrollOptions, deps.deliverableFactors), context: { ...context, deviceId: evaluation.context.deviceId ?? null } });
  let token: string;
  if (existing === null) {
    const issued = issueToken('mfa', tenant.tenantId);
    token = issued.token;
    const opened = await inRace(
      deps,
      async (t) => {
        // A passkey-first sign-in's assertion is spent here, with the session the rest of the flow continues in.
        await spend(t, proof);
        await prelude?.(t);
        await evaluation.writeAudit(t);
        await t.mfaSessions.create({ id: issued.id, userId: user.id, applicationId: caller.application.id, purpose: 'signin', methods: decision.methods, state, completed, expiresAt: now + MFA_SESSION_TTL_MS, now });
        if (user.firstSignInAt === null) await t.users.setFirstSignIn(user.id, now); // the grace anchor, set once
        await t.signins.append({ ...history, outcome: 'challenged' });
      },
      tenant.tenantId,
    );
    if (opened instanceof LostRace) return lost(opened);
  } else {
    token = '';
    const updated = await inRace(
      deps,
      async (t) => {
        // Conditional on the steps it read: of two answers racing on one session, one moves it on.
        if (!(await t.mfaSessions.update(existing.id, { methods: decision.methods, state, completed }, now, existing.completed))) throw new LostRace('session');
        await spend(t, proof);
        await evaluation.writeAudit(t);
      },
      tenant.tenantId,
    );
    if (updated instanceof LostRace) return lost(updated);
  }
  const expiresIn = Math.max(0, Math.round(((existing?.expiresAt ?? now + MFA_SESSION_TTL_MS) - now) / 1000));
  const base = { ...envelopeBase(user.id, view), mfaSessionId: token, methods: decision.methods, recovery: decision.recovery, expiresIn, enrollOptions: enrollableOptions(decision.enrollOptions, deps.deliverableFactors) };
  return decision.outcome === 'challenge' ? { status: 'mfa_required', ...base } : { status: 'enrollment_required', ...base };
}

/** What the caller asked of a concluding answer. */
export interface ConcludeOptions {
  /** Remember this device after an MFA-complete answer (a device token in the answer; SECURITY rule 6). */
  readonly rememberDevice?: boolean;
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
  const tenant = await servedTenant(deps, caller, input.tenant);
  if (tenant === null) {
    // Tenants are not secret (their slugs name the sign-in pages); no row is written under one that does not exist.
    await verifyPasswordOrDummy(null, input.password);
    throw invalid();
  }
  const now = deps.now();
  // The reservations (each one atomic statement) share one commit where that is cheaper (SQLite: issue 13) and
  // are durable before the password is checked.
  const { ip, found, attempt } = await deps.store.batch(async (tx) => {
    const t = tx.forTenant(tenant.tenantId);
    const ip = await reserveIpAttempt(t, input.context.ip, now);
    const found = await t.users.findForSignin(input.identifier, await signinDeviceKey(t, input.context));
    if (!ip.within && found?.knownDevice !== true) {
      // Audited once per window (the one attempt whose place is just past the limit), not once per refusal.
      if (ip.failures === IP_FAILURE_LIMIT + 1) {
        await t.audit.append({ at: now, actor: actorOf(caller), applicationId: caller.application.id, event: 'auth.signin_blocked', data: { reason: 'ip_failure_limit', ip: input.context.ip ?? null, failures: ip.failures, until: new Date(ip.windowEndsAt).toISOString() } });
      }
      return { ip, found, attempt: null };
    }
    return { ip, found, attempt: await reservePasswordAttempt(t, found, input.identifier, now) };
  });
  if (attempt === null) throw new PortcullisError('RATE_LIMITED', 'Too many failed sign-ins from this address; retry later.', { extra: { retryAfter: new Date(ip.windowEndsAt).toISOString() } });
  // A user without a password (made by an administrator, or by an application's own sign-in), an unknown
  // identifier and a refused attempt are all checked against the dummy hash: the same cost, never a pass.
  const checked = found !== null && attempt.refusal === null ? found.user.passwordHash : null;
  const passed = await verifyPasswordOrDummy(checked, input.password);
  if (found === null || !passed) {
    const reason = found === null ? 'unknown_identifier' : (attempt.refusal ?? 'bad_password');
    await deps.store.transaction(async (tx) => {
      const t = tx.forTenant(tenant.tenantId);
      await t.signins.append({ userId: found?.user.id ?? null, applicationId: caller.application.id, ip: normaliseIp(input.context.ip), deviceId: deviceKeyOf(tenant.tenantId, input.context.deviceId), userAgent: input.context.userAgent ?? null, outcome: 'failed', at: now });
      await t.audit.append({ at: now, actor: actorOf(caller), userId: found?.user.id ?? null, applicationId: caller.application.id, event: 'user.signin_failed', data: { reason, path: attempt.path, failures: attempt.failures } });
    });
    throw invalid();
  }
  // A right password gives its reservations back in the transaction that records the outcome (no commit of
  // their own). A right password alone does not reset the failure counts: MFA failures share the account's, and
  // only a completed sign-in resets them (in `conclude`, or a verified factor), so a password cannot wipe the count
  // of wrong codes.
  // A hash made with outdated parameters is replaced by one with the current (the password is at hand only now),
  // in the same transaction, conditional on the hash just verified: a password changed meanwhile stays.
  const verifiedHash = found.user.passwordHash;
  const rehashed = verifiedHash !== null && needsRehash(verifiedHash) ? await hashPassword(input.password) : null;
  const giveBack: Prelude = async (t) => {
    await attempt.release(t);
    await releaseIpAttempt(t, ip, now);
    if (rehashed !== null && verifiedHash !== null) await t.users.rehashPassword(found.user.id, verifiedHash, rehashed, now);
  };
  return decideAfterPassword(deps, tenant, caller, found.user, input.context, giveBack);
}

/**
 * The device a password attempt comes from, for the lockout paths and the spraying exception: a remembered device's
 * server-side id when the request presents a token that names one (its trust mark is the user's own, so another
 * user's token makes no device known to this user), else the caller's `deviceId`.
 */
async function signinDeviceKey(t: TenantStore, context: RequestContext): Promise<string | null> {
  const hash = parseDeviceToken(context.deviceToken);
  const remembered = hash === null ? null : await t.trustedDevices.findRemembered(hash);
  return deviceKeyOf(t.tenantId, remembered === null ? context.deviceId : rememberedDeviceId(remembered.id));
}

/** The sign-in decision once the primary step (a password) is done: allow, challenge, enroll or deny. */
async function decideAfterPassword(deps: ServiceDeps, tenant: TenantStore, caller: Caller, user: UserRecord, context: RequestContext, prelude: Prelude | null = null): Promise<FlowResult> {
  const completed: CompletedStep[] = [{ method: 'password' }];
  const evaluation = await evaluate(deps, { tenant, application: caller.application, catalog: await catalogOf(deps, caller), user, purpose: { kind: 'signin' }, context, completed, actor: actorOf(caller), deferAudit: true });
  return conclude(deps, tenant, caller, user, evaluation, completed, context, null, null, prelude);
}

export interface StatusCheckInput {
  readonly tenant: string;
  readonly user: UserRef;
  readonly context: RequestContext;
}

/**
 * `POST /auth/mfa/status/check`: the application did its own primary sign-in and asks whether MFA is needed.
 * The primary step is taken to be a password (the most common); it never counts as a second factor. A locked
 * account is refused here as everywhere.
 */
export async function checkStatus(deps: ServiceDeps, caller: Caller, input: StatusCheckInput): Promise<FlowResult> {
  const { tenant, user } = await loadTenantUser(deps, caller, input.tenant, input.user);
  assertNotLocked(user, deps.now());
  return decideAfterPassword(deps, tenant, caller, user, input.context);
}

export interface StepUpInput {
  /** The login session token of the calling application (`X-Portcullis-Session`). */
  readonly sessionToken: string | undefined;
  /** When given, must name the session's tenant and user (ZewstID's body shape). */
  readonly tenant?: string;
  readonly user?: UserRef;
  readonly action: string;
  readonly maxAgeSeconds?: number;
  readonly context: RequestContext;
}

/**
 * Step-up for a sensitive action, judged on the calling application's login session: its sign-in MFA or a grant
 * earned for this action within the max age allows (DESIGN §3); MFA at another application, or for another action,
 * never counts. Otherwise an MFA session bound to the application, the action and this login session is opened.
 */
export async function stepUp(deps: ServiceDeps, caller: Caller, input: StepUpInput): Promise<FlowResult> {
  const { tenant, session, user } = await openLoginSession(deps, caller, input.sessionToken);
  if (input.tenant !== undefined) {
    const named = await servedTenant(deps, caller, input.tenant);
    if (named === null || named.tenantId !== tenant.tenantId) throw new PortcullisError('SESSION_NOT_FOUND', 'No such session for this tenant and user.');
  }
  if (input.user !== undefined) {
    const named = 'userId' in input.user ? input.user.userId === user.id : input.user.externalId === user.externalId;
    if (!named) throw new PortcullisError('SESSION_NOT_FOUND', 'No such session for this tenant and user.');
  }
  assertNotLocked(user, deps.now());
  const purpose: Purpose = input.maxAgeSeconds === undefined ? { kind: 'step_up', action: input.action } : { kind: 'step_up', action: input.action, maxAgeSeconds: input.maxAgeSeconds };
  const sessionFactorClasses = session.steps.flatMap((step) => (isFactorType(step.method) ? [factorClassOf(step.method)] : []));
  const evaluation = await evaluate(deps, {
    tenant,
    application: caller.application,
    catalog: await catalogOf(deps, caller),
    user,
    purpose,
    context: input.context,
    completed: [],
    actor: actorOf(caller),
    lastMfaAt: freshnessFor(session, input.action),
    sessionFactorClasses,
    stepUpGrantAt: session.grants[input.action] ?? null,
  });
  const { decision, policy, now } = evaluation;
  const view = viewDecision(decision, policy);
  if (decision.outcome === 'block') throw blockedError();
  if (decision.outcome === 'allow') {
    return { status: 'authenticated', ...envelopeBase(user.id, view), amr: session.amr, acr: session.acr, session: viewSession(session), result: await signedResult(deps, caller, session, now) };
  }
  const { token, id } = issueToken('mfa', tenant.tenantId);
  await deps.store.transaction(async (tx) => {
    const t = tx.forTenant(tenant.tenantId);
    await t.mfaSessions.create({
      id,
      userId: user.id,
      applicationId: caller.application.id,
      purpose: 'step_up',
      action: input.action,
      methods: decision.methods,
      state: flowStateOf(decision, policy, { enrollOptions: enrollableOptions(decision.enrollOptions, deps.deliverableFactors), context: input.context }),
      completed: [],
      loginSessionId: session.id,
      expiresAt: now + MFA_SESSION_TTL_MS,
      now,
    });
    await t.audit.append({ at: now, actor: actorOf(caller), userId: user.id, applicationId: caller.application.id, subject: session.id, event: 'mfa.step_up_requested', data: { action: input.action } });
  });
  return {
    status: 'step_up_required',
    ...envelopeBase(user.id, view),
    mfaSessionId: token,
    methods: decision.methods,
    recovery: decision.recovery,
    expiresIn: MFA_SESSION_TTL_MS / 1000,
    action: input.action,
    enrollOptions: enrollableOptions(decision.enrollOptions, deps.deliverableFactors),
  };
}

/** Loads an open MFA session by token, bound to the calling application; anything else is "not found". */
export async function openSession(deps: ServiceDeps, caller: Caller, token: string): Promise<{ tenant: TenantStore; session: MfaSessionRecord; user: UserRecord }> {
  const parsed = parseSessionToken(token);
  if (parsed === null || !(await servesTenant(deps, caller, parsed.tenantId))) throw new PortcullisError('MFA_SESSION_NOT_FOUND', 'No such MFA session.');
  const tenant = deps.store.forTenant(parsed.tenantId);
  const session = await tenant.mfaSessions.get(parsed.id);
  // A session is bound to the application that opened it (FusionAuth #2010): another client's token is unknown.
  if (session === null || session.applicationId !== caller.application.id) throw new PortcullisError('MFA_SESSION_NOT_FOUND', 'No such MFA session.');
  const now = deps.now();
  if (session.status === 'completed') throw new PortcullisError('MFA_SESSION_USED', 'The MFA session was already completed; start again.');
  if (session.status !== 'open' || session.expiresAt <= now) throw new PortcullisError('MFA_SESSION_EXPIRED', 'The MFA session has expired; start again.');
  const user = await tenant.users.get(session.userId);
  if (user === null) throw new PortcullisError('MFA_SESSION_NOT_FOUND', 'No such MFA session.');
  assertNotLocked(user, now);
  return { tenant, session, user };
}

export interface VerifyInput {
  readonly mfaSessionId: string;
  readonly method: string;
  readonly code: unknown;
  /** Remember this device when the answer is an MFA-complete sign-in (SECURITY rule 6). */
  readonly rememberDevice?: boolean;
}

/**
 * `POST /auth/mfa/verify`: answers a challenge. The proof is checked by the factor's verifier with its failure
 * counters, the decision is re-run with the completed step (SECURITY rule 1), and the proof is spent in the
 * transaction that records the outcome — a recovery code used as break-glass meets the enrollment wall here, not a
 * session. A step-up's success refreshes the login session it was opened for, for its action only, and rotates
 * that session's token.
 */
export async function verify(deps: ServiceDeps, caller: Caller, input: VerifyInput): Promise<FlowResult> {
  const { tenant, session, user } = await openSession(deps, caller, input.mfaSessionId);
  const recoveryBreakGlass = session.state.recovery;
  const offered = session.methods as readonly string[];
  if (!offered.includes(input.method) && !(input.method === 'recovery_codes' && recoveryBreakGlass)) {
    return refuseUnofferedMethod(tenant, user, session, input.method, { actor: actorOf(caller), applicationId: caller.application.id, now: deps.now() });
  }
  const method = input.method as FactorType;
  // The session's attempt is counted with the factor's and the account's, together (checkFactorProof).
  const checked = await checkFactorProof(deps, tenant, user, method, input.code, { actor: actorOf(caller), applicationId: caller.application.id, sessionId: session.id, maxSessionAttempts: MFA_SESSION_MAX_ATTEMPTS, caller });
  // A spent recovery code's answer says how many are left (and warns at two or fewer).
  const { proof, remaining } = watchRecoveryCodes(checked);
  const completed: CompletedStep[] = [...session.completed, proof.step];
  const context = contextOfFlow(session.state);
  if (session.purpose === 'step_up' && session.action !== null) return withRecoveryNotice(await completeStepUp(deps, caller, tenant, user, session, session.action, completed, context, proof), remaining());
  const evaluation = await evaluate(deps, { tenant, application: caller.application, catalog: await catalogOf(deps, caller), activeFactors: proof.activeFactors, user, purpose: { kind: 'signin' }, context, completed, actor: actorOf(caller), deferAudit: true });
  const result = await conclude(deps, tenant, caller, user, evaluation, completed, context, session, proof, null, { rememberDevice: input.rememberDevice === true });
  return withRecoveryNotice(result.status === 'authenticated' ? result : { ...result, mfaSessionId: input.mfaSessionId }, remaining());
}

async function completeStepUp(
  deps: ServiceDeps,
  caller: Caller,
  tenant: TenantStore,
  user: UserRecord,
  session: MfaSessionRecord,
  action: string,
  completed: readonly CompletedStep[],
  context: RequestContext,
  proof: CheckedProof,
): Promise<FlowResult> {
  const evaluation = await evaluate(deps, { tenant, application: caller.application, catalog: await catalogOf(deps, caller), activeFactors: proof.activeFactors, user, purpose: { kind: 'step_up', action }, context, completed, actor: actorOf(caller), deferAudit: true, lastMfaAt: null });
  const { decision, policy, now } = evaluation;
  if (decision.outcome !== 'allow') {
    await evaluation.writeAudit(tenant);
    throw new PortcullisError('MFA_FACTOR_NOT_ALLOWED', 'The step-up was not satisfied by this factor.');
  }
  const rotated = issueToken('ses', tenant.tenantId);
  const done = await inRace(
    deps,
    async (t) => {
      if (!(await t.mfaSessions.complete(session.id, now, 'open'))) throw new LostRace('session');
      await spend(t, proof);
      await evaluation.writeAudit(t);
      await t.users.recordMfa(user.id, now);
      const login = session.loginSessionId === null ? null : await t.loginSessions.get(session.loginSessionId);
      // The login session ended meanwhile (revoked, expired): the step-up has nothing to refresh.
      if (login === null || login.revokedAt !== null || login.expiresAt <= now) throw new PortcullisError('SESSION_NOT_FOUND', 'The session this step-up was for has ended; sign in again.');
      const steps = [...login.steps, ...stepsOf(completed)];
      const { amr, acr } = assuranceOfSteps(steps, now);
      const grants = { ...login.grants, [action]: now };
      // A successful step-up is a re-authentication: the session's token is rotated (SECURITY rule 9).
      if (!(await t.loginSessions.update(login.id, { steps, amr, acr, grants, tokenHash: rotated.id }, now, login.tokenHash))) throw new LostRace('session');
      await t.audit.append({ at: now, actor: actorOf(caller), userId: user.id, applicationId: caller.application.id, subject: login.id, event: 'user.step_up_succeeded', data: { action, amr, acr } });
      return { ...login, steps, amr, acr, grants, tokenHash: rotated.id, lastSeenAt: now };
    },
    tenant.tenantId,
  );
  if (done instanceof LostRace) {
    await evaluation.writeAudit(tenant);
    if (done.what === 'proof') return proof.refuse();
    throw sessionGone(session, now);
  }
  const view = viewDecision(decision, policy);
  return { status: 'authenticated', ...envelopeBase(user.id, view), amr: done.amr, acr: done.acr, session: viewSession(done, rotated.token), result: await signedResult(deps, caller, done, now) };
}

/** Re-runs the decision after an enrollment step completed inside a sign-in session and concludes the flow. */
export async function concludeAfterEnrollment(
  deps: ServiceDeps,
  caller: Caller,
  tenant: TenantStore,
  user: UserRecord,
  session: MfaSessionRecord,
  completed: readonly CompletedStep[],
  options: ConcludeOptions = {},
): Promise<FlowResult> {
  const context = contextOfFlow(session.state);
  const fresh = (await tenant.users.get(user.id)) ?? user;
  const evaluation = await evaluate(deps, { tenant, application: caller.application, catalog: await catalogOf(deps, caller), user: fresh, purpose: { kind: 'signin' }, context, completed, actor: actorOf(caller), deferAudit: true });
  return conclude(deps, tenant, caller, fresh, evaluation, completed, context, session, null, null, options);
}

export interface PasskeySigninInput {
  readonly tenant: string;
  /** The browser's `PublicKeyCredential.toJSON()` of `navigator.credentials.get()` (untrusted). */
  readonly response: unknown;
  readonly context: RequestContext;
  readonly rememberDevice?: boolean;
}

/**
 * Passkey-first sign-in (DESIGN §4): a discoverable credential's assertion, with no identifier and no password. The
 * credential names the user; the assertion is checked like any factor proof (the failure limits, the application's
 * single-use challenge, the counter), and then the same decision runs with the passkey as the completed step — a
 * passkey that verified the user is multi-factor by itself and satisfies MFA; without user verification it is one
 * factor and the policy decides the rest. A block, a floor or an enrollment wall still applies.
 *
 * An unknown tenant or credential, or a credential that is not an active passkey, answers `INVALID_CREDENTIALS`.
 */
export async function signInWithPasskey(deps: ServiceDeps, caller: Caller, input: PasskeySigninInput): Promise<FlowResult> {
  const invalid = (): PortcullisError => new PortcullisError('INVALID_CREDENTIALS', 'This passkey is not recognised here.');
  const tenant = await servedTenant(deps, caller, input.tenant);
  const assertion = parseAuthenticationResponse(input.response);
  if (tenant === null || assertion === null) throw invalid();
  const now = deps.now();
  const factor = await tenant.factors.findByCredentialId(assertion.id);
  const user = factor === null || factor.type !== 'webauthn' || factor.status !== 'active' ? null : await tenant.users.get(factor.userId);
  const handle = userHandleOf(assertion);
  if (user === null || (handle !== null && handle !== user.id)) {
    await tenant.audit.append({ at: now, actor: actorOf(caller), userId: user?.id ?? null, applicationId: caller.application.id, event: 'user.signin_failed', data: { reason: user === null ? 'unknown_credential' : 'user_handle_mismatch', method: 'webauthn' } });
    throw invalid();
  }
  assertNotLocked(user, now);
  const proof = await checkFactorProof(deps, tenant, user, 'webauthn', input.response, { actor: actorOf(caller), applicationId: caller.application.id, sessionId: null, maxSessionAttempts: 0, caller });
  const completed: CompletedStep[] = [proof.step];
  const evaluation = await evaluate(deps, { tenant, application: caller.application, catalog: await catalogOf(deps, caller), activeFactors: proof.activeFactors, user, purpose: { kind: 'signin' }, context: input.context, completed, actor: actorOf(caller), deferAudit: true });
  return conclude(deps, tenant, caller, user, evaluation, completed, input.context, null, proof, null, { rememberDevice: input.rememberDevice === true });
}
