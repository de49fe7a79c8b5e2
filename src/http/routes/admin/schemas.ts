/**
 * TypeBox schemas of the admin API: every body, parameter, query and response, so that the OpenAPI document
 * describes the whole surface. Bodies refuse unknown fields and bound every string.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { AUDIT_EVENTS, FACTOR_TYPES, RISK_SIGNAL_CODES } from '../../../core/index.ts';
import { EMAIL_PATTERN, MAX_NAME, MAX_ROLES, NO_CONTROL_CHARACTERS_PATTERN, PHONE_PATTERN, ROLE_PATTERN, SLUG_PATTERN } from '../../../services/admin/validate.ts';

const literals = (values: readonly string[]): TSchema => Type.Union(values.map((v) => Type.Literal(v)));
const nullable = <T extends TSchema>(schema: T): TSchema => Type.Union([schema, Type.Null()]);

// Every free-text field (names, labels, ids, emails) refuses control characters: one rule on both databases.
export const Id = Type.String({ minLength: 1, maxLength: 100, pattern: NO_CONTROL_CHARACTERS_PATTERN, description: 'An id (UUID)' });
export const Instant = Type.String({ format: 'date-time', maxLength: 64, description: 'ISO-8601 date-time with a time zone' });
export const Name = Type.String({ minLength: 1, maxLength: MAX_NAME, pattern: NO_CONTROL_CHARACTERS_PATTERN, description: 'Any text without control characters' });
export const Slug = Type.String({ minLength: 1, maxLength: 63, pattern: SLUG_PATTERN, description: 'Lower-case letters, digits and dashes' });
export const FactorType = literals(FACTOR_TYPES);

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'A stable error code, e.g. NOT_FOUND, INVALID_REQUEST, INVALID_POLICY' }),
    message: Type.String(),
    errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }), { description: 'INVALID_POLICY: one entry per offending field' })),
  },
  { additionalProperties: true },
);

/** Error responses every admin route may give. */
export const errorResponses = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody };

export const Deleted = Type.Object({ deleted: Type.Literal(true) });

// ---------------------------------------------------------------------------------------------------------------
// Parameters and paging

export const TenantParams = Type.Object({ tenantId: Id }, { additionalProperties: false });
export const ApplicationParams = Type.Object({ applicationId: Id }, { additionalProperties: false });
export const TenantApplicationParams = Type.Object({ tenantId: Id, applicationId: Id }, { additionalProperties: false });
export const UserParams = Type.Object({ tenantId: Id, userId: Id }, { additionalProperties: false });
export const FactorParams = Type.Object({ tenantId: Id, userId: Id, factorId: Id }, { additionalProperties: false });
export const TokenParams = Type.Object({ tokenId: Id }, { additionalProperties: false });

export const PageQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'nextCursor of the previous page' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);

export const pageOf = (item: TSchema): TSchema =>
  Type.Object({ items: Type.Array(item), nextCursor: nullable(Type.String({ description: 'Pass as cursor for the next page; null at the end' })) });

// ---------------------------------------------------------------------------------------------------------------
// Tenants

export const Tenant = Type.Object({ id: Type.String(), slug: Type.String(), name: Type.String(), createdAt: Instant, updatedAt: Instant });
export const NewTenantBody = Type.Object({ slug: Slug, name: Name }, { additionalProperties: false });
export const TenantPatchBody = Type.Object({ slug: Type.Optional(Slug), name: Type.Optional(Name) }, { additionalProperties: false, minProperties: 1 });

// ---------------------------------------------------------------------------------------------------------------
// Applications

