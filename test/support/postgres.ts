/**
 * PostgreSQL for tests and benchmarks: the configured URL, a one-off admin client, and fresh schemas that keep
 * parallel test files and runs apart.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The PostgreSQL URL of the test database, or undefined when PostgreSQL tests are not configured. */
export function postgresTestUrl(): string | undefined {
  const url = process.env.PORTCULLIS_TEST_DATABASE_URL?.trim();
  return url === undefined || url === '' ? undefined : url;
}

/** Runs `fn` with a connected client of its own, closed afterwards. */
export async function withPgClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty schema named `<prefix>_<12 hex digits>` and returns its name. */
export async function createFreshSchema(url: string, prefix: string): Promise<string> {
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`;
  await withPgClient(url, (c) => c.query(`create schema "${schema}"`));
  return schema;
}

/** Drops a schema made by {@link createFreshSchema}, with everything in it. */
export async function dropSchema(url: string, schema: string): Promise<void> {
  await withPgClient(url, (c) => c.query(`drop schema if exists "${schema}" cascade`));
}
