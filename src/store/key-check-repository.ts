/**
 * Storage of the secret-key check (table `key_check`, migration 0005) and the one read of sealed factor secrets the
 * check needs on a database that predates it. Its own small table type, so the shared schema stays untouched.
 */
import type { Kysely } from 'kysely';
import type { Database } from './database.ts';

interface KeyCheckSchema {
  key_check: { id: string; sealed: string; created_at: number };
  factors: { id: string; tenant_id: string; type: string; secret_enc: string | null; created_at: number };
}

/** A sealed factor secret and the row it is bound to (its AAD). */
export interface SealedFactorSecret {
  readonly tenantId: string;
  readonly factorId: string;
  readonly sealed: string;
}

/** What the key check reads and writes. */
export interface KeyCheckRepository {
  /** The sealed check value, or `null` before the first start that wrote one. */
  read(): Promise<string | null>;
  /** Stores `sealed` unless a value is already there (two nodes starting at once keep the first). */
  insertIfAbsent(sealed: string, now: number): Promise<void>;
  /** Up to `limit` sealed TOTP secrets, newest first. */
  sampleSealedFactorSecrets(limit: number): Promise<SealedFactorSecret[]>;
}

const ROW_ID = 'secret-box';

/**
 * The key-check repository over an open (migrated) database, either dialect.
 *
 * @example
 * const repo = keyCheckRepository(database);
 * const sealed = await repo.read();
 */
export function keyCheckRepository(database: Database): KeyCheckRepository {
  const db = database.db as unknown as Kysely<KeyCheckSchema>;
  return {
    async read() {
      const row = await db.selectFrom('key_check').select('sealed').where('id', '=', ROW_ID).executeTakeFirst();
      return row?.sealed ?? null;
    },
    async insertIfAbsent(sealed, now) {
      await db
        .insertInto('key_check')
        .values({ id: ROW_ID, sealed, created_at: now })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
    },
    async sampleSealedFactorSecrets(limit) {
      const rows = await db
        .selectFrom('factors')
        .select(['tenant_id', 'id', 'secret_enc'])
        .where('type', '=', 'totp')
        .where('secret_enc', 'is not', null)
        .orderBy('created_at', 'desc')
        .limit(limit)
        .execute();
      return rows.flatMap((r) => (r.secret_enc === null ? [] : [{ tenantId: r.tenant_id, factorId: r.id, sealed: r.secret_enc }]));
    },
  };
}
