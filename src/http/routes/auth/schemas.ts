import { Type, type Static } from '@sinclair/typebox';

/**
 * Text that is looked up or stored holds no control characters: PostgreSQL refuses a NUL in text (an error, not a
 * miss, so it would surface as a 500), and neither ids nor user agents have a use for the others.
 */
export const NO_CONTROL_CHARACTERS = '^[^\\u0000-\\u001f\\u007f\\ud800-\\udfff]*$';

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
    deviceToken: Type.Optional(Text({ maxLength: 256, description: 'A remembered device token (trustedDevice.token of an earlier answer); rotated on every use' })),
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

/** Fields every status of the envelope carries: whose decision, and the decision with its reasons. */
const EnvelopeBase = {
  userId: Type.String(),
  decision: DecisionView,
  grace: Grace,
  errorCode: Type.Union([Type.String(), Type.Null()]),
  recoveryCodesRemaining: Type.Optional(Type.Integer({ minimum: 0, description: 'After an answer that spent a recovery code: how many remain' })),
  warnings: Type.Optional(Type.Array(Type.String(), { description: 'Stable warnings for the user: recovery_codes_low (two or fewer recovery codes left; regenerate them)' })),
};

/** Fields of an answer that opens (or carries on) an MFA session. */
const OpenSession = {
  mfaSessionId: Type.String({ minLength: 1 }),
  methods: Type.Array(FactorTypeSchema, { description: 'Factor types to answer with verify, strongest first' }),
  recovery: Type.Boolean({ description: 'Recovery codes may answer as break-glass' }),
  enrollOptions: Type.Array(FactorTypeSchema, { description: 'What could be enrolled here (only types this deployment delivers)' }),
  expiresIn: Type.Integer({ minimum: 0, description: 'Seconds the MFA session stays open' }),
};

// `additionalProperties: true`: ZewstID's fields (`mfaRequired`, `stepUpRequired`, `verified`, `expiresIn`, …) and
// an endpoint's own extras (`factorId`, `recoveryCodes`) stay beside the envelope.
const open = { additionalProperties: true } as const;

export const AuthenticatedEnvelope = Type.Object(
  {
    status: Type.Literal('authenticated'),
    ...EnvelopeBase,
    amr: Type.Array(Type.String(), { description: 'RFC 8176 methods of the session' }),
    acr: Type.String(),
    session: SessionView,
    result: Type.Union([Type.String(), Type.Null()], { description: 'The signed result (JWT), to verify against /.well-known/jwks.json' }),
    trustedDevice: Type.Optional(
      Type.Object(
        {
          token: Type.String({ description: 'The device token to present as context.deviceToken next time; shown only now' }),
          id: Type.String(),
          expiresAt: Type.String({ format: 'date-time', description: 'trustedDeviceDays after the last MFA on this device' }),
        },
        { description: 'After rememberDevice on an MFA-complete answer, or when a remembered device let this sign-in skip MFA (the presented token is then spent)' },
      ),
    ),
  },
  open,
);

export const MfaRequiredEnvelope = Type.Object({ status: Type.Literal('mfa_required'), ...EnvelopeBase, ...OpenSession }, open);

export const EnrollmentRequiredEnvelope = Type.Object({ status: Type.Literal('enrollment_required'), ...EnvelopeBase, ...OpenSession }, open);

export const StepUpRequiredEnvelope = Type.Object({ status: Type.Literal('step_up_required'), ...EnvelopeBase, ...OpenSession, action: Type.String() }, open);

/**
 * The one answer of every decision endpoint (sign-in, status/check, verify, enrollment confirm, step-up) when it is
 * not a block: `status` says what happens next, `decision` why, and each status carries the fields it needs. A
 * route that answers it declares it as its `200` response; that declaration is how the envelope test finds every
 * decision route (test/http/auth-envelope.every-decision-endpoint-one-schema.test.ts).
 */
export const Envelope = Type.Union([AuthenticatedEnvelope, MfaRequiredEnvelope, EnrollmentRequiredEnvelope, StepUpRequiredEnvelope], {
  title: 'DecisionEnvelope',
  description: 'status: authenticated · mfa_required · enrollment_required · step_up_required (a risk block is the 403 BlockedEnvelope)',
});

/** A risk block: the envelope's `blocked` status with ZewstID's `access_denied` body (403). */
export const BlockedBody = Type.Object(
  { status: Type.Literal('blocked'), errorCode: Type.String(), error: Type.Literal('access_denied'), error_description: Type.String(), message: Type.String() },
  { additionalProperties: false, title: 'BlockedEnvelope' },
);

/** Every answer of a decision endpoint, the block included: the one schema the envelope test validates against. */
export const DecisionAnswer = Type.Union([Envelope, BlockedBody]);

/**
 * A voluntary enrollment's confirmation (the user was already signed in; no decision is made): the new factor is
 * active, and the answer is not an envelope.
 */
