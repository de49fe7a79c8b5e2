import { PortcullisError } from '../core/index.ts';
import type { ApplicationRecord, CatalogView, TenantRecord, TenantStore } from '../store/index.ts';
import type { ServiceDeps } from './deps.ts';

/** The application calling the application API (authenticated by its client credentials). */
export interface Caller {
  readonly application: ApplicationRecord;
  /**
   * The catalog view the request authenticated with (one version read per request: src/store/catalog.ts). Without
   * one (a service called directly), each use takes a fresh view: a view must never outlive its request.
   */
  readonly catalog?: CatalogView;
}

/** The caller's catalog view: the request's, or a fresh one. */
export function catalogOf(deps: ServiceDeps, caller: Caller): Promise<CatalogView> {
  return caller.catalog !== undefined ? Promise.resolve(caller.catalog) : deps.store.catalog.current();
}

const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Finds a tenant by id or slug; a wrong or missing tenant is simply "not found" (the caller then denies). Tenant ids
 * are UUIDs: a UUID-shaped reference is tried as an id first, anything else as a slug first.
 */
export async function findTenant(catalog: CatalogView, idOrSlug: string): Promise<TenantRecord | null> {
  if (UUID_SHAPE.test(idOrSlug)) return (await catalog.tenantById(idOrSlug)) ?? (await catalog.tenantBySlug(idOrSlug));
  return (await catalog.tenantBySlug(idOrSlug)) ?? (await catalog.tenantById(idOrSlug));
}

/**
 * Whether the calling application may act for a tenant: it serves all tenants (set by a platform admin), or it is
 * assigned to this one (DESIGN §1).
 */
export async function servesTenant(deps: ServiceDeps, caller: Caller, tenantId: string): Promise<boolean> {
  return (await catalogOf(deps, caller)).serves(caller.application, tenantId);
}

/**
 * The tenant a request names (id or slug), if the calling application serves it. A tenant the application does not
 * serve answers exactly like one that does not exist (helivanta #913): `null` here, "not found" to the caller.
 */
export async function servedTenant(deps: ServiceDeps, caller: Caller, tenantRef: string): Promise<TenantStore | null> {
  const catalog = await catalogOf(deps, caller);
  const tenant = await findTenant(catalog, tenantRef);
  if (tenant === null || !(await catalog.serves(caller.application, tenant.id))) return null;
  return deps.store.forTenant(tenant.id);
}

/** {@link servedTenant}, or `NOT_FOUND` — the same answer as for an unknown user. */
export async function requireServedTenant(deps: ServiceDeps, caller: Caller, tenantRef: string): Promise<TenantStore> {
  const tenant = await servedTenant(deps, caller, tenantRef);
  if (tenant === null) throw new PortcullisError('NOT_FOUND', 'No such tenant or user.');
  return tenant;
}
