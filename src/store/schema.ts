/**
 * Row types of the database, as Kysely sees them. Portable across SQLite and PostgreSQL: booleans are integers
 * (0/1), JSON is text, times are epoch-ms `bigint` (PostgreSQL's int8 is parsed to a number on our pool).
 */
import type { Generated } from 'kysely';

/** Platform: organisations. */
export interface TenantsTable {
  id: string;
  slug: string;
  name: string;
  created_at: number;
  updated_at: number;
}

/** Platform: relying parties (client secret stored hashed). */
export interface ApplicationsTable {
  id: string;
  name: string;
  first_party: number;
  client_id: string;
  client_secret_hash: string;
  all_tenants: Generated<number>;
  created_at: number;
  updated_at: number;
}

/** A tenant's users; unique (tenant_id, email) and (tenant_id, external_id). */
export interface UsersTable {
  id: string;
  tenant_id: string;
  email: string;
  email_verified: number;
  phone: string | null;
  /** JSON array of role names. */
  roles: string;
  password_hash: string | null;
  external_id: string | null;
  first_sign_in_at: number | null;
  grace_until: number | null;
  exempt_until: number | null;
  last_mfa_at: number | null;
  failed_signins: Generated<number>;
  locked_until: number | null;
  /** Migration 0004: smart lockout's separate count of wrong passwords from unknown devices. */
  unknown_device_failures: Generated<number>;
  unknown_device_locked_until: Generated<number | null>;
  created_at: number;
  updated_at: number;
}

/** The last version number per layer scope; an upsert on it allocates `max + 1` atomically. */
export interface PolicyHeadsTable {
  scope_key: string;
  last_version: number;
}

/** Every saved version of every layer; primary key (scope_key, version). */
export interface PolicyVersionsTable {
  scope_key: string;
  level: string;
  tenant_id: string | null;
  application_id: string | null;
  user_id: string | null;
  version: number;
  effective_at: number;
  expires_at: number | null;
  /** JSON PolicyLayer. */
  layer: string;
  created_at: number;
  created_by: string;
}

/** Enrolled (or pending) authenticators; the secret is encrypted by the caller. */
export interface FactorsTable {
  id: string;
  tenant_id: string;
  user_id: string;
  type: string;
  status: string;
  label: string;
  secret_enc: string | null;
  /** JSON object or null. */
  data: string | null;
  last_step: number | null;
  failed_count: Generated<number>;
  locked_until: number | null;
  created_at: number;
  confirmed_at: number | null;
  last_used_at: number | null;
  expires_at: number | null;
  /** WebAuthn: the credential id (base64url), unique per tenant (migration 0011); null for other types. */
  credential_id: Generated<string | null>;
}

/** Single-use recovery codes, stored hashed. */
export interface RecoveryCodesTable {
  id: string;
  tenant_id: string;
  user_id: string;
  factor_id: string;
  code_hash: string;
  used_at: number | null;
}

/** Challenge / enrollment state; `id` is the SHA-256 of the session token. */
export interface MfaSessionsTable {
  id: string;
  tenant_id: string;
  user_id: string;
  application_id: string | null;
  purpose: string;
  action: string | null;
  /** JSON array. */
  methods: string;
  /** JSON object. */
  decision: string;
  attempts: Generated<number>;
  /** JSON array. */
  completed: string;
  status: string;
  expires_at: number;
  created_at: number;
  completed_at: number | null;
  login_session_id: string | null;
}

/** Which tenants an application serves (besides `applications.all_tenants`). */
export interface ApplicationTenantsTable {
  application_id: string;
  tenant_id: string;
  created_at: number;
}

/** Login sessions; the application holds the token, only its SHA-256 is stored. */
export interface LoginSessionsTable {
  id: string;
  tenant_id: string;
  user_id: string;
  application_id: string;
  token_hash: string;
  /** JSON array of RFC 8176 values. */
  amr: string;
  acr: string;
  auth_time: number;
  mfa_at: number | null;
  /** JSON array of { method, factorId }. */
  factors: string;
  /** JSON object: action → epoch ms. */
  grants: string;
  device_id: string | null;
  ip: string | null;
  user_agent: string | null;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  revoked_at: number | null;
}

