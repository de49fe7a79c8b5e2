/**
 * Policy preview (DESIGN §3): run a draft tenant (or tenant×application) layer and the current policy over the
 * tenant's real users through core `previewPolicy`, and report who would be allowed, challenged, sent to
 * enrollment or blocked — before anything is saved. Nothing here writes.
 */
import {
  floorsFor,
  policyDeliverabilityWarnings,
  previewPolicy,
  resolvePolicy,
  versionInForce,
  type DecisionUser,
  type LayerInput,
  type Outcome,
  type PreviewBuckets,
  type PreviewMove,
  type PolicyWarning,
  type PreviewResult,
  type ScopedLayer,
  type UserFactor,
} from '../../core/index.ts';
import type { ApplicationRecord, FactorRecord, UserLayer } from '../../store/index.ts';
import type { AdminActor, ServiceDeps } from '../deps.ts';
import { findApplication, reachTenant } from './access.ts';
import { checkLayer } from './policies.ts';

export interface PreviewRequest {
  readonly applicationId: string;
  /** The draft layer as received (validated here). */
  readonly draft: unknown;
  /** Which layer the draft replaces; default the tenant layer. */
  readonly scope?: 'tenant' | 'tenant_application';
}

export interface PolicyPreview {
  readonly applicationId: string;
  readonly scope: 'tenant' | 'tenant_application';
  readonly result: PreviewResult;
  readonly at: number;
  /** What saving the draft would warn about (fields prefixed `draft.`), judged on the draft as it resolves for the application. */
  readonly warnings: readonly PolicyWarning[];
}

type MutableBuckets = {
  total: number;
  outcomes: Record<Outcome, { count: number; userIds: string[] }>;
  errorCodes: Record<string, { count: number; userIds: string[] }>;
  inGrace: { count: number; userIds: string[] };
  nothingToEnroll: { count: number; userIds: string[] };
};

function emptyBuckets(): MutableBuckets {
  return {
    total: 0,
    outcomes: { allow: { count: 0, userIds: [] }, challenge: { count: 0, userIds: [] }, enroll: { count: 0, userIds: [] }, block: { count: 0, userIds: [] } },
    errorCodes: {},
    inGrace: { count: 0, userIds: [] },
    nothingToEnroll: { count: 0, userIds: [] },
  };
}

function addBuckets(into: MutableBuckets, from: PreviewBuckets): void {
  into.total += from.total;
  for (const outcome of Object.keys(into.outcomes) as Outcome[]) {
    into.outcomes[outcome].count += from.outcomes[outcome].count;
    into.outcomes[outcome].userIds.push(...from.outcomes[outcome].userIds);
  }
  for (const [code, bucket] of Object.entries(from.errorCodes)) {
    if (bucket === undefined) continue;
    const target = (into.errorCodes[code] ??= { count: 0, userIds: [] });
    target.count += bucket.count;
    target.userIds.push(...bucket.userIds);
  }
  into.inGrace.count += from.inGrace.count;
  into.inGrace.userIds.push(...from.inGrace.userIds);
  into.nothingToEnroll.count += from.nothingToEnroll.count;
  into.nothingToEnroll.userIds.push(...from.nothingToEnroll.userIds);
}

/** Merges previews of disjoint populations (users with their own override layer are previewed on their own). */
export function mergePreviews(parts: readonly PreviewResult[]): PreviewResult {
  const current = emptyBuckets();
  const draft = emptyBuckets();
  const moves = new Map<string, { from: Outcome; to: Outcome; count: number; userIds: string[] }>();
  let unchanged = 0;
  for (const part of parts) {
    addBuckets(current, part.current);
    addBuckets(draft, part.draft);
    unchanged += part.unchanged;
    for (const m of part.moves) {
      const key = `${m.from}>${m.to}`;
      const target = moves.get(key) ?? { from: m.from, to: m.to, count: 0, userIds: [] };
      target.count += m.count;
      target.userIds.push(...m.userIds);
      moves.set(key, target);
    }
  }
  const sortedMoves: PreviewMove[] = [...moves.values()].sort((a, b) => b.count - a.count || (a.from + a.to < b.from + b.to ? -1 : 1));
  return { current, draft, moves: sortedMoves, unchanged } as PreviewResult;
}

function decisionUsers(
  users: readonly { id: string; roles: readonly string[]; firstSignInAt: number | null; graceUntil: number | null; phone: string | null; exemptUntil: number | null; lastMfaAt: number | null }[],
  factors: readonly FactorRecord[],
  remaining: ReadonlyMap<string, number>,
): DecisionUser[] {
  const byUser = new Map<string, UserFactor[]>();
  for (const f of factors) {
    if (f.status !== 'active') continue;
    let list = byUser.get(f.userId);
    if (list === undefined) byUser.set(f.userId, (list = []));
    list.push(f.type === 'recovery_codes' ? { id: f.id, type: f.type, status: 'active', remaining: remaining.get(f.userId) ?? 0 } : { id: f.id, type: f.type, status: 'active' });
  }
  return users.map((u) => ({
    id: u.id,
    roles: u.roles,
    factors: byUser.get(u.id) ?? [],
    firstSignInAt: u.firstSignInAt,
    graceUntil: u.graceUntil,
    hasPhone: u.phone !== null,
    exemptUntil: u.exemptUntil,
    completedMfaBefore: u.lastMfaAt !== null,
  }));
}

