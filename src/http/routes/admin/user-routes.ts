/** `/tenants/{tenantId}/users` and `/tenants/{tenantId}/users/{userId}`. */
import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../../../services/deps.ts';
import { createUser, deleteUser, getUser, listUsers, updateUser, type NewUserInput, type UserPatchInput } from '../../../services/admin/users.ts';
import { actorOf, body, pageOf, params, query, responses, security, TAGS } from './common.ts';
import { NewUserBody, PageQuery, pageOf as pageSchema, TenantParams, User, UserParams, UserPatchBody } from './schemas.ts';
import { viewUser } from '../../../services/admin/views.ts';

const tags = [TAGS.users];

type UserPath = { tenantId: string; userId: string };

/** Registers the user routes on the admin scope. */
export async function registerUserRoutes(app: FastifyInstance, deps: ServiceDeps): Promise<void> {
  app.post(
    '/tenants/:tenantId/users',
    { schema: { tags, security, summary: 'Create a user (the password is stored as an argon2id hash)', params: TenantParams, body: NewUserBody, response: responses({ 201: User }) } },
    async (request, reply) => {
      const user = await createUser(deps, actorOf(request), params<{ tenantId: string }>(request).tenantId, body<NewUserInput>(request));
      return reply.code(201).send(viewUser(user, deps.now()));
    },
  );

  app.get(
    '/tenants/:tenantId/users',
    { schema: { tags, security, summary: 'List a tenant’s users', params: TenantParams, querystring: PageQuery, response: responses({ 200: pageSchema(User) }) } },
    async (request) => {
      const page = await listUsers(deps, actorOf(request), params<{ tenantId: string }>(request).tenantId, pageOf(query(request)));
      const now = deps.now();
      return { items: page.items.map((u) => viewUser(u, now)), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/tenants/:tenantId/users/:userId',
    { schema: { tags, security, summary: 'Read a user', params: UserParams, response: responses({ 200: User }) } },
    async (request) => {
      const { tenantId, userId } = params<UserPath>(request);
      return viewUser(await getUser(deps, actorOf(request), tenantId, userId), deps.now());
    },
  );

  app.patch(
    '/tenants/:tenantId/users/:userId',
    { schema: { tags, security, summary: 'Change a user (email, phone, roles, externalId, password)', params: UserParams, body: UserPatchBody, response: responses({ 200: User }) } },
    async (request) => {
      const { tenantId, userId } = params<UserPath>(request);
      return viewUser(await updateUser(deps, actorOf(request), tenantId, userId, body<UserPatchInput>(request)), deps.now());
    },
  );

  app.delete(
    '/tenants/:tenantId/users/:userId',
    { schema: { tags, security, summary: 'Delete a user and their factors (audit stays)', params: UserParams, response: responses({ 204: { type: 'null' } }) } },
    async (request, reply) => {
      const { tenantId, userId } = params<UserPath>(request);
      await deleteUser(deps, actorOf(request), tenantId, userId);
      return reply.code(204).send();
    },
  );
}
