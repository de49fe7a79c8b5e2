/**
 * What a set of completed steps is worth: RFC 8176 `amr` values, a numeric assurance level, and the `acr` URI the
 * signed result and the OIDC provider carry. Levels are numbers so that "at least" is a comparison (STYLE §1).
 */

/** 1: one factor; 2: multi-factor; 3: multi-factor with a phishing-resistant authenticator. */
export type AssuranceLevel = 1 | 2 | 3;

/** `acr` values, lowest to highest; one per level. */
export const ACR_VALUES = ['urn:portcullis:acr:pwd', 'urn:portcullis:acr:mfa', 'urn:portcullis:acr:phr'] as const;
export type AcrValue = (typeof ACR_VALUES)[number];

const PRIMARY = new Set(['password', 'email_link', 'sms_link']);

/**
 * A completed step as assurance sees it: the method, and for WebAuthn whether the authenticator verified the user
 * (a PIN or biometric: the passkey is then multi-factor by itself) and whether the credential is synced (a passkey
 * in a cloud keychain: a software-secured key, `swk`) or device-bound (a security key: `hwk`).
 */
export type AssuranceStep = string | { readonly method: string; readonly userVerified?: boolean | undefined; readonly synced?: boolean | undefined };

function methodOf(step: AssuranceStep): string {
  return typeof step === 'string' ? step : step.method;
}

/** A WebAuthn step with user verification: a multi-factor cryptographic authenticator (NIST SP 800-63B). */
function verifiedPasskey(step: AssuranceStep): boolean {
  return typeof step !== 'string' && step.method === 'webauthn' && step.userVerified === true;
}

/** The steps that are second factors (anything but a primary step). */
function secondFactors(steps: readonly AssuranceStep[]): string[] {
  return steps.map(methodOf).filter((m) => !PRIMARY.has(m));
}

/** Multi-factor: a second factor after another step, or a passkey that verified the user. */
function multiFactor(steps: readonly AssuranceStep[]): boolean {
  return (secondFactors(steps).length > 0 && steps.length > 1) || steps.some(verifiedPasskey);
}

/**
 * RFC 8176 authentication method references for completed steps: `pwd`, `otp`, `sms`, `hwk` (a device-bound key),
 * `swk` (a synced passkey), `user` (the authenticator verified the user), and `mfa` when a second factor followed
 * another step or a passkey verified the user.
 *
 * @example
 * amrOf(['password', 'totp']); // ['pwd', 'otp', 'mfa']
 * amrOf([{ method: 'webauthn', userVerified: true, synced: true }]); // ['swk', 'user', 'mfa']
 */
export function amrOf(steps: readonly AssuranceStep[]): string[] {
  const amr = new Set<string>();
  for (const step of steps) {
    const m = methodOf(step);
    if (m === 'password') amr.add('pwd');
    else if (m === 'totp' || m === 'email_otp' || m === 'recovery_codes') amr.add('otp');
    else if (m === 'sms_otp') amr.add('sms');
    else if (m === 'webauthn') {
      amr.add(typeof step !== 'string' && step.synced === true ? 'swk' : 'hwk');
      if (verifiedPasskey(step)) amr.add('user');
    } else if (m === 'push') amr.add('swk');
  }
  if (multiFactor(steps)) amr.add('mfa');
  return [...amr];
}

/**
 * The assurance level of completed steps. A second factor after another step is multi-factor; with a WebAuthn
 * step among them, phishing-resistant. A passkey that verified the user is phishing-resistant multi-factor alone.
 *
 * @example
 * assuranceOf(['password']); // 1
 * assuranceOf(['password', 'webauthn']); // 3
 * assuranceOf([{ method: 'webauthn', userVerified: true }]); // 3
 */
export function assuranceOf(steps: readonly AssuranceStep[]): AssuranceLevel {
  if (!multiFactor(steps)) return 1;
  return secondFactors(steps).includes('webauthn') ? 3 : 2;
}

/** The `acr` URI of a level. */
export function acrOf(level: AssuranceLevel): AcrValue {
  return ACR_VALUES[level - 1] as AcrValue;
}
