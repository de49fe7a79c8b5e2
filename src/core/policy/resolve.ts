import type { FactorType } from '../factors.ts';
import { typesOfSet } from './acceptable.ts';
import { DEFAULT_POLICY, POLICY_FIELDS, type AcceptableFactors, type Policy, type PolicyField, type PolicyLayer } from './model.ts';

/** Where a layer sits, least to most specific; `floor` and `request` raise what the layers resolved. */
export type LayerLevel = 'default' | 'application' | 'tenant' | 'tenant_application' | 'user' | 'floor' | 'request';

/** The origin of one resolved value. */
export interface PolicySource {
  readonly level: LayerLevel;
  /** The application's, tenant's or floor's display name; empty for defaults. */
  readonly name: string;
  /** The saved version used; `null` for defaults, floors and request parameters. */
  readonly version: number | null;
}

/** One saved version of a layer. Every save is a new version (issue #3), optionally announced ahead. */
export interface PolicyVersion {
  readonly version: number;
  /** Epoch ms from which the version is in force (its save time unless announced ahead). */
  readonly effectiveAt: number;
  /** Epoch ms at which it stops applying (per-user overrides always carry one). */
  readonly expiresAt?: number | null;
  readonly layer: PolicyLayer;
}

export interface LayerInput {
  readonly level: 'application' | 'tenant' | 'tenant_application' | 'user';
  readonly name: string;
  readonly versions: readonly PolicyVersion[];
}

export interface Floor {
  readonly name: string;
  readonly layer: PolicyLayer;
}

export interface ResolvedPolicy {
  readonly values: Policy;
  readonly sources: Readonly<Record<PolicyField, PolicySource>>;
  /** The layer versions in force that this resolution used, least specific first. */
  readonly versions: readonly PolicySource[];
  /** Epoch ms of the newest layer version in force (the last policy change), or null when all defaults. */
  readonly changedAt: number | null;
  /** Names of the floors applied (e.g. `first-party`); a floor also overrides exemptions. */
  readonly floors: readonly string[];
}

const DEFAULT_SOURCE: PolicySource = Object.freeze({ level: 'default', name: '', version: null });
const DEFAULT_SOURCES = Object.freeze(
  Object.fromEntries(POLICY_FIELDS.map((f) => [f, DEFAULT_SOURCE])) as Record<PolicyField, PolicySource>,
);

/** The version of a layer in force at `now`: the highest version whose window contains `now`. */
export function versionInForce(versions: readonly PolicyVersion[], now: number): PolicyVersion | null {
  let best: PolicyVersion | null = null;
  for (const v of versions) {
    if (v.effectiveAt > now) continue;
    if (v.expiresAt != null && now >= v.expiresAt) continue;
    if (best === null || v.version > best.version) best = v;
  }
  return best;
}

/**
 * Resolves a policy: defaults, then each layer in the order given (least specific first; most specific wins per
 * field), then floors, which can only raise. Returns every field's value and the layer it came from.
 *
 * @example
 * const resolved = resolvePolicy(
 *   [{ level: 'application', name: 'bank', versions: [{ version: 1, effectiveAt: 0, layer: { challenge: 'always' } }] }],
 *   [],
 *   Date.parse('2026-01-01'),
 * );
 * resolved.values.challenge; // 'always'
 * resolved.sources.challenge; // { level: 'application', name: 'bank', version: 1 }
 */
export function resolvePolicy(layers: readonly LayerInput[], floors: readonly Floor[], now: number): ResolvedPolicy {
  let values: Record<string, unknown> | null = null;
  let sources: Record<string, PolicySource> | null = null;
  const versions: PolicySource[] = [];
  let changedAt: number | null = null;

  for (const input of layers) {
    const inForce = versionInForce(input.versions, now);
    if (inForce === null) continue;
    const source: PolicySource = { level: input.level, name: input.name, version: inForce.version };
    versions.push(source);
    if (changedAt === null || inForce.effectiveAt > changedAt) changedAt = inForce.effectiveAt;
    const layer = inForce.layer as Record<string, unknown>;
    for (const field in layer) {
      const value = layer[field];
      if (value === undefined || !Object.hasOwn(DEFAULT_POLICY, field)) continue;
      values ??= { ...DEFAULT_POLICY };
      sources ??= { ...DEFAULT_SOURCES };
      values[field] = value;
      sources[field] = source;
    }
  }

  let resolved: ResolvedPolicy = {
    values: (values ?? DEFAULT_POLICY) as Policy,
    sources: (sources ?? DEFAULT_SOURCES) as Record<PolicyField, PolicySource>,
    versions,
    changedAt,
    floors: [],
  };
  for (const floor of floors) {
    resolved = raisePolicy(resolved, floor.layer, { level: 'floor', name: floor.name, version: null });
  }
  return resolved;
}

const ENROLLMENT_RANK = { optional: 0, required: 1 } as const;
const CHALLENGE_RANK = { never: 0, adaptive: 1, always: 2 } as const;
const STRENGTH_RANK = { baseline: 0, enhanced: 1 } as const;

function stricterSet(current: AcceptableFactors, floor: AcceptableFactors): AcceptableFactors {
  const have = typesOfSet(current);
  const want = new Set(typesOfSet(floor));
  const both = have.filter((t) => want.has(t));
  if (both.length === want.size) return floor;
  if (both.length === have.length) return current;
  return both;
}

function intersect<T>(a: readonly T[], b: readonly T[]): T[] {
  const keep = new Set(b);
  return a.filter((x) => keep.has(x));
}

/**
 * Raises `resolved` by `layer`: every field it sets ends at the stricter of the two values. Floors and request
 * parameters (`acr_values`, `max_age`, a step-up action) go through here, so neither can lower a requirement.
 */
