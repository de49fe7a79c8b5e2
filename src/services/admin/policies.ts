/**
 * Policy administration: versioned layers at the application, tenant and tenant×application levels, the per-user
 * override, and the resolved view. Every save is a new version (never an update in place), validated by core
 * `validatePolicyLayer`, and audited in the same transaction as the save (SECURITY rule 11): `mfa.policy_updated`
 * always, `mfa.accepted_factors_updated` too when `acceptableFactors` or `strength` changed.
 */
import {
  POLICY_FIELDS,
  policyDeliverabilityWarnings,
  PortcullisError,
  resolvePolicy,
  validatePolicyLayer,
  versionInForce,
  type ChallengeMode,
  type Enrollment,
  type FactorType,
  type LayerInput,
  type PolicyWarning,
  type PolicyField,
  type PolicyLayer,
  type LayerScope,
  type ResolvedPolicy,
} from '../../core/index.ts';
import type { ApplicationRecord, JsonObject, JsonValue, PolicyVersionRecord, Store, TenantRecord, TenantPolicyScope } from '../../store/index.ts';
import { loadPolicy } from '../decision-service.ts';
import { actorOf, type AdminActor, type ServiceDeps } from '../deps.ts';
import { assertPlatformAdmin, findApplication, reachTenant, reachUser } from './access.ts';
import { checkFuture, isoOf } from './validate.ts';
import { revokeNonCompliantSessions, type NonCompliantMode, type RolloutResult } from './policy-rollout.ts';

/** A layer an admin can read and write: the scopes of core's stored layers. */
export type AdminPolicyScope = LayerScope;

/** A layer's history: the version in force now and every version, oldest first. */
export interface PolicyHistory {
  readonly scope: AdminPolicyScope;
  readonly inForce: PolicyVersionRecord | null;
  /** The newest saved version (may be announced ahead of `inForce`). */
  readonly latest: PolicyVersionRecord | null;
  readonly versions: readonly PolicyVersionRecord[];
}

export interface SavePolicyInput {
  /** The layer as received; validated here. */
  readonly layer: unknown;
  /** Epoch ms from which the version is in force; default now. A time ahead announces a change. */
  readonly effectiveAt?: number;
  /**
   * Tenant layers: what happens to users the saved version leaves without an acceptable factor — `wall` (default:
   * the enrollment wall at their next sign-in) or `revoke_sessions` (their live sessions end now; src/services/admin/policy-rollout.ts).
   */
  readonly noncompliant?: NonCompliantMode;
}

export interface SavedPolicy {
  readonly scope: AdminPolicyScope;
  readonly version: number;
  readonly effectiveAt: number;
  readonly layer: PolicyLayer;
  /** Fields whose value differs from the previous version (set, changed or removed). */
  readonly changed: readonly PolicyField[];
  /** Saved anyway: factor types this deployment cannot deliver, or no deliverable factor left (core `policyDeliverabilityWarnings`). */
  readonly warnings: readonly PolicyWarning[];
  /** When the save asked for `noncompliant`: what was done to non-compliant users' sessions. */
  readonly rollout?: RolloutResult;
}

/** Tolerated clock skew for an `effectiveAt` the caller meant as "now". */
const PAST_SKEW_MS = 60_000;

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => [k, sortKeys(v)]));
  }
  return value;
}

/** Fields whose values differ between two layers (key order inside objects does not matter). */
export function changedFields(before: PolicyLayer, after: PolicyLayer): PolicyField[] {
  return POLICY_FIELDS.filter((f) => JSON.stringify(sortKeys(before[f]) ?? null) !== JSON.stringify(sortKeys(after[f]) ?? null));
}

/** Core's messages quote the offending value; a long one is cut so an answer never echoes a huge input. */
function shorten(message: string): string {
  const cut = message.replace(/"((?:[^"\\]|\\.){32})(?:[^"\\]|\\.)+"/g, '"$1…"');
  return cut.length > 300 ? `${cut.slice(0, 299)}…` : cut;
}

