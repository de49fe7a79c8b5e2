/**
 * SECURITY rule 8 over HTTP, on both databases: tenant A's admin token against every tenant B resource — every
 * admin route that names a tenant, a user, a factor or a token — answers 404 NOT_FOUND, exactly as for an id that
 * does not exist (no hint that it exists), and changes nothing.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createHarness, forEachDialect, type Harness } from '../support/harness.ts';
import { snapshot } from '../support/snapshot.ts';

/** A session id for the session routes (any id: tenant A's token must get 404 before it is looked up). */
const SESSION_ID = '5e55e55e-0000-4000-8000-000000000000';
const DEVICE_ID = 'device-id-of-no-one';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
interface Case {
  readonly method: Method;
  readonly path: string;
  readonly body?: unknown;
}

forEachDialect((dialect) => {
  describe(`tenant isolation of the admin API (${dialect})`, () => {
    let h: Harness;
    let tokenA: string;
    let tokenB: string;
    let tokenBId: string;
    const ids = { a: '', b: '', userA: '', userB: '', factorA: '', factorB: '', app: '' };

    before(async () => {
      h = await createHarness({ dialect });
      const now = h.clock.now();
      ids.a = (await h.call(h.platformToken, 'POST', '/tenants', { slug: 'tenant-a', name: 'A' })).body.id;
      ids.b = (await h.call(h.platformToken, 'POST', '/tenants', { slug: 'tenant-b', name: 'B' })).body.id;
      ids.app = (await h.call(h.platformToken, 'POST', '/applications', { name: 'shared' })).body.id;
      ids.userA = (await h.call(h.platformToken, 'POST', `/tenants/${ids.a}/users`, { email: 'a@example.com' })).body.id;
      ids.userB = (await h.call(h.platformToken, 'POST', `/tenants/${ids.b}/users`, { email: 'b@example.com' })).body.id;
      ids.factorA = (await h.store.forTenant(ids.a).factors.create({ userId: ids.userA, type: 'totp', label: 'a', expiresAt: now + 60_000, now })).id;
      ids.factorB = (await h.store.forTenant(ids.b).factors.create({ userId: ids.userB, type: 'webauthn', label: 'b', expiresAt: now + 60_000, now })).id;
      await h.call(h.platformToken, 'PUT', `/tenants/${ids.b}/policy`, { enrollment: 'required' });
      tokenA = (await h.tenantToken(ids.a)).token;
      const b = await h.tenantToken(ids.b);
      tokenB = b.token;
      tokenBId = b.id;
    });
    after(async () => h?.close());

    /** Every admin route that names a tenant-owned resource, filled with tenant B's ids (or A's tenant with B's user/factor). */
    function cases(t: string, u: string, f: string): Case[] {
      const expiresAt = new Date(h.clock.now() + 86_400_000).toISOString();
      return [
        { method: 'GET', path: `/tenants/${t}` },
        { method: 'PATCH', path: `/tenants/${t}`, body: { name: 'Mine now' } },
        { method: 'DELETE', path: `/tenants/${t}` },
        { method: 'GET', path: `/tenants/${t}/users` },
        { method: 'POST', path: `/tenants/${t}/users`, body: { email: 'intruder@example.com' } },
        { method: 'GET', path: `/tenants/${t}/users/${u}` },
        { method: 'PATCH', path: `/tenants/${t}/users/${u}`, body: { roles: ['admin'] } },
        { method: 'DELETE', path: `/tenants/${t}/users/${u}` },
        { method: 'GET', path: `/tenants/${t}/policy` },
        { method: 'PUT', path: `/tenants/${t}/policy`, body: { enrollment: 'optional' } },
        { method: 'GET', path: `/tenants/${t}/applications/${ids.app}/policy` },
        { method: 'PUT', path: `/tenants/${t}/applications/${ids.app}/policy`, body: { challenge: 'never' } },
        { method: 'GET', path: `/tenants/${t}/applications/${ids.app}/policy/resolved` },
        { method: 'GET', path: `/tenants/${t}/applications/${ids.app}/policy/resolved?userId=${u}` },
        { method: 'POST', path: `/tenants/${t}/policy/preview`, body: { applicationId: ids.app, draft: {} } },
        { method: 'GET', path: `/tenants/${t}/policy/shadow` },
        { method: 'PUT', path: `/tenants/${t}/policy/shadow`, body: { layer: { challenge: 'always' } } },
        { method: 'DELETE', path: `/tenants/${t}/policy/shadow` },
        { method: 'GET', path: `/tenants/${t}/policy/shadow/diffs` },
        { method: 'GET', path: `/tenants/${t}/users/${u}/policy` },
        { method: 'PUT', path: `/tenants/${t}/users/${u}/policy`, body: { exempt: true, expiresAt } },
        { method: 'DELETE', path: `/tenants/${t}/users/${u}/policy` },
        { method: 'GET', path: `/tenants/${t}/users/${u}/factors` },
        { method: 'POST', path: `/tenants/${t}/users/${u}/mfa/reset` },
        { method: 'DELETE', path: `/tenants/${t}/users/${u}/factors/${f}` },
        { method: 'POST', path: `/tenants/${t}/users/${u}/grace`, body: { days: 30 } },
        { method: 'POST', path: `/tenants/${t}/users/${u}/unlock` },
        { method: 'GET', path: `/tenants/${t}/users/${u}/trusted-devices` },
        { method: 'DELETE', path: `/tenants/${t}/users/${u}/trusted-devices` },
        { method: 'DELETE', path: `/tenants/${t}/users/${u}/trusted-devices/${DEVICE_ID}` },
        { method: 'GET', path: `/tenants/${t}/users/${u}/sessions` },
        { method: 'DELETE', path: `/tenants/${t}/users/${u}/sessions` },
        { method: 'DELETE', path: `/tenants/${t}/users/${u}/sessions/${SESSION_ID}` },
        { method: 'GET', path: `/tenants/${t}/applications` },
        { method: 'PUT', path: `/tenants/${t}/applications/${ids.app}` },
        { method: 'DELETE', path: `/tenants/${t}/applications/${ids.app}` },
        { method: 'GET', path: `/tenants/${t}/audit` },
        { method: 'GET', path: `/tenants/${t}/audit?event=mfa.policy_updated` },
      ];
    }

    it('the table covers every admin operation of the OpenAPI document whose path names a tenant', async () => {
      const doc = JSON.parse((await h.app.inject({ method: 'GET', url: '/api/openapi.json' })).body) as { paths: Record<string, Record<string, unknown>> };
      const documented = Object.entries(doc.paths)
        .filter(([path]) => path.includes('{tenantId}'))
        .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path.replace(/^\/api\/v1/, '')}`));
      const t = randomUUID();
      const u = randomUUID();
      const f = randomUUID();
      const covered = new Set(
        cases(t, u, f).map((c) => `${c.method} ${c.path.split('?')[0]?.replace(t, '{tenantId}').replace(u, '{userId}').replace(f, '{factorId}').replace(SESSION_ID, '{sessionId}').replace(DEVICE_ID, '{deviceId}').replace(ids.app, '{applicationId}')}`),
      );
      assert.deepEqual(documented.filter((op) => !covered.has(op)), [], 'tenant routes missing from the isolation table');
    });

    it('every tenant B route with tenant A’s token → 404 NOT_FOUND, the same answer as a missing id, and no change', async () => {
      const before = await snapshot(h.database);
      const table = cases(ids.b, ids.userB, ids.factorB);
      const missing = cases(randomUUID(), randomUUID(), randomUUID());
      assert.ok(table.length >= 25);
      for (const [i, c] of table.entries()) {
        const res = await h.call(tokenA, c.method, c.path, c.body);
        assert.equal(res.status, 404, `${c.method} ${c.path} → ${res.status} ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error, 'NOT_FOUND');
        assert.doesNotMatch(res.body.message, /^No route/, 'the route exists; the resource is out of reach');
        const m = missing[i] as Case;
        const ghost = await h.call(tokenA, m.method, m.path, m.body);
        assert.deepEqual({ status: ghost.status, body: ghost.body }, { status: res.status, body: res.body }, `${c.method} ${c.path}: differs from a missing id`);
      }
      assert.deepEqual(await snapshot(h.database), before);
    });

    it('tenant A’s own tenant with tenant B’s user or factor → 404, and no change', async () => {
      const before = await snapshot(h.database);
      const table = cases(ids.a, ids.userB, ids.factorB).filter((c) => c.path.includes(ids.userB) || c.path.includes(ids.factorB));
      table.push({ method: 'DELETE', path: `/tenants/${ids.a}/users/${ids.userA}/factors/${ids.factorB}` });
      assert.ok(table.length >= 11);
      for (const c of table) {
        const res = await h.call(tokenA, c.method, c.path, c.body);
        assert.equal(res.status, 404, `${c.method} ${c.path}`);
        assert.equal(res.body.error, 'NOT_FOUND');
      }
      // Even the platform token cannot reach B's user through A's tenant: the store scopes every query.
      for (const c of table) {
        const res = await h.call(h.platformToken, c.method, c.path, c.body);
        assert.equal(res.status, 404, `platform ${c.method} ${c.path}`);
      }
      assert.deepEqual(await snapshot(h.database), before);
    });

    it('admin tokens: tenant A cannot list, create or revoke tenant B’s tokens', async () => {
      const before = await snapshot(h.database);
      for (const c of [
        { method: 'GET', path: `/admin-tokens?tenantId=${ids.b}` },
        { method: 'POST', path: '/admin-tokens', body: { label: 'into b', tenantId: ids.b } },
        { method: 'DELETE', path: `/admin-tokens/${tokenBId}` },
        { method: 'DELETE', path: `/admin-tokens/${h.platformTokenId}` },
      ] as Case[]) {
        const res = await h.call(tokenA, c.method, c.path, c.body);
        assert.equal(res.status, 404, `${c.method} ${c.path}`);
        assert.equal(res.body.error, 'NOT_FOUND');
      }
      const listed = await h.call(tokenA, 'GET', '/admin-tokens');
      assert.ok(listed.body.items.every((t: { tenantId: string }) => t.tenantId === ids.a));
      assert.deepEqual(await snapshot(h.database), before);
    });

    it('listings never show tenant B to tenant A, and tenant B’s own token still reaches everything of B', async () => {
      const tenants = await h.call(tokenA, 'GET', '/tenants');
      assert.deepEqual(tenants.body.items.map((t: { id: string }) => t.id), [ids.a]);
      assert.equal((await h.call(tokenA, 'GET', '/audit')).status, 403, 'the platform log is for platform admins');
      // Positive control: the same read routes answer 200 for B's own token.
      for (const c of cases(ids.b, ids.userB, ids.factorB).filter((x) => x.method === 'GET')) {
        const res = await h.call(tokenB, c.method, c.path);
        assert.equal(res.status, 200, `${c.method} ${c.path}`);
      }
    });
  });
});
