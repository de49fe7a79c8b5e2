import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { FACTOR_TYPES, factorStrength, type FactorType } from '../factors.ts';
import { floorsFor } from '../policy/floors.ts';
import type { NamedFactorSet, Policy, PolicyLayer } from '../policy/model.ts';
import { raisePolicy, resolvePolicy, type LayerInput, type PolicyVersion } from '../policy/resolve.ts';
import { DAY_MS, SECOND_MS } from '../time.ts';
import { decide } from './decide.ts';
import type { CompletedStep, DecisionApplication, DecisionInput, DecisionUser, Outcome, Purpose, RiskAssessment, UserFactor } from './types.ts';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const RUNS = { numRuns: 2000 };
const ROLES = ['staff', 'break-glass', 'ops'] as const;
const SIGNALS = ['new_device', 'new_ip', 'new_country', 'impossible_travel', 'odd_hour', 'tor_exit'] as const;

// ---------------------------------------------------------------------------------------------------------------
// The reference model: DESIGN §3's sign-in rules restated as plainly as possible, sharing no code with decide.
// Defined for a sign-in with no step completed yet in the flow (no `completed`): the first decision of a sign-in.
// ---------------------------------------------------------------------------------------------------------------

const NAMED_SETS: Record<NamedFactorSet, readonly FactorType[]> = {
  any: FACTOR_TYPES,
  phishing_resistant: ['webauthn'],
  totp_webauthn: ['totp', 'webauthn'],
  recovery_excluded: FACTOR_TYPES.filter((t) => t !== 'recovery_codes'),
};
const ADAPTIVE_TRIGGERS = ['new_device', 'new_ip', 'new_country', 'impossible_travel'];

/**
 * Rule 3: the types of the user's usable factors that the policy accepts routinely. With `offered` false, before
 * downgrade protection narrows them to the phishing-resistant ones: what `minFactors` counts (rule 4) is what the user
 * holds, not what a challenge offers.
 */
function referenceAcceptable(p: Policy, user: DecisionUser, offered = true): FactorType[] {
  const named = typeof p.acceptableFactors === 'string' ? NAMED_SETS[p.acceptableFactors] : p.acceptableFactors;
  const usable = user.factors.filter((f) => f.status === 'active' && (f.type !== 'recovery_codes' || (f.remaining ?? 1) > 0)).map((f) => f.type);
  const passkeyHolder = offered && p.downgradeProtection && usable.includes('webauthn') && named.includes('webauthn');
  return usable.filter(
    (t) =>
      named.includes(t) &&
      !(p.strength === 'enhanced' && (t === 'email_otp' || t === 'sms_otp')) &&
      !(t === 'recovery_codes' && !p.recoveryCodes.enabled) &&
      (!passkeyHolder || t === 'webauthn'),
  );
}

/** The types of the user's active factors other than recovery codes, acceptable or not. */
function referenceHeld(user: DecisionUser): FactorType[] {
  return [...new Set(user.factors.filter((f) => f.status === 'active' && f.type !== 'recovery_codes').map((f) => f.type))];
}

/** What a sign-in challenge offers: the acceptable factors, or by rule 7 the strongest held ones. */
function referenceOffer(p: Policy, user: DecisionUser): FactorType[] {
  const acceptable = referenceAcceptable(p, user);
  if (acceptable.length > 0) return acceptable;
  const held = referenceHeld(user);
  const top = Math.max(...held.map(factorStrength));
  return held.filter((t) => factorStrength(t) === top);
}

