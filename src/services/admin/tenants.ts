/** Tenant administration: create, read, rename, delete — each change audited in its own transaction. */
import { PortcullisError } from '../../core/index.ts';
import type { Page, PageOptions, TenantRecord } from '../../store/index.ts';
import { actorOf, type AdminActor, type ServiceDeps } from '../deps.ts';
import { assertPlatformAdmin, mayReachTenant, notFound, reachTenant } from './access.ts';
import { checkName, checkSlug } from './validate.ts';

export interface NewTenantInput {
  readonly slug: string;
  readonly name: string;
}

export interface TenantPatchInput {
  readonly slug?: string;
  readonly name?: string;
}

/**
 * Creates a tenant (platform admins only) and audits `tenant.created` in the tenant's own log.
 *
 * @example
 * const tenant = await createTenant(deps, platformAdmin, { slug: 'acme', name: 'Acme' });
 */
export async function createTenant(deps: ServiceDeps, actor: AdminActor, input: NewTenantInput): Promise<TenantRecord> {
  assertPlatformAdmin(actor);
  const slug = checkSlug(input.slug);
  const name = checkName(input.name, 'name');
  const now = deps.now();
  return deps.store.transaction(async (tx) => {
    const tenant = await tx.tenants.create({ slug, name, now });
    await tx.forTenant(tenant.id).audit.append({ at: now, actor: actorOf(actor), subject: tenant.id, event: 'tenant.created', data: { slug, name } });
    return tenant;
  });
}

/** Every tenant for a platform admin; a tenant admin sees only its own. Ordered by id, cursor-paged. */
export async function listTenants(deps: ServiceDeps, actor: AdminActor, page: PageOptions): Promise<Page<TenantRecord>> {
  if (actor.tenantId === null) return deps.store.tenants.list(page);
  if (page.cursor !== undefined && page.cursor !== null && page.cursor !== '') return { items: [], nextCursor: null };
  const own = await deps.store.tenants.get(actor.tenantId);
  return { items: own === null ? [] : [own], nextCursor: null };
}

/** One tenant, or `NOT_FOUND` (also for a tenant out of the actor's reach). */
export async function getTenant(deps: ServiceDeps, actor: AdminActor, tenantId: string): Promise<TenantRecord> {
  return (await reachTenant(deps.store, actor, tenantId)).tenant;
}

/**
 * Renames a tenant or changes its slug; audits `tenant.updated` with the changed fields. Slugs are unique across
 * the platform, so a slug change answers `CONFLICT` when another tenant holds the slug: only a platform admin may
 * change one. A tenant admin's slug change is `FORBIDDEN` whether the slug is free or taken, so its token cannot
 * probe which slugs (which other tenants) exist (SECURITY rule 8); renaming stays open to it.
 */
export async function updateTenant(deps: ServiceDeps, actor: AdminActor, tenantId: string, patch: TenantPatchInput): Promise<TenantRecord> {
  const set: { slug?: string; name?: string } = {};
  if (patch.slug !== undefined) set.slug = checkSlug(patch.slug);
  if (patch.name !== undefined) set.name = checkName(patch.name, 'name');
  const now = deps.now();
  return deps.store.transaction(async (tx) => {
    const { tenant, t } = await reachTenant(tx, actor, tenantId);
    const changed = (Object.keys(set) as (keyof typeof set)[]).filter((k) => set[k] !== tenant[k]);
    if (changed.includes('slug') && actor.tenantId !== null) {
      throw new PortcullisError('FORBIDDEN', "Only a platform admin may change a tenant's slug.");
    }
    if (changed.length === 0) return tenant;
    const updated = await tx.tenants.update(tenant.id, set, now);
    if (updated === null) throw notFound('tenant');
    await t.audit.append({ at: now, actor: actorOf(actor), subject: tenant.id, event: 'tenant.updated', data: { changed, ...set } });
    return updated;
  });
}

/**
 * Deletes a tenant and everything it owns except its audit log (platform admins only; a tenant admin may not
 * delete the tenant its own token lives in). Audits `tenant.deleted`, which survives the tenant.
 */
export async function deleteTenant(deps: ServiceDeps, actor: AdminActor, tenantId: string): Promise<void> {
  if (!mayReachTenant(actor, tenantId)) throw notFound('tenant');
  if (actor.tenantId !== null) throw new PortcullisError('FORBIDDEN', 'Only a platform admin may delete a tenant.');
  const now = deps.now();
  await deps.store.transaction(async (tx) => {
    const { tenant, t } = await reachTenant(tx, actor, tenantId);
    if (!(await tx.tenants.delete(tenant.id))) throw notFound('tenant');
    await t.audit.append({ at: now, actor: actorOf(actor), subject: tenant.id, event: 'tenant.deleted', data: { slug: tenant.slug, name: tenant.name } });
  });
}
