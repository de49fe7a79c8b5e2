/**
 * Help-desk operations over HTTP on both databases: the factor list shows no secret; an MFA reset deletes TOTP and
 * recovery codes, keeps passkeys and revokes trusted devices; revoking one factor audits `mfa.passkey_revoked` or
 * `mfa.factor_removed`; grace is re-granted by days or until an instant and lifts the enrollment wall.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { DAY_MS } from '../../src/core/index.ts';
import type { TenantStore } from '../../src/store/index.ts';
import { createHarness, forEachDialect, type Harness } from '../support/harness.ts';

forEachDialect((dialect) => {
  describe(`admin factor operations (${dialect})`, () => {
    let h: Harness;
    let tenantId: string;
    let appId: string;
    let userId: string;
    let t: TenantStore;
    let ids: { totp: string; pendingTotp: string; recovery: string; passkey: string; securityKey: string; email: string };
    let n = 0;

    before(async () => {
      h = await createHarness({ dialect });
    });
    after(async () => h?.close());
    beforeEach(async () => {
      n++;
      tenantId = (await h.call(h.platformToken, 'POST', '/tenants', { slug: `help-${n}`, name: 'Help' })).body.id;
      appId = (await h.call(h.platformToken, 'POST', '/applications', { name: `app-${n}` })).body.id;
      userId = (await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/users`, { email: 'ada@example.com' })).body.id;
      t = h.store.forTenant(tenantId);
      const now = h.clock.now();
      const active = async (type: 'totp' | 'webauthn' | 'email_otp', label: string, data: Record<string, boolean> | null = null): Promise<string> => {
        const f = await t.factors.create({ userId, type, label, secretEnc: type === 'totp' ? 'v1.sealed.secret' : null, data, expiresAt: now + 60_000, now });
        assert.ok(await t.factors.activate(f.id, now));
        return f.id;
      };
      const totp = await active('totp', 'phone app');
      const pendingTotp = (await t.factors.create({ userId, type: 'totp', label: 'new phone', secretEnc: 'v1.sealed.other', expiresAt: now + 60_000, now })).id;
      const recovery = (await t.factors.create({ userId, type: 'recovery_codes', status: 'active', label: 'recovery codes', now })).id;
      await t.recoveryCodes.replaceBatch(userId, recovery, ['h1', 'h2', 'h3']);
      const passkey = await active('webauthn', 'laptop passkey', { backedUp: true });
      const securityKey = await active('webauthn', 'yubikey', { backedUp: false });
      const email = await active('email_otp', 'email');
      ids = { totp, pendingTotp, recovery, passkey, securityKey, email };
      await t.trustedDevices.upsert(userId, 'device-a', now);
      await t.trustedDevices.upsert(userId, 'device-b', now);
    });

    it('lists factors without secrets or raw data', async () => {
      const res = await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/users/${userId}/factors`);
      assert.equal(res.status, 200);
      const items = res.body.items as { id: string; type: string; status: string; remaining?: number; multiDevice?: boolean }[];
      assert.equal(items.length, 6);
      const text = JSON.stringify(res.body);
      assert.ok(!text.includes('sealed') && !text.includes('secretEnc') && !text.includes('"data"'));
      assert.equal(items.find((f) => f.id === ids.recovery)?.remaining, 3);
      assert.equal(items.find((f) => f.id === ids.passkey)?.multiDevice, true);
      assert.equal(items.find((f) => f.id === ids.securityKey)?.multiDevice, false);
      assert.equal(items.find((f) => f.id === ids.pendingTotp)?.status, 'pending');
    });

    it('MFA reset deletes TOTP (pending too) and recovery codes, keeps passkeys and other factors, revokes trusted devices, audits', async () => {
      const res = await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/users/${userId}/mfa/reset`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { removedFactors: 3, removedRecoveryCodes: 3, trustedDevicesRevoked: 2, kept: 3 });
      const left = await t.factors.listForUser(userId);
      assert.deepEqual(new Set(left.map((f) => f.id)), new Set([ids.passkey, ids.securityKey, ids.email]));
      assert.equal(await t.recoveryCodes.countRemaining(userId), 0);
      assert.equal(await t.trustedDevices.get(userId, 'device-a'), null);

      const audit = (await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/audit?event=mfa.factor_admin_reset`)).body.items;
      assert.equal(audit.length, 1);
      assert.equal(audit[0].userId, userId);
      assert.match(audit[0].actor, /^admin:/);
      assert.deepEqual(new Set(audit[0].data.removedFactorIds), new Set([ids.totp, ids.pendingTotp, ids.recovery]));
      assert.ok(!JSON.stringify(audit).includes('sealed'));
    });

    it('revoking one factor: a passkey audits mfa.passkey_revoked, another type mfa.factor_removed; recovery codes go with their factor', async () => {
      const base = `/tenants/${tenantId}/users/${userId}/factors`;
      assert.equal((await h.call(h.platformToken, 'DELETE', `${base}/${ids.passkey}`)).status, 204);
      assert.equal((await h.call(h.platformToken, 'DELETE', `${base}/${ids.email}`)).status, 204);
      assert.equal((await h.call(h.platformToken, 'DELETE', `${base}/${ids.recovery}`)).status, 204);
      assert.equal(await t.recoveryCodes.countRemaining(userId), 0);
      assert.equal((await h.call(h.platformToken, 'DELETE', `${base}/${ids.passkey}`)).status, 404, 'gone');
      assert.equal(await t.trustedDevices.get(userId, 'device-b'), null);

      // A factor of another user of the same tenant is not reachable under this user.
      const other = (await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/users`, { email: 'bob@example.com' })).body.id;
      const res = await h.call(h.platformToken, 'DELETE', `/tenants/${tenantId}/users/${other}/factors/${ids.totp}`);
      assert.equal(res.status, 404);
      assert.ok((await t.factors.get(ids.totp)) !== null);

      const events = (await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/audit?event=mfa.passkey_revoked,mfa.factor_removed`)).body.items;
      assert.deepEqual(events.map((e: { event: string; subject: string }) => [e.event, e.subject]), [
        ['mfa.factor_removed', ids.recovery],
        ['mfa.factor_removed', ids.email],
        ['mfa.passkey_revoked', ids.passkey],
      ]);
      const axis = (await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/audit?event=ACCOUNT_MFA_DEVICE_REVOKED`)).body.items;
      assert.equal(axis.length, 3);
    });

    it('grace: {days} from now or {until}; bounds refused; the re-grant lifts the enrollment wall (seen through preview)', async () => {
      const path = `/tenants/${tenantId}/users/${userId}/grace`;
      // Nothing acceptable under phishing_resistant for a user without passkeys, grace long expired.
      const bare = (await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/users`, { email: 'late@example.com' })).body.id;
      await t.users.setFirstSignIn(bare, h.clock.now() - 100 * DAY_MS);
      const policy = { enrollment: 'required', gracePeriodDays: 0 };
      await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/policy`, policy);
      const preview = async (): Promise<{ enroll: string[]; inGrace: string[] }> => {
        const res = (await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/policy/preview`, { applicationId: appId, draft: policy })).body;
        return { enroll: res.current.outcomes.enroll.userIds, inGrace: res.current.inGrace.userIds };
      };
      assert.ok((await preview()).enroll.includes(bare));

      const granted = await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/users/${bare}/grace`, { days: 7 });
      assert.equal(granted.status, 200);
      assert.equal(granted.body.graceUntil, new Date(h.clock.now() + 7 * DAY_MS).toISOString());
      const after = await preview();
      assert.ok(!after.enroll.includes(bare));
      assert.ok(after.inGrace.includes(bare));

      const until = new Date(h.clock.now() + 3 * DAY_MS).toISOString();
      const byInstant = await h.call(h.platformToken, 'POST', path, { until });
      assert.equal(byInstant.body.graceUntil, until);
      assert.equal((await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/users/${userId}`)).body.graceUntil, until);

      for (const body of [{ days: 0 }, { days: 91 }, { days: 1.5 }, { until: new Date(h.clock.now() - 1000).toISOString() }, { until: new Date(h.clock.now() + 91 * DAY_MS).toISOString() }, { days: 1, until }, {}]) {
        const res = await h.call(h.platformToken, 'POST', path, body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.error, 'INVALID_REQUEST');
      }
      const events = (await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/audit?event=TENANT_MFA_GRACE_GRANTED`)).body.items;
      assert.equal(events.length, 2);
      assert.equal(events[0].data.graceUntil, until);
    });
  });
});
