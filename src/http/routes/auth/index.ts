import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PortcullisError } from '../../../core/index.ts';
import type { Caller } from '../../../services/tenant-access.ts';

type ApplicationRecord = Caller['application'];
type CatalogView = NonNullable<Caller['catalog']>;
import type { ServiceDeps } from '../../../services/deps.ts';
import { applicationAuthenticator } from '../../auth.ts';
import { requestNow } from '../../dev-clock.ts';
import { hashToken, verifyHashedToken } from '../../../factors/tokens.ts';
import { beginTotpEnrollment, confirmTotpEnrollment, mfaStatus, regenerateRecoveryCodes, removeOwnFactor, startEnrollment } from '../../../services/enrollment-service.ts';
import type { FlowResult } from '../../../services/flow-result.ts';
import { checkStatus, signIn, signInWithPasskey, stepUp, verify, type UserRef } from '../../../services/flow-service.ts';
import { beginPasskeySignin, beginWebauthnChallenge, beginWebauthnEnrollment, confirmWebauthnEnrollment } from '../../../services/webauthn-service.ts';
import { normaliseIp, type RequestContext } from '../../../services/risk.ts';
import { introspectSession, listOwnSessions, revokeOwnSession } from '../../../services/session-service.ts';
import { listOwnTrustedDevices, revokeOwnTrustedDevice } from '../../../services/trusted-devices.ts';
import {
  BlockedBody,
  Code,
  Context,
  EnrolledAnswer,
  EnrollmentOpened,
  Envelope,
  ErrorBody,
  FactorRemoved,
  FactorsAnswer,
  FactorTypeSchema,
  Id,
  Introspection,
  RecoveryCodesIssued,
  SessionListing,
  SessionRevoked,
  TenantRef,
  Text,
  TotpEnrollmentStarted,
  TrustedDeviceListing,
  UserFields,
  WebauthnCredential,
  WebauthnOptions,
} from './schemas.ts';

/**
 * Authenticates the calling application from the request's client credentials, looking it up in the request's
 * catalog view (the one version read of the request: src/store/catalog.ts).
 */
export type ApplicationAuthenticator = (request: FastifyRequest, catalog: CatalogView) => Promise<ApplicationRecord>;

/**
 * The application API's authenticator: HTTP Basic client credentials against the application found in the request's
 * catalog view, with a dummy hash verified for an unknown client id (no enumeration by timing).
 */
export function clientCredentialsAuthenticator(): ApplicationAuthenticator {
  const dummyHash = hashToken('pcs_dummy');
  return (request, catalog) => applicationAuthenticator<ApplicationRecord>((clientId) => catalog.applicationByClientId(clientId), verifyHashedToken, { dummyHash })(request);
}

const security = [{ clientCredentials: [] }];
const sessionSecurity = [{ clientCredentials: [], userSession: [] }];
const tags = ['application API'];

/** The header that carries the end user's login session token on session-bound routes. */
export const SESSION_HEADER = 'x-portcullis-session';

function userRefOf(body: { userId?: string; externalId?: string }): UserRef {
  if (body.userId !== undefined && body.externalId === undefined) return { userId: body.userId };
  if (body.externalId !== undefined && body.userId === undefined) return { externalId: body.externalId };
  throw new PortcullisError('INVALID_REQUEST', 'Give exactly one of userId or externalId.');
}

function optionalUserRef(body: { userId?: string; externalId?: string }): UserRef | undefined {
  return body.userId === undefined && body.externalId === undefined ? undefined : userRefOf(body);
}

/**
 * The request's context. The client address is the application's `context.ip` (headless: it knows the end user's
 * address) or else the peer's, read through `X-Forwarded-For` only from the proxies `trustProxy` names (Fastify's
 * proxy-addr: a header sent by anyone else is ignored). An address that does not parse — in the context, or among
 * the forwarded entries a trusted proxy vouched for — is a risk signal (`ip_unparsable`), never an exception
 * (SECURITY rule 7, CVE-2024-47070).
 */
