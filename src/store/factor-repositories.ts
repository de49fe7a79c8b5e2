/** A tenant's factors and recovery codes over Kysely; single-use and counters are one conditional UPDATE each. */
import { randomUUID } from 'node:crypto';
import { sql, type Selectable } from 'kysely';
import { PortcullisError, type FactorType } from '../core/index.ts';
import { atomically, changed, failureState, num, numOrNull, parseJsonObject, write, type Binding } from './kysely-support.ts';
import type { FactorsTable, RecoveryCodesTable } from './schema.ts';
import {
  FACTOR_COOL_DOWN_MS,
  FACTOR_FAILURE_LIMIT,
  LOCKED_UNTIL_RESET,
  type FactorRecord,
  type FactorRepository,
  type FactorStatus,
  type RecoveryCodeRecord,
  type RecoveryCodeRepository,
} from './types.ts';

function toFactor(row: Selectable<FactorsTable>): FactorRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    userId: row.user_id,
    type: row.type as FactorType,
    status: row.status as FactorStatus,
    label: row.label,
    secretEnc: row.secret_enc,
    data: parseJsonObject(row.data),
    lastStep: numOrNull(row.last_step),
    failedCount: num(row.failed_count),
    lockedUntil: numOrNull(row.locked_until),
    createdAt: num(row.created_at),
    confirmedAt: numOrNull(row.confirmed_at),
    lastUsedAt: numOrNull(row.last_used_at),
    expiresAt: numOrNull(row.expires_at),
    credentialId: row.credential_id ?? null,
  };
}

function byCreation(a: FactorRecord, b: FactorRecord): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** A tenant's factors over Kysely. */
export function factorRepository(b: Binding, tenantId: string): FactorRepository {
  const { db } = b;
  const scoped = () => db.updateTable('factors').where('tenant_id', '=', tenantId);
  return {
    create: (input) =>
      write('The factor', async () => {
        const status = input.status ?? 'pending';
        return toFactor(
          await db
            .insertInto('factors')
            .values({
              id: input.id ?? randomUUID(),
              tenant_id: tenantId,
              user_id: input.userId,
              type: input.type,
              status,
              label: input.label,
              secret_enc: input.secretEnc ?? null,
              data: input.data == null ? null : JSON.stringify(input.data),
              last_step: input.signCount ?? null,
              credential_id: input.credentialId ?? null,
              locked_until: null,
              created_at: input.now,
              confirmed_at: status === 'active' ? input.now : null,
              last_used_at: null,
              expires_at: input.expiresAt ?? null,
            })
            .returningAll()
            .executeTakeFirstOrThrow(),
        );
      }),
    get: async (id) => {
      const row = await db.selectFrom('factors').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
      return row === undefined ? null : toFactor(row);
    },
    listForUser: async (userId, status) => {
      let q = db.selectFrom('factors').selectAll().where('tenant_id', '=', tenantId).where('user_id', '=', userId);
      if (status !== undefined) q = q.where('status', '=', status);
      // Sorted in JS: an ORDER BY makes SQLite re-plan the statement on every run (measured 40 µs vs 7 µs).
      return (await q.execute()).map(toFactor).sort(byCreation);
    },
    listActiveWithRecoveryCount: async (userId) => {
      const rows = await db
        .selectFrom('factors')
        .selectAll()
        .select((eb) =>
          eb
            .selectFrom('recovery_codes')
            .select((c) => c.fn.countAll<number | string>().as('n'))
            .where('recovery_codes.tenant_id', '=', tenantId)
            .where('recovery_codes.user_id', '=', userId)
            .where('recovery_codes.used_at', 'is', null)
            .as('recovery_remaining'),
        )
        .where('tenant_id', '=', tenantId)
        .where('user_id', '=', userId)
        .where('status', '=', 'active')
        .execute();
      const first = rows[0];
      return { factors: rows.map(toFactor).sort(byCreation), recoveryRemaining: first === undefined ? 0 : num(first.recovery_remaining ?? 0) };
    },
    listForTenant: async (status) => {
      let q = db.selectFrom('factors').selectAll().where('tenant_id', '=', tenantId);
      if (status !== undefined) q = q.where('status', '=', status);
      return (await q.orderBy('user_id').orderBy('created_at').orderBy('id').execute()).map(toFactor);
    },
    // A pending factor becomes active once, and never after its expiry (SECURITY rule 5).
    activate: async (id, now) =>
      changed(
        await scoped()
          .set({ status: 'active', confirmed_at: now, expires_at: null })
          .where('id', '=', id)
          .where('status', '=', 'pending')
          .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
          .executeTakeFirst(),
      ),
    updateData: async (id, data) =>
      changed(await scoped().set({ data: data === null ? null : JSON.stringify(data) }).where('id', '=', id).executeTakeFirst()),
    delete: async (id) => changed(await db.deleteFrom('factors').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst()),
    deleteForUser: async (userId, types) => {
      if (types !== undefined && types.length === 0) return 0;
      let q = db.deleteFrom('factors').where('tenant_id', '=', tenantId).where('user_id', '=', userId);
      if (types !== undefined) q = q.where('type', 'in', [...types]);
      const result = await q.executeTakeFirst();
      return Number(result.numDeletedRows);
    },
    // SECURITY rule 2 / RFC 6238 §5.2: a time step is accepted once; the affected-row count decides.
    advanceTotpStep: async (id, step, spent) =>
      changed(
        await scoped()
          .set(spent === undefined ? { last_step: step } : { last_step: step, last_used_at: spent.at, failed_count: 0, locked_until: null })
          .where('id', '=', id)
          .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
          .executeTakeFirst(),
      ),
    // A WebAuthn sign counter only goes up; both zero is an authenticator that keeps none (WebAuthn §6.1.1).
    advanceSignCount: async (id, count, spent) =>
      changed(
        await scoped()
          .set(spent === undefined ? { last_step: count } : { last_step: count, last_used_at: spent.at, failed_count: 0, locked_until: null })
          .where('id', '=', id)
          .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', count), eb.and([eb('last_step', '=', 0), eb(eb.val(count), '=', 0)])]))
          .executeTakeFirst(),
      ),
    findByCredentialId: async (credentialId) => {
      const row = await db.selectFrom('factors').selectAll().where('tenant_id', '=', tenantId).where('credential_id', '=', credentialId).executeTakeFirst();
      return row === undefined ? null : toFactor(row);
    },
    touch: async (id, now) => changed(await scoped().set({ last_used_at: now }).where('id', '=', id).executeTakeFirst()),
    rename: async (id, userId, label) => changed(await scoped().set({ label }).where('id', '=', id).where('user_id', '=', userId).where('status', '=', 'active').executeTakeFirst()),
    // SECURITY rule 3: one UPDATE … RETURNING, exact under concurrency.
    recordFailure: async (id, now, options) => {
      const limit = options?.limit ?? FACTOR_FAILURE_LIMIT;
      const coolDown = options?.coolDownMs === undefined ? FACTOR_COOL_DOWN_MS : options.coolDownMs;
      const lockValue = coolDown === null ? LOCKED_UNTIL_RESET : now + coolDown;
      const row = await scoped()
        .set({
          failed_count: sql<number>`failed_count + 1`,
          locked_until: sql<number | null>`case when failed_count + 1 >= ${limit} then ${lockValue} else locked_until end`,
        })
        .where('id', '=', id)
        .returning(['failed_count as failures', 'locked_until'])
        .executeTakeFirst();
      return row === undefined ? null : failureState(row, now);
    },
    resetFailures: async (id) => changed(await scoped().set({ failed_count: 0, locked_until: null }).where('id', '=', id).executeTakeFirst()),
    releaseFailure: async (id) =>
      changed(
        await scoped()
          .set({
            failed_count: sql<number>`case when failed_count > 0 then failed_count - 1 else 0 end`,
            locked_until: sql<number | null>`case when failed_count - 1 < ${FACTOR_FAILURE_LIMIT} then null else locked_until end`,
          })
          .where('id', '=', id)
          .executeTakeFirst(),
      ),
  };
}

