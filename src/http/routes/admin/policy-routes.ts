/**
 * Policy layers: `GET|PUT` at the application, tenant and tenant×application levels, the per-user override, the
 * resolved view and the preview.
 *
 * PUT bodies are documented field by field (PolicyPutBody), but their values are judged by core
 * `validatePolicyLayer` first, so a bad policy answers 400 `INVALID_POLICY` with `errors: [{ field, message }]`
 * worded by the same code that the CLI and the engine use. Only what core does not judge (`effectiveAt`, the
 * shape of the preview request) is left to the schema (400 `INVALID_REQUEST`).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServiceDeps } from '../../../services/deps.ts';
import {
  checkLayer,
  getPolicy,
  getUserOverride,
  removeUserOverride,
  resolvedPolicy,
  savePolicy,
  setUserOverride,
  type AdminPolicyScope,
  type SavePolicyInput,
} from '../../../services/admin/policies.ts';
import { previewTenantPolicy } from '../../../services/admin/policy-preview.ts';
import { clearShadowPolicy, getShadowPolicy, saveShadowPolicy, summarizeShadowDiffs } from '../../../services/admin/shadow-policy.ts';
import { parseInstant } from '../../../services/admin/validate.ts';
import { actorOf, body, params, query, responses, security, TAGS } from './common.ts';
import {
  ApplicationParams,
  PolicyHistory,
  PolicyLayer,
  PolicyPutBody,
  RolloutQuery,
  PreviewBody,
  PreviewResult,
  ResolvedPolicy,
  ResolvedQuery,
  SavedPolicy,
  TenantApplicationParams,
  TenantParams,
  UserOverride,
  UserOverrideBody,
  UserParams,
} from './schemas.ts';
import { viewHistory, viewOverride, viewPreview, viewResolved, viewSaved } from '../../../services/admin/views.ts';
import { Type } from '@sinclair/typebox';

const tags = [TAGS.policies];

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Rethrows a schema error of the path or query first (they come before the body). */
function rethrowNonBody(request: FastifyRequest): void {
  const error = request.validationError as (Error & { validationContext?: string }) | undefined;
  if (error !== undefined && error.validationContext !== 'body') throw error;
}

/** A PUT body → the service input: core judges the layer, then the schema judges the rest. */
function policyInput(request: FastifyRequest): SavePolicyInput {
  rethrowNonBody(request);
  const raw: unknown = request.body;
  let layer: unknown = raw;
  let effectiveAt: unknown;
  if (isPlainObject(raw)) {
    const { effectiveAt: at, ...rest } = raw;
    layer = rest;
    effectiveAt = at;
  }
  const checked = checkLayer(layer);
  if (request.validationError !== undefined) throw request.validationError;
  return { layer: checked, ...(typeof effectiveAt === 'string' ? { effectiveAt: parseInstant(effectiveAt, 'effectiveAt') } : {}) };
}

const putSchema = (summary: string, paramsSchema: unknown, rollout = false): object => ({
  tags,
  security,
  summary,
  description:
    'The body is the whole layer (fields left out are inherited) plus an optional `effectiveAt` to announce the change ahead. Each save is a new version. A bad value answers 400 INVALID_POLICY with `errors: [{ field, message }]`.' +
    (rollout ? ' `?noncompliant=revoke_sessions` (in force now only) also ends the live sessions of users the new version walls; `wall` (the default) leaves them to the enrollment wall at their next sign-in.' : ''),
  params: paramsSchema,
  ...(rollout ? { querystring: RolloutQuery } : {}),
  body: PolicyPutBody,
  response: responses({ 200: SavedPolicy }),
});

const getSchema = (summary: string, paramsSchema: unknown): object => ({ tags, security, summary, params: paramsSchema, response: responses({ 200: PolicyHistory }) });

