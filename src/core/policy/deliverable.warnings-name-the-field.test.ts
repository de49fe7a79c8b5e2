import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FactorType } from '../factors.ts';
import { enrollableFactorTypes, policyDeliverabilityWarnings, type PolicyWarning } from './deliverable.ts';
import { DEFAULT_POLICY, type Policy, type PolicyLayer } from './model.ts';

/** What this deployment delivers today (src/factors `DELIVERABLE_FACTOR_TYPES`). */
const TODAY: ReadonlySet<FactorType> = new Set<FactorType>(['totp', 'recovery_codes']);

/** The layer over the defaults: the policy as saved when no other layer applies. */
function asSaved(layer: PolicyLayer): Policy {
  return { ...DEFAULT_POLICY, ...layer } as Policy;
}

function codesAndFields(warnings: readonly PolicyWarning[]): string[] {
  return warnings.map((w) => `${w.code} ${w.field}`);
}

describe('policyDeliverabilityWarnings', () => {
  const table: { name: string; layer: PolicyLayer; expected: string[] }[] = [
    { name: 'an empty layer says nothing (defaults allow passkeys, but the layer names none)', layer: {}, expected: [] },
    { name: 'deliverable types only', layer: { allowedFactors: ['totp', 'recovery_codes'], acceptableFactors: ['totp', 'recovery_codes'] }, expected: [] },
    { name: 'the broad named sets name no type in particular', layer: { acceptableFactors: 'recovery_excluded' }, expected: [] },
    {
      name: 'each undeliverable list entry, at its index',
      layer: { allowedFactors: ['webauthn', 'totp', 'sms_otp'] },
      expected: ['FACTOR_NOT_DELIVERABLE allowedFactors[0]', 'FACTOR_NOT_DELIVERABLE allowedFactors[2]'],
    },
    {
      name: 'an explicit acceptable list',
      layer: { acceptableFactors: ['totp', 'email_otp'] },
      expected: ['FACTOR_NOT_DELIVERABLE acceptableFactors[1]'],
    },
    { name: 'a named set naming WebAuthn alongside TOTP', layer: { acceptableFactors: 'totp_webauthn' }, expected: ['FACTOR_NOT_DELIVERABLE acceptableFactors'] },
    {
      name: 'phishing-resistant only: the type, and no deliverable factor left',
      layer: { enrollment: 'required', acceptableFactors: 'phishing_resistant' },
      expected: ['FACTOR_NOT_DELIVERABLE acceptableFactors', 'NO_DELIVERABLE_FACTOR acceptableFactors'],
    },
    {
      name: 'enhanced strength over email-only allowed factors leaves nothing, pointed at strength',
      layer: { strength: 'enhanced', allowedFactors: ['email_otp', 'recovery_codes'] },
      expected: ['FACTOR_NOT_DELIVERABLE allowedFactors[0]', 'NO_DELIVERABLE_FACTOR strength'],
    },
    {
      name: 'recovery codes alone cannot be enrolled',
      layer: { acceptableFactors: ['recovery_codes'] },
      expected: ['NO_DELIVERABLE_FACTOR acceptableFactors'],
    },
  ];
  for (const row of table) {
    test(row.name, () => {
      assert.deepEqual(codesAndFields(policyDeliverabilityWarnings(row.layer, asSaved(row.layer), TODAY)), row.expected);
    });
  }

  test('NO_DELIVERABLE_FACTOR is judged on the policy as saved, not on the layer alone', () => {
    // The layer only sets enrollment; an inherited passkeys-only set leaves nothing: the warning has no field to name.
    const inherited = { ...DEFAULT_POLICY, acceptableFactors: 'phishing_resistant', enrollment: 'required' } as Policy;
    const warnings = policyDeliverabilityWarnings({ enrollment: 'required' }, inherited, TODAY);
    assert.deepEqual(codesAndFields(warnings), ['NO_DELIVERABLE_FACTOR ']);
    assert.match(warnings[0]?.message ?? '', /enrollment wall with nothing to enroll/);
  });

  test('messages name the field, the type and what the deployment delivers', () => {
    const [warning] = policyDeliverabilityWarnings({ allowedFactors: ['totp', 'sms_otp'] }, asSaved({ allowedFactors: ['totp', 'sms_otp'] }), TODAY);
    assert.deepEqual(warning, {
      code: 'FACTOR_NOT_DELIVERABLE',
      field: 'allowedFactors[1]',
      message: 'allowedFactors[1]: sms_otp cannot be delivered by this deployment (it delivers totp, recovery_codes)',
    });
  });

  test('a deployment that delivers the type has nothing to say', () => {
    const layer: PolicyLayer = { enrollment: 'required', acceptableFactors: 'phishing_resistant', allowedFactors: ['webauthn', 'sms_otp'] };
    assert.deepEqual(policyDeliverabilityWarnings(layer, asSaved(layer), new Set<FactorType>(['webauthn', 'sms_otp', 'totp'])), []);
  });
});

describe('enrollableFactorTypes', () => {
  test('allowed ∩ accepted (after strength) ∩ deliverable, without recovery codes, strongest first', () => {
    assert.deepEqual(enrollableFactorTypes(DEFAULT_POLICY, new Set<FactorType>(['email_otp', 'totp', 'recovery_codes'])), ['totp', 'email_otp']);
    assert.deepEqual(enrollableFactorTypes({ ...DEFAULT_POLICY, strength: 'enhanced' }, new Set<FactorType>(['email_otp', 'totp'])), ['totp']);
    assert.deepEqual(enrollableFactorTypes({ ...DEFAULT_POLICY, acceptableFactors: 'phishing_resistant' }, TODAY), []);
  });
});
