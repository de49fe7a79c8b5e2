/**
 * Bad bodies for the admin routes with a body, on both databases (SECURITY: "every API body field → 4xx with a
 * stable code, never 5xx, never a state change"), mutated from one valid body per route written here (the routes
 * are listed by hand; the last test shows each valid body is accepted): not JSON, null, arrays for objects,
 * scalars, missing fields, extra fields, prototype poisoning, wrong types, empty and huge strings, deep nesting, and
 * semantic refusals a schema cannot express (bad policy combinations, past instants) — each answers a 4xx whose
 * code is one of the input codes and the database is byte-for-byte unchanged afterwards. Bad query strings and
 * path parameters too. The per-field fuzzing derived from the registered schemas of every route, with each
 * input's exact code and field, is api-schema-fuzzing.every-declared-field-400-naming-it-no-state-change.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHarness, forEachDialect, type Harness } from '../support/harness.ts';
import { snapshot } from '../support/snapshot.ts';

type Method = 'POST' | 'PUT' | 'PATCH';
interface BodyRoute {
  readonly method: Method;
  readonly path: string;
  /** A body the route accepts (sent last, to prove the mutations were the only thing wrong). */
  readonly valid: Record<string, unknown>;
  /** Fields that accept `null`. */
  readonly nullable?: readonly string[];
  /** Whether `{}` is a valid body (a policy layer that sets nothing). */
  readonly emptyOk?: boolean;
  /** Fields the route requires (each is also sent missing). */
  readonly required?: readonly string[];
  /** Route-specific invalid bodies beyond the generated ones. */
  readonly extra?: readonly unknown[];
}

