import type { DecisionErrorCode } from '../errors.ts';
import { factorChannel, factorClassOf, factorStrength, type FactorType } from '../factors.ts';
import { formatInstant } from '../format.ts';
import { acceptableSetOf, type AcceptableSet } from '../policy/acceptable.ts';
import type { Policy, PolicyField } from '../policy/model.ts';
import { describeSource, type ResolvedPolicy } from '../policy/resolve.ts';
import { DAY_MS, SECOND_MS } from '../time.ts';
import type { CompletedStep, Decision, DecisionInput, Outcome, Reason, RiskSignal, UserFactor } from './types.ts';

/** Signals that make `adaptive` challenge whatever the score (ZewstID "Smart MFA"). */
const ADAPTIVE_TRIGGERS: ReadonlySet<string> = new Set(['new_device', 'new_ip', 'new_country', 'trusted_device_expired', 'impossible_travel']);

const RISK_ENGINE = 'risk engine';

function riskSignalText(s: RiskSignal): string {
  return s.detail === undefined ? `risk ${s.code} +${s.weight}` : `risk ${s.code} +${s.weight}: ${s.detail}`;
}

function from(policy: ResolvedPolicy, field: PolicyField): string {
  return describeSource(policy.sources[field]);
}

/** Inserts `type` into a list kept strongest first, after any of equal strength (no `splice`: it is slow in V8). */
function insertByStrength(list: FactorType[], type: FactorType): void {
  if (list.includes(type)) return;
  const s = factorStrength(type);
  let i = list.length;
  list.push(type);
  while (i > 0 && factorStrength(list[i - 1] as FactorType) < s) {
    list[i] = list[i - 1] as FactorType;
    i--;
  }
  list[i] = type;
}

/** What the user holds, sorted into what the policy accepts and why the rest is not. */
interface Holdings {
  /** Acceptable active factor types, strongest first. */
  readonly acceptable: FactorType[];
  /**
   * Acceptable types other than recovery codes (what `minFactors` counts). Downgrade protection narrows what is
   * offered, not what is held: a passkey holder's TOTP still counts, or `minFactors` 2 could never be met by one.
   */
  readonly counted: number;
  /** Active factor types other than recovery codes, acceptable or not, strongest first. */
  readonly held: FactorType[];
  /** Recovery codes remain and may be used as break-glass. */
  readonly breakGlass: boolean;
  /**
   * Recovery codes are a routine factor here (the set allows them and downgrade protection does not hold them back):
   * a code completed in this flow satisfies the challenge even when it was the user's last one (DESIGN §3).
   */
  readonly recoveryRoutine: boolean;
  /** The user's recovery codes are all used and nothing else is held. */
  readonly recoveryExhausted: boolean;
  /** Downgrade protection is in effect: the user holds a phishing-resistant factor the policy accepts. */
  readonly downgradeProtected: boolean;
}

/**
 * `acceptableSetOf` for a named set, built once per (name, strength, recoveryCodes.enabled) — the only inputs it
 * reads — instead of a fresh `Set` per decision (a fifth of a decision's cost). Explicit lists and unknown names
 * are not cached, so the cache stays at 16 entries. The sets are only read here, never handed out.
 */
const NAMED_SET_CACHE: ReadonlyMap<string, (AcceptableSet | undefined)[]> = new Map(
  ['any', 'phishing_resistant', 'totp_webauthn', 'recovery_excluded'].map((name) => [name, [undefined, undefined, undefined, undefined]]),
);

function acceptableOf(p: Policy): AcceptableSet {
  const name = p.acceptableFactors;
  const row = typeof name === 'string' ? NAMED_SET_CACHE.get(name) : undefined;
  if (row === undefined) return acceptableSetOf(p);
  const slot = (p.strength === 'enhanced' ? 2 : 0) + (p.recoveryCodes.enabled ? 1 : 0);
  return (row[slot] ??= acceptableSetOf(p));
}

function usable(f: UserFactor): boolean {
  return f.status === 'active' && (f.type !== 'recovery_codes' || (f.remaining ?? 1) > 0);
}

