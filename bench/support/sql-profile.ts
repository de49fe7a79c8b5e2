/**
 * Where a request's time goes in the database: counts and times every statement by its SQL text — on SQLite by
 * wrapping better-sqlite3's Statement `all`/`run`/`get` (time inside SQLite), on PostgreSQL by wrapping
 * `pg.Client#query` (time from send to answer, round trip included). Diagnostics for the benchmarks only; never
 * used by the server.
 */
import { wrapPgQueries, wrapSqliteStatements } from '../../src/testing/driver-hooks.ts';

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

/** Installs the wrappers (once per process). */
export function installSqlProfile(): void {
  if (installed) return;
  installed = true;
  wrapSqliteStatements((statement, call) => {
    const start = process.hrtime.bigint();
    try {
      return call();
    } finally {
      record(statement.source, start);
    }
  });
  wrapPgQueries((_client, text, call) => {
    const start = process.hrtime.bigint();
    const result = call();
    if (result instanceof Promise) return result.finally(() => record(text || '?', start));
    return result;
  });
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
