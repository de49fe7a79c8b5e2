import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FactorType } from '../factors.ts';
import { floorsFor } from '../policy/floors.ts';
import type { PolicyLayer } from '../policy/model.ts';
import { indexPolicyLayers, resolvePolicy, selectLayers, type LayerInput, type ResolvedPolicy } from '../policy/resolve.ts';
import { DAY_MS, SECOND_MS } from '../time.ts';
import { decide } from './decide.ts';
import type { CompletedStep, Decision, DecisionApplication, DecisionInput, DecisionUser, Purpose, RiskAssessment, RiskSignal, UserFactor } from './types.ts';

// ---------------------------------------------------------------------------------------------------------------
// A small builder: each case states only what differs from a quiet default (an established user of tenant "acme"
// signing in to the third-party application "bank", risk score 0, no signals, no layers but the tenant's).
// ---------------------------------------------------------------------------------------------------------------

const NOW = Date.parse('2026-03-01T12:00:00Z');
const LONG_AGO = NOW - 365 * DAY_MS;
const BANK: DecisionApplication = { id: 'app_bank', name: 'bank', firstParty: false };
const CONSOLE: DecisionApplication = { id: 'app_console', name: 'console', firstParty: true };

/** `'totp'`, or `['recovery_codes', 0]` for a batch with 0 codes left, or `['webauthn', 'pending']`. */
type FactorSpec = FactorType | readonly [FactorType, number | 'pending'];

interface Given {
  /** The tenant layer (version 1, in force since `LONG_AGO` unless `changedAt` adds a version 2). */
  readonly tenant?: PolicyLayer;
  readonly appLayer?: PolicyLayer;
  readonly tenantAppLayer?: PolicyLayer;
  /** Adds a tenant version 2 with `tenant2` effective at this time (a policy change). */
  readonly changedAt?: number;
  readonly tenant2?: PolicyLayer;
  readonly application?: DecisionApplication;
  readonly factors?: readonly FactorSpec[];
  readonly roles?: readonly string[];
  /** Default: 90 days ago (an established user). `null`: this is the first sign-in. */
  readonly firstSignInAt?: number | null;
  readonly graceUntil?: number | null;
  readonly exemptUntil?: number | null;
  /** The user completed MFA before (users.lastMfaAt is set). */
  readonly completedMfaBefore?: boolean;
  readonly purpose?: Purpose;
  /** A score (no signals), a score with signals, or `'unavailable'`. */
  readonly risk?: number | readonly [number, ...string[]] | 'unavailable';
  readonly trustedAt?: number | null;
  readonly lastMfaAt?: number | null;
  readonly completed?: readonly (CompletedStep['method'] | CompletedStep)[];
  readonly now?: number;
}

function factorsOf(specs: readonly FactorSpec[]): UserFactor[] {
  return specs.map((spec, i) => {
    if (typeof spec === 'string') return { id: `f${i}`, type: spec, status: 'active' };
    const [type, extra] = spec;
    if (extra === 'pending') return { id: `f${i}`, type, status: 'pending' };
    return { id: `f${i}`, type, status: 'active', remaining: extra };
  });
}

function riskOf(risk: Given['risk']): RiskAssessment {
  if (risk === 'unavailable') return { status: 'unavailable', reason: 'geoip timeout' };
  if (risk === undefined) return { status: 'ok', score: 0, signals: [] };
  if (typeof risk === 'number') return { status: 'ok', score: risk, signals: [] };
  const [score, ...codes] = risk;
  const signals: RiskSignal[] = codes.map((code) => ({ code, weight: Math.round(score / codes.length) }));
  return { status: 'ok', score, signals };
}

function policyOf(g: Given): ResolvedPolicy {
  const application = g.application ?? BANK;
  const layers: LayerInput[] = [];
  if (g.appLayer !== undefined) layers.push({ level: 'application', name: application.name, versions: [{ version: 1, effectiveAt: LONG_AGO, layer: g.appLayer }] });
  const tenantVersions = [{ version: 1, effectiveAt: LONG_AGO, layer: g.tenant ?? {} }];
  if (g.changedAt !== undefined) tenantVersions.push({ version: 2, effectiveAt: g.changedAt, layer: g.tenant2 ?? g.tenant ?? {} });
  layers.push({ level: 'tenant', name: 'acme', versions: tenantVersions });
  if (g.tenantAppLayer !== undefined) {
    layers.push({ level: 'tenant_application', name: `acme × ${application.name}`, versions: [{ version: 1, effectiveAt: LONG_AGO, layer: g.tenantAppLayer }] });
  }
  return resolvePolicy(layers, floorsFor(application), g.now ?? NOW);
}

function inputOf(g: Given): DecisionInput {
  const user: DecisionUser = {
    id: 'u_alice',
    roles: g.roles ?? [],
    factors: factorsOf(g.factors ?? []),
    firstSignInAt: g.firstSignInAt === undefined ? NOW - 90 * DAY_MS : g.firstSignInAt,
    graceUntil: g.graceUntil ?? null,
    exemptUntil: g.exemptUntil ?? null,
    completedMfaBefore: g.completedMfaBefore ?? false,
  };
  return {
    policy: policyOf(g),
    application: g.application ?? BANK,
    user,
    purpose: g.purpose ?? { kind: 'signin' },
    risk: riskOf(g.risk),
    device: g.trustedAt === undefined ? null : { trustedAt: g.trustedAt },
    lastMfaAt: g.lastMfaAt ?? null,
    completed: (g.completed ?? []).map((s) => (typeof s === 'string' ? { method: s } : s)),
    now: g.now ?? NOW,
  };
}

function decideGiven(g: Given): Decision {
  return decide(inputOf(g));
}

interface Expect {
  readonly outcome: Decision['outcome'];
  readonly errorCode?: Decision['errorCode'];
  /** Exact, in order (strongest first). */
  readonly methods?: readonly FactorType[];
  readonly enrollOptions?: readonly FactorType[];
  readonly recovery?: boolean;
  readonly grace?: Decision['grace'];
  readonly exemption?: string | null;
  /** Codes that must appear in the trace. */
  readonly reasons?: readonly string[];
  /** Codes that must not appear in the trace. */
  readonly notReasons?: readonly string[];
  /** The code of the deciding (last) reason. */
  readonly last?: string;
  readonly check?: (d: Decision) => void;
}

interface Case extends Expect {
  readonly name: string;
  readonly given: Given;
}

