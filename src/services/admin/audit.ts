/**
 * Reading the audit log. Event filters take our names (DESIGN §6) and AxisSynapse's codes, expanded by core
 * `expandEventFilter`; an unknown name is a bad request, not an empty page, so a typo is never mistaken for
 * "nothing happened".
 */
import { expandEventFilter, PortcullisError, type AuditEventName } from '../../core/index.ts';
import type { AuditRecord, Page } from '../../store/index.ts';
import type { AdminActor, ServiceDeps } from '../deps.ts';
import { assertPlatformAdmin, reachTenant } from './access.ts';

export interface AuditQuery {
  /** One name or alias, or several separated by commas. */
  readonly event?: string;
  readonly userId?: string;
  readonly applicationId?: string;
  /** Epoch ms, inclusive. */
  readonly from?: number;
  /** Epoch ms, exclusive. */
  readonly to?: number;
  readonly cursor?: string;
  readonly limit?: number;
}

/** Expands an event filter (`a,b,ALIAS`) into event names; `INVALID_REQUEST` naming the first unknown one. */
export function eventsOf(filter: string | undefined): AuditEventName[] | undefined {
  if (filter === undefined || filter.trim() === '') return undefined;
  const names = new Set<AuditEventName>();
  for (const part of filter.split(',')) {
    const name = part.trim();
    const expanded = expandEventFilter(name);
    if (expanded.length === 0) {
      throw new PortcullisError('INVALID_REQUEST', `Unknown audit event ${JSON.stringify(name.slice(0, 64))}; use a name such as mfa.policy_updated or an AxisSynapse code such as TENANT_MFA_POLICY_UPDATED.`);
    }
    for (const e of expanded) names.add(e);
  }
  return [...names];
}

function filterOf(query: AuditQuery): Parameters<ServiceDeps['store']['audit']['list']>[0] {
  if (query.from !== undefined && query.to !== undefined && query.from >= query.to) {
    throw new PortcullisError('INVALID_REQUEST', 'from must be before to.');
  }
  if (query.limit !== undefined && (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > 1000)) {
    throw new PortcullisError('INVALID_REQUEST', 'limit must be a whole number from 1 to 1000.');
  }
  const events = eventsOf(query.event);
  return {
    ...(events === undefined ? {} : { events }),
    ...(query.userId === undefined ? {} : { userId: query.userId }),
    ...(query.applicationId === undefined ? {} : { applicationId: query.applicationId }),
    ...(query.from === undefined ? {} : { from: query.from }),
    ...(query.to === undefined ? {} : { to: query.to }),
    ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
    ...(query.limit === undefined ? {} : { limit: query.limit }),
  };
}

/**
 * A tenant's audit events, newest first, cursor-paged.
 *
 * @example
 * const page = await listTenantAudit(deps, admin, tenantId, { event: 'TENANT_MFA_POLICY_UPDATED', limit: 50 });
 */
export async function listTenantAudit(deps: ServiceDeps, actor: AdminActor, tenantId: string, query: AuditQuery): Promise<Page<AuditRecord>> {
  const filter = filterOf(query);
  const { t } = await reachTenant(deps.store, actor, tenantId);
  return t.audit.list(filter);
}

/**
 * Platform-level audit events (tenant `null`: applications, application policy, admin tokens), newest first;
 * platform admins only.
 */
export async function listPlatformAudit(deps: ServiceDeps, actor: AdminActor, query: AuditQuery): Promise<Page<AuditRecord>> {
  assertPlatformAdmin(actor);
  return deps.store.audit.list({ ...filterOf(query), tenantId: null });
}
