/**
 * Mounts the OpenID Connect provider under `/oidc` and its hosted pages under `/interaction`, at the root of the
 * Fastify app (outside `/api/v1`).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PortcullisApp } from '../app.ts';
import { PAGES_CSP } from '../pages/render.ts';
import { registerInteractionRoutes } from './interactions.ts';
import { createOidcProvider, OIDC_PREFIX, type OidcOptions, type OidcProvider } from './provider.ts';

export { OIDC_PREFIX } from './provider.ts';

/**
 * Registers the provider and the pages; returns the provider (tests and the demo read its issuer).
 *
 * @example
 * const oidc = await registerOidcRoutes(app, { deps, signer, payloads, clients, publicUrl, macKey });
 */
export async function registerOidcRoutes(app: PortcullisApp, options: OidcOptions): Promise<OidcProvider> {
  const oidc = createOidcProvider(options);
  await app.register(async (scope) => {
    // The provider parses its own bodies (form posts to /token, /session/end/confirm): leave the stream unread.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
    const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const raw = request.raw as typeof request.raw & { originalUrl?: string };
      raw.originalUrl = raw.url;
      raw.url = (raw.url ?? '/').slice(OIDC_PREFIX.length) || '/';
      // The provider's own pages (logout, errors) are ours in our layout: the same policy as the hosted pages.
      reply.raw.setHeader('content-security-policy', PAGES_CSP);
      reply.raw.setHeader('x-content-type-options', 'nosniff');
      reply.raw.setHeader('referrer-policy', 'no-referrer');
      reply.hijack();
      await oidc.handle(raw, reply.raw);
    };
    scope.all(`${OIDC_PREFIX}/*`, { schema: { hide: true }, helmet: false }, handler);
  });
  await registerInteractionRoutes(app, options, oidc);
  return oidc;
}