function referenceOutcome(i: DecisionInput): Outcome {
  const p = i.policy.values;
  const { user, now, risk } = i;
  if (risk.status === 'ok' && risk.score >= p.risk.blockAt) return 'block'; // rule 1
  const exempt = user.roles.some((r) => p.exemptRoles.includes(r)) || (user.exemptUntil != null && now < user.exemptUntil);
  if (exempt && !i.application.firstParty) return 'allow'; // rule 2, floors still apply
  const acceptable = referenceAcceptable(p, user);
  const counted = new Set(referenceAcceptable(p, user, false).filter((t) => t !== 'recovery_codes')).size;
  if (p.enrollment === 'required' && counted < p.minFactors && referenceGraceOver(i)) return 'enroll'; // rule 4
  // Rules 4 (inside grace) and 6; rule 7: a user holding factors the policy no longer accepts is challenged like one
  // holding an acceptable factor (with the strongest they hold), never let in on the password where a challenge is due.
  if (acceptable.length === 0 && referenceHeld(user).length === 0) return 'allow';
  if (i.application.firstParty || p.challenge === 'always') return 'challenge'; // rule 5
  if (p.challenge === 'never') return 'allow';
  if (risk.status === 'unavailable') return 'challenge';
  const trustedAt = i.device?.trustedAt ?? null;
  const expiredTrust = trustedAt !== null && now - trustedAt >= p.trustedDeviceDays * DAY_MS;
  // A remembered device within its lifetime vouches for the device and its roaming (SECURITY rule 6); one past it,
  // or under trustedDeviceDays 0, is a trigger of its own.
  const remembered = i.rememberedDevice ?? null;
  const rememberedValid = remembered !== null && p.trustedDeviceDays > 0 && now >= remembered.mfaAt && now - remembered.mfaAt < p.trustedDeviceDays * DAY_MS;
  const vouched = (code: string): boolean => rememberedValid && (code === 'new_device' || code === 'new_ip');
  const triggered = risk.signals.some((s) => ADAPTIVE_TRIGGERS.includes(s.code) && !vouched(s.code)) || expiredTrust || (remembered !== null && !rememberedValid);
  return triggered || risk.score >= p.risk.challengeAt ? 'challenge' : 'allow';
}

/**
 * Grace is over (rule 4's window, restated). The first sign-in's window is for a first enrollment: a user who
 * completed MFA before and holds no active factor now (reset) does not get it again; a forced window or re-grant does.
 */
function referenceGraceOver(i: DecisionInput): boolean {
  const p = i.policy.values;
  const { user, now } = i;
  const anchor = user.firstSignInAt ?? now;
  const holdsNothing = !user.factors.some((f) => f.status === 'active');
  const span = p.gracePeriodDays * DAY_MS;
  const firstWindow = user.completedMfaBefore === true && holdsNothing ? 0 : span;
  const changedAt = i.policy.changedAt;
  const fresh = p.forceReenrollOnChange && changedAt !== null && changedAt > anchor ? changedAt + span : -Infinity;
  return now >= Math.max(anchor + firstWindow, fresh, user.graceUntil ?? -Infinity);
}

/**
 * The second decision of a sign-in whose challenge was answered with a recovery code (`completed` = password, then
 * a recovery code), whatever number of codes the decision sees left — the one just spent may be the last. Where the
 * set allows recovery codes routinely (and downgrade protection does not hold them back), the code is a second
 * factor like any other; elsewhere it is break-glass and the enrollment wall follows (DESIGN §3).
 */
function referenceAfterRecoveryCode(i: DecisionInput): Outcome {
  const p = i.policy.values;
  const { user, now, risk } = i;
  if (risk.status === 'ok' && risk.score >= p.risk.blockAt) return 'block';
  const exempt = user.roles.some((r) => p.exemptRoles.includes(r)) || (user.exemptUntil != null && now < user.exemptUntil);
  if (exempt && !i.application.firstParty) return 'allow';
  const named = typeof p.acceptableFactors === 'string' ? NAMED_SETS[p.acceptableFactors] : p.acceptableFactors;
  const active = user.factors.filter((f) => f.status === 'active').map((f) => f.type);
  const passkeyHolder = p.downgradeProtection && active.includes('webauthn') && named.includes('webauthn');
  const routine = named.includes('recovery_codes') && p.recoveryCodes.enabled && !passkeyHolder;
  if (!routine) return 'enroll';
  const counted = new Set(referenceAcceptable(p, user, false).filter((t) => t !== 'recovery_codes')).size;
  if (p.enrollment === 'required' && counted < p.minFactors && referenceGraceOver(i)) return 'enroll';
  return 'allow';
}

// ---------------------------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------------------------

const factorTypes = fc.subarray([...FACTOR_TYPES]);
const acceptableFactors = fc.oneof(
  fc.constantFrom<NamedFactorSet>('any', 'phishing_resistant', 'totp_webauthn', 'recovery_excluded'),
  factorTypes,
);
const riskThresholds = fc.tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 })).map(([a, b]) => ({ challengeAt: Math.min(a, b), blockAt: Math.max(a, b) }));

