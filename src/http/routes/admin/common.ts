/** Small helpers shared by the admin route files. */
import type { FastifyRequest } from 'fastify';
import type { PageOptions } from '../../../store/index.ts';
import type { AdminActor } from '../../../services/deps.ts';
import { SECURITY_SCHEMES } from '../../app.ts';
import { adminOf } from '../../auth.ts';
import { errorResponses } from './schemas.ts';

/** OpenAPI `security` of every admin route. */
export const security = [{ [SECURITY_SCHEMES.admin]: [] }];

/** OpenAPI tags, one per area. */
export const TAGS = {
  tenants: 'admin: tenants',
  applications: 'admin: applications',
  users: 'admin: users',
  policies: 'admin: policies',
  factors: 'admin: factors',
  audit: 'admin: audit',
  tokens: 'admin: tokens',
} as const;

/** The route's response schemas: the given successes plus the common errors. */
export function responses(ok: Record<number, unknown>): Record<number, unknown> {
  return { ...ok, ...errorResponses };
}

/** The acting admin of a request (set by `requireAdmin`). */
export function actorOf(request: FastifyRequest): AdminActor {
  const admin = adminOf(request);
  return { tokenId: admin.tokenId, tenantId: admin.tenantId };
}

/** Paging options from a validated `PageQuery`. */
export function pageOf(query: { cursor?: string; limit?: number }): PageOptions {
  return { ...(query.cursor === undefined ? {} : { cursor: query.cursor }), ...(query.limit === undefined ? {} : { limit: query.limit }) };
}

/** Path parameters of a validated request. */
export function params<T>(request: FastifyRequest): T {
  return request.params as T;
}

/** The body of a validated request. */
export function body<T>(request: FastifyRequest): T {
  return request.body as T;
}

/** The query string of a validated request. */
export function query<T>(request: FastifyRequest): T {
  return request.query as T;
}
