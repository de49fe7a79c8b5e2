/**
 * Who may touch what, for every admin service (SECURITY rule 8).
 *
 * A platform admin (`tenantId: null`) reaches everything. A tenant-scoped admin reaches only its own tenant: any
 * other tenant's id answers exactly like an id that does not exist (`NOT_FOUND`), never `FORBIDDEN`, so a token
 * cannot even learn which tenants exist. Platform-level writes (tenants, applications, application policy,
 * platform tokens) are `FORBIDDEN` to a tenant admin: those resources are not a tenant's secret.
 */
import { PortcullisError } from '../../core/index.ts';
import type { ApplicationRecord, Store, TenantRecord, TenantStore, UserRecord } from '../../store/index.ts';
import type { AdminActor } from '../deps.ts';

/** The one answer for a tenant (or anything under it) that is absent or belongs to another tenant. */
export function notFound(what: string): PortcullisError {
  return new PortcullisError('NOT_FOUND', `No such ${what}.`);
}

/** Refuses a tenant-scoped admin on a platform-level write. */
export function assertPlatformAdmin(actor: AdminActor): void {
  if (actor.tenantId !== null) {
    throw new PortcullisError('FORBIDDEN', 'This operation needs a platform admin token.');
  }
}

/** Whether `actor` may see tenant `tenantId` at all (its existence is not checked). */
export function mayReachTenant(actor: AdminActor, tenantId: string): boolean {
  return actor.tenantId === null || actor.tenantId === tenantId;
}

/**
 * The tenant an admin names, loaded through `store` (the outer store or a transaction). Absent or out of the
 * actor's reach → `NOT_FOUND`, the same either way.
 */
export async function reachTenant(store: Store, actor: AdminActor, tenantId: string): Promise<{ tenant: TenantRecord; t: TenantStore }> {
  if (!mayReachTenant(actor, tenantId)) throw notFound('tenant');
  const tenant = await store.tenants.get(tenantId);
  if (tenant === null) throw notFound('tenant');
  return { tenant, t: store.forTenant(tenant.id) };
}

/** A user of a reachable tenant, or `NOT_FOUND`. */
export async function reachUser(store: Store, actor: AdminActor, tenantId: string, userId: string): Promise<{ tenant: TenantRecord; t: TenantStore; user: UserRecord }> {
  const { tenant, t } = await reachTenant(store, actor, tenantId);
  const user = await t.users.get(userId);
  if (user === null) throw notFound('user');
  return { tenant, t, user };
}

/** An application (platform-level: every admin may read it), or `NOT_FOUND`. */
export async function findApplication(store: Store, applicationId: string): Promise<ApplicationRecord> {
  const application = await store.applications.get(applicationId);
  if (application === null) throw notFound('application');
  return application;
}
