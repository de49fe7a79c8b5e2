/** A tenant's MFA sessions, sign-in history and trusted devices over Kysely. */
import { flowStateJson, parseFlowState } from './flow-state.ts';
import { sql, type Selectable } from 'kysely';
import type { CompletedStep, FactorType } from '../core/index.ts';
import { factorRepository } from './factor-repositories.ts';
import { bool, changed, failureState, num, numOrNull, parseJsonArray, parseJsonObject, write, type Binding } from './kysely-support.ts';
import { userRepository } from './user-repository.ts';
import type { DeviceTrustsTable, LoginSessionsTable, MfaSessionsTable, SigninHistoryTable } from './schema.ts';
import type {
  LoginSessionRecord,
  LoginSessionRepository,
  MfaPurpose,
  MfaSessionRecord,
  MfaSessionRepository,
  MfaSessionStatus,
  SigninHistoryRepository,
  SigninOutcome,
  SessionStep,
  SigninRecord,
  TrustedDeviceRepository,
  RememberedDeviceRecord,
} from './types.ts';
import { ACCOUNT_FAILURE_LIMIT, FACTOR_COOL_DOWN_MS, FACTOR_FAILURE_LIMIT, LOCKED_UNTIL_RESET } from '../core/index.ts';

interface ReservedRow {
  attempts: number | string;
  factor_failures: number | string | null;
  factor_locked_until: number | string | null;
  account_failures: number | string | null;
  account_locked_until: number | string | null;
}

/** Maps an `mfa_sessions` row. */
export function toMfaSession(row: Selectable<MfaSessionsTable>): MfaSessionRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    userId: row.user_id,
    applicationId: row.application_id,
    purpose: row.purpose as MfaPurpose,
    action: row.action,
    methods: parseJsonArray<FactorType>(row.methods),
    state: parseFlowState(parseJsonObject(row.decision)),
    attempts: num(row.attempts),
    completed: parseJsonArray<CompletedStep>(row.completed),
    status: row.status as MfaSessionStatus,
    expiresAt: num(row.expires_at),
    createdAt: num(row.created_at),
    completedAt: numOrNull(row.completed_at),
    loginSessionId: row.login_session_id,
  };
}

