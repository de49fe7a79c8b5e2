/**
 * Which of our login sessions stands behind a provider grant. oidc-provider keeps its own session (a cookie) and
 * grants per client; ours are the login sessions of src/services/login-sessions.ts, one per application. A grant
 * is bound to the login session that earned it when the interaction finishes, and the provider honours the grant
 * only while that session is live and of the grant's own client:
 *
 * - an authorization request meets the login prompt again when this client has no live bound session (revoked by
 *   the user or an administrator, expired, or never earned at this application — a provider session from
 *   another application does not carry over: each application's sign-in runs its own decision and policy);
 * - a code exchange, a refresh and userinfo are refused once the bound session is gone;
 * - the bound session's current `acr` (lowered when a factor it relied on is removed) caps the provider
 *   session's for `acr_values`.
 */
import type { LoginSessionRecord } from '../../store/index.ts';
import type { OidcPayloadRepository } from '../../store/index.ts';
import type { ServiceDeps } from '../../services/deps.ts';
import { isLive } from '../../services/login-sessions.ts';

const MODEL = 'PortcullisGrantSession';

export interface GrantSessions {
  /**
   * Binds `grantId` (of `clientId`) to the login session `sessionId` of `tenantId` until that session expires.
   * `issued`: the session's expiry when the caller holds the session as this very request issued it (read
   * otherwise, which also proves it still exists).
   */
  bind(grantId: string, binding: { clientId: string; tenantId: string; sessionId: string }, issued?: { expiresAt: number }): Promise<void>;
  /** The live login session bound to `grantId` for `clientId`, or null. */
  liveSession(grantId: string | undefined, clientId: string): Promise<LoginSessionRecord | null>;
}

export function grantSessions(deps: ServiceDeps, payloads: OidcPayloadRepository): GrantSessions {
  return {
    async bind(grantId, binding, issued) {
      const session = issued ?? (await deps.store.forTenant(binding.tenantId).loginSessions.get(binding.sessionId));
      if (session === null) throw new Error('A grant bound to a login session that does not exist.');
      await payloads.upsert(MODEL, grantId, { ...binding }, session.expiresAt);
    },
    async liveSession(grantId, clientId) {
      if (grantId === undefined) return null;
      const now = deps.now();
      const found = await payloads.find(MODEL, grantId, now);
      const { clientId: boundClient, tenantId, sessionId } = found?.payload ?? {};
      if (boundClient !== clientId || typeof tenantId !== 'string' || typeof sessionId !== 'string') return null;
      const session = await deps.store.forTenant(tenantId).loginSessions.get(sessionId);
      return session !== null && isLive(session, now) ? session : null;
    },
  };
}
