/**
 * Every decision endpoint answers the one envelope, on SQLite and PostgreSQL. The decision endpoints are not listed
 * here: they are the routes whose OpenAPI document declares the envelope (`DecisionEnvelope`, the schema the routes
 * register), so a new decision route that is not driven below fails the test. Each real answer — sign-in,
 * status/check, verify with TOTP and with a recovery code, enrollment confirm, step-up, and the risk block — is
 * validated against that same TypeBox schema compiled by TypeBox's compiler (the validator the HTTP layer uses), and
 * every status is seen at least once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import '../../src/http/validator.ts'; // registers the `date-time` format the schemas use
import { DecisionAnswer } from '../../src/http/routes/auth/schemas.ts';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { challengeOfOptions, SoftCredential } from '../support/soft-authenticator.ts';
import { api, createAuthHarness, createClient, createTenant, createUser, expectStatus, PASSWORD, savePolicy, totpAt, type ApiResult, type TestClient } from './auth-support.ts';

const DECISION_STATUSES = ['authenticated', 'mfa_required', 'enrollment_required', 'step_up_required', 'blocked'] as const;
const answerCheck = TypeCompiler.Compile(DecisionAnswer);

type JsonSchema = { readonly title?: string; readonly [key: string]: unknown };

/** Whether a schema (or any schema inside it) carries this title. */
function hasTitle(schema: unknown, title: string): boolean {
  if (schema === null || typeof schema !== 'object') return false;
  if ((schema as JsonSchema).title === title) return true;
  return Object.values(schema as Record<string, unknown>).some((v) => hasTitle(v, title));
}

/** Schemas inside `schema` that declare a `status` property able to hold a decision status, outside the envelope. */
function strayStatusSchemas(schema: unknown, inside = false): number {
  if (schema === null || typeof schema !== 'object') return 0;
  const s = schema as JsonSchema;
  const here = inside || s.title === 'DecisionEnvelope' || s.title === 'BlockedEnvelope';
  const status = (s.properties as Record<string, JsonSchema> | undefined)?.status;
  const values = status === undefined ? [] : [status.const, ...((status.enum as unknown[] | undefined) ?? []), ...((status.anyOf as JsonSchema[] | undefined) ?? []).map((a) => a.const)];
  const stray = !here && values.some((v) => (DECISION_STATUSES as readonly unknown[]).includes(v)) ? 1 : 0;
  return stray + Object.values(s).reduce<number>((n, v) => n + strayStatusSchemas(v, here), 0);
}

function problems(body: unknown): string {
  return [...answerCheck.Errors(body)].slice(0, 5).map((e) => `${e.path}: ${e.message}`).join('; ');
}

