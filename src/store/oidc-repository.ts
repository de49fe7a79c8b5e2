/**
 * Storage of the OpenID Connect provider (tables `oidc_payloads` and `oidc_clients`, migration 0009-oidc-storage): one
 * implementation through Kysely for SQLite and PostgreSQL. Its own small table types, so the shared schema stays
 * untouched; the provider's adapter (src/http/oidc/adapter.ts) is a thin layer over {@link OidcPayloadRepository}.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { CompiledQuery, type Kysely, type QueryResult } from 'kysely';
import type { Database } from './database.ts';
import { beginTransaction, changed, num, numOrNull, type Binding } from './kysely-support.ts';

interface OidcSchema {
  oidc_payloads: {
    model: string;
    id: string;
    payload: string;
    grant_id: string | null;
    uid: string | null;
    user_code: string | null;
    expires_at: number | null;
    consumed_at: number | null;
  };
  oidc_clients: { application_id: string; redirect_uris: string; post_logout_redirect_uris: string; created_at: number; updated_at: number };
}

/** A stored provider object: its JSON payload and when (epoch ms) it was consumed, if it was. */
export interface StoredPayload {
  readonly payload: Record<string, unknown>;
  readonly consumedAt: number | null;
}

/** What oidc-provider's adapter needs, per model name (`Session`, `AuthorizationCode`, `RefreshToken`, …). */
export interface OidcPayloadRepository {
  /** Inserts or replaces; `expiresAt` null = no expiry. Clears `consumed_at` only for a new row. */
  upsert(model: string, id: string, payload: Record<string, unknown>, expiresAt: number | null): Promise<void>;
  /** The payload unless absent or expired at `now`. */
  find(model: string, id: string, now: number): Promise<StoredPayload | null>;
  findByUid(model: string, uid: string, now: number): Promise<StoredPayload | null>;
  findByUserCode(model: string, userCode: string, now: number): Promise<StoredPayload | null>;
  /** Marks consumed once: `UPDATE … WHERE consumed_at IS NULL`; false when it already was (or is gone). */
  consume(model: string, id: string, now: number): Promise<boolean>;
  destroy(model: string, id: string): Promise<void>;
  /** Deletes every object of the grant (codes, access and refresh tokens, …) in any model. */
  revokeByGrantId(grantId: string): Promise<void>;
  /** Deletes rows expired before `now`; returns how many. */
  deleteExpired(now: number): Promise<number>;
  /**
   * Runs `fn` with this repository's `upsert`s and `destroy`s held back, then commits them together in one
   * transaction before the returned promise settles (also when `fn` throws: what was written before the error is
   * kept, as without holding). Inside, a `consume` or a `revokeByGrantId` first commits what is held (single use
   * stays one conditional update), and so does a read that a held write may answer differently (the same row; by uid
   * or user code, the same model): `fn` reads its own writes. A write after `fn` has ended is not held. Nested calls
   * join the outer one.
   */
  holdingWrites<T>(fn: () => Promise<T>): Promise<T>;
}