/** Every decision, whatever the case: a non-empty trace of well-formed reasons, and the outcome/errorCode contract. */
function assertWellFormed(d: Decision): void {
  assert.ok(d.reasons.length > 0, 'reasons must not be empty');
  for (const r of d.reasons) {
    for (const key of ['code', 'detail', 'source'] as const) {
      assert.equal(typeof r[key], 'string', `reason.${key} is a string`);
      assert.ok(r[key].length > 0, `reason.${key} is non-empty in ${JSON.stringify(r)}`);
    }
    assert.match(r.code, /^[a-z][a-z0-9_]*$/, 'reason codes are snake_case');
  }
  if (d.outcome === 'allow') assert.equal(d.errorCode, null, 'allow never carries an errorCode');
  if (d.outcome === 'block') assert.equal(d.errorCode, 'ACCESS_DENIED_RISK');
  if (d.outcome === 'enroll') assert.notEqual(d.errorCode, null, 'an enrollment wall says why');
  if (d.outcome === 'challenge') assert.ok(d.methods.length > 0, 'a challenge offers at least one method');
}

function check(d: Decision, e: Expect): void {
  const trace = (): string => d.reasons.map((r) => `${r.code}: ${r.detail} [${r.source}]`).join('\n  ');
  assert.equal(d.outcome, e.outcome, `outcome; trace:\n  ${trace()}`);
  if (e.errorCode !== undefined) assert.equal(d.errorCode, e.errorCode, `errorCode; trace:\n  ${trace()}`);
  if (e.methods !== undefined) assert.deepEqual(d.methods, e.methods, 'methods');
  if (e.enrollOptions !== undefined) assert.deepEqual(d.enrollOptions, e.enrollOptions, 'enrollOptions');
  if (e.recovery !== undefined) assert.equal(d.recovery, e.recovery, 'recovery');
  if (e.grace !== undefined) assert.deepEqual(d.grace, e.grace, 'grace');
  if (e.exemption !== undefined) assert.equal(d.exemption, e.exemption, 'exemption');
  const codes = d.reasons.map((r) => r.code);
  for (const code of e.reasons ?? []) assert.ok(codes.includes(code), `reason ${code} expected in:\n  ${trace()}`);
  for (const code of e.notReasons ?? []) assert.ok(!codes.includes(code), `reason ${code} not expected in:\n  ${trace()}`);
  if (e.last !== undefined) assert.equal(codes.at(-1), e.last, `deciding reason; trace:\n  ${trace()}`);
  e.check?.(d);
  assertWellFormed(d);
}

function run(cases: readonly Case[]): void {
  for (const c of cases) test(c.name, () => check(decideGiven(c.given), c));
}

function reason(d: Decision, code: string): { code: string; detail: string; source: string } {
  const r = d.reasons.find((x) => x.code === code);
  assert.ok(r !== undefined, `reason ${code} present`);
  return r;
}

const REQUIRED: PolicyLayer = { enrollment: 'required' };
const DEFAULT_GRACE_MS = 14 * DAY_MS;

// ---------------------------------------------------------------------------------------------------------------

describe('WeftID strength=enhanced', () => {
  const enhanced: PolicyLayer = { enrollment: 'required', strength: 'enhanced' };
  run([
    {
      name: 'an email-OTP-only user is challenged by email first, then walled into enrolling (passkey first, then TOTP)',
      given: { tenant: enhanced, factors: ['email_otp'] },
      outcome: 'enroll',
      errorCode: 'MFA_FACTOR_NOT_ALLOWED',
      methods: ['email_otp'],
      reasons: ['factor_not_acceptable', 'enrollment_required', 'challenge_before_enroll'],
      check: (d) => {
        assert.ok(d.enrollOptions.includes('webauthn') && d.enrollOptions.includes('totp'), `enrollOptions ${d.enrollOptions.join(',')}`);
        assert.equal(d.enrollOptions[0], 'webauthn');
        assert.ok(d.enrollOptions.indexOf('webauthn') < d.enrollOptions.indexOf('totp'));
        assert.ok(!d.enrollOptions.includes('email_otp') && !d.enrollOptions.includes('sms_otp'), 'enhanced never offers channel factors');
        assert.ok(!d.enrollOptions.includes('recovery_codes'));
        assert.equal(reason(d, 'factor_not_acceptable').source, 'tenant "acme" v1');
        assert.match(reason(d, 'factor_not_acceptable').detail, /strength=enhanced/);
      },
    },
    {
      name: 'once the email code is done, the email-OTP-only user goes straight to the enrollment page (no second challenge)',
      given: { tenant: enhanced, factors: ['email_otp'], completed: ['password', 'email_otp'] },
      outcome: 'enroll',
      errorCode: 'MFA_FACTOR_NOT_ALLOWED',
      methods: [],
      notReasons: ['challenge_before_enroll', 'mfa_satisfied'],
    },
    {
      name: 'a TOTP user is still challenged with TOTP after the switch to enhanced',
      given: { tenant: enhanced, factors: ['totp'], risk: [12, 'new_device'] },
      outcome: 'challenge',
      methods: ['totp'],
      errorCode: null,
    },
    {
      name: 'a passkey user is still challenged with the passkey after the switch to enhanced',
      given: { tenant: enhanced, factors: ['webauthn'], risk: [12, 'new_device'] },
      outcome: 'challenge',
      methods: ['webauthn'],
      errorCode: null,
    },
    {
      name: 'a TOTP + email user keeps TOTP and loses only email from the picker under enhanced',
      given: { tenant: enhanced, factors: ['email_otp', 'totp'], risk: [12, 'new_device'] },
      outcome: 'challenge',
      methods: ['totp'],
    },
  ]);

  test('the switch to enhanced changes nothing for TOTP or passkey users, in any context', () => {
    for (const factors of [['totp'], ['webauthn'], ['webauthn', 'totp']] as FactorType[][]) {
      for (const risk of [0, 12, 45, 85, 'unavailable'] as const) {
        for (const challenge of ['always', 'adaptive', 'never'] as const) {
          const baseline = decideGiven({ tenant: { ...REQUIRED, challenge }, factors, risk });
          const after = decideGiven({ tenant: { ...REQUIRED, challenge, strength: 'enhanced' }, factors, risk });
          const pick = (d: Decision): unknown => [d.outcome, d.errorCode, d.methods, d.grace];
          assert.deepEqual(pick(after), pick(baseline), `${factors.join('+')} risk=${risk} challenge=${challenge}`);
        }
      }
    }
  });
});

