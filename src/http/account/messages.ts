/**
 * The account portal's messages, by stable id (as src/http/pages/messages.ts, whose ids the portal also uses for
 * the sign-in pages it shares). Kept apart so the sign-in catalogue stays as it is.
 */
import { MESSAGES_EN, translate, type MessageId } from '../pages/messages.ts';

export const ACCOUNT_MESSAGES_EN = {
  'account.client': 'your {tenant} account',
  'account.title': 'Your account',
  'account.signed_in_as': 'Signed in as {email}',
  'account.nav': 'Account',
  'account.nav.overview': 'Security',
  'account.nav.sessions': 'Sessions',
  'account.nav.activity': 'Recent activity',
  'account.signout': 'Sign out',
  'account.signed_out': 'You are signed out.',
  'account.factors.title': 'Sign-in factors',
  'account.factors.type': 'Type',
  'account.factors.label': 'Name',
  'account.factors.created': 'Added',
  'account.factors.last_used': 'Last used',
  'account.factors.actions': 'Actions',
  'account.factors.never': 'Never',
  'account.factors.none': 'You have no sign-in factors yet.',
  'account.factors.rename': 'Rename',
  'account.factors.remove': 'Remove',
  'account.factor.totp': 'Authenticator app',
  'account.factor.webauthn': 'Passkey or security key',
  'account.factor.email_otp': 'Code by email',
  'account.factor.sms_otp': 'Code by text message',
  'account.factor.recovery_codes': 'Recovery codes',
  'account.factor.push': 'Push approval',
  'account.factor.custom': 'Custom factor',
  'account.add.title': 'Add an authenticator app',
  'account.add.hint': 'A second app (on another device) lets you sign in if you lose the first.',
  'account.add.label': 'Name for the new app',
  'account.add.default': 'Authenticator app',
  'account.add.submit': 'Add authenticator app',
  'account.add.done': 'The authenticator app was added.',
  'account.codes.title': 'Recovery codes',
  'account.codes.remaining': '{count} unused recovery code(s) left.',
  'account.codes.none': 'You have no recovery codes.',
  'account.codes.regenerate': 'Generate new recovery codes',
  'account.codes.regenerate.hint': 'New codes replace the old ones at once: the old codes stop working.',
  'account.trusted.title': 'Trusted devices',
  'account.trusted.none': 'No trusted devices',
  'account.trusted.lead': 'Devices where you chose “Remember this device” skip the extra sign-in step for a while. Forget any you do not recognise.',
  'account.trusted.since': 'Remembered since',
  'account.trusted.forget': 'Forget',
  'account.trusted.revoked': 'The device was forgotten: it will be asked for a second factor again.',
  'account.error.device_not_found': 'That device is no longer remembered.',
  'account.stepup.notice': 'For your security, confirm it’s you before this change.',
  'account.rename.title': 'Rename a factor',
  'account.rename.submit': 'Save name',
  'account.rename.done': 'The name was saved.',
  'account.rename.error': 'A name is 1 to 64 characters, without control characters.',
  'account.remove.title': 'Remove {label}?',
  'account.remove.lead': 'You will no longer be able to sign in with it. Sessions that relied on it lose their second factor.',
  'account.remove.submit': 'Remove',
  'account.remove.done': 'The factor was removed.',
  'account.cancel': 'Cancel',
  'account.error.disable_blocked': 'You cannot remove this factor: your organisation requires multi-factor authentication and it is your last accepted factor. Add another one first.',
  'account.error.disable_blocked_min_factors': 'You cannot remove this factor: your organisation requires more than one kind of second factor, and you would have too few left. Add another kind first.',
  'account.error.code': 'Error code: {code}',
  'account.error.factor_not_found': 'That factor no longer exists.',
  'account.error.already_active': 'You already have as many authenticator apps as allowed. Remove one first.',
  'account.error.not_allowed': 'Your organisation’s policy does not allow this.',
  'account.error.session_not_found': 'That session has already ended.',
  'account.sessions.title': 'Where you are signed in',
  'account.sessions.application': 'Application',
  'account.sessions.signed_in': 'Signed in',
  'account.sessions.last_seen': 'Last active',
  'account.sessions.device': 'Device and address',
  'account.sessions.assurance': 'Sign-in',
  'account.sessions.current': 'This session',
  'account.sessions.revoke': 'Sign out',
  'account.sessions.revoked': 'The session was signed out.',
  'account.sessions.none': 'No other sessions.',
  'account.activity.title': 'Recent sign-in activity',
  'account.activity.time': 'Time',
  'account.activity.application': 'Application',
  'account.activity.outcome': 'Outcome',
  'account.activity.where': 'Device and location',
  'account.activity.none': 'No sign-ins recorded yet.',
  'account.activity.this_device': 'this device',
  'account.activity.unknown': 'unknown',
  'account.outcome.succeeded': 'Signed in',
  'account.outcome.failed': 'Failed',
  'account.outcome.blocked': 'Blocked',
  'account.outcome.challenged': 'Asked for a second factor',
  'account.assurance.mfa': 'Multi-factor',
  'account.assurance.pwd': 'Password only',
  'account.not_found.title': 'No such organisation',
  'account.not_found.lead': 'Check the address your administrator gave you.',
} as const;

export type AccountMessageId = keyof typeof ACCOUNT_MESSAGES_EN;

/**
 * A portal message, or a shared sign-in page message, by id with its `{placeholders}` filled.
 *
 * @example
 * translateAccount('account.codes.remaining', { count: 9 });
 */
export function translateAccount(id: AccountMessageId | MessageId, params: Readonly<Record<string, string | number>> = {}): string {
  if (id in MESSAGES_EN) return translate(id as MessageId, params);
  return ACCOUNT_MESSAGES_EN[id as AccountMessageId].replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}