const STABLE_CODES = new Set(['INVALID_REQUEST', 'INVALID_POLICY', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE']);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Values of the wrong type or out of bounds for a field whose valid value is `v`. */
function wrongValues(v: unknown, nullable: boolean): unknown[] {
  const out: unknown[] = nullable ? [] : [null];
  if (!Array.isArray(v)) out.push([]);
  if (!isPlainObject(v)) out.push({});
  if (typeof v === 'string') out.push(123, true, '', 'x'.repeat(5000), ['a']);
  if (typeof v === 'number') out.push(String(v), true, 1.5, -1e9, 1e12, [v]);
  if (typeof v === 'boolean') out.push(String(v), 1, 0, [v]);
  if (Array.isArray(v)) out.push('a', 1, [1], [null], [{}], Array.from({ length: 200 }, (_, i) => `r${i}`));
  if (isPlainObject(v)) out.push('x', 1, [v], { nope: 1 });
  return out;
}

function generated(route: BodyRoute): { label: string; body?: unknown; raw?: string }[] {
  const cases: { label: string; body?: unknown; raw?: string }[] = [
    { label: 'not JSON', raw: 'not json' },
    { label: 'truncated JSON', raw: '{"a":' },
    { label: 'JSON null', raw: 'null' },
    { label: 'array', body: [] },
    { label: 'array of the valid body', body: [route.valid] },
    { label: 'string', body: 'hello' },
    { label: 'number', body: 42 },
    { label: 'boolean', body: true },
    { label: 'extra field', body: { ...route.valid, unexpected: 1 } },
    { label: '__proto__ poisoning', raw: `{"__proto__":{"admin":true},${JSON.stringify(route.valid).slice(1)}` },
    { label: 'constructor poisoning', raw: `{"constructor":{"prototype":{"admin":true}},${JSON.stringify(route.valid).slice(1)}` },
    { label: 'huge body', body: { ...route.valid, filler: 'x'.repeat(70_000) } },
    { label: 'deep nesting', raw: `{"x":${'['.repeat(30_000)}${']'.repeat(30_000)}}` },
  ];
  if (route.emptyOk !== true) cases.push({ label: 'empty object', body: {} });
  for (const [field, value] of Object.entries(route.valid)) {
    const nullable = route.nullable?.includes(field) ?? false;
    for (const bad of wrongValues(value, nullable)) {
      cases.push({ label: `${field} = ${JSON.stringify(bad).slice(0, 40)}`, body: { ...route.valid, [field]: bad } });
    }
    if (route.required?.includes(field) === true) {
      const { [field]: _dropped, ...rest } = route.valid;
      cases.push({ label: `missing ${field}`, body: rest });
    }
  }
  for (const body of route.extra ?? []) cases.push({ label: `specific ${JSON.stringify(body).slice(0, 60)}`, body });
  return cases;
}

forEachDialect((dialect) => {
  describe(`admin API bad bodies (${dialect})`, () => {
    let h: Harness;
    let routes: BodyRoute[];
    let t = '';
    let u = '';
    let a = '';

    before(async () => {
      h = await createHarness({ dialect });
      t = (await h.call(h.platformToken, 'POST', '/tenants', { slug: 'fuzz', name: 'Fuzz' })).body.id;
      a = (await h.call(h.platformToken, 'POST', '/applications', { name: 'fuzz' })).body.id;
      u = (await h.call(h.platformToken, 'POST', `/tenants/${t}/users`, { email: 'fuzz@example.com' })).body.id;
      const soon = new Date(h.clock.now() + 86_400_000).toISOString();
      const policy = { enrollment: 'required', gracePeriodDays: 3, acceptableFactors: ['totp', 'webauthn'], risk: { challengeAt: 10, blockAt: 90 }, totpIssuer: 'Fuzz', effectiveAt: soon };
      const policyExtra = [
        { risk: { challengeAt: 95, blockAt: 90 } },
        { acceptableFactors: ['totp', 'totp'] },
        { stepUp: { defaultMaxAgeSeconds: 60, actions: { 'Bad Name': 5 } } },
        { effectiveAt: '2001-01-01T00:00:00Z' },
        { effectiveAt: '9999-12-31T00:00:00Z' },
        { effectiveAt: '2030-02-30' },
        { totpIssuer: 'a:b' },
      ];
      routes = [
        { method: 'POST', path: '/tenants', valid: { slug: 'fresh', name: 'Fresh' }, required: ['slug', 'name'], extra: [{ slug: 'Upper', name: 'x' }, { slug: '-dash', name: 'x' }, { slug: '0b0e7a2c-1111-4222-8333-944455556666', name: 'x' }] },
        { method: 'PATCH', path: `/tenants/${t}`, valid: { name: 'Renamed', slug: 'renamed' } },
        { method: 'POST', path: '/applications', valid: { name: 'New app', firstParty: false }, required: ['name'] },
        { method: 'PATCH', path: `/applications/${a}`, valid: { name: 'Renamed app', firstParty: true, mfaPolicy: 'smart' }, extra: [{ mfaPolicy: 'adaptive' }, { mfaPolicy: 'ALWAYS' }] },
        {
          method: 'POST',
          path: `/tenants/${t}/users`,
          valid: { email: 'new@example.com', emailVerified: false, phone: '+14155550100', roles: ['staff'], externalId: 'ext-new', password: 'correct horse battery' },
          nullable: ['phone', 'externalId'],
          required: ['email'],
          extra: [{ email: 'not-an-email' }, { email: 'a b@example.com' }, { email: 'new2@example.com', phone: '0123' }, { email: 'new3@example.com', password: 'short' }, { email: 'new4@example.com', roles: ['bad role'] }],
        },
        {
          method: 'PATCH',
          path: `/tenants/${t}/users/${u}`,
          valid: { email: 'changed@example.com', emailVerified: true, phone: '+14155550101', roles: ['x'], externalId: 'ext-changed', password: 'another long password' },
          nullable: ['phone', 'externalId', 'password'],
        },
        { method: 'PUT', path: `/applications/${a}/policy`, valid: policy, emptyOk: true, nullable: ['totpIssuer'], extra: policyExtra },
        { method: 'PUT', path: `/tenants/${t}/policy`, valid: policy, emptyOk: true, nullable: ['totpIssuer'], extra: policyExtra },
        { method: 'PUT', path: `/tenants/${t}/applications/${a}/policy`, valid: policy, emptyOk: true, nullable: ['totpIssuer'], extra: policyExtra },
        {
          method: 'PUT',
          path: `/tenants/${t}/users/${u}/policy`,
          valid: { enrollment: 'required', exempt: true, expiresAt: soon },
          required: ['expiresAt'],
          extra: [{ exempt: false, expiresAt: soon }, { expiresAt: soon }, { enrollment: 'required', expiresAt: '2001-01-01T00:00:00Z' }, { enrollment: 'required', expiresAt: '2099-01-01T00:00:00Z' }, { enrollment: 'required', expiresAt: soon, challenge: 'never' }],
        },
        {
          method: 'POST',
          path: `/tenants/${t}/policy/preview`,
          valid: { applicationId: a, draft: { enrollment: 'required' }, scope: 'tenant' },
          required: ['applicationId', 'draft'],
          extra: [{ applicationId: a, draft: { gracePeriodDays: 99 } }, { applicationId: a, draft: { enrollment: 'required' }, scope: 'user' }],
        },
        { method: 'POST', path: `/tenants/${t}/users/${u}/grace`, valid: { days: 3 }, extra: [{ days: 0 }, { days: 91 }, { until: 'soon' }, { until: '2001-01-01T00:00:00Z' }, { days: 3, until: soon }] },
        { method: 'POST', path: '/admin-tokens', valid: { label: 'fuzz token', tenantId: t }, nullable: ['tenantId'], required: ['label'] },
      ];
    });
    after(async () => h?.close());

    it('every invalid body on every listed route → 4xx with an input code, never 5xx, and no state change', async () => {
      const before = await snapshot(h.database);
      let sent = 0;
      for (const route of routes) {
        for (const c of generated(route)) {
          const res = c.raw === undefined ? await h.call(h.platformToken, route.method, route.path, c.body) : await h.callRaw(h.platformToken, route.method, route.path, c.raw);
          sent++;
          const where = `${route.method} ${route.path} [${c.label}] → ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`;
          assert.ok(res.status >= 400 && res.status < 500, where);
          assert.ok(STABLE_CODES.has(res.body?.error), where);
          assert.equal(typeof res.body.message, 'string', where);
          assert.ok(!JSON.stringify(res.body).includes('x'.repeat(100)), `${where}: the answer echoes the input`);
        }
      }
      assert.ok(sent > 500, `only ${sent} cases`);
      assert.deepEqual(await snapshot(h.database), before);
    });

    it('bad query strings and path parameters → 400, never 5xx', async () => {
      const before = await snapshot(h.database);
      const long = 'x'.repeat(300);
      for (const path of [
        '/tenants?limit=0',
        '/tenants?limit=-1',
        '/tenants?limit=abc',
        '/tenants?limit=1001',
        `/tenants?cursor=${long}`,
        '/tenants?unknown=1',
        '/applications?limit=1.5',
        `/tenants/${t}/users?limit=%00`,
        '/admin-tokens?tenantId=',
        `/tenants/${t}/applications/${a}/policy/resolved?userId=`,
        `/tenants/${t}/audit?event=`,
        `/tenants/${t}/audit?to=2026-13-45T00:00:00Z`,
        `/tenants/${t}/audit?cursor=99999999999999999999`,
      ]) {
        const res = await h.call(h.platformToken, 'GET', path);
        assert.equal(res.status, 400, `${path} → ${res.status} ${JSON.stringify(res.body)}`);
        assert.ok(STABLE_CODES.has(res.body.error), path);
      }
      assert.deepEqual(await snapshot(h.database), before);
    });

    it(
      'a path parameter longer than any id, or holding a NUL, answers 4xx in the common error shape',
      async () => {
        for (const path of [`/tenants/${'x'.repeat(300)}`, `/tenants/${t}/users/${'x'.repeat(300)}`, `/tenants/${'x'.repeat(3000)}`, '/tenants/a%00b', '/applications/a%00b', `/tenants/${t}/users/a%00b`]) {
          const res = await h.call(h.platformToken, 'GET', path);
          assert.ok(res.status >= 400 && res.status < 500, path);
          // An id no row can have is either refused as input or simply not found; both are stable answers.
          assert.ok(STABLE_CODES.has(res.body.error) || res.body.error === 'NOT_FOUND', `${path} → ${JSON.stringify(res.body).slice(0, 120)}`);
        }
      },
    );

    it('the valid bodies used above are accepted (the mutations were the only thing wrong)', async () => {
      for (const route of routes) {
        const res = await h.call(h.platformToken, route.method, route.path, route.valid);
        assert.ok(res.status >= 200 && res.status < 300, `${route.method} ${route.path} → ${res.status} ${JSON.stringify(res.body)}`);
      }
    });
  });
});
