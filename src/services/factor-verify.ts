import { ACCOUNT_FAILURE_LIMIT, FACTOR_FAILURE_LIMIT, LOCKED_UNTIL_RESET, PortcullisError, type CompletedStep, type FactorType } from '../core/index.ts';
import type { FactorRecord, NewAuditEvent, TenantStore, UserRecord } from '../store/index.ts';
import { FACTOR_VERIFIERS, type ProofOutcome } from './factor-registry.ts';
import type { Caller } from './tenant-access.ts';
import type { KnownFactors } from './decision-service.ts';
import type { ServiceDeps } from './deps.ts';

export interface ProofMeta {
  readonly actor: string;
  readonly applicationId: string | null;
  /**
   * The MFA session answered, whose attempts (at most `maxSessionAttempts`) are counted with the failures; null for a
   * passkey-first sign-in (no session yet: the factor's and the account's counters alone).
   */
  readonly sessionId: string | null;
  readonly maxSessionAttempts: number;
  /** The calling application (a WebAuthn challenge answers only the application that asked for it). */
  readonly caller: Caller;
}

function isLocked(lockedUntil: number | null, now: number): boolean {
  return lockedUntil !== null && lockedUntil > now;
}

/** Refuses any flow for a locked account: only the audited admin unlock lifts the lock (SECURITY rule 3). */
export function assertNotLocked(user: UserRecord, now: number): void {
  if (isLocked(user.lockedUntil, now)) {
    throw new PortcullisError('ACCOUNT_LOCKED', 'Too many failed attempts; the account is locked. An administrator can unlock it.');
  }
}

/**
 * Whether a reserved attempt may be evaluated: its place in the run of failures (the count its own increment
 * returned) is within `limit`, or it is the first attempt after the count read before (`before`) — the one try a
 * finished cool-down allows. Reserve first, evaluate only when this says so (SECURITY rule 3).
 */
export function attemptWithinLimit(place: number, limit: number, before: number): boolean {
  return place <= limit || place === before + 1;
}

/** How a caller that writes more in the same transaction wants `consume`'s own writes. */
export interface ConsumeOptions {
  /** Collect the success's audit records here (the caller appends them with its own, in one statement). */
  readonly audits?: NewAuditEvent[];
  /** Leave the account's failure reset to the caller (it makes it in its own write to the user). */
  readonly callerResetsUser?: boolean;
}

/**
 * A proof that checked out but is not yet spent. `consume` makes the single-use write (SECURITY rule 2) inside the
 * caller's transaction — the same one that claims the MFA session and records the outcome (rule 11) — together with
 * the counter resets and the success audit; it answers `null` when the write lost (a replay, or a concurrent
 * request that spent the same code), and the caller must then roll back and call `refuse`.
 */
export interface CheckedProof {
  readonly factor: FactorRecord;
  /**
   * The user's active factors and unused recovery codes as read for this check (the decision that follows uses
   * them: no second read).
   */
  readonly activeFactors: KnownFactors;
  readonly method: FactorType;
  /** The completed step the decision sees (with WebAuthn's user verification and kind). */
  readonly step: CompletedStep;
  consume(t: TenantStore, options?: ConsumeOptions): Promise<{ readonly remaining?: number } | null>;
  /** Audits the lost single-use write as a failed attempt and throws `MFA_CODE_INVALID`. */
  refuse(): Promise<never>;
}

/**
 * Checks one proof of any registered factor type (src/services/factor-registry.ts) for a user: lock checks first (a correct code during a lockout still
 * fails), then the attempt is counted against the factor's and the account's limits (shared by all nodes and
 * paths, rule 3) and evaluated only within them, then the verifier. A verifier that fails (a secret that no longer
 * opens) gives the reservations back and answers 503: it is not the user's failure. Returns the checked proof;
 * throws `MFA_CODE_INVALID` / `MFA_LOCKED` otherwise.
 */
