/**
 * Issue 13, cached reads that stay exact: each node caches tenants, applications, assignments and policy layers
 * (src/store/catalog.ts), validated by one version read per request. A change written through one node — a policy
 * version, an unassigned tenant, a rotated client secret, a renamed slug — is in force at the very next request on
 * the other node, whose cache was warm. Two real servers on one database (PostgreSQL: two pools; SQLite: two
 * connections to one file), over real sockets.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startBenchCluster, seedTenant, seedTotpUsers, type BenchCluster, type SeededTenant, type TotpUser } from '../../bench/support/bench-server.ts';
import { generateToken, hashToken } from '../../src/factors/tokens.ts';
import { forEachDialect } from '../support/harness.ts';

async function statusCheck(url: string, authorization: string, tenant: string, userId: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}/api/v1/auth/mfa/status/check`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body: JSON.stringify({ tenant, userId, context: { ip: '198.51.100.7', deviceId: 'catalog-device' } }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

forEachDialect((dialect) => {
  let cluster: BenchCluster;
  let seeded: SeededTenant;
  let user: TotpUser;
  before(async () => {
    cluster = await startBenchCluster(dialect, 2);
    const a = cluster.nodes[0];
    if (a === undefined) throw new Error('two nodes');
    seeded = await seedTenant(a.runtime, 'catalog', { enrollment: 'required', gracePeriodDays: 0, challenge: 'never' });
    [user] = (await seedTotpUsers(a.runtime, seeded.tenantId, 1, 'catalog')) as [TotpUser];
  });
  after(() => cluster.close());

  it('a policy, an assignment, a client secret and a slug changed on node A apply at node B\'s next request', async () => {
    const [a, b] = cluster.nodes as [BenchCluster['nodes'][0], BenchCluster['nodes'][0]];
    const tenantA = a.runtime.store.forTenant(seeded.tenantId);

    // Node B's cache is warm: the same answer twice, from policy version 1.
    for (let i = 0; i < 2; i++) {
      const warm = await statusCheck(b.url, seeded.authorization, seeded.slug, user.userId);
      assert.equal(warm.status, 200);
      assert.equal(warm.body['status'], 'authenticated');
    }

    // A policy version saved through node A: node B's very next decision uses it.
    const now = Date.now();
    await tenantA.policies.saveVersion({ level: 'tenant' }, { layer: { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' }, effectiveAt: now, createdBy: 'test', now });
    const tightened = await statusCheck(b.url, seeded.authorization, seeded.slug, user.userId);
    assert.equal(tightened.body['status'], 'mfa_required');
    const versions = (tightened.body['decision'] as { policyVersions: { level: string; version: number }[] }).policyVersions;
    assert.deepEqual(versions.filter((v) => v.level === 'tenant').map((v) => v.version), [2]);

    // The slug renamed through node A: the old one is unknown at node B at once, the new one works.
    await a.runtime.store.tenants.update(seeded.tenantId, { slug: 'catalog-renamed' }, Date.now());
    assert.equal((await statusCheck(b.url, seeded.authorization, seeded.slug, user.userId)).status, 404);
    assert.equal((await statusCheck(b.url, seeded.authorization, 'catalog-renamed', user.userId)).status, 200);

    // The client secret rotated through node A: the old secret is refused at node B at once, the new one accepted.
    const secret = generateToken('pcs');
    await a.runtime.store.applications.update(seeded.application.id, { clientSecretHash: hashToken(secret) }, Date.now());
    assert.equal((await statusCheck(b.url, seeded.authorization, 'catalog-renamed', user.userId)).status, 401);
    const rotated = `Basic ${Buffer.from(`${seeded.application.clientId}:${secret}`).toString('base64')}`;
    assert.equal((await statusCheck(b.url, rotated, 'catalog-renamed', user.userId)).status, 200);

    // The tenant unassigned from the application through node A: at node B it is as if it did not exist.
    await a.runtime.store.applications.unassignTenant(seeded.application.id, seeded.tenantId);
    const gone = await statusCheck(b.url, rotated, 'catalog-renamed', user.userId);
    assert.equal(gone.status, 404);
    assert.equal(gone.body['error'], 'NOT_FOUND');
  });
});
