import { FACTOR_TYPES, type FactorType } from '../factors.ts';
import type { AcceptableFactors, Policy } from './model.ts';

const NAMED: Readonly<Record<string, readonly FactorType[]>> = {
  any: FACTOR_TYPES,
  phishing_resistant: ['webauthn'],
  totp_webauthn: ['totp', 'webauthn'],
  recovery_excluded: FACTOR_TYPES.filter((t) => t !== 'recovery_codes'),
};

/** The factor types a set names, before `strength` is applied. */
export function typesOfSet(set: AcceptableFactors): readonly FactorType[] {
  return typeof set === 'string' ? (NAMED[set] ?? []) : set;
}

/**
 * What a policy accepts. `routine` are the types that satisfy a challenge on a routine sign-in; `recoveryRoutine`
 * says whether recovery codes are among them (only `any`, or an explicit list naming them). `strength: enhanced`
 * removes the channel factors from whatever the set allows: the two compose (DESIGN §3).
 */
export interface AcceptableSet {
  readonly routine: ReadonlySet<FactorType>;
  readonly recoveryRoutine: boolean;
  /** Recovery codes exist at all (policy enables them); where not routine they remain break-glass. */
  readonly recoveryEnabled: boolean;
}

export function acceptableSetOf(policy: Policy): AcceptableSet {
  const routine = new Set<FactorType>();
  for (const type of typesOfSet(policy.acceptableFactors)) {
    if (policy.strength === 'enhanced' && (type === 'email_otp' || type === 'sms_otp')) continue;
    if (type === 'recovery_codes' && !policy.recoveryCodes.enabled) continue;
    routine.add(type);
  }
  return { routine, recoveryRoutine: routine.has('recovery_codes'), recoveryEnabled: policy.recoveryCodes.enabled };
}
