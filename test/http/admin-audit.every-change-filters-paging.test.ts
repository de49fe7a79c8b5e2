/**
 * Audit of admin changes on both databases: every change writes its DESIGN §6 event with the acting token as
 * `admin:<tokenId>`; a change whose audit record cannot be written does not happen (SECURITY rule 11); the audit
 * API filters by our names and AxisSynapse's codes, user, application and time range, and pages by cursor.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PortcullisError, type AuditEventName } from '../../src/core/index.ts';
import type { ServiceDeps } from '../../src/services/deps.ts';
import { createApplication, updateApplication } from '../../src/services/admin/applications.ts';
import { grantGrace, removeUserFactor, resetUserMfa } from '../../src/services/admin/factors-admin.ts';
import { removeUserOverride, savePolicy, setUserOverride } from '../../src/services/admin/policies.ts';
import { createTenant, deleteTenant, updateTenant } from '../../src/services/admin/tenants.ts';
import { createUser, deleteUser, updateUser } from '../../src/services/admin/users.ts';
import type { AuditRepository, PlatformAuditRepository, Store, TenantStore } from '../../src/store/index.ts';
import { createHarness, forEachDialect, type Harness } from '../support/harness.ts';
import { snapshot } from '../support/snapshot.ts';

const DAY = 86_400_000;

/** A store whose audit writes fail inside transactions (the change must then fail with them). */
function failingAuditStore(store: Store): Store {
  const boom = (): never => {
    throw new PortcullisError('INTERNAL', 'audit unavailable (test)');
  };
  const wrap = (tx: Store): Store => {
    const audit: PlatformAuditRepository = { append: boom, list: (f) => tx.audit.list(f) };
    return new Proxy(tx, {
      get(target, property, receiver) {
        if (property === 'audit') return audit;
        if (property === 'forTenant') {
          return (tenantId: string): TenantStore => {
            const inner = target.forTenant(tenantId);
            const tenantAudit: AuditRepository = { append: boom, appendMany: boom, list: (f) => inner.audit.list(f) };
            return { ...inner, audit: tenantAudit };
          };
        }
        if (property === 'transaction') return <T>(fn: (tx: Store) => Promise<T>): Promise<T> => target.transaction((inner) => fn(wrap(inner)));
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
  };
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'transaction') return <T>(fn: (tx: Store) => Promise<T>): Promise<T> => target.transaction((tx) => fn(wrap(tx)));
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
}

forEachDialect((dialect) => {
  describe(`admin audit (${dialect})`, () => {
    let h: Harness;
    before(async () => {
      h = await createHarness({ dialect });
    });
    after(async () => h?.close());

    it('every admin change writes its event, in the tenant or platform log, with the acting token', async () => {
      const tenantId = (await h.call(h.platformToken, 'POST', '/tenants', { slug: 'audited', name: 'Audited' })).body.id as string;
      const { token: tenantToken, id: tenantTokenId } = await h.tenantToken(tenantId);
      const appId = (await h.call(h.platformToken, 'POST', '/applications', { name: 'Audited app' })).body.id as string;
      let userId = '';
      let factorId = '';
      let extraTokenId = '';
      const latest = async (where: 'tenant' | 'platform'): Promise<{ event: string; actor: string; userId: string | null; applicationId: string | null }[]> =>
        (await h.call(h.platformToken, 'GET', where === 'tenant' ? `/tenants/${tenantId}/audit?limit=3` : '/audit?limit=3')).body.items;

      type Step = { name: string; run: () => Promise<{ status: number }>; where: 'tenant' | 'platform'; events: AuditEventName[]; token?: 'tenant' };
      const expiresAt = new Date(h.clock.now() + DAY).toISOString();
      const steps: Step[] = [
        { name: 'create user', where: 'tenant', events: ['user.created'], token: 'tenant', run: async () => {
          const res = await h.call(tenantToken, 'POST', `/tenants/${tenantId}/users`, { email: 'audit@example.com', password: 'correct horse battery' });
          userId = res.body.id;
          const f = await h.store.forTenant(tenantId).factors.create({ userId, type: 'webauthn', label: 'key', expiresAt: h.clock.now() + 60_000, now: h.clock.now() });
          await h.store.forTenant(tenantId).factors.activate(f.id, h.clock.now());
          factorId = f.id;
          return res;
        } },
        { name: 'update user', where: 'tenant', events: ['user.updated'], token: 'tenant', run: () => h.call(tenantToken, 'PATCH', `/tenants/${tenantId}/users/${userId}`, { roles: ['x'] }) },
        { name: 'rename tenant', where: 'tenant', events: ['tenant.updated'], run: () => h.call(h.platformToken, 'PATCH', `/tenants/${tenantId}`, { name: 'Audited Inc' }) },
        { name: 'tenant policy', where: 'tenant', events: ['mfa.policy_updated'], token: 'tenant', run: () => h.call(tenantToken, 'PUT', `/tenants/${tenantId}/policy`, { enrollment: 'required' }) },
        { name: 'tenant policy, factors', where: 'tenant', events: ['mfa.accepted_factors_updated', 'mfa.policy_updated'], run: () => h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/policy`, { enrollment: 'required', strength: 'enhanced' }) },
        { name: 'tenant×app policy', where: 'tenant', events: ['mfa.policy_updated'], run: () => h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/applications/${appId}/policy`, { challenge: 'always' }) },
        { name: 'app policy', where: 'platform', events: ['mfa.policy_updated'], run: () => h.call(h.platformToken, 'PUT', `/applications/${appId}/policy`, { challenge: 'never' }) },
        { name: 'app policy, factors', where: 'platform', events: ['mfa.accepted_factors_updated', 'mfa.policy_updated'], run: () => h.call(h.platformToken, 'PUT', `/applications/${appId}/policy`, { acceptableFactors: 'phishing_resistant' }) },
        { name: 'zewst mfaPolicy', where: 'platform', events: ['mfa.policy_updated'], run: () => h.call(h.platformToken, 'PATCH', `/applications/${appId}`, { mfaPolicy: 'smart' }) },
        { name: 'app rename', where: 'platform', events: ['application.updated'], run: () => h.call(h.platformToken, 'PATCH', `/applications/${appId}`, { name: 'Renamed' }) },
        { name: 'app rotate', where: 'platform', events: ['application.updated'], run: () => h.call(h.platformToken, 'POST', `/applications/${appId}/secret`) },
        { name: 'user override', where: 'tenant', events: ['mfa.policy_updated'], run: () => h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/users/${userId}/policy`, { exempt: true, expiresAt }) },
        { name: 'user override removed', where: 'tenant', events: ['mfa.policy_updated'], run: () => h.call(h.platformToken, 'DELETE', `/tenants/${tenantId}/users/${userId}/policy`) },
        { name: 'grace', where: 'tenant', events: ['mfa.grace_granted'], token: 'tenant', run: () => h.call(tenantToken, 'POST', `/tenants/${tenantId}/users/${userId}/grace`, { days: 3 }) },
        { name: 'mfa reset', where: 'tenant', events: ['mfa.factor_admin_reset'], run: () => h.call(h.platformToken, 'POST', `/tenants/${tenantId}/users/${userId}/mfa/reset`) },
        { name: 'revoke passkey', where: 'tenant', events: ['mfa.passkey_revoked'], run: () => h.call(h.platformToken, 'DELETE', `/tenants/${tenantId}/users/${userId}/factors/${factorId}`) },
        { name: 'delete user', where: 'tenant', events: ['user.deleted'], run: () => h.call(h.platformToken, 'DELETE', `/tenants/${tenantId}/users/${userId}`) },
        { name: 'delete app', where: 'platform', events: ['application.deleted'], run: () => h.call(h.platformToken, 'DELETE', `/applications/${appId}`) },
        { name: 'create admin token', where: 'tenant', events: ['admin_token.created'], run: async () => {
          const res = await h.call(h.platformToken, 'POST', '/admin-tokens', { label: 'helpdesk', tenantId });
          extraTokenId = res.body.id;
          return res;
        } },
        { name: 'delete admin token', where: 'tenant', events: ['admin_token.deleted'], run: () => h.call(h.platformToken, 'DELETE', `/admin-tokens/${extraTokenId}`) },
      ];
      for (const step of steps) {
        h.clock.advance(1000);
        const res = await step.run();
        assert.ok(res.status < 300, `${step.name}: ${res.status}`);
        const items = await latest(step.where);
        assert.deepEqual(items.slice(0, step.events.length).map((e) => e.event), step.events, step.name);
        const actor = `admin:${step.token === 'tenant' ? tenantTokenId : h.platformTokenId}`;
        assert.ok(items.slice(0, step.events.length).every((e) => e.actor === actor), `${step.name}: actor`);
      }
      // tenant.created was the first event of the tenant, and tenant.deleted survives the tenant.
      const first = (await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/audit?event=tenant.created`)).body.items;
      assert.equal(first.length, 1);
      assert.equal((await h.call(h.platformToken, 'DELETE', `/tenants/${tenantId}`)).status, 204);
      const kept = await h.store.audit.list({ tenantId, events: ['tenant.deleted', 'user.created'] });
      assert.deepEqual(kept.items.map((e) => e.event), ['tenant.deleted', 'user.created']);
    });

    it('a change whose audit record cannot be written does not happen (same transaction)', async () => {
      const tenant = await h.store.tenants.create({ slug: 'no-audit', name: 'No audit', now: h.clock.now() });
      const app = await h.store.applications.create({ name: 'No audit', firstParty: false, clientId: 'no-audit', clientSecretHash: 'x', now: h.clock.now() });
      const t = h.store.forTenant(tenant.id);
      const user = await t.users.create({ email: 'n@example.com', now: h.clock.now() });
      const factor = await t.factors.create({ userId: user.id, type: 'totp', label: 'x', expiresAt: h.clock.now() + 60_000, now: h.clock.now() });
      const deps: ServiceDeps = { ...h.deps, store: failingAuditStore(h.store) };
      const admin = { tokenId: h.platformTokenId, tenantId: null };
      const future = h.clock.now() + DAY;
      const before = await snapshot(h.database);
      const attempts: [string, () => Promise<unknown>][] = [
        ['createTenant', () => createTenant(deps, admin, { slug: 'never', name: 'Never' })],
        ['updateTenant', () => updateTenant(deps, admin, tenant.id, { name: 'Changed' })],
        ['deleteTenant', () => deleteTenant(deps, admin, tenant.id)],
        ['createApplication', () => createApplication(deps, admin, { name: 'Never' })],
        ['updateApplication', () => updateApplication(deps, admin, app.id, { mfaPolicy: 'always' })],
        ['createUser', () => createUser(deps, admin, tenant.id, { email: 'never@example.com', password: 'correct horse battery' })],
        ['updateUser', () => updateUser(deps, admin, tenant.id, user.id, { roles: ['x'] })],
        ['deleteUser', () => deleteUser(deps, admin, tenant.id, user.id)],
        ['savePolicy', () => savePolicy(deps, admin, { level: 'tenant', tenantId: tenant.id }, { layer: { enrollment: 'required' } })],
        ['setUserOverride', () => setUserOverride(deps, admin, tenant.id, user.id, { exempt: true, expiresAt: future })],
        ['removeUserOverride', async () => {
          await t.users.update(user.id, { exemptUntil: future }, h.clock.now());
          try {
            return await removeUserOverride(deps, admin, tenant.id, user.id);
          } finally {
            await t.users.update(user.id, { exemptUntil: null }, h.clock.now());
          }
        }],
        ['grantGrace', () => grantGrace(deps, admin, tenant.id, user.id, { days: 3 })],
        ['resetUserMfa', () => resetUserMfa(deps, admin, tenant.id, user.id)],
        ['removeUserFactor', () => removeUserFactor(deps, admin, tenant.id, user.id, factor.id)],
      ];
      for (const [name, attempt] of attempts) {
        await assert.rejects(attempt(), (e: unknown) => e instanceof PortcullisError && e.message.includes('audit unavailable'), name);
      }
      const afterAll = await snapshot(h.database);
      // `removeUserOverride`'s own setup wrote and undid `exempt_until`; compare everything else exactly.
      assert.deepEqual({ ...afterAll, users: undefined }, { ...before, users: undefined });
      assert.equal((await t.users.get(user.id))?.exemptUntil, null);
      assert.deepEqual((await t.users.get(user.id))?.roles, []);
    });

    it('filters: our names, AxisSynapse codes, several at once, user, application, time range; unknown names → 400', async () => {
      const tenantId = (await h.call(h.platformToken, 'POST', '/tenants', { slug: 'filters', name: 'Filters' })).body.id as string;
      const appA = (await h.call(h.platformToken, 'POST', '/applications', { name: 'A' })).body.id as string;
      const appB = (await h.call(h.platformToken, 'POST', '/applications', { name: 'B' })).body.id as string;
      const u1 = (await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/users`, { email: 'u1@example.com' })).body.id as string;
      const u2 = (await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/users`, { email: 'u2@example.com' })).body.id as string;
      const t0 = h.clock.now();
      h.clock.advance(60_000);
      const t1 = h.clock.now();
      await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/applications/${appA}/policy`, { acceptableFactors: 'totp_webauthn' });
      await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/applications/${appB}/policy`, { challenge: 'always' });
      h.clock.advance(60_000);
      const t2 = h.clock.now();
      await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/users/${u1}/grace`, { days: 1 });
      await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/users/${u2}/grace`, { days: 2 });

      const q = async (query: string): Promise<{ status: number; body: { items: { event: string; userId: string | null; applicationId: string | null }[]; error?: string } }> =>
        h.call(h.platformToken, 'GET', `/tenants/${tenantId}/audit?${query}`);
      assert.equal((await q('event=mfa.policy_updated')).body.items.length, 2);
      assert.equal((await q('event=TENANT_MFA_POLICY_UPDATED')).body.items.length, 2);
      assert.deepEqual((await q('event=TENANT_MFA_ACCEPTED_FACTORS_UPDATED')).body.items.map((e) => e.applicationId), [appA]);
      assert.equal((await q('event=TENANT_MFA_GRACE_GRANTED')).body.items.length, 2);
      assert.equal((await q(`event=${encodeURIComponent('mfa.grace_granted, user.created')}`)).body.items.length, 4);
      assert.deepEqual((await q(`event=mfa.grace_granted&userId=${u2}`)).body.items.map((e) => e.userId), [u2]);
      assert.deepEqual((await q(`applicationId=${appB}`)).body.items.map((e) => e.event), ['mfa.policy_updated']);
      const iso = (ms: number): string => encodeURIComponent(new Date(ms).toISOString());
      assert.deepEqual((await q(`from=${iso(t0)}&to=${iso(t1)}`)).body.items.map((e) => e.event), ['user.created', 'user.created', 'tenant.created']);
      assert.equal((await q(`from=${iso(t1)}&to=${iso(t2)}`)).body.items.length, 3);
      assert.equal((await q(`from=${iso(t2)}`)).body.items.length, 2);
      assert.equal((await q(`to=${iso(t0 - 1)}`)).body.items.length, 0);

      for (const bad of ['event=mfa.nope', 'event=TENANT_NOPE', `event=${encodeURIComponent('mfa.grace_granted,bogus')}`, 'from=yesterday', `from=${iso(t2)}&to=${iso(t1)}`, 'limit=0', 'limit=1001', 'limit=ten', 'cursor=abc', 'cursor=-5', 'colour=blue']) {
        const res = await q(bad);
        assert.equal(res.status, 400, bad);
        assert.equal(res.body.error, 'INVALID_REQUEST', bad);
      }
    });

    it('cursor paging: newest first, every event once, stable while new events arrive', async () => {
      const tenantId = (await h.call(h.platformToken, 'POST', '/tenants', { slug: 'paging', name: 'Paging' })).body.id as string;
      for (let i = 0; i < 24; i++) await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/policy`, { gracePeriodDays: i % 30 });
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/audit?limit=10${cursor === null ? '' : `&cursor=${cursor}`}`);
        assert.equal(res.status, 200);
        seen.push(...res.body.items.map((e: { id: string }) => e.id));
        cursor = res.body.nextCursor;
        if (pages === 0) await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/policy`, { gracePeriodDays: 1 }); // arrives mid-paging
        pages++;
      } while (cursor !== null);
      assert.equal(pages, 3);
      assert.equal(seen.length, 25, '24 policy updates and tenant.created, each once; the newer event is not in this walk');
      assert.equal(new Set(seen).size, 25);
      const numeric = seen.map(Number);
      assert.deepEqual(numeric, [...numeric].sort((a, b) => b - a));
    });
  });
});
