import type { DecisionErrorCode } from '../errors.ts';
import type { FactorClass, FactorType } from '../factors.ts';
import type { PolicySource, ResolvedPolicy } from '../policy/resolve.ts';

export type Outcome = 'allow' | 'challenge' | 'enroll' | 'block';

export interface UserFactor {
  readonly id: string;
  readonly type: FactorType;
  readonly status: 'pending' | 'active';
  /** For `recovery_codes`: how many unused codes remain. */
  readonly remaining?: number;
}

export interface DecisionUser {
  readonly id: string;
  readonly roles: readonly string[];
  readonly factors: readonly UserFactor[];
  /** Epoch ms of the first sign-in (the grace anchor); null when this is the first. */
  readonly firstSignInAt: number | null;
  /** Epoch ms until which an admin re-granted grace. */
  readonly graceUntil: number | null;
  /**
   * The user has completed MFA before (their factor may since have been reset or removed). The first sign-in's grace
   * was for enrolling a first factor: such a user holding no factor is not given it again (DESIGN §5: the reset is the
   * recovery path, no bypass). Absent: false.
   */
  readonly completedMfaBefore?: boolean;
  /** Whether the user has a phone trait (SMS can be enrolled only then). */
  readonly hasPhone?: boolean;
  /** An admin's per-user exemption, in force until this epoch ms. */
  readonly exemptUntil?: number | null;
}

export interface DecisionApplication {
  readonly id: string;
  readonly name: string;
  readonly firstParty: boolean;
}

export type Purpose =
  | { readonly kind: 'signin' }
  /** `maxAgeSeconds` from the request (e.g. OIDC `max_age`) can only shorten the policy's max age. */
  | { readonly kind: 'step_up'; readonly action: string; readonly maxAgeSeconds?: number };

export interface RiskSignal {
  /** `new_device`, `new_ip`, `new_country`, `impossible_travel`, … */
  readonly code: string;
  readonly weight: number;
  /** What raised it, for the reason trace (e.g. the previous location and the speed of impossible travel). */
  readonly detail?: string;
}

export type RiskAssessment =
  | { readonly status: 'ok'; readonly score: number; readonly signals: readonly RiskSignal[] }
  | { readonly status: 'unavailable'; readonly reason: string };

/**
 * A step completed earlier in the same flow. Flows re-run `decide` after every step; a completed acceptable
 * factor satisfies the challenge. `email_link`/`sms_link` first steps make the same-channel code no second factor.
 */
export interface CompletedStep {
  readonly method: FactorType | 'password' | 'email_link' | 'sms_link';
  /** For `webauthn`: user verification was performed (a UV passkey is multi-factor by itself). */
  readonly userVerified?: boolean;
  /** For `webauthn`: the credential is a synced passkey (backed up), not a device-bound key. */
  readonly synced?: boolean;
  /** The enrolled factor that answered (absent for primary steps); a login session remembers it (DESIGN §5). */
  readonly factorId?: string;
}

export interface DecisionInput {
  readonly policy: ResolvedPolicy;
  readonly application: DecisionApplication;
  readonly user: DecisionUser;
  readonly purpose: Purpose;
  readonly risk: RiskAssessment;
  /**
   * A remembered device the request presented a valid token of (SECURITY rule 6): epoch ms of the last MFA on it.
   * Under `adaptive`, within `trustedDeviceDays` of that MFA, it lets a low-risk sign-in skip the challenge; it never
   * lifts a block, a floor, `challenge: always`, an enrollment wall or a step-up.
   */
  readonly rememberedDevice?: { readonly mfaAt: number } | null;
  /** The device's trust: epoch ms of the last MFA on it, or null when it is not trusted. */
  readonly device?: { readonly trustedAt: number | null } | null;
  /**
   * For step-up: epoch ms of the last MFA completed in the calling application's session for this action (its
   * sign-in MFA or a step-up grant for the action) — never a user-wide "last MFA" (DESIGN §1, §3).
   */
  readonly lastMfaAt: number | null;
  /**
   * For step-up of an action that requires a factor class: the factor classes the calling session has proven (its
   * sign-in and step-up steps), and when it was last granted this action (a grant is earned only with the class).
   */
  readonly sessionFactorClasses?: readonly FactorClass[];
  readonly stepUpGrantAt?: number | null;
  readonly completed?: readonly CompletedStep[];
  readonly now: number;
}

export interface Reason {
  /** Stable, snake_case; tests, audit filters and UI messages key on it. */
  readonly code: string;
  /** A sentence for a human. */
  readonly detail: string;
  /** Where the deciding value came from: `application "bank" v3`, `risk engine`, `user`, … */
  readonly source: string;
}

export interface Decision {
  readonly outcome: Outcome;
  /** Types of the user's active factors that satisfy the policy, strongest first (the factor picker). */
  readonly methods: readonly FactorType[];
  /** Recovery codes can complete this challenge as break-glass (then the enrollment wall, where not routine). */
  readonly recovery: boolean;
  /** Allowed types the user could enroll that would satisfy the policy, strongest first. */
  readonly enrollOptions: readonly FactorType[];
  readonly grace: { readonly active: boolean; readonly endsAt: number } | null;
  readonly errorCode: DecisionErrorCode | null;
  readonly reasons: readonly Reason[];
  /** The layer versions the decision used. */
  readonly policyVersions: readonly PolicySource[];
  readonly riskScore: number | null;
  /** The exemption that allowed this decision (role name or `user override`), for `mfa.exemption_used`. */
  readonly exemption: string | null;
  /** The sign-in is allowed without a challenge because of a remembered device (its token is then rotated). */
  readonly trustedDevice?: boolean;
}
