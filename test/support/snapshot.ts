/**
 * A digest of every row of every table, to prove that a refused request changed nothing (SECURITY: "never a
 * state change"). Works on both dialects.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Database } from '../../src/store/index.ts';

async function tableNames(database: Database): Promise<string[]> {
  if (database.dialect === 'sqlite') {
    const rows = await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name`.execute(database.db);
    return rows.rows.map((r) => r.name);
  }
  const rows = await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema() order by table_name`.execute(database.db);
  return rows.rows.map((r) => r.name);
}

/**
 * SHA-256 over every table's rows (sorted, as JSON), keyed by table name.
 *
 * @example
 * const before = await snapshot(h.database);
 * // … a refused request …
 * assert.deepEqual(await snapshot(h.database), before);
 */
export async function snapshot(database: Database): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of await tableNames(database)) {
    const rows = await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(database.db);
    const lines = rows.rows.map((r) => JSON.stringify(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1)), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).sort();
    out[name] = `${rows.rows.length}:${createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 16)}`;
  }
  return out;
}