describe('first-party floor', () => {
  run([
    {
      name: 'a first-party application challenges even when every layer says challenge=never and enrollment=optional',
      given: {
        application: CONSOLE,
        appLayer: { challenge: 'never' },
        tenant: { challenge: 'never', enrollment: 'optional' },
        tenantAppLayer: { challenge: 'never' },
        factors: ['totp'],
      },
      outcome: 'challenge',
      methods: ['totp'],
      last: 'first_party',
      check: (d) => assert.equal(reason(d, 'first_party').source, 'floor "first-party"'),
    },
    {
      name: 'a first-party application challenges a low-risk user on a trusted device under adaptive',
      given: { application: CONSOLE, factors: ['webauthn'], trustedAt: NOW - DAY_MS },
      outcome: 'challenge',
      methods: ['webauthn'],
    },
    {
      name: 'a first-party application walls a user without a factor (enrollment required by the floor)',
      given: { application: CONSOLE, tenant: { enrollment: 'optional', gracePeriodDays: 0 } },
      outcome: 'enroll',
      errorCode: 'MFA_REQUIRED_NO_FACTOR',
    },
  ]);
});

describe('ZewstID modes always / smart (= adaptive) / never', () => {
  run([
    { name: 'always challenges a low-risk user on a trusted device', given: { tenant: { challenge: 'always' }, factors: ['totp'], trustedAt: NOW - DAY_MS }, outcome: 'challenge', last: 'challenge_always' },
    { name: 'smart allows a low-risk user on a known device', given: { tenant: { challenge: 'adaptive' }, factors: ['totp'], risk: 5 }, outcome: 'allow', last: 'adaptive_low_risk' },
    { name: 'smart challenges a new country', given: { tenant: { challenge: 'adaptive' }, factors: ['totp'], risk: [25, 'new_country'] }, outcome: 'challenge', last: 'adaptive_challenge', reasons: ['risk_signal'] },
    { name: 'smart challenges a new device even at a low score', given: { factors: ['totp'], risk: [10, 'new_device'] }, outcome: 'challenge' },
    { name: 'smart challenges a new IP', given: { factors: ['totp'], risk: [5, 'new_ip'] }, outcome: 'challenge' },
    { name: 'smart challenges impossible travel', given: { factors: ['totp'], risk: [20, 'impossible_travel'] }, outcome: 'challenge' },
    { name: 'smart ignores an unknown low-weight signal below the threshold', given: { factors: ['totp'], risk: [10, 'odd_hour'] }, outcome: 'allow' },
    { name: 'never allows a user with a factor even at score 79', given: { tenant: { challenge: 'never' }, factors: ['totp'], risk: 79 }, outcome: 'allow', last: 'challenge_never' },
    { name: 'never still blocks at the block threshold', given: { tenant: { challenge: 'never' }, factors: ['totp'], risk: 80 }, outcome: 'block', errorCode: 'ACCESS_DENIED_RISK' },
  ]);
});

describe('risk thresholds under adaptive (challengeAt 30, blockAt 80)', () => {
  run([
    { name: 'score 29 is below challengeAt: allow', given: { factors: ['totp'], risk: 29 }, outcome: 'allow', errorCode: null },
    { name: 'score 30 is at challengeAt: challenge', given: { factors: ['totp'], risk: 30 }, outcome: 'challenge', last: 'adaptive_challenge' },
    { name: 'score 79 is below blockAt: challenge', given: { factors: ['totp'], risk: 79 }, outcome: 'challenge' },
    {
      name: 'score 80 is at blockAt: block with ACCESS_DENIED_RISK and the signals in the trace',
      given: { factors: ['totp'], risk: [80, 'new_country', 'impossible_travel'] },
      outcome: 'block',
      errorCode: 'ACCESS_DENIED_RISK',
      methods: [],
      last: 'risk_block',
      reasons: ['risk_signal'],
    },
    { name: 'a tenant threshold moves the line: challengeAt 50 allows 49', given: { tenant: { risk: { challengeAt: 50, blockAt: 90 } }, factors: ['totp'], risk: 49 }, outcome: 'allow' },
    { name: 'a tenant threshold moves the line: blockAt 90 challenges 89', given: { tenant: { risk: { challengeAt: 50, blockAt: 90 } }, factors: ['totp'], risk: 89 }, outcome: 'challenge' },
    { name: 'a block applies to a user with no factor under optional enrollment', given: { risk: 95 }, outcome: 'block', errorCode: 'ACCESS_DENIED_RISK' },
    {
      name: 'risk unavailable under adaptive: challenge, failing closed, with a risk_unavailable reason',
      given: { factors: ['totp'], risk: 'unavailable' },
      outcome: 'challenge',
      methods: ['totp'],
      last: 'risk_unavailable',
      check: (d) => {
        assert.equal(d.riskScore, null);
        assert.equal(reason(d, 'risk_unavailable').source, 'risk engine');
      },
    },
    { name: 'risk unavailable under never: allow (never means never; only a score can block)', given: { tenant: { challenge: 'never' }, factors: ['totp'], risk: 'unavailable' }, outcome: 'allow' },
    {
      name: 'adaptive with no enrolled factor and optional enrollment: allow, offering enrollment',
      given: { risk: [40, 'new_country'] },
      outcome: 'allow',
      errorCode: null,
      last: 'optional_no_factor',
      check: (d) => assert.ok(d.enrollOptions.length > 0),
    },
    { name: 'adaptive with no enrolled factor, optional enrollment and risk unavailable: allow', given: { risk: 'unavailable' }, outcome: 'allow' },
    { name: 'a pending factor is not enrolled: optional enrollment allows', given: { factors: [['totp', 'pending']], risk: [40, 'new_device'] }, outcome: 'allow', methods: [] },
  ]);
});

describe('trusted devices', () => {
  run([
    { name: 'a device trusted 29 days ago (trustedDeviceDays 30) is still trusted: allow', given: { factors: ['totp'], trustedAt: NOW - 29 * DAY_MS }, outcome: 'allow' },
    {
      name: 'a trusted device whose trust expired (31 days, trustedDeviceDays 30) is challenged',
      given: { factors: ['totp'], trustedAt: NOW - 31 * DAY_MS },
      outcome: 'challenge',
      check: (d) => assert.ok(d.reasons.some((r) => r.code === 'risk_signal' && r.detail.includes('trusted_device_expired'))),
    },
    { name: 'trust ends exactly at trustedDeviceDays', given: { tenant: { trustedDeviceDays: 7 }, factors: ['totp'], trustedAt: NOW - 7 * DAY_MS }, outcome: 'challenge' },
  ]);
});

