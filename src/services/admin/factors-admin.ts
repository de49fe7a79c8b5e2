/**
 * Help-desk operations on a user's factors (DESIGN §5): list, reset two-step verification (TOTP and recovery
 * codes go, passkeys stay), revoke one factor, re-grant grace. There is no one-time bypass: the reset is the
 * recovery path. Every change revokes the user's trusted devices (SECURITY rule 6) and is audited in the same
 * transaction.
 */
import { removalEvent } from '../factor-registry.ts';
import { DAY_MS, PortcullisError, type FactorType } from '../../core/index.ts';
import type { FactorRecord } from '../../store/index.ts';
import { actorOf, type AdminActor, type ServiceDeps } from '../deps.ts';
import { downgradeSessionsUsing } from '../login-sessions.ts';
import { reachUser } from './access.ts';
import { checkFuture, isoOf } from './validate.ts';

/** What an admin sees of a factor: never its secret, never its raw data. */
export interface FactorSummary {
  readonly id: string;
  readonly type: FactorType;
  readonly status: FactorRecord['status'];
  readonly label: string;
  readonly createdAt: number;
  readonly confirmedAt: number | null;
  readonly lastUsedAt: number | null;
  /** Recovery codes: how many are unused. */
  readonly remaining?: number;
  /** WebAuthn: a synced passkey (`true`) or a single-device security key (`false`), when known. */
  readonly multiDevice?: boolean;
}

/** The factor types an admin MFA reset deletes. */
export const RESET_TYPES: readonly FactorType[] = ['totp', 'recovery_codes'];
/** Longest grace an admin may grant at once. */
export const MAX_GRACE_DAYS = 90;

function summarize(f: FactorRecord, remaining: number): FactorSummary {
  const base = { id: f.id, type: f.type, status: f.status, label: f.label, createdAt: f.createdAt, confirmedAt: f.confirmedAt, lastUsedAt: f.lastUsedAt };
  if (f.type === 'recovery_codes') return { ...base, remaining };
  if (f.type === 'webauthn') {
    // `backedUp` / `deviceType` are public WebAuthn flags (a backup-eligible credential is a synced passkey).
    const data = f.data ?? {};
    const multi = data.multiDevice ?? data.backedUp ?? (data.deviceType === undefined ? undefined : data.deviceType === 'multiDevice');
    return typeof multi === 'boolean' ? { ...base, multiDevice: multi } : base;
  }
  return base;
}

/** A user's factors (pending and active), oldest first; no secrets. */
export async function listUserFactors(deps: ServiceDeps, actor: AdminActor, tenantId: string, userId: string): Promise<FactorSummary[]> {
  const { t, user } = await reachUser(deps.store, actor, tenantId, userId);
  const [factors, remaining] = await Promise.all([t.factors.listForUser(user.id), t.recoveryCodes.countRemaining(user.id)]);
  return factors.map((f) => summarize(f, remaining));
}

export interface ResetResult {
  /** Factors deleted (TOTP, pending or active, and the recovery code batch). */
  readonly removedFactors: number;
  readonly removedRecoveryCodes: number;
  readonly trustedDevicesRevoked: number;
  /** Factors kept (passkeys and any other type). */
  readonly kept: number;
}

/**
 * Resets a user's two-step verification: deletes TOTP and recovery codes, keeps passkeys (and other factors),
 * revokes trusted devices; audits `mfa.factor_admin_reset`.
 */
export async function resetUserMfa(deps: ServiceDeps, actor: AdminActor, tenantId: string, userId: string): Promise<ResetResult> {
  const now = deps.now();
  return deps.store.transaction(async (tx) => {
    const { t, user } = await reachUser(tx, actor, tenantId, userId);
    const before = await t.factors.listForUser(user.id);
    const removedRecoveryCodes = await t.recoveryCodes.deleteForUser(user.id);
    const removedFactors = await t.factors.deleteForUser(user.id, RESET_TYPES);
    const trustedDevicesRevoked = await t.trustedDevices.revokeAll(user.id);
    const removedIds = before.filter((f) => RESET_TYPES.includes(f.type)).map((f) => f.id);
    // Every live session that relied on a removed factor is downgraded with it (DESIGN §5).
    await downgradeSessionsUsing(t, user.id, removedIds, now);
    const kept = before.length - removedIds.length;
    await t.audit.append({
      at: now,
      actor: actorOf(actor),
      subject: user.id,
      userId: user.id,
      event: 'mfa.factor_admin_reset',
      data: { types: [...RESET_TYPES], removedFactorIds: removedIds, removedRecoveryCodes, trustedDevicesRevoked, kept },
    });
    return { removedFactors, removedRecoveryCodes, trustedDevicesRevoked, kept };
  });
}