function sortHoldings(input: DecisionInput, reasons: Reason[]): Holdings {
  const { policy, user } = input;
  const p = policy.values;
  const set = acceptableOf(p);
  let emailFirst = false;
  let smsFirst = false;
  for (const step of input.completed ?? NONE) {
    if (step.method === 'email_link') emailFirst = true;
    else if (step.method === 'sms_link') smsFirst = true;
  }
  // Only a phishing-resistant factor the policy accepts can shield the user from weaker ones: where passkeys are not
  // acceptable (an application that lists only `totp`), excluding the rest would leave nothing to challenge and
  // let the user through on rule 6, or wall them with nothing to enroll.
  const holdsPhishingResistant = p.downgradeProtection &&
    user.factors.some((f) => usable(f) && factorClassOf(f.type) === 'phishing_resistant' && set.routine.has(f.type));

  const acceptable: FactorType[] = [];
  const held: FactorType[] = [];
  /** Acceptable types downgrade protection keeps from being offered (they still count toward `minFactors`). */
  const heldBack: FactorType[] = [];
  let breakGlass = false;
  let exhausted = false;
  for (const f of user.factors) {
    if (f.status !== 'active') continue;
    const type = f.type;
    if (type === 'recovery_codes') {
      if ((f.remaining ?? 1) <= 0) {
        exhausted = true;
      } else if (set.recoveryRoutine) {
        insertByStrength(acceptable, type);
      } else if (set.recoveryEnabled) {
        breakGlass = true;
      }
      continue;
    }
    insertByStrength(held, type);
    if (!set.routine.has(type)) {
      const why = p.strength === 'enhanced' && factorClassOf(type) === 'channel'
        ? `${type} is not acceptable under strength=enhanced`
        : `${type} is not in acceptableFactors=${Array.isArray(p.acceptableFactors) ? p.acceptableFactors.join('+') : String(p.acceptableFactors)}`;
      reasons.push({ code: 'factor_not_acceptable', detail: why, source: from(policy, p.strength === 'enhanced' && factorClassOf(type) === 'channel' ? 'strength' : 'acceptableFactors') });
    } else if (holdsPhishingResistant && factorClassOf(type) !== 'phishing_resistant') {
      if (!heldBack.includes(type)) heldBack.push(type);
      reasons.push({ code: 'downgrade_protection', detail: `${type} is not offered: the user holds a phishing-resistant factor`, source: from(policy, 'downgradeProtection') });
    } else if ((emailFirst && factorChannel(type) === 'email') || (smsFirst && factorChannel(type) === 'sms')) {
      reasons.push({ code: 'same_channel', detail: `${type} rides the channel of the first step and is not a second factor`, source: 'flow' });
    } else {
      insertByStrength(acceptable, type);
    }
  }
  if (holdsPhishingResistant && acceptable.includes('recovery_codes')) {
    // Downgrade protection keeps recovery codes as break-glass only.
    acceptable.splice(acceptable.indexOf('recovery_codes'), 1);
    breakGlass = true;
  }
  const counted = acceptable.length - (acceptable.includes('recovery_codes') ? 1 : 0) + heldBack.length;
  const recoveryRoutine = set.recoveryRoutine && !holdsPhishingResistant;
  return { acceptable, counted, held, breakGlass, recoveryRoutine, recoveryExhausted: exhausted && held.length === 0, downgradeProtected: holdsPhishingResistant };
}

/**
 * `replacing`: a recovery code was just used as break-glass, so the user has most likely lost a factor they hold;
 * its type is offered again (re-enrolling replaces it) instead of leaving a wall with nothing to enroll.
 */
function enrollOptionsOf(input: DecisionInput, holdings: Holdings, replacing = false): FactorType[] {
  const p = input.policy.values;
  const set = acceptableOf(p);
  const options: FactorType[] = [];
  for (const type of p.allowedFactors) {
    if (type === 'recovery_codes' || !set.routine.has(type)) continue;
    if (type === 'sms_otp' && input.user.hasPhone !== true) continue;
    // A type already held (and acceptable, as every type here is) is not offered again, passkeys included: only
    // distinct acceptable types meet `minFactors`, so another passkey would leave the user at the wall. (A user adds
    // a second passkey through a voluntary enrollment, not here.)
    if (!replacing && holdings.held.includes(type)) continue;
    // Replacing a lost factor after break-glass, a passkey holder re-enrolls a phishing-resistant one (no downgrade by
    // the back door). Short of `minFactors`, they need another type: a second passkey would not count.
    if (holdings.downgradeProtected && replacing && factorClassOf(type) !== 'phishing_resistant') continue;
    insertByStrength(options, type);
  }
  return options;
}