/** A tenant's MFA sessions over Kysely. */
export function mfaSessionRepository(b: Binding, tenantId: string): MfaSessionRepository {
  const { db } = b;
  const scoped = () => db.updateTable('mfa_sessions').where('tenant_id', '=', tenantId);
  const recordAttempt = async (id: string, now: number, maxAttempts: number): Promise<number | null> => {
    const row = await scoped()
      .set({ attempts: sql<number>`attempts + 1` })
      .where('id', '=', id)
      .where('status', '=', 'open')
      .where('expires_at', '>', now)
      .where('attempts', '<', maxAttempts)
      .returning('attempts')
      .executeTakeFirst();
    return row === undefined ? null : num(row.attempts);
  };
  return {
    create: (input) =>
      write('The MFA session', async () =>
        toMfaSession(
          await db
            .insertInto('mfa_sessions')
            .values({
              id: input.id,
              tenant_id: tenantId,
              user_id: input.userId,
              application_id: input.applicationId,
              purpose: input.purpose,
              action: input.action ?? null,
              methods: JSON.stringify(input.methods),
              decision: flowStateJson(input.state),
              completed: JSON.stringify(input.completed ?? []),
              status: 'open',
              expires_at: input.expiresAt,
              created_at: input.now,
              completed_at: null,
              login_session_id: input.loginSessionId ?? null,
            })
            .returningAll()
            .executeTakeFirstOrThrow(),
        ),
      ),
    get: async (id) => {
      const row = await db.selectFrom('mfa_sessions').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
      return row === undefined ? null : toMfaSession(row);
    },
    // The attempt cap is in the WHERE clause: concurrent attempts can never exceed it.
    recordAttempt: (id, now, maxAttempts) => recordAttempt(id, now, maxAttempts),
    reserveAttempt: async (id, input) => {
      const { now, maxAttempts, factorId, userId } = input;
      if (b.dialect === 'sqlite') {
        const attempts = await recordAttempt(id, now, maxAttempts);
        if (attempts === null) return null;
        const factor = await factorRepository(b, tenantId).recordFailure(factorId, now);
        const account = await userRepository(b, tenantId).recordSigninFailure(userId, now);
        return { attempts, factor, account };
      }
      // The same three increments as one statement: the factor's and the account's run only when the session's
      // did (they read its RETURNING), each deciding its own lock as recordFailure/recordSigninFailure do.
      const factorLock = now + FACTOR_COOL_DOWN_MS;
      const result = await sql<ReservedRow>`
        with s as (
          update mfa_sessions set attempts = attempts + 1
          where tenant_id = ${tenantId} and id = ${id} and status = 'open' and expires_at > ${now} and attempts < ${maxAttempts}
          returning attempts
        ), f as (
          update factors set failed_count = failed_count + 1,
            locked_until = case when failed_count + 1 >= ${FACTOR_FAILURE_LIMIT} then ${factorLock} else locked_until end
          where tenant_id = ${tenantId} and id = ${factorId} and exists (select 1 from s)
          returning failed_count, locked_until
        ), u as (
          update users set failed_signins = failed_signins + 1,
            locked_until = case when failed_signins + 1 >= ${ACCOUNT_FAILURE_LIMIT} then ${LOCKED_UNTIL_RESET} else locked_until end
          where tenant_id = ${tenantId} and id = ${userId} and exists (select 1 from s)
          returning failed_signins, locked_until
        )
        select s.attempts, f.failed_count as factor_failures, f.locked_until as factor_locked_until,
               u.failed_signins as account_failures, u.locked_until as account_locked_until
        from s left join f on true left join u on true`.execute(db);
      const row = result.rows[0];
      if (row === undefined) return null;
      return {
        attempts: num(row.attempts),
        factor: row.factor_failures === null ? null : failureState({ failures: row.factor_failures, locked_until: row.factor_locked_until }, now),
        account: row.account_failures === null ? null : failureState({ failures: row.account_failures, locked_until: row.account_locked_until }, now),
      };
    },
    update: async (id, patch, now, expectedCompleted) => {
      const set: { methods?: string; decision?: string; completed?: string } = {};
      if (patch.methods !== undefined) set.methods = JSON.stringify(patch.methods);
      if (patch.state !== undefined) set.decision = flowStateJson(patch.state);
      if (patch.completed !== undefined) set.completed = JSON.stringify(patch.completed);
      let q = scoped().where('id', '=', id).where('status', '=', 'open').where('expires_at', '>', now);
      if (expectedCompleted !== undefined) q = q.where('completed', '=', JSON.stringify(expectedCompleted));
      if (Object.keys(set).length === 0) q = q.set({ status: 'open' });
      else q = q.set(set);
      return changed(await q.executeTakeFirst());
    },
    complete: async (id, now, expectedStatus = 'open') =>
      changed(
        await scoped()
          .set({ status: 'completed', completed_at: now })
          .where('id', '=', id)
          .where('status', '=', expectedStatus)
          .where('expires_at', '>', now)
          .executeTakeFirst(),
      ),
    setStatus: async (id, status, expectedStatus = 'open') =>
      changed(await scoped().set({ status }).where('id', '=', id).where('status', '=', expectedStatus).executeTakeFirst()),
  };
}

function toSignin(row: Selectable<SigninHistoryTable>): SigninRecord {
  return {
    id: num(row.id),
    tenantId: row.tenant_id,
    userId: row.user_id,
    applicationId: row.application_id,
    ip: row.ip,
    deviceId: row.device_id,
    userAgent: row.user_agent,
    country: row.country,
    latitude: row.latitude === null ? null : Number(row.latitude),
    longitude: row.longitude === null ? null : Number(row.longitude),
    outcome: row.outcome as SigninOutcome,
    at: num(row.at),
  };
}

/** A tenant's sign-in history over Kysely. */
export function signinHistoryRepository(b: Binding, tenantId: string): SigninHistoryRepository {
  const { db } = b;
  return {
    append: (input) =>
      write('The sign-in record', async () => {
        await db
          .insertInto('signin_history')
          .values({
            tenant_id: tenantId,
            user_id: input.userId,
            application_id: input.applicationId ?? null,
            ip: input.ip,
            device_id: input.deviceId,
            user_agent: input.userAgent,
            country: input.country ?? null,
            latitude: input.latitude ?? null,
            longitude: input.longitude ?? null,
            city: input.city ?? null,
            accuracy_km: input.accuracyKm ?? null,
            network_class: input.networkClass ?? null,
            outcome: input.outcome,
            at: input.at,
          })
          .execute();
      }),
    // One round trip for the new-device / new-IP / new-country signals. Written as one SQL text rather than
    // through the builder: it runs on every decision, and building four subqueries cost more than running them.
    priorSuccess: async (userId, context) => {
      const base = sql`select 1 from signin_history where tenant_id = ${tenantId} and user_id = ${userId} and outcome = 'succeeded'`;
      const seen = (column: 'device_id' | 'ip' | 'country', value: string | null | undefined) =>
        value === null || value === undefined ? sql`0` : sql`exists(${base} and ${sql.ref(column)} = ${value})`;
      const result = await sql<{ any_success: unknown; device: unknown; ip: unknown; country: unknown }>`select exists(${base}) as any_success, ${seen('device_id', context.deviceId)} as device, ${seen('ip', context.ip)} as ip, ${seen('country', context.country)} as country`.execute(db);
      const row = result.rows[0];
      return { any: bool(row?.any_success), device: bool(row?.device), ip: bool(row?.ip), country: bool(row?.country) };
    },
    lastSuccess: async (userId) => {
      const row = await db
        .selectFrom('signin_history')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('user_id', '=', userId)
        .where('outcome', '=', 'succeeded')
        .orderBy('at', 'desc')
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
      return row === undefined ? null : toSignin(row);
    },
    listRecent: async (userId, limit = 20) =>
      (
        await db
          .selectFrom('signin_history')
          .selectAll()
          .where('tenant_id', '=', tenantId)
          .where('user_id', '=', userId)
          .orderBy('at', 'desc')
          .orderBy('id', 'desc')
          .limit(Math.min(1000, Math.max(1, Math.trunc(limit))))
          .execute()
      ).map(toSignin),
  };
}

