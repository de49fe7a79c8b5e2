/**
 * Fuzzing of the application API (SECURITY: "code-field fuzzing … → 4xx, never 5xx" and "schema-driven fuzzing of
 * every API body field → 4xx with a stable code, never 5xx, never a state change"), on SQLite and PostgreSQL. The
 * per-field part — every value each route's schema refuses, in every field, answered 400 `INVALID_REQUEST` naming
 * that field — is derived from the registered schemas for every route, admin and application, in
 * api-schema-fuzzing.every-declared-field-400-naming-it-no-state-change.test.ts. Here, what a schema cannot say,
 * on the application routes read from the OpenAPI document (those with client credentials and a body):
 * - a user named by neither or both of `userId` and `externalId` (every route whose body offers both) → 400
 *   `INVALID_REQUEST`; on session-bound routes (step-up) the user is optional — the session names it — so there
 *   "both" is refused (with a valid session in `X-Portcullis-Session`), and "neither" is not an error;
 * - code fields given 5 and 7 digits, Unicode digits, padded or exotic strings → 400 `MFA_CODE_INVALID` or 429
 *   `MFA_LOCKED`, never accepted;
 * - well-formed but wrong values (unknown tenant, user, MFA session, login session, factor, method, another client's
 *   session, a missing `X-Portcullis-Session` header) → the 4xx of their documented error code;
 * - whole bodies that are empty, null, arrays, scalars, invalid or deeply nested JSON, prototype-poisoning JSON,
 *   another content type, or 10 MB → 4xx with a stable code (each payload's code given); session-bound routes get a
 *   valid (but not fresh) session header, so that it is the body that is judged;
 * - after all of it: no new factor or MFA session, none completed or changed status, no recovery code spent, no
 *   last-MFA time moved, and no audit event other than failures.
 * And unknown or missing client credentials → 401 on every route, before the body is looked at.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SESSION_HEADER } from '../../src/http/routes/auth/index.ts';
import { HTTP_STATUS_BY_CODE } from '../../src/http/errors.ts';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { fuzzRequests, operationsOf, type JsonSchema, type Operation } from '../support/schema-fuzz.ts';
import {
  api,
  apiRaw,
  auditOf,
  basicAuthorization,
  createAuthHarness,
  createClient,
  createTenant,
  createUser,
  totpAt,
  expectError,
  openSessions,
  PASSWORD,
  type ApiResult,
  type Enrolled,
  type TestClient,
} from './auth-support.ts';

interface BodyRoute {
  readonly name: string;
  /** Under /api/v1, with path parameters filled in. */
  readonly path: string;
  /** A body the route's schema accepts (from the schema; `tenant` is the test tenant where there is one). */
  readonly body: () => Record<string, unknown>;
  readonly schema: JsonSchema;
  /** Acts for the signed-in user named by the `X-Portcullis-Session` header (security scheme `userSession`). */
  readonly sessionBound: boolean;
}

/** Strings a code field accepts by shape that are no valid code: the verifier must refuse each. */
const BAD_CODES = ['12345', '1234567', '١٢٣٤٥٦', '۱۲۳۴۵۶', '１２３４５６', '१२३४५६', ' 123456', '123456 ', '123456\n', '12 34 56', '+12345', '-12345', '1e5', '0x1E240', '12345６', '😀😀😀', 'x'.repeat(64), '0000-0000-0000-000', 'null', '[object Object]'];

/** The answer is `code`, with the status the error table gives it, in the common error shape. */
function expectCode(res: ApiResult, code: keyof typeof HTTP_STATUS_BY_CODE, what: string): void {
  expectError(res, HTTP_STATUS_BY_CODE[code], code, what);
}

interface Snapshot {
  readonly factors: string;
  readonly sessions: string;
  readonly users: string;
  readonly codes: number;
  readonly policies: number;
  readonly devices: number;
  readonly auditCount: number;
}