export const Application = Type.Object({
  id: Type.String(),
  name: Type.String(),
  firstParty: Type.Boolean({ description: "Portcullis' own console or portal: enrollment required and challenge always, whatever the layers say" }),
  clientId: Type.String(),
  allTenants: Type.Boolean({ description: 'Serves every tenant (set by a platform admin); otherwise only the tenants assigned to it' }),
  createdAt: Instant,
  updatedAt: Instant,
});
export const ApplicationWithSecret = Type.Object({
  ...Application.properties,
  clientSecret: Type.String({ description: 'Shown once, now; only a hash is stored. Use it with clientId as HTTP Basic credentials.' }),
});
export const NewApplicationBody = Type.Object(
  {
    name: Name,
    firstParty: Type.Optional(Type.Boolean({ default: false })),
    allTenants: Type.Optional(Type.Boolean({ default: false, description: 'Serve every tenant (explicit; platform admin)' })),
    tenants: Type.Optional(Type.Array(Id, { maxItems: 1000, description: 'Tenant ids the application serves from the start' })),
  },
  { additionalProperties: false },
);
export const ZewstMfaPolicy = Type.Union([Type.Literal('always'), Type.Literal('smart'), Type.Literal('never')], {
  description: "ZewstID's application setting: saves a new application policy version with challenge always | adaptive | never",
});
export const ApplicationPatchBody = Type.Object(
  { name: Type.Optional(Name), firstParty: Type.Optional(Type.Boolean()), allTenants: Type.Optional(Type.Boolean()), mfaPolicy: Type.Optional(ZewstMfaPolicy) },
  { additionalProperties: false, minProperties: 1 },
);

// ---------------------------------------------------------------------------------------------------------------
// Users

const Email = Type.String({ minLength: 3, maxLength: 320, pattern: EMAIL_PATTERN, description: 'Stored trimmed and lower-cased' });
const Phone = Type.String({ minLength: 8, maxLength: 16, pattern: PHONE_PATTERN, description: 'E.164' });
const Roles = Type.Array(Type.String({ minLength: 1, maxLength: 64, pattern: ROLE_PATTERN }), { maxItems: MAX_ROLES });
const ExternalId = Type.String({ minLength: 1, maxLength: 256, pattern: NO_CONTROL_CHARACTERS_PATTERN, description: "The application's own id for the user (headless use)" });
const Password = Type.String({ minLength: 8, maxLength: 1024, description: 'Clear text; stored as an argon2id hash, never returned' });

export const User = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  email: Type.String(),
  emailVerified: Type.Boolean(),
  phone: nullable(Type.String()),
  roles: Type.Array(Type.String()),
  externalId: nullable(Type.String()),
  hasPassword: Type.Boolean(),
  firstSignInAt: nullable(Instant),
  graceUntil: nullable(Instant),
  exemptUntil: nullable(Instant),
  lastMfaAt: nullable(Instant),
  locked: Type.Boolean({ description: 'The account is locked after 100 consecutive failures (MFA codes, and passwords from known devices): every path is closed' }),
  unknownDeviceLocked: Type.Boolean({
    description: 'Password sign-in from unknown devices is locked after 100 consecutive wrong passwords from them (smart lockout); devices that completed MFA still sign in',
  }),
  createdAt: Instant,
  updatedAt: Instant,
});
export const NewUserBody = Type.Object(
  {
    email: Email,
    emailVerified: Type.Optional(Type.Boolean()),
    phone: Type.Optional(nullable(Phone)),
    roles: Type.Optional(Roles),
    externalId: Type.Optional(nullable(ExternalId)),
    password: Type.Optional(Password),
  },
  { additionalProperties: false },
);
export const UserPatchBody = Type.Object(
  {
    email: Type.Optional(Email),
    emailVerified: Type.Optional(Type.Boolean()),
    phone: Type.Optional(nullable(Phone)),
    roles: Type.Optional(Roles),
    externalId: Type.Optional(nullable(ExternalId)),
    password: Type.Optional(nullable(Password)),
  },
  { additionalProperties: false, minProperties: 1 },
);

// ---------------------------------------------------------------------------------------------------------------
// Policy layers (DESIGN §2). Documented here in full; the values are checked by core `validatePolicyLayer`, whose
// field-precise errors are what a caller gets back (400 INVALID_POLICY).

