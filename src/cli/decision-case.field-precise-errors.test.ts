import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readDecisionCase } from './decision-case.ts';

const VALID = {
  now: '2026-03-01T12:00:00Z',
  application: { id: 'app_bank', name: 'bank', firstParty: false },
  layers: [
    { level: 'tenant_application', name: 'acme × bank', versions: [{ version: 1, effectiveAt: '2026-01-01T00:00:00Z', layer: { challenge: 'always' } }] },
    { level: 'tenant', name: 'acme', versions: [{ version: 2, effectiveAt: '2026-01-01T00:00:00+01:00', expiresAt: '2027-01-01T00:00:00Z', layer: { enrollment: 'required' } }] },
  ],
  user: { id: 'u1', roles: ['staff'], factors: [{ id: 'f1', type: 'totp', status: 'active' }], firstSignInAt: '2025-12-01T09:30:00.250Z', graceUntil: null },
  purpose: { kind: 'signin' },
  risk: { status: 'ok', score: 10, signals: [{ code: 'new_ip', weight: 10 }] },
  lastMfaAt: null,
  expect: { outcome: 'challenge', errorCode: null },
};

function errorsOf(patch: Record<string, unknown>): readonly string[] {
  const result = readDecisionCase({ ...VALID, ...patch });
  assert.equal(result.ok, false, 'expected the case to be refused');
  return result.ok ? [] : result.errors;
}

describe('readDecisionCase converts a valid case at the edge', () => {
  test('ISO instants become epoch ms, with offsets and milliseconds', () => {
    const result = readDecisionCase(VALID);
    assert.ok(result.ok);
    const c = result.value;
    assert.equal(c.now, Date.UTC(2026, 2, 1, 12));
    assert.equal(c.user.firstSignInAt, Date.UTC(2025, 11, 1, 9, 30, 0, 250));
    assert.equal(c.layers.find((l) => l.level === 'tenant')?.versions[0]?.effectiveAt, Date.UTC(2025, 11, 31, 23));
    assert.equal(c.layers.find((l) => l.level === 'tenant')?.versions[0]?.expiresAt, Date.UTC(2027, 0, 1));
    assert.equal(c.device, null);
    assert.deepEqual(c.completed, []);
  });

  test('layers come out least specific first whatever the file order', () => {
    const result = readDecisionCase(VALID);
    assert.ok(result.ok);
    assert.deepEqual(result.value.layers.map((l) => l.level), ['tenant', 'tenant_application']);
  });
});

describe('readDecisionCase names every faulty field by its path', () => {
  test('policy layers go through validatePolicyLayer, prefixed with where they sit', () => {
    const layers = [{ level: 'tenant', name: 'acme', versions: [{ version: 1, effectiveAt: '2026-01-01T00:00:00Z', layer: { gracePeriodDays: 31, colour: 'red' } }] }];
    const errors = errorsOf({ layers });
    assert.ok(errors.includes('layers[0].versions[0].layer.gracePeriodDays: 31 is above 30'), errors.join('\n'));
    assert.ok(errors.some((e) => e.startsWith('layers[0].versions[0].layer.colour: unknown field')), errors.join('\n'));
  });

  test('impossible dates and instants without a zone are refused', () => {
    assert.deepEqual(errorsOf({ now: '2026-02-29T00:00:00Z' }), ['now: "2026-02-29T00:00:00Z" is not a valid date and time']);
    assert.deepEqual(errorsOf({ now: '2026-03-01T12:00:00' }), ['now: "2026-03-01T12:00:00" is not an ISO-8601 instant such as 2026-03-01T12:00:00Z']);
    assert.deepEqual(errorsOf({ now: 1_772_366_400_000 }), ['now: 1772366400000 is not an ISO-8601 instant such as 2026-03-01T12:00:00Z']);
  });

  test('a version number listed twice in one layer', () => {
    const v = { version: 1, effectiveAt: '2026-01-01T00:00:00Z', layer: {} };
    assert.deepEqual(errorsOf({ layers: [{ level: 'tenant', name: 'acme', versions: [v, v] }] }), ['layers[0].versions[1].version: 1 is listed twice']);
  });

  test('purpose and risk fields that do not belong to their kind', () => {
    assert.deepEqual(errorsOf({ purpose: { kind: 'signin', action: 'payment' } }), ['purpose.action: only a step_up has an action']);
    assert.deepEqual(errorsOf({ purpose: { kind: 'step_up' } }), ['purpose.action: is missing']);
    assert.deepEqual(errorsOf({ risk: { status: 'unavailable', reason: 'down', score: 3 } }), ['risk.score: an unavailable assessment has no score']);
    assert.deepEqual(errorsOf({ risk: { status: 'ok', score: 10.5, signals: [] } }), ['risk.score: 10.5 is not a whole number']);
  });

  test('user fields: explicit null is allowed for times, a missing field is not', () => {
    const { firstSignInAt: _dropped, ...user } = VALID.user;
    assert.deepEqual(errorsOf({ user }), ['user.firstSignInAt: is missing']);
    assert.deepEqual(errorsOf({ user: { ...VALID.user, factors: [{ id: 'f1', type: 'totp', status: 'on' }] } }), ['user.factors[0].status: "on" is not one of pending, active']);
    assert.deepEqual(errorsOf({ completed: [{ method: 'magic' }] }).length, 1);
  });

  test('unknown top-level fields are refused, but description and expect are ignored', () => {
    assert.deepEqual(errorsOf({ nowish: 1 }), ['case.nowish: unknown field (known: now, application, layers, user, purpose, risk, device, lastMfaAt, completed)']);
    assert.ok(readDecisionCase({ ...VALID, description: 'x', expect: 42 }).ok);
  });

  test('a case that is not an object', () => {
    const result = readDecisionCase([]);
    assert.deepEqual(result, { ok: false, errors: ['case: an array is not an object'] });
  });
});
