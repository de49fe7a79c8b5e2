/**
 * The admin MFA reset seen from the next sign-in, through the admin and application APIs on SQLite and PostgreSQL
 * (DESIGN §5, WeftID "reset two-step verification"; issue 15, item 7):
 *
 * - a user whose last factor was reset meets the enrollment wall at the next sign-in and gets no session — also
 *   inside the grace window of their first sign-in (that grace was for enrolling, and they did; only an admin's
 *   re-grant lets them in without a factor again);
 * - the reset clears TOTP and recovery codes and keeps passkeys: the next sign-in under `enhanced` is challenged
 *   with the passkey, never walled, never let in on the password.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { api, auditOf, createAuthHarness, createClient, createTenant, createUser, enrollTotpViaSignin, expectStatus, totpAt, type ApiResult, type TestClient, passwordSignin } from './auth-support.ts';

const CONTEXT = { ip: '192.0.2.10', deviceId: 'laptop-1', userAgent: 'reset' };
const DAY = 86_400_000;

forEachDialect((dialect) => {
  describe(`admin reset, then the next sign-in (${dialect})`, () => {
    let h: Harness;
    let bank: TestClient;

    before(async () => {
      h = await createAuthHarness(dialect);
      bank = await createClient(h, 'bank');
    });
    after(() => h.close());

    const signin = (tenant: string, email: string): Promise<ApiResult> => passwordSignin(h, bank, tenant, email, CONTEXT);
    const reset = async (tenantId: string, userId: string): Promise<void> => {
      const res = await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/users/${userId}/mfa/reset`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
    };

    for (const gracePeriodDays of [0, 14]) {
      it(`a user whose only factor was reset is at the wall at the next sign-in, with no session (gracePeriodDays ${gracePeriodDays})`, async () => {
        const tenant = await createTenant(h, `reset-${gracePeriodDays}`, { enrollment: 'required', gracePeriodDays, challenge: 'always' });
        await createUser(h, tenant.id, 'ada@example.com');
        // Inside a grace window the first sign-in is let in; the user enrolls TOTP voluntarily, as a new user does.
        const slug = `reset-${gracePeriodDays}`;
        const enrolled = gracePeriodDays === 0 ? await enrollTotpViaSignin(h, bank, slug, 'ada@example.com', CONTEXT) : await enrollInGrace(slug, 'ada@example.com');
        h.clock.advance(DAY); // the next day: the first sign-in's grace (if any) still runs
        await reset(tenant.id, enrolled.userId);

        const next = await signin(slug, 'ada@example.com');
        assert.equal(next.body.status, 'enrollment_required', next.text);
        assert.equal(next.body.session, undefined, 'no session');
        assert.deepEqual(next.body.methods, [], 'nothing left to challenge: enrollment opens at once');
        assert.ok(next.body.enrollOptions.includes('totp'));
        assert.equal(next.body.errorCode, 'MFA_REQUIRED_NO_FACTOR');

        // An admin's re-grant is the one way in without a factor.
        const granted = await h.call(h.platformToken, 'POST', `/tenants/${tenant.id}/users/${enrolled.userId}/grace`, { days: 1 });
        assert.equal(granted.status, 200, JSON.stringify(granted.body));
        const inGrace = await signin(slug, 'ada@example.com');
        assert.equal(inGrace.body.status, 'authenticated', inGrace.text);
        assert.equal(inGrace.body.grace.active, true);
      });
    }

    /** A first sign-in inside grace (let in), then a voluntary TOTP enrollment from that session. */
    async function enrollInGrace(tenant: string, email: string): Promise<{ userId: string }> {
      const first = await signin(tenant, email);
      assert.equal(first.body.status, 'authenticated', first.text);
      const session = first.body.session.token as string;
      const opened = await api(h, bank, 'POST', '/auth/mfa/enrollment', { context: CONTEXT }, { 'x-portcullis-session': session });
      expectStatus(opened, 200, 'open enrollment');
      const begun = await api(h, bank, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: opened.body.mfaSessionId });
      expectStatus(begun, 200, 'begin totp');
      const confirmed = await api(h, bank, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: opened.body.mfaSessionId, factorId: begun.body.factorId, code: totpAt(begun.body.secret, h.clock.now()) });
      expectStatus(confirmed, 200, 'confirm totp');
      // The next sign-in is challenged and answered: the user has done MFA.
      h.clock.advance(60_000);
      const challenged = await signin(tenant, email);
      assert.equal(challenged.body.status, 'mfa_required', challenged.text);
      const verified = await api(h, bank, 'POST', '/auth/mfa/verify', { mfaSessionId: challenged.body.mfaSessionId, method: 'totp', code: totpAt(begun.body.secret, h.clock.now()) });
      assert.equal(verified.body.status, 'authenticated', verified.text);
      return { userId: first.body.userId };
    }

    it('the reset keeps passkeys: under enhanced the next sign-in challenges the passkey, no wall, no password-only session', async () => {
      const tenant = await createTenant(h, 'keeps', { enrollment: 'required', gracePeriodDays: 0, strength: 'enhanced' });
      await createUser(h, tenant.id, 'bo@example.com');
      const enrolled = await enrollTotpViaSignin(h, bank, 'keeps', 'bo@example.com', CONTEXT);
      const t = h.store.forTenant(tenant.id);
      const now = h.clock.now();
      const passkey = await t.factors.create({ userId: enrolled.userId, type: 'webauthn', label: 'laptop passkey', secretEnc: null, data: { backedUp: true }, expiresAt: now + 60_000, now });
      assert.ok(await t.factors.activate(passkey.id, now));

      await reset(tenant.id, enrolled.userId);
      const left = await t.factors.listForUser(enrolled.userId);
      assert.deepEqual(left.map((f) => f.type), ['webauthn'], 'TOTP and recovery codes went, the passkey stayed');
      assert.equal(await t.recoveryCodes.countRemaining(enrolled.userId), 0);
      const audit = (await auditOf(h, tenant.id)).filter((e) => e.event === 'mfa.factor_admin_reset');
      assert.equal(audit.length, 1);
      assert.equal(audit[0]?.data.kept, 1);

      h.clock.advance(60_000);
      const next = await signin('keeps', 'bo@example.com');
      assert.equal(next.body.status, 'mfa_required', next.text);
      assert.deepEqual(next.body.methods, ['webauthn']);
      assert.equal(next.body.session, undefined);
    });
  });
});
