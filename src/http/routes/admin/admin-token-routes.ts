/** `/admin-tokens`: create (token shown once), list, delete. */
import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../../../services/deps.ts';
import { createAdminToken, deleteAdminToken, listAdminTokens } from '../../../services/admin/admin-tokens.ts';
import { actorOf, body, pageOf, params, query, responses, security, TAGS } from './common.ts';
import { AdminToken, AdminTokenQuery, AdminTokenWithSecret, NewAdminTokenBody, pageOf as pageSchema, TokenParams } from './schemas.ts';
import { viewAdminToken } from '../../../services/admin/views.ts';

const tags = [TAGS.tokens];

/** Registers the admin token routes on the admin scope. */
export async function registerAdminTokenRoutes(app: FastifyInstance, deps: ServiceDeps): Promise<void> {
  app.post(
    '/admin-tokens',
    {
      schema: {
        tags,
        security,
        summary: 'Create an admin token, platform-wide or for one tenant; the token is in this answer only',
        body: NewAdminTokenBody,
        response: responses({ 201: AdminTokenWithSecret }),
      },
    },
    async (request, reply) => {
      const { record, token } = await createAdminToken(deps, actorOf(request), body<{ label: string; tenantId?: string | null }>(request));
      return reply.code(201).send({ ...viewAdminToken(record), token });
    },
  );

  app.get(
    '/admin-tokens',
    { schema: { tags, security, summary: 'List admin tokens (never the tokens themselves)', querystring: AdminTokenQuery, response: responses({ 200: pageSchema(AdminToken) }) } },
    async (request) => {
      const q = query<{ cursor?: string; limit?: number; tenantId?: string }>(request);
      const page = await listAdminTokens(deps, actorOf(request), { ...pageOf(q), ...(q.tenantId === undefined ? {} : { tenantId: q.tenantId }) });
      return { items: page.items.map(viewAdminToken), nextCursor: page.nextCursor };
    },
  );

  app.delete(
    '/admin-tokens/:tokenId',
    { schema: { tags, security, summary: 'Revoke an admin token (not the last platform token)', params: TokenParams, response: responses({ 204: { type: 'null' } }) } },
    async (request, reply) => {
      await deleteAdminToken(deps, actorOf(request), params<{ tokenId: string }>(request).tokenId);
      return reply.code(204).send();
    },
  );
}
