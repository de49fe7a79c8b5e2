/**
 * The vendor documents' passkey walk-throughs through the application and admin APIs, on SQLite and PostgreSQL:
 *
 * - WeftID "Reset two-step verification": clears TOTP and backup codes, keeps passkeys; the next sign-in under
 *   `enhanced` passes with the passkey, no enrollment flow. A user whose only factor was reset meets the wall.
 * - WeftID "Revoking a single passkey": one passkey revoked (`mfa.passkey_revoked`); the other passkey and TOTP stay.
 * - A TOTP-only user after a switch to `phishing_resistant` answers the TOTP (rule 7: never weaker than before),
 *   is then walled with `webauthn` offered (and only what satisfies the policy), and gets in after registering one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TenantRecord } from '../../src/store/index.ts';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { challengeOfOptions, SoftCredential } from '../support/soft-authenticator.ts';
import { api, auditOf, passwordSignin, createAuthHarness, createClient, createTenant, createUser, enrollTotpViaSignin, expectStatus, savePolicy, totpAt, type TestClient } from './auth-support.ts';

const CONTEXT = { ip: '192.0.2.10', deviceId: 'device-1', userAgent: 'seed walk-through' };

forEachDialect((dialect) => {
  describe(`passkey seed walk-throughs (${dialect})`, () => {
    let h: Harness;
    let client: TestClient;
    let n = 0;

    before(async () => {
      h = await createAuthHarness(dialect);
      client = await createClient(h, 'dashboard');
    });
    after(() => h.close());

    const signin = (tenant: string, email: string) => passwordSignin(h, client, tenant, email, CONTEXT);

    /** Registers a passkey in an MFA session that may enroll (the wall, or a voluntary enrollment). */
    async function registerPasskey(mfaSessionId: string, passkey: SoftCredential) {
      const begun = await api(h, client, 'POST', '/auth/mfa/enroll/webauthn', { mfaSessionId });
      expectStatus(begun, 200, 'begin webauthn');
      const confirmed = await api(h, client, 'POST', '/auth/mfa/enroll/webauthn/confirm', { mfaSessionId, credential: passkey.register(challengeOfOptions(begun.body)) });
      expectStatus(confirmed, 200, 'confirm webauthn');
      return confirmed;
    }

    /** Answers a sign-in's challenge with the passkey. */
    async function answerWithPasskey(mfaSessionId: string, passkey: SoftCredential) {
      const options = await api(h, client, 'POST', '/auth/mfa/challenge', { mfaSessionId, method: 'webauthn' });
      expectStatus(options, 200, 'passkey challenge');
      return api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId, method: 'webauthn', code: passkey.assert(challengeOfOptions(options.body)) });
    }

    /** A user with TOTP (enrolled at the wall) and then a passkey (voluntary enrollment on the fresh session). */
    async function userWithTotpAndPasskey(tenant: TenantRecord) {
      const email = `user${(n += 1)}@${tenant.slug}.test`;
      const user = await createUser(h, tenant.id, email);
      const totp = await enrollTotpViaSignin(h, client, tenant.slug, email, CONTEXT);
      assert.ok(totp.session !== null);
      const opened = await api(h, client, 'POST', '/auth/mfa/enrollment', {}, { 'x-portcullis-session': totp.session });
      expectStatus(opened, 200, 'voluntary enrollment');
      assert.ok(opened.body.enrollOptions.includes('webauthn'));
      const passkey = new SoftCredential({ seed: `${dialect}-${email}`, rpId: 'localhost', origin: 'http://localhost', userHandle: user.id });
      const enrolled = await registerPasskey(opened.body.mfaSessionId, passkey);
      assert.equal(enrolled.body.status, 'enrolled');
      return { user, email, totp, passkey, passkeyFactorId: enrolled.body.factorId as string };
    }

    it('WeftID: an admin reset clears TOTP and recovery codes, keeps the passkey; the next sign-in under enhanced passes with it', async () => {
      const tenant = await createTenant(h, `weftid-${dialect}`, { enrollment: 'required', gracePeriodDays: 0, challenge: 'always', strength: 'enhanced' });
      const u = await userWithTotpAndPasskey(tenant);
      const reset = await h.call(h.platformToken, 'POST', `/tenants/${tenant.id}/users/${u.user.id}/mfa/reset`, {});
      expectStatus({ ...reset, text: JSON.stringify(reset.body) }, 200, 'admin reset');
      const left = await h.store.forTenant(tenant.id).factors.listForUser(u.user.id);
      assert.deepEqual(left.map((f) => f.type), ['webauthn'], 'only the passkey is left');
      assert.equal(await h.store.forTenant(tenant.id).recoveryCodes.countRemaining(u.user.id), 0);

      h.clock.advance(30_000);
      const next = await signin(tenant.slug, u.email);
      assert.equal(next.body.status, 'mfa_required', 'challenged with the passkey, not sent to enrollment');
      assert.deepEqual(next.body.methods, ['webauthn']);
      const answered = await answerWithPasskey(next.body.mfaSessionId, u.passkey);
      expectStatus(answered, 200);
      assert.equal(answered.body.status, 'authenticated', answered.text);
      assert.equal(answered.body.acr, 'urn:portcullis:acr:phr');
    });

    it('WeftID: a user whose only factor was reset is at the wall at the next sign-in, not let in', async () => {
      const tenant = await createTenant(h, `reset-wall-${dialect}`, { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
      const email = `only-totp@${tenant.slug}.test`;
      const user = await createUser(h, tenant.id, email);
      await enrollTotpViaSignin(h, client, tenant.slug, email, CONTEXT);
      expectStatus({ ...(await h.call(h.platformToken, 'POST', `/tenants/${tenant.id}/users/${user.id}/mfa/reset`, {})), text: '' }, 200);
      const next = await signin(tenant.slug, email);
      assert.equal(next.body.status, 'enrollment_required', next.text);
      assert.equal(next.body.session, undefined);
      assert.deepEqual(next.body.enrollOptions, ['webauthn', 'totp']);
    });

    it('WeftID: revoking a single passkey leaves the other passkey and TOTP; the other passkey still signs in', async () => {
      const tenant = await createTenant(h, `revoke-one-${dialect}`, { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
      const u = await userWithTotpAndPasskey(tenant);
      // A second passkey (another device), through a fresh session's voluntary enrollment.
      h.clock.advance(30_000);
      const again = await signin(tenant.slug, u.email);
      const viaFirst = await answerWithPasskey(again.body.mfaSessionId, u.passkey);
      assert.equal(viaFirst.body.status, 'authenticated', viaFirst.text);
      const opened = await api(h, client, 'POST', '/auth/mfa/enrollment', {}, { 'x-portcullis-session': viaFirst.body.session.token });
      const second = new SoftCredential({ seed: `${dialect}-${u.email}-second`, rpId: 'localhost', origin: 'http://localhost', userHandle: u.user.id, synced: false });
      const added = await registerPasskey(opened.body.mfaSessionId, second);
      assert.equal(added.body.status, 'enrolled', added.text);

      const revoked = await h.call(h.platformToken, 'DELETE', `/tenants/${tenant.id}/users/${u.user.id}/factors/${u.passkeyFactorId}`);
      assert.ok(revoked.status === 200 || revoked.status === 204, JSON.stringify(revoked.body));
      const left = (await h.store.forTenant(tenant.id).factors.listForUser(u.user.id)).map((f) => f.type).sort();
      assert.deepEqual(left, ['recovery_codes', 'totp', 'webauthn'], 'the other passkey, TOTP and the codes stay');
      assert.ok((await auditOf(h, tenant.id)).some((e) => e.event === 'mfa.passkey_revoked' && e.subject === u.passkeyFactorId));

      const next = await signin(tenant.slug, u.email);
      const revokedAnswer = await answerWithPasskey(next.body.mfaSessionId, u.passkey);
      assert.equal(revokedAnswer.status, 400, 'the revoked passkey no longer answers');
      const viaSecond = await answerWithPasskey(next.body.mfaSessionId, second);
      assert.equal(viaSecond.body.status, 'authenticated', viaSecond.text);
    });

    it('a TOTP-only user under phishing_resistant answers the TOTP, is walled with webauthn offered, and gets in after registering a passkey', async () => {
      const tenant = await createTenant(h, `phr-${dialect}`, { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
      const email = `totp-only@${tenant.slug}.test`;
      const user = await createUser(h, tenant.id, email);
      const totp = await enrollTotpViaSignin(h, client, tenant.slug, email, CONTEXT);
      await savePolicy(h, tenant.id, { enrollment: 'required', gracePeriodDays: 0, challenge: 'always', acceptableFactors: 'phishing_resistant' });

      h.clock.advance(30_000);
      const first = await signin(tenant.slug, email);
      // Rule 7: never weaker than before — the wall stands, but the TOTP the user holds is challenged before it.
      assert.equal(first.body.status, 'enrollment_required', first.text);
      assert.deepEqual(first.body.methods, ['totp']);
      assert.ok(first.body.decision.reasons.some((r: { code: string }) => r.code === 'challenge_before_enroll'));
      const tooEarly = await api(h, client, 'POST', '/auth/mfa/enroll/webauthn', { mfaSessionId: first.body.mfaSessionId });
      assert.equal(tooEarly.status, 403, `no enrollment before the held factor is answered: ${tooEarly.text}`);
      assert.equal(tooEarly.body.error, 'ENROLLMENT_NOT_ALLOWED');
      const byTotp = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: first.body.mfaSessionId, method: 'totp', code: totpAt(totp.secret, h.clock.now()) });
      expectStatus(byTotp, 200);
      assert.equal(byTotp.body.status, 'enrollment_required', byTotp.text);
      assert.deepEqual(byTotp.body.methods, []);
      assert.deepEqual(byTotp.body.enrollOptions, ['webauthn'], 'only what satisfies the policy is offered');
      assert.equal(byTotp.body.session, undefined, 'no session at the wall');
      // TOTP cannot be enrolled here: it would not satisfy the policy.
      const refused = await api(h, client, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: first.body.mfaSessionId });
      assert.equal(refused.status, 403, refused.text);
      assert.equal(refused.body.error, 'MFA_FACTOR_NOT_ALLOWED');

      const passkey = new SoftCredential({ seed: `${dialect}-phr`, rpId: 'localhost', origin: 'http://localhost', userHandle: user.id });
      const registered = await registerPasskey(first.body.mfaSessionId, passkey);
      assert.equal(registered.body.status, 'authenticated', registered.text);
      assert.equal(registered.body.acr, 'urn:portcullis:acr:phr');
      assert.equal(typeof registered.body.session.token, 'string');
    });
  });
});
