/**
 * Admin bearer tokens: platform-wide (`tenantId: null`) or scoped to one tenant. A token is 256 random bits,
 * shown once at creation and stored as SHA-256 (see src/factors/tokens.ts).
 *
 * A platform admin manages every token. A tenant admin may list, create and delete its own tenant's tokens (no
 * more power than it already holds) and never sees or touches another tenant's or a platform token.
 */
import { PortcullisError } from '../../core/index.ts';
import type { AdminTokenRecord, Page, PageOptions } from '../../store/index.ts';
import { generateToken, hashToken } from '../../factors/tokens.ts';
import { actorOf, type AdminActor, type ServiceDeps } from '../deps.ts';
import { mayReachTenant, notFound, reachTenant } from './access.ts';
import { checkName } from './validate.ts';

/** Prefix of admin tokens (as the bootstrap token). */
export const ADMIN_TOKEN_PREFIX = 'pcat';

export interface NewAdminTokenInput {
  readonly label: string;
  /** `null`/absent: a platform-wide token (platform admins only); a tenant admin's token defaults to its tenant. */
  readonly tenantId?: string | null;
}

/**
 * Creates a token and returns it in clear, once.
 *
 * @example
 * const { token } = await createAdminToken(deps, platformAdmin, { label: 'acme helpdesk', tenantId });
 */
export async function createAdminToken(deps: ServiceDeps, actor: AdminActor, input: NewAdminTokenInput): Promise<{ record: AdminTokenRecord; token: string }> {
  const label = checkName(input.label, 'label');
  const tenantId = input.tenantId === undefined ? actor.tenantId : input.tenantId;
  if (tenantId === null) {
    if (actor.tenantId !== null) throw new PortcullisError('FORBIDDEN', 'Only a platform admin may create a platform token.');
  } else {
    await reachTenant(deps.store, actor, tenantId);
  }
  const token = generateToken(ADMIN_TOKEN_PREFIX);
  const now = deps.now();
  const record = await deps.store.transaction(async (tx) => {
    const created = await tx.adminTokens.create({ tokenHash: hashToken(token), tenantId, label, now });
    await tx.audit.append({ tenantId, at: now, actor: actorOf(actor), subject: created.id, event: 'admin_token.created', data: { label, scope: tenantId === null ? 'platform' : 'tenant' } });
    return created;
  });
  return { record, token };
}

/** Tokens the actor may see: all for a platform admin (optionally one tenant's), its own tenant's otherwise. */
export async function listAdminTokens(deps: ServiceDeps, actor: AdminActor, options: PageOptions & { readonly tenantId?: string }): Promise<Page<AdminTokenRecord>> {
  const { tenantId, ...page } = options;
  if (actor.tenantId !== null) {
    if (tenantId !== undefined && tenantId !== actor.tenantId) throw notFound('tenant');
    return deps.store.adminTokens.list({ ...page, tenantId: actor.tenantId });
  }
  return deps.store.adminTokens.list(tenantId === undefined ? page : { ...page, tenantId });
}

async function findToken(deps: ServiceDeps, tokenId: string, tenantId: string | null | undefined): Promise<AdminTokenRecord | null> {
  let cursor: string | null = null;
  // The repository has no get-by-id; tokens are few, so page through them (scoped to the tenant when known).
  for (let pages = 0; pages < 1000; pages++) {
    const page: Page<AdminTokenRecord> = await deps.store.adminTokens.list({ limit: 1000, cursor, ...(tenantId === undefined ? {} : { tenantId }) });
    const found = page.items.find((t) => t.id === tokenId);
    if (found !== undefined) return found;
    if (page.nextCursor === null) return null;
    cursor = page.nextCursor;
  }
  return null;
}

/**
 * Deletes a token. The last platform token cannot be deleted (`CONFLICT`): that would lock every admin out.
 */
export async function deleteAdminToken(deps: ServiceDeps, actor: AdminActor, tokenId: string): Promise<void> {
  const token = await findToken(deps, tokenId, actor.tenantId === null ? undefined : actor.tenantId);
  if (token === null || (token.tenantId !== null && !mayReachTenant(actor, token.tenantId)) || (token.tenantId === null && actor.tenantId !== null)) {
    throw notFound('admin token');
  }
  await deps.store.transaction(async (tx) => {
    // Locked: two admins deleting the last two platform tokens at once must not both succeed.
    await tx.adminTokens.lockForChange();
    if (!(await tx.adminTokens.delete(token.id))) throw notFound('admin token');
    if (token.tenantId === null && (await tx.adminTokens.list({ tenantId: null, limit: 1 })).items.length === 0) {
      throw new PortcullisError('CONFLICT', 'This is the last platform admin token; create another one first.');
    }
    await tx.audit.append({ tenantId: token.tenantId, at: deps.now(), actor: actorOf(actor), subject: token.id, event: 'admin_token.deleted', data: { label: token.label } });
  });
}