export const PolicyFields = {
  enrollment: Type.Optional(Type.Union([Type.Literal('optional'), Type.Literal('required')], { description: 'Whether users must hold an acceptable factor' })),
  challenge: Type.Optional(Type.Union([Type.Literal('always'), Type.Literal('adaptive'), Type.Literal('never')], { description: 'When a second factor is asked for' })),
  acceptableFactors: Type.Optional(
    Type.Union([Type.Union([Type.Literal('any'), Type.Literal('phishing_resistant'), Type.Literal('totp_webauthn'), Type.Literal('recovery_excluded')]), Type.Array(FactorType, { minItems: 1, maxItems: FACTOR_TYPES.length })], {
      description: 'A named factor set or an explicit list of factor types',
    }),
  ),
  strength: Type.Optional(Type.Union([Type.Literal('baseline'), Type.Literal('enhanced')], { description: 'enhanced removes email_otp and sms_otp' })),
  allowedFactors: Type.Optional(Type.Array(FactorType, { maxItems: FACTOR_TYPES.length, description: 'Factor types users may enroll' })),
  gracePeriodDays: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 })),
  exemptRoles: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64, pattern: ROLE_PATTERN }), { maxItems: 100 })),
  forceReenrollOnChange: Type.Optional(Type.Boolean()),
  recoveryCodes: Type.Optional(Type.Object({ enabled: Type.Boolean(), count: Type.Integer({ minimum: 1, maximum: 20 }) }, { additionalProperties: false })),
  trustedDeviceDays: Type.Optional(Type.Integer({ minimum: 0, maximum: 365 })),
  risk: Type.Optional(
    Type.Object(
      {
        challengeAt: Type.Integer({ minimum: 0, maximum: 100 }),
        blockAt: Type.Integer({ minimum: 0, maximum: 101 }),
        weights: Type.Optional(Type.Partial(Type.Object(Object.fromEntries(RISK_SIGNAL_CODES.map((c) => [c, Type.Integer({ minimum: 0, maximum: 100 })])), { additionalProperties: false }))),
      },
      { additionalProperties: false },
    ),
  ),
  stepUp: Type.Optional(
    Type.Object(
      {
        defaultMaxAgeSeconds: Type.Integer({ minimum: 0, maximum: 86_400 }),
        actions: Type.Record(Type.String({ pattern: '^[a-z0-9][a-z0-9_.:-]{0,63}$' }), Type.Integer({ minimum: 0, maximum: 86_400 }), { maxProperties: 100 }),
        factorClasses: Type.Optional(Type.Record(Type.String({ pattern: '^[a-z0-9][a-z0-9_.:-]{0,63}$' }), literals(['phishing_resistant', 'possession', 'channel', 'recovery']), { maxProperties: 100 })),
      },
      { additionalProperties: false },
    ),
  ),
  totpIssuer: Type.Optional(nullable(Type.String({ minLength: 1, maxLength: 64, pattern: '^[^:\\u0000-\\u001f\\u007f]*$' }))),
  minFactors: Type.Optional(Type.Integer({ minimum: 1, maximum: 3 })),
  downgradeProtection: Type.Optional(Type.Boolean()),
};

/** A layer as stored and returned: whatever fields it sets. */
export const PolicyLayer = Type.Object(PolicyFields, { additionalProperties: false, description: 'A policy layer: the fields it sets; the rest are inherited' });
/** PUT body: the layer itself, plus an optional `effectiveAt`. */
export const PolicyPutBody = Type.Object(
  { ...PolicyFields, effectiveAt: Type.Optional(Instant) },
  { additionalProperties: false, description: 'The whole layer (fields left out are inherited) and, to announce a change ahead, effectiveAt' },
);

const LayerOut = Type.Object({}, { additionalProperties: true, description: 'A policy layer (see PolicyPutBody for its fields)' });

export const PolicyScope = Type.Object({ level: Type.String(), tenantId: Type.Optional(Type.String()), applicationId: Type.Optional(Type.String()) });

export const PolicyVersion = Type.Object({
  version: Type.Integer(),
  effectiveAt: Instant,
  expiresAt: nullable(Instant),
  layer: LayerOut,
  createdAt: Instant,
  createdBy: Type.String(),
});

