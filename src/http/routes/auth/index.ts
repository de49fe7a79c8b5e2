import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PortcullisError } from '../../../core/index.ts';
import type { ApplicationRecord } from '../../../store/index.ts';
import type { ServiceDeps } from '../../../services/deps.ts';
import { beginTotpEnrollment, confirmTotpEnrollment, mfaStatus, regenerateRecoveryCodes, removeOwnFactor, startEnrollment } from '../../../services/enrollment-service.ts';
import { checkStatus, signIn, stepUp, verify, type UserRef } from '../../../services/flow-service.ts';
import type { RequestContext } from '../../../services/risk.ts';
import { Code, Context, DecisionView, ErrorBody, FactorTypeSchema, FlowResult, Id, TenantRef, Text, UserFields } from './schemas.ts';

export type ApplicationAuthenticator = (request: FastifyRequest) => Promise<ApplicationRecord>;

const security = [{ clientCredentials: [] }];
const tags = ['application API'];

function userRefOf(body: { userId?: string; externalId?: string }): UserRef {
  if (body.userId !== undefined && body.externalId === undefined) return { userId: body.userId };
  if (body.externalId !== undefined && body.userId === undefined) return { externalId: body.externalId };
  throw new PortcullisError('INVALID_REQUEST', 'Give exactly one of userId or externalId.');
}

function contextOf(body: { context?: RequestContext }, request: FastifyRequest): RequestContext {
  return {
    ip: body.context?.ip ?? request.ip,
    userAgent: body.context?.userAgent ?? null,
    deviceId: body.context?.deviceId ?? null,
  };
}

/**
 * The services' dependencies for one request: its logger is the request's child logger, so that a service's lines
 * (the decision line above all) carry the request id an operator follows from the access log.
 */
function depsOf(deps: ServiceDeps, request: FastifyRequest): ServiceDeps {
  return { ...deps, logger: request.log };
}

/** ZewstID's block answer: 403 `access_denied` with a generic message; the score stays in audit. */
async function withBlock<T>(reply: FastifyReply, run: () => Promise<T>): Promise<T | FastifyReply> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof PortcullisError && error.code === 'ACCESS_DENIED_RISK') {
      return reply.code(403).send({ error: 'access_denied', error_description: error.message, message: error.message });
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
const VerifyBody = Type.Object({ mfaSessionId: Text({ minLength: 1, maxLength: 256 }), method: FactorTypeSchema, code: Code }, { additionalProperties: false });
const StepUpBody = Type.Object(
  {
    tenant: TenantRef,
    ...UserFields,
    action: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9_.:-]*$' }),
    maxAgeSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })),
    context: Type.Optional(Context),
  },
  { additionalProperties: false },
);
const SessionBody = Type.Object({ mfaSessionId: Text({ minLength: 1, maxLength: 256 }), label: Type.Optional(Text({ minLength: 1, maxLength: 64 })) }, { additionalProperties: false });
const ConfirmBody = Type.Object({ mfaSessionId: Text({ minLength: 1, maxLength: 256 }), factorId: Id, code: Code }, { additionalProperties: false });
const EnrollmentBody = Type.Object({ tenant: TenantRef, ...UserFields, context: Type.Optional(Context) }, { additionalProperties: false });

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 410: ErrorBody, 429: ErrorBody };

/**
 * The application-facing API (headless integration): sign-in, MFA status, verification, step-up and enrollment.
 * Routes are thin: authenticate the client, validate, call one service. Every path that can end in
 * `authenticated` goes through `evaluate` → core `decide`.
 */
export async function registerAuthRoutes(parent: FastifyInstance, deps: ServiceDeps, authenticate: ApplicationAuthenticator): Promise<void> {
  await parent.register(async (app) => registerInScope(app, deps, authenticate));
}

