import { PortcullisError } from '../core/index.ts';
import type { LoginSessionRecord } from '../store/index.ts';
import type { AdminActor, ServiceDeps } from './deps.ts';
import { actorOf as adminActorOf } from './deps.ts';
import { reachUser } from './admin/access.ts';
import { actorOf } from './flow-service.ts';
import { openLoginSession } from './login-sessions.ts';
import { servesTenant, type Caller } from './tenant-access.ts';

/** What a listing shows of a session (never its token). */
export interface SessionListing {
  readonly id: string;
  readonly applicationId: string;
  readonly amr: readonly string[];
  readonly acr: string;
  readonly authTime: string;
  readonly mfaAt: string | null;
  readonly stepUps: Readonly<Record<string, string>>;
  readonly ip: string | null;
  readonly userAgent: string | null;
  readonly createdAt: string;
  readonly lastSeenAt: string;
  readonly expiresAt: string;
  readonly current?: boolean;
}

const TENANT_ID = /^[A-Za-z0-9-]{1,64}$/;

const iso = (ms: number): string => new Date(ms).toISOString();

export function listingOf(s: LoginSessionRecord, currentId?: string): SessionListing {
  return {
    id: s.id,
    applicationId: s.applicationId,
    amr: s.amr,
    acr: s.acr,
    authTime: iso(s.authTime),
    mfaAt: s.mfaAt === null ? null : iso(s.mfaAt),
    stepUps: Object.fromEntries(Object.entries(s.grants).map(([action, at]) => [action, iso(at)])),
    ip: s.ip,
    userAgent: s.userAgent,
    createdAt: iso(s.createdAt),
    lastSeenAt: iso(s.lastSeenAt),
    expiresAt: iso(s.expiresAt),
    ...(currentId === undefined ? {} : { current: s.id === currentId }),
  };
}

/** The user's live sessions at the calling application (another application's sessions are not its to see). */
export async function listOwnSessions(deps: ServiceDeps, caller: Caller, sessionToken: string | undefined): Promise<{ sessions: SessionListing[] }> {
  const { tenant, session, user } = await openLoginSession(deps, caller, sessionToken);
  const sessions = await tenant.loginSessions.listLive(user.id, deps.now(), caller.application.id);
  return { sessions: sessions.map((s) => listingOf(s, session.id)) };
}

/** Revokes one of the user's sessions at the calling application (sign out here, or of another device). */
export async function revokeOwnSession(deps: ServiceDeps, caller: Caller, sessionToken: string | undefined, sessionId: string): Promise<{ revoked: true }> {
  const { tenant, user } = await openLoginSession(deps, caller, sessionToken);
  const now = deps.now();
  const target = await tenant.loginSessions.get(sessionId);
  if (target === null || target.userId !== user.id || target.applicationId !== caller.application.id) throw new PortcullisError('SESSION_NOT_FOUND', 'No such session.');
  const revoked = await deps.store.transaction(async (tx) => {
    const t = tx.forTenant(tenant.tenantId);
    if (!(await t.loginSessions.revoke(target.id, now))) return false;
    await t.audit.append({ at: now, actor: actorOf(caller), userId: user.id, applicationId: caller.application.id, subject: target.id, event: 'session.revoked', data: { by: 'user' } });
    return true;
  });
  if (!revoked) throw new PortcullisError('SESSION_NOT_FOUND', 'No such session.');
  return { revoked: true };
}

/**
 * Introspection (in the manner of RFC 7662): whether a session token or a session id (`sid`) of the calling
 * application is live, and what it holds. Anything not live, or not the caller's, is `{ active: false }`.
 */
export async function introspectSession(deps: ServiceDeps, caller: Caller, input: { token?: string; sid?: string; tenant?: string }): Promise<{ active: boolean } & Partial<Record<string, unknown>>> {
  const inactive = { active: false };
  const now = deps.now();
  let session: LoginSessionRecord | null;
  if (input.token !== undefined) {
    try {
      session = (await openLoginSession(deps, caller, input.token)).session;
    } catch (error) {
      if (error instanceof PortcullisError && error.code === 'SESSION_NOT_FOUND') return inactive;
      throw error;
    }
  } else if (input.sid !== undefined && input.tenant !== undefined) {
    if (!TENANT_ID.test(input.tenant) || !(await servesTenant(deps, caller, input.tenant))) return inactive;
    session = await deps.store.forTenant(input.tenant).loginSessions.get(input.sid);
  } else {
    throw new PortcullisError('INVALID_REQUEST', 'Give the session token, or its sid with the tenant id.');
  }
  if (session === null || session.applicationId !== caller.application.id || session.revokedAt !== null || session.expiresAt <= now) return inactive;
  return {
    active: true,
    sid: session.id,
    sub: session.userId,
    tenant: session.tenantId,
    client_id: caller.application.clientId,
    amr: session.amr,
    acr: session.acr,
    auth_time: Math.floor(session.authTime / 1000),
    exp: Math.floor(session.expiresAt / 1000),
  };
}

/** An administrator's view of a user's live sessions, at every application. */
export async function listUserSessions(deps: ServiceDeps, admin: AdminActor, tenantId: string, userId: string): Promise<{ sessions: SessionListing[] }> {
  const { t } = await reachUser(deps.store, admin, tenantId, userId);
  return { sessions: (await t.loginSessions.listLive(userId, deps.now())).map((s) => listingOf(s)) };
}

/** An administrator revokes one session of a user, or all of them (`sessionId` null); audited. */
export async function revokeUserSessions(deps: ServiceDeps, admin: AdminActor, tenantId: string, userId: string, sessionId: string | null): Promise<{ revoked: number }> {
  const now = deps.now();
  return deps.store.transaction(async (tx) => {
    const { t } = await reachUser(tx, admin, tenantId, userId);
    let revoked: number;
    if (sessionId === null) {
      revoked = await t.loginSessions.revokeAllForUser(userId, now);
    } else {
      const target = await t.loginSessions.get(sessionId);
      if (target === null || target.userId !== userId) throw new PortcullisError('NOT_FOUND', 'No such session.');
      revoked = (await t.loginSessions.revoke(sessionId, now)) ? 1 : 0;
    }
    await t.audit.append({ at: now, actor: adminActorOf(admin), userId, subject: sessionId ?? userId, event: 'session.revoked', data: { by: 'admin', count: revoked } });
    return { revoked };
  });
}
