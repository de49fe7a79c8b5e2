import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validatePolicyLayer } from './validate.ts';

test('a value out of range is refused with the field and the bound named', () => {
  const result = validatePolicyLayer({ gracePeriodDays: 31 });
  assert.deepEqual(result, { ok: false, errors: [{ field: 'gracePeriodDays', message: 'gracePeriodDays: 31 is above 30' }] });
});

test('nested fields are named by their dotted path', () => {
  const result = validatePolicyLayer({ risk: { challengeAt: 30, blockAt: 'high' }, recoveryCodes: { enabled: true } });
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.deepEqual(result.errors.map((e) => e.field), ['risk.blockAt', 'recoveryCodes.count']);
  assert.equal(result.errors[0]?.message, 'risk.blockAt: "high" is not a whole number');
});

test('unknown fields and unknown factor types are refused', () => {
  const result = validatePolicyLayer({ mfa: 'on', acceptableFactors: ['totp', 'carrier_pigeon'] });
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.deepEqual(result.errors.map((e) => e.field), ['mfa', 'acceptableFactors[1]']);
});

test('challengeAt above blockAt is refused', () => {
  const result = validatePolicyLayer({ risk: { challengeAt: 90, blockAt: 80 } });
  assert.equal(result.ok, false);
});

test('a valid partial layer passes unchanged', () => {
  const layer = { enrollment: 'required', acceptableFactors: 'phishing_resistant', gracePeriodDays: 0, totpIssuer: null };
  assert.deepEqual(validatePolicyLayer(layer), { ok: true, layer });
});

test('a non-object is refused', () => {
  for (const input of [null, 3, 'x', [], undefined]) assert.equal(validatePolicyLayer(input).ok, false);
});
