import type { Decision, FactorType, ResolvedPolicy } from '../core/index.ts';
import { PortcullisError } from '../core/index.ts';

/** MFA sessions live this long (ZewstID's `expiresIn: 300`). */
export const MFA_SESSION_TTL_MS = 5 * 60_000;
/** Verification attempts one MFA session allows before it must be restarted. */
export const MFA_SESSION_MAX_ATTEMPTS = 10;

/**
 * Factor types this server can enroll today. The policy may allow more (DESIGN's default allows passkeys, push
 * and email codes); offering a type the user cannot complete would strand them at the wall, so options are
 * narrowed to these when shown.
 */
export const ENROLLABLE_TYPES: ReadonlySet<FactorType> = new Set<FactorType>(['totp']);

export function enrollableOptions(options: readonly FactorType[]): FactorType[] {
  return options.filter((t) => ENROLLABLE_TYPES.has(t));
}

/** What callers see of a decision: the outcome with its reasons and the policy versions used. */
export interface DecisionView {
  readonly outcome: Decision['outcome'];
  readonly errorCode: Decision['errorCode'];
  readonly reasons: Decision['reasons'];
  readonly grace: { readonly active: boolean; readonly endsAt: string } | null;
  readonly riskScore: number | null;
  readonly policyVersions: ReadonlyArray<{ readonly level: string; readonly name: string; readonly version: number | null }>;
}

export function viewDecision(decision: Decision, policy: ResolvedPolicy): DecisionView {
  return {
    outcome: decision.outcome,
    errorCode: decision.errorCode,
    reasons: decision.reasons,
    grace: decision.grace === null ? null : { active: decision.grace.active, endsAt: new Date(decision.grace.endsAt).toISOString() },
    riskScore: decision.riskScore,
    policyVersions: policy.versions,
  };
}

/** RFC 8176 authentication method references for completed steps. */
export function amrOf(methods: readonly string[]): string[] {
  const amr = new Set<string>();
  for (const m of methods) {
    if (m === 'password') amr.add('pwd');
    else if (m === 'totp' || m === 'email_otp' || m === 'recovery_codes') amr.add('otp');
    else if (m === 'sms_otp') amr.add('sms');
    else if (m === 'webauthn') amr.add('hwk');
    else if (m === 'push') amr.add('swk');
  }
  const factors = methods.filter((m) => m !== 'password' && m !== 'email_link' && m !== 'sms_link');
  if (factors.length > 0 && methods.length > 1) amr.add('mfa');
  return [...amr];
}

export type FlowResult =
  | { readonly status: 'authenticated'; readonly userId: string; readonly amr: readonly string[]; readonly decision: DecisionView }
  | {
      readonly status: 'mfa_required';
      readonly userId: string;
      readonly mfaSessionId: string;
      readonly methods: readonly FactorType[];
      readonly recovery: boolean;
      readonly expiresIn: number;
      readonly decision: DecisionView;
    }
  | {
      readonly status: 'enrollment_required';
      readonly userId: string;
      readonly mfaSessionId: string;
      /** Factors to answer before enrolling (WeftID: the email code first); empty when enrollment may begin now. */
      readonly methods: readonly FactorType[];
      readonly enrollOptions: readonly FactorType[];
      readonly errorCode: Decision['errorCode'];
      readonly expiresIn: number;
      readonly decision: DecisionView;
    };

/** The risk block: 403 `access_denied`, worded as ZewstID's, never revealing the score. */
export function blockedError(): PortcullisError {
  return new PortcullisError('ACCESS_DENIED_RISK', 'Login blocked due to suspicious activity. Please try again later.');
}
