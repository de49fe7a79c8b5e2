/**
 * The attacker's findings of issue #7, items 1–4, each as a test that failed on the server before the fix. Both
 * databases; the concurrency case races real pooled connections on PostgreSQL (on SQLite, one connection
 * serialises the requests: there it proves that nothing is consumed outside the claiming transaction).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { api, auditOf, countEvents, createAuthHarness, createClient, createTenant, createUser, enrollTotpViaSignin, expectError, expectStatus, PASSWORD, savePolicy, type TestClient } from './auth-support.ts';

forEachDialect((dialect) => {
  let h: Harness;
  let app: TestClient;
  before(async () => {
    h = await createAuthHarness(dialect);
    app = await createClient(h, 'Bank');
  });
  after(() => h.close());

  describe(`security findings 1–4 (${dialect})`, () => {
    it('1. a locked account is refused by status/check and stays locked after any other path', async () => {
      const tenant = await createTenant(h, 'locks', { enrollment: 'optional', challenge: 'never' });
      const user = await createUser(h, tenant.id, 'locked@example.com');
      const t = h.store.forTenant(tenant.id);
      await t.users.recordSigninFailure(user.id, h.clock.now(), { limit: 1 });
      expectError(await api(h, app, 'POST', '/auth/mfa/status/check', { tenant: 'locks', userId: user.id }), 423, 'ACCOUNT_LOCKED');
      const after = await t.users.get(user.id);
      assert.ok(after?.lockedUntil !== null && (after?.lockedUntil ?? 0) > h.clock.now(), 'the lock holds');
      assert.equal(after?.failedSignins, 1, 'the count is not reset');
      assert.equal(countEvents(await auditOf(h, tenant.id))['user.unlocked'] ?? 0, 0);
    });

    it('2. a password-only success makes no device known: after the victim enrolls, the attacker’s device is challenged', async () => {
      const tenant = await createTenant(h, 'devices', { enrollment: 'optional', challenge: 'adaptive' });
      await createUser(h, tenant.id, 'victim@example.com');
      const attacker = { ip: '203.0.113.66', deviceId: 'attacker-x' };
      const first = await api(h, app, 'POST', '/auth/signin', { tenant: 'devices', identifier: 'victim@example.com', password: PASSWORD, context: attacker });
      assert.equal(first.body.status, 'authenticated', first.text);
      assert.deepEqual(first.body.amr, ['pwd']);
      // The victim enrolls TOTP in a voluntary enrollment on their own session (no factor yet: any live session).
      const own = await api(h, app, 'POST', '/auth/signin', { tenant: 'devices', identifier: 'victim@example.com', password: PASSWORD, context: { ip: '198.51.100.7', deviceId: 'victim-laptop' } });
      const opened = await api(h, app, 'POST', '/auth/mfa/enrollment', {}, { 'x-portcullis-session': own.body.session.token });
      expectStatus(opened, 200, 'enrollment');
      const begun = await api(h, app, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: opened.body.mfaSessionId });
      const { totpAt } = await import('./auth-support.ts');
      const confirmed = await api(h, app, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: opened.body.mfaSessionId, factorId: begun.body.factorId, code: totpAt(begun.body.secret, h.clock.now()) });
      expectStatus(confirmed, 200, 'confirm');
      const again = await api(h, app, 'POST', '/auth/signin', { tenant: 'devices', identifier: 'victim@example.com', password: PASSWORD, context: attacker });
      assert.equal(again.body.status, 'mfa_required', again.text);
    });

    it('3. a user holding only recovery codes presents one before enrolling (break-glass sets)', async () => {
      const tenant = await createTenant(h, 'recovery-only', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
      await createUser(h, tenant.id, 'codes@example.com');
      const enrolled = await enrollTotpViaSignin(h, app, 'recovery-only', 'codes@example.com');
      await h.store.forTenant(tenant.id).factors.delete(enrolled.factorId);
      await savePolicy(h, tenant.id, { enrollment: 'required', gracePeriodDays: 0, challenge: 'always', acceptableFactors: 'recovery_excluded' });
      const wall = await api(h, app, 'POST', '/auth/signin', { tenant: 'recovery-only', identifier: 'codes@example.com', password: PASSWORD });
      assert.equal(wall.body.status, 'enrollment_required', wall.text);
      assert.equal(wall.body.recovery, true);
      expectError(await api(h, app, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: wall.body.mfaSessionId }), 403, 'ENROLLMENT_NOT_ALLOWED');
      const code = enrolled.recoveryCodes[0];
      const used = await api(h, app, 'POST', '/auth/mfa/verify', { mfaSessionId: wall.body.mfaSessionId, method: 'recovery_codes', code });
      assert.equal(used.body.status, 'enrollment_required', used.text);
      assert.equal(used.body.verified, false);
      expectStatus(await api(h, app, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: wall.body.mfaSessionId }), 200, 'enroll after presenting a code');
    });

    it('4. four different valid recovery codes at once on one MFA session: one success, one code spent, one audit', async () => {
      const tenant = await createTenant(h, 'atomic', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
      await createUser(h, tenant.id, 'atomic@example.com');
      const enrolled = await enrollTotpViaSignin(h, app, 'atomic', 'atomic@example.com');
      const t = h.store.forTenant(tenant.id);
      const before = countEvents(await auditOf(h, tenant.id));
      const challenge = await api(h, app, 'POST', '/auth/signin', { tenant: 'atomic', identifier: 'atomic@example.com', password: PASSWORD });
      assert.equal(challenge.body.status, 'mfa_required', challenge.text);
      const answers = await Promise.all(
        enrolled.recoveryCodes.slice(0, 4).map((code) => api(h, app, 'POST', '/auth/mfa/verify', { mfaSessionId: challenge.body.mfaSessionId, method: 'recovery_codes', code })),
      );
      const statuses = answers.map((a) => a.status).sort();
      assert.deepEqual(statuses.filter((s) => s === 200), [200], answers.map((a) => a.text).join('\n'));
      for (const a of answers.filter((x) => x.status !== 200)) assert.ok(['MFA_SESSION_USED', 'MFA_SESSION_EXPIRED'].includes(a.body.error), a.text);
      assert.equal(await t.recoveryCodes.countRemaining(enrolled.userId), enrolled.recoveryCodes.length - 1, 'only the winning code is spent');
      const afterCounts = countEvents(await auditOf(h, tenant.id));
      assert.equal((afterCounts['user.mfa_succeeded'] ?? 0) - (before['user.mfa_succeeded'] ?? 0), 1);
      assert.equal((afterCounts['mfa.recovery_code_used'] ?? 0) - (before['mfa.recovery_code_used'] ?? 0), 1);
    });
  });
});