/** Core's validation, thrown as `INVALID_POLICY` with the field-precise errors attached. */
export function checkLayer(layer: unknown, prefix?: string): PolicyLayer {
  const result = validatePolicyLayer(layer);
  if (!result.ok) {
    const named = (field: string): string => (prefix === undefined ? field : field === '' ? prefix : `${prefix}.${field}`);
    const errors = result.errors.map((e) => ({ field: named(e.field), message: shorten(prefix === undefined ? e.message : `${prefix}.${e.message}`) }));
    throw new PortcullisError('INVALID_POLICY', `The policy is not valid: ${errors[0]?.message ?? 'unknown problem'}.`, { extra: { errors } });
  }
  // Only the fields that are set: `undefined` values would vanish in JSON anyway.
  const clean: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(result.layer)) if (v !== undefined) clean[k] = v;
  return clean as PolicyLayer;
}

function effectiveAtOf(requested: number | undefined, now: number): number {
  if (requested === undefined) return now;
  if (!Number.isFinite(requested) || requested < now - PAST_SKEW_MS) {
    throw new PortcullisError('INVALID_REQUEST', 'effectiveAt is in the past; a policy version can only take effect now or later.');
  }
  return requested <= now ? now : checkFuture(requested, now, 'effectiveAt');
}

function tenantScopeOf(scope: AdminPolicyScope): TenantPolicyScope {
  if (scope.level === 'tenant') return { level: 'tenant' };
  if (scope.level === 'tenant_application') return { level: 'tenant_application', applicationId: scope.applicationId };
  throw new PortcullisError('INTERNAL', 'An application scope has no tenant.');
}

interface Reached {
  readonly tenant: TenantRecord | null;
  readonly application: ApplicationRecord | null;
}

/** Checks the actor may reach the scope (`write`: may change it) and that its tenant/application exist. */
async function reachScope(store: Store, actor: AdminActor, scope: AdminPolicyScope, write: boolean): Promise<Reached> {
  if (scope.level === 'application') {
    const application = await findApplication(store, scope.applicationId);
    if (write) assertPlatformAdmin(actor);
    return { tenant: null, application };
  }
  const { tenant } = await reachTenant(store, actor, scope.tenantId);
  const application = scope.level === 'tenant_application' ? await findApplication(store, scope.applicationId) : null;
  return { tenant, application };
}

function listVersions(store: Store, scope: AdminPolicyScope): Promise<readonly PolicyVersionRecord[]> {
  return scope.level === 'application'
    ? store.applicationPolicies.listVersions(scope.applicationId)
    : store.forTenant(scope.tenantId).policies.listVersions(tenantScopeOf(scope));
}

/**
 * A layer's history: the version in force at now, the newest version and all versions. Any admin that can
 * reach the scope may read it (application layers are readable by tenant admins; only platform admins write them).
 */
export async function getPolicy(deps: ServiceDeps, actor: AdminActor, scope: AdminPolicyScope): Promise<PolicyHistory> {
  await reachScope(deps.store, actor, scope, false);
  const versions = await listVersions(deps.store, scope);
  const inForce = versionInForce(versions, deps.now()) as PolicyVersionRecord | null;
  return { scope, inForce, latest: versions.at(-1) ?? null, versions };
}

function scopeData(scope: AdminPolicyScope): JsonObject {
  return { ...scope };
}

/**
 * The layers that make up "the policy as saved" at `effectiveAt`, read inside the save's transaction (so the new
 * version is among them). A tenant layer applies to every application of the tenant, each with its own layers, so
 * it is judged over the defaults alone; a tenant×application layer over the application's and the tenant's layers;
 * an application layer over the defaults.
 */
async function layersAsSaved(tx: Store, scope: AdminPolicyScope, version: number, layer: PolicyLayer, effectiveAt: number): Promise<LayerInput[]> {
  const saved = { version, effectiveAt, layer };
  if (scope.level === 'application') return [{ level: 'application', name: '', versions: [saved] }];
  if (scope.level === 'tenant') return [{ level: 'tenant', name: '', versions: [saved] }];
  const { layers } = await tx.forTenant(scope.tenantId).policies.listLayersFor(scope.applicationId);
  return layers.map((l) => ({ level: l.scope.level, name: l.name, versions: l.versions }));
}