describe('AxisSynapse grace', () => {
  const anchor = NOW - 20 * DAY_MS;
  run([
    {
      name: 'default grace is 14 days from the first sign-in: a first sign-in under required is allowed with the banner',
      given: { tenant: REQUIRED, firstSignInAt: null },
      outcome: 'allow',
      errorCode: null,
      grace: { active: true, endsAt: NOW + DEFAULT_GRACE_MS },
      last: 'grace_active',
      check: (d) => assert.ok(d.enrollOptions.length > 0),
    },
    {
      name: 'a user reset by an admin (MFA done before, no factor left) inside their first grace window meets the wall, not a password-only session',
      given: { tenant: REQUIRED, firstSignInAt: NOW - 2 * DAY_MS, completedMfaBefore: true },
      outcome: 'enroll',
      errorCode: 'MFA_REQUIRED_NO_FACTOR',
      methods: [],
      reasons: ['grace_spent', 'enrollment_required'],
    },
    {
      name: 'an admin re-grant still lets a reset user in with the banner (the one way in without a factor)',
      given: { tenant: REQUIRED, firstSignInAt: NOW - 2 * DAY_MS, completedMfaBefore: true, graceUntil: NOW + DAY_MS },
      outcome: 'allow',
      grace: { active: true, endsAt: NOW + DAY_MS },
    },
    {
      name: 'a user who completed MFA and still holds a factor keeps the first grace window (rule 7: challenged, shown the upgrade)',
      given: { tenant: { ...REQUIRED, acceptableFactors: 'phishing_resistant', challenge: 'always' }, firstSignInAt: NOW - 2 * DAY_MS, completedMfaBefore: true, factors: ['totp'] },
      outcome: 'challenge',
      methods: ['totp'],
      check: (d) => assert.equal(d.grace?.active, true),
    },

    {
      name: 'day 13 of the default grace: still allowed',
      given: { tenant: REQUIRED, firstSignInAt: NOW - 13 * DAY_MS },
      outcome: 'allow',
      grace: { active: true, endsAt: NOW + DAY_MS },
    },
    {
      name: 'grace 0 is an immediate wall: enroll with MFA_REQUIRED_NO_FACTOR on the first sign-in',
      given: { tenant: { ...REQUIRED, gracePeriodDays: 0 }, firstSignInAt: null },
      outcome: 'enroll',
      errorCode: 'MFA_REQUIRED_NO_FACTOR',
      grace: { active: false, endsAt: NOW },
      methods: [],
    },
    {
      name: 'the last second of grace is still grace: allow, grace active until the end',
      given: { tenant: REQUIRED, firstSignInAt: NOW - DEFAULT_GRACE_MS + SECOND_MS },
      outcome: 'allow',
      grace: { active: true, endsAt: NOW + SECOND_MS },
    },
    {
      name: 'at the exact second grace ends: enroll with MFA_GRACE_EXPIRED',
      given: { tenant: REQUIRED, firstSignInAt: NOW - DEFAULT_GRACE_MS },
      outcome: 'enroll',
      errorCode: 'MFA_GRACE_EXPIRED',
      grace: { active: false, endsAt: NOW },
    },
    {
      name: 'the same user at an injected now one second earlier is inside grace',
      given: { tenant: REQUIRED, firstSignInAt: NOW - DEFAULT_GRACE_MS, now: NOW - SECOND_MS },
      outcome: 'allow',
      grace: { active: true, endsAt: NOW },
    },
    {
      name: 'grace is anchored on the first sign-in and NOT reset by a policy change',
      given: { tenant: { enrollment: 'optional' }, changedAt: NOW - DAY_MS, tenant2: REQUIRED, firstSignInAt: anchor },
      outcome: 'enroll',
      errorCode: 'MFA_GRACE_EXPIRED',
      grace: { active: false, endsAt: anchor + DEFAULT_GRACE_MS },
    },
    {
      name: 'forceReenrollOnChange opens a fresh window from the change',
      given: { tenant: { enrollment: 'optional' }, changedAt: NOW - DAY_MS, tenant2: { ...REQUIRED, forceReenrollOnChange: true }, firstSignInAt: anchor },
      outcome: 'allow',
      grace: { active: true, endsAt: NOW - DAY_MS + DEFAULT_GRACE_MS },
    },
    {
      name: 'the fresh window of forceReenrollOnChange also ends: enroll 14 days after the change',
      given: { tenant: { enrollment: 'optional' }, changedAt: NOW - DEFAULT_GRACE_MS, tenant2: { ...REQUIRED, forceReenrollOnChange: true }, firstSignInAt: anchor - 30 * DAY_MS },
      outcome: 'enroll',
      errorCode: 'MFA_GRACE_EXPIRED',
    },
    {
      name: 'forceReenrollOnChange gives a user who already holds a no-longer-acceptable factor a fresh window too',
      given: { tenant: REQUIRED, changedAt: NOW - DAY_MS, tenant2: { ...REQUIRED, acceptableFactors: 'phishing_resistant', forceReenrollOnChange: true }, factors: ['totp'], firstSignInAt: anchor },
      outcome: 'allow',
      grace: { active: true, endsAt: NOW - DAY_MS + DEFAULT_GRACE_MS },
    },
    {
      name: 'an admin re-grant (graceUntil) lets an expired user in until the re-grant ends',
      given: { tenant: REQUIRED, firstSignInAt: anchor, graceUntil: NOW + 3 * DAY_MS },
      outcome: 'allow',
      grace: { active: true, endsAt: NOW + 3 * DAY_MS },
    },
    {
      name: 'an admin re-grant works under grace 0 too',
      given: { tenant: { ...REQUIRED, gracePeriodDays: 0 }, firstSignInAt: anchor, graceUntil: NOW + DAY_MS },
      outcome: 'allow',
      grace: { active: true, endsAt: NOW + DAY_MS },
    },
    {
      name: 'an admin re-grant that has run out walls again',
      given: { tenant: REQUIRED, firstSignInAt: anchor, graceUntil: NOW },
      outcome: 'enroll',
      errorCode: 'MFA_GRACE_EXPIRED',
    },
    {
      name: 'inside grace, a user who holds an acceptable factor is still challenged (grace only softens the enrollment wall)',
      given: { tenant: { ...REQUIRED, minFactors: 2, challenge: 'always' }, factors: ['totp'], firstSignInAt: null },
      outcome: 'challenge',
      methods: ['totp'],
      grace: { active: true, endsAt: NOW + DEFAULT_GRACE_MS },
    },
  ]);

  test('the policy change really is later than the anchor in the "not reset" case', () => {
    const input = inputOf({ tenant: { enrollment: 'optional' }, changedAt: NOW - DAY_MS, tenant2: REQUIRED, firstSignInAt: anchor });
    assert.equal(input.policy.changedAt, NOW - DAY_MS);
    assert.ok((input.policy.changedAt ?? 0) > anchor);
    assert.equal(input.policy.values.forceReenrollOnChange, false);
  });
});

