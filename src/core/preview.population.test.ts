import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decide } from './decision/decide.ts';
import type { DecisionApplication, DecisionUser, Outcome } from './decision/types.ts';
import type { FactorType } from './factors.ts';
import { floorsFor } from './policy/floors.ts';
import type { PolicyLayer } from './policy/model.ts';
import { resolvePolicy, type ResolvedPolicy } from './policy/resolve.ts';
import { previewPolicy, type PreviewSubject } from './preview.ts';
import { DAY_MS } from './time.ts';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const BANK: DecisionApplication = { id: 'app_bank', name: 'bank', firstParty: false };
/** What this deployment delivers today (src/factors `DELIVERABLE_FACTOR_TYPES`); core takes it as data. */
const DELIVERABLE: ReadonlySet<FactorType> = new Set<FactorType>(['totp', 'recovery_codes']);

function tenantPolicy(layer: PolicyLayer, application: DecisionApplication = BANK): ResolvedPolicy {
  return resolvePolicy([{ level: 'tenant', name: 'acme', versions: [{ version: 1, effectiveAt: NOW - 365 * DAY_MS, layer }] }], floorsFor(application), NOW);
}

/**
 * Fifty users in five cohorts of ten, by `i % 5`:
 * 0 — no factor, signed up 90 days ago;  1 — no factor, signed up 3 days ago (inside a 14-day grace);
 * 2 — email OTP only, 90 days;  3 — TOTP (and recovery codes);  4 — passkey, role "break-glass".
 * Users 48 (a TOTP user) and 49 (a break-glass user) sign in at risk 90: blocked under any policy.
 */
function population(): PreviewSubject[] {
  const subjects: PreviewSubject[] = [];
  for (let i = 0; i < 50; i++) {
    const cohort = i % 5;
    const types: FactorType[] = [[], [], ['email_otp'], ['totp', 'recovery_codes'], ['webauthn']][cohort] as FactorType[];
    const user: DecisionUser = {
      id: `u${String(i).padStart(2, '0')}`,
      roles: cohort === 4 ? ['break-glass'] : ['staff'],
      factors: types.map((type, k) => ({ id: `f${i}_${k}`, type, status: 'active', ...(type === 'recovery_codes' ? { remaining: 10 } : {}) })),
      firstSignInAt: cohort === 1 ? NOW - 3 * DAY_MS : NOW - 90 * DAY_MS,
      graceUntil: null,
    };
    subjects.push(i >= 48 ? { user, risk: { status: 'ok', score: 90, signals: [{ code: 'impossible_travel', weight: 90 }] } } : { user });
  }
  return subjects;
}

const subjects = population();
const ids = (pred: (i: number) => boolean): string[] => subjects.map((s, i) => [s.user.id, i] as const).filter(([, i]) => pred(i)).map(([id]) => id);
const cohort = (c: number, except: readonly number[] = []): ((i: number) => boolean) => (i) => i % 5 === c && !except.includes(i);

