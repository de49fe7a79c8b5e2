/**
 * SECURITY: "every sign-in path under `enrollment: required` reaches no session without MFA", with the peers'
 * flaws as cases (a pending or "skipped" state never satisfies `required`: Logto #6892, authentik #2330; recovery
 * codes alone are no enrollment; a first-party application is always walled). Over `inject`, on SQLite and
 * PostgreSQL: sign-in, status/check, verify with every wrong method, enrollment confirm with wrong codes, a
 * break-glass recovery code — none answers `authenticated` or `verified: true`, none opens a login session or
 * records a successful sign-in, a last-MFA time or a trusted device (or known network). Step-up acts only on a login
 * session (`X-Portcullis-Session`), which such a user can never hold: without one it is refused. "Every sign-in path" is held to the routes there are: every application route
 * of the OpenAPI document must be driven here or be listed as issuing no session (a new route fails until it is).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashRecoveryCode } from '../../src/factors/recovery-codes.ts';
import type { TenantRecord } from '../../src/store/index.ts';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { challengeOfOptions, SoftCredential } from '../support/soft-authenticator.ts';
import {
  api,
  createAuthHarness,
  createClient,
  createTenant,
  createUser,
  enrollTotpViaSignin,
  expectError,
  expectStatus,
  PASSWORD,
  savePolicy,
  totpAt,
  wrongTotpAt,
  type ApiResult,
  type TestClient,
} from './auth-support.ts';

const CONTEXT = { ip: '192.0.2.10', deviceId: 'device-1', userAgent: 'walls' };

/** The application routes this file drives under `enrollment: required` (each can end a sign-in or a challenge). */
const DRIVEN_HERE = [
  'POST /auth/signin',
  'POST /auth/mfa/status/check',
  'POST /auth/mfa/verify',
  'POST /auth/mfa/step-up',
  'POST /auth/mfa/enroll/totp',
  'POST /auth/mfa/enroll/totp/confirm',
  'POST /auth/mfa/enroll/webauthn',
  'POST /auth/mfa/enroll/webauthn/confirm',
  'POST /auth/passkey',
];
/** Application routes that issue no session and verify no factor, with the reason; anything else must be driven here. */
const NO_SESSION: Record<string, string> = {
  'GET /auth/factors': 'reads the factor list',
  'GET /auth/mfa/status': 'reads the factor list (alias of GET /auth/factors)',
  'POST /auth/mfa/enrollment': 'opens a voluntary enrollment session; its confirm answers `enrolled`, not a sign-in (auth-voluntary-enrollment test)',
  'POST /auth/mfa/recovery-codes': 'regenerates codes after a recent MFA',
  'DELETE /auth/mfa/factors/{factorId}': 'removes a factor after a recent MFA',
  'GET /auth/sessions': "lists the signed-in user's sessions; needs an existing session",
  'DELETE /auth/sessions/{sessionId}': "revokes one of the signed-in user's sessions; needs an existing session",
  'POST /auth/sessions/introspect': 'reports whether an existing session is live; issues none',
  'GET /auth/devices': "lists the signed-in user's remembered devices; needs an existing session",
  'DELETE /auth/devices/{deviceId}': "forgets one of the signed-in user's remembered devices; needs an existing session",
  'POST /auth/mfa/challenge': 'prepares a challenge (passkey options) for a method the MFA session offers; verifies nothing',
  'POST /auth/passkey/options': 'issues a passkey-first challenge; verifies nothing',
};
const METHODS = ['totp', 'recovery_codes', 'webauthn', 'email_otp', 'sms_otp', 'push', 'custom'];

/** Nothing in the answer may read as a completed sign-in. */
function assertNoSession(res: ApiResult, what: string): void {
  assert.notEqual(res.body?.status, 'authenticated', `${what}: ${res.text.slice(0, 300)}`);
  assert.notEqual(res.body?.verified, true, `${what}: verified must not be true — ${res.text.slice(0, 300)}`);
  assert.notEqual(res.body?.mfaRequired, false, `${what}: mfaRequired must not be false`);
  if (res.status === 200 && res.body?.amr !== undefined) assert.fail(`${what}: an amr without a session`);
}