describe('rule 7: never weaker than before', () => {
  const tightened: PolicyLayer = { acceptableFactors: 'phishing_resistant', challenge: 'always' };
  run([
    {
      name: 'optional, a TOTP-only user after a switch to phishing_resistant: challenged with TOTP (not let in on the password) and shown the passkey',
      given: { tenant: tightened, factors: ['totp'] },
      outcome: 'challenge',
      methods: ['totp'],
      reasons: ['factor_not_acceptable', 'never_weaker', 'challenge_always'],
      notReasons: ['optional_no_factor'],
    },
    {
      name: 'optional, once the held TOTP is answered: allowed, with the upgrade in enrollOptions',
      given: { tenant: tightened, factors: ['totp'], completed: ['password', 'totp'] },
      outcome: 'allow',
      enrollOptions: ['webauthn'],
      last: 'mfa_satisfied',
    },
    {
      name: 'the strongest factor held is the one challenged: TOTP, not the email code, under phishing_resistant',
      given: { tenant: tightened, factors: ['email_otp', 'totp'] },
      outcome: 'challenge',
      methods: ['totp'],
    },
    {
      name: 'inside grace under required, the same: challenged with the held TOTP, grace shown',
      given: { tenant: { ...tightened, enrollment: 'required' }, factors: ['totp'], firstSignInAt: NOW - DAY_MS },
      outcome: 'challenge',
      methods: ['totp'],
      check: (d) => assert.equal(d.grace?.active, true),
    },
    {
      name: 'where no challenge is due (adaptive, low risk) the user is let in, with the upgrade shown',
      given: { tenant: { acceptableFactors: 'phishing_resistant' }, factors: ['totp'] },
      outcome: 'allow',
      enrollOptions: ['webauthn'],
      last: 'adaptive_low_risk',
    },
    {
      name: 'adaptive with a new country: the held TOTP is challenged',
      given: { tenant: { acceptableFactors: 'phishing_resistant' }, factors: ['totp'], risk: [25, 'new_country'] },
      outcome: 'challenge',
      methods: ['totp'],
    },
    {
      name: 'a user holding nothing is still let in under optional (rule 6)',
      given: { tenant: tightened },
      outcome: 'allow',
      last: 'optional_no_factor',
    },
  ]);
});

describe('exemptions', () => {
  const exempting: PolicyLayer = { ...REQUIRED, challenge: 'always', exemptRoles: ['break-glass'] };
  run([
    {
      name: 'an exempt role is allowed with the exemption named in the trace',
      given: { tenant: exempting, roles: ['staff', 'break-glass'], factors: ['totp'] },
      outcome: 'allow',
      errorCode: null,
      exemption: 'break-glass',
      last: 'exempt',
      check: (d) => {
        assert.equal(reason(d, 'exempt').detail, 'role "break-glass" is exempt');
        assert.equal(reason(d, 'exempt').source, 'tenant "acme" v1');
      },
    },
    { name: 'an exempt role without any factor is allowed past the enrollment wall', given: { tenant: { ...exempting, gracePeriodDays: 0 }, roles: ['break-glass'] }, outcome: 'allow', exemption: 'break-glass' },
    {
      name: 'an exempt role on a first-party application is still challenged (floors still apply)',
      given: { application: CONSOLE, tenant: exempting, roles: ['break-glass'], factors: ['totp'] },
      outcome: 'challenge',
      methods: ['totp'],
      exemption: null,
      reasons: ['exemption_overridden_by_floor'],
      last: 'first_party',
    },
    {
      name: 'an exempt role is still blocked by a risk block',
      given: { tenant: exempting, roles: ['break-glass'], factors: ['totp'], risk: [85, 'impossible_travel'] },
      outcome: 'block',
      errorCode: 'ACCESS_DENIED_RISK',
      exemption: null,
      notReasons: ['exempt'],
    },
    { name: 'a role that is not exempt is not', given: { tenant: exempting, roles: ['staff'], factors: ['totp'] }, outcome: 'challenge' },
    {
      name: 'an admin per-user exemption in force allows',
      given: { tenant: exempting, factors: ['totp'], exemptUntil: NOW + DAY_MS },
      outcome: 'allow',
      exemption: 'user override',
      last: 'exempt',
    },
    { name: 'an expired per-user exemption is ignored', given: { tenant: exempting, factors: ['totp'], exemptUntil: NOW }, outcome: 'challenge', exemption: null },
  ]);
});