/** The layer list with the draft in place of the scope's layer (inserted at its place when absent). */
function withDraft(layers: readonly ScopedLayer[], scope: 'tenant' | 'tenant_application', draftName: string, draft: LayerInput['versions'][number]['layer'], now: number): LayerInput[] {
  const order = { application: 0, tenant: 1, tenant_application: 2 } as const;
  const out: LayerInput[] = [];
  let placed = false;
  for (const l of layers) {
    if (!placed && order[l.scope.level] > order[scope]) {
      out.push({ level: scope, name: draftName, versions: [{ version: 0, effectiveAt: now, layer: draft }] });
      placed = true;
    }
    if (l.scope.level === scope) {
      const next = Math.max(0, ...l.versions.map((v) => v.version)) + 1;
      out.push({ level: scope, name: l.name, versions: [{ version: next, effectiveAt: now, layer: draft }] });
      placed = true;
    } else {
      out.push({ level: l.scope.level, name: l.name, versions: l.versions });
    }
  }
  if (!placed) out.push({ level: scope, name: draftName, versions: [{ version: 0, effectiveAt: now, layer: draft }] });
  return out;
}

/**
 * Previews a draft layer over every user of the tenant: counts and ids per outcome and error code under the
 * current and the draft policy, and the moves between them. Users with an override layer in force are resolved
 * with it, as their decisions would be. Each user is assumed in a clean, known context (no risk signals), so the
 * preview shows what the policy itself does.
 *
 * @example
 * const { result } = await previewTenantPolicy(deps, admin, tenantId, { applicationId, draft: { enrollment: 'required' } });
 * result.moves; // [{ from: 'allow', to: 'enroll', count: 12, userIds: [...] }]
 */
export async function previewTenantPolicy(deps: ServiceDeps, actor: AdminActor, tenantId: string, request: PreviewRequest): Promise<PolicyPreview> {
  const draft = checkLayer(request.draft);
  const scope = request.scope ?? 'tenant';
  const { tenant, t } = await reachTenant(deps.store, actor, tenantId);
  const application: ApplicationRecord = await findApplication(deps.store, request.applicationId);
  const now = deps.now();
  const [{ layers }, users, factors, remaining, userLayers] = await Promise.all([
    t.policies.listLayersFor(application.id),
    t.users.listAll(),
    t.factors.listForTenant('active'),
    t.recoveryCodes.countRemainingByUser(),
    t.policies.listUserLayers(),
  ]);
  const baseInputs: LayerInput[] = layers.map((l) => ({ level: l.scope.level, name: l.name, versions: l.versions }));
  const draftName = scope === 'tenant' ? tenant.name : `${tenant.name} × ${application.name}`;
  const draftInputs = withDraft(layers, scope, draftName, draft, now);
  const floors = floorsFor(application);
  const app = { id: application.id, name: application.name, firstParty: application.firstParty };

  const overrides = new Map<string, UserLayer>();
  for (const layer of userLayers) {
    const live = versionInForce(layer.versions, now);
    if (live !== null && Object.keys(live.layer).length > 0) overrides.set(layer.userId, layer);
  }
  const population = decisionUsers(users, factors, remaining);
  const plain = population.filter((u) => !overrides.has(u.id));
  const deliverable = deps.deliverableFactors;
  const draftPolicy = resolvePolicy(draftInputs, floors, now);
  const parts: PreviewResult[] = [
    previewPolicy({ application: app, current: resolvePolicy(baseInputs, floors, now), draft: draftPolicy, population: plain.map((user) => ({ user })), now, deliverable }),
  ];
  for (const user of population) {
    const own = overrides.get(user.id);
    if (own === undefined) continue;
    parts.push(
      previewPolicy({
        application: app,
        current: resolvePolicy([...baseInputs, own], floors, now),
        draft: resolvePolicy([...draftInputs, own], floors, now),
        population: [{ user }],
        now,
        deliverable,
      }),
    );
  }
  const warnings = policyDeliverabilityWarnings(draft, draftPolicy.values, deliverable).map((w) =>
    w.field === '' ? { ...w, field: 'draft', message: `draft: ${w.message}` } : { ...w, field: `draft.${w.field}`, message: `draft.${w.message}` },
  );
  return { applicationId: application.id, scope, result: parts.length === 1 ? (parts[0] as PreviewResult) : mergePreviews(parts), at: now, warnings };
}