/** A tenant's trusted devices over Kysely. */
export function trustedDeviceRepository(b: Binding, tenantId: string): TrustedDeviceRepository {
  const { db } = b;
  return {
    upsert: (userId, deviceId, trustedAt) =>
      write('The trusted device', async () => {
        await db
          .insertInto('trusted_devices')
          .values({ tenant_id: tenantId, user_id: userId, device_id: deviceId, trusted_at: trustedAt })
          .onConflict((oc) => oc.columns(['tenant_id', 'user_id', 'device_id']).doUpdateSet({ trusted_at: (eb) => eb.ref('excluded.trusted_at') }))
          .execute();
      }),
    get: async (userId, deviceId) => {
      const row = await db
        .selectFrom('trusted_devices')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('user_id', '=', userId)
        .where('device_id', '=', deviceId)
        .executeTakeFirst();
      return row === undefined ? null : { userId: row.user_id, deviceId: row.device_id, trustedAt: num(row.trusted_at) };
    },
    revoke: async (userId, deviceId) =>
      changed(
        await db
          .deleteFrom('trusted_devices')
          .where('tenant_id', '=', tenantId)
          .where('user_id', '=', userId)
          .where('device_id', '=', deviceId)
          .executeTakeFirst(),
      ),
    revokeAll: async (userId) => {
      const result = await db.deleteFrom('trusted_devices').where('tenant_id', '=', tenantId).where('user_id', '=', userId).executeTakeFirst();
      const remembered = await db.deleteFrom('device_trusts').where('tenant_id', '=', tenantId).where('user_id', '=', userId).executeTakeFirst();
      return Number(result.numDeletedRows) + Number(remembered.numDeletedRows);
    },
    remember: (d) =>
      write('The remembered device', async () => {
        await db
          .insertInto('device_trusts')
          .values({ tenant_id: tenantId, id: d.id, user_id: d.userId, application_id: d.applicationId, token_hash: d.tokenHash, mfa_at: d.mfaAt, created_at: d.now, last_used_at: null, user_agent: d.userAgent, ip: d.ip })
          .execute();
      }),
    findRemembered: async (tokenHash) => {
      const row = await db.selectFrom('device_trusts').selectAll().where('tenant_id', '=', tenantId).where('token_hash', '=', tokenHash).executeTakeFirst();
      return row === undefined ? null : toRemembered(row);
    },
    rotateRemembered: async (id, oldHash, newHash, now, mfaAt) =>
      changed(
        await db
          .updateTable('device_trusts')
          .set({ token_hash: newHash, last_used_at: now, ...(mfaAt === undefined ? {} : { mfa_at: mfaAt }) })
          .where('tenant_id', '=', tenantId)
          .where('id', '=', id)
          .where('token_hash', '=', oldHash)
          .executeTakeFirst(),
      ),
    listRemembered: async (userId) =>
      (await db.selectFrom('device_trusts').selectAll().where('tenant_id', '=', tenantId).where('user_id', '=', userId).orderBy('created_at', 'desc').orderBy('id').execute()).map(toRemembered),
    forgetRemembered: async (userId, id) =>
      changed(await db.deleteFrom('device_trusts').where('tenant_id', '=', tenantId).where('user_id', '=', userId).where('id', '=', id).executeTakeFirst()),
  };
}

function toRemembered(row: Selectable<DeviceTrustsTable>): RememberedDeviceRecord {
  return {
    id: row.id,
    userId: row.user_id,
    applicationId: row.application_id,
    tokenHash: row.token_hash,
    mfaAt: num(row.mfa_at),
    createdAt: num(row.created_at),
    lastUsedAt: numOrNull(row.last_used_at),
    userAgent: row.user_agent,
    ip: row.ip,
  };
}

