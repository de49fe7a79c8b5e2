import type { Decision, FactorType, ResolvedPolicy } from '../core/index.ts';
import { PortcullisError } from '../core/index.ts';
import type { SessionView } from './login-sessions.ts';

export { amrOf } from '../core/index.ts';

/** MFA sessions live this long (ZewstID's `expiresIn: 300`). */
export const MFA_SESSION_TTL_MS = 5 * 60_000;
// Defined in src/core/limits.ts with the other failure limits; re-exported for the callers that import it from here.
export { MFA_SESSION_MAX_ATTEMPTS } from '../core/index.ts';

/**
 * The options a user is shown, narrowed to the factor types this deployment delivers (`deps.deliverableFactors`).
 * The policy may allow more (DESIGN's default allows passkeys, push and email codes); offering a type the user
 * cannot complete would strand them at the wall.
 */
export function enrollableOptions(options: readonly FactorType[], deliverable: ReadonlySet<FactorType>): FactorType[] {
  return options.filter((t) => t !== 'recovery_codes' && deliverable.has(t));
}

/** What callers see of a decision: the outcome with its reasons and the policy versions used. */
export interface DecisionView {
  readonly outcome: Decision['outcome'];
  readonly errorCode: Decision['errorCode'];
  readonly reasons: Decision['reasons'];
  readonly grace: GraceView | null;
  readonly riskScore: number | null;
  readonly policyVersions: ReadonlyArray<{ readonly level: string; readonly name: string; readonly version: number | null }>;
}

export interface GraceView {
  readonly active: boolean;
  readonly endsAt: string;
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

/**
 * The one answer of every decision endpoint (sign-in, status/check, verify, enrollment confirm, step-up): a
 * `status`, the `decision` with its reasons, and the fields that status needs. `blocked` is answered as an error
 * (403) with the same `status` field; see `blockedError`.
 */
interface EnvelopeBase {
  readonly userId: string;
  readonly decision: DecisionView;
  readonly grace: GraceView | null;
  readonly errorCode: Decision['errorCode'];
  /** After an answer that spent a recovery code: how many of the user's codes remain. */
  readonly recoveryCodesRemaining?: number;
  /** Stable warnings for the user, e.g. `recovery_codes_low` (two or fewer recovery codes left). */
  readonly warnings?: readonly string[];
}

export type FlowResult =
  | (EnvelopeBase & {
      readonly status: 'authenticated';
      readonly amr: readonly string[];
      readonly acr: string;
      /** The login session; `token` only when one was issued by this answer. */
      readonly session: SessionView;
      /** A short-lived signed JWT of the session, to verify offline against `/.well-known/jwks.json`. */
      readonly result: string | null;
      /**
       * A remembered device's new token: after an MFA with `rememberDevice`, or after a sign-in a remembered device
       * let skip MFA (the token presented is then spent: rotated).
       */
      readonly trustedDevice?: { readonly token: string; readonly id: string; readonly expiresAt: string };
    })
  | (EnvelopeBase & {
      readonly status: 'mfa_required' | 'step_up_required';
      readonly mfaSessionId: string;
      readonly methods: readonly FactorType[];
      readonly recovery: boolean;
      readonly expiresIn: number;
      /** For a step-up: the action, and what could be enrolled when no acceptable factor is held. */
      readonly action?: string;
      readonly enrollOptions: readonly FactorType[];
    })
  | (EnvelopeBase & {
      readonly status: 'enrollment_required';
      readonly mfaSessionId: string;
      /** Factors to answer before enrolling (WeftID: the email code first); empty when enrollment may begin now. */
      readonly methods: readonly FactorType[];
      readonly recovery: boolean;
      readonly enrollOptions: readonly FactorType[];
      readonly expiresIn: number;
    });

/** The base fields of an envelope for a decision. */
export function envelopeBase(userId: string, view: DecisionView): EnvelopeBase {
  return { userId, decision: view, grace: view.grace, errorCode: view.errorCode };
}

/** The risk block: 403 `access_denied`, worded as ZewstID's, never revealing the score. */
export function blockedError(): PortcullisError {
  return new PortcullisError('ACCESS_DENIED_RISK', 'Login blocked due to suspicious activity. Please try again later.');
}
