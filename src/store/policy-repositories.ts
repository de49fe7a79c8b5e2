/** Versioned policy layers: every save is a new version, `max + 1` for its scope, allocated atomically. */
import type { Kysely, Selectable } from 'kysely';
import type { LayerScope, PolicyLayer, PolicyVersion, ScopedLayer } from '../core/index.ts';
import { atomically, num, numOrNull, write, type Binding } from './kysely-support.ts';
import type { PolicyVersionsTable, Schema } from './schema.ts';
import type {
  ApplicationPolicyRepository,
  NewPolicyVersion,
  PolicyLevel,
  PolicyVersionRecord,
  TenantPolicyRepository,
  TenantPolicyScope,
  UserLayer,
} from './types.ts';

interface FullScope {
  readonly level: PolicyLevel;
  readonly tenantId: string | null;
  readonly applicationId: string | null;
  readonly userId: string | null;
}

/** One unambiguous text key per scope (JSON of its parts: ids may contain any character but NUL). */
function scopeKey(scope: FullScope): string {
  return JSON.stringify([scope.level, scope.tenantId, scope.applicationId, scope.userId]);
}

function fullScope(tenantId: string, scope: TenantPolicyScope): FullScope {
  switch (scope.level) {
    case 'tenant':
      return { level: 'tenant', tenantId, applicationId: null, userId: null };
    case 'tenant_application':
      return { level: 'tenant_application', tenantId, applicationId: scope.applicationId, userId: null };
    case 'user':
      return { level: 'user', tenantId, applicationId: null, userId: scope.userId };
  }
}

function toVersion(row: Selectable<PolicyVersionsTable>): PolicyVersionRecord {
  return {
    version: num(row.version),
    effectiveAt: num(row.effective_at),
    expiresAt: numOrNull(row.expires_at),
    layer: JSON.parse(row.layer) as PolicyLayer,
    level: row.level as PolicyLevel,
    tenantId: row.tenant_id,
    applicationId: row.application_id,
    userId: row.user_id,
    createdAt: num(row.created_at),
    createdBy: row.created_by,
  };
}

function coreVersion(row: Selectable<PolicyVersionsTable>): PolicyVersion {
  return { version: num(row.version), effectiveAt: num(row.effective_at), expiresAt: numOrNull(row.expires_at), layer: JSON.parse(row.layer) as PolicyLayer };
}

/**
 * Allocates the next version with one upsert on `policy_heads` (the row lock serialises concurrent saves of the
 * same scope on PostgreSQL; SQLite's single connection does) and inserts the version, in one transaction.
 */
function saveVersion(b: Binding, scope: FullScope, input: NewPolicyVersion): Promise<number> {
  const key = scopeKey(scope);
  return write('The policy version', () =>
    atomically(b, async (db: Kysely<Schema>) => {
      const head = await db
        .insertInto('policy_heads')
        .values({ scope_key: key, last_version: 1 })
        .onConflict((oc) => oc.column('scope_key').doUpdateSet((eb) => ({ last_version: eb('policy_heads.last_version', '+', 1) })))
        .returning('last_version')
        .executeTakeFirstOrThrow();
      const version = num(head.last_version);
      await db
        .insertInto('policy_versions')
        .values({
          scope_key: key,
          level: scope.level,
          tenant_id: scope.tenantId,
          application_id: scope.applicationId,
          user_id: scope.userId,
          version,
          effective_at: input.effectiveAt,
          expires_at: input.expiresAt ?? null,
          layer: JSON.stringify(input.layer),
          created_at: input.now,
          created_by: input.createdBy,
        })
        .execute();
      return version;
    }),
  );
}

async function listVersions(b: Binding, scope: FullScope): Promise<readonly PolicyVersionRecord[]> {
  const rows = await b.db.selectFrom('policy_versions').selectAll().where('scope_key', '=', scopeKey(scope)).orderBy('version').execute();
  return rows.map(toVersion);
}

