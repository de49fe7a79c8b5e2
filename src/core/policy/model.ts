import type { FactorClass, FactorType } from '../factors.ts';

export type Enrollment = 'optional' | 'required';
export type ChallengeMode = 'always' | 'adaptive' | 'never';
export type NamedFactorSet = 'any' | 'phishing_resistant' | 'totp_webauthn' | 'recovery_excluded';
/** A named set (AxisSynapse) or an explicit list of factor types. */
export type AcceptableFactors = NamedFactorSet | readonly FactorType[];
export type Strength = 'baseline' | 'enhanced';

export interface RecoveryCodesSetting {
  readonly enabled: boolean;
  readonly count: number;
}

export interface RiskThresholds {
  readonly challengeAt: number;
  readonly blockAt: number;
  /** Per-signal points overriding the built-in weights (`DEFAULT_RISK_WEIGHTS`); absent = built-in. */
  readonly weights?: Readonly<Partial<Record<string, number>>>;
}

export interface StepUpSetting {
  readonly defaultMaxAgeSeconds: number;
  /** The registry of named actions: each one's max age in seconds. */
  readonly actions: Readonly<Record<string, number>>;
  /**
   * Actions that need a factor of one class (e.g. `payment` → `phishing_resistant`): only such a factor answers
   * their step-up, and only an MFA of that class counts as fresh for them.
   */
  readonly factorClasses?: Readonly<Record<string, FactorClass>>;
}

/** Every field of a policy, fully resolved (DESIGN §2). */
export interface Policy {
  readonly enrollment: Enrollment;
  readonly challenge: ChallengeMode;
  readonly acceptableFactors: AcceptableFactors;
  readonly strength: Strength;
  readonly allowedFactors: readonly FactorType[];
  readonly gracePeriodDays: number;
  readonly exemptRoles: readonly string[];
  readonly forceReenrollOnChange: boolean;
  readonly recoveryCodes: RecoveryCodesSetting;
  readonly trustedDeviceDays: number;
  readonly risk: RiskThresholds;
  readonly stepUp: StepUpSetting;
  /** `null` means "the application's name" (Wristband's default issuer). */
  readonly totpIssuer: string | null;
  readonly minFactors: number;
  readonly downgradeProtection: boolean;
}

export type PolicyField = keyof Policy;

/** A layer sets some fields and inherits the rest. */
export type PolicyLayer = { readonly [K in PolicyField]?: Policy[K] };

export const POLICY_FIELDS: readonly PolicyField[] = [
  'enrollment',
  'challenge',
  'acceptableFactors',
  'strength',
  'allowedFactors',
  'gracePeriodDays',
  'exemptRoles',
  'forceReenrollOnChange',
  'recoveryCodes',
  'trustedDeviceDays',
  'risk',
  'stepUp',
  'totpIssuer',
  'minFactors',
  'downgradeProtection',
];

/** Built-in defaults, the least specific layer. */
export const DEFAULT_POLICY: Policy = Object.freeze({
  enrollment: 'optional',
  challenge: 'adaptive',
  acceptableFactors: 'any',
  strength: 'baseline',
  allowedFactors: Object.freeze(['webauthn', 'totp', 'push', 'email_otp', 'recovery_codes'] as FactorType[]),
  gracePeriodDays: 14,
  exemptRoles: Object.freeze([] as string[]),
  forceReenrollOnChange: false,
  recoveryCodes: Object.freeze({ enabled: true, count: 10 }),
  trustedDeviceDays: 30,
  risk: Object.freeze({ challengeAt: 30, blockAt: 80 }),
  stepUp: Object.freeze({
    defaultMaxAgeSeconds: 300,
    actions: Object.freeze({ payment: 300, 'data-export': 300, 'change-password': 300, 'delete-account': 300 }),
  }),
  totpIssuer: null,
  minFactors: 1,
  downgradeProtection: false,
});

/** The floors of a first-party application (DESIGN §2): applied last, never weakened by any layer. */
export const FIRST_PARTY_FLOOR: PolicyLayer = Object.freeze({ enrollment: 'required', challenge: 'always' });
