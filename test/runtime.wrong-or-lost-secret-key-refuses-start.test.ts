/**
 * SECURITY issue #7: a lost or wrong secret key made every TOTP check a 500 while the server ran on as if healthy.
 * Now the server refuses to start, with a message that names the problem and where the key came from:
 * - the first start seals a check value; a later start with another key is refused (`SECRET_UNREADABLE`) and
 *   leaves nothing open, while the right key starts;
 * - a database from before the check (sealed TOTP secrets, no check value) is refused with a key that opens none
 *   of them, and the right key starts and writes the check value;
 * - two nodes starting at once on an empty database with different keys: one wins, the other is refused;
 * - the dev profile's key file lost beside its database: `portcullis start` exits 2 naming the file;
 * - the secret box's open failure is that same code, which the HTTP layer answers as a retryable 503.
 * On both databases.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import { forEachDialect, type Dialect } from './support/harness.ts';
import { createFreshSchema, dropSchema, postgresTestUrl } from './support/postgres.ts';
import { START_COMMAND } from '../src/cli/server-commands.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { PortcullisError } from '../src/core/index.ts';
import { createSecretBox, secretAad } from '../src/factors/secret-box.ts';
import { toHttpError } from '../src/http/errors.ts';
import { createLogger } from '../src/http/logger.ts';
import { createRuntime, type Runtime } from '../src/runtime.ts';
import { checkSecretKey } from '../src/services/key-check.ts';
import { keyCheckRepository, openDatabase } from '../src/store/index.ts';

const logger = createLogger({ level: 'silent' });
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const newKey = (): string => randomBytes(32).toString('base64');

/** A fresh, empty database of `dialect`, and how to start a runtime on it with a given key. */
async function freshDeployment(dialect: Dialect): Promise<{ start: (key: string | null) => Promise<Runtime>; config: (key: string | null) => Config; schema?: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-key-check-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  let schema: string | undefined;
  const url = postgresTestUrl();
  if (dialect === 'postgres') {
    if (url === undefined) throw new Error('PORTCULLIS_TEST_DATABASE_URL is not set');
    const created = await createFreshSchema(url, 'portcullis_keycheck');
    schema = created;
    cleanups.push(() => dropSchema(url, created));
  }
  const config = (key: string | null): Config => {
    const result = loadConfig({ PORTCULLIS_DATA_DIR: dir, ...(key === null ? {} : { PORTCULLIS_SECRET_KEY: key }), ...(dialect === 'postgres' ? { DATABASE_URL: url } : {}) }, () => '');
    if (!result.ok) throw new Error(result.errors.join('; '));
    return result.config;
  };
  return { config, start: (key) => createRuntime(config(key), { logger, ...(schema === undefined ? {} : { schema }) }), ...(schema === undefined ? {} : { schema }) };
}

