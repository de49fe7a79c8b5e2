import { Type, type Static } from '@sinclair/typebox';

/**
 * Text that is looked up or stored holds no control characters: PostgreSQL refuses a NUL in text (an error, not a
 * miss, so it would surface as a 500), and neither ids nor user agents have a use for the others.
 */
export const NO_CONTROL_CHARACTERS = '^[^\\u0000-\\u001f\\u007f]*$';

/** A string schema for text that is looked up or stored (see {@link NO_CONTROL_CHARACTERS}). */
export function Text(options: { minLength?: number; maxLength: number; description?: string }): ReturnType<typeof Type.String> {
  return Type.String({ ...options, pattern: NO_CONTROL_CHARACTERS });
}

export const Id = Text({ minLength: 1, maxLength: 128 });
export const TenantRef = Text({ minLength: 1, maxLength: 128, description: 'Tenant id or slug' });

export const Context = Type.Object(
  {
    ip: Type.Optional(Text({ maxLength: 64 })),
    userAgent: Type.Optional(Text({ maxLength: 1024 })),
    deviceId: Type.Optional(Text({ maxLength: 256 })),
  },
  { additionalProperties: false, description: 'What the application knows of the request; all optional, all untrusted' },
);
export type ContextBody = Static<typeof Context>;

/** A user named by our id or by the application's external id (exactly one). */
export const UserFields = {
  userId: Type.Optional(Id),
  externalId: Type.Optional(Text({ minLength: 1, maxLength: 256 })),
};

export const FactorTypeSchema = Type.Union(
  ['webauthn', 'totp', 'push', 'custom', 'email_otp', 'sms_otp', 'recovery_codes'].map((t) => Type.Literal(t)),
);

export const Reason = Type.Object({ code: Type.String(), detail: Type.String(), source: Type.String() });

export const DecisionView = Type.Object({
  outcome: Type.Union([Type.Literal('allow'), Type.Literal('challenge'), Type.Literal('enroll'), Type.Literal('block')]),
  errorCode: Type.Union([Type.String(), Type.Null()]),
  reasons: Type.Array(Reason),
  grace: Type.Union([Type.Object({ active: Type.Boolean(), endsAt: Type.String({ format: 'date-time' }) }), Type.Null()]),
  riskScore: Type.Union([Type.Number(), Type.Null()]),
  policyVersions: Type.Array(Type.Object({ level: Type.String(), name: Type.String(), version: Type.Union([Type.Integer(), Type.Null()]) })),
});

const Grace = Type.Union([Type.Object({ active: Type.Boolean(), endsAt: Type.String({ format: 'date-time' }) }), Type.Null()]);

/** What an answer shows of a login session; `token` only when this answer issued one. */
export const SessionView = Type.Object({
  id: Type.String(),
  token: Type.Optional(Type.String()),
  amr: Type.Array(Type.String()),
  acr: Type.String(),
  authTime: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
});

/**
 * The one answer of every decision endpoint (sign-in, status/check, verify, enrollment confirm, step-up). `status`
 * says what happens next; the other fields are those the status needs. ZewstID's fields (`mfaRequired`,
 * `stepUpRequired`, `verified`, `expiresIn`, …) stay beside it on its endpoints as documented aliases.
 */
export const Envelope = Type.Object(
  {
    status: Type.Union([Type.Literal('authenticated'), Type.Literal('mfa_required'), Type.Literal('enrollment_required'), Type.Literal('step_up_required'), Type.Literal('enrolled')]),
    userId: Type.String(),
    decision: Type.Optional(DecisionView),
    grace: Type.Optional(Grace),
    errorCode: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    amr: Type.Optional(Type.Array(Type.String())),
    acr: Type.Optional(Type.String()),
    session: Type.Optional(SessionView),
    result: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    mfaSessionId: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    methods: Type.Optional(Type.Array(FactorTypeSchema)),
    recovery: Type.Optional(Type.Boolean()),
    enrollOptions: Type.Optional(Type.Array(FactorTypeSchema)),
    expiresIn: Type.Optional(Type.Integer()),
    action: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);

/** A risk block: the envelope's `blocked` status with ZewstID's `access_denied` body (403). */
export const BlockedBody = Type.Object(
  { status: Type.Literal('blocked'), errorCode: Type.String(), error: Type.Literal('access_denied'), error_description: Type.String(), message: Type.String() },
  { additionalProperties: false },
);

export const SessionListing = Type.Object({
  id: Type.String(),
  applicationId: Type.String(),
  amr: Type.Array(Type.String()),
  acr: Type.String(),
  authTime: Type.String({ format: 'date-time' }),
  mfaAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  stepUps: Type.Record(Type.String(), Type.String()),
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  lastSeenAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
  current: Type.Optional(Type.Boolean()),
});

export const ErrorBody = Type.Object({ error: Type.String(), message: Type.String() }, { additionalProperties: true });

/** A one-time code: 6-10 ASCII digits for TOTP, a recovery code with letters and dashes. Validated again by the verifier. */
export const Code = Type.String({ minLength: 1, maxLength: 64 });
