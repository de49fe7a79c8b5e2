/** A tenant's users over Kysely; every query carries `tenant_id`. */
import { randomUUID } from 'node:crypto';
import { sql, type Selectable, type Updateable } from 'kysely';
import { bool, changed, failureState, normalizeEmail, num, numOrNull, pageSize, parseJsonArray, textCursor, toPage, write, type Binding } from './kysely-support.ts';
import type { UsersTable } from './schema.ts';
import { ACCOUNT_FAILURE_LIMIT, LOCKED_UNTIL_RESET } from '../core/index.ts';
import type { UserPatch, UserRecord, UserRepository } from './types.ts';

function toUser(row: Selectable<UsersTable>): UserRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    email: row.email,
    emailVerified: num(row.email_verified) === 1,
    phone: row.phone,
    roles: parseJsonArray<string>(row.roles),
    passwordHash: row.password_hash,
    externalId: row.external_id,
    firstSignInAt: numOrNull(row.first_sign_in_at),
    graceUntil: numOrNull(row.grace_until),
    exemptUntil: numOrNull(row.exempt_until),
    lastMfaAt: numOrNull(row.last_mfa_at),
    failedSignins: num(row.failed_signins),
    lockedUntil: numOrNull(row.locked_until),
    unknownDeviceFailures: num(row.unknown_device_failures),
    unknownDeviceLockedUntil: numOrNull(row.unknown_device_locked_until),
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
  };
}

type UserColumns = Partial<Omit<Updateable<UsersTable>, 'id' | 'tenant_id'>>;

function patchColumns(patch: UserPatch): UserColumns {
  const set: { -readonly [K in keyof UserColumns]: UserColumns[K] } = {};
  if (patch.email !== undefined) set.email = normalizeEmail(patch.email);
  if (patch.emailVerified !== undefined) set.email_verified = patch.emailVerified ? 1 : 0;
  if (patch.phone !== undefined) set.phone = patch.phone;
  if (patch.roles !== undefined) set.roles = JSON.stringify(patch.roles);
  if (patch.passwordHash !== undefined) set.password_hash = patch.passwordHash;
  if (patch.externalId !== undefined) set.external_id = patch.externalId;
  if (patch.graceUntil !== undefined) set.grace_until = patch.graceUntil;
  if (patch.exemptUntil !== undefined) set.exempt_until = patch.exemptUntil;
  return set;
}

