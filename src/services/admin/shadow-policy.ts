import type { PolicyLayer } from '../../core/index.ts';
import type { AuditRecord, JsonObject } from '../../store/index.ts';
import type { AdminActor, ServiceDeps } from '../deps.ts';
import { actorOf } from '../deps.ts';
import { reachTenant } from './access.ts';
import { checkLayer } from './policies.ts';

export interface ShadowPolicyView {
  readonly tenantId: string;
  readonly layer: PolicyLayer | null;
  readonly savedAt: number | null;
  readonly savedBy: string | null;
}

/** How many live decisions the shadow would have moved, by transition and by the shadow's deciding reason. */
export interface ShadowDiffSummary {
  readonly tenantId: string;
  readonly total: number;
  readonly from: number | null;
  readonly transitions: readonly { readonly from: string; readonly to: string; readonly count: number; readonly reasons: Readonly<Record<string, number>> }[];
}

/** The tenant's shadow policy, or `layer: null`. */
export async function getShadowPolicy(deps: ServiceDeps, actor: AdminActor, tenantId: string): Promise<ShadowPolicyView> {
  const { t } = await reachTenant(deps.store, actor, tenantId);
  const row = await t.shadowPolicy.get();
  return { tenantId, layer: row?.layer ?? null, savedAt: row?.createdAt ?? null, savedBy: row?.createdBy ?? null };
}

/**
 * Saves a draft tenant layer as the shadow: every live decision of the tenant is then also evaluated with it (in
 * place of the live tenant layer) and differences are audited as `mfa.shadow_diff`; nothing is enforced. Validated
 * like a live layer; audited in the same transaction.
 */
export async function saveShadowPolicy(deps: ServiceDeps, actor: AdminActor, tenantId: string, layer: unknown): Promise<ShadowPolicyView> {
  const checked = checkLayer(layer);
  await reachTenant(deps.store, actor, tenantId);
  const now = deps.now();
  const by = actorOf(actor);
  await deps.store.transaction(async (tx) => {
    const t = tx.forTenant(tenantId);
    await t.shadowPolicy.put(checked, by, now);
    await t.audit.append({ at: now, actor: by, subject: `tenant:${tenantId}`, event: 'mfa.shadow_policy_saved', data: { layer: checked as unknown as JsonObject } });
  });
  return { tenantId, layer: checked, savedAt: now, savedBy: by };
}

/** Stops shadow evaluation (the recorded differences stay in audit). */
export async function clearShadowPolicy(deps: ServiceDeps, actor: AdminActor, tenantId: string): Promise<{ removed: boolean }> {
  await reachTenant(deps.store, actor, tenantId);
  const now = deps.now();
  return deps.store.transaction(async (tx) => {
    const t = tx.forTenant(tenantId);
    const removed = await t.shadowPolicy.clear();
    if (removed) await t.audit.append({ at: now, actor: actorOf(actor), subject: `tenant:${tenantId}`, event: 'mfa.shadow_policy_cleared', data: {} });
    return { removed };
  });
}

/** Reads at most this many differences per summary (newest first). */
const MAX_DIFFS = 100_000;

/**
 * Summarises the `mfa.shadow_diff` records since `from` (default: since the shadow in force was saved): counts per
 * transition (`allow → challenge`, …) and, within each, per deciding reason of the shadow decision.
 */
export async function summarizeShadowDiffs(deps: ServiceDeps, actor: AdminActor, tenantId: string, from?: number): Promise<ShadowDiffSummary> {
  const { t } = await reachTenant(deps.store, actor, tenantId);
  const since = from ?? (await t.shadowPolicy.get())?.createdAt ?? null;
  const counts = new Map<string, { from: string; to: string; count: number; reasons: Record<string, number> }>();
  let total = 0;
  let cursor: string | null = null;
  do {
    const page: { items: readonly AuditRecord[]; nextCursor: string | null } = await t.audit.list({ events: ['mfa.shadow_diff'], limit: 1000, cursor, ...(since === null ? {} : { from: since }) });
    for (const item of page.items) {
      const d = item.data;
      const live = typeof d.live === 'string' ? d.live : 'unknown';
      const shadow = typeof d.shadow === 'string' ? d.shadow : 'unknown';
      const reason = typeof d.reason === 'string' ? d.reason : 'unknown';
      const key = `${live}->${shadow}`;
      const entry = counts.get(key) ?? { from: live, to: shadow, count: 0, reasons: {} };
      entry.count++;
      entry.reasons[reason] = (entry.reasons[reason] ?? 0) + 1;
      counts.set(key, entry);
      total++;
    }
    cursor = page.nextCursor;
  } while (cursor !== null && total < MAX_DIFFS);
  return { tenantId, total, from: since, transitions: [...counts.values()].sort((a, b) => b.count - a.count || `${a.from}${a.to}`.localeCompare(`${b.from}${b.to}`)) };
}