/** Application layers (platform level) over Kysely. */
export function applicationPolicyRepository(b: Binding): ApplicationPolicyRepository {
  const scope = (applicationId: string): FullScope => ({ level: 'application', tenantId: null, applicationId, userId: null });
  return {
    saveVersion: (applicationId, input) => saveVersion(b, scope(applicationId), input),
    listVersions: (applicationId) => listVersions(b, scope(applicationId)),
  };
}

function groupUserLayers(rows: readonly Selectable<PolicyVersionsTable>[]): UserLayer[] {
  const byUser = new Map<string, PolicyVersion[]>();
  for (const row of rows) {
    if (row.user_id === null) continue;
    let versions = byUser.get(row.user_id);
    if (versions === undefined) byUser.set(row.user_id, (versions = []));
    versions.push(coreVersion(row));
  }
  return [...byUser].map(([userId, versions]) => ({ level: 'user', name: userId, userId, versions }));
}

/** A tenant's layers over Kysely. */
export function tenantPolicyRepository(b: Binding, tenantId: string): TenantPolicyRepository {
  const { db } = b;
  return {
    saveVersion: (scope, input) => saveVersion(b, fullScope(tenantId, scope), input),
    listVersions: (scope) => listVersions(b, fullScope(tenantId, scope)),

    listLayersFor: async (applicationId, userId) => {
      // One round trip on the primary key: every version of the (up to) four scopes, with the names the reason
      // trace shows. Scalar subqueries, not joins: measured several times faster on SQLite for these tiny lookups.
      const keys = [
        scopeKey({ level: 'application', tenantId: null, applicationId, userId: null }),
        scopeKey({ level: 'tenant', tenantId, applicationId: null, userId: null }),
        scopeKey({ level: 'tenant_application', tenantId, applicationId, userId: null }),
        ...(userId === undefined || userId === null ? [] : [scopeKey({ level: 'user', tenantId, applicationId: null, userId })]),
      ];
      const rows = await db
        .selectFrom('policy_versions as pv')
        .selectAll('pv')
        .select((eb) => [
          eb.selectFrom('applications as a').select('a.name').whereRef('a.id', '=', 'pv.application_id').as('application_name'),
          eb.selectFrom('tenants as t').select('t.name').whereRef('t.id', '=', 'pv.tenant_id').as('tenant_name'),
        ])
        .where('pv.scope_key', 'in', keys)
        .execute();
      rows.sort((x, y) => num(x.version) - num(y.version)); // in JS: an SQL sort over an IN list costs more here

      const found: Partial<Record<'application' | 'tenant' | 'tenant_application', { name: string; versions: PolicyVersion[] }>> = {};
      const userRows: Selectable<PolicyVersionsTable>[] = [];
      for (const row of rows) {
        if (row.level === 'user') {
          userRows.push(row);
          continue;
        }
        const level = row.level as 'application' | 'tenant' | 'tenant_application';
        const name =
          level === 'application'
            ? (row.application_name ?? '')
            : level === 'tenant'
              ? (row.tenant_name ?? '')
              : `${row.tenant_name ?? ''} × ${row.application_name ?? ''}`;
        (found[level] ??= { name, versions: [] }).versions.push(coreVersion(row));
      }
      const layers: ScopedLayer[] = [];
      const push = (level: 'application' | 'tenant' | 'tenant_application', scope: LayerScope): void => {
        const f = found[level];
        if (f !== undefined) layers.push({ scope, name: f.name, versions: f.versions });
      };
      push('application', { level: 'application', applicationId });
      push('tenant', { level: 'tenant', tenantId });
      push('tenant_application', { level: 'tenant_application', tenantId, applicationId });
      return { layers, userLayer: groupUserLayers(userRows)[0] ?? null };
    },

    listUserLayers: async () => {
      const rows = await db
        .selectFrom('policy_versions')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('level', '=', 'user')
        .orderBy('user_id')
        .orderBy('version')
        .execute();
      return groupUserLayers(rows);
    },
  };
}
