/**
 * The admin services' own shapes of what they store — what the admin API returns for each record (the routes never
 * see a storage record's type): times as ISO strings, ids as strings, and never a secret or hash
 * (no password hash, client secret hash, token hash, factor secret or factor data).
 */
import { describeSource, POLICY_FIELDS, type PolicyLayer, type PreviewBuckets, type ResolvedPolicy } from '../../core/index.ts';
import type { AdminTokenRecord, ApplicationRecord, AuditRecord, PolicyVersionRecord, TenantRecord, UserRecord } from '../../store/index.ts';
import type { FactorSummary } from './factors-admin.ts';
import type { PolicyPreview } from './policy-preview.ts';
import type { AdminPolicyScope, PolicyHistory, SavedPolicy, UserOverrideView } from './policies.ts';

/** Epoch ms → ISO-8601 (UTC). */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function isoOrNull(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : iso(ms);
}

export function viewTenant(t: TenantRecord): object {
  return { id: t.id, slug: t.slug, name: t.name, createdAt: iso(t.createdAt), updatedAt: iso(t.updatedAt) };
}

export function viewApplication(a: ApplicationRecord): object {
  return { id: a.id, name: a.name, firstParty: a.firstParty, clientId: a.clientId, allTenants: a.allTenants, createdAt: iso(a.createdAt), updatedAt: iso(a.updatedAt) };
}

export function viewUser(u: UserRecord, now: number): object {
  return {
    id: u.id,
    tenantId: u.tenantId,
    email: u.email,
    emailVerified: u.emailVerified,
    phone: u.phone,
    roles: [...u.roles],
    externalId: u.externalId,
    hasPassword: u.passwordHash !== null,
    firstSignInAt: isoOrNull(u.firstSignInAt),
    graceUntil: isoOrNull(u.graceUntil),
    exemptUntil: isoOrNull(u.exemptUntil),
    lastMfaAt: isoOrNull(u.lastMfaAt),
    locked: u.lockedUntil !== null && u.lockedUntil > now,
    unknownDeviceLocked: u.unknownDeviceLockedUntil !== null && u.unknownDeviceLockedUntil > now,
    createdAt: iso(u.createdAt),
    updatedAt: iso(u.updatedAt),
  };
}

export function viewScope(scope: AdminPolicyScope): object {
  return { ...scope };
}

export function viewVersion(v: PolicyVersionRecord): object {
  return { version: v.version, effectiveAt: iso(v.effectiveAt), expiresAt: isoOrNull(v.expiresAt), layer: v.layer, createdAt: iso(v.createdAt), createdBy: v.createdBy };
}

export function viewHistory(h: PolicyHistory): object {
  return {
    scope: viewScope(h.scope),
    inForce: h.inForce === null ? null : viewVersion(h.inForce),
    latest: h.latest === null ? null : viewVersion(h.latest),
    versions: h.versions.map(viewVersion),
  };
}

export function viewSaved(s: SavedPolicy): object {
  return {
    scope: viewScope(s.scope),
    version: s.version,
    effectiveAt: iso(s.effectiveAt),
    layer: s.layer,
    changed: [...s.changed],
    warnings: [...s.warnings],
    ...(s.rollout === undefined ? {} : { rollout: { mode: s.rollout.mode, sessionsRevoked: s.rollout.sessionsRevoked, usersAffected: [...s.rollout.usersAffected] } }),
  };
}

export function viewResolved(tenantId: string, applicationId: string, userId: string | null, at: number, p: ResolvedPolicy): object {
  const sources: Record<string, object> = {};
  for (const field of POLICY_FIELDS) {
    const s = p.sources[field];
    sources[field] = { level: s.level, name: s.name, version: s.version, from: describeSource(s) };
  }
  return {
    tenantId,
    applicationId,
    userId,
    at: iso(at),
    values: p.values,
    sources,
    versions: p.versions.map((v) => ({ level: v.level, name: v.name, version: v.version })),
    floors: [...p.floors],
    changedAt: isoOrNull(p.changedAt),
  };
}

export function viewOverride(o: UserOverrideView): object {
  return { userId: o.userId, layer: o.layer as PolicyLayer | null, version: o.version, expiresAt: isoOrNull(o.expiresAt), exemptUntil: isoOrNull(o.exemptUntil) };
}

/** Longest id list per preview bucket (counts stay exact). */
export const PREVIEW_ID_LIMIT = 1000;

function viewBucket(b: { readonly count: number; readonly userIds: readonly string[] }): object {
  return { count: b.count, userIds: b.userIds.slice(0, PREVIEW_ID_LIMIT) };
}

function viewBuckets(b: PreviewBuckets): object {
  const errorCodes: Record<string, object> = {};
  for (const [code, bucket] of Object.entries(b.errorCodes)) if (bucket !== undefined) errorCodes[code] = viewBucket(bucket);
  return {
    total: b.total,
    outcomes: { allow: viewBucket(b.outcomes.allow), challenge: viewBucket(b.outcomes.challenge), enroll: viewBucket(b.outcomes.enroll), block: viewBucket(b.outcomes.block) },
    errorCodes,
    inGrace: viewBucket(b.inGrace),
    nothingToEnroll: viewBucket(b.nothingToEnroll),
  };
}

export function viewPreview(p: PolicyPreview): object {
  return {
    applicationId: p.applicationId,
    scope: p.scope,
    at: iso(p.at),
    current: viewBuckets(p.result.current),
    draft: viewBuckets(p.result.draft),
    moves: p.result.moves.map((m) => ({ from: m.from, to: m.to, count: m.count, userIds: m.userIds.slice(0, PREVIEW_ID_LIMIT) })),
    unchanged: p.result.unchanged,
    warnings: [...p.warnings],
  };
}

export function viewFactor(f: FactorSummary): object {
  return {
    id: f.id,
    type: f.type,
    status: f.status,
    label: f.label,
    createdAt: iso(f.createdAt),
    confirmedAt: isoOrNull(f.confirmedAt),
    lastUsedAt: isoOrNull(f.lastUsedAt),
    ...(f.remaining === undefined ? {} : { remaining: f.remaining }),
    ...(f.multiDevice === undefined ? {} : { multiDevice: f.multiDevice }),
  };
}

export function viewAudit(e: AuditRecord): object {
  return {
    id: String(e.id),
    tenantId: e.tenantId,
    at: iso(e.at),
    actor: e.actor,
    subject: e.subject,
    event: e.event,
    userId: e.userId,
    applicationId: e.applicationId,
    data: e.data,
  };
}

export function viewAdminToken(t: AdminTokenRecord): object {
  return { id: t.id, tenantId: t.tenantId, label: t.label, createdAt: iso(t.createdAt) };
}
