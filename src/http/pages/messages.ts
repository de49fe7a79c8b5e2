/**
 * The hosted pages' messages, by stable id (ory/kratos-style): templates print only ids, so a translation is a
 * new catalogue with the same keys. `{name}` placeholders are filled by {@link translate}; the template escapes
 * the result.
 */
export const MESSAGES_EN = {
  'page.title.suffix': 'Portcullis',
  'signin.title': 'Sign in',
  'signin.to': 'to continue to {client}',
  'signin.tenant': 'Organisation',
  'signin.tenant.hint': 'The short name of your organisation, as your administrator gave it.',
  'signin.identifier': 'Email',
  'signin.password': 'Password',
  'signin.submit': 'Continue',
  'signin.error.invalid': 'The email or password is not right.',
  'signin.error.rate_limited': 'Too many attempts from your network. Try again later.',
  'signin.reauth': 'For your security, please sign in again.',
  'signin.stepup': 'This application needs a stronger sign-in. Sign in again to continue.',
  'challenge.title': 'Verify it’s you',
  'challenge.stepup.title': 'Confirm with your second factor',
  'challenge.picker': 'Choose how to verify',
  'challenge.method.totp': 'Authenticator app',
  'challenge.method.totp.hint': 'Enter the 6-digit code from your authenticator app.',
  'challenge.method.recovery_codes': 'Recovery code',
  'challenge.method.recovery_codes.hint': 'Enter one of the recovery codes you saved. Each works once.',
  'challenge.method.webauthn': 'Passkey or security key',
  'challenge.method.email_otp': 'Code by email',
  'challenge.method.sms_otp': 'Code by text message',
  'challenge.method.unavailable': 'Not available on this page yet.',
  'challenge.code': 'Code',
  'challenge.submit': 'Verify',
  'challenge.remember': 'Remember this device',
  'challenge.remember.hint': 'Skip this step on this browser for a while when nothing looks unusual. Do not use on a shared computer.',
  'challenge.error.invalid': 'That code is not valid. Check it and try again.',
  'challenge.error.locked': 'Too many wrong codes. Wait a while, then start again.',
  'challenge.error.not_allowed': 'This method cannot be used here.',
  'challenge.error.exhausted': 'All your recovery codes have been used. Use another method, or ask your administrator to reset MFA.',
  'wall.title': 'You need to set up multi-factor authentication',
  'wall.lead': 'Your organisation requires a second step when you sign in. Choose one to set up now.',
  'wall.option.totp': 'Authenticator app',
  'wall.option.totp.hint': 'Use an app such as 1Password, Google Authenticator or Aegis.',
  'wall.option.webauthn': 'Passkey or security key',
  'wall.option.email_otp': 'Code by email',
  'wall.option.sms_otp': 'Code by text message',
  'wall.none': 'None of the factors your organisation accepts can be set up here. Contact your administrator.',
  'wall.setup': 'Set up',
  'totp.title': 'Set up your authenticator app',
  'totp.step1': 'Scan this QR code with your authenticator app.',
  'totp.manual': 'Can’t scan it? Enter this key instead:',
  'totp.qr.alt': 'QR code for your authenticator app',
  'totp.step2': 'Enter the 6-digit code the app shows.',
  'totp.submit': 'Confirm',
  'codes.title': 'Save your recovery codes',
  'codes.lead': 'If you lose your authenticator, each of these codes lets you sign in once. They are shown only now.',
  'codes.list': 'Recovery codes',
  'codes.saved': 'I have saved them',
  'grace.title': 'Set up multi-factor authentication soon',
  'grace.banner': 'Your organisation will require a second sign-in step in {days} day(s), on {date}.',
  'grace.banner.today': 'Your organisation will require a second sign-in step from {date}.',
  'grace.setup': 'Set up now',
  'grace.later': 'Remind me later',
  'blocked.title': 'Sign-in blocked',
  'blocked.lead': 'Login blocked due to suspicious activity. Please try again later.',
  'blocked.help': 'If this keeps happening, contact your administrator.',
  'expired.title': 'This sign-in has expired',
  'expired.lead': 'Go back to the application and start again.',
  'unmet.title': 'Stronger sign-in required',
  'unmet.lead': 'The application asked for a kind of sign-in you cannot complete with the factors you have.',
  'error.title': 'Something went wrong',
  'error.csrf': 'This form has expired. Please try again.',
  'logout.title': 'Sign out',
  'logout.question': 'Do you want to sign out?',
  'logout.question.client': 'Do you want to sign out of {client}?',
  'logout.yes': 'Yes, sign me out',
  'logout.no': 'No, stay signed in',
  'loggedout.title': 'You are signed out',
  'loggedout.lead': 'You can close this window.',
  'form.error.summary': 'There is a problem',
  'field.required': 'Enter this field.',
} as const;

export type MessageId = keyof typeof MESSAGES_EN;

/**
 * A message by id with its `{placeholders}` filled.
 *
 * @example
 * translate('grace.banner', { days: 3, date: '2026-12-08' });
 */
export function translate(id: MessageId, params: Readonly<Record<string, string | number>> = {}): string {
  return MESSAGES_EN[id].replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}