function contextOf(body: { context?: RequestContext }, request: FastifyRequest): RequestContext {
  const given = body.context?.ip;
  const ip = given ?? request.ip;
  let ipUnparsable: string | null = null;
  if (normaliseIp(ip) === null) {
    ipUnparsable = given !== undefined ? 'context.ip is not an IP address' : 'the forwarded client address is not an IP address';
  } else if (given === undefined && (request.ips ?? []).some((entry) => normaliseIp(entry) === null)) {
    ipUnparsable = 'X-Forwarded-For from a trusted proxy carries an entry that is not an IP address';
  }
  return {
    ip: normaliseIp(ip) ?? null,
    userAgent: body.context?.userAgent ?? null,
    deviceId: body.context?.deviceId ?? null,
    deviceToken: body.context?.deviceToken ?? null,
    ipUnparsable,
  };
}

function sessionTokenOf(request: FastifyRequest): string | undefined {
  const value = request.headers[SESSION_HEADER];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/**
 * The services' dependencies for one request: its logger is the request's child logger, so that a service's lines
 * (the decision line above all) carry the request id an operator follows from the access log.
 */
function depsOf(deps: ServiceDeps, request: FastifyRequest): ServiceDeps {
  // The development clock (`X-Portcullis-Now`, dev profile and setting only) moves "now" for this request.
  return { ...deps, logger: request.log, now: requestNow(request, deps.now) };
}

/**
 * The block answer: 403 with the envelope's `status: "blocked"` and ZewstID's lowercase `access_denied` body; the
 * score and the reasons stay in audit.
 */
async function withBlock<T>(reply: FastifyReply, run: () => Promise<T>): Promise<T | FastifyReply> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof PortcullisError && error.code === 'ACCESS_DENIED_RISK') {
      return reply.code(403).send({ status: 'blocked', errorCode: error.code, error: 'access_denied', error_description: error.message, message: error.message });
    }
    throw error;
  }
}

