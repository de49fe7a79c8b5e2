/**
 * Passwords are rehashed when their parameters are outdated (issue 15): a user whose argon2id hash was made with
 * older parameters gets a hash with the current ones after a successful password sign-in, written with the sign-in's
 * outcome; a wrong password never changes the stored hash, nor does a right one already at the current parameters.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hash } from '@node-rs/argon2';
import { isPortcullisError } from '../core/index.ts';
import { DELIVERABLE_FACTOR_TYPES } from '../factors/index.ts';
import { hashPassword, needsRehash, PASSWORD_HASH_OPTIONS, verifyPassword } from '../factors/password.ts';
import { createSecretBox } from '../factors/secret-box.ts';
import { createStore, migrateToLatest, openDatabase, type ApplicationRecord, type Database, type Store } from '../store/index.ts';
import type { ServiceDeps } from './deps.ts';
import { signIn } from './flow-service.ts';

const PASSWORD = 'correct horse battery';
const silent = { info: () => {}, warn: () => {}, error: () => {} };

describe('password rehash at sign-in (SQLite)', () => {
  let dir: string;
  let database: Database;
  let store: Store;
  let deps: ServiceDeps;
  const clock = Date.UTC(2026, 10, 23, 9, 0, 0);
  let app: ApplicationRecord;
  let tenantId: string;
  let n = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-rehash-'));
    database = await openDatabase({ sqlitePath: join(dir, 'p.db') });
    await migrateToLatest(database);
    store = createStore(database);
    deps = { store, secrets: createSecretBox(randomBytes(32)), now: () => clock, logger: silent, deliverableFactors: DELIVERABLE_FACTOR_TYPES };
    tenantId = (await store.tenants.create({ slug: 'acme', name: 'Acme', now: clock })).id;
    app = await store.applications.create({ name: 'bank', firstParty: false, allTenants: true, clientId: 'c1', clientSecretHash: 'x', now: clock });
  });
  after(async () => {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A user whose stored hash is `passwordHash`; answers their id and email. */
  async function userWith(passwordHash: string): Promise<{ id: string; email: string }> {
    const email = `user-${++n}@example.com`;
    const user = await store.forTenant(tenantId).users.create({ email, passwordHash, now: clock });
    return { id: user.id, email };
  }
  const storedHash = async (id: string): Promise<string | null> => (await store.forTenant(tenantId).users.get(id))?.passwordHash ?? null;
  const signInAs = (email: string, password: string): ReturnType<typeof signIn> =>
    signIn(deps, { application: app }, { tenant: 'acme', identifier: email, password, context: { ip: '192.0.2.1', deviceId: 'dev-1', userAgent: 'test' } });

  // argon2id at older, weaker parameters than PASSWORD_HASH_OPTIONS (one pass, 8 MiB).
  const outdated = (): Promise<string> => hash(PASSWORD, { ...PASSWORD_HASH_OPTIONS, memoryCost: 8192, timeCost: 1 });

  it('a hash with outdated parameters is replaced by one with the current parameters after a right password', async () => {
    const old = await outdated();
    assert.equal(needsRehash(old), true);
    const user = await userWith(old);
    const result = await signInAs(user.email, PASSWORD);
    assert.equal(result.status, 'authenticated');
    const now = await storedHash(user.id);
    assert.ok(now !== null && now !== old, 'the hash was replaced');
    assert.equal(needsRehash(now), false, 'the new hash has the current parameters');
    assert.equal(await verifyPassword(now, PASSWORD), true, 'the new hash verifies the same password');
    const again = await signInAs(user.email, PASSWORD);
    assert.equal(again.status, 'authenticated', 'the user signs in with the new hash');
  });

  it('a wrong password never changes the stored hash, outdated or not', async () => {
    const old = await outdated();
    const user = await userWith(old);
    await assert.rejects(signInAs(user.email, 'wrong horse battery'), (e: unknown) => isPortcullisError(e) && e.code === 'INVALID_CREDENTIALS');
    assert.equal(await storedHash(user.id), old);
  });

  it('a hash already at the current parameters is left as it is', async () => {
    const current = await hashPassword(PASSWORD);
    const user = await userWith(current);
    assert.equal((await signInAs(user.email, PASSWORD)).status, 'authenticated');
    assert.equal(await storedHash(user.id), current);
  });
});