describe('acceptable factor sets', () => {
  run([
    {
      name: 'phishing_resistant with a TOTP-only user (required, outside grace): enroll with MFA_FACTOR_NOT_ALLOWED, passkey offered',
      given: { tenant: { ...REQUIRED, acceptableFactors: 'phishing_resistant' }, factors: ['totp'] },
      outcome: 'enroll',
      errorCode: 'MFA_FACTOR_NOT_ALLOWED',
      methods: ['totp'],
      enrollOptions: ['webauthn'],
      reasons: ['factor_not_acceptable', 'challenge_before_enroll'],
    },
    {
      name: 'phishing_resistant with a passkey user: challenge with the passkey only',
      given: { tenant: { ...REQUIRED, acceptableFactors: 'phishing_resistant', challenge: 'always' }, factors: ['totp', 'webauthn', 'email_otp'] },
      outcome: 'challenge',
      methods: ['webauthn'],
    },
    {
      name: 'recovery_excluded never offers recovery codes as a routine method; they stay break-glass',
      given: { tenant: { acceptableFactors: 'recovery_excluded', challenge: 'always' }, factors: ['recovery_codes', 'totp', 'email_otp'] },
      outcome: 'challenge',
      methods: ['totp', 'email_otp'],
      recovery: true,
      check: (d) => assert.ok(!d.methods.includes('recovery_codes')),
    },
    {
      name: 'recovery_excluded with a recovery-codes-only user: nothing routine to challenge, but a recovery code first (break-glass)',
      given: { tenant: { ...REQUIRED, acceptableFactors: 'recovery_excluded', gracePeriodDays: 0 }, factors: ['recovery_codes'] },
      outcome: 'enroll',
      check: (d) => {
        assert.ok(!d.methods.includes('recovery_codes'));
        assert.equal(d.recovery, true, 'held recovery codes are presented before enrolling');
        assert.ok(!d.enrollOptions.includes('recovery_codes'));
      },
    },
    {
      name: 'under any, recovery codes are a routine method, listed last',
      given: { tenant: { challenge: 'always' }, factors: ['recovery_codes', 'email_otp', 'totp'] },
      outcome: 'challenge',
      methods: ['totp', 'email_otp', 'recovery_codes'],
    },
    {
      name: 'recovery codes disabled by policy are neither routine nor break-glass',
      given: { tenant: { challenge: 'always', recoveryCodes: { enabled: false, count: 10 } }, factors: ['recovery_codes', 'totp'] },
      outcome: 'challenge',
      methods: ['totp'],
      recovery: false,
    },
    {
      name: 'a recovery code used as break-glass under totp_webauthn completes the challenge but meets the enrollment wall',
      given: { tenant: { acceptableFactors: 'totp_webauthn', challenge: 'always' }, factors: ['totp', 'recovery_codes'], completed: ['password', 'recovery_codes'] },
      outcome: 'enroll',
      errorCode: 'MFA_FACTOR_NOT_ALLOWED',
      methods: [],
      last: 'break_glass_recovery',
      notReasons: ['mfa_satisfied'],
      check: (d) => assert.ok(d.enrollOptions.includes('webauthn')),
    },
    {
      name: 'after break-glass the enrollment wall offers re-enrolling the lost factor type (never a dead end with nothing to enroll)',
      given: { tenant: { acceptableFactors: 'totp_webauthn', allowedFactors: ['totp', 'recovery_codes'] }, factors: ['totp', 'recovery_codes'], completed: ['password', 'recovery_codes'] },
      outcome: 'enroll',
      last: 'break_glass_recovery',
      enrollOptions: ['totp'],
    },
    {
      name: 'a recovery code used as break-glass by a TOTP-only user under phishing_resistant leads straight to the enrollment wall',
      given: { tenant: { ...REQUIRED, acceptableFactors: 'phishing_resistant' }, factors: ['totp', 'recovery_codes'], completed: ['password', 'recovery_codes'] },
      outcome: 'enroll',
      errorCode: 'MFA_FACTOR_NOT_ALLOWED',
      methods: [],
      enrollOptions: ['webauthn'],
    },
    {
      name: 'a recovery code used as break-glass inside grace still meets the enrollment wall before any session',
      given: { tenant: { ...REQUIRED, acceptableFactors: 'phishing_resistant' }, factors: ['totp', 'recovery_codes'], completed: ['password', 'recovery_codes'], firstSignInAt: null },
      outcome: 'enroll',
      last: 'break_glass_recovery',
    },
    {
      name: 'a recovery code used under any is a routine second factor: allow',
      given: { tenant: { challenge: 'always' }, factors: ['totp', 'recovery_codes'], completed: ['password', 'recovery_codes'] },
      outcome: 'allow',
      last: 'mfa_satisfied',
    },
    {
      name: 'the user\'s last recovery code under any (the batch now used up) is a routine second factor: a TOTP holder is allowed, not walled',
      given: { tenant: { ...REQUIRED, challenge: 'always' }, factors: ['totp', ['recovery_codes', 0]], completed: ['password', 'recovery_codes'] },
      outcome: 'allow',
      last: 'mfa_satisfied',
      notReasons: ['break_glass_recovery'],
    },
    {
      name: 'the last recovery code under any, read before it was spent (1 left), decides the same: allow',
      given: { tenant: { ...REQUIRED, challenge: 'always' }, factors: ['totp', ['recovery_codes', 1]], completed: ['password', 'recovery_codes'] },
      outcome: 'allow',
      last: 'mfa_satisfied',
    },
    {
      name: 'the last recovery code under any by a user holding nothing else under required: the challenge is passed, then the wall (codes never enroll a user)',
      given: { tenant: { ...REQUIRED, gracePeriodDays: 0 }, factors: [['recovery_codes', 0]], completed: ['password', 'recovery_codes'] },
      outcome: 'enroll',
      methods: [],
      recovery: false,
      notReasons: ['break_glass_recovery'],
    },
    {
      name: 'the last recovery code under totp_webauthn is still break-glass: the enrollment wall',
      given: { tenant: { acceptableFactors: 'totp_webauthn', challenge: 'always' }, factors: ['totp', ['recovery_codes', 0]], completed: ['password', 'recovery_codes'] },
      outcome: 'enroll',
      last: 'break_glass_recovery',
    },
    {
      name: 'the last recovery code of a passkey holder under downgrade protection is break-glass: the enrollment wall',
      given: { tenant: { downgradeProtection: true, challenge: 'always' }, factors: ['webauthn', 'totp', ['recovery_codes', 0]], completed: ['password', 'recovery_codes'] },
      outcome: 'enroll',
      last: 'break_glass_recovery',
    },
    {
      name: 'an explicit list of types is honoured: push and totp, not email',
      given: { tenant: { acceptableFactors: ['push', 'totp'], challenge: 'always' }, factors: ['email_otp', 'push', 'totp'] },
      outcome: 'challenge',
      methods: ['totp', 'push'],
    },
    {
      name: 'enhanced and an explicit list compose: email in the list is still removed',
      given: { tenant: { acceptableFactors: ['email_otp', 'totp'], strength: 'enhanced', challenge: 'always' }, factors: ['email_otp', 'totp'] },
      outcome: 'challenge',
      methods: ['totp'],
    },
    {
      name: 'SMS can be offered for enrollment only to a user with a phone trait (never without one)',
      given: { tenant: { ...REQUIRED, gracePeriodDays: 0, allowedFactors: ['sms_otp', 'totp'] } },
      outcome: 'enroll',
      enrollOptions: ['totp'],
    },
  ]);
});

