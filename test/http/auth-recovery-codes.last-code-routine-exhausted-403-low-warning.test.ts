/**
 * Recovery codes through the application API, on SQLite and PostgreSQL (issue 15, item 6):
 *
 * - where the acceptable set allows recovery codes routinely (`any`), the user's last code is a second factor like
 *   the others: a user who still holds TOTP gets a session, not an enrollment wall;
 * - a verify that spent a code says how many remain, with the `recovery_codes_low` warning at two or fewer;
 * - once every code is used, answering with one is `403 MFA_RECOVERY_CODES_EXHAUSTED` (docs/api.md), audited;
 * - where the set does not allow them routinely (`totp_webauthn`), the last code is still break-glass: the wall.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { api, auditOf, createAuthHarness, createClient, createTenant, createUser, enrollTotpViaSignin, expectError, expectStatus, savePolicy, totpAt, type ApiResult, type TestClient, passwordSignin } from './auth-support.ts';

const CONTEXT = { ip: '192.0.2.10', deviceId: 'laptop-1', userAgent: 'recovery' };

forEachDialect((dialect) => {
  describe(`recovery codes at verify (${dialect})`, () => {
    let h: Harness;
    let bank: TestClient;

    before(async () => {
      h = await createAuthHarness(dialect);
      bank = await createClient(h, 'bank');
    });
    after(() => h.close());

    const signin = (tenant: string, email: string): Promise<ApiResult> => passwordSignin(h, bank, tenant, email, CONTEXT);
    const answer = (mfaSessionId: string, code: string): Promise<ApiResult> => api(h, bank, 'POST', '/auth/mfa/verify', { mfaSessionId, method: 'recovery_codes', code });

    it('under any, every code of the batch — the last one too — signs a TOTP holder in; the answer counts what is left and warns at two or fewer', async () => {
      const tenant = await createTenant(h, 'routine', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always', recoveryCodes: { enabled: true, count: 4 } });
      await createUser(h, tenant.id, 'ada@example.com');
      const enrolled = await enrollTotpViaSignin(h, bank, 'routine', 'ada@example.com', CONTEXT);
      assert.equal(enrolled.recoveryCodes.length, 4);

      const expected = [
        { remaining: 3, warnings: undefined },
        { remaining: 2, warnings: ['recovery_codes_low'] },
        { remaining: 1, warnings: ['recovery_codes_low'] },
        { remaining: 0, warnings: ['recovery_codes_low'] },
      ];
      for (const [i, code] of enrolled.recoveryCodes.entries()) {
        h.clock.advance(60_000);
        const challenged = await signin('routine', 'ada@example.com');
        assert.equal(challenged.body.status, 'mfa_required');
        assert.ok(challenged.body.methods.includes('recovery_codes'), 'codes are a routine method under any');
        const verified = await answer(challenged.body.mfaSessionId, code);
        expectStatus(verified, 200, `code ${i + 1}`);
        assert.equal(verified.body.status, 'authenticated', `code ${i + 1} of 4 is a second factor, not break-glass: ${verified.text}`);
        assert.equal(typeof verified.body.session.token, 'string');
        assert.equal(verified.body.recoveryCodesRemaining, expected[i]?.remaining);
        assert.deepEqual(verified.body.warnings, expected[i]?.warnings);
        assert.ok(!verified.body.decision.reasons.some((r: { code: string }) => r.code === 'break_glass_recovery'));
      }

      // Every code used: the challenge offers TOTP alone, and a code is answered as exhausted.
      h.clock.advance(60_000);
      const next = await signin('routine', 'ada@example.com');
      assert.equal(next.body.status, 'mfa_required');
      assert.deepEqual(next.body.methods, ['totp']);
      assert.equal(next.body.recovery, false);
      const exhausted = await answer(next.body.mfaSessionId, enrolled.recoveryCodes[0] as string);
      expectError(exhausted, 403, 'MFA_RECOVERY_CODES_EXHAUSTED');
      const failed = (await auditOf(h, tenant.id)).filter((e) => e.event === 'user.mfa_failed' && e.data.reason === 'recovery_codes_exhausted');
      assert.equal(failed.length, 1);
      assert.equal(failed[0]?.userId, enrolled.userId);
      const used = (await auditOf(h, tenant.id)).filter((e) => e.event === 'mfa.recovery_code_used');
      assert.deepEqual(used.map((e) => e.data.remaining), [3, 2, 1, 0], 'each use audited with what was left');
    });

    it('a TOTP answer carries no recovery-code notice', async () => {
      const tenant = await createTenant(h, 'quiet', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
      await createUser(h, tenant.id, 'bob@example.com');
      const enrolled = await enrollTotpViaSignin(h, bank, 'quiet', 'bob@example.com', CONTEXT);
      h.clock.advance(60_000);
      const challenged = await signin('quiet', 'bob@example.com');
      const verified = await api(h, bank, 'POST', '/auth/mfa/verify', { mfaSessionId: challenged.body.mfaSessionId, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) });
      expectStatus(verified, 200);
      assert.equal(verified.body.status, 'authenticated');
      assert.equal(verified.body.recoveryCodesRemaining, undefined);
      assert.equal(verified.body.warnings, undefined);
    });

    it('under totp_webauthn the last code stays break-glass: the enrollment wall, with the count and the warning', async () => {
      const tenant = await createTenant(h, 'strict', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always', recoveryCodes: { enabled: true, count: 1 } });
      await createUser(h, tenant.id, 'cy@example.com');
      const enrolled = await enrollTotpViaSignin(h, bank, 'strict', 'cy@example.com', CONTEXT);
      await savePolicy(h, tenant.id, { enrollment: 'required', gracePeriodDays: 0, challenge: 'always', acceptableFactors: 'totp_webauthn', recoveryCodes: { enabled: true, count: 1 } });
      h.clock.advance(60_000);
      const challenged = await signin('strict', 'cy@example.com');
      assert.equal(challenged.body.status, 'mfa_required');
      assert.equal(challenged.body.recovery, true);
      const walled = await answer(challenged.body.mfaSessionId, enrolled.recoveryCodes[0] as string);
      expectStatus(walled, 200);
      assert.equal(walled.body.status, 'enrollment_required');
      assert.equal(walled.body.session, undefined, 'no session after break-glass');
      assert.equal(walled.body.recoveryCodesRemaining, 0);
      assert.deepEqual(walled.body.warnings, ['recovery_codes_low']);
    });
  });
});