export function raisePolicy(resolved: ResolvedPolicy, layer: PolicyLayer, source: PolicySource): ResolvedPolicy {
  const v = resolved.values;
  const next: Record<string, unknown> = { ...v };
  const sources: Record<string, PolicySource> = { ...resolved.sources };
  const set = <K extends PolicyField>(field: K, value: Policy[K]): void => {
    if (JSON.stringify(value) !== JSON.stringify(v[field])) {
      next[field] = value;
      sources[field] = source;
    }
  };
  if (layer.enrollment !== undefined && ENROLLMENT_RANK[layer.enrollment] > ENROLLMENT_RANK[v.enrollment]) set('enrollment', layer.enrollment);
  if (layer.challenge !== undefined && CHALLENGE_RANK[layer.challenge] > CHALLENGE_RANK[v.challenge]) set('challenge', layer.challenge);
  if (layer.strength !== undefined && STRENGTH_RANK[layer.strength] > STRENGTH_RANK[v.strength]) set('strength', layer.strength);
  if (layer.acceptableFactors !== undefined) set('acceptableFactors', stricterSet(v.acceptableFactors, layer.acceptableFactors));
  if (layer.allowedFactors !== undefined) set('allowedFactors', intersect<FactorType>(v.allowedFactors, layer.allowedFactors));
  if (layer.gracePeriodDays !== undefined) set('gracePeriodDays', Math.min(v.gracePeriodDays, layer.gracePeriodDays));
  if (layer.exemptRoles !== undefined) set('exemptRoles', intersect(v.exemptRoles, layer.exemptRoles));
  if (layer.forceReenrollOnChange === true) set('forceReenrollOnChange', true);
  if (layer.recoveryCodes !== undefined) {
    set('recoveryCodes', { enabled: v.recoveryCodes.enabled && layer.recoveryCodes.enabled, count: layer.recoveryCodes.count });
  }
  if (layer.trustedDeviceDays !== undefined) set('trustedDeviceDays', Math.min(v.trustedDeviceDays, layer.trustedDeviceDays));
  if (layer.risk !== undefined) {
    set('risk', { challengeAt: Math.min(v.risk.challengeAt, layer.risk.challengeAt), blockAt: Math.min(v.risk.blockAt, layer.risk.blockAt) });
  }
  if (layer.stepUp !== undefined) {
    const actions: Record<string, number> = { ...v.stepUp.actions };
    for (const [name, seconds] of Object.entries(layer.stepUp.actions)) {
      actions[name] = Math.min(actions[name] ?? v.stepUp.defaultMaxAgeSeconds, seconds);
    }
    set('stepUp', { defaultMaxAgeSeconds: Math.min(v.stepUp.defaultMaxAgeSeconds, layer.stepUp.defaultMaxAgeSeconds), actions });
  }
  if (layer.totpIssuer !== undefined) set('totpIssuer', layer.totpIssuer);
  if (layer.minFactors !== undefined) set('minFactors', Math.max(v.minFactors, layer.minFactors));
  if (layer.downgradeProtection === true) set('downgradeProtection', true);

  return {
    values: next as unknown as Policy,
    sources: sources as Record<PolicyField, PolicySource>,
    versions: resolved.versions,
    changedAt: resolved.changedAt,
    floors: source.level === 'floor' ? [...resolved.floors, source.name] : resolved.floors,
  };
}

/** A layer as stored, keyed for lookup among every tenant's and application's layers. */
export type LayerScope =
  | { readonly level: 'application'; readonly applicationId: string }
  | { readonly level: 'tenant'; readonly tenantId: string }
  | { readonly level: 'tenant_application'; readonly tenantId: string; readonly applicationId: string };

export interface ScopedLayer {
  readonly scope: LayerScope;
  readonly name: string;
  readonly versions: readonly PolicyVersion[];
}

/** Every layer of a deployment, indexed so that finding one tenant's layers costs the same for 1 or 10,000 tenants. */
export type PolicyIndex = ReadonlyMap<string, ScopedLayer>;

function scopeKey(scope: LayerScope): string {
  switch (scope.level) {
    case 'application':
      return `a\u0000${scope.applicationId}`;
    case 'tenant':
      return `t\u0000${scope.tenantId}`;
    case 'tenant_application':
      return `ta\u0000${scope.tenantId}\u0000${scope.applicationId}`;
  }
}

/** Builds the lookup index once; later layers with the same scope replace earlier ones. */
export function indexPolicyLayers(layers: readonly ScopedLayer[]): PolicyIndex {
  const index = new Map<string, ScopedLayer>();
  for (const layer of layers) index.set(scopeKey(layer.scope), layer);
  return index;
}

/** The layers that apply to one tenant and application, least specific first (DESIGN §2). */
export function selectLayers(index: PolicyIndex, tenantId: string, applicationId: string): LayerInput[] {
  const out: LayerInput[] = [];
  const app = index.get(scopeKey({ level: 'application', applicationId }));
  if (app !== undefined) out.push({ level: 'application', name: app.name, versions: app.versions });
  const tenant = index.get(scopeKey({ level: 'tenant', tenantId }));
  if (tenant !== undefined) out.push({ level: 'tenant', name: tenant.name, versions: tenant.versions });
  const both = index.get(scopeKey({ level: 'tenant_application', tenantId, applicationId }));
  if (both !== undefined) out.push({ level: 'tenant_application', name: both.name, versions: both.versions });
  return out;
}

/** Renders a source for a reason trace: `application "bank" v3`, `floor "first-party"`, `default`. */
export function describeSource(source: PolicySource): string {
  if (source.level === 'default') return 'default';
  const level = source.level === 'tenant_application' ? 'tenant×application' : source.level;
  return source.version === null ? `${level} "${source.name}"` : `${level} "${source.name}" v${source.version}`;
}
