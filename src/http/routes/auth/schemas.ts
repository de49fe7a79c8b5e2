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

export const FlowResult = Type.Object(
  {
    status: Type.Union([Type.Literal('authenticated'), Type.Literal('mfa_required'), Type.Literal('enrollment_required'), Type.Literal('enrolled')]),
    userId: Type.String(),
    amr: Type.Optional(Type.Array(Type.String())),
    mfaSessionId: Type.Optional(Type.String()),
    methods: Type.Optional(Type.Array(FactorTypeSchema)),
    recovery: Type.Optional(Type.Boolean()),
    enrollOptions: Type.Optional(Type.Array(FactorTypeSchema)),
    errorCode: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    expiresIn: Type.Optional(Type.Integer()),
    decision: Type.Optional(DecisionView),
  },
  { additionalProperties: true },
);

export const ErrorBody = Type.Object({ error: Type.String(), message: Type.String() }, { additionalProperties: true });

/** A one-time code: 6-10 ASCII digits for TOTP, a recovery code with letters and dashes. Validated again by the verifier. */
export const Code = Type.String({ minLength: 1, maxLength: 64 });
