/**
 * Caller authentication for the API: admin bearer tokens and application client credentials.
 *
 * Both are hooks that throw `PortcullisError('UNAUTHORIZED')` (→ 401) and attach who the caller is to the
 * request. Register them as `onRequest` hooks, so an unauthenticated caller is refused before its body is even
 * parsed and learns nothing from validation errors; they also work as `preHandler`. A lookup that throws (the
 * database is down) propagates, and the error handler answers 503: never "allow" (SECURITY rule 7).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PortcullisError } from '../core/index.ts';
import { hashToken } from '../factors/tokens.ts';

/** An authenticated admin: the token's id (for audit, `admin:<tokenId>`) and its tenant (`null` = platform-wide). */
export interface AdminPrincipal {
  readonly tokenId: string;
  readonly tenantId: string | null;
}

/** An authenticated application (client). */
export interface AuthenticatedApplication {
  readonly id: string;
  readonly name: string;
  readonly firstParty: boolean;
}

/** What `requireApplication` needs of a stored application. */
export interface ApplicationCredentials extends AuthenticatedApplication {
  readonly clientSecretHash: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `requireAdmin`; `null` on other routes. */
    admin: AdminPrincipal | null;
    /** Set by `requireApplication`; `null` on other routes. */
    application: AuthenticatedApplication | null;
  }
}

/** A Fastify hook (`onRequest` or `preHandler`). */
export type AuthHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/** Finds an admin token by the SHA-256 hex of the presented token. */
export type AdminTokenLookup = (tokenHash: string) => Promise<{ readonly id: string; readonly tenantId: string | null } | null>;

// RFC 6750 §2.1 b64token, bounded: anything else is refused before touching the database.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]{16,512}=*)$/i;
const BASIC = /^Basic +([A-Za-z0-9+/]{1,2048}={0,2})$/i;

/**
 * A hook that requires `Authorization: Bearer <admin token>`. The token is hashed (SHA-256) before the lookup,
 * so only hashes are ever compared or stored. Missing, malformed or unknown → 401 `UNAUTHORIZED`, the same
 * answer for each. On success `request.admin` is set.
 *
 * @example
 * app.addHook('onRequest', requireAdmin((hash) => store.adminTokens.findByHash(hash)));
 */
export function requireAdmin(lookup: AdminTokenLookup): AuthHook {
  return async (request, reply) => {
    const match = BEARER.exec(request.headers.authorization ?? '');
    if (match?.[1] === undefined) {
      void reply.header('www-authenticate', 'Bearer realm="portcullis"');
      throw new PortcullisError('UNAUTHORIZED', 'An admin token is required: Authorization: Bearer <token>.');
    }
    const token = await lookup(hashToken(match[1]));
    if (token === null) {
      void reply.header('www-authenticate', 'Bearer realm="portcullis", error="invalid_token"');
      throw new PortcullisError('UNAUTHORIZED', 'The admin token is not valid.');
    }
    request.admin = { tokenId: token.id, tenantId: token.tenantId };
  };
}

/**
 * The admin of a request that passed {@link requireAdmin}. Throws `UNAUTHORIZED` when the route forgot the
 * hook, so a wiring mistake fails closed.
 *
 * @example
 * const admin = adminOf(request); // { tokenId, tenantId }
 */
export function adminOf(request: FastifyRequest): AdminPrincipal {
  if (request.admin === null || request.admin === undefined) {
    throw new PortcullisError('UNAUTHORIZED', 'An admin token is required.', { detail: 'route reached without requireAdmin' });
  }
  return request.admin;
}

/**
 * Refuses a tenant-scoped admin on another tenant's resource with `NOT_FOUND`, exactly as if the tenant did not
 * exist (SECURITY rule 8: a token must not learn which tenants exist). A platform admin passes.
 *
 * @example
 * assertTenantAccess(request, request.params.tenantId);
 */
export function assertTenantAccess(request: FastifyRequest, tenantId: string): void {
  const admin = adminOf(request);
  if (admin.tenantId !== null && admin.tenantId !== tenantId) {
    throw new PortcullisError('NOT_FOUND', 'No such tenant.');
  }
}

/** Finds an application by its client id. */
export type ApplicationLookup<A extends ApplicationCredentials> = (clientId: string) => Promise<A | null>;

/** Checks a presented client secret against the stored hash; must compare in constant time. */
export type SecretVerifier = (secret: string, storedHash: string) => boolean | Promise<boolean>;

/** Options for {@link applicationAuthenticator}. */
export interface ApplicationAuthOptions {
  /**
   * A hash in the stored format, verified when the client id is unknown so that an unknown id costs as long
   * as a wrong secret (no client-id enumeration by timing).
   */
  readonly dummyHash?: string;
}

/**
 * A function that authenticates a request by HTTP Basic `client_id:client_secret` (RFC 6749 §2.3.1: each part
 * form-urlencoded, then base64) and returns the application, or throws 401 `UNAUTHORIZED`. Unknown id and
 * wrong secret get the same answer.
 *
 * @example
 * const authenticate = applicationAuthenticator((id) => store.applications.findByClientId(id), verifyHashedToken);
 * const application = await authenticate(request);
 */
export function applicationAuthenticator<A extends ApplicationCredentials>(
  lookup: ApplicationLookup<A>,
  verifySecret: SecretVerifier,
  options: ApplicationAuthOptions = {},
): (request: FastifyRequest, reply?: FastifyReply) => Promise<A> {
  return async (request, reply) => {
    const credentials = parseBasic(request.headers.authorization);
    if (credentials === null) {
      void reply?.header('www-authenticate', 'Basic realm="portcullis"');
      throw new PortcullisError('UNAUTHORIZED', 'Client credentials are required: Authorization: Basic base64(client_id:client_secret).');
    }
    const application = await lookup(credentials.clientId);
    if (application === null) {
      if (options.dummyHash !== undefined) await verifySecret(credentials.clientSecret, options.dummyHash);
      throw invalidClient(reply);
    }
    if (!(await verifySecret(credentials.clientSecret, application.clientSecretHash))) throw invalidClient(reply);
    return application;
  };
}

/**
 * A hook that requires application client credentials (see {@link applicationAuthenticator}) and sets
 * `request.application`.
 *
 * @example
 * scope.addHook('onRequest', requireApplication((id) => store.applications.findByClientId(id), verifyHashedToken));
 */
export function requireApplication<A extends ApplicationCredentials>(lookup: ApplicationLookup<A>, verifySecret: SecretVerifier, options: ApplicationAuthOptions = {}): AuthHook {
  const authenticate = applicationAuthenticator(lookup, verifySecret, options);
  return async (request, reply) => {
    const application = await authenticate(request, reply);
    request.application = { id: application.id, name: application.name, firstParty: application.firstParty };
  };
}

function invalidClient(reply: FastifyReply | undefined): PortcullisError {
  void reply?.header('www-authenticate', 'Basic realm="portcullis"');
  return new PortcullisError('UNAUTHORIZED', 'The client credentials are not valid.');
}

function parseBasic(header: string | undefined): { clientId: string; clientSecret: string } | null {
  const match = BASIC.exec(header ?? '');
  if (match?.[1] === undefined) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0 || colon === decoded.length - 1) return null;
  try {
    const clientId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
    const clientSecret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
    return clientId.length > 0 && clientId.length <= 256 && clientSecret.length > 0 && clientSecret.length <= 512 ? { clientId, clientSecret } : null;
  } catch {
    return null;
  }
}