describe('downgrade protection', () => {
  run([
    {
      name: 'a passkey + TOTP user is offered only the passkey (recovery codes stay break-glass)',
      given: { tenant: { downgradeProtection: true, challenge: 'always' }, factors: ['totp', 'webauthn', 'recovery_codes'] },
      outcome: 'challenge',
      methods: ['webauthn'],
      recovery: true,
      reasons: ['downgrade_protection'],
    },
    {
      name: 'a TOTP code completed by a passkey holder does not satisfy the challenge',
      given: { tenant: { downgradeProtection: true, challenge: 'always' }, factors: ['totp', 'webauthn'], completed: ['password', 'totp'] },
      outcome: 'challenge',
      methods: ['webauthn'],
    },
    {
      name: 'downgrade protection does not strand a passkey holder where passkeys are not acceptable: TOTP is still challenged',
      given: { tenant: { downgradeProtection: true, challenge: 'always' }, appLayer: { acceptableFactors: ['totp', 'push'] }, factors: ['webauthn', 'totp'] },
      outcome: 'challenge',
      methods: ['totp'],
      notReasons: ['downgrade_protection'],
    },
    {
      name: 'downgrade protection where passkeys are not acceptable still offers the acceptable factors for enrollment',
      given: { tenant: { ...REQUIRED, downgradeProtection: true, minFactors: 2 }, appLayer: { acceptableFactors: ['totp', 'push'] }, factors: ['webauthn', 'totp'] },
      outcome: 'enroll',
      methods: ['totp'],
      enrollOptions: ['push'],
    },
    {
      name: 'minFactors 2 under downgrade protection: a passkey + TOTP holder meets the bar (TOTP counts, though only the passkey is offered)',
      given: { tenant: { ...REQUIRED, downgradeProtection: true, minFactors: 2, challenge: 'always' }, factors: ['webauthn', 'totp'] },
      outcome: 'challenge',
      methods: ['webauthn'],
    },
    {
      name: 'minFactors 2 under downgrade protection: a passkey-only holder is walled after the passkey and offered a second type, not a second passkey that would not count',
      given: { tenant: { ...REQUIRED, downgradeProtection: true, minFactors: 2, allowedFactors: ['webauthn', 'totp', 'recovery_codes'] }, factors: ['webauthn'], completed: ['password', { method: 'webauthn', userVerified: true }] },
      outcome: 'enroll',
      methods: [],
      enrollOptions: ['totp'],
    },
    {
      name: 'minFactors 2 under downgrade protection: the passkey-only holder is challenged with the passkey (recovery codes as break-glass) before that wall',
      given: { tenant: { ...REQUIRED, downgradeProtection: true, minFactors: 2 }, factors: ['webauthn', 'recovery_codes'] },
      outcome: 'enroll',
      methods: ['webauthn'],
      recovery: true,
    },
    {
      name: 'a passkey holder who used a recovery code under downgrade protection re-enrolls a passkey only (no downgrade at the break-glass wall)',
      given: { tenant: { downgradeProtection: true, challenge: 'always', allowedFactors: ['webauthn', 'totp', 'recovery_codes'] }, factors: ['webauthn', 'totp', 'recovery_codes'], completed: ['password', 'recovery_codes'] },
      outcome: 'enroll',
      last: 'break_glass_recovery',
      enrollOptions: ['webauthn'],
    },
    {
      name: 'a TOTP-only user is unaffected by downgrade protection',
      given: { tenant: { downgradeProtection: true, challenge: 'always' }, factors: ['totp', 'email_otp'] },
      outcome: 'challenge',
      methods: ['totp', 'email_otp'],
    },
  ]);
});

describe('factors count by independent channel', () => {
  run([
    {
      name: 'an email link first step followed by an email code is not a second factor (required user is walled)',
      given: { tenant: REQUIRED, factors: ['email_otp'], completed: ['email_link', 'email_otp'] },
      outcome: 'enroll',
      reasons: ['same_channel'],
      notReasons: ['mfa_satisfied'],
    },
    {
      name: 'after an email link, an email + TOTP user is challenged with TOTP only',
      given: { factors: ['email_otp', 'totp'], completed: ['email_link'], risk: [10, 'new_device'] },
      outcome: 'challenge',
      methods: ['totp'],
      reasons: ['same_channel'],
    },
    {
      name: 'after a password, an email code is a second factor: allow',
      given: { tenant: { challenge: 'always' }, factors: ['email_otp'], completed: ['password', 'email_otp'] },
      outcome: 'allow',
      last: 'mfa_satisfied',
    },
    {
      name: 'an SMS link followed by an SMS code is not a second factor either',
      given: { tenant: { challenge: 'always', allowedFactors: ['sms_otp', 'totp'] }, factors: ['sms_otp', 'totp'], completed: ['sms_link', 'sms_otp'] },
      outcome: 'challenge',
      methods: ['totp'],
    },
  ]);
});

describe('minFactors and recovery codes', () => {
  const two: PolicyLayer = { ...REQUIRED, minFactors: 2, challenge: 'always' };
  run([
    {
      name: 'minFactors 2: TOTP + recovery codes is one factor short (recovery codes never count)',
      given: { tenant: two, factors: ['totp', 'recovery_codes'] },
      outcome: 'enroll',
      check: (d) => {
        assert.ok(d.methods.includes('totp'), 'the existing factor is challenged first');
        assert.ok(!d.enrollOptions.includes('totp'), 'a second TOTP is not offered');
        assert.ok(d.enrollOptions.includes('webauthn'));
      },
    },
    { name: 'minFactors 2: TOTP + passkey meets the bar: challenge', given: { tenant: two, factors: ['totp', 'webauthn'] }, outcome: 'challenge', methods: ['webauthn', 'totp'] },
    {
      name: 'minFactors 2 under enhanced: TOTP + email is one acceptable factor',
      given: { tenant: { ...two, strength: 'enhanced' }, factors: ['totp', 'email_otp'] },
      outcome: 'enroll',
    },
    {
      name: 'recovery codes alone never make a required user enrolled',
      given: { tenant: { ...REQUIRED, gracePeriodDays: 0 }, factors: ['recovery_codes'], firstSignInAt: null },
      outcome: 'enroll',
      errorCode: 'MFA_REQUIRED_NO_FACTOR',
    },
    {
      name: 'a user whose only factor is a used-up batch of recovery codes gets MFA_RECOVERY_CODES_EXHAUSTED',
      given: { tenant: { ...REQUIRED, gracePeriodDays: 0 }, factors: [['recovery_codes', 0]], firstSignInAt: null },
      outcome: 'enroll',
      errorCode: 'MFA_RECOVERY_CODES_EXHAUSTED',
      methods: [],
    },
    {
      name: 'an established user whose only factor is a used-up batch of recovery codes gets MFA_RECOVERY_CODES_EXHAUSTED, not a grace error',
      given: { tenant: REQUIRED, factors: [['recovery_codes', 0]] },
      outcome: 'enroll',
      errorCode: 'MFA_RECOVERY_CODES_EXHAUSTED',
    },
    {
      name: 'used-up recovery codes beside a TOTP are not an error: challenge with TOTP, no break-glass',
      given: { tenant: { ...REQUIRED, challenge: 'always' }, factors: ['totp', ['recovery_codes', 0]] },
      outcome: 'challenge',
      methods: ['totp'],
      recovery: false,
    },
  ]);
});