const policyLayer: fc.Arbitrary<PolicyLayer> = fc.record(
  {
    enrollment: fc.constantFrom('optional', 'required'),
    challenge: fc.constantFrom('always', 'adaptive', 'never'),
    acceptableFactors,
    strength: fc.constantFrom('baseline', 'enhanced'),
    allowedFactors: factorTypes,
    gracePeriodDays: fc.integer({ min: 0, max: 30 }),
    exemptRoles: fc.subarray([...ROLES]),
    forceReenrollOnChange: fc.boolean(),
    recoveryCodes: fc.record({ enabled: fc.boolean(), count: fc.integer({ min: 1, max: 20 }) }),
    trustedDeviceDays: fc.integer({ min: 0, max: 365 }),
    risk: riskThresholds,
    stepUp: fc.record({
      defaultMaxAgeSeconds: fc.integer({ min: 0, max: 3600 }),
      actions: fc.dictionary(fc.constantFrom('payment', 'data-export', 'delete-account'), fc.integer({ min: 0, max: 3600 })),
    }),
    totpIssuer: fc.option(fc.constantFrom('Bank', 'Acme'), { nil: null }),
    minFactors: fc.integer({ min: 1, max: 3 }),
    downgradeProtection: fc.boolean(),
  },
  { requiredKeys: [] },
) as fc.Arbitrary<PolicyLayer>;

/** Times around NOW: long ago, recent, exactly now, soon, later. */
const instant = fc.oneof(
  fc.integer({ min: -400, max: 400 }).map((d) => NOW + d * DAY_MS),
  fc.integer({ min: -3600, max: 3600 }).map((s) => NOW + s * SECOND_MS),
);

const version: fc.Arbitrary<PolicyVersion> = fc.record({
  version: fc.integer({ min: 1, max: 9 }),
  effectiveAt: instant,
  expiresAt: fc.option(instant, { nil: null }),
  layer: policyLayer,
});

const layers: fc.Arbitrary<LayerInput[]> = fc
  .tuple(
    ...(['application', 'tenant', 'tenant_application', 'user'] as const).map((level) =>
      fc.option(fc.array(version, { minLength: 1, maxLength: 3 }).map((versions): LayerInput => ({ level, name: level, versions })), { nil: undefined }),
    ),
  )
  .map((xs) => xs.filter((x): x is LayerInput => x !== undefined));

const application: fc.Arbitrary<DecisionApplication> = fc.boolean().map((firstParty) => ({ id: 'app', name: firstParty ? 'console' : 'bank', firstParty }));

const userFactor: fc.Arbitrary<UserFactor> = fc.record({
  id: fc.constant('f'),
  type: fc.constantFrom(...FACTOR_TYPES),
  status: fc.constantFrom<UserFactor['status']>('active', 'active', 'active', 'pending'),
  remaining: fc.integer({ min: 0, max: 10 }),
}).map((f) => (f.type === 'recovery_codes' ? f : { id: f.id, type: f.type, status: f.status }));

const user: fc.Arbitrary<DecisionUser> = fc.record({
  id: fc.constant('u'),
  roles: fc.subarray([...ROLES]),
  factors: fc.array(userFactor, { maxLength: 5 }).map((fs) => fs.map((f, i) => ({ ...f, id: `f${i}` }))),
  firstSignInAt: fc.option(instant.filter((t) => t <= NOW), { nil: null }),
  graceUntil: fc.option(instant, { nil: null }),
  hasPhone: fc.boolean(),
  exemptUntil: fc.option(instant, { nil: null }),
  completedMfaBefore: fc.boolean(),
});

const risk: fc.Arbitrary<RiskAssessment> = fc.oneof(
  fc.constant<RiskAssessment>({ status: 'unavailable', reason: 'timeout' }),
  fc.record({
    status: fc.constant('ok' as const),
    score: fc.integer({ min: 0, max: 100 }),
    signals: fc.subarray([...SIGNALS]).map((codes) => codes.map((code) => ({ code, weight: 10 }))),
  }),
);

const purpose: fc.Arbitrary<Purpose> = fc.oneof(
  fc.constant<Purpose>({ kind: 'signin' }),
  fc.record({ kind: fc.constant('step_up' as const), action: fc.constantFrom('payment', 'data-export', 'rename'), maxAgeSeconds: fc.option(fc.integer({ min: 0, max: 3600 }), { nil: undefined }) }).map(
    (p): Purpose => (p.maxAgeSeconds === undefined ? { kind: 'step_up', action: p.action } : p),
  ),
);

const completed: fc.Arbitrary<CompletedStep[]> = fc.array(
  fc.record({ method: fc.constantFrom<CompletedStep['method']>(...FACTOR_TYPES, 'password', 'email_link', 'sms_link'), userVerified: fc.boolean() }),
  { maxLength: 3 },
);