/**
 * Revokes one factor of a user (e.g. a lost passkey); audits `mfa.passkey_revoked` for WebAuthn, otherwise
 * `mfa.factor_removed`. Removing the recovery-code factor removes its codes.
 */
export async function removeUserFactor(deps: ServiceDeps, actor: AdminActor, tenantId: string, userId: string, factorId: string): Promise<{ type: FactorType }> {
  const now = deps.now();
  return deps.store.transaction(async (tx) => {
    const { t, user } = await reachUser(tx, actor, tenantId, userId);
    const factor = await t.factors.get(factorId);
    if (factor === null || factor.userId !== user.id) throw new PortcullisError('NOT_FOUND', 'No such factor.');
    if (factor.type === 'recovery_codes') await t.recoveryCodes.deleteForUser(user.id);
    if (!(await t.factors.delete(factor.id))) throw new PortcullisError('NOT_FOUND', 'No such factor.');
    const trustedDevicesRevoked = await t.trustedDevices.revokeAll(user.id);
    await downgradeSessionsUsing(t, user.id, [factor.id], now);
    await t.audit.append({
      at: now,
      actor: actorOf(actor),
      subject: factor.id,
      userId: user.id,
      event: removalEvent(factor.type),
      data: { type: factor.type, status: factor.status, label: factor.label, trustedDevicesRevoked, by: 'admin' },
    });
    return { type: factor.type };
  });
}

export type GraceInput = { readonly days: number } | { readonly until: number };

/**
 * Re-grants grace (AxisSynapse "grace granted"): the user may sign in without the required factor until then.
 * `days` counts from now (1-90); `until` is an instant at most 90 days ahead. Audits `mfa.grace_granted`.
 */
export async function grantGrace(deps: ServiceDeps, actor: AdminActor, tenantId: string, userId: string, input: GraceInput): Promise<{ graceUntil: number }> {
  const now = deps.now();
  let graceUntil: number;
  if ('days' in input) {
    if (!Number.isInteger(input.days) || input.days < 1 || input.days > MAX_GRACE_DAYS) {
      throw new PortcullisError('INVALID_REQUEST', `days must be a whole number from 1 to ${MAX_GRACE_DAYS}.`);
    }
    graceUntil = now + input.days * DAY_MS;
  } else {
    graceUntil = checkFuture(input.until, now, 'until');
    if (graceUntil > now + MAX_GRACE_DAYS * DAY_MS) throw new PortcullisError('INVALID_REQUEST', `until is too far ahead (at most ${MAX_GRACE_DAYS} days).`);
  }
  return deps.store.transaction(async (tx) => {
    const { t, user } = await reachUser(tx, actor, tenantId, userId);
    await t.users.update(user.id, { graceUntil }, now);
    await t.audit.append({
      at: now,
      actor: actorOf(actor),
      subject: user.id,
      userId: user.id,
      event: 'mfa.grace_granted',
      data: { graceUntil: isoOf(graceUntil), previous: user.graceUntil === null ? null : isoOf(user.graceUntil), ...('days' in input ? { days: input.days } : {}) },
    });
    return { graceUntil };
  });
}

/**
 * Lifts an account lock (SECURITY rule 3: after 100 consecutive failures an account stays locked until a reset
 * from an authenticated session — an admin's) and the unknown-device lock of smart lockout. Clears both of the
 * user's failure counts and every factor's, audited.
 */
export async function unlockUser(deps: ServiceDeps, actor: AdminActor, tenantId: string, userId: string): Promise<{ wasLocked: boolean }> {
  const now = deps.now();
  return deps.store.transaction(async (tx) => {
    const { t, user } = await reachUser(tx, actor, tenantId, userId);
    const accountLocked = user.lockedUntil !== null && user.lockedUntil > now;
    const unknownDeviceLocked = user.unknownDeviceLockedUntil !== null && user.unknownDeviceLockedUntil > now;
    const wasLocked = accountLocked || unknownDeviceLocked;
    await t.users.unlock(user.id);
    for (const factor of await t.factors.listForUser(user.id)) await t.factors.resetFailures(factor.id);
    await t.audit.append({ at: now, actor: actorOf(actor), subject: user.id, userId: user.id, event: 'user.unlocked', data: { wasLocked, failures: user.failedSignins, accountLocked, unknownDeviceLocked, unknownDeviceFailures: user.unknownDeviceFailures } });
    return { wasLocked };
  });
}
