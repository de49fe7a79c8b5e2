/** `GET /tenants/{tenantId}/audit` (and the platform log at `GET /audit`). */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServiceDeps } from '../../../services/deps.ts';
import { listPlatformAudit, listTenantAudit, type AuditQuery as ServiceQuery } from '../../../services/admin/audit.ts';
import { parseInstant } from '../../../services/admin/validate.ts';
import { actorOf, params, query, responses, security, TAGS } from './common.ts';
import { AuditEvent, AuditQuery, pageOf as pageSchema, TenantParams } from './schemas.ts';
import { viewAudit } from '../../../services/admin/views.ts';

const tags = [TAGS.audit];

type RawQuery = { event?: string; userId?: string; applicationId?: string; from?: string; to?: string; cursor?: string; limit?: number };

function auditQuery(request: FastifyRequest): ServiceQuery {
  const q = query<RawQuery>(request);
  return {
    ...(q.event === undefined ? {} : { event: q.event }),
    ...(q.userId === undefined ? {} : { userId: q.userId }),
    ...(q.applicationId === undefined ? {} : { applicationId: q.applicationId }),
    ...(q.from === undefined ? {} : { from: parseInstant(q.from, 'from') }),
    ...(q.to === undefined ? {} : { to: parseInstant(q.to, 'to') }),
    ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
    ...(q.limit === undefined ? {} : { limit: q.limit }),
  };
}

const description =
  '`event` takes event names (mfa.policy_updated, user.mfa_failed, …) and AxisSynapse codes (TENANT_MFA_POLICY_UPDATED, ACCOUNT_MFA_DEVICE_REVOKED, …), comma-separated; an unknown name answers 400. Newest first; pass `nextCursor` as `cursor` for the next page. `from` is inclusive, `to` exclusive.';

/** Registers the audit routes on the admin scope. */
export async function registerAuditRoutes(app: FastifyInstance, deps: ServiceDeps): Promise<void> {
  app.get(
    '/tenants/:tenantId/audit',
    { schema: { tags, security, summary: 'A tenant’s audit log, filtered and paged', description, params: TenantParams, querystring: AuditQuery, response: responses({ 200: pageSchema(AuditEvent) }) } },
    async (request) => {
      const page = await listTenantAudit(deps, actorOf(request), params<{ tenantId: string }>(request).tenantId, auditQuery(request));
      return { items: page.items.map(viewAudit), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/audit',
    {
      schema: {
        tags,
        security,
        summary: 'The platform audit log: applications, application policies (platform admin)',
        description,
        querystring: AuditQuery,
        response: responses({ 200: pageSchema(AuditEvent) }),
      },
    },
    async (request) => {
      const page = await listPlatformAudit(deps, actorOf(request), auditQuery(request));
      return { items: page.items.map(viewAudit), nextCursor: page.nextCursor };
    },
  );
}
