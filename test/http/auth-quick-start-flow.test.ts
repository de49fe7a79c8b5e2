/**
 * The application API end to end over `inject`, on SQLite and PostgreSQL: the README quick-start flow
 * (password → enrollment wall → TOTP with otpauth URI and SVG → confirm → recovery codes shown once → next sign-in
 * challenged → verify), the status/check answer, a policy change applied to the very next request, step-up in
 * ZewstID's two shapes, the risk block, and the refusal to remove the last acceptable factor.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { forEachDialect, type Harness } from '../support/harness.ts';
import {
  api,
  auditOf,
  basicAuthorization,
  countEvents,
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
  type Enrolled,
  type TestClient,
} from './auth-support.ts';

const CONTEXT = { ip: '192.0.2.10', deviceId: 'laptop-1', userAgent: 'quick-start' };

/** The end user's login session token: `ses_<tenantId>.<43 base64url>`. */
const sessionTokenPattern = (tenantId: string): RegExp => new RegExp(`^ses_${tenantId}\\.[A-Za-z0-9_-]{43}$`);

/** Calls a session-bound route: the client's Basic credentials plus the end user's session in X-Portcullis-Session. */
async function withSession(h: Harness, who: TestClient, session: string, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<ApiResult> {
  const res = await h.app.inject({
    method,
    url: `/api/v1${path}`,
    headers: { authorization: who.authorization, 'x-portcullis-session': session, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.body);
  } catch {
    parsed = res.body;
  }
  return { status: res.statusCode, body: parsed, text: res.body, headers: res.headers };
}

/**
 * As `enrollTotpViaSignin` (sign-in walled, TOTP begun and confirmed in that MFA session), also returning the login
 * session the confirmation opened: the session-bound routes (step-up, recovery codes, factor removal) need it.
 */
async function enrollWithSession(h: Harness, client: TestClient, tenant: string, email: string, context: Record<string, string>): Promise<Enrolled & { readonly session: string }> {
  const enrolled = await enrollTotpViaSignin(h, client, tenant, email, context);
  assert.equal(typeof enrolled.session, 'string', 'the confirmation ended authenticated, with a session');
  return { ...enrolled, session: enrolled.session as string };
}

forEachDialect((dialect) => {
  let h: Harness;
  let bank: TestClient;

  before(async () => {
    h = await createAuthHarness(dialect);
    bank = await createClient(h, 'bank');
  });
  after(() => h.close());

  describe('README quick start', () => {
    it('signs in, walls, enrolls TOTP, shows recovery codes once, then challenges and verifies', async () => {
      // Set-up through the admin API, as the README does it.
      const createdTenant = await h.call(h.platformToken, 'POST', '/tenants', { slug: 'acme', name: 'Acme' });
      assert.equal(createdTenant.status, 201, `POST /tenants: ${JSON.stringify(createdTenant.body)}`);
      const tenant = { id: createdTenant.body.id as string };
      const createdApp = await h.call(h.platformToken, 'POST', '/applications', { name: 'Acme Bank', allTenants: true });
      assert.equal(createdApp.status, 201, `POST /applications: ${JSON.stringify(createdApp.body)}`);
      const readme: TestClient = { application: createdApp.body, clientId: createdApp.body.clientId, secret: createdApp.body.clientSecret, authorization: basicAuthorization(createdApp.body.clientId, createdApp.body.clientSecret) };
      const policy = await h.call(h.platformToken, 'PUT', `/tenants/${tenant.id}/policy`, { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
      assert.equal(policy.status, 200, JSON.stringify(policy.body));
      assert.equal(policy.body.version, 1);
      const createdUser = await h.call(h.platformToken, 'POST', `/tenants/${tenant.id}/users`, { email: 'ada@example.com', password: PASSWORD });
      assert.equal(createdUser.status, 201, `POST /users: ${JSON.stringify(createdUser.body)}`);
      const user = { id: createdUser.body.id as string };
      const context = { deviceId: 'laptop-1' };
      const later: ApiResult[] = [];

      const wrong = await api(h, readme, 'POST', '/auth/signin', { tenant: 'acme', identifier: 'ada@example.com', password: 'not the password', context });
      expectError(wrong, 401, 'INVALID_CREDENTIALS');
      const unknown = await api(h, readme, 'POST', '/auth/signin', { tenant: 'acme', identifier: 'nobody@example.com', password: PASSWORD, context });
      expectError(unknown, 401, 'INVALID_CREDENTIALS');
      assert.equal(unknown.body.message, wrong.body.message, 'unknown user and wrong password answer alike');

      // 1. Password accepted; the policy requires MFA and the user holds no factor: the enrollment wall.
      const first = await api(h, readme, 'POST', '/auth/signin', { tenant: 'acme', identifier: 'ada@example.com', password: PASSWORD, context });
      expectStatus(first, 200);
      assert.equal(first.body.status, 'enrollment_required');
      assert.equal(first.body.userId, user.id);
      assert.match(first.body.mfaSessionId, /^mfa_/);
      assert.deepEqual(first.body.methods, []);
      assert.deepEqual(first.body.enrollOptions, ['webauthn', 'totp']);
      assert.equal(first.body.errorCode, 'MFA_REQUIRED_NO_FACTOR');
      assert.deepEqual(first.body.decision.reasons.map((r: { detail: string }) => r.detail), ['enrollment=required and the user lacks an acceptable factor (no grace period)']);
      assert.equal(first.body.expiresIn, 300);
      assert.equal(first.body.amr, undefined);
      assert.equal(first.body.decision.outcome, 'enroll');
      assert.deepEqual(first.body.decision.policyVersions, [{ level: 'tenant', name: 'Acme', version: 1 }]);

      // 2. Begin TOTP: a pending factor, its otpauth:// URI and a QR code as SVG.
      const begun = await api(h, readme, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: first.body.mfaSessionId });
      expectStatus(begun, 200);
      assert.match(begun.body.secret, /^[A-Z2-7]{32}$/);
      const uri = new URL(begun.body.otpauthUri);
      assert.equal(uri.protocol, 'otpauth:');
      assert.equal(uri.host, 'totp');
      assert.equal(decodeURIComponent(uri.pathname), '/Acme Bank:ada@example.com');
      assert.equal(uri.searchParams.get('secret'), begun.body.secret);
      assert.equal(uri.searchParams.get('issuer'), 'Acme Bank');
      assert.match(begun.body.qrSvg, /^<svg[\s\S]*<\/svg>\s*$/);
      const pending = await h.store.forTenant(tenant.id).factors.get(begun.body.factorId);
      assert.equal(pending?.status, 'pending');
      assert.notEqual(pending?.secretEnc, null);
      assert.ok(!String(pending?.secretEnc).includes(begun.body.secret), 'the secret is stored encrypted');

      // A pending factor never counts: the wall stands for a sign-in made meanwhile.
      const meanwhile = await api(h, readme, 'POST', '/auth/mfa/status/check', { tenant: 'acme', userId: user.id, context });
      assert.equal(meanwhile.body.enrollmentRequired, true);

      // 3. Confirm: a wrong first code is refused, the right one activates the factor and ends the sign-in.
      const badConfirm = await api(h, readme, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: first.body.mfaSessionId, factorId: begun.body.factorId, code: wrongTotpAt(begun.body.secret, h.clock.now()) });
      expectError(badConfirm, 400, 'MFA_CODE_INVALID');
      const confirmed = await api(h, readme, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: first.body.mfaSessionId, factorId: begun.body.factorId, code: totpAt(begun.body.secret, h.clock.now()) });
      expectStatus(confirmed, 200);
      assert.equal(confirmed.body.status, 'authenticated');
      assert.equal(confirmed.body.userId, user.id);
      assert.deepEqual(confirmed.body.amr, ['pwd', 'otp', 'mfa']);
      assert.equal(confirmed.body.acr, 'urn:portcullis:acr:mfa');
      assert.match(confirmed.body.session.token, sessionTokenPattern(tenant.id));
      assert.equal(confirmed.body.factorId, begun.body.factorId);
      const codes: string[] = confirmed.body.recoveryCodes;
      assert.equal(codes.length, 10);
      assert.equal(new Set(codes).size, 10);
      for (const c of codes) assert.match(c, /^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$/);
      const secrets = [begun.body.secret, ...codes];

      // The session is spent: no second confirm, no second batch of codes.
      later.push(await api(h, readme, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: first.body.mfaSessionId, factorId: begun.body.factorId, code: totpAt(begun.body.secret, h.clock.now()) }));
      expectError(later.at(-1) as ApiResult, 409, 'MFA_SESSION_USED');

      const status = await api(h, readme, 'GET', `/auth/mfa/status?tenant=acme&userId=${user.id}`);
      later.push(status);
      expectStatus(status, 200);
      assert.equal(status.body.mfaEnabled, true);
      assert.deepEqual(status.body.factors.map((f: { type: string }) => f.type).sort(), ['recovery_codes', 'totp']);
      assert.equal(status.body.recoveryCodesRemaining, 10);

      // 4. The next sign-in is challenged (challenge: always) and the code is accepted once.
      h.clock.advance(30_000);
      const second = await api(h, readme, 'POST', '/auth/signin', { tenant: 'acme', identifier: 'ada@example.com', password: PASSWORD, context });
      later.push(second);
      expectStatus(second, 200);
      assert.equal(second.body.status, 'mfa_required');
      assert.deepEqual(second.body.methods, ['totp', 'recovery_codes']);
      assert.equal(second.body.decision.outcome, 'challenge');
      assert.ok(second.body.decision.reasons.some((r: { code: string }) => r.code === 'challenge_always'));
      const miss = await api(h, readme, 'POST', '/auth/mfa/verify', { mfaSessionId: second.body.mfaSessionId, method: 'totp', code: wrongTotpAt(begun.body.secret, h.clock.now()) });
      later.push(miss);
      expectError(miss, 400, 'MFA_CODE_INVALID');
      assert.equal(miss.body.attemptsRemaining, 9);
      const code = totpAt(begun.body.secret, h.clock.now());
      const verified = await api(h, readme, 'POST', '/auth/mfa/verify', { mfaSessionId: second.body.mfaSessionId, method: 'totp', code });
      later.push(verified);
      expectStatus(verified, 200);
      assert.equal(verified.body.status, 'authenticated');
      assert.equal(verified.body.verified, true);
      assert.equal(verified.body.userId, user.id);
      assert.deepEqual(verified.body.amr, ['pwd', 'otp', 'mfa']);
      assert.equal(verified.body.acr, 'urn:portcullis:acr:mfa');
      assert.match(verified.body.session.token, sessionTokenPattern(tenant.id));
      assert.notEqual(verified.body.session.token, confirmed.body.session.token, 'each sign-in opens its own session');
      assert.deepEqual(verified.body.session.amr, ['pwd', 'otp', 'mfa']);
      assert.match(verified.body.result, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'a signed result (JWT)');
      later.push(await api(h, readme, 'POST', '/auth/mfa/verify', { mfaSessionId: second.body.mfaSessionId, method: 'totp', code }));
      expectError(later.at(-1) as ApiResult, 409, 'MFA_SESSION_USED');

      // The same code in a fresh session is a replay.
      const third = await api(h, readme, 'POST', '/auth/signin', { tenant: 'acme', identifier: 'ada@example.com', password: PASSWORD, context });
      later.push(third);
      later.push(await api(h, readme, 'POST', '/auth/mfa/verify', { mfaSessionId: third.body.mfaSessionId, method: 'totp', code }));
      expectError(later.at(-1) as ApiResult, 400, 'MFA_CODE_INVALID');

      // 5. A recovery code works once; the answer says how many remain (a warning only at two or fewer).
      const withCode = await api(h, readme, 'POST', '/auth/mfa/verify', { mfaSessionId: third.body.mfaSessionId, method: 'recovery_codes', code: (codes[0] ?? '').toUpperCase() });
      later.push(withCode);
      expectStatus(withCode, 200);
      assert.equal(withCode.body.status, 'authenticated');
      assert.equal(withCode.body.verified, true);
      assert.equal(withCode.body.recoveryCodesRemaining, 9);
      assert.equal(withCode.body.warnings, undefined);
      const fourth = await api(h, readme, 'POST', '/auth/signin', { tenant: 'acme', identifier: 'ada@example.com', password: PASSWORD, context });
      later.push(fourth);
      later.push(await api(h, readme, 'POST', '/auth/mfa/verify', { mfaSessionId: fourth.body.mfaSessionId, method: 'recovery_codes', code: codes[0] }));
      expectError(later.at(-1) as ApiResult, 400, 'MFA_CODE_INVALID');
      later.push(await api(h, readme, 'GET', `/auth/mfa/status?tenant=acme&userId=${user.id}`));
      assert.equal(later.at(-1)?.body.recoveryCodesRemaining, 9);
      later.push(await api(h, readme, 'POST', '/auth/mfa/status/check', { tenant: 'acme', userId: user.id, context }));

      // Recovery codes and the TOTP secret appear in no later answer, and in no audit record.
      for (const res of later) {
        for (const s of secrets) assert.ok(!res.text.toLowerCase().includes(s.toLowerCase()), `a secret leaked into ${res.text.slice(0, 200)}`);
      }
      const audit = await auditOf(h, tenant.id);
      const auditText = JSON.stringify(audit).toLowerCase();
      for (const s of [...secrets, PASSWORD, code, first.body.mfaSessionId, second.body.mfaSessionId, readme.secret, confirmed.body.session.token, verified.body.session.token, withCode.body.session.token]) {
        assert.ok(!auditText.includes(s.toLowerCase()), 'no secret in audit');
      }
      const counts = countEvents(audit);
      assert.equal(counts['mfa.factor_enrolled'], 1);
      assert.equal(counts['mfa.backup_codes_regenerated'], 1);
      assert.equal(counts['mfa.recovery_code_used'], 1);
      assert.ok((counts['user.mfa_succeeded'] ?? 0) >= 2);
      assert.ok((counts['user.mfa_failed'] ?? 0) >= 3);
      assert.ok((counts['mfa.decision'] ?? 0) >= 6);
      const recent = await h.call(h.platformToken, 'GET', `/tenants/${tenant.id}/audit?limit=3`);
      assert.equal(recent.status, 200);
      assert.equal(recent.body.items.length, 3);
    });
  });

  describe('status/check', () => {
    it('answers with every field, and a policy change applies to the very next request (no cache)', async () => {
      const tenant = await createTenant(h, 'globex', { enrollment: 'required', gracePeriodDays: 7 });
      const user = await createUser(h, tenant.id, 'grace@example.com', { externalId: 'ext-42' });

      const inGrace = await api(h, bank, 'POST', '/auth/mfa/status/check', { tenant: 'globex', externalId: 'ext-42', context: CONTEXT });
      expectStatus(inGrace, 200);
      // The envelope (authenticated: with its session and signed result) and ZewstID's aliases.
      assert.deepEqual(Object.keys(inGrace.body).sort(), ['acr', 'amr', 'decision', 'enrollOptions', 'enrollmentRequired', 'errorCode', 'grace', 'methods', 'mfaRequired', 'mfaSessionId', 'recovery', 'result', 'riskScore', 'session', 'status', 'userId']);
      assert.equal(inGrace.body.status, 'authenticated');
      assert.equal(inGrace.body.userId, user.id);
      assert.match(inGrace.body.session.token, sessionTokenPattern(tenant.id));
      assert.equal(inGrace.body.mfaRequired, false);
      assert.equal(inGrace.body.mfaSessionId, null);
      assert.deepEqual(inGrace.body.methods, []);
      assert.equal(inGrace.body.enrollmentRequired, false);
      assert.deepEqual(inGrace.body.grace, { active: true, endsAt: new Date(h.clock.now() + 7 * 86_400_000).toISOString() });
      assert.equal(typeof inGrace.body.riskScore, 'number');
      assert.equal(inGrace.body.decision.outcome, 'allow');
      assert.ok(Array.isArray(inGrace.body.decision.reasons) && inGrace.body.decision.reasons.length > 0);
      for (const r of inGrace.body.decision.reasons) assert.deepEqual(Object.keys(r).sort(), ['code', 'detail', 'source']);
      assert.deepEqual(inGrace.body.decision.policyVersions, [{ level: 'tenant', name: 'Globex', version: 1 }]);

      // The grace boundary, with the injected clock: the second before the end, and the second after.
      const endsAt = Date.parse(inGrace.body.grace.endsAt);
      h.clock.set(endsAt - 1_000);
      const lastSecond = await api(h, bank, 'POST', '/auth/mfa/status/check', { tenant: 'globex', userId: user.id, context: CONTEXT });
      assert.equal(lastSecond.body.mfaRequired, false);
      assert.equal(lastSecond.body.grace.active, true);
      h.clock.set(endsAt + 1_000);
      const expired = await api(h, bank, 'POST', '/auth/mfa/status/check', { tenant: 'globex', userId: user.id, context: CONTEXT });
      assert.equal(expired.body.mfaRequired, true);
      assert.equal(expired.body.enrollmentRequired, true);
      assert.equal(expired.body.decision.errorCode, 'MFA_GRACE_EXPIRED');

      // The tenant lengthens the grace period: the very next request is inside it again, with the new version named.
      assert.equal(await savePolicy(h, tenant.id, { enrollment: 'required', gracePeriodDays: 14 }), 2);
      const lengthened = await api(h, bank, 'POST', '/auth/mfa/status/check', { tenant: 'globex', userId: user.id, context: CONTEXT });
      assert.equal(lengthened.body.mfaRequired, false);
      assert.equal(lengthened.body.grace.active, true);
      assert.deepEqual(lengthened.body.decision.policyVersions, [{ level: 'tenant', name: 'Globex', version: 2 }]);

      // … and drops it: the very next request meets the wall.
      assert.equal(await savePolicy(h, tenant.id, { enrollment: 'required', gracePeriodDays: 0 }), 3);
      const walled = await api(h, bank, 'POST', '/auth/mfa/status/check', { tenant: 'globex', userId: user.id, context: CONTEXT });
      expectStatus(walled, 200);
      assert.equal(walled.body.mfaRequired, true);
      assert.match(walled.body.mfaSessionId, /^mfa_/);
      assert.equal(walled.body.enrollmentRequired, true);
      assert.ok(walled.body.enrollOptions.includes('totp'));
      assert.equal(walled.body.grace?.active ?? false, false, 'grace is over');
      assert.equal(walled.body.decision.outcome, 'enroll');
      assert.deepEqual(walled.body.decision.policyVersions, [{ level: 'tenant', name: 'Globex', version: 3 }]);

      // Enrolled and challenged under `always`; then `never` applies at once, then `always` again.
      const enrolled = await enrollTotpViaSignin(h, bank, 'globex', 'grace@example.com', CONTEXT);
      await savePolicy(h, tenant.id, { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
      const challenged = await api(h, bank, 'POST', '/auth/mfa/status/check', { tenant: 'globex', userId: enrolled.userId, context: CONTEXT });
      assert.equal(challenged.body.mfaRequired, true);
      assert.equal(challenged.body.enrollmentRequired, false);
      assert.deepEqual(challenged.body.methods, ['totp', 'recovery_codes']);
      assert.equal(challenged.body.recovery, false, 'recovery codes are routine under "any", not break-glass');
      assert.deepEqual(challenged.body.enrollOptions, []);
      assert.equal(challenged.body.decision.outcome, 'challenge');
      assert.equal(challenged.body.decision.policyVersions[0].version, 4);
      assert.ok(challenged.body.decision.reasons.some((r: { code: string; source: string }) => r.source.includes('Globex') && r.source.includes('v4')), JSON.stringify(challenged.body.decision.reasons));

      await savePolicy(h, tenant.id, { enrollment: 'required', gracePeriodDays: 0, challenge: 'never' });
      const skipped = await api(h, bank, 'POST', '/auth/mfa/status/check', { tenant: 'globex', userId: enrolled.userId, context: CONTEXT });
      assert.equal(skipped.body.mfaRequired, false);
      assert.equal(skipped.body.decision.policyVersions[0].version, 5);

      await savePolicy(h, tenant.id, { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
      const again = await api(h, bank, 'POST', '/auth/mfa/status/check', { tenant: 'globex', userId: enrolled.userId, context: CONTEXT });
      assert.equal(again.body.mfaRequired, true);
      assert.equal(again.body.decision.policyVersions[0].version, 6);

      // A version announced for later is not in force yet.
      const now = h.clock.now();
      await h.store.forTenant(tenant.id).policies.saveVersion({ level: 'tenant' }, { layer: { enrollment: 'required', gracePeriodDays: 0, challenge: 'never' }, effectiveAt: now + 60_000, createdBy: 'test', now });
      const before = await api(h, bank, 'POST', '/auth/mfa/status/check', { tenant: 'globex', userId: enrolled.userId, context: CONTEXT });
      assert.equal(before.body.mfaRequired, true);
      h.clock.advance(60_000);
      const afterwards = await api(h, bank, 'POST', '/auth/mfa/status/check', { tenant: 'globex', userId: enrolled.userId, context: CONTEXT });
      assert.equal(afterwards.body.mfaRequired, false);
      assert.equal(afterwards.body.decision.policyVersions[0].version, 7);

      // Every decision was audited with its policy version.
      const decisions = (await auditOf(h, tenant.id)).filter((e) => e.event === 'mfa.decision');
      assert.ok(decisions.length >= 8);
      for (const d of decisions) assert.ok(Array.isArray(d.data.policyVersions) && Array.isArray(d.data.reasons));
    });
  });

  describe('step-up', () => {
    it('answers "recently completed" inside the max age, opens a bound session outside it, and verifies it', async () => {
      const tenant = await createTenant(h, 'initech', { enrollment: 'required', gracePeriodDays: 0 });
      const other = await createClient(h, 'other-app');
      await createUser(h, tenant.id, 'pay@example.com');
      const enrolled = await enrollWithSession(h, bank, 'initech', 'pay@example.com', CONTEXT);
      const stepUp = (session: string, body: Record<string, unknown>): Promise<ApiResult> => withSession(h, bank, session, 'POST', '/auth/mfa/step-up', { tenant: 'initech', userId: enrolled.userId, action: 'payment', context: CONTEXT, ...body });

      // Step-up acts for the signed-in user: it needs the session.
      expectError(await api(h, bank, 'POST', '/auth/mfa/step-up', { tenant: 'initech', userId: enrolled.userId, action: 'payment', context: CONTEXT }), 400, 'SESSION_REQUIRED');

      // Inside the max age (300 s for "payment") of the session's sign-in MFA: ZewstID's first shape.
      h.clock.advance(299_000);
      const recent = await stepUp(enrolled.session, {});
      expectStatus(recent, 200);
      assert.equal(recent.body.stepUpRequired, false);
      assert.equal(recent.body.verified, true);
      assert.equal(recent.body.reason, 'MFA was recently completed');
      assert.equal(recent.body.status, 'authenticated');
      assert.equal(recent.body.mfaSessionId, undefined);
      assert.equal(recent.body.decision.outcome, 'allow');

      // A request can only raise the requirement: max age 60 s asks again.
      const stricter = await stepUp(enrolled.session, { maxAgeSeconds: 60 });
      expectStatus(stricter, 200);
      assert.equal(stricter.body.stepUpRequired, true);

      // Outside the max age: ZewstID's second shape.
      h.clock.advance(2_000);
      const needed = await stepUp(enrolled.session, {});
      expectStatus(needed, 200);
      assert.equal(needed.body.stepUpRequired, true);
      assert.equal(needed.body.status, 'step_up_required');
      assert.equal(needed.body.action, 'payment');
      assert.match(needed.body.mfaSessionId, /^mfa_/);
      assert.deepEqual(needed.body.methods, ['totp', 'recovery_codes']);
      assert.equal(needed.body.expiresIn, 300);
      assert.equal(needed.body.enrollmentRequired, false);
      assert.equal(needed.body.decision.outcome, 'challenge');
      assert.ok(needed.body.decision.reasons.some((r: { code: string }) => r.code === 'step_up_required'));
      assert.equal(needed.body.verified, undefined);

      // The step-up session is bound to the client that opened it, and so is the login session.
      const code = totpAt(enrolled.secret, h.clock.now());
      const foreign = await api(h, other, 'POST', '/auth/mfa/verify', { mfaSessionId: needed.body.mfaSessionId, method: 'totp', code });
      expectError(foreign, 404, 'MFA_SESSION_NOT_FOUND');
      expectError(await withSession(h, other, enrolled.session, 'POST', '/auth/mfa/step-up', { action: 'payment', context: CONTEXT }), 404, 'SESSION_NOT_FOUND');

      const verified = await api(h, bank, 'POST', '/auth/mfa/verify', { mfaSessionId: needed.body.mfaSessionId, method: 'totp', code });
      expectStatus(verified, 200);
      assert.equal(verified.body.verified, true);
      assert.equal(verified.body.userId, enrolled.userId);
      assert.equal(verified.body.status, 'authenticated');
      assert.ok(verified.body.amr.includes('otp'));
      // A successful step-up rotates the session token: the old one stops working.
      const rotated: string = verified.body.session.token;
      assert.match(rotated, sessionTokenPattern(tenant.id));
      assert.notEqual(rotated, enrolled.session);
      const reused = await api(h, bank, 'POST', '/auth/mfa/verify', { mfaSessionId: needed.body.mfaSessionId, method: 'totp', code });
      expectError(reused, 409, 'MFA_SESSION_USED');
      expectError(await stepUp(enrolled.session, {}), 404, 'SESSION_NOT_FOUND');

      // The step-up granted "payment" in this session: inside the max age again.
      const after = await stepUp(rotated, {});
      expectStatus(after, 200);
      assert.equal(after.body.stepUpRequired, false);

      const counts = countEvents(await auditOf(h, tenant.id));
      assert.equal(counts['mfa.step_up_requested'], 2);
      assert.equal(counts['user.step_up_succeeded'], 1);
    });

    it('asks a user without an acceptable factor to enroll', async () => {
      const tenant = await createTenant(h, 'hooli', { enrollment: 'optional' });
      const user = await createUser(h, tenant.id, 'nofactor@example.com');
      const signin = await api(h, bank, 'POST', '/auth/signin', { tenant: 'hooli', identifier: 'nofactor@example.com', password: PASSWORD, context: CONTEXT });
      expectStatus(signin, 200);
      assert.equal(signin.body.status, 'authenticated', 'enrollment optional: the password alone signs in');
      const res = await withSession(h, bank, signin.body.session.token, 'POST', '/auth/mfa/step-up', { tenant: 'hooli', userId: user.id, action: 'delete-account', context: CONTEXT });
      expectStatus(res, 200);
      assert.equal(res.body.stepUpRequired, true);
      assert.equal(res.body.enrollmentRequired, true);
      assert.deepEqual(res.body.methods, []);
      assert.ok(res.body.enrollOptions.includes('totp'));
      // Nothing can be verified in it: there is no method to offer.
      const v = await api(h, bank, 'POST', '/auth/mfa/verify', { mfaSessionId: res.body.mfaSessionId, method: 'totp', code: '123456' });
      expectError(v, 400, 'MFA_METHOD_NOT_ALLOWED');
    });
  });

  describe('recovery codes regeneration', () => {
    it('needs a recent MFA, shows the new batch once and invalidates the old one at once', async () => {
      const tenant = await createTenant(h, 'regen', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
      await createUser(h, tenant.id, 'regen@example.com');
      const enrolled = await enrollWithSession(h, bank, 'regen', 'regen@example.com', CONTEXT);
      // It acts for the signed-in user: no session, no regeneration.
      expectError(await api(h, bank, 'POST', '/auth/mfa/recovery-codes'), 400, 'SESSION_REQUIRED');
      // The session's sign-in MFA (the enrollment) is recent.
      const regenerated = await withSession(h, bank, enrolled.session, 'POST', '/auth/mfa/recovery-codes');
      expectStatus(regenerated, 200);
      const fresh: string[] = regenerated.body.recoveryCodes;
      assert.equal(fresh.length, 10);
      assert.equal(fresh.filter((c) => enrolled.recoveryCodes.includes(c)).length, 0);
      const signin = await api(h, bank, 'POST', '/auth/signin', { tenant: 'regen', identifier: 'regen@example.com', password: PASSWORD, context: CONTEXT });
      expectError(await api(h, bank, 'POST', '/auth/mfa/verify', { mfaSessionId: signin.body.mfaSessionId, method: 'recovery_codes', code: enrolled.recoveryCodes[0] }), 400, 'MFA_CODE_INVALID');
      const ok = await api(h, bank, 'POST', '/auth/mfa/verify', { mfaSessionId: signin.body.mfaSessionId, method: 'recovery_codes', code: fresh[0] });
      expectStatus(ok, 200);
      assert.equal(ok.body.status, 'authenticated');
      for (const c of fresh) assert.ok(!ok.text.includes(c));
      const status = await api(h, bank, 'GET', `/auth/mfa/status?tenant=regen&userId=${enrolled.userId}`);
      assert.equal(status.body.recoveryCodesRemaining, 9);
      for (const c of fresh) assert.ok(!status.text.includes(c));
      h.clock.advance(301_000);
      const stale = await withSession(h, bank, enrolled.session, 'POST', '/auth/mfa/recovery-codes');
      expectError(stale, 403, 'STEP_UP_REQUIRED');
      assert.equal(stale.body.action, 'manage-mfa');
      assert.equal(countEvents(await auditOf(h, tenant.id))['mfa.backup_codes_regenerated'], 2);
    });
  });

  describe('risk block', () => {
    it('answers 403 access_denied on sign-in, status/check and step-up, opens no session and audits the block', async () => {
      const tenant = await createTenant(h, 'umbrella', { enrollment: 'optional' });
      const user = await createUser(h, tenant.id, 'risky@example.com');
      const context = { ip: '203.0.113.7', deviceId: 'never-seen' };
      // Step-up is judged on a login session: another user signs in before the tenant turns the risk block on.
      const holder = await createUser(h, tenant.id, 'holder@example.com');
      const held = await api(h, bank, 'POST', '/auth/signin', { tenant: 'umbrella', identifier: 'holder@example.com', password: PASSWORD, context });
      expectStatus(held, 200);
      assert.equal(held.body.status, 'authenticated', held.text);
      await savePolicy(h, tenant.id, { enrollment: 'optional', risk: { challengeAt: 5, blockAt: 10 } });
      const auditBefore = (await auditOf(h, tenant.id)).length;

      const signin = await api(h, bank, 'POST', '/auth/signin', { tenant: 'umbrella', identifier: 'risky@example.com', password: PASSWORD, context });
      expectStatus(signin, 403);
      assert.equal(signin.body.error, 'access_denied');
      assert.equal(signin.body.status, 'blocked');
      assert.equal(signin.body.errorCode, 'ACCESS_DENIED_RISK');
      assert.equal(typeof signin.body.message, 'string');
      assert.ok(!/score|\b\d+\b/i.test(signin.body.message), 'the score is not revealed');

      const check = await api(h, bank, 'POST', '/auth/mfa/status/check', { tenant: 'umbrella', userId: user.id, context });
      expectStatus(check, 403);
      assert.equal(check.body.error, 'access_denied');

      const stepUp = await withSession(h, bank, held.body.session.token, 'POST', '/auth/mfa/step-up', { action: 'payment', context });
      expectStatus(stepUp, 403);
      assert.equal(stepUp.body.error, 'access_denied');

      // No MFA session for anyone in the tenant, and no login session for the blocked user (the holder keeps its one).
      for (const id of [user.id, holder.id]) {
        const sessions = await h.database.db.selectFrom('mfa_sessions').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', id).executeTakeFirstOrThrow();
        assert.equal(Number(sessions.n), 0);
      }
      const logins = async (id: string): Promise<number> => Number((await h.database.db.selectFrom('login_sessions').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', id).executeTakeFirstOrThrow()).n);
      assert.equal(await logins(user.id), 0);
      assert.equal(await logins(holder.id), 1);
      const fresh = await h.store.forTenant(tenant.id).users.get(user.id);
      assert.equal(fresh?.firstSignInAt, null, 'a blocked sign-in is no first sign-in');

      const audit = (await auditOf(h, tenant.id)).slice(auditBefore);
      const counts = countEvents(audit);
      assert.equal(counts['auth.signin_blocked'], 3);
      const blocked = audit.filter((e) => e.event === 'mfa.decision');
      assert.equal(blocked.length, 3);
      assert.ok(blocked.every((e) => e.data.outcome === 'block' && typeof e.data.riskScore === 'number' && (e.data.riskScore as number) >= 10));
    });
  });

  describe('removing a factor', () => {
    it('refuses the last acceptable factor under enrollment: required (409 MFA_DISABLE_BLOCKED, audited), allows others', async () => {
      const tenant = await createTenant(h, 'stark', { enrollment: 'required', gracePeriodDays: 0 });
      await createUser(h, tenant.id, 'tony@example.com');
      const enrolled = await enrollWithSession(h, bank, 'stark', 'tony@example.com', CONTEXT);
      const path = (factorId: string): string => `/auth/mfa/factors/${factorId}`;
      const remove = (factorId: string, session = enrolled.session): Promise<ApiResult> => withSession(h, bank, session, 'DELETE', path(factorId));

      expectError(await api(h, bank, 'DELETE', path(enrolled.factorId)), 400, 'SESSION_REQUIRED');
      const blocked = await remove(enrolled.factorId);
      expectError(blocked, 409, 'MFA_DISABLE_BLOCKED');
      const still = await h.store.forTenant(tenant.id).factors.get(enrolled.factorId);
      assert.equal(still?.status, 'active');
      const audit = (await auditOf(h, tenant.id)).filter((e) => e.event === 'mfa.disable_blocked');
      assert.equal(audit.length, 1);
      assert.equal(audit[0]?.userId, enrolled.userId);
      assert.equal(audit[0]?.subject, enrolled.factorId);

      // Recovery codes are not what keeps the user enrolled: they may go.
      const factors = await h.store.forTenant(tenant.id).factors.listForUser(enrolled.userId, 'active');
      const codesFactor = factors.find((f) => f.type === 'recovery_codes');
      assert.ok(codesFactor !== undefined);
      const removed = await remove(codesFactor.id);
      expectStatus(removed, 200);
      assert.deepEqual(removed.body, { removed: true, sessionsDowngraded: 0 }, 'no session rested on the recovery codes');
      assert.equal(await h.store.forTenant(tenant.id).recoveryCodes.countRemaining(enrolled.userId), 0);

      // An unknown factor is 404; a stale MFA is a step-up first.
      expectError(await remove('00000000-0000-4000-8000-000000000000'), 404, 'FACTOR_NOT_FOUND');
      h.clock.advance(301_000);
      const stale = await remove(enrolled.factorId);
      expectError(stale, 403, 'STEP_UP_REQUIRED');
      assert.equal(stale.body.action, 'manage-mfa');

      // Under enrollment: optional the same removal is allowed (after a fresh MFA) and audited.
      await savePolicy(h, tenant.id, { enrollment: 'optional', challenge: 'always' });
      const signin = await api(h, bank, 'POST', '/auth/signin', { tenant: 'stark', identifier: 'tony@example.com', password: PASSWORD, context: CONTEXT });
      assert.equal(signin.body.status, 'mfa_required');
      const verified = await api(h, bank, 'POST', '/auth/mfa/verify', { mfaSessionId: signin.body.mfaSessionId, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) });
      expectStatus(verified, 200);
      expectStatus(await remove(enrolled.factorId, verified.body.session.token), 200);
      assert.equal(await h.store.forTenant(tenant.id).factors.get(enrolled.factorId), null);
      assert.equal(countEvents(await auditOf(h, tenant.id))['mfa.factor_removed'], 2);
    });
  });
});
