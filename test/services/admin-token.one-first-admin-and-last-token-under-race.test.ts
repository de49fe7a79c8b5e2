/**
 * Admin tokens under concurrency, as several nodes on one database see them:
 * - nodes starting together on an empty database create one first platform admin, not one each;
 * - two admins deleting the last two platform tokens at once: one succeeds, the other gets `CONFLICT`, and one
 *   platform token remains (nobody is locked out).
 * PostgreSQL: four separate connection pools on one schema, as four nodes. SQLite: one process (a second node on
 * one SQLite file is not a supported deployment), the calls in parallel.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import { DELIVERABLE_FACTOR_TYPES } from '../../src/factors/index.ts';
import { createSecretBox } from '../../src/factors/secret-box.ts';
import { hashToken } from '../../src/factors/tokens.ts';
import { bootstrapFirstAdmin } from '../../src/runtime.ts';
import { deleteAdminToken } from '../../src/services/admin/admin-tokens.ts';
import type { ServiceDeps } from '../../src/services/deps.ts';
import { createStore, migrateToLatest, openDatabase, type Database, type Store } from '../../src/store/index.ts';
import { forEachDialect, openTestDatabase } from '../support/harness.ts';
import { createFreshSchema, dropSchema, postgresTestUrl } from '../support/postgres.ts';

const NODES = 4;
const silent = { info: (): void => {}, warn: (): void => {}, error: (): void => {} };

/** `NODES` stores on one fresh, migrated database (PostgreSQL: one pool each). */
async function openNodes(dialect: 'sqlite' | 'postgres'): Promise<{ stores: Store[]; close(): Promise<void> }> {
  if (dialect === 'sqlite') {
    const { database, dispose } = await openTestDatabase('sqlite');
    await migrateToLatest(database);
    const store = createStore(database);
    return { stores: Array.from({ length: NODES }, () => store), close: dispose };
  }
  const url = postgresTestUrl();
  if (url === undefined) throw new Error('PORTCULLIS_TEST_DATABASE_URL is not set');
  const schema = await createFreshSchema(url, 'portcullis_nodes');
  const databases: Database[] = [];
  for (let i = 0; i < NODES; i++) databases.push(await openDatabase({ url, schema, poolSize: 2 }));
  await migrateToLatest(databases[0] as Database);
  return {
    stores: databases.map((d) => createStore(d)),
    close: async () => {
      for (const d of databases) await d.close();
      await dropSchema(url, schema);
    },
  };
}

forEachDialect((dialect) => {
  let nodes: Awaited<ReturnType<typeof openNodes>>;
  before(async () => {
    nodes = await openNodes(dialect);
  });
  after(() => nodes.close());

  it('nodes starting together on an empty database create exactly one first platform admin', async () => {
    const now = Date.now();
    const tokens = await Promise.all(nodes.stores.map((store) => bootstrapFirstAdmin(store, now)));
    assert.equal(tokens.filter((t) => t !== null).length, 1, `tokens printed: ${tokens.filter((t) => t !== null).length}`);
    const store = nodes.stores[0] as Store;
    assert.equal(await store.adminTokens.count(), 1);
    const printed = tokens.find((t) => t !== null) ?? '';
    assert.notEqual(await store.adminTokens.findByHash(hashToken(printed)), null, 'the printed token is the stored one');
    // A later start finds it and prints nothing.
    assert.equal(await bootstrapFirstAdmin(store, now), null);
  });

  it('deleting the last two platform tokens at once from two nodes leaves one', async () => {
    const now = Date.now();
    const [first, second] = nodes.stores;
    if (first === undefined || second === undefined) throw new Error('two nodes expected');
    for (const t of (await first.adminTokens.list({ tenantId: null })).items) await first.adminTokens.delete(t.id);
    const a = await first.adminTokens.create({ tokenHash: hashToken(randomBytes(16).toString('hex')), tenantId: null, label: 'a', now });
    const b = await first.adminTokens.create({ tokenHash: hashToken(randomBytes(16).toString('hex')), tenantId: null, label: 'b', now });
    const depsOf = (store: Store): ServiceDeps => ({ store, secrets: createSecretBox(randomBytes(32)), now: () => now, logger: silent, deliverableFactors: DELIVERABLE_FACTOR_TYPES });
    // Each admin deletes the other's token, each from its own node.
    const results = await Promise.allSettled([deleteAdminToken(depsOf(first), { tokenId: a.id, tenantId: null }, b.id), deleteAdminToken(depsOf(second), { tokenId: b.id, tenantId: null }, a.id)]);
    const refused = results.filter((r) => r.status === 'rejected');
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(results));
    assert.equal(refused.length, 1);
    assert.equal((refused[0] as PromiseRejectedResult).reason.code, 'CONFLICT');
    assert.equal((await first.adminTokens.list({ tenantId: null })).items.length, 1, 'one platform token remains');
  });
});
