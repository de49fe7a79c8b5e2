import { sql, type Kysely } from 'kysely';
import { Migrator, type Migration, type MigrationResult } from 'kysely/migration';
import { PortcullisError } from '../../core/index.ts';
import type { Database, Dialect } from '../database.ts';
import { initialMigration } from './0001-initial.ts';
import { sessionsMigration } from './0002-sessions.ts';
import { signingKeysMigration } from './0003-signing-keys.ts';
import { signinThrottleMigration } from './0004-signin-throttle.ts';
import { keyCheckMigration } from './0005-key-check.ts';
import { catalogVersionMigration } from './0006-catalog-version.ts';
import { riskSignalsMigration } from './0007-risk-signals.ts';
import { shadowPolicyMigration } from './0008-shadow-policy.ts';
import { oidcStorageMigration } from './0009-oidc-storage.ts';
import { trustedDevicesMigration } from './0010-trusted-devices.ts';
import { webauthnMigration } from './0011-webauthn.ts';
import { oidcPartialIndexesMigration } from './0012-oidc-partial-indexes.ts';
import { oidcClientsCatalogMigration } from './0013-oidc-clients-catalog.ts';

/**
 * The one migration set, for both dialects, in order. Names sort lexically; never rename or edit a released one —
 * add a new one.
 */
export function migrationsFor(dialect: Dialect): Record<string, Migration> {
  return {
    '0001-initial': initialMigration(dialect),
    '0002-sessions': sessionsMigration(),
    '0003-signing-keys': signingKeysMigration(),
    '0004-signin-throttle': signinThrottleMigration(),
    '0005-key-check': keyCheckMigration(),
    '0006-catalog-version': catalogVersionMigration(dialect),
    '0007-risk-signals': riskSignalsMigration(),
    '0008-shadow-policy': shadowPolicyMigration(),
    '0009-oidc-storage': oidcStorageMigration(),
    '0010-trusted-devices': trustedDevicesMigration(),
    '0011-webauthn': webauthnMigration(),
    '0012-oidc-partial-indexes': oidcPartialIndexesMigration(),
    '0013-oidc-clients-catalog': oidcClientsCatalogMigration(dialect),
  };
}

/** The outcome of a migration run: the migrations applied by this run, by name. */
export interface MigrationReport {
  readonly applied: readonly string[];
}

/**
 * On PostgreSQL the migration tables are pinned to the connection's current schema: Kysely otherwise looks for
 * them in every schema, so another schema's `kysely_migration` (another deployment, a parallel test run) would
 * make it skip creating ours.
 */
async function migratorFor(database: Database): Promise<Migrator> {
  const migrations = migrationsFor(database.dialect);
  let migrationTableSchema: string | undefined;
  if (database.dialect === 'postgres') {
    const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(database.db);
    migrationTableSchema = rows[0]?.schema ?? undefined;
  }
  return new Migrator({
    db: database.db as unknown as Kysely<unknown>,
    provider: { getMigrations: () => Promise.resolve(migrations) },
    ...(migrationTableSchema === undefined ? {} : { migrationTableSchema }),
  });
}

/**
 * Applies every pending migration (at start and by `portcullis migrate`). Concurrent runs are safe: Kysely takes
 * a migration lock. Throws `PortcullisError('INTERNAL')` with the failing migration's name if one fails.
 *
 * @example
 * const database = await openDatabase({ url: process.env.DATABASE_URL });
 * const { applied } = await migrateToLatest(database);
 */
export async function migrateToLatest(database: Database): Promise<MigrationReport> {
  const { error, results } = await (await migratorFor(database)).migrateToLatest();
  const applied = (results ?? []).filter((r: MigrationResult) => r.status === 'Success').map((r) => r.migrationName);
  if (error !== undefined) {
    const failed = (results ?? []).find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new PortcullisError('INTERNAL', `Database migration ${failed} failed.`, { cause: error, detail: String(error) });
  }
  return { applied };
}
