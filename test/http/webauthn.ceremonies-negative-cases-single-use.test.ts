/**
 * Passkeys through the application API, on SQLite and PostgreSQL, with a deterministic software authenticator
 * (test/support/soft-authenticator.ts): registration at the enrollment wall, a passkey challenge, passkey-first
 * sign-in, and SECURITY.md's WebAuthn negative cases — wrong origin, wrong RP id, a reused or foreign challenge,
 * missing user verification, a bad signature, another user's credential, a counter regression, a blocked AAGUID and
 * `none` attestation under an allow-list. Each refusal changes nothing: no session, the challenge still unspent
 * where it was not answered, the counter unchanged. 100 parallel assertions over one challenge: exactly one success.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { webauthnConfigOf } from '../../src/config.ts';
import type { TenantRecord } from '../../src/store/index.ts';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { challengeOfOptions, SoftCredential } from '../support/soft-authenticator.ts';
import { api, auditOf, countEvents, createAuthHarness, createClient, createTenant, createUser, expectError, expectStatus, PASSWORD, type TestClient } from './auth-support.ts';

const ORIGIN = 'http://localhost';
const CONTEXT = { ip: '192.0.2.10', deviceId: 'device-1', userAgent: 'webauthn test' };
const BLOCKED_MODEL = '11111111-2222-3333-4444-555555555555';
const ALLOWED_MODEL = 'cb69481e-8ff7-4039-93ec-0a2729a154a8';

forEachDialect((dialect) => {
  describe(`WebAuthn ceremonies through the API (${dialect})`, () => {
    let h: Harness;
    let client: TestClient;
    let other: TestClient;
    let tenant: TenantRecord;
    let n = 0;

    before(async () => {
      h = await createAuthHarness(dialect, {
        webauthn: webauthnConfigOf({ tenants: { 'models-blocked': { aaguidBlock: [BLOCKED_MODEL] }, 'models-allowed': { aaguidAllow: [ALLOWED_MODEL] } } }, ORIGIN, 'webauthn', []),
      });
      client = await createClient(h, 'bank');
      other = await createClient(h, 'other app');
      tenant = await createTenant(h, 'passkeys', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always', acceptableFactors: 'any' });
    });
    after(() => h.close());

    const credentialFor = (userId: string, extra: Partial<ConstructorParameters<typeof SoftCredential>[0]> = {}): SoftCredential =>
      new SoftCredential({ seed: `${dialect}-${userId}-${(n += 1)}`, rpId: 'localhost', origin: ORIGIN, userHandle: userId, ...extra });

    /** A walled user signs in with the password, registers a passkey at the wall and is signed in by it. */
    async function registerAtWall(tenantSlug = 'passkeys', extra: Partial<ConstructorParameters<typeof SoftCredential>[0]> = {}) {
      const email = `user${(n += 1)}@${tenantSlug}.test`;
      const t = (await h.store.tenants.findBySlug(tenantSlug)) ?? (await createTenant(h, tenantSlug, { enrollment: 'required', gracePeriodDays: 0, challenge: 'always', acceptableFactors: 'any' }));
      const user = await createUser(h, t.id, email);
      const signin = await api(h, client, 'POST', '/auth/signin', { tenant: tenantSlug, identifier: email, password: PASSWORD, context: CONTEXT });
      expectStatus(signin, 200, 'signin');
      assert.equal(signin.body.status, 'enrollment_required');
      assert.ok(signin.body.enrollOptions.includes('webauthn'), `webauthn is offered at the wall: ${signin.text}`);
      const begun = await api(h, client, 'POST', '/auth/mfa/enroll/webauthn', { mfaSessionId: signin.body.mfaSessionId });
      expectStatus(begun, 200, 'begin webauthn');
      const credential = credentialFor(user.id, extra);
      return { user, email, credential, mfaSessionId: signin.body.mfaSessionId as string, options: begun.body.options, challenge: challengeOfOptions(begun.body), tenant: t };
    }

    async function enrolledUser() {
      const r = await registerAtWall();
      const confirmed = await api(h, client, 'POST', '/auth/mfa/enroll/webauthn/confirm', { mfaSessionId: r.mfaSessionId, credential: r.credential.register(r.challenge) });
      expectStatus(confirmed, 200, 'confirm webauthn');
      assert.equal(confirmed.body.status, 'authenticated', confirmed.text);
      return { ...r, factorId: confirmed.body.factorId as string };
    }

    /** Password, then a passkey challenge: the MFA session and the options' challenge. */
    async function passkeyChallenge(email: string) {
      const signin = await api(h, client, 'POST', '/auth/signin', { tenant: 'passkeys', identifier: email, password: PASSWORD, context: CONTEXT });
      expectStatus(signin, 200);
      assert.equal(signin.body.status, 'mfa_required', signin.text);
      assert.equal(signin.body.methods[0], 'webauthn', 'the passkey is offered first (strongest)');
      const options = await api(h, client, 'POST', '/auth/mfa/challenge', { mfaSessionId: signin.body.mfaSessionId, method: 'webauthn' });
      expectStatus(options, 200, 'challenge');
      return { mfaSessionId: signin.body.mfaSessionId as string, challenge: challengeOfOptions(options.body), options: options.body.options };
    }

    async function counterOf(factorId: string): Promise<number | null> {
      return (await h.store.forTenant(tenant.id).factors.get(factorId))?.lastStep ?? null;
    }

    it('registers a passkey at the wall: options ask for a discoverable credential with user verification; the answer signs the user in with phishing-resistant assurance', async () => {
      const r = await registerAtWall();
      assert.equal(r.options.rp.id, 'localhost');
      assert.equal(r.options.authenticatorSelection.residentKey, 'required');
      assert.equal(r.options.authenticatorSelection.userVerification, 'required');
      assert.equal(r.options.attestation, 'none');
      assert.equal(Buffer.from(r.options.user.id, 'base64url').toString(), r.user.id);
      const confirmed = await api(h, client, 'POST', '/auth/mfa/enroll/webauthn/confirm', { mfaSessionId: r.mfaSessionId, credential: r.credential.register(r.challenge) });
      expectStatus(confirmed, 200);
      assert.equal(confirmed.body.status, 'authenticated');
      assert.deepEqual([...confirmed.body.amr].sort(), ['mfa', 'pwd', 'swk', 'user']);
      assert.equal(confirmed.body.acr, 'urn:portcullis:acr:phr');
      assert.equal(confirmed.body.recoveryCodes.length, 10, 'recovery codes at the first enrollment');
      const factor = await h.store.forTenant(tenant.id).factors.get(confirmed.body.factorId);
      assert.equal(factor?.type, 'webauthn');
      assert.equal(factor?.credentialId, r.credential.id);
      assert.equal(factor?.label, 'Passkey');
      assert.equal(factor?.data?.deviceType, 'multiDevice');
      // The registration's challenge is spent: the same answer again is refused.
      const again = await api(h, client, 'POST', '/auth/mfa/enroll/webauthn/confirm', { mfaSessionId: r.mfaSessionId, credential: r.credential.register(r.challenge) });
      assert.ok(again.status >= 400 && again.status < 500, again.text);
    });

    it('a device-bound security key is told apart from a synced passkey (backup flags), and labelled by its model', async () => {
      const r = await registerAtWall('passkeys', { synced: false, aaguid: ALLOWED_MODEL });
      const confirmed = await api(h, client, 'POST', '/auth/mfa/enroll/webauthn/confirm', { mfaSessionId: r.mfaSessionId, credential: r.credential.register(r.challenge) });
      expectStatus(confirmed, 200);
      assert.ok(confirmed.body.amr.includes('hwk'), confirmed.text);
      const factor = await h.store.forTenant(tenant.id).factors.get(confirmed.body.factorId);
      assert.equal(factor?.data?.deviceType, 'singleDevice');
      assert.equal(factor?.label, 'Security key — YubiKey 5');
    });

    it('a passkey answers the MFA challenge; the counter is stored and the challenge spent', async () => {
      const u = await enrolledUser();
      const c = await passkeyChallenge(u.email);
      assert.deepEqual(c.options.allowCredentials.map((a: { id: string }) => a.id), [u.credential.id]);
      const verified = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: c.mfaSessionId, method: 'webauthn', code: u.credential.assert(c.challenge) });
      expectStatus(verified, 200);
      assert.equal(verified.body.status, 'authenticated', verified.text);
      assert.equal(verified.body.acr, 'urn:portcullis:acr:phr');
      assert.equal(await counterOf(u.factorId), u.credential.counter);
    });

    describe('negative cases (SECURITY.md): each refused with MFA_CODE_INVALID, nothing spent, no session', () => {
      const cases: Array<[string, (u: Awaited<ReturnType<typeof enrolledUser>>, challenge: string) => Promise<Record<string, unknown>> | Record<string, unknown>]> = [
        ['wrong origin', (u, ch) => u.credential.assert(ch, { origin: 'https://evil.example' })],
        ['wrong RP id', (u, ch) => u.credential.assert(ch, { rpId: 'evil.example' })],
        ['missing user verification where required', (u, ch) => u.credential.assert(ch, { userVerified: false })],
        ['bad signature', (u, ch) => u.credential.assert(ch, { wrongKey: true })],
        ['a challenge the server never issued', (u) => u.credential.assert(Buffer.from('not-issued-challenge-32-bytes!!!').toString('base64url'))],
        ['a WebAuthn create answer in place of get', (u, ch) => u.credential.assert(ch, { type: 'webauthn.create' })],
        ['a counter regression (a cloned authenticator)', (u, ch) => u.credential.assert(ch, { counter: 0 })],
        [
          'another user’s credential',
          async (_u, ch) => {
            const stranger = await enrolledUser();
            return stranger.credential.assert(ch);
          },
        ],
        [
          'a foreign challenge (issued for another application’s passkey-first sign-in)',
          async (u) => {
            const foreign = await api(h, other, 'POST', '/auth/passkey/options', { tenant: 'passkeys' });
            expectStatus(foreign, 200);
            return u.credential.assert(challengeOfOptions(foreign.body));
          },
        ],
      ];
      for (const [name, forge] of cases) {
        it(name, async () => {
          const u = await enrolledUser();
          // A first assertion so that the counter is past zero (a regression is then visible).
          const warm = await passkeyChallenge(u.email);
          expectStatus(await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: warm.mfaSessionId, method: 'webauthn', code: u.credential.assert(warm.challenge) }), 200);
          const before = await counterOf(u.factorId);
          const c = await passkeyChallenge(u.email);
          const res = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: c.mfaSessionId, method: 'webauthn', code: await forge(u, c.challenge) });
          expectError(res, 400, 'MFA_CODE_INVALID', name);
          assert.equal(await counterOf(u.factorId), before, 'the counter is unchanged');
          // The genuine answer to the same challenge still works: the refusal spent nothing.
          const genuine = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: c.mfaSessionId, method: 'webauthn', code: u.credential.assert(c.challenge) });
          expectStatus(genuine, 200, 'genuine after refusal');
          assert.equal(genuine.body.status, 'authenticated');
          const failed = (await auditOf(h, tenant.id)).filter((e) => e.event === 'user.mfa_failed' && e.userId === u.user.id);
          assert.ok(failed.length >= 1, 'the refusal is audited');
        });
      }

      it('a reused challenge: an assertion replayed after its success is refused', async () => {
        const u = await enrolledUser();
        const c = await passkeyChallenge(u.email);
        const assertion = u.credential.assert(c.challenge);
        expectStatus(await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: c.mfaSessionId, method: 'webauthn', code: assertion }), 200);
        const d = await passkeyChallenge(u.email);
        expectError(await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: d.mfaSessionId, method: 'webauthn', code: assertion }), 400, 'MFA_CODE_INVALID');
        // Passkey-first with the spent challenge: refused too.
        expectError(await api(h, client, 'POST', '/auth/passkey', { tenant: 'passkeys', credential: assertion }), 400, 'MFA_CODE_INVALID');
      });

      it('a malformed credential is a 400 with a stable code, never a 500', async () => {
        const u = await enrolledUser();
        const c = await passkeyChallenge(u.email);
        const res = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: c.mfaSessionId, method: 'webauthn', code: { id: 'x', rawId: 'x', type: 'public-key', response: { clientDataJSON: 'e30' } } });
        assert.equal(res.status, 400, res.text);
      });
    });

    describe('authenticator models', () => {
      it('a blocked AAGUID is refused at registration (MFA_FACTOR_NOT_ALLOWED, audited); nothing is registered', async () => {
        const r = await registerAtWall('models-blocked', { aaguid: BLOCKED_MODEL });
        const res = await api(h, client, 'POST', '/auth/mfa/enroll/webauthn/confirm', { mfaSessionId: r.mfaSessionId, credential: r.credential.register(r.challenge) });
        expectError(res, 403, 'MFA_FACTOR_NOT_ALLOWED');
        assert.equal((await h.store.forTenant(r.tenant.id).factors.listForUser(r.user.id)).length, 0);
        assert.equal(countEvents(await auditOf(h, r.tenant.id))['mfa.authenticator_refused'], 1);
      });

      it('under an allow-list, `none` attestation (and self attestation) is refused even for a listed model; attestation is asked for', async () => {
        const r = await registerAtWall('models-allowed', { aaguid: ALLOWED_MODEL });
        assert.equal(r.options.attestation, 'direct');
        expectError(await api(h, client, 'POST', '/auth/mfa/enroll/webauthn/confirm', { mfaSessionId: r.mfaSessionId, credential: r.credential.register(r.challenge) }), 403, 'MFA_FACTOR_NOT_ALLOWED');
        const again = await api(h, client, 'POST', '/auth/mfa/enroll/webauthn', { mfaSessionId: r.mfaSessionId });
        const self = r.credential.register(challengeOfOptions(again.body), {}, r.credential.selfAttestation());
        expectError(await api(h, client, 'POST', '/auth/mfa/enroll/webauthn/confirm', { mfaSessionId: r.mfaSessionId, credential: self }), 403, 'MFA_FACTOR_NOT_ALLOWED');
        assert.equal((await h.store.forTenant(r.tenant.id).factors.listForUser(r.user.id)).length, 0);
      });
    });

    describe('passkey-first sign-in', () => {
      it('a discoverable credential with user verification signs in with no password and satisfies MFA (amr swk/user/mfa, no pwd)', async () => {
        const u = await enrolledUser();
        const options = await api(h, client, 'POST', '/auth/passkey/options', { tenant: 'passkeys' });
        expectStatus(options, 200);
        assert.deepEqual(options.body.options.allowCredentials ?? [], []);
        const res = await api(h, client, 'POST', '/auth/passkey', { tenant: 'passkeys', credential: u.credential.assert(challengeOfOptions(options.body)), context: CONTEXT });
        expectStatus(res, 200);
        assert.equal(res.body.status, 'authenticated', res.text);
        assert.equal(res.body.userId, u.user.id);
        assert.deepEqual([...res.body.amr].sort(), ['mfa', 'swk', 'user']);
        assert.equal(res.body.acr, 'urn:portcullis:acr:phr');
      });

      it('without user verification it is one factor: the policy (challenge always) asks for more, no session', async () => {
        const u = await enrolledUser();
        const options = await api(h, client, 'POST', '/auth/passkey/options', { tenant: 'passkeys' });
        const res = await api(h, client, 'POST', '/auth/passkey', { tenant: 'passkeys', credential: u.credential.assert(challengeOfOptions(options.body), { userVerified: false }), context: CONTEXT });
        // User verification is required by default: the assertion itself is refused.
        expectError(res, 400, 'MFA_CODE_INVALID');
      });

      it('the decision still runs: a locked account is refused, and an unknown credential answers INVALID_CREDENTIALS', async () => {
        const u = await enrolledUser();
        await h.store.forTenant(tenant.id).users.recordSigninFailure(u.user.id, h.clock.now(), { limit: 1, coolDownMs: null });
        const options = await api(h, client, 'POST', '/auth/passkey/options', { tenant: 'passkeys' });
        const locked = await api(h, client, 'POST', '/auth/passkey', { tenant: 'passkeys', credential: u.credential.assert(challengeOfOptions(options.body)) });
        assert.ok(locked.status === 423 || locked.status === 403 || locked.status === 401, locked.text);
        assert.notEqual(locked.body.status, 'authenticated');
        const stranger = new SoftCredential({ seed: `${dialect}-stranger`, rpId: 'localhost', origin: ORIGIN });
        const options2 = await api(h, client, 'POST', '/auth/passkey/options', { tenant: 'passkeys' });
        expectError(await api(h, client, 'POST', '/auth/passkey', { tenant: 'passkeys', credential: stranger.assert(challengeOfOptions(options2.body)) }), 401, 'INVALID_CREDENTIALS');
      });

      it('another application cannot answer with a challenge it did not ask for', async () => {
        const u = await enrolledUser();
        const options = await api(h, client, 'POST', '/auth/passkey/options', { tenant: 'passkeys' });
        expectError(await api(h, other, 'POST', '/auth/passkey', { tenant: 'passkeys', credential: u.credential.assert(challengeOfOptions(options.body)) }), 400, 'MFA_CODE_INVALID');
      });
    });

    it('100 parallel assertions over one challenge: exactly one success', async () => {
      const u = await enrolledUser();
      const c = await passkeyChallenge(u.email);
      // Distinct assertions (each its own counter value), one challenge, one MFA session.
      const answers = Array.from({ length: 100 }, () => u.credential.assert(c.challenge));
      const results = await Promise.all(answers.map((code) => api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: c.mfaSessionId, method: 'webauthn', code })));
      const ok = results.filter((r) => r.status === 200 && r.body.status === 'authenticated');
      assert.equal(ok.length, 1, results.map((r) => `${r.status} ${r.body.error ?? r.body.status}`).join(', '));
      for (const r of results) assert.ok(r.status < 500, r.text);
      // And passkey-first: 100 parallel over one challenge.
      const options = await api(h, client, 'POST', '/auth/passkey/options', { tenant: 'passkeys' });
      const first = Array.from({ length: 100 }, () => u.credential.assert(challengeOfOptions(options.body)));
      const firstResults = await Promise.all(first.map((credential) => api(h, client, 'POST', '/auth/passkey', { tenant: 'passkeys', credential })));
      assert.equal(firstResults.filter((r) => r.status === 200 && r.body.status === 'authenticated').length, 1);
      for (const r of firstResults) assert.ok(r.status < 500, r.text);
    });
  });
});
