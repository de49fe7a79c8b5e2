import { PortcullisError } from '../core/index.ts';
import type { ApplicationRecord, TenantStore } from '../store/index.ts';
import { findTenant } from './decision-service.ts';
import type { ServiceDeps } from './deps.ts';

/** The application calling the application API (authenticated by its client credentials). */
export interface Caller {
  readonly application: ApplicationRecord;
}

/**
 * Whether the calling application may act for a tenant: it serves all tenants (set by a platform admin), or it is
 * assigned to this one (DESIGN §1).
 */
export async function servesTenant(deps: ServiceDeps, caller: Caller, tenantId: string): Promise<boolean> {
  return caller.application.allTenants || deps.store.applications.servesTenant(caller.application.id, tenantId);
}

/**
 * The tenant a request names (id or slug), if the calling application serves it. A tenant the application does not
 * serve answers exactly like one that does not exist (helivanta #913): `null` here, "not found" to the caller.
 */
export async function servedTenant(deps: ServiceDeps, caller: Caller, tenantRef: string): Promise<TenantStore | null> {
  const tenant = await findTenant(deps.store, tenantRef);
  if (tenant === null || !(await servesTenant(deps, caller, tenant.id))) return null;
  return deps.store.forTenant(tenant.id);
}

/** {@link servedTenant}, or `NOT_FOUND` — the same answer as for an unknown user. */
export async function requireServedTenant(deps: ServiceDeps, caller: Caller, tenantRef: string): Promise<TenantStore> {
  const tenant = await servedTenant(deps, caller, tenantRef);
  if (tenant === null) throw new PortcullisError('NOT_FOUND', 'No such tenant or user.');
  return tenant;
}