export const PolicyHistory = Type.Object({
  scope: PolicyScope,
  inForce: nullable(PolicyVersion),
  latest: nullable(PolicyVersion),
  versions: Type.Array(PolicyVersion),
});

/** A warning about a policy that was saved (or previewed) anyway; see docs/api.md, Policy layers. */
export const PolicyWarning = Type.Object({
  code: Type.Union([Type.Literal('FACTOR_NOT_DELIVERABLE'), Type.Literal('NO_DELIVERABLE_FACTOR')], {
    description: 'FACTOR_NOT_DELIVERABLE: the field names a factor type this deployment cannot deliver. NO_DELIVERABLE_FACTOR: the policy accepts no factor a user could enroll here.',
  }),
  field: Type.String({ description: 'Dotted path of the field, e.g. allowedFactors[2] (draft.… in a preview); empty for the policy as a whole' }),
  message: Type.String(),
});

export const SavedPolicy = Type.Object({
  scope: PolicyScope,
  version: Type.Integer(),
  effectiveAt: Instant,
  layer: LayerOut,
  changed: Type.Array(Type.String()),
  warnings: Type.Array(PolicyWarning, { description: 'Saved anyway; empty when there is nothing to say' }),
  rollout: Type.Optional(
    Type.Object(
      {
        mode: Type.Union([Type.Literal('wall'), Type.Literal('revoke_sessions')]),
        sessionsRevoked: Type.Integer(),
        usersAffected: Type.Array(Type.String(), { description: 'Users whose live sessions were ended (none for wall)' }),
      },
      { description: 'Present when the save named ?noncompliant=' },
    ),
  ),
});

/** `PUT /tenants/{tenantId}/policy?noncompliant=wall|revoke_sessions`: the roll-out of a tightening. */
export const RolloutQuery = Type.Object(
  {
    noncompliant: Type.Optional(
      Type.Union([Type.Literal('wall'), Type.Literal('revoke_sessions')], {
        description: 'Users the saved version leaves without an acceptable factor: wall = the enrollment wall at their next sign-in (default); revoke_sessions = their live login sessions end now (audited session.revoked, reason policy_rollout)',
      }),
    ),
  },
  { additionalProperties: false },
);

export const Source = Type.Object({
  level: Type.String({ description: 'default | application | tenant | tenant_application | user | floor' }),
  name: Type.String(),
  version: nullable(Type.Integer()),
  from: Type.String({ description: 'The source as the decision trace words it, e.g. tenant "Acme" v3' }),
});

export const ResolvedPolicy = Type.Object({
  tenantId: Type.String(),
  applicationId: Type.String(),
  userId: nullable(Type.String()),
  at: Instant,
  values: Type.Object({}, { additionalProperties: true, description: 'Every policy field, resolved' }),
  sources: Type.Record(Type.String(), Source),
  versions: Type.Array(Type.Object({ level: Type.String(), name: Type.String(), version: nullable(Type.Integer()) })),
  floors: Type.Array(Type.String()),
  changedAt: nullable(Instant),
});

export const ResolvedQuery = Type.Object({ userId: Type.Optional(Id) }, { additionalProperties: false });

export const UserOverrideBody = Type.Object(
  {
    enrollment: Type.Optional(Type.Union([Type.Literal('optional'), Type.Literal('required')])),
    exempt: Type.Optional(Type.Literal(true, { description: "Exempt the user from MFA until expiresAt (the user's exemptUntil)" })),
    expiresAt: Instant,
  },
  { additionalProperties: false },
);

export const UserOverride = Type.Object({
  userId: Type.String(),
  layer: nullable(LayerOut),
  version: nullable(Type.Integer()),
  expiresAt: nullable(Instant),
  exemptUntil: nullable(Instant),
});

export const PreviewBody = Type.Object(
  {
    applicationId: Id,
    draft: PolicyLayer,
    scope: Type.Optional(Type.Union([Type.Literal('tenant'), Type.Literal('tenant_application')], { default: 'tenant', description: 'The layer the draft would replace' })),
  },
  { additionalProperties: false },
);

