/**
 * Admin CRUD over HTTP on both databases: tenants, applications, users and admin tokens round-trip; a client
 * secret or admin token appears in exactly one answer and is stored only as a hash; no user view carries a
 * password hash; tenant admins read applications but cannot change platform-level things.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RouteOptions } from 'fastify';
import { buildApp } from '../../src/http/app.ts';
import { requireApplication } from '../../src/http/auth.ts';
import { registerAdminRoutes } from '../../src/http/routes/admin/index.ts';
import { hashToken, verifyHashedToken } from '../../src/factors/tokens.ts';
import { createHarness, forEachDialect, type Harness, type RouteRegistrar } from '../support/harness.ts';

/** A probe route behind the real application authenticator, to prove the issued secret is the one it accepts. */
const probe: RouteRegistrar = async (api, deps) => {
  await api.register(async (scope) => {
    scope.addHook('onRequest', requireApplication((clientId) => deps.store.applications.findByClientId(clientId), verifyHashedToken));
    scope.get('/test/whoami', async (request) => ({ applicationId: request.application?.id ?? null }));
  });
};

function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

forEachDialect((dialect) => {
  describe(`admin CRUD (${dialect})`, () => {
    let h: Harness;
    before(async () => {
      h = await createHarness({ dialect, extraRoutes: [probe] });
    });
    after(async () => h?.close());

    it('tenants: create, list, read, rename, re-slug, conflict, delete', async () => {
      const created = await h.call(h.platformToken, 'POST', '/tenants', { slug: 'acme', name: 'Acme' });
      assert.equal(created.status, 201);
      assert.match(created.body.id, /^[0-9a-f-]{36}$/);
      assert.equal(created.body.slug, 'acme');
      assert.ok(!Number.isNaN(Date.parse(created.body.createdAt)));
      const id = created.body.id as string;

      assert.equal((await h.call(h.platformToken, 'POST', '/tenants', { slug: 'acme', name: 'Again' })).body.error, 'CONFLICT');
      const uuidSlug = await h.call(h.platformToken, 'POST', '/tenants', { slug: '0b0e7a2c-1111-4222-8333-944455556666', name: 'Id-like' });
      assert.equal(uuidSlug.status, 400);

      const read = await h.call(h.platformToken, 'GET', `/tenants/${id}`);
      assert.deepEqual(read.body, created.body);

      h.clock.advance(1000);
      const renamed = await h.call(h.platformToken, 'PATCH', `/tenants/${id}`, { name: 'Acme Corp', slug: 'acme-corp' });
      assert.equal(renamed.status, 200);
      assert.equal(renamed.body.name, 'Acme Corp');
      assert.equal(renamed.body.slug, 'acme-corp');
      assert.notEqual(renamed.body.updatedAt, created.body.updatedAt);

      const list = await h.call(h.platformToken, 'GET', '/tenants?limit=1000');
      assert.ok(list.body.items.some((t: { id: string }) => t.id === id));

      // Paging visits every tenant once.
      for (let i = 0; i < 3; i++) await h.call(h.platformToken, 'POST', '/tenants', { slug: `page-${i}`, name: `P${i}` });
      const seen = new Set<string>();
      let cursor: string | null = null;
      do {
        const page = await h.call(h.platformToken, 'GET', `/tenants?limit=2${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
        assert.equal(page.status, 200);
        assert.ok(page.body.items.length <= 2);
        for (const t of page.body.items) {
          assert.ok(!seen.has(t.id));
          seen.add(t.id);
        }
        cursor = page.body.nextCursor;
      } while (cursor !== null);
      assert.ok(seen.size >= 4);

      assert.equal((await h.call(h.platformToken, 'DELETE', `/tenants/${id}`)).status, 204);
      assert.equal((await h.call(h.platformToken, 'GET', `/tenants/${id}`)).status, 404);
      assert.equal((await h.call(h.platformToken, 'DELETE', `/tenants/${id}`)).status, 404);
    });

    it('applications: the client secret is shown once, stored hashed, accepted by the authenticator, and rotation replaces it', async () => {
      const created = await h.call(h.platformToken, 'POST', '/applications', { name: 'Bank', firstParty: false });
      assert.equal(created.status, 201);
      const { id, clientId, clientSecret } = created.body as { id: string; clientId: string; clientSecret: string };
      assert.match(clientSecret, /^pcs_[A-Za-z0-9_-]{43}$/);

      // Never again: not on read, list, update.
      const read = await h.call(h.platformToken, 'GET', `/applications/${id}`);
      assert.equal(read.status, 200);
      assert.equal(read.body.clientSecret, undefined);
      assert.ok(!JSON.stringify(read.body).includes(clientSecret));
      const list = await h.call(h.platformToken, 'GET', '/applications');
      assert.ok(!JSON.stringify(list.body).includes(clientSecret));
      assert.ok(!JSON.stringify(list.body).includes('clientSecretHash'));
      const patched = await h.call(h.platformToken, 'PATCH', `/applications/${id}`, { name: 'Big Bank', firstParty: true });
      assert.equal(patched.body.name, 'Big Bank');
      assert.equal(patched.body.firstParty, true);
      assert.equal(patched.body.clientSecret, undefined);

      // Stored as SHA-256 of the secret, nothing else.
      const stored = await h.store.applications.get(id);
      assert.equal(stored?.clientSecretHash, hashToken(clientSecret));

      const who = await h.app.inject({ method: 'GET', url: '/api/v1/test/whoami', headers: { authorization: basic(clientId, clientSecret) } });
      assert.equal(who.statusCode, 200);
      assert.equal(JSON.parse(who.body).applicationId, id);

      const rotated = await h.call(h.platformToken, 'POST', `/applications/${id}/secret`);
      assert.equal(rotated.status, 200);
      assert.notEqual(rotated.body.clientSecret, clientSecret);
      const old = await h.app.inject({ method: 'GET', url: '/api/v1/test/whoami', headers: { authorization: basic(clientId, clientSecret) } });
      assert.equal(old.statusCode, 401);
      const fresh = await h.app.inject({ method: 'GET', url: '/api/v1/test/whoami', headers: { authorization: basic(clientId, rotated.body.clientSecret) } });
      assert.equal(fresh.statusCode, 200);

      // No audit record carries a secret.
      const audit = await h.call(h.platformToken, 'GET', '/audit?limit=1000');
      assert.ok(!JSON.stringify(audit.body).includes(clientSecret));
      assert.ok(!JSON.stringify(audit.body).includes(rotated.body.clientSecret));

      assert.equal((await h.call(h.platformToken, 'DELETE', `/applications/${id}`)).status, 204);
      assert.equal((await h.call(h.platformToken, 'GET', `/applications/${id}`)).status, 404);
    });

    it('applications are platform-level: a tenant admin reads them but may not create, change, rotate or delete', async () => {
      const tenant = (await h.call(h.platformToken, 'POST', '/tenants', { slug: 'app-reader', name: 'Reader' })).body;
      const app = (await h.call(h.platformToken, 'POST', '/applications', { name: 'Shared' })).body;
      const { token } = await h.tenantToken(tenant.id);
      assert.equal((await h.call(token, 'GET', `/applications/${app.id}`)).status, 200);
      assert.equal((await h.call(token, 'GET', '/applications')).status, 200);
      for (const [method, path, body] of [
        ['POST', '/applications', { name: 'Mine' }],
        ['PATCH', `/applications/${app.id}`, { name: 'Mine' }],
        ['PATCH', `/applications/${app.id}`, { mfaPolicy: 'never' }],
        ['POST', `/applications/${app.id}/secret`, undefined],
        ['DELETE', `/applications/${app.id}`, undefined],
        ['PUT', `/applications/${app.id}/policy`, { challenge: 'never' }],
        ['POST', '/tenants', { slug: 'sneaky', name: 'Sneaky' }],
        ['DELETE', `/tenants/${tenant.id}`, undefined],
      ] as const) {
        const res = await h.call(token, method, path, body);
        assert.equal(res.status, 403, `${method} ${path}`);
        assert.equal(res.body.error, 'FORBIDDEN');
      }
      // … and may set its own tenant×application policy.
      assert.equal((await h.call(token, 'PUT', `/tenants/${tenant.id}/applications/${app.id}/policy`, { challenge: 'always' })).status, 200);
    });

    it('users: create, read, update (password, roles, phone), list, conflict, delete; no hash ever leaves', async () => {
      const tenant = (await h.call(h.platformToken, 'POST', '/tenants', { slug: 'users', name: 'Users' })).body;
      const base = `/tenants/${tenant.id}/users`;
      const created = await h.call(h.platformToken, 'POST', base, {
        email: 'Ada@Example.com',
        phone: '+14155550100',
        roles: ['staff', 'admin'],
        externalId: 'ext-1',
        password: 'correct horse battery',
      });
      assert.equal(created.status, 201);
      assert.equal(created.body.email, 'ada@example.com');
      assert.equal(created.body.hasPassword, true);
      assert.equal(created.body.passwordHash, undefined);
      assert.deepEqual(created.body.roles, ['staff', 'admin']);
      const id = created.body.id as string;
      const record = await h.store.forTenant(tenant.id).users.get(id);
      assert.match(record?.passwordHash ?? '', /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      assert.ok(!JSON.stringify(created.body).includes('argon2'));

      assert.equal((await h.call(h.platformToken, 'POST', base, { email: 'ada@example.com' })).body.error, 'CONFLICT');
      assert.equal((await h.call(h.platformToken, 'POST', base, { email: 'b@example.com', externalId: 'ext-1' })).body.error, 'CONFLICT');

      const read = await h.call(h.platformToken, 'GET', `${base}/${id}`);
      assert.deepEqual(read.body, created.body);

      await h.store.forTenant(tenant.id).trustedDevices.upsert(id, 'device-1', h.clock.now());
      const updated = await h.call(h.platformToken, 'PATCH', `${base}/${id}`, { roles: ['staff'], phone: null, password: 'another long password', emailVerified: true });
      assert.equal(updated.status, 200);
      assert.deepEqual(updated.body.roles, ['staff']);
      assert.equal(updated.body.phone, null);
      assert.equal(updated.body.emailVerified, true);
      const after = await h.store.forTenant(tenant.id).users.get(id);
      assert.notEqual(after?.passwordHash, record?.passwordHash);
      assert.equal(await h.store.forTenant(tenant.id).trustedDevices.get(id, 'device-1'), null, 'a password change revokes trusted devices');

      const cleared = await h.call(h.platformToken, 'PATCH', `${base}/${id}`, { password: null });
      assert.equal(cleared.body.hasPassword, false);

      const list = await h.call(h.platformToken, 'GET', base);
      assert.equal(list.body.items.length, 1);
      assert.ok(!JSON.stringify(list.body).includes('argon2'));

      // Nothing secret in the audit trail either.
      const audit = await h.call(h.platformToken, 'GET', `/tenants/${tenant.id}/audit?userId=${id}`);
      assert.ok(!JSON.stringify(audit.body).includes('correct horse'));
      assert.ok(!JSON.stringify(audit.body).includes('argon2'));

      assert.equal((await h.call(h.platformToken, 'DELETE', `${base}/${id}`)).status, 204);
      assert.equal((await h.call(h.platformToken, 'GET', `${base}/${id}`)).status, 404);
    });

    it('admin tokens: shown once, usable at once, scoped, listed without secrets, revocable; the last platform token stays', async () => {
      const tenant = (await h.call(h.platformToken, 'POST', '/tenants', { slug: 'tokens', name: 'Tokens' })).body;
      const created = await h.call(h.platformToken, 'POST', '/admin-tokens', { label: 'helpdesk', tenantId: tenant.id });
      assert.equal(created.status, 201);
      const { id, token } = created.body as { id: string; token: string };
      assert.match(token, /^pcat_/);
      assert.equal(created.body.tenantId, tenant.id);

      assert.equal((await h.call(token, 'GET', `/tenants/${tenant.id}`)).status, 200);
      const mine = await h.call(token, 'GET', '/tenants');
      assert.deepEqual(mine.body.items.map((t: { id: string }) => t.id), [tenant.id]);

      const list = await h.call(h.platformToken, 'GET', '/admin-tokens?limit=1000');
      assert.ok(list.body.items.some((t: { id: string }) => t.id === id));
      assert.ok(!JSON.stringify(list.body).includes(token));
      assert.ok(!JSON.stringify(list.body).includes(hashToken(token)));
      const scoped = await h.call(token, 'GET', '/admin-tokens');
      assert.ok(scoped.body.items.every((t: { tenantId: string | null }) => t.tenantId === tenant.id));

      // A tenant admin cannot mint a platform token.
      assert.equal((await h.call(token, 'POST', '/admin-tokens', { label: 'escalate', tenantId: null })).status, 403);

      assert.equal((await h.call(h.platformToken, 'DELETE', `/admin-tokens/${id}`)).status, 204);
      assert.equal((await h.call(token, 'GET', `/tenants/${tenant.id}`)).status, 401, 'a revoked token stops working at once');

      const platform = await h.call(h.platformToken, 'GET', '/admin-tokens?limit=1000');
      const platformIds = platform.body.items.filter((t: { tenantId: string | null }) => t.tenantId === null).map((t: { id: string }) => t.id);
      assert.deepEqual(platformIds, [h.platformTokenId]);
      const last = await h.call(h.platformToken, 'DELETE', `/admin-tokens/${h.platformTokenId}`);
      assert.equal(last.status, 409);
      assert.equal(last.body.error, 'CONFLICT');
    });

    it('no token, a malformed token or an unknown token → 401 UNAUTHORIZED', async () => {
      for (const token of [null, 'short', 'pcat_unknownunknownunknownunknownunknown']) {
        const res = await h.call(token, 'GET', '/tenants');
        assert.equal(res.status, 401);
        assert.equal(res.body.error, 'UNAUTHORIZED');
      }
    });

    it('the OpenAPI document describes every admin route as registered: tag, 404, body and parameters', async () => {
      // The routes as Fastify registers them (an onRoute hook ahead of the admin routes), not a list kept here.
      const registered: RouteOptions[] = [];
      const probeApp = await buildApp({
        config: { logLevel: 'silent', publicUrl: 'http://localhost', trustProxy: false, rateLimitPerMinute: 0 },
        ping: async () => undefined,
        registerRoutes: async (api) => {
          api.addHook('onRoute', (route) => void registered.push(route));
          await registerAdminRoutes(api, h.deps);
        },
      });
      await probeApp.ready();
      await probeApp.close();
      const doc = JSON.parse((await h.app.inject({ method: 'GET', url: '/api/openapi.json' })).body) as {
        paths: Record<string, Record<string, { tags?: string[]; requestBody?: unknown; responses?: Record<string, unknown>; parameters?: { name: string; in: string }[] }>>;
      };
      const routes = registered.flatMap((r) => (Array.isArray(r.method) ? r.method : [r.method]).map((method) => ({ method: String(method).toLowerCase(), route: r }))).filter((r) => r.method !== 'head');
      assert.ok(routes.length >= 30, `admin routes registered: ${routes.length}`);
      for (const { method, route } of routes) {
        const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
        const where = `${method.toUpperCase()} ${path}`;
        const op = doc.paths[path]?.[method];
        const schema = (route.schema ?? {}) as { body?: unknown; params?: { properties?: object }; querystring?: { properties?: object } };
        assert.ok(op !== undefined, `${where} is not in the OpenAPI document`);
        assert.ok(op.tags?.[0]?.startsWith('admin: '), `${where} has no admin tag`);
        assert.ok(op.responses?.['404'] !== undefined, `${where} documents no 404`);
        assert.equal(op.requestBody !== undefined, schema.body !== undefined, `${where}: a request body documented exactly when the route declares one`);
        const documented = new Set((op.parameters ?? []).map((p) => `${p.in} ${p.name}`));
        for (const name of Object.keys(schema.params?.properties ?? {})) assert.ok(documented.has(`path ${name}`), `${where}: path parameter ${name}`);
        for (const name of Object.keys(schema.querystring?.properties ?? {})) assert.ok(documented.has(`query ${name}`), `${where}: query parameter ${name}`);
      }
    });
  });
});
