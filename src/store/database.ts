import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql, type SqliteDatabase } from 'kysely';
import pg from 'pg';
import { PortcullisError } from '../core/index.ts';
import type { Schema } from './schema.ts';

/** The embedded default database file. */
export const DEFAULT_SQLITE_PATH = './data/portcullis.db';

export type Dialect = 'sqlite' | 'postgres';

/** An open database: the Kysely instance, which dialect it speaks, and its lifecycle. */
export interface Database {
  readonly db: Kysely<Schema>;
  readonly dialect: Dialect;
  /** Closes every connection. */
  close(): Promise<void>;
  /** One round trip (`SELECT 1`); rejects when the database is unreachable (`/readyz`). */
  ping(): Promise<void>;
}

export interface DatabaseConfig {
  /** `postgres://…` / `postgresql://…` for PostgreSQL; `sqlite:<path>` / `file:<path>` for SQLite. */
  readonly url?: string;
  /** SQLite file when no URL is given; default {@link DEFAULT_SQLITE_PATH}; `:memory:` for a private in-memory database. */
  readonly sqlitePath?: string;
  /** PostgreSQL only: the schema to use (sets `search_path` on every connection of the pool). */
  readonly schema?: string;
  /** PostgreSQL only: pool size (default 10). */
  readonly poolSize?: number;
  /**
   * PostgreSQL only: how long opening a connection may take (default 5,000 ms) and how long one query may wait for
   * its answer (default 30,000 ms). An unreachable or silent database then fails the request (503) instead of
   * holding it until TCP gives up.
   */
  readonly connectTimeoutMs?: number;
  readonly queryTimeoutMs?: number;
  /** SQLite only: how long a writer waits for another process' lock (default 5,000 ms). */
  readonly busyTimeoutMs?: number;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const PG_INT8_OID = 20;

/**
 * Parses PostgreSQL's int8 (our epoch-ms times, counters, COUNT(*)) to a number. Every value we store in an int8
 * is below 2^53; anything larger would be a bug, so it fails loudly instead of losing precision.
 */
function parseInt8(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new PortcullisError('INTERNAL', 'An int8 value is outside the safe integer range.');
  return n;
}

/** Type parsers of our pools only; the global `pg.types` is left alone. */
const PG_TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === PG_INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** Which dialect a configuration selects, and its target. */
export function selectDialect(config: DatabaseConfig): { dialect: 'postgres'; url: string } | { dialect: 'sqlite'; path: string } {
  const url = config.url?.trim();
  if (url !== undefined && url !== '') {
    if (/^postgres(ql)?:\/\//i.test(url)) return { dialect: 'postgres', url };
    const file = /^(sqlite|file):(.*)$/i.exec(url);
    if (file !== null && file[2] !== undefined && file[2] !== '') return { dialect: 'sqlite', path: file[2].replace(/^\/\/(?=\/)/, '') };
    // Never echo the URL: it may carry a password.
    throw new PortcullisError('INVALID_REQUEST', 'The database URL must start with postgres://, postgresql://, sqlite: or file:.');
  }
  return { dialect: 'sqlite', path: config.sqlitePath ?? DEFAULT_SQLITE_PATH };
}

/**
 * Opens the database a configuration names: PostgreSQL for a `postgres://` URL (a pool of ~10), otherwise the
 * embedded SQLite file (WAL, busy timeout, foreign keys on), creating it (mode 0600) and its folder (0700) if needed.
 * Does not migrate.
 *
 * @example
 * const database = await openDatabase({ url: process.env.DATABASE_URL });
 * await migrateToLatest(database);
 */
export async function openDatabase(config: DatabaseConfig): Promise<Database> {
  const target = selectDialect(config);
  if (target.dialect === 'postgres') return openPostgres(target.url, config);
  return openSqlite(target.path, config);
}

const STATEMENT_CACHE_SIZE = 500;

/**
 * Kysely's SQLite driver prepares every query afresh; preparing costs more than running our small statements
 * (measured ~70 µs vs ~25 µs). Our queries are built from a fixed set of shapes with bound parameters, so a
 * small LRU of prepared statements keyed by SQL text removes that cost. better-sqlite3 is synchronous and Kysely
 * never streams here, so a cached statement is never in use twice at once.
 */
function cachingStatements(sqlite: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => {
      cache.clear();
      sqlite.close();
    },
    prepare: (text: string) => {
      let statement = cache.get(text);
      if (statement === undefined) {
        statement = sqlite.prepare(text);
        if (cache.size >= STATEMENT_CACHE_SIZE) {
          const oldest = cache.keys().next().value;
          if (oldest !== undefined) cache.delete(oldest);
        }
      } else {
        cache.delete(text); // re-insert: most recently used last
      }
      cache.set(text, statement);
      return statement;
    },
  };
}

/**
 * The database holds password hashes, sealed factor secrets and audit records: the folder it creates is 0700 and the
 * file 0600, whatever the umask (SQLite would make the file 0644 under the usual 022). SQLite gives its `-wal` and
 * `-shm` files the database file's mode. An existing folder or file keeps the mode its owner chose.
 */
function createPrivately(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

function openSqlite(path: string, config: DatabaseConfig): Database {
  if (path !== ':memory:') createPrivately(path);
  const sqlite = new BetterSqlite3(path);
  try {
    if (path !== ':memory:') sqlite.pragma('journal_mode = WAL');
    sqlite.pragma(`busy_timeout = ${Math.max(0, Math.trunc(config.busyTimeoutMs ?? 5000))}`);
    sqlite.pragma('foreign_keys = ON');
    // Small sorts and temporary b-trees stay in memory (a temp file per ORDER BY measured 2× slower).
    sqlite.pragma('temp_store = MEMORY');
    // WAL + NORMAL: durable across a process crash (kill -9); the last commits may be lost on power loss.
    sqlite.pragma('synchronous = NORMAL');
  } catch (error) {
    sqlite.close();
    throw error;
  }
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: cachingStatements(sqlite) }) });
  return {
    db,
    dialect: 'sqlite',
    close: () => db.destroy(),
    ping: async () => {
      await sql`select 1`.execute(db);
    },
  };
}

