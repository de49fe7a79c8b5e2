/** `/tenants` and `/tenants/{tenantId}`. */
import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../../../services/deps.ts';
import { createTenant, deleteTenant, getTenant, listTenants, updateTenant, type NewTenantInput, type TenantPatchInput } from '../../../services/admin/tenants.ts';
import { actorOf, body, pageOf, params, query, responses, security, TAGS } from './common.ts';
import { NewTenantBody, PageQuery, pageOf as pageSchema, Tenant, TenantParams, TenantPatchBody } from './schemas.ts';
import { viewTenant } from '../../../services/admin/views.ts';

const tags = [TAGS.tenants];

/** Registers the tenant routes on the admin scope. */
export async function registerTenantRoutes(app: FastifyInstance, deps: ServiceDeps): Promise<void> {
  app.post(
    '/tenants',
    { schema: { tags, security, summary: 'Create a tenant (platform admin)', body: NewTenantBody, response: responses({ 201: Tenant }) } },
    async (request, reply) => reply.code(201).send(viewTenant(await createTenant(deps, actorOf(request), body<NewTenantInput>(request)))),
  );

  app.get(
    '/tenants',
    { schema: { tags, security, summary: 'List tenants (a tenant admin sees its own)', querystring: PageQuery, response: responses({ 200: pageSchema(Tenant) }) } },
    async (request) => {
      const page = await listTenants(deps, actorOf(request), pageOf(query(request)));
      return { items: page.items.map(viewTenant), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/tenants/:tenantId',
    { schema: { tags, security, summary: 'Read a tenant', params: TenantParams, response: responses({ 200: Tenant }) } },
    async (request) => viewTenant(await getTenant(deps, actorOf(request), params<{ tenantId: string }>(request).tenantId)),
  );

  app.patch(
    '/tenants/:tenantId',
    { schema: { tags, security, summary: 'Rename a tenant, or change its slug (platform admin)', params: TenantParams, body: TenantPatchBody, response: responses({ 200: Tenant }) } },
    async (request) => viewTenant(await updateTenant(deps, actorOf(request), params<{ tenantId: string }>(request).tenantId, body<TenantPatchInput>(request))),
  );

  app.delete(
    '/tenants/:tenantId',
    { schema: { tags, security, summary: 'Delete a tenant and everything it owns except its audit log (platform admin)', params: TenantParams, response: responses({ 204: { type: 'null' } }) } },
    async (request, reply) => {
      await deleteTenant(deps, actorOf(request), params<{ tenantId: string }>(request).tenantId);
      return reply.code(204).send();
    },
  );
}