const Bucket = Type.Object({ count: Type.Integer(), userIds: Type.Array(Type.String(), { description: 'At most 1,000 ids; count is exact' }) });
const Buckets = Type.Object({
  total: Type.Integer(),
  outcomes: Type.Object({ allow: Bucket, challenge: Bucket, enroll: Bucket, block: Bucket }),
  errorCodes: Type.Record(Type.String(), Bucket),
  inGrace: Bucket,
  nothingToEnroll: Type.Object(
    { count: Type.Integer(), userIds: Type.Array(Type.String(), { description: 'At most 1,000 ids; count is exact' }) },
    { description: 'Users sent to enrollment with no option this deployment can deliver: a wall they cannot pass' },
  ),
});
export const PreviewResult = Type.Object({
  applicationId: Type.String(),
  scope: Type.String(),
  at: Instant,
  current: Buckets,
  draft: Buckets,
  moves: Type.Array(Type.Object({ from: Type.String(), to: Type.String(), count: Type.Integer(), userIds: Type.Array(Type.String()) })),
  unchanged: Type.Integer(),
  warnings: Type.Array(PolicyWarning, { description: 'What a save of this draft would warn about' }),
});

// ---------------------------------------------------------------------------------------------------------------
// Factors

export const Factor = Type.Object({
  id: Type.String(),
  type: Type.String(),
  status: Type.String(),
  label: Type.String(),
  createdAt: Instant,
  confirmedAt: nullable(Instant),
  lastUsedAt: nullable(Instant),
  remaining: Type.Optional(Type.Integer({ description: 'Recovery codes: unused codes' })),
  multiDevice: Type.Optional(Type.Boolean({ description: 'WebAuthn: a synced passkey (true) or a security key (false)' })),
});

export const ResetResult = Type.Object({
  removedFactors: Type.Integer(),
  removedRecoveryCodes: Type.Integer(),
  trustedDevicesRevoked: Type.Integer(),
  kept: Type.Integer(),
});

export const GraceBody = Type.Union(
  [
    Type.Object({ days: Type.Integer({ minimum: 1, maximum: 90 }) }, { additionalProperties: false }),
    Type.Object({ until: Instant }, { additionalProperties: false }),
  ],
  { description: 'Grace for days from now, or until an instant (at most 90 days ahead)' },
);
export const GraceResult = Type.Object({ graceUntil: Instant });

// ---------------------------------------------------------------------------------------------------------------
// Audit

export const AuditQuery = Type.Object(
  {
    event: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: `Event names or AxisSynapse codes, comma-separated (${AUDIT_EVENTS.slice(0, 3).join(', ')}, …, TENANT_MFA_POLICY_UPDATED, …)` })),
    userId: Type.Optional(Id),
    applicationId: Type.Optional(Id),
    from: Type.Optional(Instant),
    to: Type.Optional(Instant),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);

export const AuditEvent = Type.Object({
  id: Type.String(),
  tenantId: nullable(Type.String()),
  at: Instant,
  actor: Type.String(),
  subject: nullable(Type.String()),
  event: Type.String(),
  userId: nullable(Type.String()),
  applicationId: nullable(Type.String()),
  data: Type.Object({}, { additionalProperties: true }),
});

// ---------------------------------------------------------------------------------------------------------------
// Admin tokens

export const AdminToken = Type.Object({ id: Type.String(), tenantId: nullable(Type.String()), label: Type.String(), createdAt: Instant });
export const AdminTokenWithSecret = Type.Object({ ...AdminToken.properties, token: Type.String({ description: 'The bearer token; shown once, now' }) });
export const NewAdminTokenBody = Type.Object(
  { label: Name, tenantId: Type.Optional(nullable(Id)) },
  { additionalProperties: false, description: 'tenantId null or absent: a platform-wide token (platform admins only)' },
);
export const AdminTokenQuery = Type.Object({ ...PageQuery.properties, tenantId: Type.Optional(Id) }, { additionalProperties: false });