interface InputOptions {
  readonly purpose?: fc.Arbitrary<Purpose>;
  readonly completed?: fc.Arbitrary<CompletedStep[]>;
  readonly user?: fc.Arbitrary<DecisionUser>;
  /** A last layer applied on top of the generated ones (before floors), e.g. to pin `challenge: adaptive`. */
  readonly pin?: PolicyLayer;
}

function decisionInput(options: InputOptions = {}): fc.Arbitrary<DecisionInput> {
  return fc
    .record({
      layers,
      application,
      user: options.user ?? user,
      purpose: options.purpose ?? purpose,
      risk,
      device: fc.option(fc.record({ trustedAt: fc.option(instant.filter((t) => t <= NOW), { nil: null }) }), { nil: null }),
      rememberedDevice: fc.option(fc.record({ mfaAt: instant }), { nil: null }),
      lastMfaAt: fc.option(instant.filter((t) => t <= NOW), { nil: null }),
      completed: options.completed ?? completed,
      now: fc.oneof(fc.constant(NOW), instant),
    })
    .map((g) => {
      const all = options.pin === undefined ? g.layers : [...g.layers, { level: 'user' as const, name: 'pin', versions: [{ version: 1, effectiveAt: -Infinity, layer: options.pin }] }];
      const policy = resolvePolicy(all, floorsFor(g.application), g.now);
      return { policy, application: g.application, user: g.user, purpose: g.purpose, risk: g.risk, device: g.device, rememberedDevice: g.rememberedDevice, lastMfaAt: g.lastMfaAt, completed: g.completed, now: g.now };
    });
}

const CHALLENGE_RANK = { never: 0, adaptive: 1, always: 2 } as const;

// ---------------------------------------------------------------------------------------------------------------

describe('decide agrees with the reference model', () => {
  test('the sign-in outcome equals the reference model\'s wherever the model is defined (no step completed yet)', () => {
    fc.assert(
      fc.property(decisionInput({ purpose: fc.constant({ kind: 'signin' }), completed: fc.constant([]) }), (input) => {
        const d = decide(input);
        assert.equal(d.outcome, referenceOutcome(input), JSON.stringify(d.reasons));
      }),
      { numRuns: 5000 },
    );
  });

  test('the methods offered are exactly the reference\'s acceptable factor types (or by rule 7 the strongest held), whenever decide challenges on sign-in', () => {
    fc.assert(
      fc.property(decisionInput({ purpose: fc.constant({ kind: 'signin' }), completed: fc.constant([]) }), (input) => {
        const d = decide(input);
        if (d.outcome !== 'challenge') return;
        assert.deepEqual(new Set(d.methods), new Set(referenceOffer(input.policy.values, input.user)));
      }),
      RUNS,
    );
  });
});

describe('decide agrees with the reference model after a recovery code (the flow\'s second decision)', () => {
  /** A user who answered with a recovery code holds a batch: with the code just spent, 0 to 9 remain. */
  const holdsCodes = user.chain((u) =>
    fc.integer({ min: 0, max: 9 }).map((remaining): DecisionUser => ({ ...u, factors: [...u.factors.filter((f) => f.type !== 'recovery_codes'), { id: 'rc', type: 'recovery_codes', status: 'active', remaining }] })),
  );
  const afterCode = decisionInput({ purpose: fc.constant({ kind: 'signin' }), completed: fc.constant([{ method: 'password' }, { method: 'recovery_codes' }]), user: holdsCodes });

  test('a recovery code is a second factor where the set allows it routinely, and break-glass (the wall) only elsewhere — the last code included', () => {
    fc.assert(
      fc.property(afterCode, (input) => {
        const d = decide(input);
        assert.equal(d.outcome, referenceAfterRecoveryCode(input), JSON.stringify(d.reasons));
      }),
      { numRuns: 5000 },
    );
  });

  test('the outcome after a recovery code does not depend on how many codes are left (the last one is no different)', () => {
    fc.assert(
      fc.property(afterCode, fc.integer({ min: 1, max: 9 }), (input, left) => {
        const withLeft = (n: number): DecisionInput => ({ ...input, user: { ...input.user, factors: input.user.factors.map((f) => (f.type === 'recovery_codes' ? { ...f, remaining: n } : f)) } });
        assert.equal(decide(withLeft(0)).outcome, decide(withLeft(left)).outcome);
      }),
      RUNS,
    );
  });
});

