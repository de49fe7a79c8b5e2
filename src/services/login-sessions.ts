import { randomUUID } from 'node:crypto';
import { acrOf, amrOf, assuranceOf, PortcullisError, type CompletedStep } from '../core/index.ts';
import type { LoginSessionRecord, SessionStep, TenantStore, UserRecord } from '../store/index.ts';
import type { ServiceDeps } from './deps.ts';
import { issueToken, parseToken } from '../factors/tokens.ts';
import { servesTenant, type Caller } from './tenant-access.ts';

/** A login session lives this long from its creation (absolute; a step-up does not extend it). */
export const LOGIN_SESSION_TTL_MS = 12 * 60 * 60_000;

/** The action whose freshness the user's privileged acts (add or remove a factor, regenerate codes) need. */
export const MANAGE_MFA_ACTION = 'manage-mfa';

/** What a caller sees of a login session; `token` only when one is issued (at creation and rotation). */
export interface SessionView {
  readonly id: string;
  readonly token?: string;
  readonly amr: readonly string[];
  readonly acr: string;
  readonly authTime: string;
  readonly expiresAt: string;
}

export function viewSession(session: LoginSessionRecord, token?: string): SessionView {
  return {
    id: session.id,
    ...(token === undefined ? {} : { token }),
    amr: session.amr,
    acr: session.acr,
    authTime: new Date(session.authTime).toISOString(),
    expiresAt: new Date(session.expiresAt).toISOString(),
  };
}

/** The steps a session remembers: each method with the factor that answered it. */
export function stepsOf(completed: readonly CompletedStep[]): SessionStep[] {
  return completed.map((s) => ({
    method: s.method,
    factorId: s.factorId ?? null,
    ...(s.userVerified === undefined ? {} : { userVerified: s.userVerified }),
    ...(s.synced === undefined ? {} : { synced: s.synced }),
  }));
}

/** The amr, acr and MFA time of a set of steps. */
export function assuranceOfSteps(steps: readonly SessionStep[], mfaAt: number | null): { amr: string[]; acr: string; mfaAt: number | null } {
  const level = assuranceOf(steps);
  return { amr: amrOf(steps), acr: acrOf(level), mfaAt: level > 1 ? mfaAt : null };
}

/** A new login session, written through `t` (the transaction that completes the flow). */
export async function createLoginSession(
  t: TenantStore,
  input: { user: UserRecord; applicationId: string; completed: readonly CompletedStep[]; deviceKey: string | null; ip: string | null; userAgent: string | null; now: number },
): Promise<{ session: LoginSessionRecord; token: string }> {
  const { token, id: tokenHash } = issueToken('ses', t.tenantId);
  const steps = stepsOf(input.completed);
  const { amr, acr, mfaAt } = assuranceOfSteps(steps, input.now);
  const session = await t.loginSessions.create({
    id: randomUUID(),
    tokenHash,
    userId: input.user.id,
    applicationId: input.applicationId,
    amr,
    acr,
    authTime: input.now,
    mfaAt,
    steps,
    deviceId: input.deviceKey,
    ip: input.ip,
    userAgent: input.userAgent,
    expiresAt: input.now + LOGIN_SESSION_TTL_MS,
    now: input.now,
  });
  return { session, token };
}

/** Not revoked and not expired at `now`. */
export function isLive(session: LoginSessionRecord, now: number): boolean {
  return session.revokedAt === null && session.expiresAt > now;
}

/**
 * The live login session a token names, of the calling application, in a tenant the application serves, with its
 * user. Anything else — another application's session, a revoked or expired one, a malformed token — is
 * `SESSION_NOT_FOUND`: an application learns nothing of sessions it does not hold.
 */
export async function openLoginSession(deps: ServiceDeps, caller: Caller, token: string | undefined): Promise<{ tenant: TenantStore; session: LoginSessionRecord; user: UserRecord; token: string }> {
  if (token === undefined) throw new PortcullisError('SESSION_REQUIRED', 'This call acts for a signed-in user: send the session token in the X-Portcullis-Session header.');
  const parsed = parseToken('ses', token);
  if (parsed === null) throw notFound();
  if (!(await servesTenant(deps, caller, parsed.tenantId))) throw notFound();
  const tenant = deps.store.forTenant(parsed.tenantId);
  const session = await tenant.loginSessions.findByTokenHash(parsed.id);
  if (session === null || session.applicationId !== caller.application.id || !isLive(session, deps.now())) throw notFound();
  const user = await tenant.users.get(session.userId);
  if (user === null) throw notFound();
  return { tenant, session, user, token };
}

function notFound(): PortcullisError {
  return new PortcullisError('SESSION_NOT_FOUND', 'No such session: it is unknown, expired or revoked.');
}

/** When the session last proved a second factor good for `action`: its sign-in MFA or a step-up grant for it. */
export function freshnessFor(session: LoginSessionRecord, action: string): number | null {
  const grant = session.grants[action] ?? null;
  if (session.mfaAt === null) return grant;
  return grant === null ? session.mfaAt : Math.max(grant, session.mfaAt);
}

/**
 * After a factor is removed (by the user or an administrator), every live session that relied on it loses that
 * step: its amr/acr are recomputed from what remains, and a session left without a second factor loses its MFA time
 * and its step-up grants (DESIGN §5; Supabase #2615). Runs inside the removing transaction.
 */
export async function downgradeSessionsUsing(t: TenantStore, userId: string, factorIds: readonly string[], now: number): Promise<number> {
  const gone = new Set(factorIds);
  let lowered = 0;
  for (const session of await t.loginSessions.listLive(userId, now)) {
    if (!session.steps.some((s) => s.factorId !== null && gone.has(s.factorId))) continue;
    const steps = session.steps.filter((s) => s.factorId === null || !gone.has(s.factorId));
    const { amr, acr, mfaAt } = assuranceOfSteps(steps, session.mfaAt);
    await t.loginSessions.update(session.id, { steps, amr, acr, mfaAt, ...(mfaAt === null ? { grants: {} } : {}) }, now);
    lowered++;
  }
  return lowered;
}