interface Grace {
  readonly active: boolean;
  readonly endsAt: number;
  /** A window was ever open (an anchor plus days, a forced re-enrollment window, or a re-grant). */
  readonly existed: boolean;
}

/**
 * Grace is anchored on the first sign-in; a policy change does not re-anchor it unless `forceReenrollOnChange`
 * opens a fresh window from the change; an admin re-grant extends it (DESIGN §3 rule 4, AxisSynapse).
 */
function graceOf(p: Policy, input: DecisionInput): Grace {
  const { user, now } = input;
  const anchor = user.firstSignInAt ?? now;
  const span = p.gracePeriodDays * DAY_MS;
  let endsAt = graceSpent(input) ? anchor : anchor + span;
  const changedAt = input.policy.changedAt;
  if (p.forceReenrollOnChange && changedAt !== null && changedAt > anchor) endsAt = Math.max(endsAt, changedAt + span);
  if (user.graceUntil !== null) endsAt = Math.max(endsAt, user.graceUntil);
  return { active: now < endsAt, endsAt, existed: endsAt > anchor };
}

/**
 * The first sign-in's window was for enrolling a first factor: a user who completed MFA before and holds no active
 * factor now (an admin reset, or every factor removed) used it. Only a forced window or an admin re-grant remains.
 * (A used-up batch of recovery codes is still held: the decision after its last code is no different from before.)
 */
function graceSpent(input: DecisionInput): boolean {
  if (input.user.completedMfaBefore !== true) return false;
  for (const f of input.user.factors) if (f.status === 'active') return false;
  return true;
}

const NONE: readonly CompletedStep[] = [];

function completedWith(input: DecisionInput, method: CompletedStep['method']): boolean {
  for (const step of input.completed ?? NONE) if (step.method === method) return true;
  return false;
}

/**
 * The factor completed in this flow that satisfies the policy. A recovery code counts wherever recovery codes are
 * routine, whether or not any remain: the decision after a verify may see the batch with the code just spent, and
 * the user's last code is no more break-glass than their first (break-glass is only where the set does not allow
 * them routinely, DESIGN §3).
 */
function completedAcceptably(input: DecisionInput, holdings: Pick<Holdings, 'acceptable' | 'recoveryRoutine'>): FactorType | null {
  const { acceptable } = holdings;
  for (const step of input.completed ?? []) {
    if (step.method === 'password' || step.method === 'email_link' || step.method === 'sms_link') continue;
    if (step.method === 'recovery_codes' && holdings.recoveryRoutine) return step.method;
    // A passkey without user verification is one factor (authorizer #685): it satisfies no second-factor challenge
    // by itself here unless it came after another step.
    if (step.method === 'webauthn' && step.userVerified !== true && (input.completed?.length ?? 0) < 2) continue;
    if (acceptable.includes(step.method)) return step.method;
  }
  return null;
}

function build(
  input: DecisionInput,
  outcome: Outcome,
  reasons: Reason[],
  extra: Partial<Pick<Decision, 'methods' | 'recovery' | 'enrollOptions' | 'grace' | 'errorCode' | 'exemption' | 'trustedDevice'>>,
): Decision {
  return {
    outcome,
    methods: extra.methods ?? [],
    recovery: extra.recovery ?? false,
    enrollOptions: extra.enrollOptions ?? [],
    grace: extra.grace ?? null,
    errorCode: outcome === 'allow' ? null : (extra.errorCode ?? null),
    reasons,
    policyVersions: input.policy.versions,
    riskScore: input.risk.status === 'ok' ? input.risk.score : null,
    exemption: extra.exemption ?? null,
    trustedDevice: outcome === 'allow' && extra.trustedDevice === true,
  };
}

/**
 * The most specific reason the user cannot pass: what they hold (a factor the policy refuses, a used-up batch of
 * recovery codes) before when (grace over). Grace has ended for nearly every established user, so checking it
 * first would hide `MFA_RECOVERY_CODES_EXHAUSTED` behind `MFA_GRACE_EXPIRED` under any non-zero grace period.
 */
