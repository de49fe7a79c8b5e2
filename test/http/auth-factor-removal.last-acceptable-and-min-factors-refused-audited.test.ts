/**
 * The portfolio rules of factor removal through the application API, on SQLite and PostgreSQL (DESIGN §2, §5;
 * issue 15, item 5): a user cannot remove their last acceptable factor under `enrollment: required` (409
 * `MFA_DISABLE_BLOCKED`, audited as `mfa.disable_blocked`); under `minFactors: 2` they cannot go below two acceptable
 * types; only factors the policy accepts count (an email code under `totp_webauthn` keeps no one enrolled, and
 * removing it is never refused); recovery codes never count and may always go.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FactorType } from '../../src/core/index.ts';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { api, auditOf, createAuthHarness, createClient, createTenant, createUser, enrollTotpViaSignin, expectError, expectStatus, savePolicy, type ApiResult, type Enrolled, type TestClient } from './auth-support.ts';

const CONTEXT = { ip: '192.0.2.10', deviceId: 'laptop-1', userAgent: 'removal' };

forEachDialect((dialect) => {
  describe(`factor removal under the portfolio rules (${dialect})`, () => {
    let h: Harness;
    let bank: TestClient;
    let n = 0;

    before(async () => {
      h = await createAuthHarness(dialect);
      bank = await createClient(h, 'bank');
    });
    after(() => h.close());

    /** A required tenant whose user enrolled TOTP at the wall (fresh MFA in the session) and holds `extra` factors. */
    async function enrolledUser(extra: readonly FactorType[]): Promise<{ tenantId: string; enrolled: Enrolled & { session: string }; ids: Record<string, string> }> {
      const slug = `removal-${++n}`;
      const tenant = await createTenant(h, slug, { enrollment: 'required', gracePeriodDays: 0 });
      await createUser(h, tenant.id, 'ada@example.com');
      const enrolled = await enrollTotpViaSignin(h, bank, slug, 'ada@example.com', CONTEXT);
      assert.equal(typeof enrolled.session, 'string');
      const t = h.store.forTenant(tenant.id);
      const ids: Record<string, string> = { totp: enrolled.factorId };
      for (const type of extra) {
        const now = h.clock.now();
        const f = await t.factors.create({ userId: enrolled.userId, type, label: type, secretEnc: null, data: type === 'webauthn' ? { backedUp: true } : null, expiresAt: now + 60_000, now });
        assert.ok(await t.factors.activate(f.id, now));
        ids[type] = f.id;
      }
      const codes = (await t.factors.listForUser(enrolled.userId, 'active')).find((f) => f.type === 'recovery_codes');
      if (codes !== undefined) ids.recovery_codes = codes.id;
      return { tenantId: tenant.id, enrolled: { ...enrolled, session: enrolled.session as string }, ids };
    }
    const remove = (session: string, factorId: string): Promise<ApiResult> => api(h, bank, 'DELETE', `/auth/mfa/factors/${factorId}`, undefined, { 'x-portcullis-session': session });
    const blockedAudits = async (tenantId: string): Promise<{ subject: string | null; data: Record<string, unknown> }[]> =>
      (await auditOf(h, tenantId)).filter((e) => e.event === 'mfa.disable_blocked').map((e) => ({ subject: e.subject, data: e.data }));

    it('a user cannot remove their last acceptable factor under required: 409 MFA_DISABLE_BLOCKED, audited, the factor kept', async () => {
      const { tenantId, enrolled, ids } = await enrolledUser(['webauthn']);
      // With TOTP beside it, the passkey may go: one acceptable factor remains. (Not TOTP first: removing the factor
      // this session's MFA rested on downgrades the session, and the next removal would need a step-up.)
      expectStatus(await remove(enrolled.session, ids.webauthn as string), 200, 'remove the passkey');
      const refused = await remove(enrolled.session, ids.totp as string);
      expectError(refused, 409, 'MFA_DISABLE_BLOCKED');
      assert.equal(refused.body.reason, 'last_acceptable_factor');
      assert.equal((await h.store.forTenant(tenantId).factors.get(ids.totp as string))?.status, 'active');
      assert.deepEqual(await blockedAudits(tenantId), [{ subject: ids.totp, data: { reason: 'last_acceptable_factor', minFactors: 1, acceptableLeft: 0 } }]);
      // Recovery codes never keep a user enrolled, so they may always go.
      expectStatus(await remove(enrolled.session, ids.recovery_codes as string), 200, 'remove recovery codes');
    });

    it('minFactors 2: a removal that leaves one acceptable type is refused and audited; a second passkey of the same type may go', async () => {
      const { tenantId, enrolled, ids } = await enrolledUser(['webauthn']);
      const t = h.store.forTenant(tenantId);
      const now = h.clock.now();
      const second = await t.factors.create({ userId: enrolled.userId, type: 'webauthn', label: 'yubikey', secretEnc: null, data: { backedUp: false }, expiresAt: now + 60_000, now });
      assert.ok(await t.factors.activate(second.id, now));
      await savePolicy(h, tenantId, { enrollment: 'required', gracePeriodDays: 0, minFactors: 2 });
      const belowMin = await remove(enrolled.session, ids.totp as string);
      expectError(belowMin, 409, 'MFA_DISABLE_BLOCKED');
      assert.equal(belowMin.body.reason, 'min_factors');
      assert.equal(belowMin.body.minFactors, 2);
      expectStatus(await remove(enrolled.session, second.id), 200, 'one of two passkeys');
      expectError(await remove(enrolled.session, ids.webauthn as string), 409, 'MFA_DISABLE_BLOCKED');
      const audits = await blockedAudits(tenantId);
      assert.deepEqual(audits.map((a) => a.subject), [ids.totp, ids.webauthn]);
      assert.ok(audits.every((a) => a.data.reason === 'min_factors' && a.data.minFactors === 2 && a.data.acceptableLeft === 1));
      assert.equal((await t.factors.listForUser(enrolled.userId, 'active')).filter((f) => f.type !== 'recovery_codes').length, 2);
    });

    it('only factors the policy accepts count: under totp_webauthn an email code beside TOTP does not make TOTP removable, and may itself go', async () => {
      const { tenantId, enrolled, ids } = await enrolledUser(['email_otp']);
      await savePolicy(h, tenantId, { enrollment: 'required', gracePeriodDays: 0, acceptableFactors: 'totp_webauthn' });
      expectError(await remove(enrolled.session, ids.totp as string), 409, 'MFA_DISABLE_BLOCKED');
      expectStatus(await remove(enrolled.session, ids.email_otp as string), 200, 'an unacceptable factor is never the last acceptable one');
      assert.deepEqual((await blockedAudits(tenantId)).map((a) => a.subject), [ids.totp]);
    });

    it('a user already below minFactors may still remove what does not count (recovery codes), but not their one acceptable factor', async () => {
      const { tenantId, enrolled, ids } = await enrolledUser([]);
      await savePolicy(h, tenantId, { enrollment: 'required', gracePeriodDays: 0, minFactors: 2 });
      expectStatus(await remove(enrolled.session, ids.recovery_codes as string), 200, 'recovery codes never count toward minFactors');
      expectError(await remove(enrolled.session, ids.totp as string), 409, 'MFA_DISABLE_BLOCKED');
      assert.deepEqual((await blockedAudits(tenantId)).map((a) => [a.subject, a.data.reason]), [[ids.totp, 'last_acceptable_factor']]);
    });

    it('under enrollment: optional the last factor may go', async () => {
      const { tenantId, enrolled, ids } = await enrolledUser([]);
      await savePolicy(h, tenantId, { enrollment: 'optional' });
      expectStatus(await remove(enrolled.session, ids.totp as string), 200);
      assert.deepEqual(await blockedAudits(tenantId), []);
    });
  });
});