forEachDialect((dialect) => {
  let h: Harness;
  let client: TestClient;
  let portal: TestClient;
  let tenant: TenantRecord;

  before(async () => {
    h = await createAuthHarness(dialect);
    client = await createClient(h, 'bank');
    portal = await createClient(h, 'portal', { firstParty: true });
    tenant = await createTenant(h, 'walled', { enrollment: 'required', gracePeriodDays: 0 });
  });
  after(() => h.close());

  /** The user never got a session: no successful sign-in, no last MFA, no trusted device. */
  const assertNeverSignedIn = async (tenantId: string, userId: string): Promise<void> => {
    const user = await h.store.forTenant(tenantId).users.get(userId);
    assert.equal(user?.lastMfaAt, null, 'no last-MFA time');
    const history = await h.store.forTenant(tenantId).signins.listRecent(userId, 1000);
    assert.deepEqual(history.filter((s) => s.outcome === 'succeeded'), [], 'no successful sign-in recorded');
    const devices = await h.database.db.selectFrom('trusted_devices').select('device_id').where('user_id', '=', userId).execute();
    assert.deepEqual(devices, [], 'no trusted device, no known network');
    const sessions = await h.database.db.selectFrom('login_sessions').select('id').where('user_id', '=', userId).execute();
    assert.deepEqual(sessions, [], 'no login session');
  };

  it('every application route in the OpenAPI document is driven here or documented above as issuing no session', async () => {
    const doc = JSON.parse((await h.app.inject({ method: 'GET', url: '/api/openapi.json' })).body) as { paths: Record<string, Record<string, { security?: Record<string, unknown>[] }>> };
    const application = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([, op]) => (op.security ?? []).some((s) => 'clientCredentials' in s))
        .map(([method]) => `${method.toUpperCase()} ${path.replace(/^\/api\/v1/, '')}`),
    );
    const unaccounted = application.filter((route) => !DRIVEN_HERE.includes(route) && NO_SESSION[route] === undefined);
    assert.deepEqual(unaccounted, [], 'a new application route: show in this file that under enrollment: required it reaches no session without MFA (and add it to DRIVEN_HERE), or list it in NO_SESSION with the reason');
    for (const route of DRIVEN_HERE) assert.ok(application.includes(route), `${route} is still a route`);
  });

  describe('a user without a factor', () => {
    it('sign-in, status/check (by id and external id) and step-up all wall; verify refuses every method', async () => {
      const user = await createUser(h, tenant.id, 'none@example.com', { externalId: 'ext-none' });
      const signin = await api(h, client, 'POST', '/auth/signin', { tenant: 'walled', identifier: 'none@example.com', password: PASSWORD, context: CONTEXT });
      expectStatus(signin, 200);
      assert.equal(signin.body.status, 'enrollment_required');
      assertNoSession(signin, 'signin');

      for (const ref of [{ userId: user.id }, { externalId: 'ext-none' }]) {
        const check = await api(h, client, 'POST', '/auth/mfa/status/check', { tenant: 'walled', ...ref, context: CONTEXT });
        expectStatus(check, 200);
        assert.equal(check.body.mfaRequired, true);
        assert.equal(check.body.enrollmentRequired, true);
        assertNoSession(check, 'status/check');
      }

      // Whatever method and code are sent in the wall session, nothing verifies: no method is on offer.
      for (const method of METHODS) {
        const res = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: signin.body.mfaSessionId, method, code: '123456' });
        expectError(res, 400, 'MFA_METHOD_NOT_ALLOWED', method);
        assertNoSession(res, `verify ${method}`);
      }
      // Step-up acts on a login session, which this user cannot hold: without one (or with an invented one) it is
      // refused before any decision, and answers nothing that reads as a session.
      const stepUp = await api(h, client, 'POST', '/auth/mfa/step-up', { tenant: 'walled', userId: user.id, action: 'payment', context: CONTEXT });
      expectError(stepUp, 400, 'SESSION_REQUIRED');
      assertNoSession(stepUp, 'step-up without a session');
      const invented = await api(h, client, 'POST', '/auth/mfa/step-up', { tenant: 'walled', userId: user.id, action: 'payment', context: CONTEXT }, { 'x-portcullis-session': `ses_${tenant.id}.${'A'.repeat(43)}` });
      expectError(invented, 404, 'SESSION_NOT_FOUND');
      assertNoSession(invented, 'step-up with an invented session');
      await assertNeverSignedIn(tenant.id, user.id);
    });

    it('enrollment confirm with wrong, replayed, foreign or malformed codes never completes the sign-in', async () => {
      const user = await createUser(h, tenant.id, 'confirm@example.com');
      await createUser(h, tenant.id, 'neighbour@example.com');
      const neighbour = await enrollTotpViaSignin(h, client, 'walled', 'neighbour@example.com', CONTEXT);
      const signin = await api(h, client, 'POST', '/auth/signin', { tenant: 'walled', identifier: 'confirm@example.com', password: PASSWORD, context: CONTEXT });
      const begun = await api(h, client, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: signin.body.mfaSessionId });
      expectStatus(begun, 200);
      const now = h.clock.now();
      const codes = [wrongTotpAt(begun.body.secret, now), totpAt(neighbour.secret, now), '12345', '1234567', '١٢٣٤٥٦', neighbour.recoveryCodes[0] ?? ''];
      for (const code of codes) {
        const res = await api(h, client, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: signin.body.mfaSessionId, factorId: begun.body.factorId, code });
        // Refused as a wrong code (400), or once the attempts are spent, rate limited (429).
        assert.ok((res.status === 400 && res.body?.error === 'MFA_CODE_INVALID') || (res.status === 429 && res.body?.error === 'RATE_LIMITED'), `confirm ${JSON.stringify(code)}: ${res.text}`);
        assertNoSession(res, `confirm ${JSON.stringify(code)}`);
      }
      // Confirming the neighbour's factor (active, another user) in this session is not possible either.
      const foreign = await api(h, client, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: signin.body.mfaSessionId, factorId: neighbour.factorId, code: totpAt(neighbour.secret, now + 30_000) });
      expectError(foreign, 404, 'FACTOR_NOT_FOUND');
      assert.equal((await h.store.forTenant(tenant.id).factors.get(begun.body.factorId))?.status, 'pending');
      await assertNeverSignedIn(tenant.id, user.id);
    });

    it('passkey registration with forged or foreign credentials, and passkey-first with an unregistered passkey, never complete the sign-in', async () => {
      const user = await createUser(h, tenant.id, 'passkey-forger@example.com');
      const signin = await api(h, client, 'POST', '/auth/signin', { tenant: 'walled', identifier: 'passkey-forger@example.com', password: PASSWORD, context: CONTEXT });
      const begun = await api(h, client, 'POST', '/auth/mfa/enroll/webauthn', { mfaSessionId: signin.body.mfaSessionId });
      expectStatus(begun, 200);
      const credential = new SoftCredential({ seed: `walled-${h.dialect}`, rpId: 'localhost', origin: 'http://localhost', userHandle: user.id });
      const challenge = challengeOfOptions(begun.body);
      const forgeries = [
        credential.register(challenge, { origin: 'https://evil.example' }),
        credential.register(challenge, { rpId: 'evil.example' }),
        credential.register(challenge, { userVerified: false }),
        credential.register(Buffer.from('a challenge never issued here!!!').toString('base64url')),
      ];
      for (const forged of forgeries) {
        const res = await api(h, client, 'POST', '/auth/mfa/enroll/webauthn/confirm', { mfaSessionId: signin.body.mfaSessionId, credential: forged });
        expectError(res, 400, 'MFA_CODE_INVALID');
        assertNoSession(res, 'forged passkey registration');
      }
      // A passkey never registered cannot sign in first either.
      const options = await api(h, client, 'POST', '/auth/passkey/options', { tenant: 'walled' });
      const first = await api(h, client, 'POST', '/auth/passkey', { tenant: 'walled', credential: credential.assert(challengeOfOptions(options.body)), context: CONTEXT });
      expectError(first, 401, 'INVALID_CREDENTIALS');
      assertNoSession(first, 'passkey-first with an unregistered passkey');
      assert.equal((await h.store.forTenant(tenant.id).factors.listForUser(user.id)).length, 0);
      await assertNeverSignedIn(tenant.id, user.id);
    });

    it('a pending factor never counts, begun or left to expire', async () => {
      const user = await createUser(h, tenant.id, 'pending@example.com');
      const first = await api(h, client, 'POST', '/auth/signin', { tenant: 'walled', identifier: 'pending@example.com', password: PASSWORD, context: CONTEXT });
      const begun = await api(h, client, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: first.body.mfaSessionId });
      expectStatus(begun, 200);
      for (const advance of [0, 11 * 60_000]) {
        h.clock.advance(advance);
        const again = await api(h, client, 'POST', '/auth/signin', { tenant: 'walled', identifier: 'pending@example.com', password: PASSWORD, context: CONTEXT });
        assert.equal(again.body.status, 'enrollment_required');
        assertNoSession(again, `sign-in with a pending factor (+${advance} ms)`);
        const check = await api(h, client, 'POST', '/auth/mfa/status/check', { tenant: 'walled', userId: user.id, context: CONTEXT });
        assert.equal(check.body.enrollmentRequired, true);
        // The pending factor's code is no proof in a sign-in session: nothing offers it.
        const v = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: again.body.mfaSessionId, method: 'totp', code: totpAt(begun.body.secret, h.clock.now()) });
        expectError(v, 400, 'MFA_METHOD_NOT_ALLOWED');
      }
      // Past its 10 minutes the pending factor cannot be confirmed any more.
      const late = await api(h, client, 'POST', '/auth/signin', { tenant: 'walled', identifier: 'pending@example.com', password: PASSWORD, context: CONTEXT });
      const stale = await api(h, client, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: late.body.mfaSessionId, factorId: begun.body.factorId, code: totpAt(begun.body.secret, h.clock.now()) });
      assert.ok(stale.status >= 400 && stale.status < 500, stale.text);
      assertNoSession(stale, 'confirm of an expired pending factor');
      assert.notEqual((await h.store.forTenant(tenant.id).factors.get(begun.body.factorId))?.status, 'active');
      await assertNeverSignedIn(tenant.id, user.id);
    });

    it('recovery codes alone are no enrollment: the code answers the challenge, then the wall stands', async () => {
      const user = await createUser(h, tenant.id, 'codes-only@example.com');
      const t = h.store.forTenant(tenant.id);
      const factor = await t.factors.create({ userId: user.id, type: 'recovery_codes', status: 'active', label: 'Recovery codes', now: h.clock.now() });
      const code = 'abcd-efgh-jkmn-pqrs';
      await t.recoveryCodes.replaceBatch(user.id, factor.id, [await hashRecoveryCode(code)]);

      const signin = await api(h, client, 'POST', '/auth/signin', { tenant: 'walled', identifier: 'codes-only@example.com', password: PASSWORD, context: CONTEXT });
      expectStatus(signin, 200);
      assert.equal(signin.body.status, 'enrollment_required');
      assertNoSession(signin, 'sign-in with recovery codes only');
      for (const method of METHODS) {
        const res = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: signin.body.mfaSessionId, method, code: method === 'recovery_codes' ? code : '123456' });
        assert.ok(res.status === 200 || (res.status >= 400 && res.status < 500), res.text);
        assertNoSession(res, `verify ${method} for a recovery-codes-only user`);
        if (res.status === 200) assert.equal(res.body.status, 'enrollment_required');
      }
      await assertNeverSignedIn(tenant.id, user.id);
    });

    it('a first-party application walls even where the tenant makes MFA optional (floor)', async () => {
      // The tenant allows no grace (a grace window the tenant chose would let the user in, by design).
      const relaxed = await createTenant(h, 'relaxed', { enrollment: 'optional', challenge: 'never', gracePeriodDays: 0 });
      const user = await createUser(h, relaxed.id, 'admin@example.com');
      const viaApp = await api(h, client, 'POST', '/auth/signin', { tenant: 'relaxed', identifier: 'admin@example.com', password: PASSWORD, context: CONTEXT });
      assert.equal(viaApp.body.status, 'authenticated', 'the control: optional, challenge never, a plain application');
      const viaPortal = await api(h, portal, 'POST', '/auth/signin', { tenant: 'relaxed', identifier: 'admin@example.com', password: PASSWORD, context: CONTEXT });
      expectStatus(viaPortal, 200);
      assert.equal(viaPortal.body.status, 'enrollment_required');
      assertNoSession(viaPortal, 'first-party sign-in');
      const check = await api(h, portal, 'POST', '/auth/mfa/status/check', { tenant: 'relaxed', userId: user.id, context: CONTEXT });
      assert.equal(check.body.enrollmentRequired, true);
      assert.ok(check.body.decision.reasons.some((r: { code: string; source: string }) => r.code === 'enrollment_required' && r.source === 'floor "first-party"'), JSON.stringify(check.body.decision.reasons));
      const history = await h.store.forTenant(relaxed.id).signins.listRecent(user.id, 100);
      assert.equal(history.filter((s) => s.outcome === 'succeeded' && s.applicationId === portal.application.id).length, 0, 'no portal session');
    });
  });

  describe('a user with a factor', () => {
    it('a wrong method or a wrong code leaves the challenge open; only the right code completes it', async () => {
      await savePolicy(h, tenant.id, { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
      await createUser(h, tenant.id, 'holder@example.com');
      const enrolled = await enrollTotpViaSignin(h, client, 'walled', 'holder@example.com', CONTEXT);
      h.clock.advance(30_000);
      const signin = await api(h, client, 'POST', '/auth/signin', { tenant: 'walled', identifier: 'holder@example.com', password: PASSWORD, context: CONTEXT });
      assert.equal(signin.body.status, 'mfa_required');
      assertNoSession(signin, 'challenged sign-in');
      for (const method of METHODS.filter((m) => m !== 'totp' && m !== 'recovery_codes')) {
        const res = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: signin.body.mfaSessionId, method, code: totpAt(enrolled.secret, h.clock.now()) });
        expectError(res, 400, 'MFA_METHOD_NOT_ALLOWED', method);
      }
      const wrong = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: signin.body.mfaSessionId, method: 'totp', code: wrongTotpAt(enrolled.secret, h.clock.now()) });
      expectError(wrong, 400, 'MFA_CODE_INVALID');
      assertNoSession(wrong, 'wrong code');
      // The right code given as the wrong method is not accepted either.
      const crossed = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: signin.body.mfaSessionId, method: 'recovery_codes', code: totpAt(enrolled.secret, h.clock.now()) });
      expectError(crossed, 400, 'MFA_CODE_INVALID');
      const right = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: signin.body.mfaSessionId, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) });
      expectStatus(right, 200);
      assert.equal(right.body.verified, true);
    });

    it('a break-glass recovery code (totp_webauthn) answers the challenge but meets the wall: verified is not true', async () => {
      await createUser(h, tenant.id, 'breakglass@example.com');
      const enrolled = await enrollTotpViaSignin(h, client, 'walled', 'breakglass@example.com', CONTEXT);
      await savePolicy(h, tenant.id, { enrollment: 'required', gracePeriodDays: 0, challenge: 'always', acceptableFactors: 'totp_webauthn' });
      const signin = await api(h, client, 'POST', '/auth/signin', { tenant: 'walled', identifier: 'breakglass@example.com', password: PASSWORD, context: CONTEXT });
      assert.equal(signin.body.status, 'mfa_required');
      assert.equal(signin.body.recovery, true);
      assert.ok(!signin.body.methods.includes('recovery_codes'));
      const res = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: signin.body.mfaSessionId, method: 'recovery_codes', code: enrolled.recoveryCodes[0] });
      expectStatus(res, 200);
      assert.equal(res.body.status, 'enrollment_required');
      assert.equal(res.body.mfaSessionId, signin.body.mfaSessionId);
      assertNoSession(res, 'break-glass recovery code');
      const audit = await h.store.forTenant(tenant.id).audit.list({ events: ['mfa.recovery_code_used'], userId: enrolled.userId });
      assert.equal(audit.items.length, 1, 'break-glass use is audited');
      await savePolicy(h, tenant.id, { enrollment: 'required', gracePeriodDays: 0 });
    });
  });
});
