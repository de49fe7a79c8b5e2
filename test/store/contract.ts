/**
 * The storage contract: one suite every store must pass, on SQLite and on PostgreSQL (STYLE §6, after lucia's
 * shared adapter tests and kratos' persister tests). Each test makes its own tenants, so tests are independent.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { indexPolicyLayers, isPortcullisError, resolvePolicy, selectLayers, type ErrorCode } from '../../src/core/index.ts';
import {
  flowState,
  createStore,
  LOCKED_UNTIL_RESET,
  migrateToLatest,
  migrationsFor,
  type Database,
  type NewSigningKey,
  type Store,
  type TenantRecord,
  type TenantStore,
  type UserRecord,
} from '../../src/store/index.ts';

/** How a test file opens a fresh, empty database for the suite, and disposes of it afterwards. */
export interface ContractTarget {
  readonly name: string;
  /** A reason to skip the whole suite (e.g. PostgreSQL not configured), or undefined to run it. */
  readonly skip?: string;
  open(): Promise<{ readonly database: Database; dispose(): Promise<void> }>;
}

const NOW = Date.UTC(2026, 0, 1);

function uid(): string {
  return randomUUID().slice(0, 8);
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isPortcullisError(error), `expected a PortcullisError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

/** Runs `n` calls at once and returns their results. */
function parallel<T>(n: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => fn(i)));
}

/** Registers the contract suite for one target. */
export function runStoreContract(target: ContractTarget): void {
  describe(`store contract (${target.name})`, { skip: target.skip }, () => {
    let database: Database;
    let dispose: () => Promise<void>;
    let store: Store;

    before(async () => {
      const opened = await target.open();
      database = opened.database;
      dispose = opened.dispose;
      const report = await migrateToLatest(database);
      assert.deepEqual(report.applied, Object.keys(migrationsFor(database.dialect)));
      store = createStore(database);
    });

    after(async () => {
      await dispose?.();
    });

    async function newTenant(name = 'Tenant'): Promise<{ tenant: TenantRecord; t: TenantStore }> {
      const tenant = await store.tenants.create({ slug: `t-${uid()}`, name, now: NOW });
      return { tenant, t: store.forTenant(tenant.id) };
    }

    async function newApplication(name = 'App', firstParty = false): Promise<string> {
      const app = await store.applications.create({ name, firstParty, clientId: `c-${uid()}`, clientSecretHash: 'hash', now: NOW });
      return app.id;
    }

    async function newUser(t: TenantStore, extra: { email?: string; externalId?: string } = {}): Promise<UserRecord> {
      return t.users.create({ email: extra.email ?? `u-${uid()}@example.com`, externalId: extra.externalId ?? null, roles: ['staff'], now: NOW });
    }

    it('reports dialect, answers ping, and migrating again applies nothing', async () => {
      assert.equal(store.dialect, database.dialect);
      await database.ping();
      assert.deepEqual((await migrateToLatest(database)).applied, []);
    });

    describe('platform repositories', () => {
      it('tenants: create, get, find by slug, update, page, conflict, delete', async () => {
        const slug = `acme-${uid()}`;
        const created = await store.tenants.create({ slug, name: 'Acme', now: NOW });
        assert.deepEqual(created, { id: created.id, slug, name: 'Acme', createdAt: NOW, updatedAt: NOW });
        assert.deepEqual(await store.tenants.get(created.id), created);
        assert.deepEqual(await store.tenants.findBySlug(slug), created);
        await rejectsWith(store.tenants.create({ slug, name: 'Again', now: NOW }), 'CONFLICT');

        const updated = await store.tenants.update(created.id, { name: 'Acme Corp' }, NOW + 1);
        assert.deepEqual(updated, { ...created, name: 'Acme Corp', updatedAt: NOW + 1 });
        assert.equal(await store.tenants.update(randomUUID(), { name: 'x' }, NOW), null);

        for (let i = 0; i < 3; i++) await store.tenants.create({ slug: `page-${uid()}`, name: 'P', now: NOW });
        const seen = new Set<string>();
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page = await store.tenants.list({ limit: 2, cursor });
          assert.ok(page.items.length <= 2);
          for (const item of page.items) {
            assert.ok(!seen.has(item.id), 'a tenant appears on two pages');
            seen.add(item.id);
          }
          cursor = page.nextCursor;
          pages++;
        } while (cursor !== null && pages < 1000);
        assert.ok(seen.has(created.id));
        assert.ok(seen.size >= 4);

        assert.equal(await store.tenants.delete(created.id), true);
        assert.equal(await store.tenants.get(created.id), null);
        assert.equal(await store.tenants.delete(created.id), false);
      });

      it('applications serve only assigned tenants unless allTenants', async () => {
        const app = await store.applications.create({ name: 'Bound', firstParty: false, clientId: `client-${uid()}`, clientSecretHash: 'h', now: NOW });
        const a = await store.tenants.create({ slug: `a-${uid()}`, name: 'A', now: NOW });
        const b = await store.tenants.create({ slug: `b-${uid()}`, name: 'B', now: NOW });
        assert.equal(await store.applications.servesTenant(app.id, a.id), false);
        assert.equal(await store.applications.assignTenant(app.id, a.id, NOW), true);
        assert.equal(await store.applications.assignTenant(app.id, a.id, NOW), false);
        assert.equal(await store.applications.servesTenant(app.id, a.id), true);
        assert.equal(await store.applications.servesTenant(app.id, b.id), false);
        assert.deepEqual(await store.applications.listTenantIds(app.id), [a.id]);
        assert.deepEqual((await store.applications.listForTenant(a.id)).map((x) => x.id), [app.id]);
        await store.applications.update(app.id, { allTenants: true }, NOW);
        assert.equal(await store.applications.servesTenant(app.id, b.id), true);
        assert.equal(await store.applications.unassignTenant(app.id, a.id), true);
        assert.equal(await store.applications.unassignTenant(app.id, a.id), false);
      });

      it('login sessions: create, find by token hash, conditional update, list live, revoke', async () => {
        const { t } = await newTenant();
        const user = await newUser(t);
        const app = await store.applications.create({ name: 'S', firstParty: false, clientId: `client-${uid()}`, clientSecretHash: 'h', now: NOW });
        const base = { userId: user.id, applicationId: app.id, amr: ['pwd', 'otp', 'mfa'], acr: 'urn:portcullis:acr:mfa', authTime: NOW, mfaAt: NOW, steps: [{ method: 'password', factorId: null }], deviceId: null, ip: null, userAgent: null, expiresAt: NOW + 1000, now: NOW };
        const s1 = await t.loginSessions.create({ ...base, id: randomUUID(), tokenHash: `h1-${uid()}` });
        await t.loginSessions.create({ ...base, id: randomUUID(), tokenHash: `h2-${uid()}` });
        assert.deepEqual(await t.loginSessions.findByTokenHash(s1.tokenHash), s1);
        assert.equal(await t.loginSessions.update(s1.id, { grants: { payment: NOW + 1 } }, NOW + 1, 'wrong-hash'), false);
        assert.equal(await t.loginSessions.update(s1.id, { grants: { payment: NOW + 1 }, tokenHash: `h3-${uid()}` }, NOW + 1, s1.tokenHash), true);
        assert.deepEqual((await t.loginSessions.get(s1.id))?.grants, { payment: NOW + 1 });
        assert.equal(await t.loginSessions.findByTokenHash(s1.tokenHash), null);
        assert.equal((await t.loginSessions.listLive(user.id, NOW + 2)).length, 2);
        assert.equal(await t.loginSessions.revoke(s1.id, NOW + 2), true);
        assert.equal(await t.loginSessions.revoke(s1.id, NOW + 2), false);
        assert.equal((await t.loginSessions.listLive(user.id, NOW + 2)).length, 1);
        assert.equal((await t.loginSessions.listLive(user.id, NOW + 1000)).length, 0, 'expired sessions are not live');
        assert.equal(await t.loginSessions.revokeAllForUser(user.id, NOW + 3), 1);
        // Another tenant does not see them.
        const other = await newTenant();
        assert.equal(await other.t.loginSessions.get(s1.id), null);
      });

      it('applications: create, get, find by client id, update, conflict, delete', async () => {
        const clientId = `client-${uid()}`;
        const app = await store.applications.create({ name: 'Bank', firstParty: true, clientId, clientSecretHash: '$argon2id$x', now: NOW });
        assert.deepEqual(app, { id: app.id, name: 'Bank', firstParty: true, clientId, clientSecretHash: '$argon2id$x', allTenants: false, createdAt: NOW, updatedAt: NOW });
        assert.deepEqual(await store.applications.get(app.id), app);
        assert.deepEqual(await store.applications.findByClientId(clientId), app);
        await rejectsWith(store.applications.create({ name: 'Dup', firstParty: false, clientId, clientSecretHash: 'h', now: NOW }), 'CONFLICT');
        const updated = await store.applications.update(app.id, { firstParty: false, clientSecretHash: 'new' }, NOW + 5);
        assert.deepEqual(updated, { ...app, firstParty: false, clientSecretHash: 'new', updatedAt: NOW + 5 });
        const listed = await store.applications.list({ limit: 1000 });
        assert.ok(listed.items.some((a) => a.id === app.id));
        assert.equal(await store.applications.delete(app.id), true);
        assert.equal(await store.applications.get(app.id), null);
      });

      it('admin tokens: platform-wide and tenant-scoped, find by hash, count, list, delete', async () => {
        const { tenant } = await newTenant();
        const before = await store.adminTokens.count();
        const platform = await store.adminTokens.create({ tokenHash: `h-${uid()}`, tenantId: null, label: 'root', now: NOW });
        const scoped = await store.adminTokens.create({ tokenHash: `h-${uid()}`, tenantId: tenant.id, label: 'acme admin', now: NOW });
        assert.equal(await store.adminTokens.count(), before + 2);
        assert.deepEqual(await store.adminTokens.findByHash(platform.tokenHash), platform);
        assert.deepEqual(await store.adminTokens.findByHash(scoped.tokenHash), { id: scoped.id, tokenHash: scoped.tokenHash, tenantId: tenant.id, label: 'acme admin', createdAt: NOW });
        assert.equal(await store.adminTokens.findByHash('nope'), null);
        await rejectsWith(store.adminTokens.create({ tokenHash: platform.tokenHash, tenantId: null, label: 'dup', now: NOW }), 'CONFLICT');
        assert.deepEqual((await store.adminTokens.list({ tenantId: tenant.id })).items, [scoped]);
        assert.ok((await store.adminTokens.list({ tenantId: null, limit: 1000 })).items.every((x) => x.tenantId === null));
        assert.equal(await store.adminTokens.delete(platform.id), true);
        assert.equal(await store.adminTokens.findByHash(platform.tokenHash), null);
        // Deleting the tenant revokes its tokens.
        await store.tenants.delete(tenant.id);
        assert.equal(await store.adminTokens.findByHash(scoped.tokenHash), null);
      });
    });

    describe('signing keys (platform level)', () => {
      // The table is shared by the whole suite, so these cases run in order and each leaves no active key behind.
      const MIN = 60_000;
      const newKey = (now: number): NewSigningKey => {
        const kid = `kid-${uid()}`;
        return { kid, alg: 'ES256', publicJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid, alg: 'ES256', use: 'sig' }, privateJwkSealed: `v1.sealed.${kid}`, now };
      };
      const retireAll = async (at: number): Promise<void> => {
        await store.signingKeys.retireActive(at, at);
        await store.signingKeys.deleteExpired(at + 1);
      };

      it('one active key: the first insert wins, a second is refused without error, and it round-trips', async () => {
        const first = newKey(NOW);
        assert.equal(await store.signingKeys.insertActiveIfNone(first), true);
        const second = newKey(NOW + 1);
        assert.equal(await store.signingKeys.insertActiveIfNone(second), false);
        const active = await store.signingKeys.getActive();
        assert.deepEqual(active, {
          kid: first.kid,
          alg: 'ES256',
          publicJwk: first.publicJwk,
          privateJwkSealed: first.privateJwkSealed,
          state: 'active',
          createdAt: NOW,
          activatedAt: NOW,
          retiredAt: null,
          retireAfter: null,
        });
        assert.deepEqual(await store.signingKeys.get(first.kid), active);
        assert.equal(await store.signingKeys.get(second.kid), null);
        await retireAll(NOW);
      });

      it('retire then insert: the old key stays published until retireAfter, then is deleted; active listed first', async () => {
        const old = newKey(NOW);
        assert.equal(await store.signingKeys.insertActiveIfNone(old), true);
        assert.equal(await store.signingKeys.retireActive(NOW + 10 * MIN, NOW + MIN), old.kid);
        assert.equal(await store.signingKeys.getActive(), null);
        assert.equal(await store.signingKeys.retireActive(NOW + 10 * MIN, NOW + MIN), null, 'nothing active to retire');
        const fresh = newKey(NOW + MIN);
        assert.equal(await store.signingKeys.insertActiveIfNone(fresh), true);

        const published = await store.signingKeys.listPublished(NOW + 2 * MIN);
        assert.deepEqual(published.map((k) => [k.kid, k.state]), [[fresh.kid, 'active'], [old.kid, 'retiring']]);
        const retired = published[1];
        assert.equal(retired?.retiredAt, NOW + MIN);
        assert.equal(retired?.retireAfter, NOW + 10 * MIN);
        assert.deepEqual((await store.signingKeys.listPublished(NOW + 10 * MIN)).map((k) => k.kid), [fresh.kid], 'retireAfter is exclusive');
        assert.deepEqual((await store.signingKeys.list()).map((k) => k.kid), [fresh.kid, old.kid]);

        assert.equal(await store.signingKeys.deleteExpired(NOW + 10 * MIN - 1), 0);
        assert.equal(await store.signingKeys.deleteExpired(NOW + 10 * MIN), 1);
        assert.equal(await store.signingKeys.get(old.kid), null);
        assert.equal((await store.signingKeys.getActive())?.kid, fresh.kid, 'the active key is never deleted');
        await retireAll(NOW + 20 * MIN);
        assert.deepEqual(await store.signingKeys.list(), []);
      });

      it('20 concurrent inserts on an empty key set → exactly one active key', async () => {
        const results = await parallel(20, (i) => store.signingKeys.insertActiveIfNone(newKey(NOW + i)));
        assert.equal(results.filter(Boolean).length, 1);
        assert.equal((await store.signingKeys.list()).filter((k) => k.state === 'active').length, 1);
        await retireAll(NOW + MIN);
      });

      it('a rotation in a transaction that fails leaves the old key active', async () => {
        const old = newKey(NOW);
        await store.signingKeys.insertActiveIfNone(old);
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.signingKeys.retireActive(NOW + MIN, NOW);
            assert.equal(await tx.signingKeys.insertActiveIfNone(newKey(NOW)), true);
            throw new Error('boom');
          }),
          /boom/,
        );
        assert.equal((await store.signingKeys.getActive())?.kid, old.kid);
        assert.equal((await store.signingKeys.list()).length, 1);
        await retireAll(NOW + MIN);
      });

      it('lockForChange works only inside a transaction', async () => {
        await rejectsWith(store.signingKeys.lockForChange(), 'INTERNAL');
        await store.transaction(async (tx) => {
          await tx.signingKeys.lockForChange();
        });
      });
    });

    describe('users', () => {
      it('create, normalised email lookup, external id, update, page, conflicts, first sign-in, delete', async () => {
        const { tenant, t } = await newTenant();
        const { t: other } = await newTenant();
        const user = await t.users.create({ email: '  Alice@Example.COM ', emailVerified: true, phone: '+15550100', roles: ['admin', 'break-glass'], passwordHash: '$argon2id$p', externalId: 'ext-1', now: NOW });
        assert.deepEqual(user, {
          id: user.id,
          tenantId: tenant.id,
          email: 'alice@example.com',
          emailVerified: true,
          phone: '+15550100',
          roles: ['admin', 'break-glass'],
          passwordHash: '$argon2id$p',
          externalId: 'ext-1',
          firstSignInAt: null,
          graceUntil: null,
          exemptUntil: null,
          lastMfaAt: null,
          failedSignins: 0,
          lockedUntil: null,
          unknownDeviceFailures: 0,
          unknownDeviceLockedUntil: null,
          createdAt: NOW,
          updatedAt: NOW,
        });
        assert.deepEqual(await t.users.get(user.id), user);
        assert.deepEqual(await t.users.findByEmail('ALICE@example.com'), user);
        assert.deepEqual(await t.users.findByExternalId('ext-1'), user);
        assert.equal(await t.users.findByExternalId('ext-2'), null);

        await rejectsWith(t.users.create({ email: 'alice@example.com', now: NOW }), 'CONFLICT');
        await rejectsWith(t.users.create({ email: 'bob@example.com', externalId: 'ext-1', now: NOW }), 'CONFLICT');
        // The same email and external id in another tenant are another user.
        const twin = await other.users.create({ email: 'alice@example.com', externalId: 'ext-1', now: NOW });
        assert.notEqual(twin.id, user.id);
        // Several users without an external id coexist.
        await t.users.create({ email: 'carol@example.com', now: NOW });
        await t.users.create({ email: 'dave@example.com', now: NOW });

        const updated = await t.users.update(user.id, { roles: ['staff'], graceUntil: NOW + 1000, exemptUntil: NOW + 2000, phone: null, email: 'ALICE2@example.com' }, NOW + 1);
        assert.deepEqual(updated, { ...user, roles: ['staff'], graceUntil: NOW + 1000, exemptUntil: NOW + 2000, phone: null, email: 'alice2@example.com', updatedAt: NOW + 1 });
        await rejectsWith(t.users.update(user.id, { email: 'carol@example.com' }, NOW), 'CONFLICT');

        assert.equal(await t.users.setFirstSignIn(user.id, NOW + 10), true);
        assert.equal(await t.users.setFirstSignIn(user.id, NOW + 20), false);
        assert.equal((await t.users.get(user.id))?.firstSignInAt, NOW + 10);
        assert.equal(await t.users.recordMfa(user.id, NOW + 30), true);
        assert.equal((await t.users.get(user.id))?.lastMfaAt, NOW + 30);

        const all = await t.users.listAll();
        assert.equal(all.length, 3);
        const first = await t.users.list({ limit: 2 });
        assert.equal(first.items.length, 2);
        assert.notEqual(first.nextCursor, null);
        const second = await t.users.list({ limit: 2, cursor: first.nextCursor });
        assert.equal(second.items.length, 1);
        assert.equal(second.nextCursor, null);
        assert.deepEqual([...first.items, ...second.items].map((u) => u.id), all.map((u) => u.id));

        const factor = await t.factors.create({ userId: user.id, type: 'totp', label: 'phone', expiresAt: NOW + 1000, now: NOW });
        assert.equal(await t.users.delete(user.id), true);
        assert.equal(await t.users.get(user.id), null);
        assert.equal(await t.factors.get(factor.id), null, 'deleting a user deletes their factors');
        assert.equal(await t.users.delete(user.id), false);
      });

      it('a user cannot be created in a tenant that does not exist', async () => {
        await rejectsWith(store.forTenant(randomUUID()).users.create({ email: 'x@example.com', now: NOW }), 'NOT_FOUND');
      });

      it('account failures: 150 concurrent increments are exact and lock at 100 until reset', async () => {
        const { t } = await newTenant();
        const user = await newUser(t);
        const states = await parallel(150, () => t.users.recordSigninFailure(user.id, NOW));
        const counts = states.map((s) => s?.failures ?? -1).sort((a, b) => a - b);
        assert.deepEqual(counts, Array.from({ length: 150 }, (_, i) => i + 1));
        for (const s of states) {
          assert.ok(s !== null);
          assert.equal(s.locked, s.failures >= 100, `failure ${s.failures}`);
          assert.equal(s.lockedUntil, s.failures >= 100 ? LOCKED_UNTIL_RESET : null);
        }
        const locked = await t.users.get(user.id);
        assert.equal(locked?.failedSignins, 150);
        assert.equal(locked?.lockedUntil, LOCKED_UNTIL_RESET);
        // A success never lifts the lock: the reset is refused while locked; only the (audited) unlock lifts it.
        assert.equal(await t.users.resetSigninFailures(user.id), false);
        assert.equal((await t.users.get(user.id))?.lockedUntil, LOCKED_UNTIL_RESET);
        assert.equal(await t.users.unlock(user.id), true);
        const reset = await t.users.get(user.id);
        assert.equal(reset?.failedSignins, 0);
        assert.equal(reset?.lockedUntil, null);
        const cooled = await t.users.recordSigninFailure(user.id, NOW, { limit: 1, coolDownMs: 60_000 });
        assert.deepEqual(cooled, { failures: 1, lockedUntil: NOW + 60_000, locked: true });
        assert.equal(await t.users.recordSigninFailure(randomUUID(), NOW), null);
      });

      it('unknown-device failures: 150 concurrent increments are exact, lock at 100 apart from the account, and a reset clears both', async () => {
        const { t } = await newTenant();
        const user = await newUser(t);
        const states = await parallel(150, () => t.users.recordUnknownDeviceFailure(user.id, NOW));
        assert.deepEqual(states.map((s) => s?.failures ?? -1).sort((a, b) => a - b), Array.from({ length: 150 }, (_, i) => i + 1));
        for (const s of states) {
          assert.ok(s !== null);
          assert.equal(s.locked, s.failures >= 100, `failure ${s.failures}`);
          assert.equal(s.lockedUntil, s.failures >= 100 ? LOCKED_UNTIL_RESET : null);
          assert.equal(s.accountLocked, false);
        }
        const locked = await t.users.get(user.id);
        assert.equal(locked?.unknownDeviceFailures, 150);
        assert.equal(locked?.unknownDeviceLockedUntil, LOCKED_UNTIL_RESET);
        // The account's own count and lock are untouched: the known-device path stays open.
        assert.equal(locked?.failedSignins, 0);
        assert.equal(locked?.lockedUntil, null);

        // The account lock is read by the same statement.
        await parallel(100, () => t.users.recordSigninFailure(user.id, NOW));
        const both = await t.users.recordUnknownDeviceFailure(user.id, NOW);
        assert.deepEqual(both, { failures: 151, lockedUntil: LOCKED_UNTIL_RESET, locked: true, accountLocked: true });

        assert.equal(await t.users.resetSigninFailures(user.id), false, 'a success never lifts the account lock');
        assert.equal(await t.users.unlock(user.id), true);
        const reset = await t.users.get(user.id);
        assert.deepEqual([reset?.failedSignins, reset?.lockedUntil, reset?.unknownDeviceFailures, reset?.unknownDeviceLockedUntil], [0, null, 0, null]);

        // A reservation given back takes its lock with it, and the count never goes below zero.
        await parallel(99, () => t.users.recordUnknownDeviceFailure(user.id, NOW));
        assert.equal((await t.users.recordUnknownDeviceFailure(user.id, NOW))?.locked, true);
        assert.equal(await t.users.releaseUnknownDeviceFailure(user.id), true);
        const released = await t.users.get(user.id);
        assert.deepEqual([released?.unknownDeviceFailures, released?.unknownDeviceLockedUntil, released?.failedSignins], [99, null, 0]);
        await t.users.resetSigninFailures(user.id);
        assert.equal(await t.users.releaseUnknownDeviceFailure(user.id), true);
        assert.equal((await t.users.get(user.id))?.unknownDeviceFailures, 0);
        assert.equal(await t.users.recordUnknownDeviceFailure(randomUUID(), NOW), null);
      });

      it('rehashPassword replaces the hash only while it is still the one verified', async () => {
        const { t } = await newTenant();
        const user = await t.users.create({ email: 'rehash@example.com', passwordHash: 'old-hash', now: NOW });
        assert.equal(await t.users.rehashPassword(user.id, 'not-the-hash', 'new-hash', NOW + 1), false);
        assert.equal((await t.users.get(user.id))?.passwordHash, 'old-hash');
        assert.equal(await t.users.rehashPassword(user.id, 'old-hash', 'new-hash', NOW + 1), true);
        assert.equal((await t.users.get(user.id))?.passwordHash, 'new-hash');
        assert.equal(await t.users.rehashPassword(user.id, 'old-hash', 'newer-hash', NOW + 2), false, 'a second rehash of the same verified hash finds it changed');
        assert.equal(await t.users.rehashPassword(randomUUID(), 'old-hash', 'x', NOW), false);
      });

      it('findForSignin: the user by normalised email and whether the device completed MFA for them, in one lookup', async () => {
        const { t } = await newTenant();
        const user = await newUser(t, { email: 'known@example.com' });
        const other = await newUser(t);
        await t.trustedDevices.upsert(user.id, 'device-hash-1', NOW);
        await t.trustedDevices.upsert(other.id, 'device-hash-2', NOW);
        assert.deepEqual(await t.users.findForSignin(' KNOWN@example.com', 'device-hash-1'), { user, knownDevice: true });
        assert.deepEqual(await t.users.findForSignin('known@example.com', 'device-hash-2'), { user, knownDevice: false }, "another user's device is not this user's");
        assert.deepEqual(await t.users.findForSignin('known@example.com', null), { user, knownDevice: false });
        assert.deepEqual(await t.users.findForSignin('known@example.com', ''), { user, knownDevice: false });
        assert.equal(await t.users.findForSignin('nobody@example.com', 'device-hash-1'), null);
        await t.trustedDevices.revokeAll(user.id);
        assert.deepEqual(await t.users.findForSignin('known@example.com', 'device-hash-1'), { user, knownDevice: false }, 'a revoked device is unknown again');
      });
    });

    describe('sign-in throttles', () => {
      const WINDOW = 15 * 60_000;

      it('200 concurrent hits on one key count 1..200 exactly; the window restarts once it has ended', async () => {
        const { t } = await newTenant();
        const states = await parallel(200, () => t.signinThrottle.hit('ip', 'k-ip', NOW, WINDOW));
        assert.deepEqual(states.map((s) => s.failures).sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i + 1));
        assert.ok(states.every((s) => s.windowEndsAt === NOW + WINDOW), 'every hit of a window sees its one end');
        // A later hit inside the window keeps the window's end (a fixed window).
        assert.deepEqual(await t.signinThrottle.hit('ip', 'k-ip', NOW + WINDOW - 1, WINDOW), { failures: 201, windowEndsAt: NOW + WINDOW });
        assert.deepEqual(await t.signinThrottle.get('ip', 'k-ip', NOW + 1), { failures: 201, windowEndsAt: NOW + WINDOW });
        assert.equal(await t.signinThrottle.get('ip', 'k-ip', NOW + WINDOW), null, 'an ended window reads as none');
        // At the end of the window the count starts again, atomically, however many hit it at once.
        const next = await parallel(20, () => t.signinThrottle.hit('ip', 'k-ip', NOW + WINDOW, WINDOW));
        assert.deepEqual(next.map((s) => s.failures).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
        assert.ok(next.every((s) => s.windowEndsAt === NOW + 2 * WINDOW));
      });

      it('release gives back one failure of the running window, never below zero; scopes and keys are apart', async () => {
        const { t } = await newTenant();
        await t.signinThrottle.hit('ip', 'k', NOW, WINDOW);
        await t.signinThrottle.hit('ip', 'k', NOW, WINDOW);
        assert.deepEqual(await t.signinThrottle.hit('identifier', 'k', NOW, WINDOW), { failures: 1, windowEndsAt: NOW + WINDOW }, 'another scope, another count');
        assert.deepEqual(await t.signinThrottle.hit('ip', 'k2', NOW, WINDOW), { failures: 1, windowEndsAt: NOW + WINDOW }, 'another key, another count');
        assert.equal(await t.signinThrottle.release('ip', 'k', NOW + 1), true);
        assert.equal(await t.signinThrottle.release('ip', 'k', NOW + 1), true);
        assert.equal(await t.signinThrottle.release('ip', 'k', NOW + 1), false, 'never below zero');
        assert.deepEqual(await t.signinThrottle.get('ip', 'k', NOW + 1), { failures: 0, windowEndsAt: NOW + WINDOW });
        assert.equal(await t.signinThrottle.release('identifier', 'k', NOW + WINDOW), false, 'an ended window has nothing to give back');
        assert.equal(await t.signinThrottle.release('ip', 'missing', NOW), false);
      });

      it("one tenant's counters are not another's, and the maintenance sweep deletes only ended windows", async () => {
        const { t: a } = await newTenant('A');
        const { t: b } = await newTenant('B');
        await parallel(5, () => b.signinThrottle.hit('ip', 'same-key', NOW, WINDOW));
        assert.deepEqual(await a.signinThrottle.hit('ip', 'same-key', NOW, WINDOW), { failures: 1, windowEndsAt: NOW + WINDOW });
        assert.equal(await a.signinThrottle.get('ip', 'other', NOW), null);
        await a.signinThrottle.release('ip', 'same-key', NOW);
        await a.signinThrottle.release('ip', 'same-key', NOW);
        assert.deepEqual(await b.signinThrottle.get('ip', 'same-key', NOW), { failures: 5, windowEndsAt: NOW + WINDOW });

        await b.signinThrottle.hit('identifier', 'short', NOW, 1_000);
        assert.ok((await store.maintenance.deleteExpiredSigninThrottles(NOW + 1_000)) >= 1);
        assert.equal(await b.signinThrottle.get('identifier', 'short', NOW), null, 'the ended row is gone');
        assert.deepEqual(await b.signinThrottle.get('ip', 'same-key', NOW), { failures: 5, windowEndsAt: NOW + WINDOW }, 'a running window is kept');
        // Deleting a tenant deletes its counters.
        const { tenant: c, t: ct } = await newTenant('C');
        await ct.signinThrottle.hit('ip', 'gone', NOW, WINDOW);
        await store.tenants.delete(c.id);
        assert.equal(await ct.signinThrottle.get('ip', 'gone', NOW), null);
      });
    });

    describe('policy versions', () => {
      it('every save is a new version per scope; listLayersFor returns the layers least specific first', async () => {
        const { tenant, t } = await newTenant('Acme');
        const appId = await newApplication('Bank');
        const otherApp = await newApplication('Other');
        const user = await newUser(t);

        assert.equal(await store.applicationPolicies.saveVersion(appId, { layer: { challenge: 'always' }, effectiveAt: NOW, createdBy: 'admin:root', now: NOW }), 1);
        assert.equal(await t.policies.saveVersion({ level: 'tenant' }, { layer: { enrollment: 'required' }, effectiveAt: NOW, createdBy: 'admin:a', now: NOW }), 1);
        assert.equal(await t.policies.saveVersion({ level: 'tenant' }, { layer: { enrollment: 'optional' }, effectiveAt: NOW + 10, createdBy: 'admin:a', now: NOW + 1 }), 2);
        assert.equal(await t.policies.saveVersion({ level: 'tenant' }, { layer: { gracePeriodDays: 3 }, effectiveAt: NOW + 100, createdBy: 'admin:a', now: NOW + 2 }), 3);
        assert.equal(await t.policies.saveVersion({ level: 'tenant_application', applicationId: appId }, { layer: { strength: 'enhanced' }, effectiveAt: NOW, createdBy: 'admin:a', now: NOW }), 1);
        assert.equal(await t.policies.saveVersion({ level: 'tenant_application', applicationId: otherApp }, { layer: { strength: 'baseline' }, effectiveAt: NOW, createdBy: 'admin:a', now: NOW }), 1);
        assert.equal(await t.policies.saveVersion({ level: 'user', userId: user.id }, { layer: { enrollment: 'required' }, effectiveAt: NOW, expiresAt: NOW + 50, createdBy: 'admin:a', now: NOW }), 1);
        await rejectsWith(t.policies.saveVersion({ level: 'tenant_application', applicationId: randomUUID() }, { layer: {}, effectiveAt: NOW, createdBy: 'a', now: NOW }), 'NOT_FOUND');
        await rejectsWith(store.applicationPolicies.saveVersion(randomUUID(), { layer: {}, effectiveAt: NOW, createdBy: 'a', now: NOW }), 'NOT_FOUND');

        const versions = await t.policies.listVersions({ level: 'tenant' });
        assert.deepEqual(
          versions.map((v) => [v.version, v.effectiveAt, v.layer]),
          [
            [1, NOW, { enrollment: 'required' }],
            [2, NOW + 10, { enrollment: 'optional' }],
            [3, NOW + 100, { gracePeriodDays: 3 }],
          ],
        );
        assert.deepEqual({ ...versions[0], layer: undefined }, {
          version: 1, effectiveAt: NOW, expiresAt: null, layer: undefined, level: 'tenant', tenantId: tenant.id, applicationId: null, userId: null, createdAt: NOW, createdBy: 'admin:a',
        });
        assert.deepEqual((await store.applicationPolicies.listVersions(appId)).map((v) => v.version), [1]);

        const { layers, userLayer } = await t.policies.listLayersFor(appId, user.id);
        assert.deepEqual(layers.map((l) => [l.scope, l.name, l.versions.map((v) => v.version)]), [
          [{ level: 'application', applicationId: appId }, 'Bank', [1]],
          [{ level: 'tenant', tenantId: tenant.id }, 'Acme', [1, 2, 3]],
          [{ level: 'tenant_application', tenantId: tenant.id, applicationId: appId }, 'Acme × Bank', [1]],
        ]);
        assert.deepEqual(userLayer, { level: 'user', name: user.id, userId: user.id, versions: [{ version: 1, effectiveAt: NOW, expiresAt: NOW + 50, layer: { enrollment: 'required' } }] });
        assert.equal((await t.policies.listLayersFor(appId)).userLayer, null);
        assert.deepEqual((await t.policies.listUserLayers()).map((l) => l.userId), [user.id]);

        // The layers feed core's resolution directly: the newest version in force wins.
        const inputs = selectLayers(indexPolicyLayers(layers), tenant.id, appId);
        assert.equal(resolvePolicy(inputs, [], NOW + 5).values.enrollment, 'required');
        assert.equal(resolvePolicy(inputs, [], NOW + 20).values.enrollment, 'optional');
        assert.deepEqual(resolvePolicy(inputs, [], NOW + 200).sources.gracePeriodDays, { level: 'tenant', name: 'Acme', version: 3 });
        assert.equal(resolvePolicy(inputs, [], NOW).values.challenge, 'always');
      });

      it('50 concurrent saves of one scope get versions 1..50, each once', async () => {
        const { t } = await newTenant();
        const versions = await parallel(50, (i) => t.policies.saveVersion({ level: 'tenant' }, { layer: { gracePeriodDays: i % 30 }, effectiveAt: NOW, createdBy: 'a', now: NOW }));
        assert.deepEqual([...versions].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1));
        assert.equal((await t.policies.listVersions({ level: 'tenant' })).length, 50);
      });
    });

    describe('factors', () => {
      it('create pending, activate once and only before expiry, list, data, touch, delete by type', async () => {
        const { tenant, t } = await newTenant();
        const user = await newUser(t);
        const totp = await t.factors.create({ userId: user.id, type: 'totp', label: 'Phone', secretEnc: 'v1.iv.ct.tag', expiresAt: NOW + 600_000, now: NOW });
        assert.deepEqual(totp, {
          id: totp.id, tenantId: tenant.id, userId: user.id, type: 'totp', status: 'pending', label: 'Phone', secretEnc: 'v1.iv.ct.tag', data: null,
          lastStep: null, failedCount: 0, lockedUntil: null, createdAt: NOW, confirmedAt: null, lastUsedAt: null, expiresAt: NOW + 600_000, credentialId: null,
        });
        const results = await parallel(20, () => t.factors.activate(totp.id, NOW + 1));
        assert.equal(results.filter(Boolean).length, 1, 'a pending factor is activated exactly once');
        const active = await t.factors.get(totp.id);
        assert.equal(active?.status, 'active');
        assert.equal(active?.confirmedAt, NOW + 1);
        assert.equal(active?.expiresAt, null);

        const late = await t.factors.create({ userId: user.id, type: 'totp', label: 'Late', expiresAt: NOW + 10, now: NOW + 1 });
        assert.equal(await t.factors.activate(late.id, NOW + 10), false, 'an expired pending factor never activates');
        assert.equal((await t.factors.get(late.id))?.status, 'pending');

        const key = await t.factors.create({ userId: user.id, type: 'webauthn', status: 'active', label: 'YubiKey', data: { credentialId: 'abc', counter: 1, transports: ['usb'] }, now: NOW + 2 });
        assert.equal(key.confirmedAt, NOW + 2);
        assert.deepEqual(key.data, { credentialId: 'abc', counter: 1, transports: ['usb'] });
        assert.equal(await t.factors.updateData(key.id, { credentialId: 'abc', counter: 2, transports: ['usb'] }), true);
        assert.deepEqual((await t.factors.get(key.id))?.data, { credentialId: 'abc', counter: 2, transports: ['usb'] });
        assert.equal(await t.factors.touch(key.id, NOW + 3), true);
        assert.equal((await t.factors.get(key.id))?.lastUsedAt, NOW + 3);
        const codes = await t.factors.create({ userId: user.id, type: 'recovery_codes', status: 'active', label: 'Recovery codes', now: NOW + 3 });

        assert.deepEqual((await t.factors.listForUser(user.id)).map((f) => f.id), [totp.id, late.id, key.id, codes.id]);
        assert.deepEqual((await t.factors.listForUser(user.id, 'active')).map((f) => f.id), [totp.id, key.id, codes.id]);
        assert.deepEqual((await t.factors.listForUser(user.id, 'pending')).map((f) => f.id), [late.id]);
        assert.equal((await t.factors.listForTenant('active')).length, 3);

        // Admin MFA reset: TOTP and recovery codes go, the passkey stays.
        assert.equal(await t.factors.deleteForUser(user.id, ['totp', 'recovery_codes']), 3);
        assert.deepEqual((await t.factors.listForUser(user.id)).map((f) => f.id), [key.id]);
        assert.equal(await t.factors.deleteForUser(user.id, []), 0);
        assert.equal(await t.factors.delete(key.id), true);
        assert.equal(await t.factors.delete(key.id), false);
      });

      it('maintenance deletes only expired pending factors', async () => {
        const { t } = await newTenant();
        const user = await newUser(t);
        const expired = await t.factors.create({ userId: user.id, type: 'totp', label: 'a', expiresAt: NOW - 1, now: NOW - 100 });
        const fresh = await t.factors.create({ userId: user.id, type: 'totp', label: 'b', expiresAt: NOW + 1000, now: NOW });
        const activeOne = await t.factors.create({ userId: user.id, type: 'totp', label: 'c', status: 'active', now: NOW });
        assert.ok((await store.maintenance.deleteExpiredPendingFactors(NOW)) >= 1);
        assert.equal(await t.factors.get(expired.id), null);
        assert.notEqual(await t.factors.get(fresh.id), null);
        assert.notEqual(await t.factors.get(activeOne.id), null);
      });

      it('advanceTotpStep accepts each step once and only forward', async () => {
        const { t } = await newTenant();
        const user = await newUser(t);
        const f = await t.factors.create({ userId: user.id, type: 'totp', label: 'x', status: 'active', now: NOW });
        assert.equal(await t.factors.advanceTotpStep(f.id, 1000), true);
        assert.equal(await t.factors.advanceTotpStep(f.id, 1000), false);
        assert.equal(await t.factors.advanceTotpStep(f.id, 999), false);
        assert.equal(await t.factors.advanceTotpStep(f.id, 1001), true);
        assert.equal((await t.factors.get(f.id))?.lastStep, 1001);
      });

      it('the same TOTP step sent 100 times in parallel → exactly one success', async () => {
        const { t } = await newTenant();
        const user = await newUser(t);
        const f = await t.factors.create({ userId: user.id, type: 'totp', label: 'x', status: 'active', now: NOW });
        const step = Math.floor(NOW / 30_000);
        const results = await parallel(100, () => t.factors.advanceTotpStep(f.id, step));
        assert.equal(results.filter(Boolean).length, 1);
        assert.equal((await t.factors.get(f.id))?.lastStep, step);
      });

      it('1,000 concurrent factor failures → exact count, lock engages at 10, reset clears', async () => {
        const { t } = await newTenant();
        const user = await newUser(t);
        const f = await t.factors.create({ userId: user.id, type: 'totp', label: 'x', status: 'active', now: NOW });
        const coolDownMs = 5 * 60_000;
        const states = await parallel(1000, () => t.factors.recordFailure(f.id, NOW, { limit: 10, coolDownMs }));
        const counts = states.map((s) => s?.failures ?? -1).sort((a, b) => a - b);
        assert.deepEqual(counts, Array.from({ length: 1000 }, (_, i) => i + 1), 'every increment is counted exactly once');
        for (const s of states) {
          assert.ok(s !== null);
          assert.equal(s.locked, s.failures >= 10, `failure ${s.failures}`);
          assert.equal(s.lockedUntil, s.failures >= 10 ? NOW + coolDownMs : null, `failure ${s.failures}`);
        }
        const stored = await t.factors.get(f.id);
        assert.equal(stored?.failedCount, 1000);
        assert.equal(stored?.lockedUntil, NOW + coolDownMs);

        assert.equal(await t.factors.resetFailures(f.id), true);
        const reset = await t.factors.get(f.id);
        assert.equal(reset?.failedCount, 0);
        assert.equal(reset?.lockedUntil, null);
        // Defaults: limit 10, 15-minute cool-down; after a cool-down one more failure locks again at once.
        for (let i = 1; i <= 9; i++) assert.equal((await t.factors.recordFailure(f.id, NOW))?.locked, false);
        assert.deepEqual(await t.factors.recordFailure(f.id, NOW), { failures: 10, lockedUntil: NOW + 15 * 60_000, locked: true });
        const later = NOW + 16 * 60_000;
        assert.deepEqual(await t.factors.recordFailure(f.id, later), { failures: 11, lockedUntil: later + 15 * 60_000, locked: true });
      });
    });

    describe('recovery codes', () => {
      it('replace a batch, list, consume once, count, regenerate invalidates the old batch', async () => {
        const { t } = await newTenant();
        const user = await newUser(t);
        const other = await newUser(t);
        const factor = await t.factors.create({ userId: user.id, type: 'recovery_codes', status: 'active', label: 'codes', now: NOW });
        const batch = await t.recoveryCodes.replaceBatch(user.id, factor.id, ['h1', 'h2', 'h3']);
        assert.deepEqual(batch.map((c) => [c.userId, c.factorId, c.codeHash, c.usedAt]).sort(), [
          [user.id, factor.id, 'h1', null],
          [user.id, factor.id, 'h2', null],
          [user.id, factor.id, 'h3', null],
        ]);
        assert.equal(await t.recoveryCodes.countRemaining(user.id), 3);
        const first = batch[0];
        assert.ok(first !== undefined);
        assert.equal(await t.recoveryCodes.consume(user.id, first.id, NOW), true);
        assert.equal(await t.recoveryCodes.consume(user.id, first.id, NOW), false);
        assert.equal(await t.recoveryCodes.consume(other.id, batch[1]?.id ?? '', NOW), false, "another user's code id is refused");
        assert.equal(await t.recoveryCodes.countRemaining(user.id), 2);
        assert.deepEqual((await t.recoveryCodes.listUnused(user.id)).map((c) => c.codeHash).sort(), ['h2', 'h3']);
        assert.deepEqual([...(await t.recoveryCodes.countRemainingByUser())], [[user.id, 2]]);

        const fresh = await t.recoveryCodes.replaceBatch(user.id, factor.id, ['n1', 'n2']);
        assert.equal(await t.recoveryCodes.consume(user.id, batch[1]?.id ?? '', NOW), false, 'regeneration invalidates the old batch');
        assert.equal(await t.recoveryCodes.countRemaining(user.id), 2);
        assert.deepEqual(fresh.map((c) => c.codeHash).sort(), ['n1', 'n2']);

        await rejectsWith(t.recoveryCodes.replaceBatch(other.id, factor.id, ['x']), 'NOT_FOUND');
        assert.equal(await t.recoveryCodes.countRemaining(user.id), 2, 'a refused replacement changes nothing');
        assert.equal(await t.recoveryCodes.deleteForUser(user.id), 2);
        assert.equal(await t.recoveryCodes.countRemaining(user.id), 0);
      });

      it('the same recovery code consumed 100 times in parallel → exactly one success', async () => {
        const { t } = await newTenant();
        const user = await newUser(t);
        const factor = await t.factors.create({ userId: user.id, type: 'recovery_codes', status: 'active', label: 'codes', now: NOW });
        const [code] = await t.recoveryCodes.replaceBatch(user.id, factor.id, ['only']);
        assert.ok(code !== undefined);
        const results = await parallel(100, () => t.recoveryCodes.consume(user.id, code.id, NOW));
        assert.equal(results.filter(Boolean).length, 1);
        assert.equal(await t.recoveryCodes.countRemaining(user.id), 0);
      });
    });

    describe('MFA sessions', () => {
      it('create, get, attempts capped atomically, update while open, complete once, expiry', async () => {
        const { tenant, t } = await newTenant();
        const appId = await newApplication();
        const user = await newUser(t);
        const id = `sha256-${uid()}`;
        const session = await t.mfaSessions.create({
          id, userId: user.id, applicationId: appId, purpose: 'step_up', action: 'payment', methods: ['webauthn', 'totp'],
          state: flowState({ outcome: 'challenge', reasons: [{ code: 'step_up', detail: 'd', source: 's' }], context: { ip: '192.0.2.1', userAgent: null, deviceId: 'd1', ipUnparsable: null }, decision: { policyVersion: 3 } }),
          completed: [{ method: 'password' }], expiresAt: NOW + 300_000, now: NOW,
        });
        assert.deepEqual(session, {
          id, tenantId: tenant.id, userId: user.id, applicationId: appId, purpose: 'step_up', action: 'payment', methods: ['webauthn', 'totp'],
          // The flow state round-trips typed: the decision record keeps the fields the flow does not name.
          state: flowState({
            outcome: 'challenge', reasons: [{ code: 'step_up', detail: 'd', source: 's' }], context: { ip: '192.0.2.1', userAgent: null, deviceId: 'd1', ipUnparsable: null },
            decision: { policyVersion: 3, outcome: 'challenge', recovery: false, enrollOptions: [], reasons: [{ code: 'step_up', detail: 'd', source: 's' }] },
          }),
          attempts: 0, completed: [{ method: 'password' }], status: 'open', expiresAt: NOW + 300_000, createdAt: NOW, completedAt: null, loginSessionId: null,
        });
        assert.deepEqual(await t.mfaSessions.get(id), session);
        await rejectsWith(t.mfaSessions.create({ id, userId: user.id, applicationId: null, purpose: 'signin', methods: [], state: flowState(), expiresAt: NOW, now: NOW }), 'CONFLICT');

        const attempts = await parallel(30, () => t.mfaSessions.recordAttempt(id, NOW + 1, 5));
        assert.deepEqual(attempts.filter((a) => a !== null).sort(), [1, 2, 3, 4, 5], 'the attempt cap holds under concurrency');
        assert.equal((await t.mfaSessions.get(id))?.attempts, 5);

        assert.equal(await t.mfaSessions.update(id, { completed: [{ method: 'password' }, { method: 'webauthn', userVerified: true }] }, NOW + 2), true);
        assert.deepEqual((await t.mfaSessions.get(id))?.completed, [{ method: 'password' }, { method: 'webauthn', userVerified: true }]);

        const completions = await parallel(50, () => t.mfaSessions.complete(id, NOW + 3));
        assert.equal(completions.filter(Boolean).length, 1, 'a session completes exactly once');
        const done = await t.mfaSessions.get(id);
        assert.equal(done?.status, 'completed');
        assert.equal(done?.completedAt, NOW + 3);
        assert.equal(await t.mfaSessions.update(id, { methods: [] }, NOW + 4), false, 'a completed session is frozen');
        assert.equal(await t.mfaSessions.recordAttempt(id, NOW + 4, 100), null);

        const short = `sha256-${uid()}`;
        await t.mfaSessions.create({ id: short, userId: user.id, applicationId: null, purpose: 'signin', methods: ['totp'], state: flowState(), expiresAt: NOW + 10, now: NOW });
        assert.equal(await t.mfaSessions.recordAttempt(short, NOW + 10, 5), null, 'no attempt on an expired session');
        assert.equal(await t.mfaSessions.complete(short, NOW + 10), false, 'an expired session never completes');
        const expired = await store.maintenance.expireMfaSessions(NOW + 10);
        assert.ok(expired.some((s) => s.id === short && s.status === 'expired' && s.tenantId === tenant.id));
        assert.ok(!expired.some((s) => s.id === id));
        assert.equal((await t.mfaSessions.get(short))?.status, 'expired');

        const cancel = `sha256-${uid()}`;
        await t.mfaSessions.create({ id: cancel, userId: user.id, applicationId: null, purpose: 'enrollment', methods: [], state: flowState(), expiresAt: NOW + 1000, now: NOW });
        assert.equal(await t.mfaSessions.setStatus(cancel, 'cancelled'), true);
        assert.equal(await t.mfaSessions.setStatus(cancel, 'cancelled'), false);
        assert.equal(await t.mfaSessions.complete(cancel, NOW + 1), false);
      });
    });

    describe('sign-in history and trusted devices', () => {
      it('prior successes drive new-device / new-IP / new-country; failures do not count', async () => {
        const { t } = await newTenant();
        const user = await newUser(t);
        const ctx = { deviceId: 'dev-1', ip: '203.0.113.5', country: 'FR' };
        assert.deepEqual(await t.signins.priorSuccess(user.id, ctx), { any: false, device: false, ip: false, country: false });
        await t.signins.append({ userId: user.id, ip: ctx.ip, deviceId: ctx.deviceId, userAgent: 'UA', country: 'FR', outcome: 'failed', at: NOW });
        await t.signins.append({ userId: null, ip: ctx.ip, deviceId: null, userAgent: null, outcome: 'failed', at: NOW });
        assert.deepEqual(await t.signins.priorSuccess(user.id, ctx), { any: false, device: false, ip: false, country: false });
        await t.signins.append({ userId: user.id, applicationId: null, ip: '198.51.100.7', deviceId: 'dev-1', userAgent: 'UA', country: 'DE', latitude: 52.52, longitude: 13.405, outcome: 'succeeded', at: NOW + 1 });
        assert.deepEqual(await t.signins.priorSuccess(user.id, ctx), { any: true, device: true, ip: false, country: false });
        assert.deepEqual(await t.signins.priorSuccess(user.id, { deviceId: null, ip: '198.51.100.7', country: 'DE' }), { any: true, device: false, ip: true, country: true });
        assert.deepEqual(await t.signins.priorSuccess(user.id, { deviceId: null, ip: null }), { any: true, device: false, ip: false, country: false });

        const last = await t.signins.lastSuccess(user.id);
        assert.equal(last?.ip, '198.51.100.7');
        assert.equal(last?.latitude, 52.52);
        assert.equal(last?.longitude, 13.405);
        assert.equal(last?.at, NOW + 1);
        const recent = await t.signins.listRecent(user.id, 10);
        assert.deepEqual(recent.map((r) => r.outcome), ['succeeded', 'failed']);
      });

      it('trusted devices: upsert, re-trust, revoke one, revoke all', async () => {
        const { t } = await newTenant();
        const user = await newUser(t);
        assert.equal(await t.trustedDevices.get(user.id, 'd1'), null);
        await t.trustedDevices.upsert(user.id, 'd1', NOW);
        await t.trustedDevices.upsert(user.id, 'd1', NOW + 5);
        await t.trustedDevices.upsert(user.id, 'd2', NOW);
        assert.deepEqual(await t.trustedDevices.get(user.id, 'd1'), { userId: user.id, deviceId: 'd1', trustedAt: NOW + 5 });
        assert.equal(await t.trustedDevices.revoke(user.id, 'd1'), true);
        assert.equal(await t.trustedDevices.revoke(user.id, 'd1'), false);
        await t.trustedDevices.upsert(user.id, 'd3', NOW);
        assert.equal(await t.trustedDevices.revokeAll(user.id), 2);
        assert.equal(await t.trustedDevices.get(user.id, 'd2'), null);
      });

      it('remembered devices: found by token hash in their tenant only, rotated once per hash, forgotten by their user only, revoked with the rest', async () => {
        const { t } = await newTenant();
        const { t: other } = await newTenant();
        const appId = await newApplication();
        const user = await newUser(t);
        const stranger = await newUser(t);
        const device = { id: 'rd1', userId: user.id, applicationId: appId, tokenHash: 'h1', mfaAt: NOW, userAgent: 'ua', ip: '198.51.100.7', now: NOW };
        await t.trustedDevices.remember(device);
        assert.deepEqual(await t.trustedDevices.findRemembered('h1'), { id: 'rd1', userId: user.id, applicationId: appId, tokenHash: 'h1', mfaAt: NOW, createdAt: NOW, lastUsedAt: null, userAgent: 'ua', ip: '198.51.100.7' });
        assert.equal(await other.trustedDevices.findRemembered('h1'), null, 'another tenant does not see it');
        assert.equal(await other.trustedDevices.rotateRemembered('rd1', 'h1', 'hx', NOW + 1), false, 'another tenant cannot rotate it');
        // Two rotations from the same hash: exactly one lands.
        const raced = await Promise.all([t.trustedDevices.rotateRemembered('rd1', 'h1', 'h2', NOW + 1), t.trustedDevices.rotateRemembered('rd1', 'h1', 'h3', NOW + 1)]);
        assert.deepEqual(raced.filter(Boolean).length, 1);
        assert.equal(await t.trustedDevices.findRemembered('h1'), null);
        const now = await t.trustedDevices.listRemembered(user.id);
        assert.equal(now.length, 1);
        assert.equal(now[0]?.mfaAt, NOW, 'rotation keeps the MFA time');
        assert.equal(now[0]?.lastUsedAt, NOW + 1);
        assert.equal(await t.trustedDevices.forgetRemembered(stranger.id, 'rd1'), false, 'another user cannot forget it');
        assert.equal(await other.trustedDevices.forgetRemembered(user.id, 'rd1'), false);
        await t.trustedDevices.remember({ ...device, id: 'rd2', tokenHash: 'h9' });
        await t.trustedDevices.upsert(user.id, 'd1', NOW);
        assert.equal(await t.trustedDevices.revokeAll(user.id), 3);
        assert.deepEqual(await t.trustedDevices.listRemembered(user.id), []);
      });
    });

    describe('audit', () => {
      it('filters by event, user, application and time; pages newest first with a cursor', async () => {
        const { tenant, t } = await newTenant();
        const appId = await newApplication();
        const u1 = await newUser(t);
        const u2 = await newUser(t);
        const names = ['mfa.decision', 'user.mfa_failed', 'mfa.factor_enrolled'] as const;
        for (let i = 0; i < 25; i++) {
          await t.audit.append({
            at: NOW + i * 1000, actor: 'system', subject: `s${i}`, event: names[i % 3] ?? 'mfa.decision',
            userId: i % 2 === 0 ? u1.id : u2.id, applicationId: i % 5 === 0 ? appId : null, data: { i, reasons: ['r'] },
          });
        }
        const appended = await t.audit.append({ at: NOW + 99_000, actor: 'admin:x', event: 'mfa.policy_updated', data: { version: 2 } });
        assert.equal(appended.tenantId, tenant.id);
        assert.deepEqual(appended.data, { version: 2 });
        assert.equal(appended.userId, null);

        const all: number[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page = await t.audit.list({ limit: 10, cursor });
          all.push(...page.items.map((e) => e.id));
          cursor = page.nextCursor;
          pages++;
        } while (cursor !== null);
        assert.equal(pages, 3);
        assert.equal(all.length, 26);
        assert.equal(new Set(all).size, 26);
        assert.deepEqual(all, [...all].sort((a, b) => b - a), 'newest first');

        const decisions = await t.audit.list({ events: ['mfa.decision'] });
        assert.equal(decisions.items.length, 9);
        assert.ok(decisions.items.every((e) => e.event === 'mfa.decision'));
        assert.equal((await t.audit.list({ events: ['mfa.decision', 'user.mfa_failed'] })).items.length, 17);
        assert.equal((await t.audit.list({ events: [] })).items.length, 0);
        assert.equal((await t.audit.list({ userId: u1.id })).items.length, 13);
        assert.equal((await t.audit.list({ applicationId: appId })).items.length, 5);
        const window = await t.audit.list({ from: NOW + 5000, to: NOW + 10_000 });
        assert.deepEqual(window.items.map((e) => e.subject), ['s9', 's8', 's7', 's6', 's5']);
        const combined = await t.audit.list({ events: ['mfa.decision'], userId: u1.id, from: NOW, to: NOW + 25_000 });
        assert.deepEqual(combined.items.map((e) => e.subject), ['s24', 's18', 's12', 's6', 's0']);
        assert.deepEqual(combined.items[0]?.data, { i: 24, reasons: ['r'] });
        await rejectsWith(t.audit.list({ cursor: 'not-a-cursor' }), 'INVALID_REQUEST');
      });

      it('platform audit holds events of no tenant and can list them apart', async () => {
        const { tenant } = await newTenant();
        const marker = `tenant-${uid()}`;
        const platform = await store.audit.append({ tenantId: null, at: NOW, actor: 'admin:root', subject: marker, event: 'tenant.created' });
        const scoped = await store.audit.append({ tenantId: tenant.id, at: NOW, actor: 'admin:root', subject: marker, event: 'tenant.updated' });
        assert.equal(platform.tenantId, null);
        const platformOnly = await store.audit.list({ tenantId: null, limit: 1000 });
        assert.ok(platformOnly.items.some((e) => e.id === platform.id));
        assert.ok(platformOnly.items.every((e) => e.tenantId === null));
        assert.deepEqual((await store.audit.list({ tenantId: tenant.id })).items.map((e) => e.id), [scoped.id]);
        assert.deepEqual((await store.forTenant(tenant.id).audit.list()).items.map((e) => e.id), [scoped.id]);
        // Audit outlives the tenant.
        await store.tenants.delete(tenant.id);
        assert.deepEqual((await store.audit.list({ tenantId: tenant.id })).items.map((e) => e.id), [scoped.id]);
      });
    });

    describe('transactions', () => {
      it('commits a change and its audit record together', async () => {
        const { t, tenant } = await newTenant();
        const user = await newUser(t);
        await store.transaction(async (tx) => {
          const tt = tx.forTenant(tenant.id);
          await tt.users.update(user.id, { graceUntil: NOW + 7 }, NOW);
          await tt.audit.append({ at: NOW, actor: 'admin:a', event: 'mfa.grace_granted', userId: user.id });
        });
        assert.equal((await t.users.get(user.id))?.graceUntil, NOW + 7);
        assert.equal((await t.audit.list({ events: ['mfa.grace_granted'] })).items.length, 1);
      });

      it('a failing transaction rolls back both the change and the audit row', async () => {
        const { t, tenant } = await newTenant();
        const user = await newUser(t);
        const factor = await t.factors.create({ userId: user.id, type: 'recovery_codes', status: 'active', label: 'codes', now: NOW });
        await t.recoveryCodes.replaceBatch(user.id, factor.id, ['a', 'b']);
        await assert.rejects(
          store.transaction(async (tx) => {
            const tt = tx.forTenant(tenant.id);
            await tt.users.update(user.id, { roles: ['changed'] }, NOW + 1);
            await tt.factors.deleteForUser(user.id, ['recovery_codes']);
            await tt.policies.saveVersion({ level: 'tenant' }, { layer: { enrollment: 'required' }, effectiveAt: NOW, createdBy: 'a', now: NOW });
            // A nested transaction joins the running one and rolls back with it.
            await tx.transaction(async (inner) => inner.forTenant(tenant.id).trustedDevices.upsert(user.id, 'dev', NOW));
            await tt.audit.append({ at: NOW, actor: 'admin:a', event: 'mfa.factor_admin_reset', userId: user.id });
            throw new Error('boom');
          }),
          /boom/,
        );
        assert.deepEqual((await t.users.get(user.id))?.roles, ['staff']);
        assert.equal(await t.recoveryCodes.countRemaining(user.id), 2);
        assert.notEqual(await t.factors.get(factor.id), null);
        assert.deepEqual(await t.policies.listVersions({ level: 'tenant' }), []);
        assert.equal(await t.trustedDevices.get(user.id, 'dev'), null);
        assert.equal((await t.audit.list()).items.length, 0);
        // The version counter rolled back too: the next save is version 1.
        assert.equal(await t.policies.saveVersion({ level: 'tenant' }, { layer: {}, effectiveAt: NOW, createdBy: 'a', now: NOW }), 1);
      });

      it('using the outer store inside a transaction fails at once instead of deadlocking, and rolls back', async () => {
        const { t, tenant } = await newTenant();
        const user = await newUser(t);
        await rejectsWith(
          store.transaction(async (tx) => {
            await tx.forTenant(tenant.id).users.update(user.id, { roles: ['changed'] }, NOW + 1);
            await t.users.get(user.id);
          }),
          'INTERNAL',
        );
        await rejectsWith(store.transaction(async () => store.transaction(async () => 1)), 'INTERNAL');
        assert.deepEqual((await t.users.get(user.id))?.roles, ['staff']);
        // Concurrent work outside the transaction's callback is unaffected.
        const [inside, outside] = await Promise.all([
          store.transaction(async (tx) => (await tx.forTenant(tenant.id).users.get(user.id))?.id),
          t.users.get(user.id),
        ]);
        assert.equal(inside, user.id);
        assert.equal(outside?.id, user.id);
      });

      it('a conflict inside a transaction rolls it back with a stable code', async () => {
        const { t, tenant } = await newTenant();
        await t.users.create({ email: 'taken@example.com', now: NOW });
        await rejectsWith(
          store.transaction(async (tx) => {
            const tt = tx.forTenant(tenant.id);
            await tt.audit.append({ at: NOW, actor: 'admin:a', event: 'user.created' });
            await tt.users.create({ email: 'taken@example.com', now: NOW });
          }),
          'CONFLICT',
        );
        assert.equal((await t.audit.list()).items.length, 0);
      });
    });

    describe('tenant isolation', () => {
      it("tenant A cannot read or change any of tenant B's rows", async () => {
        const { t: a } = await newTenant('A');
        const { tenant: tb, t: b } = await newTenant('B');
        const appId = await newApplication();
        const aUser = await newUser(a);

        // Tenant B's world.
        const bUser = await b.users.create({ email: 'bob@b.example', externalId: 'bob-ext', roles: ['staff'], passwordHash: 'ph', now: NOW });
        const bTotp = await b.factors.create({ userId: bUser.id, type: 'totp', label: 'B phone', secretEnc: 'enc', expiresAt: NOW + 1000, now: NOW });
        const bCodesFactor = await b.factors.create({ userId: bUser.id, type: 'recovery_codes', status: 'active', label: 'codes', now: NOW });
        const [bCode] = await b.recoveryCodes.replaceBatch(bUser.id, bCodesFactor.id, ['bh1']);
        assert.ok(bCode !== undefined);
        const bSessionId = `sha256-${uid()}`;
        await b.mfaSessions.create({ id: bSessionId, userId: bUser.id, applicationId: appId, purpose: 'signin', methods: ['totp'], state: flowState(), expiresAt: NOW + 1000, now: NOW });
        await b.signins.append({ userId: bUser.id, ip: '192.0.2.1', deviceId: 'bdev', userAgent: 'UA', outcome: 'succeeded', at: NOW });
        await b.trustedDevices.upsert(bUser.id, 'bdev', NOW);
        await b.policies.saveVersion({ level: 'tenant' }, { layer: { enrollment: 'required' }, effectiveAt: NOW, createdBy: 'b', now: NOW });
        await b.policies.saveVersion({ level: 'tenant_application', applicationId: appId }, { layer: { challenge: 'always' }, effectiveAt: NOW, createdBy: 'b', now: NOW });
        await b.policies.saveVersion({ level: 'user', userId: bUser.id }, { layer: { enrollment: 'optional' }, effectiveAt: NOW, expiresAt: NOW + 10, createdBy: 'b', now: NOW });
        const bAudit = await b.audit.append({ at: NOW, actor: 'admin:b', event: 'mfa.decision', userId: bUser.id, applicationId: appId });

        const snapshot = async (): Promise<unknown> => ({
          user: await b.users.get(bUser.id),
          factors: await b.factors.listForUser(bUser.id),
          codes: await b.recoveryCodes.listUnused(bUser.id),
          session: await b.mfaSessions.get(bSessionId),
          signins: await b.signins.listRecent(bUser.id),
          device: await b.trustedDevices.get(bUser.id, 'bdev'),
          policies: [
            await b.policies.listVersions({ level: 'tenant' }),
            await b.policies.listVersions({ level: 'tenant_application', applicationId: appId }),
            await b.policies.listVersions({ level: 'user', userId: bUser.id }),
          ],
          audit: await b.audit.list(),
        });
        const before = await snapshot();

        // users
        assert.equal(await a.users.get(bUser.id), null);
        assert.equal(await a.users.findByEmail('bob@b.example'), null);
        assert.equal(await a.users.findByExternalId('bob-ext'), null);
        assert.deepEqual((await a.users.listAll()).map((u) => u.id), [aUser.id]);
        assert.deepEqual((await a.users.list()).items.map((u) => u.id), [aUser.id]);
        assert.equal(await a.users.update(bUser.id, { roles: ['admin'], passwordHash: 'evil' }, NOW + 1), null);
        assert.equal(await a.users.setFirstSignIn(bUser.id, NOW), false);
        assert.equal(await a.users.recordMfa(bUser.id, NOW), false);
        assert.equal(await a.users.recordSigninFailure(bUser.id, NOW), null);
        assert.equal(await a.users.resetSigninFailures(bUser.id), false);
        assert.equal(await a.users.findForSignin('bob@b.example', 'bdev'), null);
        assert.equal(await a.users.recordUnknownDeviceFailure(bUser.id, NOW), null);
        assert.equal(await a.users.releaseUnknownDeviceFailure(bUser.id), false);
        assert.equal(await a.users.delete(bUser.id), false);

        // factors
        assert.equal(await a.factors.get(bTotp.id), null);
        assert.deepEqual(await a.factors.listForUser(bUser.id), []);
        assert.deepEqual(await a.factors.listForTenant(), []);
        assert.equal(await a.factors.activate(bTotp.id, NOW), false);
        assert.equal(await a.factors.updateData(bTotp.id, { evil: true }), false);
        assert.equal(await a.factors.advanceTotpStep(bTotp.id, 1), false);
        assert.equal(await a.factors.touch(bTotp.id, NOW), false);
        assert.equal(await a.factors.recordFailure(bTotp.id, NOW), null);
        assert.equal(await a.factors.resetFailures(bTotp.id), false);
        assert.equal(await a.factors.deleteForUser(bUser.id), 0);
        assert.equal(await a.factors.delete(bTotp.id), false);
        await rejectsWith(a.factors.create({ userId: bUser.id, type: 'totp', label: 'evil', expiresAt: NOW + 1, now: NOW }), 'NOT_FOUND');

        // recovery codes
        assert.deepEqual(await a.recoveryCodes.listUnused(bUser.id), []);
        assert.equal(await a.recoveryCodes.consume(bUser.id, bCode.id, NOW), false);
        assert.equal(await a.recoveryCodes.countRemaining(bUser.id), 0);
        assert.equal((await a.recoveryCodes.countRemainingByUser()).size, 0);
        assert.equal(await a.recoveryCodes.deleteForUser(bUser.id), 0);
        await rejectsWith(a.recoveryCodes.replaceBatch(bUser.id, bCodesFactor.id, ['evil']), 'NOT_FOUND');

        // MFA sessions
        assert.equal(await a.mfaSessions.get(bSessionId), null);
        assert.equal(await a.mfaSessions.recordAttempt(bSessionId, NOW, 100), null);
        assert.equal(await a.mfaSessions.update(bSessionId, { completed: [{ method: 'totp' }] }, NOW), false);
        assert.equal(await a.mfaSessions.complete(bSessionId, NOW), false);
        assert.equal(await a.mfaSessions.setStatus(bSessionId, 'cancelled'), false);
        await rejectsWith(a.mfaSessions.create({ id: `sha256-${uid()}`, userId: bUser.id, applicationId: null, purpose: 'signin', methods: [], state: flowState(), expiresAt: NOW + 1, now: NOW }), 'NOT_FOUND');

        // sign-in history and trusted devices
        assert.deepEqual(await a.signins.priorSuccess(bUser.id, { deviceId: 'bdev', ip: '192.0.2.1' }), { any: false, device: false, ip: false, country: false });
        assert.equal(await a.signins.lastSuccess(bUser.id), null);
        assert.deepEqual(await a.signins.listRecent(bUser.id), []);
        await rejectsWith(a.signins.append({ userId: bUser.id, ip: null, deviceId: null, userAgent: null, outcome: 'succeeded', at: NOW }), 'NOT_FOUND');
        assert.equal(await a.trustedDevices.get(bUser.id, 'bdev'), null);
        assert.equal(await a.trustedDevices.revoke(bUser.id, 'bdev'), false);
        assert.equal(await a.trustedDevices.revokeAll(bUser.id), 0);
        await rejectsWith(a.trustedDevices.upsert(bUser.id, 'evil', NOW), 'NOT_FOUND');

        // policies
        assert.deepEqual(await a.policies.listVersions({ level: 'tenant' }), []);
        assert.deepEqual(await a.policies.listVersions({ level: 'tenant_application', applicationId: appId }), []);
        assert.deepEqual(await a.policies.listVersions({ level: 'user', userId: bUser.id }), []);
        assert.deepEqual(await a.policies.listUserLayers(), []);
        const aLayers = await a.policies.listLayersFor(appId, bUser.id);
        assert.deepEqual(aLayers, { layers: [], userLayer: null });
        await rejectsWith(a.policies.saveVersion({ level: 'user', userId: bUser.id }, { layer: {}, effectiveAt: NOW, expiresAt: NOW + 1, createdBy: 'a', now: NOW }), 'NOT_FOUND');

        // audit
        assert.ok(!(await a.audit.list()).items.some((e) => e.id === bAudit.id));
        assert.equal((await a.audit.list({ userId: bUser.id })).items.length, 0);

        // Tenant B is exactly as it was; and B's own reads still work.
        assert.deepEqual(await snapshot(), before);
        assert.equal((await b.policies.listLayersFor(appId)).layers.length, 2);
        assert.equal((await b.users.get(bUser.id))?.tenantId, tb.id);
      });
    });
  });
}