async function registerInScope(app: FastifyInstance, deps: ServiceDeps, authenticate: ApplicationAuthenticator): Promise<void> {
  // The client is authenticated on `onRequest`, before the body is read or validated: an unauthenticated caller
  // gets 401 whatever it sends and learns nothing from validation errors (as the admin scope does).
  const authenticated = new WeakMap<FastifyRequest, ApplicationRecord>();
  app.addHook('onRequest', async (request, reply) => {
    try {
      authenticated.set(request, await authenticate(request));
    } catch (error) {
      if (error instanceof PortcullisError && error.code === 'UNAUTHORIZED') void reply.header('www-authenticate', 'Basic realm="portcullis"');
      throw error;
    }
  });
  const caller = async (request: FastifyRequest): Promise<{ application: ApplicationRecord }> => {
    const application = authenticated.get(request);
    // Unreachable while the hook above runs first; a wiring mistake fails closed.
    if (application === undefined) throw new PortcullisError('UNAUTHORIZED', 'Client credentials are required.');
    return { application };
  };

  app.post('/auth/signin', { schema: { tags, security, summary: 'Password sign-in, then the MFA decision', body: SigninBody, response: { 200: FlowResult, ...errors } } }, async (request, reply) => {
    const body = request.body as Static<typeof SigninBody>;
    const who = await caller(request);
    return withBlock(reply, () => signIn(depsOf(deps, request), who, { tenant: body.tenant, identifier: body.identifier, password: body.password, context: contextOf(body, request) }));
  });

  const StatusCheckResponse = Type.Object({
    mfaRequired: Type.Boolean(),
    mfaSessionId: Type.Union([Type.String(), Type.Null()]),
    methods: Type.Array(FactorTypeSchema),
    recovery: Type.Boolean(),
    enrollmentRequired: Type.Boolean(),
    enrollOptions: Type.Array(FactorTypeSchema),
    grace: Type.Union([Type.Object({ active: Type.Boolean(), endsAt: Type.String() }), Type.Null()]),
    riskScore: Type.Union([Type.Number(), Type.Null()]),
    decision: DecisionView,
  });
  app.post('/auth/mfa/status/check', { schema: { tags, security, summary: 'Does this sign-in need MFA?', body: StatusCheckBody, response: { 200: StatusCheckResponse, ...errors } } }, async (request, reply) => {
    const body = request.body as Static<typeof StatusCheckBody>;
    const who = await caller(request);
    return withBlock(reply, async () => {
      const flow = await checkStatus(depsOf(deps, request), who, { tenant: body.tenant, user: userRefOf(body), context: contextOf(body, request) });
      return {
        mfaRequired: flow.status !== 'authenticated',
        mfaSessionId: flow.status === 'authenticated' ? null : flow.mfaSessionId,
        methods: flow.status === 'authenticated' ? [] : flow.methods,
        recovery: flow.status === 'mfa_required' ? flow.recovery : false,
        enrollmentRequired: flow.status === 'enrollment_required',
        enrollOptions: flow.status === 'enrollment_required' ? flow.enrollOptions : [],
        grace: flow.decision.grace,
        riskScore: flow.decision.riskScore,
        decision: flow.decision,
      };
    });
  });

  app.get('/auth/mfa/status', { schema: { tags, security, summary: "A user's enrolled factors", querystring: UserQuery, response: { ...errors } } }, async (request) => {
    const query = request.query as Static<typeof UserQuery>;
    await caller(request);
    return mfaStatus(depsOf(deps, request), { tenant: query.tenant, user: userRefOf(query) });
  });

  app.post('/auth/mfa/verify', { schema: { tags, security, summary: 'Answer an MFA challenge', body: VerifyBody, response: { ...errors } } }, async (request, reply) => {
    const body = request.body as Static<typeof VerifyBody>;
    const who = await caller(request);
    return withBlock(reply, () => verify(depsOf(deps, request), who, body));
  });

  app.post('/auth/mfa/step-up', { schema: { tags, security, summary: 'Step-up for a sensitive action', body: StepUpBody, response: { ...errors } } }, async (request, reply) => {
    const body = request.body as Static<typeof StepUpBody>;
    const who = await caller(request);
    return withBlock(reply, () =>
      stepUp(depsOf(deps, request), who, { tenant: body.tenant, user: userRefOf(body), action: body.action, context: contextOf(body, request), ...(body.maxAgeSeconds === undefined ? {} : { maxAgeSeconds: body.maxAgeSeconds }) }),
    );
  });

  app.post('/auth/mfa/enrollment', { schema: { tags, security, summary: 'Open a voluntary enrollment session', body: EnrollmentBody, response: { ...errors } } }, async (request) => {
    const body = request.body as Static<typeof EnrollmentBody>;
    return startEnrollment(depsOf(deps, request), await caller(request), { tenant: body.tenant, user: userRefOf(body), context: contextOf(body, request) });
  });

  app.post('/auth/mfa/enroll/totp', { schema: { tags, security, summary: 'Begin TOTP enrollment in an MFA session', body: SessionBody, response: { ...errors } } }, async (request) => {
    const body = request.body as Static<typeof SessionBody>;
    return beginTotpEnrollment(depsOf(deps, request), await caller(request), body.label === undefined ? { mfaSessionId: body.mfaSessionId } : { mfaSessionId: body.mfaSessionId, label: body.label });
  });

  app.post('/auth/mfa/enroll/totp/confirm', { schema: { tags, security, summary: 'Confirm TOTP with a first code; recovery codes are returned once', body: ConfirmBody, response: { ...errors } } }, async (request, reply) => {
    const body = request.body as Static<typeof ConfirmBody>;
    const who = await caller(request);
    return withBlock(reply, () => confirmTotpEnrollment(depsOf(deps, request), who, body));
  });

  app.post('/auth/mfa/recovery-codes', { schema: { tags, security, summary: 'Regenerate recovery codes (needs a recent MFA)', body: UserQuery, response: { ...errors } } }, async (request) => {
    const body = request.body as Static<typeof UserQuery>;
    return regenerateRecoveryCodes(depsOf(deps, request), await caller(request), { tenant: body.tenant, user: userRefOf(body) });
  });

  const FactorParams = Type.Object({ factorId: Id });
  app.delete('/auth/mfa/factors/:factorId', { schema: { tags, security, summary: 'Remove one of the user’s factors (needs a recent MFA)', params: FactorParams, querystring: UserQuery, response: { ...errors } } }, async (request) => {
    const query = request.query as Static<typeof UserQuery>;
    const params = request.params as Static<typeof FactorParams>;
    return removeOwnFactor(depsOf(deps, request), await caller(request), { tenant: query.tenant, user: userRefOf(query), factorId: params.factorId });
  });
}
