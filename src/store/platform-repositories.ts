/** Platform-level repositories: tenants, applications, admin tokens. */
import { randomUUID } from 'node:crypto';
import { sql, type Selectable } from 'kysely';
import { PortcullisError } from '../core/index.ts';
import { changed, num, pageSize, textCursor, toPage, write, type Binding } from './kysely-support.ts';
import type { AdminTokensTable, ApplicationsTable, TenantsTable } from './schema.ts';
import type {
  AdminTokenRecord,
  AdminTokenRepository,
  ApplicationRecord,
  ApplicationRepository,
  TenantRecord,
  TenantRepository,
} from './types.ts';

function toTenant(row: Selectable<TenantsTable>): TenantRecord {
  return { id: row.id, slug: row.slug, name: row.name, createdAt: num(row.created_at), updatedAt: num(row.updated_at) };
}

/** Tenants over Kysely. */
export function tenantRepository(b: Binding): TenantRepository {
  const { db } = b;
  return {
    create: (input) =>
      write('The tenant', async () =>
        toTenant(
          await db
            .insertInto('tenants')
            .values({ id: input.id ?? randomUUID(), slug: input.slug, name: input.name, created_at: input.now, updated_at: input.now })
            .returningAll()
            .executeTakeFirstOrThrow(),
        ),
      ),
    get: async (id) => {
      const row = await db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
      return row === undefined ? null : toTenant(row);
    },
    findBySlug: async (slug) => {
      const row = await db.selectFrom('tenants').selectAll().where('slug', '=', slug).executeTakeFirst();
      return row === undefined ? null : toTenant(row);
    },
    list: async (options) => {
      const limit = pageSize(options?.limit);
      const cursor = textCursor(options);
      let q = db.selectFrom('tenants').selectAll().orderBy('id').limit(limit + 1);
      if (cursor !== null) q = q.where('id', '>', cursor);
      return toPage(await q.execute(), limit, toTenant, (r) => r.id);
    },
    update: (id, patch, now) =>
      write('The tenant', async () => {
        const row = await db
          .updateTable('tenants')
          .set({
            ...(patch.slug === undefined ? {} : { slug: patch.slug }),
            ...(patch.name === undefined ? {} : { name: patch.name }),
            updated_at: now,
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst();
        return row === undefined ? null : toTenant(row);
      }),
    delete: async (id) => changed(await db.deleteFrom('tenants').where('id', '=', id).executeTakeFirst()),
  };
}

function toApplication(row: Selectable<ApplicationsTable>): ApplicationRecord {
  return {
    id: row.id,
    name: row.name,
    firstParty: num(row.first_party) === 1,
    clientId: row.client_id,
    clientSecretHash: row.client_secret_hash,
    allTenants: num(row.all_tenants) === 1,
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
  };
}

/** Applications over Kysely. */
export function applicationRepository(b: Binding): ApplicationRepository {
  const { db } = b;
  return {
    create: (input) =>
      write('The application', async () =>
        toApplication(
          await db
            .insertInto('applications')
            .values({
              id: input.id ?? randomUUID(),
              name: input.name,
              first_party: input.firstParty ? 1 : 0,
              client_id: input.clientId,
              client_secret_hash: input.clientSecretHash,
              all_tenants: input.allTenants === true ? 1 : 0,
              created_at: input.now,
              updated_at: input.now,
            })
            .returningAll()
            .executeTakeFirstOrThrow(),
        ),
      ),
    get: async (id) => {
      const row = await db.selectFrom('applications').selectAll().where('id', '=', id).executeTakeFirst();
      return row === undefined ? null : toApplication(row);
    },
    findByClientId: async (clientId) => {
      const row = await db.selectFrom('applications').selectAll().where('client_id', '=', clientId).executeTakeFirst();
      return row === undefined ? null : toApplication(row);
    },
    list: async (options) => {
      const limit = pageSize(options?.limit);
      const cursor = textCursor(options);
      let q = db.selectFrom('applications').selectAll().orderBy('id').limit(limit + 1);
      if (cursor !== null) q = q.where('id', '>', cursor);
      return toPage(await q.execute(), limit, toApplication, (r) => r.id);
    },
    update: (id, patch, now) =>
      write('The application', async () => {
        const row = await db
          .updateTable('applications')
          .set({
            ...(patch.name === undefined ? {} : { name: patch.name }),
            ...(patch.firstParty === undefined ? {} : { first_party: patch.firstParty ? 1 : 0 }),
            ...(patch.clientSecretHash === undefined ? {} : { client_secret_hash: patch.clientSecretHash }),
            ...(patch.allTenants === undefined ? {} : { all_tenants: patch.allTenants ? 1 : 0 }),
            updated_at: now,
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst();
        return row === undefined ? null : toApplication(row);
      }),
    delete: async (id) => changed(await db.deleteFrom('applications').where('id', '=', id).executeTakeFirst()),
    servesTenant: async (applicationId, tenantId) => {
      const row = await db
        .selectFrom('applications')
        .select('all_tenants')
        .where('id', '=', applicationId)
        .where((eb) =>
          eb.or([
            eb('all_tenants', '=', 1),
            eb.exists(eb.selectFrom('application_tenants').select('tenant_id').where('application_id', '=', applicationId).where('tenant_id', '=', tenantId)),
          ]),
        )
        .executeTakeFirst();
      return row !== undefined;
    },
    assignTenant: (applicationId, tenantId, now) =>
      write('The assignment', async () => {
        const result = await db
          .insertInto('application_tenants')
          .values({ application_id: applicationId, tenant_id: tenantId, created_at: now })
          .onConflict((oc) => oc.columns(['application_id', 'tenant_id']).doNothing())
          .executeTakeFirst();
        return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
      }),
    unassignTenant: async (applicationId, tenantId) =>
      changed(await db.deleteFrom('application_tenants').where('application_id', '=', applicationId).where('tenant_id', '=', tenantId).executeTakeFirst()),
    listTenantIds: async (applicationId) =>
      (await db.selectFrom('application_tenants').select('tenant_id').where('application_id', '=', applicationId).orderBy('tenant_id').execute()).map((r) => r.tenant_id),
    listForTenant: async (tenantId) =>
      (
        await db
          .selectFrom('applications')
          .selectAll('applications')
          .innerJoin('application_tenants', 'application_tenants.application_id', 'applications.id')
          .where('application_tenants.tenant_id', '=', tenantId)
          .orderBy('applications.id')
          .execute()
      ).map(toApplication),
  };
}

function toAdminToken(row: Selectable<AdminTokensTable>): AdminTokenRecord {
  return { id: row.id, tokenHash: row.token_hash, tenantId: row.tenant_id, label: row.label, createdAt: num(row.created_at) };
}

/** Admin tokens over Kysely. */
export function adminTokenRepository(b: Binding): AdminTokenRepository {
  const { db } = b;
  return {
    create: (input) =>
      write('The admin token', async () =>
        toAdminToken(
          await db
            .insertInto('admin_tokens')
            .values({ id: input.id ?? randomUUID(), token_hash: input.tokenHash, tenant_id: input.tenantId, label: input.label, created_at: input.now })
            .returningAll()
            .executeTakeFirstOrThrow(),
        ),
      ),
    findByHash: async (tokenHash) => {
      const row = await db.selectFrom('admin_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
      return row === undefined ? null : toAdminToken(row);
    },
    list: async (options) => {
      const limit = pageSize(options?.limit);
      const cursor = textCursor(options);
      let q = db.selectFrom('admin_tokens').selectAll().orderBy('id').limit(limit + 1);
      if (cursor !== null) q = q.where('id', '>', cursor);
      if (options?.tenantId === null) q = q.where('tenant_id', 'is', null);
      else if (options?.tenantId !== undefined) q = q.where('tenant_id', '=', options.tenantId);
      return toPage(await q.execute(), limit, toAdminToken, (r) => r.id);
    },
    delete: async (id) => changed(await db.deleteFrom('admin_tokens').where('id', '=', id).executeTakeFirst()),
    count: async () => {
      const row = await db.selectFrom('admin_tokens').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      return num(row.n);
    },
    lockForChange: async () => {
      if (!b.inTransaction) throw new PortcullisError('INTERNAL', 'lockForChange needs a transaction.');
      // SHARE ROW EXCLUSIVE conflicts with itself and with writes, not with reads (token checks go on).
      if (b.dialect === 'postgres') await sql`lock table admin_tokens in share row exclusive mode`.execute(db);
    },
  };
}