describe('Wristband tenant override of an application policy, end to end', () => {
  const versions = (layer: PolicyLayer): { version: number; effectiveAt: number; layer: PolicyLayer }[] => [{ version: 1, effectiveAt: LONG_AGO, layer }];
  const index = indexPolicyLayers([
    { scope: { level: 'application', applicationId: BANK.id }, name: 'bank', versions: versions({ enrollment: 'optional', challenge: 'never' }) },
    { scope: { level: 'tenant', tenantId: 'globex' }, name: 'globex', versions: versions({ enrollment: 'required', challenge: 'always' }) },
    { scope: { level: 'tenant', tenantId: 'initech' }, name: 'initech', versions: versions({ gracePeriodDays: 5 }) },
  ]);
  const user: DecisionUser = { id: 'u1', roles: [], factors: factorsOf(['totp']), firstSignInAt: LONG_AGO, graceUntil: null };
  const decideFor = (tenantId: string, u: DecisionUser = user): Decision =>
    decide({
      policy: resolvePolicy(selectLayers(index, tenantId, BANK.id), floorsFor(BANK), NOW),
      application: BANK,
      user: u,
      purpose: { kind: 'signin' },
      risk: { status: 'ok', score: 0, signals: [] },
      lastMfaAt: null,
      now: NOW,
    });

  test('the overriding tenant challenges, and the trace names the tenant layer', () => {
    const d = decideFor('globex');
    check(d, { outcome: 'challenge', methods: ['totp'], last: 'challenge_always' });
    assert.equal(d.reasons.at(-1)?.source, 'tenant "globex" v1');
    assert.deepEqual(d.policyVersions.map((v) => v.name), ['bank', 'globex']);
  });

  test('a tenant without an override inherits the application policy (challenge=never)', () => {
    const d = decideFor('initech');
    check(d, { outcome: 'allow', last: 'challenge_never' });
    assert.equal(d.reasons.at(-1)?.source, 'application "bank" v1');
  });

  test('the overriding tenant walls a user without a factor; the inheriting tenant does not', () => {
    const none: DecisionUser = { ...user, factors: [] };
    check(decideFor('globex', none), { outcome: 'enroll', errorCode: 'MFA_GRACE_EXPIRED' });
    check(decideFor('initech', none), { outcome: 'allow' });
  });
});

describe('step-up', () => {
  const payment: Purpose = { kind: 'step_up', action: 'payment' };
  run([
    {
      name: 'inside the action max age (299 s of 300): allow, MFA was recently completed',
      given: { factors: ['totp'], purpose: payment, lastMfaAt: NOW - 299 * SECOND_MS },
      outcome: 'allow',
      last: 'step_up_recent',
    },
    {
      name: 'at exactly the action max age (300 s): challenge — the window is [last MFA, last MFA + max age)',
      given: { factors: ['totp'], purpose: payment, lastMfaAt: NOW - 300 * SECOND_MS },
      outcome: 'challenge',
      last: 'step_up_required',
    },
    {
      name: 'outside the action max age: challenge with the acceptable methods',
      given: { factors: ['totp', 'email_otp'], purpose: payment, lastMfaAt: NOW - 3600 * SECOND_MS },
      outcome: 'challenge',
      methods: ['totp', 'email_otp'],
    },
    { name: 'no MFA in the session: challenge', given: { factors: ['totp'], purpose: payment, lastMfaAt: null }, outcome: 'challenge' },
    {
      name: 'a tenant action max age is honoured (payment 60 s: 61 s ago challenges)',
      given: { tenant: { stepUp: { defaultMaxAgeSeconds: 300, actions: { payment: 60 } } }, factors: ['totp'], purpose: payment, lastMfaAt: NOW - 61 * SECOND_MS },
      outcome: 'challenge',
    },
    {
      name: 'an unknown action uses the default max age',
      given: { tenant: { stepUp: { defaultMaxAgeSeconds: 120, actions: {} } }, factors: ['totp'], purpose: { kind: 'step_up', action: 'rename-project' }, lastMfaAt: NOW - 119 * SECOND_MS },
      outcome: 'allow',
    },
    {
      name: 'a request max age shorter than the action\'s shortens it (max_age 60, MFA 120 s ago): challenge',
      given: { factors: ['totp'], purpose: { kind: 'step_up', action: 'payment', maxAgeSeconds: 60 }, lastMfaAt: NOW - 120 * SECOND_MS },
      outcome: 'challenge',
      check: (d) => assert.equal(d.reasons.at(-1)?.source, 'request'),
    },
    {
      name: 'a request max age longer than the action\'s cannot lengthen it (max_age 3600, MFA 400 s ago): challenge',
      given: { factors: ['totp'], purpose: { kind: 'step_up', action: 'payment', maxAgeSeconds: 3600 }, lastMfaAt: NOW - 400 * SECOND_MS },
      outcome: 'challenge',
    },
    {
      name: 'a request max age of 0 always re-authenticates',
      given: { factors: ['totp'], purpose: { kind: 'step_up', action: 'payment', maxAgeSeconds: 0 }, lastMfaAt: NOW },
      outcome: 'challenge',
    },
    {
      name: 'a step-up with no acceptable factor is an enrollment',
      given: { tenant: { acceptableFactors: 'phishing_resistant' }, factors: ['totp'], purpose: payment, lastMfaAt: null },
      outcome: 'enroll',
      errorCode: 'MFA_FACTOR_NOT_ALLOWED',
      enrollOptions: ['webauthn'],
    },
    {
      name: 'a step-up completed with an acceptable factor in this flow: allow',
      given: { factors: ['totp'], purpose: payment, lastMfaAt: NOW - 3600 * SECOND_MS, completed: ['totp'] },
      outcome: 'allow',
      last: 'mfa_satisfied',
    },
    { name: 'a step-up is blocked by a risk block', given: { factors: ['totp'], purpose: payment, lastMfaAt: NOW, risk: 90 }, outcome: 'block', errorCode: 'ACCESS_DENIED_RISK' },
  ]);
});

describe('methods and picker order', () => {
  run([
    {
      name: 'methods are the user\'s acceptable active factors, strongest first, whatever order they were enrolled in',
      given: { tenant: { challenge: 'always' }, factors: ['email_otp', 'push', 'totp', 'webauthn'] },
      outcome: 'challenge',
      methods: ['webauthn', 'totp', 'push', 'email_otp'],
    },
    {
      name: 'several passkeys show one webauthn method',
      given: { tenant: { challenge: 'always' }, factors: ['webauthn', 'webauthn', 'totp'] },
      outcome: 'challenge',
      methods: ['webauthn', 'totp'],
    },
  ]);
});
