/** `/applications/{applicationId}/oidc`: an application's OpenID Connect redirect URIs (platform admin). */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../../../services/deps.ts';
import { getOidcClient, MAX_REDIRECT_URIS, putOidcClient } from '../../../services/admin/oidc-clients.ts';
import type { OidcClientRepository } from '../../../store/index.ts';
import { actorOf, body, params, responses, security, TAGS } from './common.ts';
import { ApplicationParams } from './schemas.ts';

const Uris = Type.Array(Type.String({ minLength: 1, maxLength: 2000 }), { maxItems: MAX_REDIRECT_URIS });
const OidcClient = Type.Object({ applicationId: Type.String(), redirectUris: Uris, postLogoutRedirectUris: Uris });
const OidcClientBody = Type.Object({ redirectUris: Uris, postLogoutRedirectUris: Type.Optional(Uris) }, { additionalProperties: false });

/** Registers the routes on the admin scope. */
export async function registerOidcClientRoutes(app: FastifyInstance, deps: ServiceDeps, clients: OidcClientRepository): Promise<void> {
  const tags = [TAGS.applications];
  app.get(
    '/applications/:applicationId/oidc',
    { schema: { tags, security, summary: 'Read the OIDC redirect URIs of an application', params: ApplicationParams, response: responses({ 200: OidcClient }) } },
    async (request) => getOidcClient(deps, clients, actorOf(request), params<{ applicationId: string }>(request).applicationId),
  );
  app.put(
    '/applications/:applicationId/oidc',
    {
      schema: {
        tags,
        security,
        summary: 'Set the OIDC redirect URIs of an application (https, http on loopback, or a private-use scheme; exact match)',
        params: ApplicationParams,
        body: OidcClientBody,
        response: responses({ 200: OidcClient }),
      },
    },
    async (request) => putOidcClient(deps, clients, actorOf(request), params<{ applicationId: string }>(request).applicationId, body<{ redirectUris: string[]; postLogoutRedirectUris?: string[] }>(request)),
  );
}
