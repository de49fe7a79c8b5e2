import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql } from 'kysely';
import { migrateToLatest, migrationsFor, openDatabase } from '../../src/store/index.ts';
import { createFreshSchema, dropSchema, postgresTestUrl } from '../support/postgres.ts';
import { runStoreContract } from './contract.ts';

/**
 * PostgreSQL from PORTCULLIS_TEST_DATABASE_URL. Set and unreachable → the suite fails (it never skips then);
 * unset → skipped with a message. Each run works in a fresh schema, dropped at the end, so parallel runs and
 * test files never collide.
 */
const url = postgresTestUrl();
const skip = url === undefined ? 'PORTCULLIS_TEST_DATABASE_URL is not set; PostgreSQL contract skipped' : undefined;
const pgUrl = (): string => {
  if (url === undefined) throw new Error('PORTCULLIS_TEST_DATABASE_URL is not set');
  return url;
};

runStoreContract({
  name: 'postgres',
  ...(skip === undefined ? {} : { skip }),
  open: async () => {
    const schema = await createFreshSchema(pgUrl(), 'portcullis_test');
    const database = await openDatabase({ url, schema });
    // Prove the suite really talks to PostgreSQL, in its own schema.
    const row = (await sql<{ version: string; schema: string }>`select version() as version, current_schema() as schema`.execute(database.db)).rows[0];
    assert.equal(database.dialect, 'postgres');
    assert.match(row?.version ?? '', /^PostgreSQL /);
    assert.equal(row?.schema, schema);
    return {
      database,
      dispose: async () => {
        await database.close();
        await dropSchema(pgUrl(), schema);
      },
    };
  },
});

test('two schemas of one PostgreSQL database migrate independently (Kysely would otherwise find the other one’s migration table)', { skip }, async () => {
  const schemas = [await createFreshSchema(pgUrl(), 'portcullis_test'), await createFreshSchema(pgUrl(), 'portcullis_test')];
  const tableCounts: number[] = [];
  try {
    for (const schema of schemas) {
      const database = await openDatabase({ url, schema });
      try {
        assert.deepEqual((await migrateToLatest(database)).applied, Object.keys(migrationsFor('postgres')));
        const tables = await sql<{ n: number }>`select count(*) as n from information_schema.tables where table_schema = ${schema}`.execute(database.db);
        // The twelve tables of 0001, those later migrations add, and Kysely's two.
        assert.ok((tables.rows[0]?.n ?? 0) >= 14);
        tableCounts.push(tables.rows[0]?.n ?? 0);
      } finally {
        await database.close();
      }
    }
    assert.equal(tableCounts[1], tableCounts[0], 'the second schema got every table too');
  } finally {
    for (const schema of schemas) await dropSchema(pgUrl(), schema);
  }
});