/**
 * Saves a layer version inside a running transaction and writes its audit events there too. The caller has
 * checked access. Used by {@link savePolicy} and by the ZewstID `mfaPolicy` shortcut on applications.
 */
export async function saveLayerVersion(
  tx: Store,
  actor: AdminActor,
  scope: AdminPolicyScope,
  layer: PolicyLayer,
  times: { readonly effectiveAt: number; readonly now: number },
  deliverable: ReadonlySet<FactorType>,
  extra: JsonObject = {},
): Promise<SavedPolicy> {
  const { effectiveAt, now } = times;
  const previous = (await listVersions(tx, scope)).at(-1)?.layer ?? {};
  const createdBy = actorOf(actor);
  const version =
    scope.level === 'application'
      ? await tx.applicationPolicies.saveVersion(scope.applicationId, { layer, effectiveAt, createdBy, now })
      : await tx.forTenant(scope.tenantId).policies.saveVersion(tenantScopeOf(scope), { layer, effectiveAt, createdBy, now });
  const changed = changedFields(previous, layer);
  const applicationId = scope.level === 'tenant' ? null : scope.applicationId;
  const base = { at: now, actor: createdBy, subject: `policy:${scope.level}`, applicationId };
  const data: JsonObject = { scope: scopeData(scope), version, effectiveAt: isoOf(effectiveAt), changed, ...extra };
  const append = scope.level === 'application'
    ? (e: { event: 'mfa.policy_updated' | 'mfa.accepted_factors_updated'; data: JsonObject }) => tx.audit.append({ ...base, ...e, tenantId: null })
    : (e: { event: 'mfa.policy_updated' | 'mfa.accepted_factors_updated'; data: JsonObject }) => tx.forTenant(scope.tenantId).audit.append({ ...base, ...e });
  await append({ event: 'mfa.policy_updated', data });
  if (changed.includes('acceptableFactors') || changed.includes('strength')) {
    await append({
      event: 'mfa.accepted_factors_updated',
      data: {
        scope: scopeData(scope),
        version,
        effectiveAt: isoOf(effectiveAt),
        acceptableFactors: (layer.acceptableFactors ?? null) as JsonValue,
        strength: layer.strength ?? null,
        previous: { acceptableFactors: (previous.acceptableFactors ?? null) as JsonValue, strength: previous.strength ?? null },
      },
    });
  }
  const asSaved = resolvePolicy(await layersAsSaved(tx, scope, version, layer, effectiveAt), [], effectiveAt);
  return { scope, version, effectiveAt, layer, changed, warnings: policyDeliverabilityWarnings(layer, asSaved.values, deliverable) };
}

/**
 * Validates and saves a new version of a layer (application layers: platform admins only). The whole layer is
 * given each time; fields it leaves out are inherited from less specific layers.
 *
 * @example
 * await savePolicy(deps, admin, { level: 'tenant', tenantId }, { layer: { enrollment: 'required' } });
 */
export async function savePolicy(deps: ServiceDeps, actor: AdminActor, scope: AdminPolicyScope, input: SavePolicyInput): Promise<SavedPolicy> {
  const layer = checkLayer(input.layer);
  const now = deps.now();
  const effectiveAt = effectiveAtOf(input.effectiveAt, now);
  const mode = input.noncompliant ?? 'wall';
  if (mode === 'revoke_sessions') {
    if (scope.level !== 'tenant') throw new PortcullisError('INVALID_REQUEST', 'noncompliant=revoke_sessions applies to the tenant layer only.');
    if (effectiveAt > now) throw new PortcullisError('INVALID_REQUEST', 'noncompliant=revoke_sessions needs a version in force now (no effectiveAt ahead).');
  }
  return deps.store.transaction(async (tx) => {
    await reachScope(tx, actor, scope, true);
    const saved = await saveLayerVersion(tx, actor, scope, layer, { effectiveAt, now }, deps.deliverableFactors);
    if (input.noncompliant === undefined) return saved;
    if (mode === 'wall' || scope.level !== 'tenant') return { ...saved, rollout: { mode: 'wall', sessionsRevoked: 0, usersAffected: [] } };
    // In the saving transaction: the version, the revocations and their audit commit together (SECURITY rule 11).
    return { ...saved, rollout: await revokeNonCompliantSessions(tx, actor, scope.tenantId, saved.version, now) };
  });
}

