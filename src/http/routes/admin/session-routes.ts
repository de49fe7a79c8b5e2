/** A user's login sessions (list, revoke) and which applications serve a tenant (assign, withdraw, list). */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { assignApplication, listApplicationTenants, listTenantApplications, unassignApplication } from '../../../services/admin/applications.ts';
import type { ServiceDeps } from '../../../services/deps.ts';
import { listUserSessions, revokeUserSessions } from '../../../services/session-service.ts';
import { SessionListing } from '../auth/schemas.ts';
import { actorOf, params, responses, security, TAGS } from './common.ts';
import { Application, ApplicationParams, Id, TenantApplicationParams, TenantParams, UserParams } from './schemas.ts';
import { viewApplication } from '../../../services/admin/views.ts';

type UserPath = { tenantId: string; userId: string };
const SessionParams = Type.Object({ tenantId: Id, userId: Id, sessionId: Id }, { additionalProperties: false });
const Revoked = Type.Object({ revoked: Type.Integer() });

/** Registers the session and tenant-assignment routes on the admin scope. */
export async function registerSessionRoutes(app: FastifyInstance, deps: ServiceDeps): Promise<void> {
  const tags = [TAGS.users];
  app.get(
    '/tenants/:tenantId/users/:userId/sessions',
    { schema: { tags, security, summary: 'A user’s live login sessions, at every application', params: UserParams, response: responses({ 200: Type.Object({ sessions: Type.Array(SessionListing) }) }) } },
    async (request) => {
      const { tenantId, userId } = params<UserPath>(request);
      return listUserSessions(deps, actorOf(request), tenantId, userId);
    },
  );
  app.delete(
    '/tenants/:tenantId/users/:userId/sessions',
    { schema: { tags, security, summary: 'Revoke every live session of a user (audited)', params: UserParams, response: responses({ 200: Revoked }) } },
    async (request) => {
      const { tenantId, userId } = params<UserPath>(request);
      return revokeUserSessions(deps, actorOf(request), tenantId, userId, null);
    },
  );
  app.delete(
    '/tenants/:tenantId/users/:userId/sessions/:sessionId',
    { schema: { tags, security, summary: 'Revoke one session of a user (audited)', params: SessionParams, response: responses({ 200: Revoked }) } },
    async (request) => {
      const { tenantId, userId, sessionId } = params<UserPath & { sessionId: string }>(request);
      return revokeUserSessions(deps, actorOf(request), tenantId, userId, sessionId);
    },
  );

  const appTags = [TAGS.applications];
  app.get(
    '/tenants/:tenantId/applications',
    { schema: { tags: appTags, security, summary: 'The applications assigned to a tenant (those with allTenants serve it too)', params: TenantParams, response: responses({ 200: Type.Object({ items: Type.Array(Application) }) }) } },
    async (request) => ({ items: (await listTenantApplications(deps, actorOf(request), params<{ tenantId: string }>(request).tenantId)).map(viewApplication) }),
  );
  app.put(
    '/tenants/:tenantId/applications/:applicationId',
    { schema: { tags: appTags, security, summary: 'Let an application act for this tenant (a tenant admin may, for its own tenant)', params: TenantApplicationParams, response: responses({ 200: Type.Object({ assigned: Type.Boolean(), application: Application }) }) } },
    async (request) => {
      const { tenantId, applicationId } = params<{ tenantId: string; applicationId: string }>(request);
      const { application, assigned } = await assignApplication(deps, actorOf(request), tenantId, applicationId);
      return { assigned, application: viewApplication(application) };
    },
  );
  app.delete(
    '/tenants/:tenantId/applications/:applicationId',
    { schema: { tags: appTags, security, summary: 'Withdraw an application from this tenant: its credentials then answer here as for no tenant', params: TenantApplicationParams, response: responses({ 204: { type: 'null' } }) } },
    async (request, reply) => {
      const { tenantId, applicationId } = params<{ tenantId: string; applicationId: string }>(request);
      await unassignApplication(deps, actorOf(request), tenantId, applicationId);
      return reply.code(204).send();
    },
  );
  app.get(
    '/applications/:applicationId/tenants',
    { schema: { tags: appTags, security, summary: 'The tenants an application is assigned to (platform admin)', params: ApplicationParams, response: responses({ 200: Type.Object({ tenantIds: Type.Array(Type.String()) }) }) } },
    async (request) => ({ tenantIds: await listApplicationTenants(deps, actorOf(request), params<{ applicationId: string }>(request).applicationId) }),
  );
}
