/**
 * Two audit events of the sign-in path, on SQLite and PostgreSQL:
 * - `user.signin_succeeded` when a sign-in ends in a session (password alone, and after a verified code), with
 *   its `amr` and whether an MFA was done; never for a sign-in that is challenged or walled;
 * - `mfa.grace_expired` (DESIGN §6; AxisSynapse's TENANT_MFA_GRACE_EXPIRED) the first time a sign-in finds a
 *   user's grace over without a factor — once per grace window: a second walled sign-in adds none, a re-granted
 *   grace that runs out again adds one more.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { api, auditOf, countEvents, createAuthHarness, createClient, createTenant, createUser, enrollTotpViaSignin, expectStatus, PASSWORD, totpAt, type TestClient } from './auth-support.ts';

const DAY = 86_400_000;

forEachDialect((dialect) => {
  let h: Harness;
  let client: TestClient;

  before(async () => {
    h = await createAuthHarness(dialect);
    client = await createClient(h, 'bank');
  });
  after(() => h.close());

  const signIn = (tenant: string, email: string) => api(h, client, 'POST', '/auth/signin', { tenant, identifier: email, password: PASSWORD });

  describe('user.signin_succeeded', () => {
    it('is recorded for a session by password alone and for one after a verified code, not for a challenge', async () => {
      const tenant = await createTenant(h, 'succeeded', { enrollment: 'optional', challenge: 'never' });
      const user = await createUser(h, tenant.id, 'ada@example.com');
      const plain = await signIn('succeeded', 'ada@example.com');
      expectStatus(plain, 200);
      assert.equal(plain.body.status, 'authenticated');
      let events = (await auditOf(h, tenant.id)).filter((e) => e.event === 'user.signin_succeeded');
      assert.equal(events.length, 1);
      assert.equal(events[0]?.userId, user.id);
      assert.equal(events[0]?.applicationId, client.application.id);
      assert.deepEqual(events[0]?.data, { amr: ['pwd'], acr: 'urn:portcullis:acr:pwd', mfa: false, methods: ['password'] });
      assert.equal(events[0]?.subject, plain.body.session.id, 'the event names the login session it opened');

      const walled = await createTenant(h, 'walled', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
      await createUser(h, walled.id, 'bob@example.com');
      const enrolled = await enrollTotpViaSignin(h, client, 'walled', 'bob@example.com');
      h.clock.advance(30_000);
      const challenged = await signIn('walled', 'bob@example.com');
      assert.equal(challenged.body.status, 'mfa_required', challenged.text);
      const before = countEvents(await auditOf(h, walled.id))['user.signin_succeeded'] ?? 0;
      const verified = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: challenged.body.mfaSessionId, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) });
      expectStatus(verified, 200);
      events = (await auditOf(h, walled.id)).filter((e) => e.event === 'user.signin_succeeded');
      assert.equal(events.length, before + 1, 'the challenge added none, the verification one');
      assert.deepEqual(events.at(-1)?.data, { amr: ['pwd', 'otp', 'mfa'], acr: 'urn:portcullis:acr:mfa', mfa: true, methods: ['password', 'totp'] });
      assert.equal(events.at(-1)?.subject, verified.body.session.id, 'the event names the login session it opened');
    });
  });

  describe('mfa.grace_expired', () => {
    it('is recorded once when grace runs out, and again only after a re-granted grace runs out', async () => {
      const tenant = await createTenant(h, 'grace', { enrollment: 'required', gracePeriodDays: 1, challenge: 'always' });
      const user = await createUser(h, tenant.id, 'cy@example.com');
      const graceExpired = async () => (await auditOf(h, tenant.id)).filter((e) => e.event === 'mfa.grace_expired');

      const first = await signIn('grace', 'cy@example.com');
      assert.equal(first.body.status, 'authenticated', 'inside the grace period');
      assert.equal((await graceExpired()).length, 0);

      h.clock.advance(2 * DAY);
      for (let i = 0; i < 2; i++) {
        const walled = await signIn('grace', 'cy@example.com');
        assert.equal(walled.body.status, 'enrollment_required', walled.text);
        assert.equal(walled.body.errorCode, 'MFA_GRACE_EXPIRED');
      }
      const once = await graceExpired();
      assert.equal(once.length, 1, 'two walled sign-ins, one event');
      assert.equal(once[0]?.userId, user.id);
      assert.equal(typeof once[0]?.data['graceEndedAt'], 'string');

      const granted = await h.call(h.platformToken, 'POST', `/tenants/${tenant.id}/users/${user.id}/grace`, { days: 1 });
      assert.equal(granted.status, 200, JSON.stringify(granted.body));
      assert.equal((await signIn('grace', 'cy@example.com')).body.status, 'authenticated', 'inside the re-granted grace');
      h.clock.advance(2 * DAY);
      assert.equal((await signIn('grace', 'cy@example.com')).body.errorCode, 'MFA_GRACE_EXPIRED');
      assert.equal((await graceExpired()).length, 2, 'the re-granted window ran out: a second event');
    });
  });
});