forEachDialect((dialect) => {
  let h: Harness;
  let client: TestClient;
  let other: TestClient;
  let tenantId: string;
  let enrolled: Enrolled;
  let challengeSession: string;
  let wallSession: string;
  let pendingFactorId: string;
  let wallUserId: string;
  /** The enrolled user's login session at `client` (`ses_…`), its MFA older than the step-up max age. */
  let loginSession: string;

  /** `api`, with the end user's session token in `X-Portcullis-Session` (none when `token` is null). */
  const sessionApi = async (who: TestClient, method: 'GET' | 'POST' | 'DELETE', path: string, token: string | null, body?: unknown): Promise<ApiResult> => {
    const res = await h.app.inject({
      method,
      url: `/api/v1${path}`,
      headers: { authorization: who.authorization, ...(token === null ? {} : { [SESSION_HEADER]: token }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    return { status: res.statusCode, body: res.body === '' ? null : (JSON.parse(res.body) as unknown), text: res.body, headers: res.headers };
  };
  /** `apiRaw` with the session header. */
  const sessionApiRaw = async (who: TestClient, path: string, token: string, payload: string | Buffer, contentType: string | null): Promise<ApiResult> => {
    const res = await h.app.inject({
      method: 'POST',
      url: `/api/v1${path}`,
      headers: { authorization: who.authorization, [SESSION_HEADER]: token, ...(contentType === null ? {} : { 'content-type': contentType }) },
      payload,
    });
    let body: unknown;
    try {
      body = JSON.parse(res.body) as unknown;
    } catch {
      body = null;
    }
    return { status: res.statusCode, body, text: res.body, headers: res.headers };
  };

  const snapshot = async (): Promise<Snapshot> => {
    const db = h.database.db;
    const factors = await db.selectFrom('factors').select(['id', 'user_id', 'type', 'status', 'secret_enc', 'last_step']).orderBy('id').execute();
    const sessions = await db.selectFrom('mfa_sessions').select(['id', 'status', 'completed', 'purpose', 'methods']).orderBy('id').execute();
    const users = await db.selectFrom('users').select(['id', 'last_mfa_at', 'first_sign_in_at', 'password_hash', 'grace_until']).orderBy('id').execute();
    const codes = await db.selectFrom('recovery_codes').select((eb) => eb.fn.countAll<number>().as('n')).where('used_at', 'is', null).executeTakeFirstOrThrow();
    const policies = await db.selectFrom('policy_versions').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const devices = await db.selectFrom('trusted_devices').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return {
      factors: JSON.stringify(factors),
      sessions: JSON.stringify(sessions),
      users: JSON.stringify(users),
      codes: Number(codes.n),
      policies: Number(policies.n),
      devices: Number(devices.n),
      auditCount: (await auditOf(h, tenantId)).length,
    };
  };

  const assertNoStateChange = async (before: Snapshot, what: string): Promise<void> => {
    const now = await snapshot();
    assert.equal(now.factors, before.factors, `${what}: factors changed`);
    assert.equal(now.sessions, before.sessions, `${what}: MFA sessions created, completed or changed`);
    assert.equal(now.users, before.users, `${what}: users changed`);
    assert.equal(now.codes, before.codes, `${what}: a recovery code was spent`);
    assert.equal(now.policies, before.policies, `${what}: policies changed`);
    assert.equal(now.devices, before.devices, `${what}: trusted devices changed`);
    const added = (await auditOf(h, tenantId)).slice(before.auditCount);
    const allowed = new Set(['user.mfa_failed', 'user.signin_failed']);
    const others = added.filter((e) => !allowed.has(e.event)).map((e) => e.event);
    assert.deepEqual(others, [], `${what}: audit events other than failures`);
  };

  before(async () => {
    h = await createAuthHarness(dialect);
    operations = operationsOf(JSON.parse((await h.app.inject({ method: 'GET', url: '/api/openapi.json' })).body));
    client = await createClient(h, 'fuzz-app');
    other = await createClient(h, 'other-app');
    const tenant = await createTenant(h, 'fuzz', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
    tenantId = tenant.id;
    await createUser(h, tenantId, 'enrolled@example.com', { externalId: 'ext-enrolled' });
    // Enrolled at the wall (as enrollTotpViaSignin does), keeping the login session the confirmation opened.
    const signin = await api(h, client, 'POST', '/auth/signin', { tenant: 'fuzz', identifier: 'enrolled@example.com', password: PASSWORD, context: { ip: '192.0.2.10', deviceId: 'device-1', userAgent: 'test' } });
    assert.equal(signin.body.status, 'enrollment_required', signin.text);
    const begunEnrolled = await api(h, client, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: signin.body.mfaSessionId });
    assert.equal(begunEnrolled.status, 200, begunEnrolled.text);
    const confirmed = await api(h, client, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: signin.body.mfaSessionId, factorId: begunEnrolled.body.factorId, code: totpAt(begunEnrolled.body.secret, h.clock.now()) });
    assert.equal(confirmed.status, 200, confirmed.text);
    assert.equal(confirmed.body.status, 'authenticated', confirmed.text);
    assert.match(String(confirmed.body.session?.token), /^ses_/, confirmed.text);
    loginSession = confirmed.body.session.token;
    enrolled = { userId: signin.body.userId, factorId: begunEnrolled.body.factorId, secret: begunEnrolled.body.secret, recoveryCodes: confirmed.body.recoveryCodes ?? [], session: loginSession };
    // Past the step-up max age: a privileged change (new factor, new codes, removal) would need a fresh MFA.
    h.clock.advance(301_000);
    const [session] = await openSessions(h, client, 'fuzz', enrolled.userId, 1);
    assert.ok(session !== undefined);
    challengeSession = session;
    wallUserId = (await createUser(h, tenantId, 'wall@example.com')).id;
    const wall = await api(h, client, 'POST', '/auth/signin', { tenant: 'fuzz', identifier: 'wall@example.com', password: PASSWORD });
    assert.equal(wall.body.status, 'enrollment_required');
    wallSession = wall.body.mfaSessionId;
    const begun = await api(h, client, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: wallSession });
    assert.equal(begun.status, 200, begun.text);
    pendingFactorId = begun.body.factorId;
  });
  after(() => h.close());

  let operations: Operation[] = [];
  /** The application routes that take a body, as the OpenAPI document lists them. */
  const bodyRoutes = (): BodyRoute[] =>
    operations
      .filter((op) => op.security.includes('clientCredentials') && op.body !== null && op.method === 'POST')
      .map((op) => {
        const { valid } = fuzzRequests(op);
        const schema = op.body as JsonSchema;
        return {
          name: op.path.replace(/^\/api\/v1\/auth\//, ''),
          path: valid.url.replace(/^\/api\/v1/, ''),
          body: () => ({ ...(structuredClone(valid.body) as Record<string, unknown>), ...(schema.properties?.['tenant'] === undefined ? {} : { tenant: 'fuzz' }) }),
          schema,
          sessionBound: op.security.includes('userSession'),
        };
      });

  describe('what the schemas cannot say', () => {
    it('a user named by neither or both of userId and externalId → 400 INVALID_REQUEST, no state change', async () => {
      const before = await snapshot();
      const naming = bodyRoutes().filter((r) => r.schema.properties?.['userId'] !== undefined && r.schema.properties['externalId'] !== undefined);
      assert.ok(naming.length > 0, 'routes that name a user by either id');
      assert.ok(
        naming.some((r) => !r.sessionBound),
        'routes where the body alone names the user',
      );
      for (const route of naming) {
        const { userId: _u, externalId: _e, ...neither } = route.body();
        // On a session-bound route the session names the user: naming none is no error there (and would act).
        if (!route.sessionBound) expectError(await api(h, client, 'POST', route.path, neither), 400, 'INVALID_REQUEST', `${route.name} without a user`);
        const token = route.sessionBound ? loginSession : null;
        expectError(await sessionApi(client, 'POST', route.path, token, { ...neither, userId: enrolled.userId, externalId: 'ext-enrolled' }), 400, 'INVALID_REQUEST', `${route.name} with two users`);
      }
      await assertNoStateChange(before, 'user naming');
    });

    it('codes that are not codes (5/7 digits, Unicode digits, padding, exotic) each reach the verifier of verify and confirm → 400 MFA_CODE_INVALID', async () => {
      const before = await snapshot();
      // Each code is judged by the verifier, not by a lock that earlier codes built: every failure counter (factor,
      // account, MFA session attempts) is cleared before each one.
      const clearCounters = async (): Promise<void> => {
        const t = h.store.forTenant(tenantId);
        for (const userId of [enrolled.userId, wallUserId]) {
          for (const f of await t.factors.listForUser(userId)) await t.factors.resetFailures(f.id);
          await t.users.resetSigninFailures(userId);
        }
        await h.database.db.updateTable('mfa_sessions').set({ attempts: 0 }).where('tenant_id', '=', tenantId).execute();
      };
      for (const method of ['totp', 'recovery_codes']) {
        for (const code of [...BAD_CODES, '12345\u0000']) {
          await clearCounters();
          expectCode(await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: challengeSession, method, code }), 'MFA_CODE_INVALID', `verify ${method} ${JSON.stringify(code)}`);
        }
      }
      for (const code of BAD_CODES) {
        await clearCounters();
        expectCode(await api(h, client, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: wallSession, factorId: pendingFactorId, code }), 'MFA_CODE_INVALID', `confirm ${JSON.stringify(code)}`);
      }
      await clearCounters();
      await assertNoStateChange(before, 'code fuzzing');
    });

    it('wrong but well-formed values (unknown tenant, user, session, factor, method) → each its documented code, no state change', async () => {
      const before = await snapshot();
      type Code = keyof typeof HTTP_STATUS_BY_CODE;
      const cases: Array<[string, string, Record<string, unknown>, Code]> = [
        // Unknown tenant or user: the same answer as a wrong password (no enumeration).
        ['signin unknown tenant', '/auth/signin', { tenant: 'nope', identifier: 'enrolled@example.com', password: PASSWORD }, 'INVALID_CREDENTIALS'],
        ['signin unknown user', '/auth/signin', { tenant: 'fuzz', identifier: '١٢٣@example.com', password: PASSWORD }, 'INVALID_CREDENTIALS'],
        ['signin unicode password', '/auth/signin', { tenant: 'fuzz', identifier: 'enrolled@example.com', password: '١٢٣٤٥٦٧٨' }, 'INVALID_CREDENTIALS'],
        ['signin password with NUL', '/auth/signin', { tenant: 'fuzz', identifier: 'enrolled@example.com', password: 'pass\u0000word' }, 'INVALID_CREDENTIALS'],
        ['status/check unknown user', '/auth/mfa/status/check', { tenant: 'fuzz', userId: 'no-such-user' }, 'NOT_FOUND'],
        ['status/check unknown external id', '/auth/mfa/status/check', { tenant: 'fuzz', externalId: '١٢٣' }, 'NOT_FOUND'],
        ['status/check unknown tenant', '/auth/mfa/status/check', { tenant: 'x'.repeat(128), userId: enrolled.userId }, 'NOT_FOUND'],
        ['verify unknown session', '/auth/mfa/verify', { mfaSessionId: 'mfa_x.y', method: 'totp', code: '123456' }, 'MFA_SESSION_NOT_FOUND'],
        ['verify method not offered', '/auth/mfa/verify', { mfaSessionId: challengeSession, method: 'webauthn', code: '123456' }, 'MFA_METHOD_NOT_ALLOWED'],
        ['verify sms not offered', '/auth/mfa/verify', { mfaSessionId: challengeSession, method: 'sms_otp', code: '123456' }, 'MFA_METHOD_NOT_ALLOWED'],
        ['verify in the wall session', '/auth/mfa/verify', { mfaSessionId: wallSession, method: 'totp', code: '123456' }, 'MFA_METHOD_NOT_ALLOWED'],
        ['enroll/totp in a challenge session', '/auth/mfa/enroll/totp', { mfaSessionId: challengeSession }, 'ENROLLMENT_NOT_ALLOWED'],
        ['enroll/totp unknown session', '/auth/mfa/enroll/totp', { mfaSessionId: `${wallSession}x` }, 'MFA_SESSION_NOT_FOUND'],
        ['confirm unknown factor', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: wallSession, factorId: 'no-such-factor', code: '123456' }, 'FACTOR_NOT_FOUND'],
        ['confirm an active factor', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: wallSession, factorId: enrolled.factorId, code: '123456' }, 'FACTOR_NOT_FOUND'],
        ['a session id with one character changed', '/auth/mfa/verify', { mfaSessionId: challengeSession.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')), method: 'totp', code: '123456' }, 'MFA_SESSION_NOT_FOUND'],
      ];
      for (const [what, path, body, code] of cases) expectCode(await api(h, client, 'POST', path, body), code, what);
      // Session-bound routes: the user is the one of the login session in X-Portcullis-Session.
      const unknownSession = `${loginSession.slice(0, -1)}${loginSession.endsWith('A') ? 'B' : 'A'}`;
      const sessionCases: Array<[string, string, string | null, Record<string, unknown> | undefined, Code]> = [
        ['step-up without a session', '/auth/mfa/step-up', null, { tenant: 'fuzz', userId: enrolled.userId, action: 'payment' }, 'SESSION_REQUIRED'],
        ['step-up unknown session', '/auth/mfa/step-up', unknownSession, { action: 'payment' }, 'SESSION_NOT_FOUND'],
        ['step-up malformed session', '/auth/mfa/step-up', 'ses_nope', { action: 'payment' }, 'SESSION_NOT_FOUND'],
        ['step-up unknown user (not the session’s)', '/auth/mfa/step-up', loginSession, { tenant: 'fuzz', userId: 'no-such-user', action: 'payment' }, 'SESSION_NOT_FOUND'],
        ['step-up another user (not the session’s)', '/auth/mfa/step-up', loginSession, { tenant: 'fuzz', userId: wallUserId, action: 'payment' }, 'SESSION_NOT_FOUND'],
        ['step-up unknown external id', '/auth/mfa/step-up', loginSession, { tenant: 'fuzz', externalId: 'nobody', action: 'payment' }, 'SESSION_NOT_FOUND'],
        ['step-up unknown tenant', '/auth/mfa/step-up', loginSession, { tenant: 'nope', userId: enrolled.userId, action: 'payment' }, 'SESSION_NOT_FOUND'],
        ['enrollment without a session', '/auth/mfa/enrollment', null, {}, 'SESSION_REQUIRED'],
        ['enrollment unknown session', '/auth/mfa/enrollment', unknownSession, {}, 'SESSION_NOT_FOUND'],
        ['enrollment without a recent MFA', '/auth/mfa/enrollment', loginSession, {}, 'STEP_UP_REQUIRED'],
        ['recovery-codes without a session', '/auth/mfa/recovery-codes', null, undefined, 'SESSION_REQUIRED'],
        ['recovery-codes unknown session', '/auth/mfa/recovery-codes', unknownSession, undefined, 'SESSION_NOT_FOUND'],
        ['recovery-codes without a recent MFA', '/auth/mfa/recovery-codes', loginSession, undefined, 'STEP_UP_REQUIRED'],
      ];
      for (const [what, path, token, body, code] of sessionCases) {
        const res = await sessionApi(client, 'POST', path, token, body);
        expectCode(res, code, what);
        if (code === 'STEP_UP_REQUIRED') assert.equal(res.body.action, 'manage-mfa', `${what}: the step-up it asks for`);
      }
      // Another application's credentials with this client's login session: as if it did not exist.
      expectCode(await sessionApi(other, 'POST', '/auth/mfa/step-up', loginSession, { action: 'payment' }), 'SESSION_NOT_FOUND', 'other client step-up');
      expectCode(await sessionApi(other, 'POST', '/auth/mfa/enrollment', loginSession, {}), 'SESSION_NOT_FOUND', 'other client enrollment');
      expectCode(await sessionApi(other, 'POST', '/auth/mfa/recovery-codes', loginSession), 'SESSION_NOT_FOUND', 'other client recovery-codes');
      // Another application's credentials against this client's sessions: as if they did not exist.
      expectCode(await api(h, other, 'POST', '/auth/mfa/verify', { mfaSessionId: challengeSession, method: 'totp', code: '123456' }), 'MFA_SESSION_NOT_FOUND', 'other client verify');
      expectCode(await api(h, other, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: wallSession }), 'MFA_SESSION_NOT_FOUND', 'other client enroll');
      await assertNoStateChange(before, 'well-formed wrong values');
    });
  });

  describe('query strings and path parameters', () => {
    it('GET /auth/mfa/status and DELETE /auth/mfa/factors/:id: bad queries → 400 INVALID_REQUEST, unknown names → 404 NOT_FOUND, no state change', async () => {
      // GET /auth/mfa/status names the user in its query; DELETE /auth/mfa/factors/:id acts for the user of the session
      // in X-Portcullis-Session (no query): its "names" are the session token and the factor id.
      const before = await snapshot();
      const u = enrolled.userId;
      const queries: Array<[string, 'INVALID_REQUEST' | 'NOT_FOUND']> = [
        ['', 'INVALID_REQUEST'],
        ['?tenant=fuzz', 'INVALID_REQUEST'],
        [`?userId=${u}`, 'INVALID_REQUEST'],
        [`?tenant=&userId=${u}`, 'INVALID_REQUEST'],
        [`?tenant=fuzz&userId=`, 'INVALID_REQUEST'],
        [`?tenant=fuzz&userId=${u}&externalId=ext-enrolled`, 'INVALID_REQUEST'],
        [`?tenant=fuzz&tenant=other&userId=${u}`, 'INVALID_REQUEST'],
        [`?tenant=fuzz&userId=${u}&userId=${u}`, 'INVALID_REQUEST'],
        [`?tenant=fuzz&userId=${u}&extra=1`, 'INVALID_REQUEST'],
        [`?tenant=${'x'.repeat(129)}&userId=${u}`, 'INVALID_REQUEST'],
        [`?tenant=fuzz&userId=${'y'.repeat(129)}`, 'INVALID_REQUEST'],
        [`?tenant[a]=1&userId=${u}`, 'INVALID_REQUEST'],
        [`?tenant=fuzz&userId[]=${u}`, 'INVALID_REQUEST'],
        [`?tenant=fuzz&userId=%00`, 'INVALID_REQUEST'],
        [`?tenant=fu%00zz&userId=${u}`, 'INVALID_REQUEST'],
        [`?tenant=fuzz&externalId=%00`, 'INVALID_REQUEST'],
        [`?tenant=fuzz&userId=a%01b`, 'INVALID_REQUEST'],
        // Broken percent-encoding is kept as text: a tenant of that name does not exist.
        [`?tenant=%E0%A4%A&userId=${u}`, 'NOT_FOUND'],
        [`?tenant=fuzz&externalId=${encodeURIComponent('١٢٣')}`, 'NOT_FOUND'],
        [`?tenant=nope&userId=${u}`, 'NOT_FOUND'],
      ];
      for (const [q, code] of queries) {
        expectCode(await api(h, client, 'GET', `/auth/mfa/status${q}`), code, `GET status${q.slice(0, 60)}`);
        // The DELETE reads no query: whatever it says (another tenant, another user), the session decides.
        expectCode(await sessionApi(client, 'DELETE', `/auth/mfa/factors/${enrolled.factorId}${q}`, loginSession), 'STEP_UP_REQUIRED', `DELETE factor${q.slice(0, 60)}`);
      }
      const unknownSession = `${loginSession.slice(0, -1)}${loginSession.endsWith('A') ? 'B' : 'A'}`;
      expectCode(await sessionApi(client, 'DELETE', `/auth/mfa/factors/${enrolled.factorId}`, null), 'SESSION_REQUIRED', 'DELETE factor without a session');
      expectCode(await sessionApi(client, 'DELETE', `/auth/mfa/factors/${enrolled.factorId}?tenant=fuzz&userId=${u}`, null), 'SESSION_REQUIRED', 'DELETE factor without a session, user in the query');
      expectCode(await sessionApi(client, 'DELETE', `/auth/mfa/factors/${enrolled.factorId}`, ''), 'SESSION_REQUIRED', 'DELETE factor with an empty session header');
      for (const token of [unknownSession, 'ses_nope', `${loginSession}x`, 'x'.repeat(300)]) {
        expectCode(await sessionApi(client, 'DELETE', `/auth/mfa/factors/${enrolled.factorId}`, token), 'SESSION_NOT_FOUND', `DELETE factor with session ${token.slice(0, 30)}`);
      }
      expectCode(await sessionApi(other, 'DELETE', `/auth/mfa/factors/${enrolled.factorId}`, loginSession), 'SESSION_NOT_FOUND', 'DELETE factor with another client’s session');
      for (const id of ['', '%00']) {
        expectCode(await sessionApi(client, 'DELETE', `/auth/mfa/factors/${id}`, loginSession), 'INVALID_REQUEST', `DELETE factor id ${JSON.stringify(id)}`);
      }
      // Well-formed ids meet the step-up check first (the session's MFA is not recent), whatever they name.
      for (const id of ['x'.repeat(100), '..%2F..%2Fetc', encodeURIComponent('١٢٣')]) {
        expectCode(await sessionApi(client, 'DELETE', `/auth/mfa/factors/${id}`, loginSession), 'STEP_UP_REQUIRED', `DELETE factor id ${id.slice(0, 30)}`);
      }
      // A DELETE's JSON body is not read (the route declares none): the answer is the one without it.
      expectCode(await sessionApi(client, 'DELETE', `/auth/mfa/factors/${enrolled.factorId}`, loginSession, { force: true }), 'STEP_UP_REQUIRED', 'DELETE with a body');
      await assertNoStateChange(before, 'query fuzzing');
      assert.equal((await h.store.forTenant(tenantId).factors.get(enrolled.factorId))?.status, 'active');
    });
  });

  describe('over-long path parameters', () => {
    // Ids are at most 128 characters in the route's schema; the router lets up to 2,048 through to it.
    it('a factor id of 129 or 1,000 characters → 400 INVALID_REQUEST', async () => {
      for (const id of ['x'.repeat(129), 'x'.repeat(1000)]) {
        expectCode(await sessionApi(client, 'DELETE', `/auth/mfa/factors/${id}`, loginSession), 'INVALID_REQUEST', `DELETE factor id of ${id.length}`);
      }
    });
  });

  describe('whole bodies', () => {
    it('empty, null, arrays, scalars, invalid, deep or poisoned JSON, other content types and 10 MB → each its code (400, 413 or 415), no state change', async () => {
      const before = await snapshot();
      const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
      const deepArray = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
      const payloads: Array<[string, string | Buffer, string | null, number, 'INVALID_REQUEST' | 'UNSUPPORTED_MEDIA_TYPE' | 'PAYLOAD_TOO_LARGE']> = [
        ['no body', '', 'application/json', 400, 'INVALID_REQUEST'],
        ['whitespace', '  \n ', 'application/json', 400, 'INVALID_REQUEST'],
        ['null', 'null', 'application/json', 400, 'INVALID_REQUEST'],
        ['array', '[]', 'application/json', 400, 'INVALID_REQUEST'],
        ['array of object', '[{"tenant":"fuzz"}]', 'application/json', 400, 'INVALID_REQUEST'],
        ['string', '"fuzz"', 'application/json', 400, 'INVALID_REQUEST'],
        ['number', '123456', 'application/json', 400, 'INVALID_REQUEST'],
        ['boolean', 'true', 'application/json', 400, 'INVALID_REQUEST'],
        ['empty object', '{}', 'application/json', 400, 'INVALID_REQUEST'],
        ['invalid JSON', '{"tenant":', 'application/json', 400, 'INVALID_REQUEST'],
        ['trailing garbage', '{"tenant":"fuzz"} x', 'application/json', 400, 'INVALID_REQUEST'],
        ['duplicate keys', '{"tenant":"fuzz","tenant":["fuzz"]}', 'application/json', 400, 'INVALID_REQUEST'],
        ['__proto__', '{"__proto__":{"verified":true},"tenant":"fuzz"}', 'application/json', 400, 'INVALID_REQUEST'],
        ['constructor.prototype', '{"constructor":{"prototype":{"verified":true}}}', 'application/json', 400, 'INVALID_REQUEST'],
        ['deeply nested object', deep, 'application/json', 400, 'INVALID_REQUEST'],
        ['deeply nested array', deepArray, 'application/json', 400, 'INVALID_REQUEST'],
        ['lone surrogate', '{"tenant":"\\ud800"}', 'application/json', 400, 'INVALID_REQUEST'],
        // A body no route accepts whole (passkey/options takes a tenant alone: the number makes it refused too).
        ['UTF-8 BOM', '\ufeff{"tenant":"fuzz","identifier":1}', 'application/json', 400, 'INVALID_REQUEST'],
        ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 'application/json', 400, 'INVALID_REQUEST'],
        ['text/plain', '{"tenant":"fuzz"}', 'text/plain', 415, 'UNSUPPORTED_MEDIA_TYPE'],
        ['form', 'tenant=fuzz&userId=x', 'application/x-www-form-urlencoded', 415, 'UNSUPPORTED_MEDIA_TYPE'],
        ['multipart', '--b\r\nContent-Disposition: form-data; name="tenant"\r\n\r\nfuzz\r\n--b--', 'multipart/form-data; boundary=b', 415, 'UNSUPPORTED_MEDIA_TYPE'],
        ['xml', '<tenant>fuzz</tenant>', 'application/xml', 415, 'UNSUPPORTED_MEDIA_TYPE'],
        ['no content type', '{"tenant":"fuzz"}', null, 415, 'UNSUPPORTED_MEDIA_TYPE'],
        ['json with charset', '{"x":1}', 'application/json; charset=utf-8', 400, 'INVALID_REQUEST'],
        ['json in utf-16', Buffer.from('{"x":1}', 'utf16le'), 'application/json; charset=utf-16le', 400, 'INVALID_REQUEST'],
        ['10 MB', `{"code":"${'1'.repeat(10 * 1024 * 1024)}"}`, 'application/json', 413, 'PAYLOAD_TOO_LARGE'],
        ['70 KB string', `{"tenant":"fuzz","identifier":"${'a'.repeat(70 * 1024)}"}`, 'application/json', 413, 'PAYLOAD_TOO_LARGE'],
        ['60 KB string', `{"tenant":"fuzz","userId":"${'a'.repeat(60 * 1024)}"}`, 'application/json', 400, 'INVALID_REQUEST'],
      ];
      for (const route of bodyRoutes()) {
        for (const [what, payload, type, status, code] of payloads) {
          const res = route.sessionBound ? await sessionApiRaw(client, route.path, loginSession, payload, type) : await apiRaw(h, client, 'POST', route.path, payload, type);
          // `{}` is the one whole body a route may accept (enrollment takes only an optional context): it is then
          // judged past the body, on the session — not fresh, so refused, changing nothing.
          if (what === 'empty object' && route.name === 'mfa/enrollment') {
            expectCode(res, 'STEP_UP_REQUIRED', `${route.name} ${what}`);
            continue;
          }
          expectCode(res, code, `${route.name} ${what}`);
          assert.equal(res.status, status, `${route.name} ${what}`);
        }
      }
      await assertNoStateChange(before, 'whole-body fuzzing');
    });
  });

  describe('client credentials', () => {
    it('missing, malformed, unknown or wrong client credentials → 401 on every route, before the body is looked at', async () => {
      const before = await snapshot();
      const headers: Array<[string, string | null]> = [
        ['none', null],
        ['bearer', 'Bearer pcat_0123456789abcdef0123456789abcdef'],
        ['basic garbage', 'Basic !!!!'],
        ['basic without colon', `Basic ${Buffer.from(client.clientId).toString('base64')}`],
        ['basic empty secret', `Basic ${Buffer.from(`${client.clientId}:`).toString('base64')}`],
        ['basic empty id', `Basic ${Buffer.from(`:${client.secret}`).toString('base64')}`],
        ['unknown client', basicAuthorization('pcc_unknown', client.secret)],
        ['wrong secret', basicAuthorization(client.clientId, `${client.secret}x`)],
        ['another client’s secret', basicAuthorization(client.clientId, other.secret)],
        ['secret hash as secret', basicAuthorization(client.clientId, client.application.clientSecretHash)],
        ['huge', `Basic ${'A'.repeat(5000)}`],
        ['two schemes', `${client.authorization}, ${client.authorization}`],
      ];
      const routes: Array<[string, 'GET' | 'POST' | 'DELETE', string, unknown]> = [
        ...bodyRoutes().map((r) => [r.name, 'POST', r.path, r.body()] as [string, 'POST', string, unknown]),
        ['status', 'GET', `/auth/mfa/status?tenant=fuzz&userId=${enrolled.userId}`, undefined],
        ['delete factor', 'DELETE', `/auth/mfa/factors/${enrolled.factorId}?tenant=fuzz&userId=${enrolled.userId}`, undefined],
      ];
      for (const [route, method, path, body] of routes) {
        for (const [what, authorization] of headers) {
          // A valid body, and an invalid one: both are refused for the credentials, the body is never judged.
          for (const sent of [body, method === 'POST' ? { bogus: [1] } : undefined]) {
            const res = await api(h, authorization, method, path, sent);
            expectError(res, 401, 'UNAUTHORIZED', `${route} with ${what}${sent === body ? '' : ' (bad body)'}`);
            assert.match(String(res.headers['www-authenticate'] ?? ''), /^Basic realm=/, `${route} with ${what}: WWW-Authenticate`);
          }
        }
        if (method === 'POST') {
          const big = await apiRaw(h, null, 'POST', path, `{"code":"${'1'.repeat(10 * 1024 * 1024)}"}`, 'application/json');
          expectError(big, 401, 'UNAUTHORIZED', `${route} 10 MB without credentials`);
        }
      }
      await assertNoStateChange(before, 'credential fuzzing');
    });
  });
});
