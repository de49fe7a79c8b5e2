/**
 * The account portal's use cases (src/http/account). The portal is a built-in first-party application of each
 * tenant — "Account", created on first use and assigned to that tenant only — so its users sign in through the
 * same services and the same decision as every other application (`signIn`, `verify`, the enrollment services),
 * the first-party floors apply (enrollment required, challenge always), and its login sessions are sessions of
 * that application: step-up freshness for the privileged acts is judged on them alone (DESIGN §1, §3).
 *
 * Everything here acts for the holder of a live login session of the portal application (`openLoginSession`), on
 * that session's user only; a session of another tenant's portal, or of any other application, is not found.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { PortcullisError, type FactorType } from '../core/index.ts';
import type { ApplicationRecord, SigninOutcome, TenantRecord } from '../store/index.ts';
import type { ServiceDeps } from './deps.ts';
import { actorOf } from './flow-service.ts';
import { openLoginSession } from './login-sessions.ts';
import type { Caller } from './tenant-access.ts';

/** The name of every tenant's built-in portal application. */
export const ACCOUNT_APPLICATION_NAME = 'Account';

/** Longest factor label a user may give. */
export const MAX_FACTOR_LABEL = 64;

/** The portal application's client id in a tenant: fixed, so every node finds (or creates) the same one. */
export function accountClientIdOf(tenantId: string): string {
  return `pcacct_${tenantId}`;
}

/**
 * The tenant a portal URL names (by slug) and its portal application, created on first use: first-party, assigned
 * to that one tenant, with a client secret nobody holds (the portal never calls the application API). `null` for
 * an unknown tenant. Creation is audited in the platform log like an administrator's.
 *
 * @example
 * const portal = await openAccountPortal(deps, 'acme');
 */
export async function openAccountPortal(deps: ServiceDeps, slug: string): Promise<{ tenant: TenantRecord; caller: Caller } | null> {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/i.test(slug)) return null;
  const catalog = await deps.store.catalog.current();
  const tenant = await catalog.tenantBySlug(slug);
  if (tenant === null) return null;
  const clientId = accountClientIdOf(tenant.id);
  const found = await catalog.applicationByClientId(clientId);
  if (found !== null && (await catalog.serves(found, tenant.id))) return { tenant, caller: { application: found } };
  const application = found ?? (await createPortalApplication(deps, tenant.id, clientId));
  return { tenant, caller: { application } };
}

/** The hash of a secret drawn and forgotten at once: the application API refuses every secret for the portal. */
function unusableSecretHash(): string {
  return createHash('sha256').update(randomBytes(32)).digest('hex');
}