/** ZewstID's application setting: `smart` is our `adaptive`. */
export type ZewstMfaPolicy = 'always' | 'smart' | 'never';

export function challengeOfZewst(mode: ZewstMfaPolicy): ChallengeMode {
  return mode === 'smart' ? 'adaptive' : mode;
}

/**
 * Saves a new application layer version that keeps the newest layer and sets `challenge` (ZewstID's
 * `{"mfaPolicy": …}`), inside the caller's transaction; the caller has checked platform access.
 */
export async function saveZewstMfaPolicy(tx: Store, actor: AdminActor, applicationId: string, mode: ZewstMfaPolicy, now: number, deliverable: ReadonlySet<FactorType>): Promise<SavedPolicy> {
  const scope: AdminPolicyScope = { level: 'application', applicationId };
  const base = (await tx.applicationPolicies.listVersions(applicationId)).at(-1)?.layer ?? {};
  const layer = checkLayer({ ...base, challenge: challengeOfZewst(mode) });
  return saveLayerVersion(tx, actor, scope, layer, { effectiveAt: now, now }, deliverable, { via: 'mfaPolicy', mfaPolicy: mode });
}

// -----------------------------------------------------------------------------------------------------------------
// Resolution

export interface ResolvedView {
  readonly application: ApplicationRecord;
  readonly policy: ResolvedPolicy;
  readonly at: number;
}

/**
 * The policy as the next decision for this tenant and application would see it — every value with the layer it
 * came from, the floors applied and the versions used — straight from storage (no cache). With `userId`, the
 * user's override layer is included.
 */
export async function resolvedPolicy(deps: ServiceDeps, actor: AdminActor, tenantId: string, applicationId: string, userId?: string): Promise<ResolvedView> {
  const { t } = userId === undefined ? await reachTenant(deps.store, actor, tenantId) : await reachUser(deps.store, actor, tenantId, userId);
  const application = await findApplication(deps.store, applicationId);
  const now = deps.now();
  return { application, policy: await loadPolicy(t, application, userId ?? null, now), at: now };
}

// -----------------------------------------------------------------------------------------------------------------
// Per-user override (DESIGN §2, §5): `enrollment` and/or an exemption, always with an expiry, audited.

/** Longest per-user override. */
export const MAX_OVERRIDE_MS = 366 * 86_400_000;

export interface UserOverrideInput {
  readonly enrollment?: Enrollment;
  /** Exempt the user until `expiresAt` (stored as the user's `exemptUntil`). */
  readonly exempt?: boolean;
  /** Epoch ms; mandatory, in the future, at most a year ahead. */
  readonly expiresAt: number;
}

export interface UserOverrideView {
  readonly userId: string;
  /** The override layer in force (only `enrollment`), or null. */
  readonly layer: PolicyLayer | null;
  readonly version: number | null;
  readonly expiresAt: number | null;
  /** The exemption's end, when one is in force. */
  readonly exemptUntil: number | null;
}

async function overrideView(store: Store, tenantId: string, userId: string, exemptUntil: number | null, now: number): Promise<UserOverrideView> {
  const versions = await store.forTenant(tenantId).policies.listVersions({ level: 'user', userId });
  const inForce = versionInForce(versions, now);
  const live = inForce !== null && Object.keys(inForce.layer).length > 0 ? inForce : null;
  return {
    userId,
    layer: live?.layer ?? null,
    version: live?.version ?? null,
    expiresAt: live?.expiresAt ?? null,
    exemptUntil: exemptUntil !== null && exemptUntil > now ? exemptUntil : null,
  };
}

/** The user's override in force, if any. */
export async function getUserOverride(deps: ServiceDeps, actor: AdminActor, tenantId: string, userId: string): Promise<UserOverrideView> {
  const { user } = await reachUser(deps.store, actor, tenantId, userId);
  return overrideView(deps.store, tenantId, user.id, user.exemptUntil, deps.now());
}

