/**
 * Shared plumbing of the Kysely repositories: the binding (database or transaction), atomic sections, error
 * mapping, JSON columns and paging.
 */
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { CompiledQuery, type Kysely } from 'kysely';
import { PortcullisError } from '../core/index.ts';
import type { Dialect } from './database.ts';
import type { Schema } from './schema.ts';
import type { FailureState, JsonObject, Page, PageOptions } from './types.ts';

/** What every repository is bound to: the database, or one running transaction. */
export interface Binding {
  /** The query target: the guarded root instance, or the transaction. */
  readonly db: Kysely<Schema>;
  /** The unguarded root instance; used only to begin transactions. */
  readonly root: Kysely<Schema>;
  readonly dialect: Dialect;
  readonly inTransaction: boolean;
}

interface OpenTransaction {
  readonly root: Kysely<Schema>;
  open: boolean;
}

const currentTransaction = new AsyncLocalStorage<OpenTransaction>();

function outerUseError(): PortcullisError {
  return new PortcullisError('INTERNAL', 'The outer store was used inside store.transaction; use the transaction store (tx).', {
    detail: 'On SQLite the transaction holds the only connection, so this query would wait forever; on PostgreSQL it would escape the transaction.',
  });
}

/**
 * Wraps the root Kysely instance so that using it from inside a running transaction's callback fails at once
 * instead of deadlocking SQLite's single connection (or silently escaping the transaction on PostgreSQL).
 */
export function guardRoot(root: Kysely<Schema>): Kysely<Schema> {
  return new Proxy(root, {
    get(target, property) {
      const tx = currentTransaction.getStore();
      if (tx !== undefined && tx.open && tx.root === target) throw outerUseError();
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Begins a transaction on the binding's root and runs `fn` in it (the caller checked `inTransaction`). */
export async function beginTransaction<T>(binding: Binding, fn: (trx: Kysely<Schema>) => Promise<T>): Promise<T> {
  const running = currentTransaction.getStore();
  if (running !== undefined && running.open && running.root === binding.root) throw outerUseError();
  if (binding.dialect === 'sqlite') return groupCommitOf(binding.root).run(fn);
  const tx: OpenTransaction = { root: binding.root, open: true };
  try {
    return await currentTransaction.run(tx, () => binding.root.transaction().execute(fn));
  } finally {
    tx.open = false;
  }
}

/** How many transactions one SQLite commit carries at most (bounds the wait of the first). */
export const GROUP_COMMIT_MAX = 64;

interface GroupJob {
  readonly run: (conn: Kysely<Schema>) => Promise<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit on SQLite's one connection (issue 13). Transactions there run one after another anyway (the
 * connection is the lock); committing each alone writes every b-tree page it touched (a table and its indexes, ~15
 * WAL frames) once per transaction. Here the transactions queued while one runs are run in one SQLite transaction,
 * each inside its own savepoint, and committed together: a transaction that throws is rolled back to its savepoint
 * alone (the others keep their writes), and every caller is answered only after the commit that made its writes
 * durable — a failed commit fails every transaction of the group. The same isolation as before: each runs alone on
 * the connection and sees the committed-or-grouped writes of those before it, which commit with it or not at all.
 */
class GroupCommit {
  private readonly queue: GroupJob[] = [];
  private draining = false;
  private readonly root: Kysely<Schema>;

  constructor(root: Kysely<Schema>) {
    this.root = root;
  }

  run<T>(fn: (trx: Kysely<Schema>) => Promise<T>): Promise<T> {
    const tx: OpenTransaction = { root: this.root, open: true };
    // The caller's async context (its own AsyncLocalStorage values) comes along into the group's loop.
    const run = AsyncResource.bind(async (conn: Kysely<Schema>): Promise<unknown> => {
      try {
        return await currentTransaction.run(tx, () => fn(conn));
      } finally {
        tx.open = false;
      }
    });
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (value: unknown) => void, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const group = this.queue.splice(0, GROUP_COMMIT_MAX);
        await this.root
          .connection()
          .execute((conn) => commitGroup(conn, group))
          .catch((error: unknown) => {
            for (const job of group) job.reject(error); // the connection could not be had: none ran
          });
      }
    } finally {
      this.draining = false;
    }
  }
}

// Transaction control as compiled statements: nothing to build, and no plugin sees them (as Kysely's own
// BEGIN/COMMIT).
const BEGIN = CompiledQuery.raw('begin');
const SAVEPOINT = CompiledQuery.raw('savepoint portcullis_group');
const RELEASE = CompiledQuery.raw('release portcullis_group');
const ROLLBACK_TO = CompiledQuery.raw('rollback to portcullis_group');
const COMMIT = CompiledQuery.raw('commit');
const ROLLBACK = CompiledQuery.raw('rollback');

async function commitGroup(conn: Kysely<Schema>, group: GroupJob[]): Promise<void> {
  await conn.executeQuery(BEGIN);
  const done: { job: GroupJob; value: unknown }[] = [];
  try {
    for (const job of group) {
      await conn.executeQuery(SAVEPOINT);
      let value: unknown;
      try {
        value = await job.run(conn);
      } catch (error) {
        // Undo this transaction's writes alone; if SQLite already rolled the whole transaction back (a full disk,
        // a busy lock), this throws and the group fails as one.
        await conn.executeQuery(ROLLBACK_TO);
        await conn.executeQuery(RELEASE);
        job.reject(error);
        continue;
      }
      await conn.executeQuery(RELEASE);
      done.push({ job, value });
    }
    await conn.executeQuery(COMMIT);
  } catch (error) {
    await conn.executeQuery(ROLLBACK).catch(() => undefined);
    for (const job of group) job.reject(error); // one already refused keeps its own error
    return;
  }
  for (const { job, value } of done) job.resolve(value);
}

const groups = new WeakMap<Kysely<Schema>, GroupCommit>();

function groupCommitOf(root: Kysely<Schema>): GroupCommit {
  let group = groups.get(root);
  if (group === undefined) groups.set(root, (group = new GroupCommit(root)));
  return group;
}

/** Runs `fn` atomically: inside the running transaction if there is one, else in a new one. */
export function atomically<T>(binding: Binding, fn: (db: Kysely<Schema>) => Promise<T>): Promise<T> {
  if (binding.inTransaction) return fn(binding.db);
  return beginTransaction(binding, fn);
}

const UNIQUE_CODES = new Set(['23505', 'SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY']);
const FOREIGN_KEY_CODES = new Set(['23503', 'SQLITE_CONSTRAINT_FOREIGNKEY']);

/**
 * Runs a write, turning a unique-key clash into `CONFLICT` and a missing parent into `NOT_FOUND`. The driver's
 * message (which may quote the clashing value) stays in `cause` only.
 */
export async function write<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
    if (typeof code === 'string' && UNIQUE_CODES.has(code)) {
      throw new PortcullisError('CONFLICT', `${what} conflicts with an existing one.`, { cause: error });
    }
    if (typeof code === 'string' && FOREIGN_KEY_CODES.has(code)) {
      throw new PortcullisError('NOT_FOUND', `${what} refers to something that does not exist.`, { cause: error });
    }
    throw error;
  }
}