function enrollError(holdings: Holdings, grace: Grace | null): DecisionErrorCode {
  if (holdings.held.length > 0 && holdings.counted === 0) return 'MFA_FACTOR_NOT_ALLOWED';
  if (holdings.recoveryExhausted) return 'MFA_RECOVERY_CODES_EXHAUSTED';
  if (grace !== null && grace.existed) return 'MFA_GRACE_EXPIRED';
  return 'MFA_REQUIRED_NO_FACTOR';
}

/** Rule 1: a risk score at or above `risk.blockAt` blocks, whatever else holds. */
function riskBlock(input: DecisionInput, reasons: Reason[]): Decision | null {
  const { risk, policy } = input;
  if (risk.status !== 'ok') return null;
  if (risk.score < policy.values.risk.blockAt) return null;
  for (const s of risk.signals) reasons.push({ code: 'risk_signal', detail: riskSignalText(s), source: RISK_ENGINE });
  reasons.push({ code: 'risk_block', detail: `Login blocked by risk assessment: score ${risk.score} ≥ blockAt ${policy.values.risk.blockAt}`, source: from(policy, 'risk') });
  return build(input, 'block', reasons, { errorCode: 'ACCESS_DENIED_RISK' });
}

/**
 * Decides whether a sign-in or sensitive action needs a second factor, which are acceptable, whether the user must
 * first enroll, or whether it is blocked — with the ordered reasons (DESIGN §3). Pure: `now` and the risk
 * assessment are inputs.
 *
 * @example
 * const decision = decide({ policy, application, user, purpose: { kind: 'signin' }, risk, lastMfaAt: null, now });
 * decision.outcome; // 'challenge'
 * decision.reasons.map((r) => r.detail); // ['challenge=always from application "bank" v1']
 */
export function decide(input: DecisionInput): Decision {
  return input.purpose.kind === 'step_up' ? decideStepUp(input, input.purpose.action, input.purpose.maxAgeSeconds) : decideSignin(input);
}

