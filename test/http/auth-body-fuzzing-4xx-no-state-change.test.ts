/**
 * Schema-driven fuzzing of every application-API route (SECURITY: "code-field fuzzing … → 4xx, never 5xx" and
 * "schema-driven fuzzing of every API body field → 4xx with a stable code, never 5xx, never a state change"), on
 * SQLite and PostgreSQL:
 * - every field of every body (and query string) replaced by null, arrays, objects, numbers, booleans, empty and
 *   over-long strings, or removed; extra fields at the top and inside `context` → 400 `INVALID_REQUEST`;
 * - code fields given 5 and 7 digits, Unicode digits, padded or exotic strings → refused (401/429), never accepted;
 * - whole bodies that are empty, null, arrays, scalars, invalid or deeply nested JSON, prototype-poisoning JSON,
 *   another content type, or 10 MB → 4xx with a stable code;
 * - after all of it: no new factor or MFA session, none completed or changed status, no recovery code spent, no
 *   last-MFA time moved, and no audit event other than failures.
 * And unknown or missing client credentials → 401 on every route, before the body is looked at.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HTTP_STATUS_BY_CODE } from '../../src/http/errors.ts';
import { forEachDialect, type Harness } from '../support/harness.ts';
import {
  api,
  apiRaw,
  auditOf,
  basicAuthorization,
  createAuthHarness,
  createClient,
  createTenant,
  createUser,
  enrollTotpViaSignin,
  expectError,
  openSessions,
  PASSWORD,
  type ApiResult,
  type Enrolled,
  type TestClient,
} from './auth-support.ts';

const MISSING = Symbol('missing');
type Mutation = unknown;

/** `string`: looked up or stored, so no control characters; `secret` and `code`: any text, checked by a verifier. */
type FieldKind = 'string' | 'secret' | 'code' | 'enum' | 'integer' | 'context';
interface FieldSpec {
  readonly name: string;
  readonly kind: FieldKind;
  readonly required: boolean;
  readonly minLength?: number;
  readonly maxLength?: number;
}

interface BodyRoute {
  readonly name: string;
  readonly path: string;
  readonly body: () => Record<string, unknown>;
  readonly fields: readonly FieldSpec[];
}

const CONTEXT_MUTATIONS: readonly Mutation[] = [
  null,
  [],
  'context',
  1,
  true,
  { extra: 'field' },
  { ip: 123 },
  { ip: 'x'.repeat(65) },
  { ip: ['192.0.2.1'] },
  { userAgent: {} },
  { userAgent: 'u'.repeat(1025) },
  { deviceId: null },
  { deviceId: 'd'.repeat(257) },
  { userAgent: 'agent\u0000' },
  { ip: '\u0000' },
  { deviceId: 'device\u0000id' },
  { userAgent: 'line\nbreak' },
];

/** Values that no declared field of its kind accepts: each must answer 400 INVALID_REQUEST. */
function invalidValues(field: FieldSpec, valid: unknown): Mutation[] {
  const out: Mutation[] = [null, [], [valid], {}, { value: valid }, true, false];
  if (field.required) out.push(MISSING);
  switch (field.kind) {
    case 'integer':
      out.push('60', 1.5, -1, 86_401, Number.MAX_SAFE_INTEGER, '');
      break;
    case 'context':
      return [...CONTEXT_MUTATIONS];
    case 'enum':
      out.push('TOTP', 'password', 'sms', '', ' totp', 'totp\u0000', 0, 1);
      break;
    default:
      out.push(0, 123456, -1, 1e21);
      if ((field.minLength ?? 0) >= 1) out.push('');
      // PostgreSQL refuses NUL in text: a lookup with one must be a 400, not a database error.
      if (field.kind === 'string') out.push('a\u0000b', '\u0000', 'x\u0001', 'tab\there', 'del\u007f');
      if (field.maxLength !== undefined) out.push('x'.repeat(field.maxLength + 1), '٣'.repeat(field.maxLength + 1));
  }
  return out;
}

/** Strings a code field accepts by shape that are no valid code: the verifier must refuse each. */
const BAD_CODES = ['12345', '1234567', '١٢٣٤٥٦', '۱۲۳۴۵۶', '１２３４５６', '१२३४५६', ' 123456', '123456 ', '123456\n', '12 34 56', '+12345', '-12345', '1e5', '0x1E240', '12345６', '😀😀😀', 'x'.repeat(64), '0000-0000-0000-000', 'null', '[object Object]'];