const refusedFor = (source: RegExp) => (error: unknown): boolean => {
  assert.ok(error instanceof PortcullisError, String(error));
  assert.equal(error.code, 'SECRET_UNREADABLE');
  assert.match(error.message, /is not the key this database's secrets were sealed with/);
  assert.match(error.message, /refusing to start/);
  assert.match(error.message, source);
  return true;
};

/** Seals a TOTP secret the way enrollment does and stores it on a new factor. */
async function storeSealedFactor(runtime: Runtime, suffix: string): Promise<void> {
  const now = Date.now();
  const tenant = await runtime.store.tenants.create({ slug: `keys-${suffix}`, name: 'Keys', now });
  const t = runtime.store.forTenant(tenant.id);
  const user = await t.users.create({ email: `ada-${suffix}@example.com`, now });
  const factorId = crypto.randomUUID();
  await t.factors.create({ id: factorId, userId: user.id, type: 'totp', status: 'pending', label: 'app', secretEnc: runtime.deps.secrets.seal(randomBytes(20), secretAad(tenant.id, factorId)), expiresAt: now + 600_000, now });
}

forEachDialect((dialect) => {
  describe(`secret-key check at start (${dialect})`, () => {
    it('the first start seals a check value; the same key starts again; another key is refused and nothing stays open', async () => {
      const deployment = await freshDeployment(dialect);
      const keyA = newKey();
      await (await deployment.start(keyA)).close();
      await (await deployment.start(keyA)).close();
      await assert.rejects(deployment.start(newKey()), refusedFor(/PORTCULLIS_SECRET_KEY/));
      // Refused more than once without leaking connections, and the right key still starts after it.
      await assert.rejects(deployment.start(newKey()), refusedFor(/PORTCULLIS_SECRET_KEY/));
      await (await deployment.start(keyA)).close();
    });

    it('a database from before the check: refused unless the key opens its sealed TOTP secrets, then the check is written', async () => {
      const deployment = await freshDeployment(dialect);
      const keyA = newKey();
      const first = await deployment.start(keyA);
      await storeSealedFactor(first, 'a');
      await storeSealedFactor(first, 'b');
      // As before migration 0005: no check value.
      await sql`delete from key_check`.execute(first.database.db);
      await first.close();

      await assert.rejects(deployment.start(newKey()), refusedFor(/PORTCULLIS_SECRET_KEY/));
      const again = await deployment.start(keyA);
      assert.notEqual(await keyCheckRepository(again.database).read(), null, 'the check value is written');
      await again.close();
      await assert.rejects(deployment.start(newKey()), refusedFor(/PORTCULLIS_SECRET_KEY/));
    });

    it('two nodes starting at once on an empty database with different keys: one stores its value, the other is refused', async () => {
      const deployment = await freshDeployment(dialect);
      await (await deployment.start(newKey())).close(); // migrated
      const config = deployment.config(newKey());
      const database = await openDatabase(config.database.kind === 'postgres' ? { url: config.database.url, ...(deployment.schema === undefined ? {} : { schema: deployment.schema }) } : { sqlitePath: config.database.path });
      try {
        await sql`delete from key_check`.execute(database.db);
        const repo = keyCheckRepository(database);
        const results = await Promise.allSettled([checkSecretKey(repo, createSecretBox(randomBytes(32)), 1, 'node A'), checkSecretKey(repo, createSecretBox(randomBytes(32)), 1, 'node B')]);
        assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
      } finally {
        await database.close();
      }
    });
  });
});

describe('the dev key file lost beside its database (SQLite, the CLI)', () => {
  it('`portcullis start` exits 2 naming the key file, instead of serving TOTP checks that all fail', async () => {
    const deployment = await freshDeployment('sqlite');
    const config = deployment.config(null);
    const first = await deployment.start(null); // creates the dev key file
    await storeSealedFactor(first, 'dev');
    await first.close();
    rmSync(config.secretKeyFile);

    const saved = { ...process.env };
    let stderr = '';
    try {
      for (const key of Object.keys(process.env)) if (key.startsWith('PORTCULLIS_') || key === 'DATABASE_URL') delete process.env[key];
      Object.assign(process.env, { PORTCULLIS_DATA_DIR: config.dataDir, LOG_LEVEL: 'silent' });
      const code = await START_COMMAND.run([], { stdout: () => undefined, stderr: (text) => (stderr += text), readFile: () => Promise.resolve('') });
      assert.equal(code, 2, stderr);
    } finally {
      process.env = saved;
    }
    assert.match(stderr, /portcullis: The secret key \(the dev key file .*secret\.key, created just now because it was missing\) is not the key/);
  });
});

describe('the secret box refuses with SECRET_UNREADABLE, answered as a retryable 503', () => {
  it('a value sealed under another key', () => {
    const sealed = createSecretBox(randomBytes(32)).seal(Buffer.from('x'), 'row');
    assert.throws(() => createSecretBox(randomBytes(32)).open(sealed, 'row'), (e: unknown) => e instanceof PortcullisError && e.code === 'SECRET_UNREADABLE');
    const answer = toHttpError(new PortcullisError('SECRET_UNREADABLE', 'A stored secret could not be decrypted.'));
    assert.deepEqual([answer.status, answer.body.error, answer.level], [503, 'SERVICE_UNAVAILABLE', 'error']);
    assert.ok(!answer.body.message.includes('decrypt'), 'no hint about keys to the caller');
  });
});
