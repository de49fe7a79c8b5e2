/**
 * Shared plumbing of the Kysely repositories: the binding (database or transaction), atomic sections, error
 * mapping, JSON columns and paging.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Kysely } from 'kysely';
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
  const tx: OpenTransaction = { root: binding.root, open: true };
  try {
    return await currentTransaction.run(tx, () => binding.root.transaction().execute(fn));
  } finally {
    tx.open = false;
  }
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