describe('the enrollment wall (rule 4, WeftID)', () => {
  const firstDecision = decisionInput({ purpose: fc.constant({ kind: 'signin' }), completed: fc.constant([]) });

  test('a user holding an active factor meets the wall only after a challenge of one they hold', () => {
    fc.assert(
      fc.property(firstDecision, (input) => {
        const d = decide(input);
        if (d.outcome !== 'enroll') return;
        const holds = input.user.factors.some((f) => f.status === 'active' && f.type !== 'recovery_codes');
        if (holds) assert.ok(d.methods.length > 0, JSON.stringify(d.reasons));
        for (const m of d.methods) assert.ok(input.user.factors.some((f) => f.status === 'active' && f.type === m), `${m} is held`);
      }),
      RUNS,
    );
  });

  test('once that factor is answered, the wall asks nothing more: enrollment opens (no second challenge)', () => {
    fc.assert(
      fc.property(firstDecision, (input) => {
        const first = decide(input);
        fc.pre(first.outcome === 'enroll' && first.methods.length > 0);
        const second = decide({ ...input, completed: [{ method: 'password' }, { method: first.methods[0] as FactorType, userVerified: true }] });
        assert.equal(second.outcome, 'enroll', JSON.stringify(second.reasons));
        assert.deepEqual(second.methods, []);
        assert.equal(second.recovery, false);
      }),
      RUNS,
    );
  });

  test('the wall offers only types that satisfy the policy and that the user does not already count', () => {
    fc.assert(
      fc.property(firstDecision, (input) => {
        const d = decide(input);
        if (d.outcome !== 'enroll') return;
        const p = input.policy.values;
        const named = typeof p.acceptableFactors === 'string' ? NAMED_SETS[p.acceptableFactors] : p.acceptableFactors;
        const counted = new Set(referenceAcceptable(p, input.user, false));
        for (const t of d.enrollOptions) {
          assert.ok(named.includes(t) && p.allowedFactors.includes(t), `${t} is acceptable and allowed`);
          assert.ok(!(p.strength === 'enhanced' && (t === 'email_otp' || t === 'sms_otp')), `${t} under enhanced`);
          assert.ok(!counted.has(t), `${t} is already held and counted: enrolling it again would not meet minFactors`);
        }
      }),
      RUNS,
    );
  });
});

describe('floors and raising', () => {
  test('no layer combination weakens the first-party floor: enrollment required and challenge always, whatever the layers', () => {
    fc.assert(
      fc.property(layers, instant, (ls, now) => {
        const resolved = resolvePolicy(ls, floorsFor({ firstParty: true }), now);
        assert.equal(resolved.values.enrollment, 'required');
        assert.equal(resolved.values.challenge, 'always');
        assert.ok(resolved.floors.includes('first-party'));
      }),
      RUNS,
    );
  });

  test('a request raised on top of the floor cannot lower it either, nor lower anything the layers required', () => {
    fc.assert(
      fc.property(layers, fc.array(policyLayer, { maxLength: 3 }), fc.boolean(), (ls, requests, firstParty) => {
        const base = resolvePolicy(ls, floorsFor({ firstParty }), NOW);
        const raised = requests.reduce((p, r) => raisePolicy(p, r, { level: 'request', name: 'acr_values', version: null }), base);
        const [b, r] = [base.values, raised.values];
        if (firstParty) {
          assert.equal(r.enrollment, 'required');
          assert.equal(r.challenge, 'always');
        }
        if (b.enrollment === 'required') assert.equal(r.enrollment, 'required');
        assert.ok(CHALLENGE_RANK[r.challenge] >= CHALLENGE_RANK[b.challenge]);
        if (b.strength === 'enhanced') assert.equal(r.strength, 'enhanced');
        assert.ok(r.gracePeriodDays <= b.gracePeriodDays);
        assert.ok(r.minFactors >= b.minFactors);
        assert.ok(r.trustedDeviceDays <= b.trustedDeviceDays);
        assert.ok(r.risk.challengeAt <= b.risk.challengeAt && r.risk.blockAt <= b.risk.blockAt);
        assert.ok(r.stepUp.defaultMaxAgeSeconds <= b.stepUp.defaultMaxAgeSeconds);
        assert.ok(r.exemptRoles.every((role) => b.exemptRoles.includes(role)));
        if (b.downgradeProtection) assert.equal(r.downgradeProtection, true);
        if (b.forceReenrollOnChange) assert.equal(r.forceReenrollOnChange, true);
        const types = (set: Policy['acceptableFactors']): readonly FactorType[] => (typeof set === 'string' ? NAMED_SETS[set] : set);
        assert.ok(types(r.acceptableFactors).every((t) => types(b.acceptableFactors).includes(t)), 'acceptable set only shrinks');
      }),
      RUNS,
    );
  });

  test('on a first-party application, no user is ever allowed on risk or mode alone while holding an acceptable factor', () => {
    fc.assert(
      fc.property(decisionInput({ purpose: fc.constant({ kind: 'signin' }), completed: fc.constant([]) }), (input) => {
        fc.pre(input.application.firstParty);
        fc.pre(referenceAcceptable(input.policy.values, input.user).length > 0);
        assert.notEqual(decide(input).outcome, 'allow');
      }),
      RUNS,
    );
  });
});