describe('previewPolicy over a population of 50 users', () => {
  const current = tenantPolicy({ enrollment: 'optional', challenge: 'adaptive' });
  const draft = tenantPolicy({ enrollment: 'required', strength: 'enhanced', challenge: 'always', exemptRoles: ['break-glass'] });
  const result = previewPolicy({ application: BANK, current, draft, population: subjects, now: NOW, deliverable: DELIVERABLE });

  test('counts and user ids per outcome under the current policy', () => {
    assert.equal(result.current.total, 50);
    assert.deepEqual(result.current.outcomes.allow.userIds, ids((i) => i < 48));
    assert.equal(result.current.outcomes.allow.count, 48);
    assert.deepEqual(result.current.outcomes.block, { count: 2, userIds: ['u48', 'u49'] });
    assert.deepEqual(result.current.outcomes.challenge, { count: 0, userIds: [] });
    assert.deepEqual(result.current.outcomes.enroll, { count: 0, userIds: [] });
    assert.deepEqual(result.current.errorCodes, { ACCESS_DENIED_RISK: { count: 2, userIds: ['u48', 'u49'] } });
  });

  test('counts and user ids per outcome under the tightened draft', () => {
    const o = result.draft.outcomes;
    assert.equal(result.draft.total, 50);
    assert.deepEqual(o.allow.userIds, ids((i) => cohort(1)(i) || cohort(4, [49])(i)));
    assert.equal(o.allow.count, 19);
    assert.deepEqual(o.challenge.userIds, ids(cohort(3, [48])));
    assert.equal(o.challenge.count, 9);
    assert.deepEqual(o.enroll.userIds, ids((i) => cohort(0)(i) || cohort(2)(i)));
    assert.equal(o.enroll.count, 20);
    assert.deepEqual(o.block, { count: 2, userIds: ['u48', 'u49'] });
  });

  test('counts and user ids per error code under the draft', () => {
    const e = result.draft.errorCodes;
    assert.deepEqual(Object.keys(e).sort(), ['ACCESS_DENIED_RISK', 'MFA_FACTOR_NOT_ALLOWED', 'MFA_GRACE_EXPIRED']);
    assert.deepEqual(e.MFA_GRACE_EXPIRED, { count: 10, userIds: ids(cohort(0)) });
    assert.deepEqual(e.MFA_FACTOR_NOT_ALLOWED, { count: 10, userIds: ids(cohort(2)) });
    assert.deepEqual(e.ACCESS_DENIED_RISK, { count: 2, userIds: ['u48', 'u49'] });
  });

  test('users inside a grace window are reported (allowed now, walled later)', () => {
    assert.deepEqual(result.draft.inGrace, { count: 10, userIds: ids(cohort(1)) });
    assert.deepEqual(result.current.inGrace, { count: 0, userIds: [] });
  });

  test('the moves: who goes from allow to enroll and from allow to challenge, largest move first', () => {
    assert.deepEqual(
      result.moves.map((m) => [m.from, m.to, m.count]),
      [
        ['allow', 'enroll', 20],
        ['allow', 'challenge', 9],
      ],
    );
    assert.deepEqual(result.moves[0]?.userIds, ids((i) => cohort(0)(i) || cohort(2)(i)));
    assert.deepEqual(result.moves[1]?.userIds, ids(cohort(3, [48])));
    assert.equal(result.unchanged, 21);
    assert.equal(result.unchanged + result.moves.reduce((n, m) => n + m.count, 0), 50);
  });

  test('every bucket agrees with decide for that user, and every user is in exactly one outcome bucket', () => {
    for (const [policy, buckets] of [[current, result.current], [draft, result.draft]] as const) {
      let total = 0;
      for (const outcome of ['allow', 'challenge', 'enroll', 'block'] as Outcome[]) {
        total += buckets.outcomes[outcome].count;
        assert.equal(buckets.outcomes[outcome].count, buckets.outcomes[outcome].userIds.length);
      }
      assert.equal(total, 50);
      for (const s of subjects) {
        const d = decide({ policy, application: BANK, user: s.user, purpose: { kind: 'signin' }, risk: s.risk ?? { status: 'ok', score: 0, signals: [] }, device: null, lastMfaAt: null, now: NOW });
        assert.ok(buckets.outcomes[d.outcome].userIds.includes(s.user.id), `${s.user.id} in ${d.outcome}`);
        if (d.errorCode !== null) assert.ok(buckets.errorCodes[d.errorCode]?.userIds.includes(s.user.id));
      }
    }
  });

  test('a draft equal to the current policy moves nobody', () => {
    const same = previewPolicy({ application: BANK, current, draft: current, population: subjects, now: NOW, deliverable: DELIVERABLE });
    assert.deepEqual(same.moves, []);
    assert.equal(same.unchanged, 50);
    assert.deepEqual(same.draft, same.current);
  });

  test('a loosening shows the reverse moves', () => {
    const loose = previewPolicy({ application: BANK, current: draft, draft: current, population: subjects, now: NOW, deliverable: DELIVERABLE });
    assert.deepEqual(
      loose.moves.map((m) => [m.from, m.to, m.count]),
      [
        ['enroll', 'allow', 20],
        ['challenge', 'allow', 9],
      ],
    );
  });

  test('the preview is pure: the population is not modified and a second run gives the same result', () => {
    const before = structuredClone(subjects);
    const again = previewPolicy({ application: BANK, current, draft, population: subjects, now: NOW, deliverable: DELIVERABLE });
    assert.deepEqual(subjects, before);
    assert.deepEqual(again, result);
  });

  test('on a first-party application the draft cannot preview a weaker policy than the floor', () => {
    const consoleApp: DecisionApplication = { id: 'app_console', name: 'console', firstParty: true };
    const never = tenantPolicy({ challenge: 'never', enrollment: 'optional' }, consoleApp);
    const r = previewPolicy({ application: consoleApp, current: never, draft: never, population: subjects, now: NOW, deliverable: DELIVERABLE });
    // Everyone holding a factor (email, TOTP, passkey; no exemption in this policy) is challenged; the rest are
    // inside grace (cohort 1) or walled (cohort 0).
    assert.deepEqual(r.draft.outcomes.challenge.userIds, ids((i) => i % 5 >= 2 && i < 48));
    assert.deepEqual(r.draft.outcomes.enroll.userIds, ids(cohort(0)));
    assert.deepEqual(r.draft.outcomes.allow.userIds, ids(cohort(1)));
  });

  test('nothingToEnroll counts the users walled with no deliverable option, and only them', () => {
    // Passkeys only, required: without WebAuthn in the deployment, everyone sent to enrollment is stuck there.
    const passkeysOnly = tenantPolicy({ enrollment: 'required', acceptableFactors: 'phishing_resistant', challenge: 'always' });
    const r = previewPolicy({ application: BANK, current, draft: passkeysOnly, population: subjects, now: NOW, deliverable: DELIVERABLE });
    // Cohort 0 (no factor, grace over), 2 (email only) and 3 (TOTP, no longer accepted) are walled; 48 is blocked;
    // cohort 1 is still inside its grace window; cohort 4 holds a passkey and is challenged.
    const walled = ids((i) => [0, 2, 3].includes(i % 5) && i !== 48);
    assert.deepEqual(r.draft.outcomes.enroll.userIds, walled);
    assert.deepEqual(r.draft.nothingToEnroll, { count: walled.length, userIds: walled });
    assert.deepEqual(r.current.nothingToEnroll, { count: 0, userIds: [] });
    // The same wall with WebAuthn delivered offers a passkey: nobody is stuck.
    const withPasskeys = previewPolicy({ application: BANK, current, draft: passkeysOnly, population: subjects, now: NOW, deliverable: new Set<FactorType>([...DELIVERABLE, 'webauthn']) });
    assert.deepEqual(withPasskeys.draft.outcomes.enroll.userIds, walled);
    assert.deepEqual(withPasskeys.draft.nothingToEnroll, { count: 0, userIds: [] });
  });

  test('a wall that offers a deliverable factor is not counted in nothingToEnroll', () => {
    // The enhanced draft sends cohorts 0 and 2 to enrollment, where TOTP is offered.
    assert.ok(result.draft.outcomes.enroll.count > 0);
    assert.deepEqual(result.draft.nothingToEnroll, { count: 0, userIds: [] });
  });
});
