/**
 * Rolling out `enrollment: required` (PUT tenant policy `?noncompliant=`), on SQLite and PostgreSQL: by default
 * (`wall`) live sessions go on and the users without an acceptable factor meet the enrollment wall at their next
 * sign-in; with `revoke_sessions` exactly the live sessions of the users the new version walls end now, each
 * audited — users holding a factor and exempt users keep theirs — and a save that cannot apply now changes nothing.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { secretAad } from '../../src/factors/secret-box.ts';
import { generateTotpSecret } from '../../src/factors/totp.ts';
import { forEachDialect, type Dialect, type Harness } from '../support/harness.ts';
import { api, auditOf, createAuthHarness, createClient, createTenant, createUser, expectStatus, type TestClient } from './auth-support.ts';

const REQUIRED = { enrollment: 'required', gracePeriodDays: 0, challenge: 'never', exemptRoles: ['break-glass'] };

forEachDialect((dialect: Dialect) => {
  describe('policy roll-out of enrollment: required', () => {
    let h: Harness;
    let client: TestClient;
    let tenantId: string;
    let admin: string;
    const users: Record<'alice' | 'bob' | 'carol', string> = { alice: '', bob: '', carol: '' };
    const sessions: Record<string, string> = {};

    const signIn = async (userId: string): Promise<{ status: string; token: string | null }> => {
      const res = await api(h, client, 'POST', '/auth/mfa/status/check', { tenant: 'rollout', userId, context: { ip: '192.0.2.1' } });
      expectStatus(res, 200);
      return { status: res.body.status as string, token: (res.body.session?.token as string | undefined) ?? null };
    };
    const live = async (token: string): Promise<boolean> => {
      const res = await api(h, client, 'POST', '/auth/sessions/introspect', { token });
      expectStatus(res, 200);
      return res.body.active === true;
    };
    const versions = async (): Promise<number> => (await h.store.forTenant(tenantId).policies.listVersions({ level: 'tenant' })).length;

    before(async () => {
      h = await createAuthHarness(dialect);
      client = await createClient(h, 'Shop');
      tenantId = (await createTenant(h, 'rollout', { enrollment: 'optional', challenge: 'never' })).id;
      admin = (await h.tenantToken(tenantId)).token;
      users.alice = (await createUser(h, tenantId, 'alice@example.com')).id;
      users.bob = (await createUser(h, tenantId, 'bob@example.com')).id;
      users.carol = (await createUser(h, tenantId, 'carol@example.com', { roles: ['break-glass'] })).id;
      // Bob holds an active TOTP factor (sealed as enrollment seals it).
      const factorId = randomUUID();
      await h.store.forTenant(tenantId).factors.create({ id: factorId, userId: users.bob, type: 'totp', status: 'active', label: 'phone', secretEnc: h.deps.secrets.seal(generateTotpSecret(), secretAad(tenantId, factorId)), now: h.clock.now() });
      for (const [name, id] of Object.entries(users)) {
        const res = await signIn(id);
        assert.equal(res.status, 'authenticated');
        sessions[name] = res.token as string;
      }
    });
    after(async () => {
      await h?.close();
    });

    it('default (wall): the save ends no session; the user without a factor meets the wall at the next sign-in', async () => {
      const res = await h.call(admin, 'PUT', `/tenants/${tenantId}/policy`, REQUIRED);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.rollout, undefined);
      for (const name of ['alice', 'bob', 'carol']) assert.equal(await live(sessions[name] as string), true, name);
      assert.equal((await signIn(users.alice)).status, 'enrollment_required');
      const wall = await h.call(admin, 'PUT', `/tenants/${tenantId}/policy?noncompliant=wall`, REQUIRED);
      assert.equal(wall.status, 200);
      assert.deepEqual(wall.body.rollout, { mode: 'wall', sessionsRevoked: 0, usersAffected: [] });
      assert.equal(await live(sessions.alice as string), true);
    });

    it('refuses what cannot apply now (bad mode, effectiveAt ahead) with 400 and saves nothing', async () => {
      const before = await versions();
      const audit = (await auditOf(h, tenantId)).length;
      const bad = await h.call(admin, 'PUT', `/tenants/${tenantId}/policy?noncompliant=everyone`, REQUIRED);
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error, 'INVALID_REQUEST');
      const ahead = await h.call(admin, 'PUT', `/tenants/${tenantId}/policy?noncompliant=revoke_sessions`, { ...REQUIRED, effectiveAt: new Date(h.clock.now() + 86_400_000).toISOString() });
      assert.equal(ahead.status, 400);
      assert.equal(ahead.body.error, 'INVALID_REQUEST');
      assert.equal(await versions(), before);
      assert.equal((await auditOf(h, tenantId)).length, audit);
      assert.equal(await live(sessions.alice as string), true);
    });

    it('revoke_sessions ends exactly the walled users’ live sessions, audited; factor holders and exempt users keep theirs', async () => {
      const res = await h.call(admin, 'PUT', `/tenants/${tenantId}/policy?noncompliant=revoke_sessions`, REQUIRED);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.rollout, { mode: 'revoke_sessions', sessionsRevoked: 1, usersAffected: [users.alice] });
      assert.equal(await live(sessions.alice as string), false);
      assert.equal(await live(sessions.bob as string), true);
      assert.equal(await live(sessions.carol as string), true);
      const revoked = (await auditOf(h, tenantId)).filter((e) => e.event === 'session.revoked');
      assert.equal(revoked.length, 1);
      assert.equal(revoked[0]?.userId, users.alice);
      assert.equal(revoked[0]?.data.reason, 'policy_rollout');
      assert.equal(revoked[0]?.data.policyVersion, res.body.version);
      // Run again: nothing left to revoke.
      const again = await h.call(admin, 'PUT', `/tenants/${tenantId}/policy?noncompliant=revoke_sessions`, REQUIRED);
      assert.equal(again.body.rollout.sessionsRevoked, 0);
    });
  });
});