/** Whether an UPDATE/DELETE result changed at least one row. */
export function changed(result: { numUpdatedRows?: bigint; numDeletedRows?: bigint } | undefined): boolean {
  if (result === undefined) return false;
  return (result.numUpdatedRows ?? result.numDeletedRows ?? 0n) > 0n;
}

/** A number from an integer column (PostgreSQL int8 arrives parsed by our pool; this also tolerates strings). */
export function num(value: number | string | bigint): number {
  return typeof value === 'number' ? value : Number(value);
}

/** A nullable number column. */
export function numOrNull(value: number | string | bigint | null): number | null {
  return value === null ? null : num(value);
}

/** A boolean from an integer (0/1) column, or PostgreSQL's boolean from an EXISTS. */
export function bool(value: unknown): boolean {
  return value === true || value === 1 || value === '1' || value === 1n;
}

/** A JSON-object column (`null` stays `null`; anything but an object reads as `{}`). */
export function parseJsonObject(text: string | null): JsonObject | null {
  if (text === null) return null;
  const value: unknown = JSON.parse(text);
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : {};
}

/** A JSON-array column (anything but an array reads as `[]`). */
export function parseJsonArray<T>(text: string): T[] {
  const value: unknown = JSON.parse(text);
  return Array.isArray(value) ? (value as T[]) : [];
}

/** Page size when a listing names none. */
export const DEFAULT_PAGE = 100;
/** The largest page a listing returns. */
export const MAX_PAGE = 1000;

/** The effective page size of a listing. */
export function pageSize(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_PAGE;
  return Math.min(MAX_PAGE, Math.max(1, Math.trunc(limit)));
}

/** Builds a page from `limit + 1` fetched rows. */
export function toPage<R, T>(rows: readonly R[], limit: number, map: (row: R) => T, cursorOf: (row: R) => string): Page<T> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  const last = kept[kept.length - 1];
  return { items: kept.map(map), nextCursor: more && last !== undefined ? cursorOf(last) : null };
}

/** A text-id cursor (opaque to callers; the last id seen). */
export function textCursor(options: PageOptions | undefined): string | null {
  const cursor = options?.cursor;
  return typeof cursor === 'string' && cursor !== '' ? cursor : null;
}

/** A numeric-id cursor; anything but a positive integer is a bad request. */
export function numericCursor(cursor: string | null | undefined): number | null {
  if (cursor === undefined || cursor === null || cursor === '') return null;
  if (!/^[1-9][0-9]{0,15}$/.test(cursor)) throw new PortcullisError('INVALID_REQUEST', 'The cursor is not valid.');
  return Number(cursor);
}

/** The failure state after an increment, as the repositories return it. */
export function failureState(row: { failures: number | string; locked_until: number | string | null }, now: number): FailureState {
  const lockedUntil = numOrNull(row.locked_until);
  return { failures: num(row.failures), lockedUntil, locked: lockedUntil !== null && lockedUntil > now };
}

/** Emails are compared trimmed and lower-cased. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}