function describeValue(v: unknown): string {
  if (v === MISSING) return '(missing)';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

function assertStable4xx(res: ApiResult, what: string): void {
  assert.ok(res.status >= 400 && res.status < 500, `${what}: expected 4xx, got ${res.status}: ${res.text.slice(0, 300)}`);
  const code = res.body?.error;
  assert.equal(typeof code, 'string', `${what}: an error code`);
  assert.equal(typeof res.body?.message, 'string', `${what}: a message`);
  if (code === 'access_denied') return;
  assert.ok(code in HTTP_STATUS_BY_CODE, `${what}: ${String(code)} is a documented code`);
  assert.equal(HTTP_STATUS_BY_CODE[code as keyof typeof HTTP_STATUS_BY_CODE], res.status, `${what}: the status is the code's`);
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
    client = await createClient(h, 'fuzz-app');
    other = await createClient(h, 'other-app');
    const tenant = await createTenant(h, 'fuzz', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
    tenantId = tenant.id;
    await createUser(h, tenantId, 'enrolled@example.com', { externalId: 'ext-enrolled' });
    enrolled = await enrollTotpViaSignin(h, client, 'fuzz', 'enrolled@example.com');
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

  const CONTEXT = { ip: '192.0.2.10', userAgent: 'fuzzer', deviceId: 'device-1' };
  const TENANT: FieldSpec = { name: 'tenant', kind: 'string', required: true, minLength: 1, maxLength: 128 };
  const USER_ID: FieldSpec = { name: 'userId', kind: 'string', required: false, minLength: 1, maxLength: 128 };
  const CONTEXT_FIELD: FieldSpec = { name: 'context', kind: 'context', required: false };
  const SESSION: FieldSpec = { name: 'mfaSessionId', kind: 'string', required: true, minLength: 1, maxLength: 256 };

  const bodyRoutes = (): BodyRoute[] => [
    {
      name: 'signin',
      path: '/auth/signin',
      body: () => ({ tenant: 'fuzz', identifier: 'enrolled@example.com', password: 'not the password', context: CONTEXT }),
      fields: [TENANT, { name: 'identifier', kind: 'string', required: true, minLength: 1, maxLength: 320 }, { name: 'password', kind: 'secret', required: true, minLength: 1, maxLength: 1024 }, CONTEXT_FIELD],
    },
    { name: 'status/check', path: '/auth/mfa/status/check', body: () => ({ tenant: 'fuzz', userId: enrolled.userId, context: CONTEXT }), fields: [TENANT, USER_ID, CONTEXT_FIELD] },
    {
      name: 'verify',
      path: '/auth/mfa/verify',
      body: () => ({ mfaSessionId: challengeSession, method: 'totp', code: '000000' }),
      fields: [SESSION, { name: 'method', kind: 'enum', required: true }, { name: 'code', kind: 'code', required: true, minLength: 1, maxLength: 64 }],
    },
    {
      name: 'step-up',
      path: '/auth/mfa/step-up',
      body: () => ({ tenant: 'fuzz', userId: enrolled.userId, action: 'payment', maxAgeSeconds: 60, context: CONTEXT }),
      fields: [TENANT, USER_ID, { name: 'action', kind: 'string', required: true, minLength: 1, maxLength: 64 }, { name: 'maxAgeSeconds', kind: 'integer', required: false }, CONTEXT_FIELD],
    },
    { name: 'enrollment', path: '/auth/mfa/enrollment', body: () => ({ tenant: 'fuzz', userId: wallUserId, context: CONTEXT }), fields: [TENANT, USER_ID, CONTEXT_FIELD] },
    { name: 'enroll/totp', path: '/auth/mfa/enroll/totp', body: () => ({ mfaSessionId: wallSession, label: 'phone' }), fields: [SESSION, { name: 'label', kind: 'string', required: false, minLength: 1, maxLength: 64 }] },
    {
      name: 'enroll/totp/confirm',
      path: '/auth/mfa/enroll/totp/confirm',
      body: () => ({ mfaSessionId: wallSession, factorId: pendingFactorId, code: '000000' }),
      fields: [SESSION, { name: 'factorId', kind: 'string', required: true, minLength: 1, maxLength: 128 }, { name: 'code', kind: 'code', required: true, minLength: 1, maxLength: 64 }],
    },
    { name: 'recovery-codes', path: '/auth/mfa/recovery-codes', body: () => ({ tenant: 'fuzz', userId: enrolled.userId }), fields: [TENANT, USER_ID] },
  ];

  describe('every body field of every route', () => {
    it('null, arrays, objects, numbers, booleans, empty, over-long or missing values and extra fields → 400 INVALID_REQUEST, no state change', async () => {
      const before = await snapshot();
      let sent = 0;
      for (const route of bodyRoutes()) {
        for (const field of route.fields) {
          const valid = route.body()[field.name];
          for (const value of invalidValues(field, valid)) {
            const body = route.body();
            if (value === MISSING) delete body[field.name];
            else body[field.name] = value;
            const res = await api(h, client, 'POST', route.path, body);
            expectError(res, 400, 'INVALID_REQUEST', `${route.name} ${field.name}=${describeValue(value)}`);
            sent++;
          }
        }
        // Extra fields: at the top, inside context, and ones that look like privilege.
        for (const extra of [{ extra: 1 }, { admin: true }, { __proto__x: 1 }, { verified: true }, { status: 'authenticated' }]) {
          const body = { ...route.body(), ...extra };
          const res = await api(h, client, 'POST', route.path, body);
          expectError(res, 400, 'INVALID_REQUEST', `${route.name} extra ${JSON.stringify(extra)}`);
          sent++;
        }
      }
      // Routes naming a user: neither userId nor externalId, or both.
      for (const path of ['/auth/mfa/status/check', '/auth/mfa/step-up', '/auth/mfa/enrollment', '/auth/mfa/recovery-codes']) {
        const base: Record<string, unknown> = { tenant: 'fuzz', ...(path.endsWith('step-up') ? { action: 'payment' } : {}) };
        expectError(await api(h, client, 'POST', path, base), 400, 'INVALID_REQUEST', `${path} without a user`);
        expectError(await api(h, client, 'POST', path, { ...base, userId: enrolled.userId, externalId: 'ext-enrolled' }), 400, 'INVALID_REQUEST', `${path} with two users`);
        sent += 2;
      }
      // Step-up actions outside the action grammar.
      for (const action of ['Payment', '../payment', 'pay ment', 'paiement-é', '٣', '-payment', 'payment\n']) {
        expectError(await api(h, client, 'POST', '/auth/mfa/step-up', { tenant: 'fuzz', userId: enrolled.userId, action }), 400, 'INVALID_REQUEST', `action ${JSON.stringify(action)}`);
        sent++;
      }
      assert.ok(sent > 300, `sent ${sent}`);
      await assertNoStateChange(before, 'field fuzzing');
    });

    it('codes that are not codes (5/7 digits, Unicode digits, padding, exotic) are refused by verify and confirm, never accepted', async () => {
      const before = await snapshot();
      const accepted = new Set([401, 429]);
      for (const method of ['totp', 'recovery_codes']) {
        for (const code of BAD_CODES) {
          const res = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: challengeSession, method, code });
          assertStable4xx(res, `verify ${method} ${JSON.stringify(code)}`);
          assert.ok(accepted.has(res.status) && ['MFA_CODE_INVALID', 'MFA_LOCKED'].includes(res.body.error), `verify ${method} ${JSON.stringify(code)}: ${res.text}`);
        }
      }
      for (const code of BAD_CODES) {
        const res = await api(h, client, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: wallSession, factorId: pendingFactorId, code });
        assertStable4xx(res, `confirm ${JSON.stringify(code)}`);
        assert.ok(['MFA_CODE_INVALID', 'MFA_LOCKED'].includes(res.body.error), `confirm ${JSON.stringify(code)}: ${res.text}`);
      }
      await assertNoStateChange(before, 'code fuzzing');
    });

    it('wrong but well-formed values (unknown tenant, user, session, factor, method) → 4xx with a stable code, no state change', async () => {
      const before = await snapshot();
      const cases: Array<[string, string, Record<string, unknown>]> = [
        ['signin unknown tenant', '/auth/signin', { tenant: 'nope', identifier: 'enrolled@example.com', password: PASSWORD }],
        ['signin unknown user', '/auth/signin', { tenant: 'fuzz', identifier: '١٢٣@example.com', password: PASSWORD }],
        ['signin unicode password', '/auth/signin', { tenant: 'fuzz', identifier: 'enrolled@example.com', password: '١٢٣٤٥٦٧٨' }],
        ['status/check unknown user', '/auth/mfa/status/check', { tenant: 'fuzz', userId: 'no-such-user' }],
        ['status/check unknown external id', '/auth/mfa/status/check', { tenant: 'fuzz', externalId: '١٢٣' }],
        ['status/check unknown tenant', '/auth/mfa/status/check', { tenant: 'x'.repeat(128), userId: enrolled.userId }],
        ['signin password with NUL', '/auth/signin', { tenant: 'fuzz', identifier: 'enrolled@example.com', password: 'pass\u0000word' }],
        ['verify code with NUL', '/auth/mfa/verify', { mfaSessionId: challengeSession, method: 'totp', code: '12345\u0000' }],
        ['verify unknown session', '/auth/mfa/verify', { mfaSessionId: 'mfa_x.y', method: 'totp', code: '123456' }],
        ['verify method not offered', '/auth/mfa/verify', { mfaSessionId: challengeSession, method: 'webauthn', code: '123456' }],
        ['verify sms not offered', '/auth/mfa/verify', { mfaSessionId: challengeSession, method: 'sms_otp', code: '123456' }],
        ['verify in the wall session', '/auth/mfa/verify', { mfaSessionId: wallSession, method: 'totp', code: '123456' }],
        ['step-up unknown user', '/auth/mfa/step-up', { tenant: 'fuzz', userId: 'no-such-user', action: 'payment' }],
        ['enrollment unknown user', '/auth/mfa/enrollment', { tenant: 'fuzz', externalId: 'nobody' }],
        ['enrollment without a recent MFA', '/auth/mfa/enrollment', { tenant: 'fuzz', userId: enrolled.userId }],
        ['enroll/totp in a challenge session', '/auth/mfa/enroll/totp', { mfaSessionId: challengeSession }],
        ['enroll/totp unknown session', '/auth/mfa/enroll/totp', { mfaSessionId: `${wallSession}x` }],
        ['confirm unknown factor', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: wallSession, factorId: 'no-such-factor', code: '123456' }],
        ['confirm an active factor', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: wallSession, factorId: enrolled.factorId, code: '123456' }],
        ['recovery-codes without a recent MFA', '/auth/mfa/recovery-codes', { tenant: 'fuzz', userId: enrolled.userId }],
        ['another client’s session', '/auth/mfa/verify', { mfaSessionId: challengeSession.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')), method: 'totp', code: '123456' }],
      ];
      for (const [what, path, body] of cases) assertStable4xx(await api(h, client, 'POST', path, body), what);
      // Another application's credentials against this client's sessions.
      assertStable4xx(await api(h, other, 'POST', '/auth/mfa/verify', { mfaSessionId: challengeSession, method: 'totp', code: '123456' }), 'other client verify');
      assertStable4xx(await api(h, other, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: wallSession }), 'other client enroll');
      await assertNoStateChange(before, 'well-formed wrong values');
    });
  });

  describe('query strings and path parameters', () => {
    it('GET /auth/mfa/status and DELETE /auth/mfa/factors/:id refuse bad queries with a stable 4xx, no state change', async () => {
      const before = await snapshot();
      const u = enrolled.userId;
      const queries = [
        '',
        '?tenant=fuzz',
        `?userId=${u}`,
        `?tenant=&userId=${u}`,
        `?tenant=fuzz&userId=`,
        `?tenant=fuzz&userId=${u}&externalId=ext-enrolled`,
        `?tenant=fuzz&tenant=other&userId=${u}`,
        `?tenant=fuzz&userId=${u}&userId=${u}`,
        `?tenant=fuzz&userId=${u}&extra=1`,
        `?tenant=${'x'.repeat(129)}&userId=${u}`,
        `?tenant=fuzz&userId=${'y'.repeat(129)}`,
        `?tenant[a]=1&userId=${u}`,
        `?tenant=fuzz&userId[]=${u}`,
        `?tenant=%E0%A4%A&userId=${u}`,
        `?tenant=fuzz&userId=%00`,
        `?tenant=fu%00zz&userId=${u}`,
        `?tenant=fuzz&externalId=%00`,
        `?tenant=fuzz&userId=a%01b`,
        `?tenant=fuzz&externalId=${encodeURIComponent('١٢٣')}`,
        `?tenant=nope&userId=${u}`,
      ];
      for (const q of queries) {
        const status = await api(h, client, 'GET', `/auth/mfa/status${q}`);
        assertStable4xx(status, `GET status${q.slice(0, 60)}`);
        const del = await api(h, client, 'DELETE', `/auth/mfa/factors/${enrolled.factorId}${q}`);
        assertStable4xx(del, `DELETE factor${q.slice(0, 60)}`);
      }
      for (const id of ['', '%00', 'x'.repeat(100), '..%2F..%2Fetc', encodeURIComponent('١٢٣')]) {
        assertStable4xx(await api(h, client, 'DELETE', `/auth/mfa/factors/${id}?tenant=fuzz&userId=${u}`), `DELETE factor id ${id.slice(0, 30)}`);
      }
      // A DELETE with a JSON body it does not take is refused too, not half-read.
      assertStable4xx(await api(h, client, 'DELETE', `/auth/mfa/factors/${enrolled.factorId}?tenant=fuzz&userId=${u}`, { force: true }), 'DELETE with a body');
      await assertNoStateChange(before, 'query fuzzing');
      assert.equal((await h.store.forTenant(tenantId).factors.get(enrolled.factorId))?.status, 'active');
    });
  });

  describe('over-long path parameters', () => {
    // Fastify's router refuses a path parameter over `maxParamLength`; the app answers it in the common shape too.
    it('a factor id of 129 or 1,000 characters → a stable 4xx', async () => {
      for (const id of ['x'.repeat(129), 'x'.repeat(1000)]) {
        assertStable4xx(await api(h, client, 'DELETE', `/auth/mfa/factors/${id}?tenant=fuzz&userId=${enrolled.userId}`), `DELETE factor id of ${id.length}`);
      }
    });
  });

  describe('whole bodies', () => {
    it('empty, null, arrays, scalars, invalid, deep or poisoned JSON, other content types and 10 MB → stable 4xx, no state change', async () => {
      const before = await snapshot();
      const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
      const deepArray = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
      const payloads: Array<[string, string | Buffer, string | null, number | null, string | null]> = [
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
        ['UTF-8 BOM', '\ufeff{"tenant":"fuzz"}', 'application/json', null, null],
        ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 'application/json', 400, 'INVALID_REQUEST'],
        ['text/plain', '{"tenant":"fuzz"}', 'text/plain', 415, 'UNSUPPORTED_MEDIA_TYPE'],
        ['form', 'tenant=fuzz&userId=x', 'application/x-www-form-urlencoded', 415, 'UNSUPPORTED_MEDIA_TYPE'],
        ['multipart', '--b\r\nContent-Disposition: form-data; name="tenant"\r\n\r\nfuzz\r\n--b--', 'multipart/form-data; boundary=b', 415, 'UNSUPPORTED_MEDIA_TYPE'],
        ['xml', '<tenant>fuzz</tenant>', 'application/xml', 415, 'UNSUPPORTED_MEDIA_TYPE'],
        ['no content type', '{"tenant":"fuzz"}', null, 415, 'UNSUPPORTED_MEDIA_TYPE'],
        ['json with charset', '{"x":1}', 'application/json; charset=utf-8', 400, 'INVALID_REQUEST'],
        ['json in utf-16', Buffer.from('{"x":1}', 'utf16le'), 'application/json; charset=utf-16le', null, null],
        ['10 MB', `{"code":"${'1'.repeat(10 * 1024 * 1024)}"}`, 'application/json', 413, 'PAYLOAD_TOO_LARGE'],
        ['70 KB string', `{"tenant":"fuzz","identifier":"${'a'.repeat(70 * 1024)}"}`, 'application/json', 413, 'PAYLOAD_TOO_LARGE'],
        ['60 KB string', `{"tenant":"fuzz","userId":"${'a'.repeat(60 * 1024)}"}`, 'application/json', 400, 'INVALID_REQUEST'],
      ];
      for (const route of bodyRoutes()) {
        for (const [what, payload, type, status, code] of payloads) {
          const res = await apiRaw(h, client, 'POST', route.path, payload, type);
          assertStable4xx(res, `${route.name} ${what}`);
          if (status !== null) expectError(res, status, code ?? '', `${route.name} ${what}`);
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