/** Append-only sign-in history (risk input). */
export interface SigninHistoryTable {
  id: Generated<number>;
  tenant_id: string;
  user_id: string | null;
  application_id: string | null;
  ip: string | null;
  device_id: string | null;
  user_agent: string | null;
  country: string | null;
  latitude: number | null;
  longitude: number | null;
  city: string | null;
  accuracy_km: number | null;
  network_class: string | null;
  outcome: string;
  at: number;
}

/** Devices trusted after a successful MFA. */
export interface TrustedDevicesTable {
  tenant_id: string;
  user_id: string;
  device_id: string;
  trusted_at: number;
}

/** Remembered devices: the hash of a random device token, bound to tenant, user and application (migration 0010). */
export interface DeviceTrustsTable {
  tenant_id: string;
  id: string;
  user_id: string;
  application_id: string;
  token_hash: string;
  mfa_at: number;
  created_at: number;
  last_used_at: number | null;
  user_agent: string | null;
  ip: string | null;
}

/** WebAuthn ceremony challenges, by SHA-256; single use (migration 0011). */
export interface WebauthnChallengesTable {
  tenant_id: string;
  id: string;
  kind: string;
  application_id: string;
  mfa_session_id: string | null;
  user_id: string | null;
  factor_id: string | null;
  user_verification: string;
  rp_id: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

/** Append-only audit log; `id` is the paging cursor. */
export interface AuditEventsTable {
  id: Generated<number>;
  tenant_id: string | null;
  at: number;
  actor: string;
  subject: string | null;
  event: string;
  user_id: string | null;
  application_id: string | null;
  /** JSON object. */
  data: string;
}

/** Admin bearer tokens (hash only); `tenant_id` null = platform-wide. */
export interface AdminTokensTable {
  id: string;
  token_hash: string;
  tenant_id: string | null;
  label: string;
  created_at: number;
}

/** Platform: the JWS signing keys; the private JWK sealed by the secret box. At most one `active` (unique index). */
export interface SigningKeysTable {
  kid: string;
  alg: string;
  /** JSON public JWK. */
  public_jwk: string;
  private_jwk_sealed: string;
  state: string;
  created_at: number;
  activated_at: number;
  retired_at: number | null;
  retire_after: number | null;
}

/** Migration 0004: fixed-window failure counters of password sign-in (per IP, per unknown identifier). */
export interface SigninThrottleTable {
  tenant_id: string;
  /** `ip` or `identifier`. */
  scope: string;
  /** SHA-256 (hex) of what is counted; never the IP or identifier itself. */
  key: string;
  failures: number;
  window_ends_at: number;
}

/** The whole schema. */
export interface Schema {
  tenants: TenantsTable;
  applications: ApplicationsTable;
  users: UsersTable;
  policy_heads: PolicyHeadsTable;
  policy_versions: PolicyVersionsTable;
  factors: FactorsTable;
  recovery_codes: RecoveryCodesTable;
  mfa_sessions: MfaSessionsTable;
  application_tenants: ApplicationTenantsTable;
  login_sessions: LoginSessionsTable;
  signin_history: SigninHistoryTable;
  trusted_devices: TrustedDevicesTable;
  device_trusts: DeviceTrustsTable;
  webauthn_challenges: WebauthnChallengesTable;
  audit_events: AuditEventsTable;
  admin_tokens: AdminTokensTable;
  signing_keys: SigningKeysTable;
  signin_throttle: SigninThrottleTable;
  shadow_policies: ShadowPoliciesTable;
}

/** A tenant's shadow (report-only) policy layer, JSON. */
export interface ShadowPoliciesTable {
  tenant_id: string;
  layer: string;
  created_by: string;
  created_at: number;
}
