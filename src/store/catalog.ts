/**
 * The catalog cache (issue 13): tenants, applications, their assignments and policy layers — what every decision
 * reads and almost nothing writes — held in this node's memory and validated by one read of `catalog_version` per
 * request. A trigger moves that number on in the transaction of every write to those tables
 * (migrations/0006-catalog-version.ts), so:
 *
 * - a request that reads version v and finds the cache at v uses it: every row cached at v was loaded after v was
 *   read by some request, and no write has committed since (it would have moved the number on);
 * - a request that reads another version drops the whole cache and loads what it needs afresh — a policy saved on
 *   one node is in force at the very next decision on every other node, as without a cache (DESIGN §2);
 * - rows loaded while a write commits may be newer than the version they are filed under, never older: the next
 *   request sees the new number and drops them.
 *
 * Only rows that exist are cached (an unknown client id or slug costs its query every time: nobody can fill this
 * node's memory with misses). Writes, listings and the admin API read the tables directly.
 */
import { CompiledQuery, type Kysely } from 'kysely';
import type { ScopedLayer } from '../core/index.ts';
import { num } from './kysely-support.ts';
import type { Schema } from './schema.ts';
import type { ApplicationRecord, LayersFor, Store, TenantRecord, UserLayer } from './types.ts';

/** The catalog as of one version read: use it for one request, then let it go. */
export interface CatalogView {
  readonly version: number;
  applicationByClientId(clientId: string): Promise<ApplicationRecord | null>;
  tenantById(id: string): Promise<TenantRecord | null>;
  tenantBySlug(slug: string): Promise<TenantRecord | null>;
  /** Whether the application is assigned to the tenant (an `allTenants` application serves every tenant). */
  serves(application: ApplicationRecord, tenantId: string): Promise<boolean>;
  /** The ids of the tenants the application is assigned to, as `ApplicationRepository.listTenantIds` answers. */
  tenantIdsOf(application: ApplicationRecord): Promise<readonly string[]>;
  /** The policy layers of a decision, as `TenantPolicyRepository.listLayersFor` answers. */
  layersFor(tenantId: string, applicationId: string, userId: string | null): Promise<LayersFor>;
}

export interface Catalog {
  /** Reads the version (one statement) and answers a view valid for it. */
  current(): Promise<CatalogView>;
}

interface Entries {
  version: number;
  readonly applications: Map<string, ApplicationRecord>;
  readonly tenantsById: Map<string, TenantRecord>;
  readonly tenantsBySlug: Map<string, TenantRecord>;
  readonly serves: Map<string, boolean>;
  readonly tenantIds: Map<string, readonly string[]>;
  readonly layers: Map<string, readonly ScopedLayer[]>;
  /** Per tenant: every user override layer, by user id. */
  readonly userLayers: Map<string, ReadonlyMap<string, UserLayer>>;
}

const READ_VERSION = CompiledQuery.raw('select version from catalog_version where id = 1');

function emptyEntries(version: number): Entries {
  return { version, applications: new Map(), tenantsById: new Map(), tenantsBySlug: new Map(), serves: new Map(), tenantIds: new Map(), layers: new Map(), userLayers: new Map() };
}

/** The cached value of `key`, else `load`ed and cached unless it is `null` (misses are never cached). */
async function remember<V>(map: Map<string, V>, key: string, load: () => Promise<V | null>): Promise<V | null> {
  const hit = map.get(key);
  if (hit !== undefined) return hit;
  const value = await load();
  if (value !== null) map.set(key, value);
  return value;
}

/**
 * The catalog of one store (one node). `db` is the root instance (never a transaction's): views are taken at the
 * start of a request, outside any transaction.
 */
export function createCatalog(db: Kysely<Schema>, store: () => Store): Catalog {
  let entries = emptyEntries(-1);
  return {
    async current(): Promise<CatalogView> {
      const { rows } = await db.executeQuery<{ version: number | string }>(READ_VERSION);
      const version = num(rows[0]?.version ?? -1);
      if (entries.version !== version) entries = emptyEntries(version);
      const e = entries;
      const s = store();
      // A tenant is filed under its id and its slug, whichever found it.
      const tenant = async (map: Map<string, TenantRecord>, key: string, load: () => Promise<TenantRecord | null>): Promise<TenantRecord | null> => {
        const found = await remember(map, key, load);
        if (found !== null) {
          e.tenantsById.set(found.id, found);
          e.tenantsBySlug.set(found.slug, found);
        }
        return found;
      };
      return {
        version,
        applicationByClientId: (clientId) => remember(e.applications, clientId, () => s.applications.findByClientId(clientId)),
        tenantById: (id) => tenant(e.tenantsById, id, () => s.tenants.get(id)),
        tenantBySlug: (slug) => tenant(e.tenantsBySlug, slug, () => s.tenants.findBySlug(slug)),
        serves: async (application, tenantId) =>
          application.allTenants || ((await remember(e.serves, `${application.id}\u0000${tenantId}`, () => s.applications.servesTenant(application.id, tenantId))) ?? false),
        tenantIdsOf: async (application) => (await remember(e.tenantIds, application.id, () => s.applications.listTenantIds(application.id))) ?? [],
        layersFor: async (tenantId, applicationId, userId) => {
          const policies = s.forTenant(tenantId).policies;
          const layers = (await remember(e.layers, `${tenantId}\u0000${applicationId}`, async () => (await policies.listLayersFor(applicationId, null)).layers)) ?? [];
          if (userId === null) return { layers, userLayer: null };
          const users = await remember(e.userLayers, tenantId, async () => new Map((await policies.listUserLayers()).map((l) => [l.userId, l] as const)));
          return { layers, userLayer: users?.get(userId) ?? null };
        },
      };
    },
  };
}