const SigninBody = Type.Object(
  { tenant: TenantRef, identifier: Text({ minLength: 1, maxLength: 320 }), password: Type.String({ minLength: 1, maxLength: 1024 }), context: Type.Optional(Context) },
  { additionalProperties: false },
);
const StatusCheckBody = Type.Object({ tenant: TenantRef, ...UserFields, context: Type.Optional(Context) }, { additionalProperties: false });
const UserQuery = Type.Object({ tenant: TenantRef, ...UserFields }, { additionalProperties: false });
const RememberDevice = Type.Optional(Type.Boolean({ description: 'Remember this device when the answer completes an MFA sign-in: the answer then carries trustedDevice.token' }));
const VerifyBody = Type.Object(
  {
    mfaSessionId: Text({ minLength: 1, maxLength: 256 }),
    method: FactorTypeSchema,
    code: Type.Union([Code, WebauthnCredential], { description: 'The code (TOTP, recovery code), or for webauthn the assertion credential' }),
    rememberDevice: RememberDevice,
  },
  { additionalProperties: false },
);
const StepUpBody = Type.Object(
  {
    tenant: Type.Optional(TenantRef),
    ...UserFields,
    action: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9_.:-]*$' }),
    maxAgeSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })),
    context: Type.Optional(Context),
  },
  { additionalProperties: false },
);
const SessionBody = Type.Object({ mfaSessionId: Text({ minLength: 1, maxLength: 256 }), label: Type.Optional(Text({ minLength: 1, maxLength: 64 })) }, { additionalProperties: false });
const ConfirmBody = Type.Object({ mfaSessionId: Text({ minLength: 1, maxLength: 256 }), factorId: Id, code: Code, rememberDevice: RememberDevice }, { additionalProperties: false });
const ContextOnlyBody = Type.Object({ context: Type.Optional(Context) }, { additionalProperties: false });
const MfaSessionOnly = Type.Object({ mfaSessionId: Text({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false });
const ChallengeBody = Type.Object({ mfaSessionId: Text({ minLength: 1, maxLength: 256 }), method: FactorTypeSchema }, { additionalProperties: false });
const WebauthnConfirmBody = Type.Object(
  { mfaSessionId: Text({ minLength: 1, maxLength: 256 }), credential: WebauthnCredential, label: Type.Optional(Text({ minLength: 1, maxLength: 64 })), rememberDevice: RememberDevice },
  { additionalProperties: false },
);
const PasskeyOptionsBody = Type.Object({ tenant: TenantRef }, { additionalProperties: false });
const PasskeySigninBody = Type.Object({ tenant: TenantRef, credential: WebauthnCredential, context: Type.Optional(Context), rememberDevice: RememberDevice }, { additionalProperties: false });
const ChallengeAnswer = Type.Object({ method: FactorTypeSchema, options: Type.Union([Type.Object({ challenge: Type.String() }, { additionalProperties: true }), Type.Null()]), expiresIn: Type.Union([Type.Integer(), Type.Null()]) });
const IntrospectBody = Type.Object(
  { token: Type.Optional(Text({ minLength: 1, maxLength: 256 })), sid: Type.Optional(Id), tenant: Type.Optional(Id) },
  { additionalProperties: false, description: 'The session token, or its sid (from the signed result) with the tenant id' },
);

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 410: ErrorBody, 423: ErrorBody, 429: ErrorBody };
const decisionErrors = { ...errors, 403: Type.Union([BlockedBody, ErrorBody]) };

/** ZewstID's status/check fields, kept beside the envelope as documented aliases. */
function statusCheckAliases(flow: FlowResult): Record<string, unknown> {
  return {
    mfaRequired: flow.status !== 'authenticated',
    mfaSessionId: flow.status === 'authenticated' ? null : flow.mfaSessionId,
    methods: flow.status === 'authenticated' ? [] : flow.methods,
    recovery: flow.status === 'authenticated' ? false : flow.recovery,
    enrollmentRequired: flow.status === 'enrollment_required',
    enrollOptions: flow.status === 'authenticated' ? [] : flow.enrollOptions,
    riskScore: flow.decision.riskScore,
  };
}

/**
 * The application-facing API (headless integration): sign-in, MFA status, verification, step-up, enrollment and
 * sessions. Routes are thin: authenticate the client, validate, call one service. Every path that can end in
 * `authenticated` goes through `evaluate` → core `decide`; every decision endpoint answers the one envelope.
 */
export async function registerAuthRoutes(parent: FastifyInstance, deps: ServiceDeps, authenticate: ApplicationAuthenticator): Promise<void> {
  await parent.register(async (app) => registerInScope(app, deps, authenticate));
}

async function registerInScope(app: FastifyInstance, deps: ServiceDeps, authenticate: ApplicationAuthenticator): Promise<void> {
  // The client is authenticated on `onRequest`, before the body is read or validated: an unauthenticated caller
  // gets 401 whatever it sends and learns nothing from validation errors (as the admin scope does).
  const authenticated = new WeakMap<FastifyRequest, Caller>();
  app.addHook('onRequest', async (request, reply) => {
    try {
      const catalog = await deps.store.catalog.current();
      authenticated.set(request, { application: await authenticate(request, catalog), catalog });
    } catch (error) {
      if (error instanceof PortcullisError && error.code === 'UNAUTHORIZED') void reply.header('www-authenticate', 'Basic realm="portcullis"');
      throw error;
    }
  });
  const caller = async (request: FastifyRequest): Promise<Caller> => {
    const who = authenticated.get(request);
    // Unreachable while the hook above runs first; a wiring mistake fails closed.
    if (who === undefined) throw new PortcullisError('UNAUTHORIZED', 'Client credentials are required.');
    return who;
  };

  app.post('/auth/signin', { schema: { tags, security, summary: 'Password sign-in, then the MFA decision', body: SigninBody, response: { 200: Envelope, ...decisionErrors } } }, async (request, reply) => {
    const body = request.body as Static<typeof SigninBody>;
    const who = await caller(request);
    return withBlock(reply, () => signIn(depsOf(deps, request), who, { tenant: body.tenant, identifier: body.identifier, password: body.password, context: contextOf(body, request) }));
  });

  app.post('/auth/mfa/status/check', { schema: { tags, security, summary: 'Does this sign-in need MFA? (the decision, after the application’s own primary sign-in)', body: StatusCheckBody, response: { 200: Envelope, ...decisionErrors } } }, async (request, reply) => {
    const body = request.body as Static<typeof StatusCheckBody>;
    const who = await caller(request);
    return withBlock(reply, async () => {
      const flow = await checkStatus(depsOf(deps, request), who, { tenant: body.tenant, user: userRefOf(body), context: contextOf(body, request) });
      return { ...flow, ...statusCheckAliases(flow) };
    });
  });

  const factorsOf = async (request: FastifyRequest): Promise<unknown> => {
    const query = request.query as Static<typeof UserQuery>;
    return mfaStatus(depsOf(deps, request), await caller(request), { tenant: query.tenant, user: userRefOf(query) });
  };
  app.get('/auth/factors', { schema: { tags, security, summary: "A user's enrolled factors (no decision is made)", querystring: UserQuery, response: { 200: FactorsAnswer, ...errors } } }, factorsOf);
  app.get('/auth/mfa/status', { schema: { tags, security, summary: "Alias of GET /auth/factors under ZewstID's name", querystring: UserQuery, response: { 200: FactorsAnswer, ...errors } } }, factorsOf);

  app.post('/auth/mfa/verify', { schema: { tags, security, summary: 'Answer an MFA challenge', body: VerifyBody, response: { 200: Envelope, ...decisionErrors } } }, async (request, reply) => {
    const body = request.body as Static<typeof VerifyBody>;
    const who = await caller(request);
    return withBlock(reply, async () => {
      const flow = await verify(depsOf(deps, request), who, body);
      // ZewstID's `verified` is true only when a session results, so a client reading it never takes a wall for one.
      return { ...flow, verified: flow.status === 'authenticated' };
    });
  });

  app.post(
    '/auth/mfa/step-up',
    { schema: { tags, security: sessionSecurity, summary: 'Step-up for a sensitive action, judged on the session in X-Portcullis-Session', body: StepUpBody, response: { 200: Envelope, ...decisionErrors } } },
    async (request, reply) => {
      const body = request.body as Static<typeof StepUpBody>;
      const who = await caller(request);
      return withBlock(reply, async () => {
        const user = optionalUserRef(body);
        const flow = await stepUp(depsOf(deps, request), who, {
          sessionToken: sessionTokenOf(request),
          action: body.action,
          context: contextOf(body, request),
          ...(body.tenant === undefined ? {} : { tenant: body.tenant }),
          ...(user === undefined ? {} : { user }),
          ...(body.maxAgeSeconds === undefined ? {} : { maxAgeSeconds: body.maxAgeSeconds }),
        });
        return flow.status === 'authenticated'
          ? { ...flow, stepUpRequired: false, verified: true, reason: 'MFA was recently completed' }
          : { ...flow, stepUpRequired: true, enrollmentRequired: flow.status === 'enrollment_required' || flow.decision.outcome === 'enroll' };
      });
    },
  );

  app.post('/auth/mfa/enrollment', { schema: { tags, security: sessionSecurity, summary: 'Open a voluntary enrollment session for the signed-in user (X-Portcullis-Session)', body: ContextOnlyBody, response: { 200: EnrollmentOpened, ...errors } } }, async (request) => {
    const body = (request.body ?? {}) as Static<typeof ContextOnlyBody>;
    return startEnrollment(depsOf(deps, request), await caller(request), { sessionToken: sessionTokenOf(request), context: contextOf(body, request) });
  });

  // The factor registry's route family: `/auth/mfa/enroll/{type}` begins, `/auth/mfa/enroll/{type}/confirm` proves
  // and activates; every type ends in the same enrollment step (src/services/enrollment-service.ts finishEnrollment).
  const enrollment = {
    totp: {
      begin: { summary: 'Begin TOTP enrollment in an MFA session', body: SessionBody, answer: TotpEnrollmentStarted },
      confirm: { summary: 'Confirm TOTP with a first code; recovery codes are returned once', body: ConfirmBody },
      run: {
        begin: (d: ServiceDeps, who: Caller, body: Static<typeof SessionBody>) => beginTotpEnrollment(d, who, body.label === undefined ? { mfaSessionId: body.mfaSessionId } : { mfaSessionId: body.mfaSessionId, label: body.label }),
        confirm: (d: ServiceDeps, who: Caller, body: Static<typeof ConfirmBody>) => confirmTotpEnrollment(d, who, body),
      },
    },
    webauthn: {
      begin: { summary: 'Begin a passkey or security key registration in an MFA session (options for navigator.credentials.create)', body: MfaSessionOnly, answer: WebauthnOptions },
      confirm: { summary: 'Confirm a passkey registration with the credential the browser created; recovery codes are returned once', body: WebauthnConfirmBody },
      run: {
        begin: (d: ServiceDeps, who: Caller, body: Static<typeof MfaSessionOnly>) => beginWebauthnEnrollment(d, who, body),
        confirm: (d: ServiceDeps, who: Caller, body: Static<typeof WebauthnConfirmBody>) =>
          confirmWebauthnEnrollment(d, who, { mfaSessionId: body.mfaSessionId, response: body.credential, ...(body.label === undefined ? {} : { label: body.label }), ...(body.rememberDevice === undefined ? {} : { rememberDevice: body.rememberDevice }) }),
      },
    },
  } as const;
  for (const [type, entry] of Object.entries(enrollment)) {
    app.post(`/auth/mfa/enroll/${type}`, { schema: { tags, security, summary: entry.begin.summary, body: entry.begin.body, response: { 200: entry.begin.answer, ...errors } } }, async (request) =>
      (entry.run.begin as (d: ServiceDeps, who: Caller, body: unknown) => Promise<unknown>)(depsOf(deps, request), await caller(request), request.body),
    );
    app.post(`/auth/mfa/enroll/${type}/confirm`, { schema: { tags, security, summary: entry.confirm.summary, body: entry.confirm.body, response: { 200: Type.Union([Envelope, EnrolledAnswer]), ...decisionErrors } } }, async (request, reply) => {
      const who = await caller(request);
      return withBlock(reply, () => (entry.run.confirm as (d: ServiceDeps, who: Caller, body: unknown) => Promise<unknown>)(depsOf(deps, request), who, request.body));
    });
  }

  app.post('/auth/mfa/challenge', { schema: { tags, security, summary: 'Prepare a challenge for one offered method (passkey options; nothing to send for TOTP and recovery codes)', body: ChallengeBody, response: { 200: ChallengeAnswer, ...errors } } }, async (request) => {
    const body = request.body as Static<typeof ChallengeBody>;
    if (body.method !== 'webauthn') return { method: body.method, options: null, expiresIn: null };
    const started = await beginWebauthnChallenge(depsOf(deps, request), await caller(request), body);
    return { method: body.method, ...started };
  });

  app.post('/auth/passkey/options', { schema: { tags, security, summary: 'Options for a passkey-first sign-in (no identifier; also for conditional-UI autofill)', body: PasskeyOptionsBody, response: { 200: WebauthnOptions, ...errors } } }, async (request) => {
    const body = request.body as Static<typeof PasskeyOptionsBody>;
    return beginPasskeySignin(depsOf(deps, request), await caller(request), body);
  });

  app.post('/auth/passkey', { schema: { tags, security, summary: 'Passkey-first sign-in, then the MFA decision (a passkey with user verification is MFA by itself)', body: PasskeySigninBody, response: { 200: Envelope, ...decisionErrors } } }, async (request, reply) => {
    const body = request.body as Static<typeof PasskeySigninBody>;
    const who = await caller(request);
    return withBlock(reply, () => signInWithPasskey(depsOf(deps, request), who, { tenant: body.tenant, response: body.credential, context: contextOf(body, request), ...(body.rememberDevice === undefined ? {} : { rememberDevice: body.rememberDevice }) }));
  });

  app.post('/auth/mfa/recovery-codes', { schema: { tags, security: sessionSecurity, summary: 'Regenerate recovery codes (needs a recent MFA in this session)', response: { 200: RecoveryCodesIssued, ...errors } } }, async (request) =>
    regenerateRecoveryCodes(depsOf(deps, request), await caller(request), { sessionToken: sessionTokenOf(request) }),
  );

  const FactorParams = Type.Object({ factorId: Id });
  app.delete('/auth/mfa/factors/:factorId', { schema: { tags, security: sessionSecurity, summary: 'Remove one of the user’s factors (needs a recent MFA in this session)', params: FactorParams, response: { 200: FactorRemoved, ...errors } } }, async (request) => {
    const params = request.params as Static<typeof FactorParams>;
    return removeOwnFactor(depsOf(deps, request), await caller(request), { sessionToken: sessionTokenOf(request), factorId: params.factorId });
  });

  app.get('/auth/sessions', { schema: { tags, security: sessionSecurity, summary: "The signed-in user's live sessions at this application", response: { 200: Type.Object({ sessions: Type.Array(SessionListing) }), ...errors } } }, async (request) =>
    listOwnSessions(depsOf(deps, request), await caller(request), sessionTokenOf(request)),
  );

  const SessionParams = Type.Object({ sessionId: Id });
  app.delete('/auth/sessions/:sessionId', { schema: { tags, security: sessionSecurity, summary: 'Revoke one of the signed-in user’s sessions at this application', params: SessionParams, response: { 200: SessionRevoked, ...errors } } }, async (request) => {
    const params = request.params as Static<typeof SessionParams>;
    return revokeOwnSession(depsOf(deps, request), await caller(request), sessionTokenOf(request), params.sessionId);
  });

  app.get('/auth/devices', { schema: { tags, security: sessionSecurity, summary: "The signed-in user's remembered devices (never their tokens)", response: { 200: Type.Object({ devices: Type.Array(TrustedDeviceListing) }), ...errors } } }, async (request) =>
    listOwnTrustedDevices(depsOf(deps, request), await caller(request), sessionTokenOf(request)),
  );

  const DeviceParams = Type.Object({ deviceId: Id });
  app.delete('/auth/devices/:deviceId', { schema: { tags, security: sessionSecurity, summary: 'Forget one of the signed-in user’s remembered devices; its token stops working', params: DeviceParams, response: { 200: SessionRevoked, ...errors } } }, async (request) => {
    const params = request.params as Static<typeof DeviceParams>;
    return revokeOwnTrustedDevice(depsOf(deps, request), await caller(request), sessionTokenOf(request), params.deviceId);
  });

  app.post('/auth/sessions/introspect', { schema: { tags, security, summary: 'Is this session still live? (RFC 7662 style)', body: IntrospectBody, response: { 200: Introspection, ...errors } } }, async (request) => {
    const body = request.body as Static<typeof IntrospectBody>;
    return introspectSession(depsOf(deps, request), await caller(request), body);
  });
}
