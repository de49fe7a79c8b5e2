/**
 * Storage of the OpenID Connect provider (tables `oidc_payloads` and `oidc_clients`, migration 0009-oidc-storage): one
 * implementation through Kysely for SQLite and PostgreSQL. Its own small table types, so the shared schema stays
 * untouched; the provider's adapter (src/http/oidc/adapter.ts) is a thin layer over {@link OidcPayloadRepository}.
 */
import type { Kysely } from 'kysely';
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
  // On SQLite each write joins the store's group commit (src/store/kysely-support.ts) as a transaction of its own
  // statement, instead of committing alone: a sign-in through the provider writes about ten of these, and on the
  // one connection an autocommit costs a WAL commit each while the store's writes around it share theirs. The same
  // atomicity (one statement, its own savepoint) and durability (answered after the commit). PostgreSQL: as is.
  const binding: Binding = { db: database.db, root: database.db, dialect: database.dialect, inTransaction: false };
  const writing = <T>(fn: (db: Kysely<OidcSchema>) => Promise<T>): Promise<T> =>
    database.dialect === 'sqlite' ? beginTransaction(binding, (trx) => fn(trx as unknown as Kysely<OidcSchema>)) : fn(db);
  type Row = { payload: string; consumed_at: number | string | bigint | null; expires_at: number | string | bigint | null };
  const view = (row: Row | undefined, now: number): StoredPayload | null => {
    if (row === undefined) return null;
    const expiresAt = numOrNull(row.expires_at);
    if (expiresAt !== null && expiresAt <= now) return null;
    return { payload: parsePayload(row.payload), consumedAt: numOrNull(row.consumed_at) };
  };
  const columns = ['payload', 'consumed_at', 'expires_at'] as const;
  return {
    async upsert(model, id, payload, expiresAt) {
      const str = (key: string): string | null => (typeof payload[key] === 'string' ? (payload[key] as string) : null);
      const values = { payload: JSON.stringify(payload), grant_id: str('grantId'), uid: str('uid'), user_code: str('userCode'), expires_at: expiresAt };
      await writing((w) =>
        w
          .insertInto('oidc_payloads')
          .values({ model, id, ...values, consumed_at: null })
          .onConflict((oc) => oc.columns(['model', 'id']).doUpdateSet(values))
          .execute(),
      );
    },
    async find(model, id, now) {
      return view(await db.selectFrom('oidc_payloads').select(columns).where('model', '=', model).where('id', '=', id).executeTakeFirst(), now);
    },
    async findByUid(model, uid, now) {
      return view(await db.selectFrom('oidc_payloads').select(columns).where('model', '=', model).where('uid', '=', uid).executeTakeFirst(), now);
    },
    async findByUserCode(model, userCode, now) {
      return view(await db.selectFrom('oidc_payloads').select(columns).where('model', '=', model).where('user_code', '=', userCode).executeTakeFirst(), now);
    },
    async consume(model, id, now) {
      const result = await writing((w) => w.updateTable('oidc_payloads').set({ consumed_at: now }).where('model', '=', model).where('id', '=', id).where('consumed_at', 'is', null).executeTakeFirst());
      return changed(result);
    },
    async destroy(model, id) {
      await writing((w) => w.deleteFrom('oidc_payloads').where('model', '=', model).where('id', '=', id).execute());
    },
    async revokeByGrantId(grantId) {
      await writing((w) => w.deleteFrom('oidc_payloads').where('grant_id', '=', grantId).execute());
    },
    async deleteExpired(now) {
      const result = await db.deleteFrom('oidc_payloads').where('expires_at', '<=', now).executeTakeFirst();
      return Number(result.numDeletedRows);
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