/**
 * Sets a user's override: a new user-layer version carrying `enrollment` (if given) that expires at `expiresAt`,
 * and `exemptUntil = expiresAt` when `exempt` (cleared otherwise: the new override replaces the old one).
 * Audited as `mfa.policy_updated` with the user scope.
 */
export async function setUserOverride(deps: ServiceDeps, actor: AdminActor, tenantId: string, userId: string, input: UserOverrideInput): Promise<UserOverrideView> {
  if (input.enrollment === undefined && input.exempt !== true) {
    throw new PortcullisError('INVALID_REQUEST', 'An override sets enrollment, or exempt: true, or both.');
  }
  const now = deps.now();
  const expiresAt = checkFuture(input.expiresAt, now, 'expiresAt');
  if (expiresAt > now + MAX_OVERRIDE_MS) throw new PortcullisError('INVALID_REQUEST', 'expiresAt is too far ahead (at most a year).');
  const layer = checkLayer(input.enrollment === undefined ? {} : { enrollment: input.enrollment });
  return deps.store.transaction(async (tx) => {
    const { t, user } = await reachUser(tx, actor, tenantId, userId);
    const older = await t.policies.listVersions({ level: 'user', userId: user.id });
    const previous = versionInForce(older, now)?.layer ?? {};
    const createdBy = actorOf(actor);
    const version = await t.policies.saveVersion({ level: 'user', userId: user.id }, { layer, effectiveAt: now, expiresAt, createdBy, now });
    // An older override that outlives this one would come back into force when this one expires (resolution takes
    // the newest version *in force*). An empty version from `expiresAt` on closes it: the new override replaces the
    // old one outright, as an admin expects.
    const resurfacing = versionInForce(older, expiresAt);
    if (resurfacing !== null && Object.keys(resurfacing.layer).length > 0) {
      await t.policies.saveVersion({ level: 'user', userId: user.id }, { layer: {}, effectiveAt: expiresAt, createdBy, now });
    }
    const exemptUntil = input.exempt === true ? expiresAt : null;
    await t.users.update(user.id, { exemptUntil }, now);
    await t.audit.append({
      at: now,
      actor: createdBy,
      subject: 'policy:user',
      userId: user.id,
      event: 'mfa.policy_updated',
      data: { scope: { level: 'user', tenantId, userId: user.id }, version, effectiveAt: isoOf(now), expiresAt: isoOf(expiresAt), changed: changedFields(previous, layer), enrollment: layer.enrollment ?? null, exempt: input.exempt === true },
    });
    return { userId: user.id, layer, version, expiresAt, exemptUntil };
  });
}

/**
 * Ends a user's override now: a new, empty user-layer version (an empty layer sets nothing, so resolution falls
 * through to the tenant's layers) and no exemption. Returns whether anything was in force.
 */
export async function removeUserOverride(deps: ServiceDeps, actor: AdminActor, tenantId: string, userId: string): Promise<{ removed: boolean }> {
  const now = deps.now();
  return deps.store.transaction(async (tx) => {
    const { t, user } = await reachUser(tx, actor, tenantId, userId);
    const current = await overrideView(tx, tenantId, user.id, user.exemptUntil, now);
    if (current.layer === null && current.exemptUntil === null && user.exemptUntil === null) return { removed: false };
    const createdBy = actorOf(actor);
    const version = await t.policies.saveVersion({ level: 'user', userId: user.id }, { layer: {}, effectiveAt: now, createdBy, now });
    await t.users.update(user.id, { exemptUntil: null }, now);
    await t.audit.append({
      at: now,
      actor: createdBy,
      subject: 'policy:user',
      userId: user.id,
      event: 'mfa.policy_updated',
      data: { scope: { level: 'user', tenantId, userId: user.id }, version, effectiveAt: isoOf(now), changed: current.layer === null ? [] : Object.keys(current.layer), removed: true, exempt: false },
    });
    return { removed: true };
  });
}