async function createPortalApplication(deps: ServiceDeps, tenantId: string, clientId: string): Promise<ApplicationRecord> {
  const now = deps.now();
  try {
    return await deps.store.transaction(async (tx) => {
      const existing = await tx.applications.findByClientId(clientId);
      const application = existing ?? (await tx.applications.create({ id: randomUUID(), name: ACCOUNT_APPLICATION_NAME, firstParty: true, allTenants: false, clientId, clientSecretHash: unusableSecretHash(), now }));
      if (existing === null) {
        await tx.audit.append({ tenantId: null, at: now, actor: 'system:account-portal', subject: application.id, applicationId: application.id, event: 'application.created', data: { name: ACCOUNT_APPLICATION_NAME, firstParty: true, allTenants: false, clientId } });
      }
      if (await tx.applications.assignTenant(application.id, tenantId, now)) {
        await tx.forTenant(tenantId).audit.append({ at: now, actor: 'system:account-portal', subject: application.id, applicationId: application.id, event: 'application.tenant_assigned', data: { clientId } });
      }
      return application;
    });
  } catch (error) {
    // Two first visits at once: one creation wins the unique client id; the other reads what it made.
    const made = await deps.store.applications.findByClientId(clientId);
    if (made !== null && (await deps.store.applications.servesTenant(made.id, tenantId))) return made;
    throw error;
  }
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export interface AccountFactor {
  readonly id: string;
  readonly type: FactorType;
  readonly label: string;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
  /**
   * A WebAuthn credential's kind, from its backup eligibility at registration: `synced` (a multi-device passkey, in a
   * password manager or platform keychain) or `device_bound` (a security key or a single-device passkey); null for
   * other factor types.
   */
  readonly kind: 'synced' | 'device_bound' | null;
}

/** The kind of a WebAuthn factor row (`data.deviceType` as @simplewebauthn/server reported it). */
function credentialKindOf(factor: { readonly type: FactorType; readonly data: Readonly<Record<string, unknown>> | null }): AccountFactor['kind'] {
  if (factor.type !== 'webauthn') return null;
  return factor.data?.deviceType === 'multiDevice' ? 'synced' : 'device_bound';
}

export interface AccountOverview {
  readonly user: { readonly id: string; readonly email: string };
  /** Active factors, oldest first (recovery codes listed as one factor). */
  readonly factors: readonly AccountFactor[];
  readonly recoveryCodesRemaining: number;
  /** When this portal session last completed MFA (for step-up freshness), or null. */
  readonly mfaAt: string | null;
}

/** The signed-in user, their active factors and how many recovery codes remain; no secrets. */
export async function accountOverview(deps: ServiceDeps, caller: Caller, sessionToken: string | undefined): Promise<AccountOverview> {
  const { tenant, session, user } = await openLoginSession(deps, caller, sessionToken);
  const factors = await tenant.factors.listForUser(user.id, 'active');
  return {
    user: { id: user.id, email: user.email },
    factors: factors.map((f) => ({ id: f.id, type: f.type, label: f.label, createdAt: new Date(f.createdAt).toISOString(), lastUsedAt: iso(f.lastUsedAt), kind: credentialKindOf(f) })),
    recoveryCodesRemaining: await tenant.recoveryCodes.countRemaining(user.id),
    mfaAt: iso(session.mfaAt),
  };
}

/** A label as typed: trimmed, 1–64 characters, no control characters; otherwise `INVALID_REQUEST`. */
export function checkFactorLabel(label: unknown): string {
  const text = typeof label === 'string' ? label.normalize('NFC').trim() : '';
  // eslint-disable-next-line no-control-regex
  if (text === '' || [...text].length > MAX_FACTOR_LABEL || /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(text)) {
    throw new PortcullisError('INVALID_REQUEST', `A name is 1 to ${MAX_FACTOR_LABEL} characters, without control characters.`, { extra: { field: 'label' } });
  }
  return text;
}

/**
 * Renames one of the signed-in user's active factors (a label is not a credential: no step-up), audited
 * `mfa.factor_renamed` in the same transaction. Another user's factor, or a pending one, is `FACTOR_NOT_FOUND`.
 */
export async function renameOwnFactor(deps: ServiceDeps, caller: Caller, input: { sessionToken: string | undefined; factorId: string; label: unknown }): Promise<{ renamed: true; label: string }> {
  const { tenant, user } = await openLoginSession(deps, caller, input.sessionToken);
  const label = checkFactorLabel(input.label);
  const now = deps.now();
  const renamed = await deps.store.transaction(async (tx) => {
    const t = tx.forTenant(tenant.tenantId);
    const factor = await t.factors.get(input.factorId);
    if (factor === null || factor.userId !== user.id || factor.status !== 'active') return false;
    if (!(await t.factors.rename(factor.id, user.id, label))) return false;
    await t.audit.append({ at: now, actor: actorOf(caller), userId: user.id, applicationId: caller.application.id, subject: factor.id, event: 'mfa.factor_renamed', data: { type: factor.type } });
    return true;
  });
  if (!renamed) throw new PortcullisError('FACTOR_NOT_FOUND', 'No such factor.');
  return { renamed: true, label };
}

export interface AccountSession {
  readonly id: string;
  readonly application: string;
  readonly current: boolean;
  readonly acr: string;
  readonly amr: readonly string[];
  readonly createdAt: string;
  readonly lastSeenAt: string;
  readonly ip: string | null;
  readonly userAgent: string | null;
}

async function applicationNames(deps: ServiceDeps, ids: Iterable<string>): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  for (const id of new Set(ids)) names.set(id, (await deps.store.applications.get(id))?.name ?? '—');
  return names;
}

