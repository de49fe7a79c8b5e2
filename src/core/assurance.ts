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

/** The steps that are second factors (anything but a primary step). */
function secondFactors(methods: readonly string[]): string[] {
  return methods.filter((m) => !PRIMARY.has(m));
}

/**
 * RFC 8176 authentication method references for completed steps: `pwd`, `otp`, `sms`, `hwk`, `swk`, and `mfa`
 * when a second factor followed another step.
 *
 * @example
 * amrOf(['password', 'totp']); // ['pwd', 'otp', 'mfa']
 */
export function amrOf(methods: readonly string[]): string[] {
  const amr = new Set<string>();
  for (const m of methods) {
    if (m === 'password') amr.add('pwd');
    else if (m === 'totp' || m === 'email_otp' || m === 'recovery_codes') amr.add('otp');
    else if (m === 'sms_otp') amr.add('sms');
    else if (m === 'webauthn') amr.add('hwk');
    else if (m === 'push') amr.add('swk');
  }
  if (secondFactors(methods).length > 0 && methods.length > 1) amr.add('mfa');
  return [...amr];
}

/**
 * The assurance level of completed steps. A second factor after another step is multi-factor; with a WebAuthn
 * step among them, phishing-resistant.
 *
 * @example
 * assuranceOf(['password']); // 1
 * assuranceOf(['password', 'webauthn']); // 3
 */
export function assuranceOf(methods: readonly string[]): AssuranceLevel {
  const second = secondFactors(methods);
  if (second.length === 0 || methods.length < 2) return 1;
  return second.includes('webauthn') ? 3 : 2;
}

/** The `acr` URI of a level. */
export function acrOf(level: AssuranceLevel): AcrValue {
  return ACR_VALUES[level - 1] as AcrValue;
}