forEachDialect((dialect) => {
  describe(`one answer envelope (${dialect})`, () => {
    let h: Harness;
    let bank: TestClient;
    let decisionRoutes: string[];
    /** Every answer of a decision route in this suite, by `METHOD /path`. */
    const answers = new Map<string, ApiResult[]>();

    before(async () => {
      h = await createAuthHarness(dialect);
      bank = await createClient(h, 'bank');
      const doc = JSON.parse((await h.app.inject({ method: 'GET', url: '/api/openapi.json' })).body) as { paths: Record<string, Record<string, { responses?: Record<string, unknown> }>> };
      decisionRoutes = [];
      let stray = 0;
      for (const [path, operations] of Object.entries(doc.paths)) {
        for (const [method, operation] of Object.entries(operations)) {
          if (hasTitle(operation.responses, 'DecisionEnvelope')) decisionRoutes.push(`${method.toUpperCase()} ${path.replace(/^\/api\/v1/, '')}`);
          stray += strayStatusSchemas(operation.responses);
        }
      }
      decisionRoutes.sort();
      assert.equal(stray, 0, 'a response declares a decision status outside the envelope schema');
    });
    after(() => h?.close());

    /** Calls the API and keeps the answer when the route is a decision route. */
    async function call(method: 'POST', path: string, body: unknown, session?: string): Promise<ApiResult> {
      const res = await api(h, bank, method, path, body, session === undefined ? {} : { 'x-portcullis-session': session });
      const key = `${method} ${path}`;
      if (decisionRoutes.includes(key)) answers.set(key, [...(answers.get(key) ?? []), res]);
      return res;
    }

    it('the decision routes are the five the issue names (with one confirm per factor type, and the passkey-first sign-in), each declaring the envelope and the blocked answer', () => {
      assert.deepEqual(decisionRoutes, [
        'POST /auth/mfa/enroll/totp/confirm',
        'POST /auth/mfa/enroll/webauthn/confirm',
        'POST /auth/mfa/status/check',
        'POST /auth/mfa/step-up',
        'POST /auth/mfa/verify',
        'POST /auth/passkey',
        'POST /auth/signin',
      ]);
    });

    it('sign-in, confirm, verify (TOTP and recovery code), status/check and step-up each answer the envelope', async () => {
      const tenant = await createTenant(h, 'envelope', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
      const ada = await createUser(h, tenant.id, 'ada@example.com');
      const bob = await createUser(h, tenant.id, 'bob@example.com');
      const context = { ip: '192.0.2.10', deviceId: 'laptop-1', userAgent: 'envelope' };
      const signin = (): Promise<ApiResult> => call('POST', '/auth/signin', { tenant: 'envelope', identifier: 'ada@example.com', password: PASSWORD, context });

      // The wall, then enrollment confirmed in that MFA session: authenticated.
      const walled = await signin();
      assert.equal(walled.body.status, 'enrollment_required', walled.text);
      const begun = await api(h, bank, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: walled.body.mfaSessionId });
      expectStatus(begun, 200, 'begin TOTP');
      const confirmed = await call('POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: walled.body.mfaSessionId, factorId: begun.body.factorId, code: totpAt(begun.body.secret, h.clock.now()) });
      assert.equal(confirmed.body.status, 'authenticated', confirmed.text);
      const recoveryCodes = confirmed.body.recoveryCodes as string[];

      // Challenged, answered with TOTP.
      h.clock.advance(30_000);
      const challenged = await signin();
      assert.equal(challenged.body.status, 'mfa_required', challenged.text);
      const byTotp = await call('POST', '/auth/mfa/verify', { mfaSessionId: challenged.body.mfaSessionId, method: 'totp', code: totpAt(begun.body.secret, h.clock.now()) });
      assert.equal(byTotp.body.status, 'authenticated', byTotp.text);

      // Challenged, answered with a recovery code.
      const again = await signin();
      const byCode = await call('POST', '/auth/mfa/verify', { mfaSessionId: again.body.mfaSessionId, method: 'recovery_codes', code: recoveryCodes[0] });
      assert.equal(byCode.body.status, 'authenticated', byCode.text);

      // status/check: a user with a factor is challenged, one without is walled.
      assert.equal((await call('POST', '/auth/mfa/status/check', { tenant: 'envelope', userId: ada.id, context })).body.status, 'mfa_required');
      assert.equal((await call('POST', '/auth/mfa/status/check', { tenant: 'envelope', userId: bob.id, context })).body.status, 'enrollment_required');

      // Step-up: fresh in the session, then stale (after the 300-second max age) and answered with verify.
      const session = byTotp.body.session.token as string;
      assert.equal((await call('POST', '/auth/mfa/step-up', { action: 'payment' }, session)).body.status, 'authenticated');
      h.clock.advance(301_000);
      const stale = await call('POST', '/auth/mfa/step-up', { action: 'payment' }, session);
      assert.equal(stale.body.status, 'step_up_required', stale.text);
      const stepped = await call('POST', '/auth/mfa/verify', { mfaSessionId: stale.body.mfaSessionId, method: 'totp', code: totpAt(begun.body.secret, h.clock.now()) });
      assert.equal(stepped.body.status, 'authenticated', stepped.text);

      // A passkey registered at bob's wall, then a passkey-first sign-in: the same envelope.
      const bobWalled = await call('POST', '/auth/signin', { tenant: 'envelope', identifier: 'bob@example.com', password: PASSWORD, context });
      const options = await api(h, bank, 'POST', '/auth/mfa/enroll/webauthn', { mfaSessionId: bobWalled.body.mfaSessionId });
      expectStatus(options, 200, 'begin webauthn');
      const passkey = new SoftCredential({ seed: `envelope-${h.dialect}`, rpId: 'localhost', origin: 'http://localhost', userHandle: bob.id });
      const registered = await call('POST', '/auth/mfa/enroll/webauthn/confirm', { mfaSessionId: bobWalled.body.mfaSessionId, credential: passkey.register(challengeOfOptions(options.body)) });
      assert.equal(registered.body.status, 'authenticated', registered.text);
      const firstOptions = await api(h, bank, 'POST', '/auth/passkey/options', { tenant: 'envelope' });
      const first = await call('POST', '/auth/passkey', { tenant: 'envelope', credential: passkey.assert(challengeOfOptions(firstOptions.body)), context });
      assert.equal(first.body.status, 'authenticated', first.text);
    });

    it('the risk block answers the envelope’s blocked status on sign-in, status/check and step-up', async () => {
      const tenant = await createTenant(h, 'blocking', { enrollment: 'optional' });
      const user = await createUser(h, tenant.id, 'risky@example.com');
      const context = { ip: '203.0.113.7', deviceId: 'never-seen' };
      const held = await call('POST', '/auth/signin', { tenant: 'blocking', identifier: 'risky@example.com', password: PASSWORD, context });
      assert.equal(held.body.status, 'authenticated', held.text);
      await savePolicy(h, tenant.id, { enrollment: 'optional', risk: { challengeAt: 5, blockAt: 10 } });
      for (const res of [
        await call('POST', '/auth/signin', { tenant: 'blocking', identifier: 'risky@example.com', password: PASSWORD, context }),
        await call('POST', '/auth/mfa/status/check', { tenant: 'blocking', userId: user.id, context }),
        await call('POST', '/auth/mfa/step-up', { action: 'payment', context }, held.body.session.token as string),
      ]) {
        expectStatus(res, 403, 'blocked');
        assert.equal(res.body.status, 'blocked', res.text);
      }
    });

    it('every answer of every decision route validates against the one envelope schema, and every status was seen', () => {
      const seen = new Set<string>();
      for (const route of decisionRoutes) {
        const got = answers.get(route) ?? [];
        assert.ok(got.length > 0, `${route} declares the envelope but no answer of it was checked: drive it in this test`);
        for (const res of got) {
          assert.ok(res.status === 200 || (res.status === 403 && res.body.status === 'blocked'), `${route}: ${res.status} ${res.text.slice(0, 300)}`);
          assert.ok(answerCheck.Check(res.body), `${route} answered outside the envelope: ${problems(res.body)}`);
          seen.add(res.body.status as string);
        }
      }
      assert.deepEqual([...seen].sort(), [...DECISION_STATUSES].sort());
    });

    it('the schema is not vacuous: an answer missing what its status needs, or with another status, is refused', () => {
      const all = [...answers.values()].flat().map((r) => r.body as Record<string, unknown>);
      const first = (status: string): Record<string, unknown> => {
        const found = all.find((b) => b.status === status);
        assert.ok(found !== undefined, status);
        return found;
      };
      const without = (body: Record<string, unknown>, field: string): Record<string, unknown> => Object.fromEntries(Object.entries(body).filter(([k]) => k !== field));
      const refused: [string, Record<string, unknown>][] = [
        ['authenticated without session', without(first('authenticated'), 'session')],
        ['authenticated without decision', without(first('authenticated'), 'decision')],
        ['mfa_required without mfaSessionId', without(first('mfa_required'), 'mfaSessionId')],
        ['mfa_required without methods', without(first('mfa_required'), 'methods')],
        ['enrollment_required without enrollOptions', without(first('enrollment_required'), 'enrollOptions')],
        ['step_up_required without action', without(first('step_up_required'), 'action')],
        ['blocked without errorCode', without(first('blocked'), 'errorCode')],
        ['an unknown status', { ...first('authenticated'), status: 'allow' }],
      ];
      for (const [what, body] of refused) assert.equal(answerCheck.Check(body), false, what);
    });
  });
});