function decideSignin(input: DecisionInput): Decision {
  const { policy, user, application, risk, now } = input;
  const p = policy.values;
  const reasons: Reason[] = [];

  const blocked = riskBlock(input, reasons);
  if (blocked !== null) return blocked;

  // Rule 2: exemptions. Floors still apply: a first-party application challenges an exempt user too.
  let exemption: string | null = null;
  if (p.exemptRoles.length > 0) {
    for (const role of user.roles) {
      if (p.exemptRoles.includes(role)) {
        exemption = role;
        break;
      }
    }
  }
  if (exemption === null && user.exemptUntil != null && now < user.exemptUntil) exemption = 'user override';
  if (exemption !== null) {
    if (policy.floors.length > 0 || application.firstParty) {
      const floor = policy.floors.length > 0 ? policy.floors.join(', ') : 'first-party';
      reasons.push({ code: 'exemption_overridden_by_floor', detail: `exemption "${exemption}" does not lift the ${floor} floor`, source: `floor "${floor}"` });
    } else {
      const detail = exemption === 'user override' ? 'the user is exempt by an admin override' : `role "${exemption}" is exempt`;
      reasons.push({ code: 'exempt', detail, source: exemption === 'user override' ? 'user override' : from(policy, 'exemptRoles') });
      return build(input, 'allow', reasons, { exemption });
    }
  }

  // Rule 3: what the user holds that the policy accepts.
  const holdings = sortHoldings(input, reasons);
  const satisfiedBy = completedAcceptably(input, holdings);
  const usedBreakGlass = satisfiedBy === null && completedWith(input, 'recovery_codes');

  // Rule 4: the enrollment requirement and its grace.
  let grace: Grace | null = null;
  if (p.enrollment === 'required' && holdings.counted < p.minFactors) {
    grace = graceOf(p, input);
    const need = p.minFactors === 1 ? 'an acceptable factor' : `${p.minFactors} acceptable factors`;
    if (graceSpent(input) && (user.firstSignInAt ?? now) + p.gracePeriodDays * DAY_MS > now) {
      reasons.push({ code: 'grace_spent', detail: 'the first sign-in\'s grace is not given again: the user completed MFA before and holds no factor now (reset or removed)', source: 'user' });
    }
    if (grace.active) {
      reasons.push({ code: 'grace_active', detail: `enrollment=required but the user lacks ${need}; grace until ${formatInstant(grace.endsAt)}`, source: from(policy, 'gracePeriodDays') });
      // Rule 7 below challenges a user who holds factors the policy no longer accepts.
      if (holdings.acceptable.length === 0 && holdings.held.length === 0 && !usedBreakGlass) {
        return build(input, 'allow', reasons, { grace: { active: true, endsAt: grace.endsAt }, enrollOptions: enrollOptionsOf(input, holdings) });
      }
    } else {
      const errorCode = enrollError(holdings, grace);
      const graceText = grace.existed ? `grace ended ${formatInstant(grace.endsAt)}` : 'no grace period';
      reasons.push({ code: 'enrollment_required', detail: `enrollment=required and the user lacks ${need} (${graceText})`, source: from(policy, 'enrollment') });
      // WeftID: challenge a factor the user already has, then the enrollment page.
      // A factor already completed in this flow (even one the policy no longer accepts) was the challenge.
      const challenged = satisfiedBy !== null || usedBreakGlass || (input.completed ?? []).some((s) => (holdings.held as readonly string[]).includes(s.method));
      const challengeFirst = challenged ? [] : holdings.acceptable.length > 0 ? holdings.acceptable : holdings.held;
      // Held recovery codes are a factor too (SECURITY rule 5): a user who holds nothing else presents one (as
      // break-glass, `recovery`) before enrolling; the password alone never opens enrollment to them.
      const recoveryFirst = !challenged && holdings.breakGlass;
      if (challengeFirst.length > 0 || recoveryFirst) {
        reasons.push({ code: 'challenge_before_enroll', detail: `challenge ${challengeFirst.join(', ')} before enrollment`, source: 'user' });
      }
      return build(input, 'enroll', reasons, {
        methods: challengeFirst,
        recovery: recoveryFirst,
        enrollOptions: enrollOptionsOf(input, holdings, usedBreakGlass),
        grace: { active: false, endsAt: grace.endsAt },
        errorCode,
      });
    }
  }
  const graceOut = grace === null ? null : { active: grace.active, endsAt: grace.endsAt };

  if (usedBreakGlass) {
    // A recovery code outside the routine set completes the challenge but never issues a session by itself.
    reasons.push({ code: 'break_glass_recovery', detail: 'a recovery code was used as break-glass; enroll a factor before any session', source: from(policy, 'acceptableFactors') });
    return build(input, 'enroll', reasons, { enrollOptions: enrollOptionsOf(input, holdings, true), grace: graceOut, errorCode: 'MFA_FACTOR_NOT_ALLOWED' });
  }
  if (satisfiedBy !== null) {
    reasons.push({ code: 'mfa_satisfied', detail: `MFA verification successful: ${satisfiedBy} completed in this flow`, source: 'flow' });
    return build(input, 'allow', reasons, { grace: graceOut });
  }

  // Rule 7, never weaker than before: a user whose factors the policy no longer accepts (a TOTP-only user after a
  // switch to phishing_resistant), while enrollment is optional or grace runs, is challenged with the strongest factor
  // they hold wherever a challenge would be due — a password alone never suffices — and shown the upgrade.
  let offer: readonly FactorType[] = holdings.acceptable;
  let upgrade: FactorType[] | undefined;
  if (offer.length === 0 && holdings.held.length > 0) {
    const top = factorStrength(holdings.held[0] as FactorType);
    offer = holdings.held.filter((t) => factorStrength(t) === top);
    upgrade = enrollOptionsOf(input, holdings);
    reasons.push({ code: 'never_weaker', detail: `no factor the user holds is acceptable; the strongest they hold (${offer.join(', ')}) is challenged where a challenge is due, and the upgrade shown`, source: 'user' });
    const passed = completedAcceptably(input, { acceptable: holdings.held, recoveryRoutine: false });
    if (passed !== null) {
      reasons.push({ code: 'mfa_satisfied', detail: `MFA verification successful: ${passed} (held, no longer acceptable) completed in this flow`, source: 'flow' });
      return build(input, 'allow', reasons, { grace: graceOut, enrollOptions: upgrade });
    }
  }

  // Rule 5: the challenge mode, for a user holding an acceptable factor (or, by rule 7, one they hold).
  if (offer.length > 0) {
    const challenging = { methods: offer, recovery: holdings.breakGlass, grace: graceOut };
    const challenge = (): Decision => build(input, 'challenge', reasons, challenging);
    if (application.firstParty || p.challenge === 'always') {
      if (application.firstParty) {
        // The floor holds whatever the layers say; name it even when a layer also asks for `always`.
        reasons.push({ code: 'first_party', detail: `MFA required: first-party application "${application.name}"`, source: 'floor "first-party"' });
      } else {
        reasons.push({ code: 'challenge_always', detail: 'challenge=always', source: from(policy, 'challenge') });
      }
      return challenge();
    }
    if (p.challenge === 'never') {
      reasons.push({ code: 'challenge_never', detail: 'challenge=never', source: from(policy, 'challenge') });
      return build(input, 'allow', reasons, { grace: graceOut, ...(upgrade === undefined ? {} : { enrollOptions: upgrade }) });
    }
    // adaptive
    if (risk.status === 'unavailable') {
      reasons.push({ code: 'risk_unavailable', detail: `MFA required: risk assessment unavailable (${risk.reason}); failing closed`, source: RISK_ENGINE });
      return challenge();
    }
    // A remembered device (a server-issued token, SECURITY rule 6) within `trustedDeviceDays` of the last MFA on
    // it vouches for the device and its roaming: `new_device` and `new_ip` no longer trigger by themselves. Every
    // other trigger, the score and an unavailable engine still challenge.
    const remembered = input.rememberedDevice ?? null;
    let rememberedValid = false;
    if (remembered !== null) {
      const until = remembered.mfaAt + p.trustedDeviceDays * DAY_MS;
      rememberedValid = p.trustedDeviceDays > 0 && now >= remembered.mfaAt && now < until;
      reasons.push(
        rememberedValid
          ? { code: 'trusted_device', detail: `remembered device: MFA on it ${formatInstant(remembered.mfaAt)}, trusted until ${formatInstant(until)} (${p.trustedDeviceDays} days)`, source: from(policy, 'trustedDeviceDays') }
          : { code: 'trusted_device_expired', detail: `remembered device no longer trusted: MFA on it ${formatInstant(remembered.mfaAt)}, trustedDeviceDays=${p.trustedDeviceDays}`, source: from(policy, 'trustedDeviceDays') },
      );
    }
    let trigger: string | null = null;
    for (const s of risk.signals) {
      reasons.push({ code: 'risk_signal', detail: riskSignalText(s), source: RISK_ENGINE });
      if (rememberedValid && (s.code === 'new_device' || s.code === 'new_ip')) continue;
      if (trigger === null && ADAPTIVE_TRIGGERS.has(s.code)) trigger = s.code;
    }
    if (remembered !== null && !rememberedValid) trigger ??= 'trusted_device_expired';
    const trustedAt = input.device?.trustedAt ?? null;
    if (trustedAt !== null && now - trustedAt >= p.trustedDeviceDays * DAY_MS) {
      reasons.push({ code: 'risk_signal', detail: `risk trusted_device_expired (trusted ${formatInstant(trustedAt)}, ${p.trustedDeviceDays} days)`, source: from(policy, 'trustedDeviceDays') });
      trigger ??= 'trusted_device_expired';
    }
    if (trigger !== null || risk.score >= p.risk.challengeAt) {
      const why = trigger !== null ? `signal ${trigger}` : `score ${risk.score} ≥ challengeAt ${p.risk.challengeAt}`;
      reasons.push({ code: 'adaptive_challenge', detail: `MFA required by risk assessment: ${why}`, source: from(policy, 'challenge') });
      return challenge();
    }
    if (rememberedValid) {
      reasons.push({ code: 'trusted_device_skip', detail: `MFA skipped: trusted device, low risk (score ${risk.score} < challengeAt ${p.risk.challengeAt})`, source: from(policy, 'challenge') });
      return build(input, 'allow', reasons, { grace: graceOut, trustedDevice: true, ...(upgrade === undefined ? {} : { enrollOptions: upgrade }) });
    }
    reasons.push({ code: 'adaptive_low_risk', detail: `MFA skipped: low risk (score ${risk.score} < challengeAt ${p.risk.challengeAt}, known device and network)`, source: from(policy, 'challenge') });
    return build(input, 'allow', reasons, { grace: graceOut, ...(upgrade === undefined ? {} : { enrollOptions: upgrade }) });
  }

  // Rule 6: nothing acceptable to challenge and nothing required.
  if (grace === null) {
    reasons.push({ code: 'optional_no_factor', detail: `enrollment=${p.enrollment} and the user holds no acceptable factor`, source: from(policy, 'enrollment') });
  }
  return build(input, 'allow', reasons, { grace: graceOut, enrollOptions: enrollOptionsOf(input, holdings) });
}

