/**
 * Rolling out `enrollment: required` (issue "Adaptive MFA"): by default users without an acceptable factor meet the
 * enrollment wall at their next sign-in and their live sessions go on (DESIGN §2: "sessions already issued are not
 * interrupted"). The admin may instead end those sessions now: every live login session of the tenant whose user,
 * under the policy just saved (as that session's application resolves it, the user's override included), would
 * be sent to enrollment — `decide` says `enroll` in a clean context — is revoked, each audited `session.revoked`
 * in the saving transaction. Users in grace, exempt users and users holding enough acceptable factors keep theirs.
 */
import { decide, type DecisionUser } from '../../core/index.ts';
import type { ApplicationRecord, Store } from '../../store/index.ts';
import { loadPolicy, loadUserFactors } from '../decision-service.ts';
import { actorOf, type AdminActor } from '../deps.ts';

/** What an admin chooses for users left without an acceptable factor by a save. */
export type NonCompliantMode = 'wall' | 'revoke_sessions';

export interface RolloutResult {
  readonly mode: NonCompliantMode;
  readonly sessionsRevoked: number;
  readonly usersAffected: readonly string[];
}

/** Revokes the tenant's live sessions of users the saved policy walls (inside the saving transaction). */
export async function revokeNonCompliantSessions(tx: Store, actor: AdminActor, tenantId: string, version: number, now: number): Promise<RolloutResult> {
  const t = tx.forTenant(tenantId);
  const sessions = await t.loginSessions.listLiveForTenant(now);
  const applications = new Map<string, ApplicationRecord | null>();
  const verdicts = new Map<string, boolean>();
  const affected = new Set<string>();
  let revoked = 0;
  for (const session of sessions) {
    const key = `${session.applicationId}\u0000${session.userId}`;
    let walled = verdicts.get(key);
    if (walled === undefined) {
      if (!applications.has(session.applicationId)) applications.set(session.applicationId, await tx.applications.get(session.applicationId));
      const application = applications.get(session.applicationId) ?? null;
      const user = await t.users.get(session.userId);
      if (application === null || user === null) walled = false;
      else {
        const policy = await loadPolicy(t, application, user.id, now);
        const decisionUser: DecisionUser = { id: user.id, roles: user.roles, factors: await loadUserFactors(t, user.id), firstSignInAt: user.firstSignInAt, graceUntil: user.graceUntil, hasPhone: user.phone !== null, exemptUntil: user.exemptUntil, completedMfaBefore: user.lastMfaAt !== null };
        const decision = decide({
          policy,
          application: { id: application.id, name: application.name, firstParty: application.firstParty },
          user: decisionUser,
          purpose: { kind: 'signin' },
          risk: { status: 'ok', score: 0, signals: [] },
          lastMfaAt: null,
          now,
        });
        walled = decision.outcome === 'enroll';
      }
      verdicts.set(key, walled);
    }
    if (!walled) continue;
    if (!(await t.loginSessions.revoke(session.id, now))) continue;
    revoked++;
    affected.add(session.userId);
    await t.audit.append({ at: now, actor: actorOf(actor), userId: session.userId, applicationId: session.applicationId, subject: session.id, event: 'session.revoked', data: { by: 'admin', reason: 'policy_rollout', policyVersion: version } });
  }
  return { mode: 'revoke_sessions', sessionsRevoked: revoked, usersAffected: [...affected] };
}