function toLoginSession(row: Selectable<LoginSessionsTable>): LoginSessionRecord {
  const grants: Record<string, number> = {};
  for (const [action, at] of Object.entries(parseJsonObject(row.grants) ?? {})) if (typeof at === 'number') grants[action] = at;
  return {
    id: row.id,
    tenantId: row.tenant_id,
    userId: row.user_id,
    applicationId: row.application_id,
    tokenHash: row.token_hash,
    amr: parseJsonArray<string>(row.amr),
    acr: row.acr,
    authTime: num(row.auth_time),
    mfaAt: numOrNull(row.mfa_at),
    steps: parseJsonArray<SessionStep>(row.factors),
    grants,
    deviceId: row.device_id,
    ip: row.ip,
    userAgent: row.user_agent,
    createdAt: num(row.created_at),
    lastSeenAt: num(row.last_seen_at),
    expiresAt: num(row.expires_at),
    revokedAt: numOrNull(row.revoked_at),
  };
}

/** A tenant's login sessions over Kysely; every change is conditional on the session being live. */
export function loginSessionRepository(b: Binding, tenantId: string): LoginSessionRepository {
  const { db } = b;
  const live = (now: number) => db.updateTable('login_sessions').where('tenant_id', '=', tenantId).where('revoked_at', 'is', null).where('expires_at', '>', now);
  return {
    create: (input) =>
      write('The session', async () =>
        toLoginSession(
          await db
            .insertInto('login_sessions')
            .values({
              id: input.id,
              tenant_id: tenantId,
              user_id: input.userId,
              application_id: input.applicationId,
              token_hash: input.tokenHash,
              amr: JSON.stringify(input.amr),
              acr: input.acr,
              auth_time: input.authTime,
              mfa_at: input.mfaAt,
              factors: JSON.stringify(input.steps),
              grants: '{}',
              device_id: input.deviceId,
              ip: input.ip,
              user_agent: input.userAgent,
              created_at: input.now,
              last_seen_at: input.now,
              expires_at: input.expiresAt,
              revoked_at: null,
            })
            .returningAll()
            .executeTakeFirstOrThrow(),
        ),
      ),
    get: async (id) => {
      const row = await db.selectFrom('login_sessions').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
      return row === undefined ? null : toLoginSession(row);
    },
    findByTokenHash: async (tokenHash) => {
      const row = await db.selectFrom('login_sessions').selectAll().where('tenant_id', '=', tenantId).where('token_hash', '=', tokenHash).executeTakeFirst();
      return row === undefined ? null : toLoginSession(row);
    },
    listLive: async (userId, now, applicationId) => {
      let q = db
        .selectFrom('login_sessions')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now);
      if (applicationId !== undefined) q = q.where('application_id', '=', applicationId);
      return (await q.orderBy('created_at', 'desc').orderBy('id').execute()).map(toLoginSession);
    },
    listLiveForTenant: async (now) =>
      (await db.selectFrom('login_sessions').selectAll().where('tenant_id', '=', tenantId).where('revoked_at', 'is', null).where('expires_at', '>', now).orderBy('created_at').orderBy('id').execute()).map(toLoginSession),
    update: (id, patch, now, expectedTokenHash) =>
      write('The session', async () => {
        let q = live(now)
          .set({
            ...(patch.tokenHash === undefined ? {} : { token_hash: patch.tokenHash }),
            ...(patch.amr === undefined ? {} : { amr: JSON.stringify(patch.amr) }),
            ...(patch.acr === undefined ? {} : { acr: patch.acr }),
            ...(patch.mfaAt === undefined ? {} : { mfa_at: patch.mfaAt }),
            ...(patch.steps === undefined ? {} : { factors: JSON.stringify(patch.steps) }),
            ...(patch.grants === undefined ? {} : { grants: JSON.stringify(patch.grants) }),
            last_seen_at: now,
          })
          .where('id', '=', id);
        if (expectedTokenHash !== undefined) q = q.where('token_hash', '=', expectedTokenHash);
        return changed(await q.executeTakeFirst());
      }),
    revoke: async (id, now) => changed(await live(now).set({ revoked_at: now }).where('id', '=', id).executeTakeFirst()),
    revokeAllForUser: async (userId, now, applicationId) => {
      let q = live(now).set({ revoked_at: now }).where('user_id', '=', userId);
      if (applicationId !== undefined) q = q.where('application_id', '=', applicationId);
      return Number((await q.executeTakeFirst()).numUpdatedRows ?? 0n);
    },
  };
}
