/**
 * `/.well-known/jwks.json`: the public keys that verify signed sign-in results (and, later, the OIDC provider's
 * tokens). Public and unauthenticated; mounted at the root, outside `/api/v1`, where verifiers look for it.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ResultSigner } from '../../services/signing-keys.ts';
import type { WebauthnConfig } from '../../config.ts';
import { relatedOrigins } from '../../services/webauthn-settings.ts';

/** The WebAuthn Related Origin Requests document (one passkey across a tenant's domains). */
export const WEBAUTHN_RELATED_ORIGINS_PATH = '/.well-known/webauthn';

/** The path of the key set. */
export const JWKS_PATH = '/.well-known/jwks.json';

/**
 * How long a verifier or proxy may cache the key set. Short, because a rotation makes new tokens carry a new kid
 * at once: a verifier meeting an unknown kid should fetch again (jose's `createRemoteJWKSet` does).
 */
export const JWKS_MAX_AGE_SECONDS = 60;

const PublicJwkSchema = Type.Object({
  kty: Type.String(),
  crv: Type.Optional(Type.String()),
  x: Type.Optional(Type.String()),
  y: Type.Optional(Type.String()),
  kid: Type.String(),
  alg: Type.String(),
  use: Type.Literal('sig'),
});
const JwkSetSchema = Type.Object({ keys: Type.Array(PublicJwkSchema) });

/**
 * Registers `GET /.well-known/jwks.json` on the root instance (not the `/api/v1` scope). Answers
 * `application/jwk-set+json` (RFC 7517 §8.5.1), cacheable for {@link JWKS_MAX_AGE_SECONDS}, readable cross-origin
 * (public keys only).
 *
 * @example
 * await registerWellKnownRoutes(app, signer, deps.now);
 * const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' }); // 200 { keys: [{ kty: 'EC', kid, … }] }
 */
export async function registerWellKnownRoutes(app: FastifyInstance, signer: Pick<ResultSigner, 'jwks'>, now: () => number, webauthn?: WebauthnConfig): Promise<void> {
  if (webauthn !== undefined) {
    const origins = relatedOrigins(webauthn);
    // WebAuthn Level 3 §5.11: a browser asked to use this RP id from another origin fetches this list from the RP id's
    // host; every origin on it may run ceremonies for passkeys bound to the server's RP id.
    app.get(
      WEBAUTHN_RELATED_ORIGINS_PATH,
      { schema: { tags: ['operations'], summary: 'WebAuthn related origins: the origins that may use passkeys of this RP id', response: { 200: Type.Object({ origins: Type.Array(Type.String()) }) } } },
      async (_request, reply) => reply.header('cache-control', 'public, max-age=300').header('access-control-allow-origin', '*').type('application/json').send({ origins }),
    );
  }
  app.get(
    JWKS_PATH,
    {
      schema: {
        tags: ['operations'],
        summary: 'The public keys (JWK Set) that verify signed sign-in results',
        response: { 200: JwkSetSchema },
      },
    },
    async (_request, reply) => {
      const set = await signer.jwks(now());
      return reply
        .header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`)
        .header('access-control-allow-origin', '*')
        .header('cross-origin-resource-policy', 'cross-origin')
        .type('application/jwk-set+json')
        .send(set);
    },
  );
}
