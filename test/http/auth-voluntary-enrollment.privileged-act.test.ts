/**
 * Voluntary enrollment (`POST /auth/mfa/enrollment`) is a privileged act (SECURITY rule 5): a user with no factor
 * may enroll a first one; a user who holds one needs a recent MFA (a completed step-up) — otherwise 403
 * STEP_UP_REQUIRED. Enrolling proves the new factor only: it does not satisfy a later step-up by itself.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { base32Decode, totpCode, totpStep } from '../../src/factors/totp.ts';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { api, countEvents, auditOf, createAuthHarness, createClient, createTenant, createUser, enrollTotpViaSignin, expectError, expectStatus, totpAt, type TestClient } from './auth-support.ts';

forEachDialect((dialect) => {
  let h: Harness;
  let client: TestClient;

  before(async () => {
    h = await createAuthHarness(dialect);
    client = await createClient(h, 'voluntary');
  });
  after(() => h.close());

  describe('voluntary enrollment', () => {
    it('a user without a factor enrolls a first one; it does not count as an MFA for step-up', async () => {
      const tenant = await createTenant(h, 'vol-first', { enrollment: 'optional', challenge: 'always' });
      const user = await createUser(h, tenant.id, 'first@example.com');
      const opened = await api(h, client, 'POST', '/auth/mfa/enrollment', { tenant: 'vol-first', userId: user.id });
      expectStatus(opened, 200);
      assert.deepEqual(opened.body.enrollOptions, ['totp']);
      const begun = await api(h, client, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: opened.body.mfaSessionId });
      expectStatus(begun, 200);
      const secret = base32Decode(begun.body.secret);
      assert.ok(secret !== null);
      const confirmed = await api(h, client, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: opened.body.mfaSessionId, factorId: begun.body.factorId, code: totpCode(secret, totpStep(h.clock.now())) });
      expectStatus(confirmed, 200);
      assert.equal(confirmed.body.status, 'enrolled');
      assert.equal(confirmed.body.recoveryCodes.length, 10);
      assert.equal(countEvents(await auditOf(h, tenant.id))['mfa.factor_enrolled'], 1);

      const stepUp = await api(h, client, 'POST', '/auth/mfa/step-up', { tenant: 'vol-first', userId: user.id, action: 'payment' });
      expectStatus(stepUp, 200);
      assert.equal(stepUp.body.stepUpRequired, true, 'enrolling is not authenticating');
    });

    it('a user who holds a factor needs a recent MFA before adding another', async () => {
      await createTenant(h, 'vol-second', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
      const tenant = await h.store.tenants.findBySlug('vol-second');
      assert.ok(tenant !== null);
      await createUser(h, tenant.id, 'second@example.com');
      const enrolled = await enrollTotpViaSignin(h, client, 'vol-second', 'second@example.com');
      h.clock.advance(10 * 60_000);
      expectError(await api(h, client, 'POST', '/auth/mfa/enrollment', { tenant: 'vol-second', userId: enrolled.userId }), 403, 'STEP_UP_REQUIRED');

      const stepUp = await api(h, client, 'POST', '/auth/mfa/step-up', { tenant: 'vol-second', userId: enrolled.userId, action: 'payment' });
      assert.equal(stepUp.body.stepUpRequired, true);
      const verified = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: stepUp.body.mfaSessionId, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) });
      expectStatus(verified, 200);
      assert.equal(verified.body.verified, true);
      expectStatus(await api(h, client, 'POST', '/auth/mfa/enrollment', { tenant: 'vol-second', userId: enrolled.userId }), 200);
    });
  });
});
