/**
 * Seeds a fresh PostgreSQL schema for real server processes: migrated, with a platform admin token, a tenant with
 * a policy (version 1), an application serving every tenant and users without factors — written through the store,
 * as the admin API would, so the processes started on it find their data and need no bootstrap.
 */
import { randomBytes } from 'node:crypto';
import type { PolicyLayer } from '../../src/core/index.ts';
import { generateToken, hashToken } from '../../src/factors/tokens.ts';
import { createStore, migrateToLatest, openDatabase } from '../../src/store/index.ts';
import { createFreshSchema, dropSchema } from './postgres.ts';
import { urlWithSchema } from './server-process.ts';

export interface SeededDatabase {
  readonly databaseUrl: string;
  readonly secretKey: string;
  readonly adminToken: string;
  readonly tenantId: string;
  readonly slug: string;
  readonly authorization: string;
  readonly userIds: readonly string[];
  drop(): Promise<void>;
}

export async function seedPostgresForProcesses(baseUrl: string, layer: PolicyLayer, users = 1): Promise<SeededDatabase> {
  const schema = await createFreshSchema(baseUrl, 'portcullis_proc');
  const database = await openDatabase({ url: baseUrl, schema, poolSize: 2 });
  try {
    await migrateToLatest(database);
    const store = createStore(database);
    const now = Date.now();
    const adminToken = generateToken('pat');
    await store.adminTokens.create({ tokenHash: hashToken(adminToken), tenantId: null, label: 'test', now });
    const slug = `proc-${randomBytes(3).toString('hex')}`;
    const tenant = await store.tenants.create({ slug, name: 'Processes', now });
    await store.forTenant(tenant.id).policies.saveVersion({ level: 'tenant' }, { layer, effectiveAt: now, createdBy: 'test', now });
    const clientId = `pcc_${randomBytes(8).toString('hex')}`;
    const secret = generateToken('pcs');
    await store.applications.create({ name: 'Shop', firstParty: false, allTenants: true, clientId, clientSecretHash: hashToken(secret), now });
    const userIds: string[] = [];
    for (let i = 0; i < users; i++) userIds.push((await store.forTenant(tenant.id).users.create({ email: `user${i}@example.com`, now })).id);
    return {
      databaseUrl: urlWithSchema(baseUrl, schema),
      secretKey: randomBytes(32).toString('base64'),
      adminToken,
      tenantId: tenant.id,
      slug,
      authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
      userIds,
      drop: () => dropSchema(baseUrl, schema),
    };
  } finally {
    await database.close();
  }
}