/**
 * pg's `query_timeout` fails the waiting query but leaves its connection waiting for the answer: against a database
 * that has gone silent (black-holed, not down: no reset ever comes) every pooled connection would stay busy for
 * good and the node would answer 503 long after the database is back. A read timeout therefore destroys the
 * connection; the pool drops it and opens a fresh one for the next request.
 */
function abandonOnReadTimeout(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]): unknown => {
    const result = query(...args);
    if (!(result instanceof Promise)) return result;
    return result.catch((error: unknown) => {
      if (error instanceof Error && error.message === 'Query read timeout') client.connection.stream.destroy();
      throw error;
    });
  };
}

function openPostgres(url: string, config: DatabaseConfig): Database {
  if (config.schema !== undefined && !IDENTIFIER.test(config.schema)) {
    throw new PortcullisError('INVALID_REQUEST', 'The PostgreSQL schema name must be a plain identifier.');
  }
  const queryTimeoutMs = config.queryTimeoutMs ?? 30_000;
  // Set at connection start-up (no extra round trip): the schema, and a server-side statement_timeout so that a
  // statement stuck on the server (a lock wait, a slow plan) is cancelled there too, not only abandoned here.
  const options = [...(config.schema === undefined ? [] : [`-c search_path=${config.schema}`]), `-c statement_timeout=${Math.max(1, Math.trunc(queryTimeoutMs))}`];
  const pool = new pg.Pool({
    connectionString: url,
    max: config.poolSize ?? 10,
    connectionTimeoutMillis: config.connectTimeoutMs ?? 5_000,
    query_timeout: queryTimeoutMs,
    // TCP keep-alives: an idle pooled connection to a host that has gone silent is found dead and dropped.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    types: PG_TYPES,
    options: options.join(' '),
  });
  // A lost connection must not crash the process; the query that meets it fails (→ 503) and the pool drops the
  // client. The pool reports idle clients' errors; a client checked out (between the queries of a transaction,
  // say) reports them itself, and an 'error' event without a listener would be an uncaught exception.
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', () => {});
    abandonOnReadTimeout(client);
  });
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    dialect: 'postgres',
    close: () => db.destroy(),
    ping: async () => {
      await sql`select 1`.execute(db);
    },
  };
}