/** Registers the policy routes on the admin scope. */
export async function registerPolicyRoutes(app: FastifyInstance, deps: ServiceDeps): Promise<void> {
  const layerRoutes: { path: string; what: string; params: unknown; scope: (p: Record<string, string>) => AdminPolicyScope }[] = [
    { path: '/applications/:applicationId/policy', what: 'the application layer (PUT: platform admin)', params: ApplicationParams, scope: (p) => ({ level: 'application', applicationId: p.applicationId ?? '' }) },
    { path: '/tenants/:tenantId/policy', what: 'the tenant layer', params: TenantParams, scope: (p) => ({ level: 'tenant', tenantId: p.tenantId ?? '' }) },
    {
      path: '/tenants/:tenantId/applications/:applicationId/policy',
      what: 'the tenant×application layer',
      params: TenantApplicationParams,
      scope: (p) => ({ level: 'tenant_application', tenantId: p.tenantId ?? '', applicationId: p.applicationId ?? '' }),
    },
  ];
  for (const route of layerRoutes) {
    app.get(route.path, { schema: getSchema(`The version in force and the history of ${route.what}`, route.params) }, async (request) =>
      viewHistory(await getPolicy(deps, actorOf(request), route.scope(params(request)))),
    );
    const rollout = route.path === '/tenants/:tenantId/policy';
    app.put(route.path, { schema: putSchema(`Save a new version of ${route.what}`, route.params, rollout), attachValidation: true }, async (request) => {
      const input = policyInput(request);
      const mode = rollout ? query<{ noncompliant?: 'wall' | 'revoke_sessions' }>(request).noncompliant : undefined;
      return viewSaved(await savePolicy(deps, actorOf(request), route.scope(params(request)), mode === undefined ? input : { ...input, noncompliant: mode }));
    });
  }

  app.get(
    '/tenants/:tenantId/applications/:applicationId/policy/resolved',
    {
      schema: {
        tags,
        security,
        summary: 'The policy the next decision would use: every field’s value and the layer it came from',
        params: TenantApplicationParams,
        querystring: ResolvedQuery,
        response: responses({ 200: ResolvedPolicy }),
      },
    },
    async (request) => {
      const { tenantId, applicationId } = params<{ tenantId: string; applicationId: string }>(request);
      const { userId } = query<{ userId?: string }>(request);
      const view = await resolvedPolicy(deps, actorOf(request), tenantId, applicationId, userId);
      return viewResolved(tenantId, view.application.id, userId ?? null, view.at, view.policy);
    },
  );

  const ShadowView = Type.Object({ tenantId: Type.String(), layer: Type.Union([PolicyLayer, Type.Null()]), savedAt: Type.Union([Type.Integer(), Type.Null()]), savedBy: Type.Union([Type.String(), Type.Null()]) });
  const shadowPath = '/tenants/:tenantId/policy/shadow';
  app.get(shadowPath, { schema: { tags, security, summary: 'The tenant’s shadow (report-only) policy, if any', params: TenantParams, response: responses({ 200: ShadowView }) } }, async (request) =>
    getShadowPolicy(deps, actorOf(request), params<{ tenantId: string }>(request).tenantId),
  );
  app.put(
    shadowPath,
    {
      schema: {
        tags,
        security,
        summary: 'Save a draft tenant layer as the shadow policy: every live decision is also evaluated with it, differences audited as mfa.shadow_diff, nothing enforced',
        params: TenantParams,
        body: Type.Object({ layer: PolicyLayer }, { additionalProperties: false }),
        response: responses({ 200: ShadowView }),
      },
      attachValidation: true,
    },
    async (request) => {
      rethrowNonBody(request);
      const raw: unknown = request.body;
      if (isPlainObject(raw) && 'layer' in raw) checkLayer(raw.layer, 'layer');
      if (request.validationError !== undefined) throw request.validationError;
      return saveShadowPolicy(deps, actorOf(request), params<{ tenantId: string }>(request).tenantId, body<{ layer: unknown }>(request).layer);
    },
  );
  app.delete(shadowPath, { schema: { tags, security, summary: 'Stop shadow evaluation (recorded differences stay)', params: TenantParams, response: responses({ 200: Type.Object({ removed: Type.Boolean() }) }) } }, async (request) =>
    clearShadowPolicy(deps, actorOf(request), params<{ tenantId: string }>(request).tenantId),
  );
  app.get(
    `${shadowPath}/diffs`,
    {
      schema: {
        tags,
        security,
        summary: 'How many live decisions the shadow policy would have changed, by transition and deciding reason',
        params: TenantParams,
        querystring: Type.Object({ from: Type.Optional(Type.String({ maxLength: 40 })) }, { additionalProperties: false }),
        response: responses({
          200: Type.Object({
            tenantId: Type.String(),
            total: Type.Integer(),
            from: Type.Union([Type.Integer(), Type.Null()]),
            transitions: Type.Array(Type.Object({ from: Type.String(), to: Type.String(), count: Type.Integer(), reasons: Type.Record(Type.String(), Type.Integer()) })),
          }),
        }),
      },
    },
    async (request) => {
      const q = query<{ from?: string }>(request);
      const from = q.from === undefined ? undefined : parseInstant(q.from, 'from');
      return summarizeShadowDiffs(deps, actorOf(request), params<{ tenantId: string }>(request).tenantId, from);
    },
  );

  app.post(
    '/tenants/:tenantId/policy/preview',
    {
      schema: {
        tags,
        security,
        summary: 'Preview a draft layer over the tenant’s real users (nothing is saved)',
        description: 'Counts and user ids per outcome and error code under the current and the draft policy, and who moves. Each user is assumed in a clean, known context (no risk signals).',
        params: TenantParams,
        body: PreviewBody,
        response: responses({ 200: PreviewResult }),
      },
      attachValidation: true,
    },
    async (request) => {
      rethrowNonBody(request);
      const raw: unknown = request.body;
      if (isPlainObject(raw) && 'draft' in raw) checkLayer(raw.draft, 'draft');
      if (request.validationError !== undefined) throw request.validationError;
      const input = body<{ applicationId: string; draft: unknown; scope?: 'tenant' | 'tenant_application' }>(request);
      return viewPreview(await previewTenantPolicy(deps, actorOf(request), params<{ tenantId: string }>(request).tenantId, input));
    },
  );

  app.get(
    '/tenants/:tenantId/users/:userId/policy',
    { schema: { tags, security, summary: 'The user’s override in force (enrollment, exemption), if any', params: UserParams, response: responses({ 200: UserOverride }) } },
    async (request) => {
      const { tenantId, userId } = params<{ tenantId: string; userId: string }>(request);
      return viewOverride(await getUserOverride(deps, actorOf(request), tenantId, userId));
    },
  );

  app.put(
    '/tenants/:tenantId/users/:userId/policy',
    {
      schema: {
        tags,
        security,
        summary: 'Set a per-user override: enrollment and/or an exemption, with a mandatory expiry',
        params: UserParams,
        body: UserOverrideBody,
        response: responses({ 200: UserOverride }),
      },
    },
    async (request) => {
      const { tenantId, userId } = params<{ tenantId: string; userId: string }>(request);
      const input = body<{ enrollment?: 'optional' | 'required'; exempt?: true; expiresAt: string }>(request);
      const view = await setUserOverride(deps, actorOf(request), tenantId, userId, {
        ...(input.enrollment === undefined ? {} : { enrollment: input.enrollment }),
        ...(input.exempt === undefined ? {} : { exempt: input.exempt }),
        expiresAt: parseInstant(input.expiresAt, 'expiresAt'),
      });
      return viewOverride(view);
    },
  );

  app.delete(
    '/tenants/:tenantId/users/:userId/policy',
    { schema: { tags, security, summary: 'End the user’s override now', params: UserParams, response: responses({ 200: Type.Object({ removed: Type.Boolean() }) }) } },
    async (request) => {
      const { tenantId, userId } = params<{ tenantId: string; userId: string }>(request);
      return removeUserOverride(deps, actorOf(request), tenantId, userId);
    },
  );
}