/** The OIDC settings of an application. */
export interface OidcClientRecord {
  readonly applicationId: string;
  readonly redirectUris: readonly string[];
  readonly postLogoutRedirectUris: readonly string[];
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface OidcClientRepository {
  get(applicationId: string): Promise<OidcClientRecord | null>;
  /** Creates or replaces the settings. */
  put(applicationId: string, settings: { redirectUris: readonly string[]; postLogoutRedirectUris: readonly string[] }, now: number): Promise<OidcClientRecord>;
  /** False when there was none. */
  delete(applicationId: string): Promise<boolean>;
}

function parsePayload(text: string): Record<string, unknown> {
  const value: unknown = JSON.parse(text);
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function stringArray(text: string): string[] {
  const value: unknown = JSON.parse(text);
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/**
 * The payload repository over an open (migrated) database, either dialect.
 *
 * @example
 * const payloads = oidcPayloadRepository(database);
 * await payloads.upsert('AuthorizationCode', jti, payload, Date.now() + 60_000);
 */
export function oidcPayloadRepository(database: Database): OidcPayloadRepository {
  const db = database.db as unknown as Kysely<OidcSchema>;
  // The provider's statements are few and fixed: written once per dialect and run as compiled queries (as the
  // catalog's version read), not built and compiled by Kysely on every call — a hosted sign-in runs about twenty.
  const text = (sqlite: string): string => {
    let n = 0;
    return database.dialect === 'postgres' ? sqlite.replace(/\?/g, () => `$${++n}`) : sqlite;
  };
  const SELECT = 'select payload, consumed_at, expires_at from oidc_payloads where model = ? and';
  const SQL = {
    find: text(`${SELECT} id = ?`),
    findByUid: text(`${SELECT} uid = ?`),
    findByUserCode: text(`${SELECT} user_code = ?`),
    // A replaced row keeps its `consumed_at`: a code or token once spent stays spent.
    upsert: text(
      'insert into oidc_payloads (model, id, payload, grant_id, uid, user_code, expires_at, consumed_at) values (?, ?, ?, ?, ?, ?, ?, null) ' +
        'on conflict (model, id) do update set payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid, user_code = excluded.user_code, expires_at = excluded.expires_at',
    ),
    consume: text('update oidc_payloads set consumed_at = ? where model = ? and id = ? and consumed_at is null'),
    destroy: text('delete from oidc_payloads where model = ? and id = ?'),
    revokeByGrantId: text('delete from oidc_payloads where grant_id = ?'),
  };
  type Row = { payload: string; consumed_at: number | string | bigint | null; expires_at: number | string | bigint | null };
  const run = (target: Kysely<OidcSchema>, statement: string, parameters: readonly unknown[]): Promise<QueryResult<Row>> => target.executeQuery<Row>(CompiledQuery.raw(statement, [...parameters]));

  type Write = (db: Kysely<OidcSchema>) => Promise<unknown>;
  /** A held write, with the one row it touches. */
  interface Held {
    readonly model: string;
    readonly id: string;
    readonly run: Write;
  }
  // On SQLite writes join the store's group commit (src/store/kysely-support.ts), each batch as a transaction of its
  // own, instead of committing alone: on the one connection an autocommit costs a WAL commit each while the store's
  // writes around it share theirs. PostgreSQL: one statement as it is, several in one transaction.
  const binding: Binding = { db: database.db, root: database.db, dialect: database.dialect, inTransaction: false };
  const commit = async (writes: readonly Write[]): Promise<void> => {
    if (writes.length === 0) return;
    const only = writes[0];
    if (database.dialect === 'postgres' && writes.length === 1 && only !== undefined) {
      await only(db);
      return;
    }
    await beginTransaction(binding, async (trx) => {
      for (const write of writes) await write(trx as unknown as Kysely<OidcSchema>);
    });
  };
  const single = async <T>(fn: (db: Kysely<OidcSchema>) => Promise<T>): Promise<T> => {
    if (database.dialect === 'postgres') return fn(db);
    return beginTransaction(binding, (trx) => fn(trx as unknown as Kysely<OidcSchema>));
  };

  // The writes held by the running `holdingWrites` scope (its async context); `open` false once it has ended.
  const held = new AsyncLocalStorage<{ writes: Held[]; open: boolean }>();
  /** Commits what is held (all of it, or nothing unless `touches` says a held write may change what is read). */
  const commitHeld = async (touches: (write: Held) => boolean = () => true): Promise<void> => {
    const scope = held.getStore();
    if (scope === undefined || !scope.writes.some(touches)) return;
    await commit(scope.writes.splice(0).map((w) => w.run));
  };
  const write = async (model: string, id: string, run: Write): Promise<void> => {
    const scope = held.getStore();
    if (scope?.open === true) scope.writes.push({ model, id, run });
    else await commit([run]);
  };
  /**
   * Reads see every write before them: what is held is committed first when a held write may change the answer —
   * one of the same row (by id), or of the same model (by uid or user code, which a held row may carry or lose).
   */
  const findBy = async (statement: string, model: string, key: string, now: number, byId: boolean): Promise<StoredPayload | null> => {
    await commitHeld((w) => w.model === model && (!byId || w.id === key));
    const row = (await run(db, statement, [model, key])).rows[0];
    if (row === undefined) return null;
    const expiresAt = numOrNull(row.expires_at);
    if (expiresAt !== null && expiresAt <= now) return null;
    return { payload: parsePayload(row.payload), consumedAt: numOrNull(row.consumed_at) };
  };
  const affected = (result: QueryResult<Row>): boolean => (result.numAffectedRows ?? 0n) > 0n;

  return {
    async upsert(model, id, payload, expiresAt) {
      const str = (key: string): string | null => (typeof payload[key] === 'string' ? (payload[key] as string) : null);
      const parameters = [model, id, JSON.stringify(payload), str('grantId'), str('uid'), str('userCode'), expiresAt];
      await write(model, id, (w) => run(w, SQL.upsert, parameters));
    },
    find: (model, id, now) => findBy(SQL.find, model, id, now, true),
    findByUid: (model, uid, now) => findBy(SQL.findByUid, model, uid, now, false),
    findByUserCode: (model, userCode, now) => findBy(SQL.findByUserCode, model, userCode, now, false),
    async consume(model, id, now) {
      await commitHeld();
      return affected(await single((w) => run(w, SQL.consume, [now, model, id])));
    },
    async destroy(model, id) {
      await write(model, id, (w) => run(w, SQL.destroy, [model, id]));
    },
    async revokeByGrantId(grantId) {
      await commitHeld();
      await single((w) => run(w, SQL.revokeByGrantId, [grantId]));
    },
    async deleteExpired(now) {
      const result = await db.deleteFrom('oidc_payloads').where('expires_at', '<=', now).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
    async holdingWrites(fn) {
      if (held.getStore()?.open === true) return fn();
      const scope = { writes: [] as Held[], open: true };
      return held.run(scope, async () => {
        let result: Awaited<ReturnType<typeof fn>>;
        try {
          result = await fn();
        } catch (error) {
          scope.open = false;
          // What was written before the error is kept; the error is what the caller hears of.
          await commitHeld().catch(() => undefined);
          throw error;
        }
        scope.open = false;
        await commitHeld();
        return result;
      });
    },
  };
}

/**
 * The OIDC client settings repository over an open (migrated) database, either dialect.
 *
 * @example
 * await oidcClientRepository(database).put(app.id, { redirectUris: ['https://rp.example/cb'], postLogoutRedirectUris: [] }, Date.now());
 */
export function oidcClientRepository(database: Database): OidcClientRepository {
  const db = database.db as unknown as Kysely<OidcSchema>;
  type Row = OidcSchema['oidc_clients'] & { created_at: number | string; updated_at: number | string };
  const toRecord = (row: Row): OidcClientRecord => ({
    applicationId: row.application_id,
    redirectUris: stringArray(row.redirect_uris),
    postLogoutRedirectUris: stringArray(row.post_logout_redirect_uris),
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
  });
  return {
    async get(applicationId) {
      const row = await db.selectFrom('oidc_clients').selectAll().where('application_id', '=', applicationId).executeTakeFirst();
      return row === undefined ? null : toRecord(row);
    },
    async put(applicationId, settings, now) {
      const values = { redirect_uris: JSON.stringify(settings.redirectUris), post_logout_redirect_uris: JSON.stringify(settings.postLogoutRedirectUris), updated_at: now };
      await db
        .insertInto('oidc_clients')
        .values({ application_id: applicationId, ...values, created_at: now })
        .onConflict((oc) => oc.column('application_id').doUpdateSet(values))
        .execute();
      const row = await db.selectFrom('oidc_clients').selectAll().where('application_id', '=', applicationId).executeTakeFirstOrThrow();
      return toRecord(row);
    },
    async delete(applicationId) {
      return changed(await db.deleteFrom('oidc_clients').where('application_id', '=', applicationId).executeTakeFirst());
    },
  };
}
