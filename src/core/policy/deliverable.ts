import { sortStrongestFirst, type FactorType } from '../factors.ts';
import { acceptableSetOf } from './acceptable.ts';
import type { Policy, PolicyLayer } from './model.ts';

/**
 * A policy may name factor types the deployment cannot deliver (today only TOTP and recovery codes are
 * enrollable; passkeys, email and SMS codes come with later issues). Saving such a policy is allowed — the model
 * is the same everywhere and an admin may prepare for a factor about to be installed — but the answer says so.
 */
export type PolicyWarningCode = 'FACTOR_NOT_DELIVERABLE' | 'NO_DELIVERABLE_FACTOR';

export interface PolicyWarning {
  /** Stable; clients key on it. */
  readonly code: PolicyWarningCode;
  /** Dotted path of the field in the saved layer, e.g. `allowedFactors[2]` (as in `INVALID_POLICY` errors); empty for the layer as a whole. */
  readonly field: string;
  /** A sentence for a human. */
  readonly message: string;
}

/**
 * Named sets that name particular types; `any` and `recovery_excluded` mean "whatever the deployment has" and
 * name none, so they never warn by themselves.
 */
const SPECIFIC_SETS: Readonly<Record<string, readonly FactorType[]>> = {
  phishing_resistant: ['webauthn'],
  totp_webauthn: ['totp', 'webauthn'],
};

/**
 * The factor types a user could enroll under a policy: allowed, accepted on a routine sign-in (after `strength`),
 * and delivered by this deployment. Recovery codes are never enrolled on their own (they come with the first
 * factor), so they are not counted. Strongest first.
 *
 * @example
 * enrollableFactorTypes({ ...DEFAULT_POLICY, acceptableFactors: 'phishing_resistant' }, new Set(['totp', 'recovery_codes'])); // []
 */
export function enrollableFactorTypes(policy: Policy, deliverable: ReadonlySet<FactorType>): FactorType[] {
  const routine = acceptableSetOf(policy).routine;
  return sortStrongestFirst(policy.allowedFactors.filter((t) => t !== 'recovery_codes' && routine.has(t) && deliverable.has(t)));
}

function listed(types: readonly FactorType[]): string {
  return types.join(', ');
}

/**
 * Warnings for a policy layer about to be saved (or previewed), given the factor types this deployment delivers.
 * `FACTOR_NOT_DELIVERABLE`, once per field naming a type the deployment cannot deliver (an explicit list entry, or
 * a named set that names particular types). `NO_DELIVERABLE_FACTOR` when `policy` — the policy as it resolves with
 * this layer saved — leaves no factor a user could enroll, so a user without one faces the enrollment wall with
 * nothing to enroll. Pure; an empty list means nothing to say.
 *
 * @example
 * policyDeliverabilityWarnings({ allowedFactors: ['totp', 'sms_otp'] }, policy, new Set(['totp', 'recovery_codes']));
 * // [{ code: 'FACTOR_NOT_DELIVERABLE', field: 'allowedFactors[1]', message: 'allowedFactors[1]: sms_otp cannot be delivered by this deployment (it delivers totp, recovery_codes)' }]
 */
export function policyDeliverabilityWarnings(layer: PolicyLayer, policy: Policy, deliverable: ReadonlySet<FactorType>): PolicyWarning[] {
  const warnings: PolicyWarning[] = [];
  const delivered = listed(sortStrongestFirst([...deliverable]));
  const notDelivered = (field: string, what: string): void => {
    warnings.push({ code: 'FACTOR_NOT_DELIVERABLE', field, message: `${field}: ${what} by this deployment (it delivers ${delivered})` });
  };
  const each = (field: 'allowedFactors' | 'acceptableFactors', types: readonly FactorType[]): void => {
    types.forEach((type, i) => {
      if (!deliverable.has(type)) notDelivered(`${field}[${i}]`, `${type} cannot be delivered`);
    });
  };
  if (layer.allowedFactors !== undefined) each('allowedFactors', layer.allowedFactors);
  const acceptable = layer.acceptableFactors;
  if (typeof acceptable === 'string') {
    const missing = (SPECIFIC_SETS[acceptable] ?? []).filter((t) => !deliverable.has(t));
    if (missing.length > 0) notDelivered('acceptableFactors', `"${acceptable}" names ${listed(missing)}, which cannot be delivered`);
  } else if (acceptable !== undefined) {
    each('acceptableFactors', acceptable);
  }
  if (enrollableFactorTypes(policy, deliverable).length === 0) {
    // Point at the field of this layer that narrowed the choice, when it sets one.
    const field = (['acceptableFactors', 'strength', 'allowedFactors'] as const).find((f) => layer[f] !== undefined) ?? '';
    const consequence =
      policy.enrollment === 'required'
        ? 'a user without a factor would face the enrollment wall with nothing to enroll'
        : 'no user can enroll a factor it accepts';
    warnings.push({
      code: 'NO_DELIVERABLE_FACTOR',
      field,
      message: `${field === '' ? '' : `${field}: `}the policy accepts no factor this deployment can deliver (it delivers ${delivered}); ${consequence}`,
    });
  }
  return warnings;
}
