/** The signing keys (platform level) over Kysely. */
import { sql, type Selectable } from 'kysely';
import { PortcullisError } from '../core/index.ts';
import { num, numOrNull, write, type Binding } from './kysely-support.ts';
import type { SigningKeysTable } from './schema.ts';
import type { PublicJwk, SigningKeyRecord, SigningKeyRepository, SigningKeyState } from './types.ts';

function toState(value: string): SigningKeyState {
  if (value === 'active' || value === 'retiring') return value;
  throw new PortcullisError('INTERNAL', 'A signing key has an unknown state.', { detail: `state ${value}` });
}

function toSigningKey(row: Selectable<SigningKeysTable>): SigningKeyRecord {
  return {
    kid: row.kid,
    alg: row.alg,
    publicJwk: JSON.parse(row.public_jwk) as PublicJwk,
    privateJwkSealed: row.private_jwk_sealed,
    state: toState(row.state),
    createdAt: num(row.created_at),
    activatedAt: num(row.activated_at),
    retiredAt: numOrNull(row.retired_at),
    retireAfter: numOrNull(row.retire_after),
  };
}

/** Signing keys over Kysely. */
export function signingKeyRepository(b: Binding): SigningKeyRepository {
  const { db } = b;
  // Active first, then newest first (kid breaks ties so the order is total).
  const ordered = () =>
    db
      .selectFrom('signing_keys')
      .selectAll()
      .orderBy(sql`case when state = 'active' then 0 else 1 end`)
      .orderBy('activated_at', 'desc')
      .orderBy('kid');
  return {
    insertActiveIfNone: (input) =>
      write('The signing key', async () => {
        // The conflict target is the partial unique index `signing_keys_one_active`; its predicate is a literal, so
        // PostgreSQL can infer the index (a bound parameter would not match it). A concurrent insert waits for the
        // other transaction and then does nothing: one statement decides, never read-then-write.
        const result = await db
          .insertInto('signing_keys')
          .values({
            kid: input.kid,
            alg: input.alg,
            public_jwk: JSON.stringify(input.publicJwk),
            private_jwk_sealed: input.privateJwkSealed,
            state: 'active',
            created_at: input.now,
            activated_at: input.now,
            retired_at: null,
            retire_after: null,
          })
          .onConflict((oc) => oc.column('state').where(sql.ref('state'), '=', sql.lit('active')).doNothing())
          .executeTakeFirst();
        return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
      }),
    getActive: async () => {
      const row = await db.selectFrom('signing_keys').selectAll().where('state', '=', 'active').executeTakeFirst();
      return row === undefined ? null : toSigningKey(row);
    },
    get: async (kid) => {
      const row = await db.selectFrom('signing_keys').selectAll().where('kid', '=', kid).executeTakeFirst();
      return row === undefined ? null : toSigningKey(row);
    },
    listPublished: async (now) =>
      (await ordered().where((eb) => eb.or([eb('state', '=', 'active'), eb.and([eb('state', '=', 'retiring'), eb('retire_after', '>', now)])])).execute()).map(toSigningKey),
    list: async () => (await ordered().execute()).map(toSigningKey),
    retireActive: async (retireAfter, now) => {
      const row = await db
        .updateTable('signing_keys')
        .set({ state: 'retiring', retired_at: now, retire_after: retireAfter })
        .where('state', '=', 'active')
        .returning('kid')
        .executeTakeFirst();
      return row?.kid ?? null;
    },
    lockForChange: async () => {
      if (!b.inTransaction) throw new PortcullisError('INTERNAL', 'lockForChange needs a transaction.');
      // SHARE ROW EXCLUSIVE conflicts with itself and with writes, not with reads (signing and the JWKS go on).
      if (b.dialect === 'postgres') await sql`lock table signing_keys in share row exclusive mode`.execute(db);
    },
    deleteExpired: async (now) => {
      const result = await db.deleteFrom('signing_keys').where('state', '=', 'retiring').where('retire_after', '<=', now).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
