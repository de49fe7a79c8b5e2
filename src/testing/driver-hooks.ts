/**
 * Hooks around the database drivers' own calls — better-sqlite3's `Statement#run/all/get` and pg's `Client#query` —
 * for diagnostics that must see what actually reaches SQLite or PostgreSQL (the statement-budget tests, the
 * benchmarks' SQL profile). Each call of a `wrap…` function patches the prototype once more; callers install once.
 * Never used by the server.
 */
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';

type Method = (this: unknown, ...args: unknown[]) => unknown;

/** A prepared statement as the hook sees it. */
export interface SqliteStatement {
  readonly source: string;
  readonly database: { readonly inTransaction: boolean };
}

/** Runs `around` for every better-sqlite3 statement call; `call` runs the statement and returns its result. */
export function wrapSqliteStatements(around: (statement: SqliteStatement, call: () => unknown) => unknown): void {
  const probe = new BetterSqlite3(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<'all' | 'run' | 'get', Method>;
  probe.close();
  for (const name of ['all', 'run', 'get'] as const) {
    const original = proto[name];
    proto[name] = function (this: unknown, ...args: unknown[]): unknown {
      return around(this as SqliteStatement, () => original.apply(this, args));
    };
  }
}

/** Runs `around` for every pg `Client#query` call, with the query's SQL text (empty when it has none). */
export function wrapPgQueries(around: (client: object, text: string, call: () => unknown) => unknown): void {
  const clientProto = pg.Client.prototype as unknown as { query: Method };
  const query = clientProto.query;
  clientProto.query = function (this: unknown, ...args: unknown[]): unknown {
    const first = args[0];
    const text = typeof first === 'string' ? first : typeof first === 'object' && first !== null && 'text' in first ? String(first.text) : '';
    return around(this as object, text, () => query.apply(this, args));
  };
}