function decideStepUp(input: DecisionInput, action: string, requestedMaxAge: number | undefined): Decision {
  const { policy, now, lastMfaAt } = input;
  const p = policy.values;
  const reasons: Reason[] = [];
  const blocked = riskBlock(input, reasons);
  if (blocked !== null) return blocked;

  const configured = p.stepUp.actions[action];
  let maxAge = configured ?? p.stepUp.defaultMaxAgeSeconds;
  let maxAgeSource = from(policy, 'stepUp');
  if (requestedMaxAge !== undefined && requestedMaxAge < maxAge) {
    maxAge = requestedMaxAge;
    maxAgeSource = 'request';
  }
  const sorted = sortHoldings(input, reasons);
  // The step-up registry: an action may require one factor class (e.g. payment → phishing_resistant).
  const requiredClass = p.stepUp.factorClasses?.[action] ?? null;
  const ofClass = requiredClass === null ? sorted.acceptable : sorted.acceptable.filter((t) => factorClassOf(t) === requiredClass);
  const holdings = requiredClass === null ? sorted : { ...sorted, acceptable: ofClass, counted: ofClass.filter((t) => t !== 'recovery_codes').length, breakGlass: false, recoveryRoutine: sorted.recoveryRoutine && requiredClass === 'recovery' };
  if (requiredClass !== null) {
    reasons.push({ code: 'step_up_factor_class', detail: `"${action}" requires a ${requiredClass} factor`, source: from(policy, 'stepUp') });
  }
  const satisfiedBy = completedAcceptably(input, holdings);
  if (satisfiedBy !== null) {
    reasons.push({ code: 'mfa_satisfied', detail: `MFA verification successful: ${satisfiedBy} completed for "${action}"`, source: 'flow' });
    return build(input, 'allow', reasons, {});
  }
  // With a required class, the session's MFA counts only when every factor it proved is of that class (a weaker
  // step could be the one that made it fresh); a grant for this action was earned with the class.
  let freshAt = lastMfaAt;
  if (requiredClass !== null) {
    const classes = input.sessionFactorClasses ?? [];
    const sessionOk = classes.length > 0 && classes.every((c) => c === requiredClass);
    const grant = input.stepUpGrantAt ?? null;
    freshAt = sessionOk ? lastMfaAt : grant;
  }
  if (freshAt !== null && now - freshAt < maxAge * SECOND_MS && now >= freshAt) {
    reasons.push({ code: 'step_up_recent', detail: `MFA was recently completed (${Math.floor((now - freshAt) / SECOND_MS)} s ago; max age ${maxAge} s for "${action}")`, source: maxAgeSource });
    return build(input, 'allow', reasons, {});
  }
  const when = freshAt === null ? (requiredClass === null ? 'no MFA in this session' : `no ${requiredClass} MFA in this session`) : `last MFA ${Math.floor((now - freshAt) / SECOND_MS)} s ago`;
  if (holdings.acceptable.length > 0) {
    reasons.push({ code: 'step_up_required', detail: `Step-up MFA session created: ${when}; max age ${maxAge} s for "${action}"`, source: maxAgeSource });
    return build(input, 'challenge', reasons, { methods: holdings.acceptable, recovery: holdings.breakGlass });
  }
  reasons.push({ code: 'step_up_no_factor', detail: `step-up for "${action}" needs an acceptable factor the user does not hold`, source: from(policy, 'acceptableFactors') });
  return build(input, 'enroll', reasons, {
    methods: holdings.held,
    enrollOptions: requiredClass === null ? enrollOptionsOf(input, holdings) : enrollOptionsOf(input, holdings).filter((t) => factorClassOf(t) === requiredClass),
    errorCode: enrollError(holdings, null),
  });
}
