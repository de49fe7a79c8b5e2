/**
 * A remembered device in `decide` (SECURITY rule 6): within `trustedDeviceDays` of the last MFA on it, under
 * `adaptive`, it lets a sign-in whose only triggers are `new_device`/`new_ip` skip the challenge, with the reason in
 * the trace and `trustedDevice` set; it never lifts a block, a first-party floor, `challenge: always`, the enrollment
 * wall, another trigger, a high score, an unavailable risk engine or a step-up; a day past its lifetime it challenges.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PolicyLayer } from '../policy/model.ts';
import { floorsFor } from '../policy/floors.ts';
import { resolvePolicy } from '../policy/resolve.ts';
import { DAY_MS } from '../time.ts';
import { decide } from './decide.ts';
import type { Decision, DecisionInput, Purpose, RiskAssessment, UserFactor } from './types.ts';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const TOTP: UserFactor[] = [{ id: 't', type: 'totp', status: 'active' }];
const NEW_DEVICE_IP: RiskAssessment = { status: 'ok', score: 25, signals: [{ code: 'new_device', weight: 20 }, { code: 'new_ip', weight: 5 }] };

function run(opts: { layer?: PolicyLayer; mfaAt?: number | null; risk?: RiskAssessment; factors?: UserFactor[]; firstParty?: boolean; purpose?: Purpose }): Decision {
  const layer: PolicyLayer = { challenge: 'adaptive', trustedDeviceDays: 30, ...opts.layer };
  const policy = resolvePolicy([{ level: 'tenant', name: 'acme', versions: [{ version: 1, effectiveAt: NOW - 100 * DAY_MS, layer }] }], floorsFor({ firstParty: opts.firstParty === true }), NOW);
  const input: DecisionInput = {
    policy,
    application: { id: 'a', name: 'shop', firstParty: opts.firstParty === true },
    user: { id: 'u', roles: [], factors: opts.factors ?? TOTP, firstSignInAt: NOW - 50 * DAY_MS, graceUntil: null },
    purpose: opts.purpose ?? { kind: 'signin' },
    risk: opts.risk ?? NEW_DEVICE_IP,
    rememberedDevice: opts.mfaAt === null ? null : { mfaAt: opts.mfaAt ?? NOW - 10 * DAY_MS },
    lastMfaAt: null,
    completed: [{ method: 'password' }],
    now: NOW,
  };
  return decide(input);
}

const codes = (d: Decision): string[] => d.reasons.map((r) => r.code);

describe('a valid remembered device under adaptive', () => {
  test('skips the challenge raised only by new_device / new_ip, with the reasons in the trace', () => {
    const d = run({});
    assert.equal(d.outcome, 'allow');
    assert.equal(d.trustedDevice, true);
    assert.deepEqual(codes(d), ['trusted_device', 'risk_signal', 'risk_signal', 'trusted_device_skip']);
  });
  test('without one, the same sign-in is challenged and trustedDevice is false', () => {
    const d = run({ mfaAt: null });
    assert.equal(d.outcome, 'challenge');
    assert.equal(d.trustedDevice, false);
  });
  test('the last millisecond of trustedDeviceDays still trusts; the instant it ends challenges with trusted_device_expired', () => {
    assert.equal(run({ mfaAt: NOW - 30 * DAY_MS + 1 }).outcome, 'allow');
    const d = run({ mfaAt: NOW - 30 * DAY_MS });
    assert.equal(d.outcome, 'challenge');
    assert.ok(codes(d).includes('trusted_device_expired'));
    assert.equal(d.trustedDevice, false);
  });
  test('trustedDeviceDays 0 trusts no device', () => {
    assert.equal(run({ layer: { trustedDeviceDays: 0 }, mfaAt: NOW - 1000 }).outcome, 'challenge');
  });
});

describe('never lifted by a remembered device', () => {
  const cases: Array<[string, Parameters<typeof run>[0], Decision['outcome']]> = [
    ['a risk block', { risk: { status: 'ok', score: 90, signals: [{ code: 'ip_reputation', weight: 90 }] } }, 'block'],
    ['a score at challengeAt', { risk: { status: 'ok', score: 30, signals: [{ code: 'failed_attempts_ip', weight: 30 }] } }, 'challenge'],
    ['a new country', { risk: { status: 'ok', score: 25, signals: [{ code: 'new_country', weight: 25 }] } }, 'challenge'],
    ['impossible travel', { risk: { status: 'ok', score: 60, signals: [{ code: 'impossible_travel', weight: 60 }] } }, 'challenge'],
    ['an unavailable risk engine', { risk: { status: 'unavailable', reason: 'timeout' } }, 'challenge'],
    ['challenge: always', { layer: { challenge: 'always' } }, 'challenge'],
    ['the first-party floor', { firstParty: true }, 'challenge'],
    ['the enrollment wall', { layer: { enrollment: 'required', gracePeriodDays: 0 }, factors: [] }, 'enroll'],
    ['a step-up', { purpose: { kind: 'step_up', action: 'payment' } }, 'challenge'],
  ];
  for (const [name, opts, outcome] of cases) {
    test(`${name} → ${outcome}`, () => {
      const d = run(opts);
      assert.equal(d.outcome, outcome);
      assert.notEqual(d.trustedDevice, true);
    });
  }
});
