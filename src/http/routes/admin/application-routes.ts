/** `/applications`, `/applications/{applicationId}` and its secret rotation. */
import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../../../services/deps.ts';
import {
  createApplication,
  deleteApplication,
  getApplication,
  listApplications,
  rotateClientSecret,
  updateApplication,
  type ApplicationPatchInput,
  type NewApplicationInput,
} from '../../../services/admin/applications.ts';
import { actorOf, body, pageOf, params, query, responses, security, TAGS } from './common.ts';
import { Application, ApplicationParams, ApplicationPatchBody, ApplicationWithSecret, NewApplicationBody, PageQuery, pageOf as pageSchema, SavedPolicy } from './schemas.ts';
import { viewApplication, viewSaved } from '../../../services/admin/views.ts';
import { Type } from '@sinclair/typebox';

const tags = [TAGS.applications];

const ApplicationUpdate = Type.Object({ ...Application.properties, policy: Type.Optional(SavedPolicy) });

/** Registers the application routes on the admin scope. */
export async function registerApplicationRoutes(app: FastifyInstance, deps: ServiceDeps): Promise<void> {
  app.post(
    '/applications',
    {
      schema: {
        tags,
        security,
        summary: 'Register an application (platform admin); the client secret is in this answer only',
        body: NewApplicationBody,
        response: responses({ 201: ApplicationWithSecret }),
      },
    },
    async (request, reply) => {
      const { application, clientSecret } = await createApplication(deps, actorOf(request), body<NewApplicationInput>(request));
      return reply.code(201).send({ ...viewApplication(application), clientSecret });
    },
  );

  app.get(
    '/applications',
    { schema: { tags, security, summary: 'List applications (no secrets)', querystring: PageQuery, response: responses({ 200: pageSchema(Application) }) } },
    async (request) => {
      const page = await listApplications(deps, actorOf(request), pageOf(query(request)));
      return { items: page.items.map(viewApplication), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/applications/:applicationId',
    { schema: { tags, security, summary: 'Read an application (no secret)', params: ApplicationParams, response: responses({ 200: Application }) } },
    async (request) => viewApplication(await getApplication(deps, actorOf(request), params<{ applicationId: string }>(request).applicationId)),
  );

  app.patch(
    '/applications/:applicationId',
    {
      schema: {
        tags,
        security,
        summary: 'Change an application (platform admin); accepts ZewstID’s {"mfaPolicy":"always|smart|never"}',
        description: '`mfaPolicy` saves a new application policy version whose `challenge` is always, adaptive (smart) or never; the answer then carries `policy`.',
        params: ApplicationParams,
        body: ApplicationPatchBody,
        response: responses({ 200: ApplicationUpdate }),
      },
    },
    async (request) => {
      const { application, policy } = await updateApplication(deps, actorOf(request), params<{ applicationId: string }>(request).applicationId, body<ApplicationPatchInput>(request));
      return { ...viewApplication(application), ...(policy === null ? {} : { policy: viewSaved(policy) }) };
    },
  );

  app.post(
    '/applications/:applicationId/secret',
    { schema: { tags, security, summary: 'Rotate the client secret (platform admin); the old one stops working now', params: ApplicationParams, response: responses({ 200: ApplicationWithSecret }) } },
    async (request) => {
      const { application, clientSecret } = await rotateClientSecret(deps, actorOf(request), params<{ applicationId: string }>(request).applicationId);
      return { ...viewApplication(application), clientSecret };
    },
  );

  app.delete(
    '/applications/:applicationId',
    { schema: { tags, security, summary: 'Delete an application and its policy layers (platform admin)', params: ApplicationParams, response: responses({ 204: { type: 'null' } }) } },
    async (request, reply) => {
      await deleteApplication(deps, actorOf(request), params<{ applicationId: string }>(request).applicationId);
      return reply.code(204).send();
    },
  );
}
