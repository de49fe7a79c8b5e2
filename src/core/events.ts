/** The audit event catalogue (DESIGN §6): audit writers, the audit API and tests all use these names. */
export const AUDIT_EVENTS = [
  'mfa.policy_updated',
  'mfa.accepted_factors_updated',
  'mfa.decision',
  'mfa.factor_enrolled',
  'mfa.factor_removed',
  'mfa.factor_admin_reset',
  'mfa.passkey_revoked',
  'user.mfa_succeeded',
  'user.mfa_failed',
  'mfa.recovery_code_used',
  'mfa.backup_codes_regenerated',
  'mfa.grace_granted',
  'mfa.grace_expired',
  'mfa.disable_blocked',
  'auth.signin_blocked',
  'mfa.step_up_requested',
  'mfa.exemption_used',
  'mfa.notice_sent',
  'mfa.abandoned',
  'mfa.shadow_diff',
  // the account portal: a user renamed one of their factors
  'mfa.factor_renamed',
  'mfa.shadow_policy_saved',
  'mfa.shadow_policy_cleared',
  // remembered devices (SECURITY rule 6): trust granted after an MFA, used to skip one (token rotated), revoked
  'mfa.trusted_device_granted',
  'mfa.trusted_device_used',
  'mfa.trusted_device_revoked',
  // passkeys: an authenticator model refused by the tenant's allow- or block-list (AAGUID), at registration
  'mfa.authenticator_refused',
  // administrative changes outside the MFA catalogue
  'tenant.created',
  'tenant.updated',
  'tenant.deleted',
  'application.created',
  'application.updated',
  'application.deleted',
  'user.created',
  'user.updated',
  'user.deleted',
  'user.signin_failed',
  'user.signin_succeeded',
  'user.unlocked',
  'user.step_up_succeeded',
  'session.revoked',
  'session.downgraded',
  'application.tenant_assigned',
  'application.tenant_unassigned',
  'admin_token.created',
  'admin_token.deleted',
  // the deployment's JWS signing keys (platform events, no tenant)
  'signing_key.created',
  'signing_key.rotated',
] as const;
export type AuditEventName = (typeof AUDIT_EVENTS)[number];

/** AxisSynapse's codes, accepted as audit filters so an admin coming from it finds what they know. */
export const AUDIT_EVENT_ALIASES: Readonly<Record<string, readonly AuditEventName[]>> = {
  TENANT_MFA_POLICY_UPDATED: ['mfa.policy_updated'],
  TENANT_MFA_ACCEPTED_FACTORS_UPDATED: ['mfa.accepted_factors_updated'],
  TENANT_MFA_GRACE_GRANTED: ['mfa.grace_granted'],
  TENANT_MFA_GRACE_EXPIRED: ['mfa.grace_expired'],
  ACCOUNT_MFA_DEVICE_ENROLLED: ['mfa.factor_enrolled'],
  ACCOUNT_MFA_DEVICE_REVOKED: ['mfa.factor_removed', 'mfa.passkey_revoked'],
  ACCOUNT_MFA_DISABLE_BLOCKED: ['mfa.disable_blocked'],
  ACCOUNT_MFA_RECOVERY_CODE_USED: ['mfa.recovery_code_used'],
};

/** Expands a filter (an event name or an AxisSynapse alias) into event names; unknown names match nothing. */
export function expandEventFilter(filter: string): readonly AuditEventName[] {
  const alias = AUDIT_EVENT_ALIASES[filter];
  if (alias !== undefined) return alias;
  return (AUDIT_EVENTS as readonly string[]).includes(filter) ? [filter as AuditEventName] : [];
}
