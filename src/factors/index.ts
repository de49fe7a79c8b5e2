import type { FactorType } from '../core/index.ts';
import { recoveryCodesFactor } from './recovery-codes-factor.ts';
import { totpFactor } from './totp-factor.ts';

export * from './secret-box.ts';
export * from './dev-key.ts';
export * from './totp.ts';
export * from './recovery-codes.ts';
export * from './password.ts';
export * from './factor.ts';
export * from './totp-factor.ts';
export * from './recovery-codes-factor.ts';
export * from './webauthn-factor.ts';

/**
 * The factor types this deployment can deliver: the one place that says so. Services receive it through their
 * deps (`ServiceDeps.deliverableFactors`); it narrows the enrollment options shown to users and is the set policy
 * saves and previews are checked against. A factor issue (passkeys, email, SMS) registers its module here.
 *
 * @example
 * DELIVERABLE_FACTOR_TYPES.has('totp'); // true
 * DELIVERABLE_FACTOR_TYPES.has('email_otp'); // false until email codes are built
 */
export const DELIVERABLE_FACTOR_TYPES: ReadonlySet<FactorType> = new Set<FactorType>(['webauthn', totpFactor.type, recoveryCodesFactor.type]);
