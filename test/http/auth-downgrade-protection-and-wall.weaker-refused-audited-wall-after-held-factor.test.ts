/**
 * Downgrade protection and the enrollment wall through the application API, on SQLite and PostgreSQL (DESIGN §2–§3;
 * issue 15, item 5):
 *
 * - a user holding an active passkey under `downgradeProtection` is offered only the passkey; a TOTP answer posted
 *   anyway — with a right code — is refused with `MFA_METHOD_NOT_ALLOWED` (`reason: downgrade_protection`), audited
 *   as `user.mfa_failed` with that reason, and spends nothing; recovery codes stay break-glass (the wall follows);
 * - a TOTP-only user under `phishing_resistant` + `required` meets the wall only after answering the TOTP they hold
 *   (no enrollment before it), and the wall offers only what satisfies the policy (the passkey);
 * - under `optional` the same user is challenged with TOTP and let in with the upgrade shown (rule 7), never on the
 *   password alone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { api, auditOf, createAuthHarness, createClient, createTenant, createUser, enrollTotpViaSignin, expectError, expectStatus, savePolicy, totpAt, type ApiResult, type TestClient, passwordSignin } from './auth-support.ts';

const CONTEXT = { ip: '192.0.2.10', deviceId: 'laptop-1', userAgent: 'downgrade' };

forEachDialect((dialect) => {
  describe(`downgrade protection and the wall (${dialect})`, () => {
    let h: Harness;
    let bank: TestClient;

    before(async () => {
      h = await createAuthHarness(dialect);
      bank = await createClient(h, 'bank');
    });
    after(() => h.close());

    const signin = (tenant: string, email: string): Promise<ApiResult> => passwordSignin(h, bank, tenant, email, CONTEXT);
    const lastDecision = async (tenantId: string): Promise<Record<string, unknown>> => {
      const decisions = (await auditOf(h, tenantId)).filter((e) => e.event === 'mfa.decision');
      return decisions.at(-1)?.data ?? {};
    };

    it('a passkey holder is offered only the passkey; a TOTP answer is refused with a stable code, audited, and spends nothing', async () => {
      const tenant = await createTenant(h, 'shielded', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always', downgradeProtection: true });
      await createUser(h, tenant.id, 'ada@example.com');
      const enrolled = await enrollTotpViaSignin(h, bank, 'shielded', 'ada@example.com', CONTEXT);
      const t = h.store.forTenant(tenant.id);
      const now = h.clock.now();
      const passkey = await t.factors.create({ userId: enrolled.userId, type: 'webauthn', label: 'laptop passkey', secretEnc: null, data: { backedUp: true }, expiresAt: now + 60_000, now });
      assert.ok(await t.factors.activate(passkey.id, now));

      h.clock.advance(60_000);
      const challenged = await signin('shielded', 'ada@example.com');
      assert.equal(challenged.body.status, 'mfa_required');
      assert.deepEqual(challenged.body.methods, ['webauthn']);
      assert.equal(challenged.body.recovery, true, 'recovery codes stay a break-glass path');
      assert.ok(challenged.body.decision.reasons.some((r: { code: string }) => r.code === 'downgrade_protection'));

      const totpBefore = await t.factors.get(enrolled.factorId);
      const refused = await api(h, bank, 'POST', '/auth/mfa/verify', { mfaSessionId: challenged.body.mfaSessionId, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) });
      expectError(refused, 400, 'MFA_METHOD_NOT_ALLOWED');
      assert.equal(refused.body.reason, 'downgrade_protection');
      assert.deepEqual(refused.body.methods, ['webauthn']);
      assert.equal(refused.body.session, undefined);
      const failed = (await auditOf(h, tenant.id)).filter((e) => e.event === 'user.mfa_failed' && e.data.reason === 'downgrade_protection');
      assert.equal(failed.length, 1);
      assert.equal(failed[0]?.data.method, 'totp');
      assert.equal(failed[0]?.userId, enrolled.userId);
      assert.deepEqual(await t.factors.get(enrolled.factorId), totpBefore, 'the TOTP step was not spent, nothing counted');

      // A method the user does not hold at all is refused the same way (the attempt is the downgrade, not the code).
      const email = await api(h, bank, 'POST', '/auth/mfa/verify', { mfaSessionId: challenged.body.mfaSessionId, method: 'email_otp', code: '123456' });
      expectError(email, 400, 'MFA_METHOD_NOT_ALLOWED');
      assert.equal(email.body.reason, 'downgrade_protection');

      // Break-glass: a recovery code completes the challenge, then the wall — never a session, never TOTP offered.
      const walled = await api(h, bank, 'POST', '/auth/mfa/verify', { mfaSessionId: challenged.body.mfaSessionId, method: 'recovery_codes', code: enrolled.recoveryCodes[0] });
      expectStatus(walled, 200);
      assert.equal(walled.body.status, 'enrollment_required');
      assert.equal(walled.body.session, undefined);
      assert.ok(!walled.body.enrollOptions.includes('totp'));
      assert.deepEqual((await lastDecision(tenant.id)).enrollOptions, ['webauthn'], 'the decision offers only the phishing-resistant factor');
    });

    it('a TOTP-only user under phishing_resistant + required: the wall comes after the TOTP they hold, and offers only the passkey', async () => {
      const tenant = await createTenant(h, 'upgrade', { enrollment: 'required', gracePeriodDays: 0 });
      await createUser(h, tenant.id, 'bo@example.com');
      const enrolled = await enrollTotpViaSignin(h, bank, 'upgrade', 'bo@example.com', CONTEXT);
      await savePolicy(h, tenant.id, { enrollment: 'required', gracePeriodDays: 0, acceptableFactors: 'phishing_resistant' });

      h.clock.advance(60_000);
      const first = await signin('upgrade', 'bo@example.com');
      assert.equal(first.body.status, 'enrollment_required');
      assert.equal(first.body.errorCode, 'MFA_FACTOR_NOT_ALLOWED');
      assert.deepEqual(first.body.methods, ['totp'], 'challenged with the factor held, first');
      assert.equal(first.body.session, undefined);
      // Nothing may be enrolled before that challenge is answered (the password alone opens no enrollment).
      expectError(await api(h, bank, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: first.body.mfaSessionId }), 403, 'ENROLLMENT_NOT_ALLOWED');

      const answered = await api(h, bank, 'POST', '/auth/mfa/verify', { mfaSessionId: first.body.mfaSessionId, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) });
      expectStatus(answered, 200);
      assert.equal(answered.body.status, 'enrollment_required', 'TOTP no longer satisfies the policy: the wall, no session');
      assert.equal(answered.body.session, undefined);
      assert.deepEqual(answered.body.methods, [], 'the challenge is done: enrollment opens');
      assert.ok(!answered.body.enrollOptions.includes('totp'), 'a factor that does not satisfy the policy is not offered');
      assert.deepEqual((await lastDecision(tenant.id)).enrollOptions, ['webauthn']);
      // Enrolling a factor that would not satisfy the policy is refused at the wall.
      expectError(await api(h, bank, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: first.body.mfaSessionId }), 403, 'MFA_FACTOR_NOT_ALLOWED');
    });

    it('rule 7 under optional: the TOTP-only user is challenged with TOTP (not let in on the password) and then let in with the upgrade shown', async () => {
      const tenant = await createTenant(h, 'optional', { enrollment: 'required', gracePeriodDays: 0 });
      await createUser(h, tenant.id, 'cy@example.com');
      const enrolled = await enrollTotpViaSignin(h, bank, 'optional', 'cy@example.com', CONTEXT);
      await savePolicy(h, tenant.id, { enrollment: 'optional', challenge: 'always', acceptableFactors: 'phishing_resistant' });

      h.clock.advance(60_000);
      const first = await signin('optional', 'cy@example.com');
      assert.equal(first.body.status, 'mfa_required', first.text);
      assert.deepEqual(first.body.methods, ['totp']);
      assert.ok(first.body.decision.reasons.some((r: { code: string }) => r.code === 'never_weaker'));
      const answered = await api(h, bank, 'POST', '/auth/mfa/verify', { mfaSessionId: first.body.mfaSessionId, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) });
      expectStatus(answered, 200);
      assert.equal(answered.body.status, 'authenticated', answered.text);
      assert.ok(answered.body.amr.includes('mfa'));
      assert.deepEqual((await lastDecision(tenant.id)).enrollOptions, ['webauthn'], 'the upgrade is shown');
    });
  });
});