export async function checkFactorProof(
  deps: ServiceDeps,
  tenant: TenantStore,
  user: UserRecord,
  method: FactorType,
  code: unknown,
  meta: ProofMeta,
): Promise<CheckedProof> {
  const now = deps.now();
  const activeFactors = await tenant.factors.listActiveWithRecoveryCount(user.id);
  const factors = activeFactors.factors.filter((f) => f.type === method);
  const verifier = FACTOR_VERIFIERS[method];
  const factor = verifier?.pick?.(factors, code) ?? factors[0];
  if (factor === undefined) throw new PortcullisError('MFA_METHOD_NOT_ALLOWED', `The user has no active ${method} factor.`);
  const failed = (data: Record<string, string | number | boolean | null>): Promise<unknown> =>
    tenant.audit.append({ at: now, actor: meta.actor, userId: user.id, applicationId: meta.applicationId, subject: factor.id, event: 'user.mfa_failed', data: { method, ...data } });

  if (isLocked(user.lockedUntil, now) || isLocked(factor.lockedUntil, now)) {
    await failed({ reason: 'locked' });
    // A lock until reset (the account's) has no time to retry at: `new Date(MAX_SAFE_INTEGER)` is not a date.
    const until = Math.max(user.lockedUntil ?? 0, factor.lockedUntil ?? 0);
    throw new PortcullisError('MFA_LOCKED', 'Too many failed attempts; try again later.', { extra: until < LOCKED_UNTIL_RESET ? { retryAfter: new Date(until).toISOString() } : {} });
  }
  if (verifier === undefined) throw new PortcullisError('MFA_METHOD_NOT_ALLOWED', `Verification of ${method} is not available on this server.`);

  // The checks a method needs before any guess is evaluated (nothing counted for them).
  const ready = verifier.prepare === undefined ? { prepared: {} } : await verifier.prepare(tenant, user);
  if ('refused' in ready) {
    await failed({ reason: ready.refused.reason });
    throw ready.refused.error;
  }

  // Reserve the attempt before evaluating it (SECURITY rule 3): the failure is counted first, by one atomic
  // increment per counter, and the code is evaluated only when this attempt's place in the run is within the
  // limit. Checking the lock and counting afterwards would let every request already in flight when the limit is
  // reached be evaluated too (1,000 concurrent guesses, 1,000 evaluated). A success resets both counters.
  // After a cool-down the count stays at or past the limit, and exactly one attempt — the one that follows the
  // count read above — is evaluated before the lock engages again.
  // The session's attempt and both counters are reserved together (issue 13): one statement and one commit on
  // PostgreSQL, one commit on SQLite (the batch); durable before the code is evaluated either way. A session with
  // no attempt left counts nothing else.
  const sessionId = meta.sessionId;
  const reserved = await deps.store.batch(async (tx) => {
    const t = tx.forTenant(tenant.tenantId);
    if (sessionId !== null) return t.mfaSessions.reserveAttempt(sessionId, { now, maxAttempts: meta.maxSessionAttempts, factorId: factor.id, userId: user.id });
    return { attempts: 0, factor: await t.factors.recordFailure(factor.id, now), account: await t.users.recordSigninFailure(user.id, now) };
  });
  if (reserved === null) throw new PortcullisError('MFA_LOCKED', 'This MFA session has no attempts left; start again.');
  const sessionAttemptsLeft = meta.maxSessionAttempts - reserved.attempts;
  const factorState = reserved.factor;
  const accountState = reserved.account;
  const factorPlace = factorState?.failures ?? Number.MAX_SAFE_INTEGER;
  const accountPlace = accountState?.failures ?? Number.MAX_SAFE_INTEGER;
  if (!attemptWithinLimit(factorPlace, FACTOR_FAILURE_LIMIT, factor.failedCount) || !attemptWithinLimit(accountPlace, ACCOUNT_FAILURE_LIMIT, user.failedSignins)) {
    await failed({ reason: 'limit_reached', failures: factorPlace });
    throw new PortcullisError('MFA_LOCKED', 'Too many failed attempts; try again later.');
  }

  // The verifiers sit behind the one factor interface (src/factors/factor.ts), dispatched by type through the
  // registry (src/services/factor-registry.ts): storage-free, they return the single-use write; `consume` makes it.
  let outcome: ProofOutcome;
  try {
    outcome = await verifier.check({ deps, tenant, user, factor, factors, proof: code, now, sessionId, caller: meta.caller, prepared: ready.prepared });
  } catch (error) {
    // Not the user's failure: give both reservations back, count nothing, answer 503 (fail closed, never allow).
    await Promise.all([tenant.factors.releaseFailure(factor.id), tenant.users.releaseSigninFailure(user.id)]);
    deps.logger.error({ tenantId: tenant.tenantId, userId: user.id, factorId: factor.id, method, err: error instanceof Error ? error.name : 'error' }, 'factor verifier failed');
    throw new PortcullisError('SERVICE_UNAVAILABLE', 'The code cannot be checked right now; try again later.', { cause: error });
  }

  const invalid = async (reason: string): Promise<never> => {
    await failed({ reason, failures: factorPlace });
    const left = Math.max(0, Math.min(sessionAttemptsLeft, FACTOR_FAILURE_LIMIT - factorPlace, ACCOUNT_FAILURE_LIMIT - accountPlace));
    if (factorState?.locked === true || accountState?.locked === true) throw new PortcullisError('MFA_LOCKED', 'Too many failed attempts; try again later.');
    throw new PortcullisError('MFA_CODE_INVALID', 'The code is not valid.', { extra: { attemptsRemaining: left } });
  };
  if (!outcome.ok) return invalid(outcome.reason);
  const accepted = outcome;
  const subject = accepted.answered.id;
  return {
    factor: accepted.answered,
    activeFactors,
    method,
    step: accepted.step,
    consume: async (t, options) => {
      const spent = await accepted.spend(t);
      if (spent === null) return null;
      if (!accepted.spendResets) {
        await t.factors.resetFailures(factor.id);
        await t.factors.touch(subject, now);
      }
      if (options?.callerResetsUser !== true) await t.users.resetSigninFailures(user.id);
      const base = { at: now, actor: meta.actor, userId: user.id, applicationId: meta.applicationId, subject };
      const audits: NewAuditEvent[] = [{ ...base, event: 'user.mfa_succeeded', data: { method } }];
      for (const extra of verifier.successAudits?.(spent) ?? []) audits.push({ ...base, ...extra });
      if (options?.audits !== undefined) options.audits.push(...audits);
      else await t.audit.appendMany(audits);
      return spent;
    },
    refuse: () => invalid('replayed'),
  };
}
