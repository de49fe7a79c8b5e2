/**
 * Where a request's time goes in the database: counts and times every statement by its SQL text — on SQLite by
 * wrapping better-sqlite3's Statement `all`/`run`/`get` (time inside SQLite), on PostgreSQL by wrapping
 * `pg.Client#query` (time from send to answer, round trip included). Diagnostics for the benchmarks only; never
 * used by the server.
 */
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';

interface Tally {
  count: number;
  ns: bigint;
}

const tallies = new Map<string, Tally>();
let installed = false;

function record(sql: string, start: bigint): void {
  const t = tallies.get(sql) ?? { count: 0, ns: 0n };
  t.count++;
  t.ns += process.hrtime.bigint() - start;
  tallies.set(sql, t);
}

type Method = (this: unknown, ...args: unknown[]) => unknown;

/** Installs the wrappers (once per process). */
export function installSqlProfile(): void {
  if (installed) return;
  installed = true;
  const probe = new BetterSqlite3(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<'all' | 'run' | 'get', Method>;
  probe.close();
  for (const name of ['all', 'run', 'get'] as const) {
    const original = proto[name];
    proto[name] = function (this: unknown, ...args: unknown[]): unknown {
      const start = process.hrtime.bigint();
      try {
        return original.apply(this, args);
      } finally {
        record((this as { source: string }).source, start);
      }
    };
  }
  const clientProto = pg.Client.prototype as unknown as { query: Method };
  const query = clientProto.query;
  clientProto.query = function (this: unknown, ...args: unknown[]): unknown {
    const first = args[0];
    const text = typeof first === 'string' ? first : typeof first === 'object' && first !== null && 'text' in first ? String(first.text) : '?';
    const start = process.hrtime.bigint();
    const result = query.apply(this, args);
    if (result instanceof Promise) return result.finally(() => record(text, start));
    return result;
  };
}

/** Forgets what was counted so far. */
export function resetSqlProfile(): void {
  tallies.clear();
}

/** Prints the statements run since the last reset, per request of `requests`, costliest first. */
export function printSqlProfile(label: string, requests: number): void {
  const rows = [...tallies].sort((a, b) => Number(b[1].ns - a[1].ns));
  let count = 0;
  let ns = 0n;
  for (const [, t] of rows) {
    count += t.count;
    ns += t.ns;
  }
  console.log(`  ${label}: ${(count / requests).toFixed(1)} statements per request, ${(Number(ns) / 1e3 / requests).toFixed(0)} µs in the database per request`);
  for (const [sql, t] of rows) {
    console.log(`    ${(t.count / requests).toFixed(2).padStart(5)}× ${(Number(t.ns) / 1e3 / t.count).toFixed(1).padStart(7)} µs  ${sql.replace(/\s+/g, ' ').slice(0, 160)}`);
  }
}