/**
 * The user's live sessions at every application of the tenant (the portal is first-party: the user sees where they
 * are signed in), newest first, the portal's own current session marked.
 */
export async function listAccountSessions(deps: ServiceDeps, caller: Caller, sessionToken: string | undefined): Promise<readonly AccountSession[]> {
  const { tenant, session, user } = await openLoginSession(deps, caller, sessionToken);
  const live = [...(await tenant.loginSessions.listLive(user.id, deps.now()))].sort((a, b) => b.createdAt - a.createdAt);
  const names = await applicationNames(deps, live.map((s) => s.applicationId));
  return live.map((s) => ({
    id: s.id,
    application: names.get(s.applicationId) ?? '—',
    current: s.id === session.id,
    acr: s.acr,
    amr: s.amr,
    createdAt: new Date(s.createdAt).toISOString(),
    lastSeenAt: new Date(s.lastSeenAt).toISOString(),
    ip: s.ip,
    userAgent: s.userAgent,
  }));
}

/**
 * Revokes one of the signed-in user's sessions, at any application (sign out there), audited `session.revoked`
 * in the same transaction. Another user's session, or an ended one, is `SESSION_NOT_FOUND`.
 */
export async function revokeAccountSession(deps: ServiceDeps, caller: Caller, sessionToken: string | undefined, sessionId: string): Promise<{ revoked: true; current: boolean }> {
  const { tenant, session, user } = await openLoginSession(deps, caller, sessionToken);
  const now = deps.now();
  const revoked = await deps.store.transaction(async (tx) => {
    const t = tx.forTenant(tenant.tenantId);
    const target = await t.loginSessions.get(sessionId);
    if (target === null || target.userId !== user.id) return false;
    if (!(await t.loginSessions.revoke(target.id, now))) return false;
    await t.audit.append({ at: now, actor: actorOf(caller), userId: user.id, applicationId: target.applicationId, subject: target.id, event: 'session.revoked', data: { by: 'user', via: 'account_portal' } });
    return true;
  });
  if (!revoked) throw new PortcullisError('SESSION_NOT_FOUND', 'No such session.');
  return { revoked: true, current: sessionId === session.id };
}

export interface SigninActivity {
  readonly at: string;
  readonly application: string;
  readonly outcome: SigninOutcome;
  readonly ip: string | null;
  readonly country: string | null;
  readonly userAgent: string | null;
  /** Whether the attempt came from the device this portal session runs on. */
  readonly thisDevice: boolean;
}

/** The user's latest sign-in attempts (the sign-in history the risk engine reads), newest first. */
export async function listSigninActivity(deps: ServiceDeps, caller: Caller, sessionToken: string | undefined, limit = 20): Promise<readonly SigninActivity[]> {
  const { tenant, session, user } = await openLoginSession(deps, caller, sessionToken);
  const recent = await tenant.signins.listRecent(user.id, limit);
  const names = await applicationNames(deps, recent.flatMap((r) => (r.applicationId === null ? [] : [r.applicationId])));
  return recent.map((r) => ({
    at: new Date(r.at).toISOString(),
    application: r.applicationId === null ? '—' : (names.get(r.applicationId) ?? '—'),
    outcome: r.outcome,
    ip: r.ip,
    country: r.country,
    userAgent: r.userAgent,
    thisDevice: r.deviceId !== null && r.deviceId === session.deviceId,
  }));
}
