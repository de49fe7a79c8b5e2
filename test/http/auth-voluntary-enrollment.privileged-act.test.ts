/**
 * Voluntary enrollment (`POST /auth/mfa/enrollment`, for the signed-in user of the session in
 * `X-Portcullis-Session`) is a privileged act (SECURITY rule 5): a user with no factor may enroll a first one; a
 * user who holds one needs a recent MFA in that session (a completed `manage-mfa` step-up) — otherwise 403
 * STEP_UP_REQUIRED naming `action: 'manage-mfa'`. Enrolling proves the new factor only: it does not satisfy a
 * later step-up by itself.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { base32Decode, totpCode, totpStep } from '../../src/factors/totp.ts';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { api, countEvents, auditOf, createAuthHarness, createClient, createTenant, createUser, expectError, enrollTotpViaSignin, expectStatus, PASSWORD, totpAt, type TestClient } from './auth-support.ts';

const CONTEXT = { ip: '192.0.2.10', deviceId: 'device-1', userAgent: 'test' };
const inSession = (token: string): Record<string, string> => ({ 'x-portcullis-session': token });

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
      // No factor to present: the password sign-in opens a password-only session.
      const signin = await api(h, client, 'POST', '/auth/signin', { tenant: 'vol-first', identifier: 'first@example.com', password: PASSWORD, context: CONTEXT });
      expectStatus(signin, 200);
      assert.equal(signin.body.status, 'authenticated', signin.text);
      assert.equal(signin.body.userId, user.id);
      assert.deepEqual(signin.body.amr, ['pwd']);
      const session: string = signin.body.session.token;
      const opened = await api(h, client, 'POST', '/auth/mfa/enrollment', {}, inSession(session));
      expectStatus(opened, 200);
      assert.deepEqual(opened.body.enrollOptions, ['webauthn', 'totp']);
      const begun = await api(h, client, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: opened.body.mfaSessionId });
      expectStatus(begun, 200);
      const secret = base32Decode(begun.body.secret);
      assert.ok(secret !== null);
      const confirmed = await api(h, client, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: opened.body.mfaSessionId, factorId: begun.body.factorId, code: totpCode(secret, totpStep(h.clock.now())) });
      expectStatus(confirmed, 200);
      assert.equal(confirmed.body.status, 'enrolled');
      assert.equal(confirmed.body.userId, user.id);
      assert.equal(confirmed.body.recoveryCodes.length, 10);
      assert.equal(countEvents(await auditOf(h, tenant.id))['mfa.factor_enrolled'], 1);

      const stepUp = await api(h, client, 'POST', '/auth/mfa/step-up', { tenant: 'vol-first', userId: user.id, action: 'payment' }, inSession(session));
      expectStatus(stepUp, 200);
      assert.equal(stepUp.body.stepUpRequired, true, 'enrolling is not authenticating');
    });

    it('a user who holds a factor needs a recent MFA before adding another', async () => {
      await createTenant(h, 'vol-second', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
      const tenant = await h.store.tenants.findBySlug('vol-second');
      assert.ok(tenant !== null);
      const user = await createUser(h, tenant.id, 'second@example.com');
      // Signed in through the enrollment wall: the session completed MFA (TOTP) at sign-in.
      const enrolled = await enrollTotpViaSignin(h, client, 'vol-second', 'second@example.com', CONTEXT);
      assert.equal(enrolled.userId, user.id);
      assert.ok(enrolled.session !== null, 'the wall confirmation ended authenticated');
      const session: string = enrolled.session;

      // That MFA is no longer recent: adding another factor is refused until the user steps up for it.
      h.clock.advance(10 * 60_000);
      const refused = await api(h, client, 'POST', '/auth/mfa/enrollment', {}, inSession(session));
      expectError(refused, 403, 'STEP_UP_REQUIRED');
      assert.equal(refused.body.action, 'manage-mfa');

      const stepUp = await api(h, client, 'POST', '/auth/mfa/step-up', { action: 'manage-mfa' }, inSession(session));
      expectStatus(stepUp, 200);
      assert.equal(stepUp.body.stepUpRequired, true);
      const verified = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: stepUp.body.mfaSessionId, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) });
      expectStatus(verified, 200);
      assert.equal(verified.body.verified, true);
      // The step-up rotated the session token: the recent MFA is held by the new one.
      const rotated: string = verified.body.session.token;
      assert.notEqual(rotated, session);
      expectStatus(await api(h, client, 'POST', '/auth/mfa/enrollment', {}, inSession(rotated)), 200);
    });
  });
});
