/**
 * The step-up registry in `decide`: a named action's max age decides fresh vs stale, and an action that requires a
 * factor class (payment → phishing_resistant here) is answered only by that class — a fresh TOTP sign-in does not
 * count for it, a fresh grant earned with a passkey does, and a stale one does not; TOTP is not offered for it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FactorClass } from '../factors.ts';
import type { PolicyLayer } from '../policy/model.ts';
import { resolvePolicy } from '../policy/resolve.ts';
import { decide } from './decide.ts';
import type { CompletedStep, Decision, UserFactor } from './types.ts';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const REGISTRY: PolicyLayer = {
  stepUp: { defaultMaxAgeSeconds: 300, actions: { payment: 120, 'data-export': 600 }, factorClasses: { payment: 'phishing_resistant' } },
};
const BOTH: UserFactor[] = [
  { id: 't', type: 'totp', status: 'active' },
  { id: 'w', type: 'webauthn', status: 'active' },
];

function stepUp(action: string, opts: { lastMfaAt?: number | null; classes?: FactorClass[]; grantAt?: number | null; factors?: UserFactor[]; completed?: CompletedStep[] }): Decision {
  const policy = resolvePolicy([{ level: 'tenant', name: 'acme', versions: [{ version: 1, effectiveAt: NOW - 1_000_000, layer: REGISTRY }] }], [], NOW);
  return decide({
    policy,
    application: { id: 'a', name: 'bank', firstParty: false },
    user: { id: 'u', roles: [], factors: opts.factors ?? BOTH, firstSignInAt: NOW - 86_400_000, graceUntil: null },
    purpose: { kind: 'step_up', action },
    risk: { status: 'ok', score: 0, signals: [] },
    lastMfaAt: opts.lastMfaAt ?? null,
    ...(opts.classes === undefined ? {} : { sessionFactorClasses: opts.classes }),
    ...(opts.grantAt === undefined ? {} : { stepUpGrantAt: opts.grantAt }),
    ...(opts.completed === undefined ? {} : { completed: opts.completed }),
    now: NOW,
  });
}

describe('max age per action', () => {
  test('data-export (600 s): an MFA 599 s ago is fresh → allow; 600 s ago is stale → challenge', () => {
    assert.equal(stepUp('data-export', { lastMfaAt: NOW - 599_000, classes: ['possession'] }).outcome, 'allow');
    const stale = stepUp('data-export', { lastMfaAt: NOW - 600_000, classes: ['possession'] });
    assert.equal(stale.outcome, 'challenge');
    assert.deepEqual(stale.methods, ['webauthn', 'totp']);
  });
  test('an unregistered action takes the default max age (300 s)', () => {
    assert.equal(stepUp('rename-pet', { lastMfaAt: NOW - 299_000 }).outcome, 'allow');
    assert.equal(stepUp('rename-pet', { lastMfaAt: NOW - 300_000 }).outcome, 'challenge');
  });
});

describe('a required factor class (payment → phishing_resistant)', () => {
  test('a fresh TOTP sign-in does not count: challenged with webauthn only, the requirement in the reasons', () => {
    const d = stepUp('payment', { lastMfaAt: NOW - 10_000, classes: ['possession'] });
    assert.equal(d.outcome, 'challenge');
    assert.deepEqual(d.methods, ['webauthn']);
    assert.ok(d.reasons.some((r) => r.code === 'step_up_factor_class' && r.detail === '"payment" requires a phishing_resistant factor'));
    assert.match(d.reasons.at(-1)?.detail ?? '', /no phishing_resistant MFA in this session/);
  });
  test('a session whose MFA was a passkey, fresh: allow; stale (121 s): challenge', () => {
    assert.equal(stepUp('payment', { lastMfaAt: NOW - 60_000, classes: ['phishing_resistant'] }).outcome, 'allow');
    assert.equal(stepUp('payment', { lastMfaAt: NOW - 121_000, classes: ['phishing_resistant'] }).outcome, 'challenge');
  });
  test('a session that also proved TOTP: only a payment grant counts (fresh grant allow, stale grant challenge)', () => {
    assert.equal(stepUp('payment', { lastMfaAt: NOW - 5_000, classes: ['phishing_resistant', 'possession'], grantAt: null }).outcome, 'challenge');
    assert.equal(stepUp('payment', { lastMfaAt: NOW - 5_000, classes: ['phishing_resistant', 'possession'], grantAt: NOW - 100_000 }).outcome, 'allow');
    assert.equal(stepUp('payment', { lastMfaAt: NOW - 5_000, classes: ['phishing_resistant', 'possession'], grantAt: NOW - 130_000 }).outcome, 'challenge');
  });
  test('completing TOTP in the step-up does not satisfy it; a passkey with user verification does', () => {
    assert.notEqual(stepUp('payment', { completed: [{ method: 'totp', factorId: 't' }] }).outcome, 'allow');
    assert.equal(stepUp('payment', { completed: [{ method: 'webauthn', factorId: 'w', userVerified: true }] }).outcome, 'allow');
  });
  test('a TOTP-only user: sent to enroll a passkey', () => {
    const d = stepUp('payment', { factors: [{ id: 't', type: 'totp', status: 'active' }] });
    assert.equal(d.outcome, 'enroll');
    assert.deepEqual(d.enrollOptions, ['webauthn']);
  });
});