/** A tenant's users over Kysely. */
export function userRepository(b: Binding, tenantId: string): UserRepository {
  const { db } = b;
  const one = async (column: 'id' | 'email' | 'external_id', value: string): Promise<UserRecord | null> => {
    const row = await db.selectFrom('users').selectAll().where('tenant_id', '=', tenantId).where(column, '=', value).executeTakeFirst();
    return row === undefined ? null : toUser(row);
  };
  return {
    create: (input) =>
      write('The user', async () =>
        toUser(
          await db
            .insertInto('users')
            .values({
              id: input.id ?? randomUUID(),
              tenant_id: tenantId,
              email: normalizeEmail(input.email),
              email_verified: input.emailVerified === true ? 1 : 0,
              phone: input.phone ?? null,
              roles: JSON.stringify(input.roles ?? []),
              password_hash: input.passwordHash ?? null,
              external_id: input.externalId ?? null,
              first_sign_in_at: null,
              grace_until: input.graceUntil ?? null,
              exempt_until: input.exemptUntil ?? null,
              last_mfa_at: null,
              locked_until: null,
              created_at: input.now,
              updated_at: input.now,
            })
            .returningAll()
            .executeTakeFirstOrThrow(),
        ),
      ),
    get: (id) => one('id', id),
    findByEmail: (email) => one('email', normalizeEmail(email)),
    findByExternalId: (externalId) => one('external_id', externalId),
    list: async (options) => {
      const limit = pageSize(options?.limit);
      const cursor = textCursor(options);
      let q = db.selectFrom('users').selectAll().where('tenant_id', '=', tenantId).orderBy('id').limit(limit + 1);
      if (cursor !== null) q = q.where('id', '>', cursor);
      return toPage(await q.execute(), limit, toUser, (r) => r.id);
    },
    listAll: async () => (await db.selectFrom('users').selectAll().where('tenant_id', '=', tenantId).orderBy('id').execute()).map(toUser),
    update: (id, patch, now) =>
      write('The user', async () => {
        const row = await db
          .updateTable('users')
          .set({ ...patchColumns(patch), updated_at: now })
          .where('tenant_id', '=', tenantId)
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst();
        return row === undefined ? null : toUser(row);
      }),
    delete: async (id) => changed(await db.deleteFrom('users').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst()),
    setFirstSignIn: async (id, at) =>
      changed(
        await db
          .updateTable('users')
          .set({ first_sign_in_at: at })
          .where('tenant_id', '=', tenantId)
          .where('id', '=', id)
          .where('first_sign_in_at', 'is', null)
          .executeTakeFirst(),
      ),
    completeSignin: async (id, at, options) => {
      const open = sql<boolean>`locked_until is null`;
      return changed(
        await db
          .updateTable('users')
          .set({
            first_sign_in_at: sql<number>`coalesce(first_sign_in_at, ${at})`,
            ...(options.mfa ? { last_mfa_at: at } : {}),
            ...(options.resetFailures
              ? {
                  // As resetSigninFailures: a success never lifts (nor touches the counts of) a locked account.
                  failed_signins: sql<number>`case when ${open} then 0 else failed_signins end`,
                  unknown_device_failures: sql<number>`case when ${open} then 0 else unknown_device_failures end`,
                  unknown_device_locked_until: sql<number | null>`case when ${open} then null else unknown_device_locked_until end`,
                }
              : {}),
          })
          .where('tenant_id', '=', tenantId)
          .where('id', '=', id)
          .executeTakeFirst(),
      );
    },
    recordMfa: async (id, at) =>
      changed(await db.updateTable('users').set({ last_mfa_at: at }).where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst()),

    // SECURITY rule 3: one UPDATE … RETURNING — the increment and the lock are decided by the database, so the
    // count is exact under any concurrency (row lock on PostgreSQL, one connection on SQLite).
    recordSigninFailure: async (id, now, options) => {
      const limit = options?.limit ?? ACCOUNT_FAILURE_LIMIT;
      const coolDown = options?.coolDownMs ?? null;
      const lockValue = coolDown === null ? LOCKED_UNTIL_RESET : now + coolDown;
      const row = await db
        .updateTable('users')
        .set({
          failed_signins: sql<number>`failed_signins + 1`,
          locked_until: sql<number | null>`case when failed_signins + 1 >= ${limit} then ${lockValue} else locked_until end`,
        })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .returning(['failed_signins as failures', 'locked_until'])
        .executeTakeFirst();
      return row === undefined ? null : failureState(row, now);
    },
    // A success ends both runs of failures (and the unknown-device lock) but never lifts the account lock: only the
    // audited admin unlock does.
    resetSigninFailures: async (id) =>
      changed(
        await db
          .updateTable('users')
          .set({ failed_signins: 0, unknown_device_failures: 0, unknown_device_locked_until: null })
          .where('tenant_id', '=', tenantId)
          .where('id', '=', id)
          .where('locked_until', 'is', null)
          .executeTakeFirst(),
      ),
    // Conditional on the hash that was verified: a password changed meanwhile is never overwritten by a rehash of the old.
    rehashPassword: async (id, verifiedHash, newHash, now) =>
      changed(
        await db
          .updateTable('users')
          .set({ password_hash: newHash, updated_at: now })
          .where('tenant_id', '=', tenantId)
          .where('id', '=', id)
          .where('password_hash', '=', verifiedHash)
          .executeTakeFirst(),
      ),
    unlock: async (id) =>
      changed(
        await db
          .updateTable('users')
          .set({ failed_signins: 0, locked_until: null, unknown_device_failures: 0, unknown_device_locked_until: null })
          .where('tenant_id', '=', tenantId)
          .where('id', '=', id)
          .executeTakeFirst(),
      ),
    releaseSigninFailure: async (id, options) => {
      const limit = options?.limit ?? ACCOUNT_FAILURE_LIMIT;
      return changed(
        await db
          .updateTable('users')
          .set({
            failed_signins: sql<number>`case when failed_signins > 0 then failed_signins - 1 else 0 end`,
            locked_until: sql<number | null>`case when failed_signins - 1 < ${limit} then null else locked_until end`,
          })
          .where('tenant_id', '=', tenantId)
          .where('id', '=', id)
          .executeTakeFirst(),
      );
    },

    // One statement whether or not the user exists, so an unknown identifier costs the same read (issue 11).
    findForSignin: async (email, deviceId) => {
      const row = await db
        .selectFrom('users')
        .selectAll('users')
        .select((eb) =>
          eb
            .exists(
              eb
                .selectFrom('trusted_devices')
                .select('trusted_devices.device_id')
                .whereRef('trusted_devices.tenant_id', '=', 'users.tenant_id')
                .whereRef('trusted_devices.user_id', '=', 'users.id')
                // No device id matches no row (stored ids are SHA-256 hex), and keeps the statement the same.
                .where('trusted_devices.device_id', '=', deviceId ?? ''),
            )
            .as('known_device'),
        )
        .where('users.tenant_id', '=', tenantId)
        .where('users.email', '=', normalizeEmail(email))
        .executeTakeFirst();
      if (row === undefined) return null;
      const { known_device: knownDevice, ...user } = row;
      return { user: toUser(user), knownDevice: bool(knownDevice) };
    },
    // As `recordSigninFailure`, on the unknown-device count; the account's lock is read by the same statement, so
    // a lock engaged by concurrent MFA failures is seen by the attempt that races it.
    recordUnknownDeviceFailure: async (id, now, options) => {
      const limit = options?.limit ?? ACCOUNT_FAILURE_LIMIT;
      const coolDown = options?.coolDownMs ?? null;
      const lockValue = coolDown === null ? LOCKED_UNTIL_RESET : now + coolDown;
      const row = await db
        .updateTable('users')
        .set({
          unknown_device_failures: sql<number>`unknown_device_failures + 1`,
          unknown_device_locked_until: sql<number | null>`case when unknown_device_failures + 1 >= ${limit} then ${lockValue} else unknown_device_locked_until end`,
        })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .returning(['unknown_device_failures as failures', 'unknown_device_locked_until as locked_until', 'locked_until as account_locked_until'])
        .executeTakeFirst();
      if (row === undefined) return null;
      const accountLockedUntil = numOrNull(row.account_locked_until);
      return { ...failureState(row, now), accountLocked: accountLockedUntil !== null && accountLockedUntil > now };
    },
    releaseUnknownDeviceFailure: async (id, options) => {
      const limit = options?.limit ?? ACCOUNT_FAILURE_LIMIT;
      return changed(
        await db
          .updateTable('users')
          .set({
            unknown_device_failures: sql<number>`case when unknown_device_failures > 0 then unknown_device_failures - 1 else 0 end`,
            unknown_device_locked_until: sql<number | null>`case when unknown_device_failures - 1 < ${limit} then null else unknown_device_locked_until end`,
          })
          .where('tenant_id', '=', tenantId)
          .where('id', '=', id)
          .executeTakeFirst(),
      );
    },
  };
}
