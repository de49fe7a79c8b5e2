/**
 * Shadow (report-only) policy, on both databases: a tenant saves a draft layer as its shadow; every live decision
 * is also evaluated with it, never enforced; each difference is audited as `mfa.shadow_diff`; the summary counts
 * them exactly by transition and the shadow's deciding reason, over a scripted sequence of sign-ins (status checks).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Harness } from '../support/harness.ts';
import { forEachDialect } from '../support/harness.ts';
import { api, createAuthHarness, createClient, createTenant, createUser, type TestClient } from './auth-support.ts';

const LIVE = { enrollment: 'required', gracePeriodDays: 0, challenge: 'never' } as const;
const SHADOW = { enrollment: 'required', gracePeriodDays: 0, challenge: 'always', risk: { challengeAt: 30, blockAt: 45 } };

forEachDialect((dialect) => {
  describe(`shadow policy (${dialect})`, () => {
    let h: Harness;
    let client: TestClient;
    let tenantId: string;
    const ids: Record<'ada' | 'bob' | 'cy', string> = { ada: '', bob: '', cy: '' };

    before(async () => {
      h = await createAuthHarness(dialect);
      client = await createClient(h, 'bank');
      tenantId = (await createTenant(h, 'shade', LIVE)).id;
      for (const name of ['ada', 'bob', 'cy'] as const) ids[name] = (await createUser(h, tenantId, `${name}@example.com`)).id;
      for (const name of ['ada', 'cy'] as const) {
        await h.store.forTenant(tenantId).factors.create({ id: randomUUID(), userId: ids[name], type: 'totp', status: 'active', label: 'phone', secretEnc: 'sealed-elsewhere', now: h.clock.now() });
      }
    });
    after(() => h.close());

    const signIn = async (name: 'ada' | 'bob' | 'cy'): Promise<string> => {
      // cy's application forwards an address that does not parse (+30 in the score).
      const context = name === 'cy' ? { ip: 'garbage', deviceId: 'cy-laptop' } : { ip: '192.0.2.5', deviceId: `${name}-laptop` };
      const res = await api(h, client, 'POST', '/auth/mfa/status/check', { tenant: 'shade', userId: ids[name], context });
      assert.equal(res.status, 200, res.text);
      return res.body.status as string;
    };

    it('before a shadow is saved, no difference is recorded', async () => {
      assert.equal(await signIn('ada'), 'authenticated');
      const summary = await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/policy/shadow/diffs`);
      assert.equal(summary.status, 200);
      assert.equal(summary.body.total, 0);
    });

    it('a shadow is saved, validated like a live layer', async () => {
      const bad = await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/policy/shadow`, { layer: { challenge: 'sometimes' } });
      assert.equal(bad.status, 400, JSON.stringify(bad.body));
      const saved = await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/policy/shadow`, { layer: SHADOW });
      assert.equal(saved.status, 200, JSON.stringify(saved.body));
      assert.deepEqual(saved.body.layer, SHADOW);
      assert.deepEqual((await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/policy/shadow`)).body.layer, SHADOW);
    });

    it('scripted sign-ins: live outcomes unchanged; the summary counts every difference exactly', async () => {
      h.clock.advance(1000);
      // ada ×3: live allow (challenge=never), shadow challenge (always; score 30 < blockAt 45).
      // cy ×2: live allow (score 70 or 60 < 80), shadow block (≥ 45).
      // bob ×2: no factor under enrollment=required: enroll in both, no difference.
      const script = ['ada', 'cy', 'bob', 'ada', 'cy', 'bob', 'ada'] as const;
      const live: string[] = [];
      for (const name of script) live.push(await signIn(name));
      assert.deepEqual(live, ['authenticated', 'authenticated', 'enrollment_required', 'authenticated', 'authenticated', 'enrollment_required', 'authenticated']);
      const summary = await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/policy/shadow/diffs`);
      assert.equal(summary.status, 200, JSON.stringify(summary.body));
      assert.equal(summary.body.total, 5);
      assert.deepEqual(summary.body.transitions, [
        { from: 'allow', to: 'challenge', count: 3, reasons: { challenge_always: 3 } },
        { from: 'allow', to: 'block', count: 2, reasons: { risk_block: 2 } },
      ]);
      const diffs = await h.store.forTenant(tenantId).audit.list({ events: ['mfa.shadow_diff'], limit: 50 });
      assert.equal(diffs.items.length, 5);
      assert.deepEqual(new Set(diffs.items.map((d) => d.userId)), new Set([ids.ada, ids.cy]));
    });

    it('after the shadow is removed, decisions record no more differences; a tenant admin of another tenant gets 404', async () => {
      assert.deepEqual((await h.call(h.platformToken, 'DELETE', `/tenants/${tenantId}/policy/shadow`)).body, { removed: true });
      await signIn('ada');
      const diffs = await h.store.forTenant(tenantId).audit.list({ events: ['mfa.shadow_diff'], limit: 50 });
      assert.equal(diffs.items.length, 5);
      const other = await createTenant(h, 'elsewhere');
      const { token } = await h.tenantToken(other.id);
      assert.equal((await h.call(token, 'GET', `/tenants/${tenantId}/policy/shadow/diffs`)).status, 404);
      assert.equal((await h.call(token, 'PUT', `/tenants/${tenantId}/policy/shadow`, { layer: SHADOW })).status, 404);
    });
  });
});
