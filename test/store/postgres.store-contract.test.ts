import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { migrateToLatest, openDatabase } from '../../src/store/index.ts';
import { runStoreContract } from './contract.ts';

/**
 * PostgreSQL from PORTCULLIS_TEST_DATABASE_URL. Set and unreachable → the suite fails (it never skips then);
 * unset → skipped with a message. Each run works in a fresh schema, dropped at the end, so parallel runs and
 * test files never collide.
 */
const url = process.env.PORTCULLIS_TEST_DATABASE_URL?.trim();
const skip = url === undefined || url === '' ? 'PORTCULLIS_TEST_DATABASE_URL is not set; PostgreSQL contract skipped' : undefined;

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

runStoreContract({
  name: 'postgres',
  ...(skip === undefined ? {} : { skip }),
  open: async () => {
    const schema = `portcullis_test_${randomBytes(6).toString('hex')}`;
    await admin((c) => c.query(`create schema "${schema}"`));
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
        await admin((c) => c.query(`drop schema "${schema}" cascade`));
      },
    };
  },
});

test('two schemas of one PostgreSQL database migrate independently (Kysely would otherwise find the other one’s migration table)', { skip }, async () => {
  const schemas = [0, 1].map(() => `portcullis_test_${randomBytes(6).toString('hex')}`);
  await admin(async (c) => {
    for (const s of schemas) await c.query(`create schema "${s}"`);
  });
  try {
    for (const schema of schemas) {
      const database = await openDatabase({ url, schema });
      try {
        assert.deepEqual((await migrateToLatest(database)).applied, ['0001-initial']);
        const tables = await sql<{ n: number }>`select count(*) as n from information_schema.tables where table_schema = ${schema}`.execute(database.db);
        assert.equal(tables.rows[0]?.n, 14);
      } finally {
        await database.close();
      }
    }
  } finally {
    await admin(async (c) => {
      for (const s of schemas) await c.query(`drop schema "${s}" cascade`);
    });
  }
});
