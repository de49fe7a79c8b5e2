/** A tenant's sign-in throttle counters over Kysely; every query carries `tenant_id` (SECURITY rule 8). */
import { sql } from 'kysely';
import { changed, num, type Binding } from './kysely-support.ts';
import type { SigninThrottleRepository, ThrottleState } from './types.ts';

function toState(row: { failures: number | string; window_ends_at: number | string }): ThrottleState {
  return { failures: num(row.failures), windowEndsAt: num(row.window_ends_at) };
}

/** A tenant's fixed-window sign-in failure counters over Kysely. */
export function signinThrottleRepository(b: Binding, tenantId: string): SigninThrottleRepository {
  const { db } = b;
  return {
    // One statement on both dialects (SQLite ≥ 3.35 and PostgreSQL ≥ 9.5 upsert, RETURNING): the row lock (or
    // SQLite's single writer) makes the count exact under concurrency, on every node. In `DO UPDATE SET` every
    // right-hand side reads the row as it was, so both CASEs decide on the same old `window_ends_at`.
    hit: async (scope, key, now, windowMs) =>
      toState(
        await db
          .insertInto('signin_throttle')
          .values({ tenant_id: tenantId, scope, key, failures: 1, window_ends_at: now + windowMs })
          .onConflict((oc) =>
            oc.columns(['tenant_id', 'scope', 'key']).doUpdateSet({
              failures: sql<number>`case when signin_throttle.window_ends_at <= ${now} then 1 else signin_throttle.failures + 1 end`,
              window_ends_at: sql<number>`case when signin_throttle.window_ends_at <= ${now} then ${now + windowMs} else signin_throttle.window_ends_at end`,
            }),
          )
          .returning(['failures', 'window_ends_at'])
          .executeTakeFirstOrThrow(),
      ),
    release: async (scope, key, now) =>
      changed(
        await db
          .updateTable('signin_throttle')
          .set({ failures: sql<number>`failures - 1` })
          .where('tenant_id', '=', tenantId)
          .where('scope', '=', scope)
          .where('key', '=', key)
          .where('failures', '>', 0)
          .where('window_ends_at', '>', now)
          .executeTakeFirst(),
      ),
    get: async (scope, key, now) => {
      const row = await db
        .selectFrom('signin_throttle')
        .select(['failures', 'window_ends_at'])
        .where('tenant_id', '=', tenantId)
        .where('scope', '=', scope)
        .where('key', '=', key)
        .where('window_ends_at', '>', now)
        .executeTakeFirst();
      return row === undefined ? null : toState(row);
    },
  };
}