function toCode(row: Selectable<RecoveryCodesTable>): RecoveryCodeRecord {
  return { id: row.id, userId: row.user_id, factorId: row.factor_id, codeHash: row.code_hash, usedAt: numOrNull(row.used_at) };
}

/** A tenant's recovery codes over Kysely. */
export function recoveryCodeRepository(b: Binding, tenantId: string): RecoveryCodeRepository {
  const { db } = b;
  return {
    replaceBatch: (userId, factorId, codeHashes) =>
      write('The recovery codes', () =>
        atomically(b, async (trx) => {
          const factor = await trx
            .selectFrom('factors')
            .select('id')
            .where('tenant_id', '=', tenantId)
            .where('id', '=', factorId)
            .where('user_id', '=', userId)
            .executeTakeFirst();
          if (factor === undefined) throw new PortcullisError('NOT_FOUND', 'No such factor for this user.');
          await trx.deleteFrom('recovery_codes').where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute();
          if (codeHashes.length === 0) return [];
          const rows = await trx
            .insertInto('recovery_codes')
            .values(codeHashes.map((codeHash) => ({ id: randomUUID(), tenant_id: tenantId, user_id: userId, factor_id: factorId, code_hash: codeHash, used_at: null })))
            .returningAll()
            .execute();
          return rows.map(toCode);
        }),
      ),
    listUnused: async (userId) =>
      (
        await db
          .selectFrom('recovery_codes')
          .selectAll()
          .where('tenant_id', '=', tenantId)
          .where('user_id', '=', userId)
          .where('used_at', 'is', null)
          .execute()
      )
        .map(toCode)
        .sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0)),
    // SECURITY rule 2: `used_at IS NULL` in the WHERE clause; exactly one concurrent caller changes the row.
    consume: async (userId, codeId, now) =>
      changed(
        await db
          .updateTable('recovery_codes')
          .set({ used_at: now })
          .where('tenant_id', '=', tenantId)
          .where('user_id', '=', userId)
          .where('id', '=', codeId)
          .where('used_at', 'is', null)
          .executeTakeFirst(),
      ),
    countRemaining: async (userId) => {
      const row = await db
        .selectFrom('recovery_codes')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('tenant_id', '=', tenantId)
        .where('user_id', '=', userId)
        .where('used_at', 'is', null)
        .executeTakeFirstOrThrow();
      return num(row.n);
    },
    countRemainingByUser: async () => {
      const rows = await db
        .selectFrom('recovery_codes')
        .select((eb) => ['user_id', eb.fn.countAll<number>().as('n')])
        .where('tenant_id', '=', tenantId)
        .where('used_at', 'is', null)
        .groupBy('user_id')
        .execute();
      return new Map(rows.map((r) => [r.user_id, num(r.n)]));
    },
    deleteForUser: async (userId) => {
      const result = await db.deleteFrom('recovery_codes').where('tenant_id', '=', tenantId).where('user_id', '=', userId).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