export const EnrolledAnswer = Type.Object(
  {
    status: Type.Literal('enrolled'),
    userId: Type.String(),
    factorId: Type.String(),
    recoveryCodes: Type.Union([Type.Array(Type.String()), Type.Null()], { description: 'Shown once, at the first enrollment' }),
  },
  { additionalProperties: false, title: 'EnrolledAnswer' },
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

/** A remembered device as listings show it (never its token). */
export const TrustedDeviceListing = Type.Object({
  id: Type.String(),
  applicationId: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  mfaAt: Type.String({ format: 'date-time', description: 'The last MFA on the device; trust lasts trustedDeviceDays from it' }),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
});

export const ErrorBody = Type.Object({ error: Type.String(), message: Type.String() }, { additionalProperties: true });

/** A one-time code: 6-10 ASCII digits for TOTP, a recovery code with letters and dashes. Validated again by the verifier. */
export const Code = Type.String({ minLength: 1, maxLength: 64 });

const B64 = (maxLength: number) => Type.String({ minLength: 1, maxLength, pattern: '^[A-Za-z0-9_-]+={0,2}$' });

/**
 * A WebAuthn credential as the browser's `PublicKeyCredential.toJSON()` (or @simplewebauthn/browser) gives it: a
 * registration (`response.attestationObject`) or an assertion (`response.authenticatorData`, `signature`).
 */
export const WebauthnCredential = Type.Object(
  {
    id: B64(1024),
    rawId: B64(1024),
    type: Type.Literal('public-key'),
    response: Type.Object(
      {
        clientDataJSON: B64(8192),
        attestationObject: Type.Optional(B64(16_384)),
        authenticatorData: Type.Optional(B64(8192)),
        signature: Type.Optional(B64(2048)),
        userHandle: Type.Optional(Type.Union([B64(1024), Type.Null()])),
        transports: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 16 })),
        publicKey: Type.Optional(B64(4096)),
        publicKeyAlgorithm: Type.Optional(Type.Integer()),
      },
      { additionalProperties: true },
    ),
    authenticatorAttachment: Type.Optional(Type.Union([Type.String({ maxLength: 32 }), Type.Null()])),
    clientExtensionResults: Type.Optional(Type.Object({}, { additionalProperties: true })),
  },
  { additionalProperties: false, title: 'WebauthnCredential' },
);

/** Options for `navigator.credentials.create()` / `.get()` (WebAuthn's JSON forms), passed to the browser as they are. */
export const WebauthnOptions = Type.Object(
  {
    options: Type.Object({ challenge: Type.String() }, { additionalProperties: true, description: 'PublicKeyCredentialCreationOptionsJSON or PublicKeyCredentialRequestOptionsJSON' }),
    expiresIn: Type.Integer({ description: 'Seconds the challenge stays valid' }),
  },
  { title: 'WebauthnOptions' },
);

/*
 * Answers of the non-decision routes. Declared so that the OpenAPI document describes every answer an application
 * reads (the generated TypeScript client is typed from it); each lists every field its service returns, because
 * Fastify serializes an answer with its declared schema and leaves out what is not declared.
 */

/** `GET /auth/factors` (and ZewstID's alias `GET /auth/mfa/status`): the user's active factors, no secrets. */
export const FactorsAnswer = Type.Object({
  userId: Type.String(),
  mfaEnabled: Type.Boolean(),
  factors: Type.Array(
    Type.Object({
      id: Type.String(),
      type: FactorTypeSchema,
      label: Type.String(),
      createdAt: Type.String({ format: 'date-time' }),
      lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    }),
  ),
  recoveryCodesRemaining: Type.Integer(),
});

/** `POST /auth/mfa/enrollment`: a voluntary enrollment session. */
export const EnrollmentOpened = Type.Object({ mfaSessionId: Type.String(), enrollOptions: Type.Array(FactorTypeSchema), expiresIn: Type.Integer() });

/** `POST /auth/mfa/enroll/totp`: the pending authenticator app; the secret is shown only in this answer. */
export const TotpEnrollmentStarted = Type.Object({
  factorId: Type.String(),
  secret: Type.String({ description: 'Base32 secret for manual entry; shown only now' }),
  otpauthUri: Type.String({ description: 'otpauth://totp/… key URI' }),
  qrSvg: Type.String({ description: 'The key URI as a QR code, an SVG document' }),
  expiresIn: Type.Integer({ description: 'Seconds the pending factor waits for its confirmation' }),
});

/** `POST /auth/mfa/recovery-codes`: a fresh batch (shown once); the old batch no longer works. */
export const RecoveryCodesIssued = Type.Object({ recoveryCodes: Type.Array(Type.String()) });

/** `DELETE /auth/mfa/factors/{factorId}`. */
export const FactorRemoved = Type.Object({ removed: Type.Literal(true), sessionsDowngraded: Type.Integer({ description: 'Live sessions whose amr/acr relied on the factor and were lowered' }) });

/** `DELETE /auth/sessions/{sessionId}`. */
export const SessionRevoked = Type.Object({ revoked: Type.Literal(true) });

/** `POST /auth/sessions/introspect` (in the manner of RFC 7662): `{ active: false }` alone when not live. */
export const Introspection = Type.Object({
  active: Type.Boolean(),
  sid: Type.Optional(Type.String()),
  sub: Type.Optional(Type.String()),
  tenant: Type.Optional(Type.String()),
  client_id: Type.Optional(Type.String()),
  amr: Type.Optional(Type.Array(Type.String())),
  acr: Type.Optional(Type.String()),
  auth_time: Type.Optional(Type.Integer({ description: 'Seconds since the epoch' })),
  exp: Type.Optional(Type.Integer({ description: 'Seconds since the epoch' })),
});