describe('invariants of every decision', () => {
  const anyInput = decisionInput();

  test('decide is deterministic: the same input (or a deep copy of it) gives a deep-equal decision', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const first = decide(input);
        assert.deepEqual(decide(input), first);
        assert.deepEqual(decide(structuredClone(input)), first);
      }),
      RUNS,
    );
  });

  test('allow never carries an errorCode; block always carries ACCESS_DENIED_RISK; enroll always says why', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const d = decide(input);
        if (d.outcome === 'allow') assert.equal(d.errorCode, null);
        if (d.outcome === 'block') assert.equal(d.errorCode, 'ACCESS_DENIED_RISK');
        if (d.outcome === 'enroll') assert.notEqual(d.errorCode, null);
        if (d.outcome === 'challenge') assert.equal(d.errorCode, null);
      }),
      RUNS,
    );
  });

  test('every outcome has a non-empty trace of reasons with non-empty code, detail and source', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const d = decide(input);
        assert.ok(d.reasons.length > 0);
        for (const r of d.reasons) assert.ok(r.code.length > 0 && r.detail.length > 0 && r.source.length > 0, JSON.stringify(r));
      }),
      RUNS,
    );
  });

  test('methods and enrollOptions are listed strongest first, without duplicates', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const d = decide(input);
        for (const list of [d.methods, d.enrollOptions]) {
          assert.equal(new Set(list).size, list.length, `duplicates in ${list.join(',')}`);
          for (let i = 1; i < list.length; i++) {
            assert.ok(factorStrength(list[i - 1] as FactorType) >= factorStrength(list[i] as FactorType), `not strongest first: ${list.join(',')}`);
          }
        }
      }),
      RUNS,
    );
  });

  test('a challenge only offers factors the user holds and never offers recovery codes the policy keeps for break-glass', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const d = decide(input);
        const held = new Set(input.user.factors.filter((f) => f.status === 'active').map((f) => f.type));
        for (const m of d.methods) assert.ok(held.has(m), `${m} not held`);
        const set = input.policy.values.acceptableFactors;
        if (set === 'recovery_excluded' || set === 'totp_webauthn' || set === 'phishing_resistant') assert.ok(!d.methods.includes('recovery_codes'));
        assert.ok(!d.enrollOptions.includes('recovery_codes'));
      }),
      RUNS,
    );
  });

  test('a risk score at or above blockAt blocks, on sign-in and step-up alike; below it nothing blocks', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const blocked = input.risk.status === 'ok' && input.risk.score >= input.policy.values.risk.blockAt;
        assert.equal(decide(input).outcome === 'block', blocked);
      }),
      RUNS,
    );
  });
});

describe('fail closed', () => {
  test('an enrolled user (holding an acceptable factor) under adaptive with risk unavailable is never allowed', () => {
    const notExempt = user.map((u) => ({ ...u, roles: u.roles.filter((r) => r === 'staff'), exemptUntil: null }));
    fc.assert(
      fc.property(
        decisionInput({ purpose: fc.constant({ kind: 'signin' }), completed: fc.constant([]), user: notExempt, pin: { challenge: 'adaptive', exemptRoles: [] } }).map(
          (i): DecisionInput => ({ ...i, risk: { status: 'unavailable', reason: 'risk engine down' } }),
        ),
        (input) => {
          fc.pre(referenceAcceptable(input.policy.values, input.user).length > 0);
          const d = decide(input);
          assert.notEqual(d.outcome, 'allow', JSON.stringify(d.reasons));
        },
      ),
      RUNS,
    );
  });
});
