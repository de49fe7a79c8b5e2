/** Factor types (DESIGN §1). */
export const FACTOR_TYPES = ['webauthn', 'totp', 'push', 'custom', 'email_otp', 'sms_otp', 'recovery_codes'] as const;
export type FactorType = (typeof FACTOR_TYPES)[number];

export type FactorClass = 'phishing_resistant' | 'possession' | 'channel' | 'recovery';

const CLASS_OF: Readonly<Record<FactorType, FactorClass>> = {
  webauthn: 'phishing_resistant',
  totp: 'possession',
  push: 'possession',
  custom: 'possession',
  email_otp: 'channel',
  sms_otp: 'channel',
  recovery_codes: 'recovery',
};

/**
 * Assurance of one factor type as a number (higher is stronger). Methods are shown strongest first;
 * comparisons use numbers, never strings (kratos compares AAL strings; we do not).
 */
const STRENGTH: Readonly<Record<FactorType, number>> = {
  webauthn: 70,
  totp: 60,
  push: 55,
  custom: 50,
  email_otp: 30,
  sms_otp: 20,
  recovery_codes: 10,
};

/** The class a factor type belongs to. */
export function factorClassOf(type: FactorType): FactorClass {
  return CLASS_OF[type];
}

/** A number ordering factor types by assurance; higher is stronger. */
export function factorStrength(type: FactorType): number {
  return STRENGTH[type];
}

/** Whether a string names a factor type. */
export function isFactorType(value: unknown): value is FactorType {
  return typeof value === 'string' && (FACTOR_TYPES as readonly string[]).includes(value);
}

/**
 * The delivery channel of a factor, when it rides one the user may also have used as the first step
 * (DESIGN §3: an email link followed by an email code is one factor, not two).
 */
export function factorChannel(type: FactorType): 'email' | 'sms' | null {
  return type === 'email_otp' ? 'email' : type === 'sms_otp' ? 'sms' : null;
}

/** Sorts factor types strongest first (stable for equal strength). */
export function sortStrongestFirst<T extends FactorType>(types: readonly T[]): T[] {
  return [...types].sort((a, b) => STRENGTH[b] - STRENGTH[a]);
}
