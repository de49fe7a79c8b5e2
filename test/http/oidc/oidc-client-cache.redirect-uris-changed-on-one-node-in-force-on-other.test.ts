/**
 * The provider keeps an application's OIDC settings (its registered redirect URIs) in memory as of one catalog
 * version (src/http/oidc/provider.ts, migration 0012): a change written through one node is in force at the very next
 * authorization request on another node whose cache was warm. Two real servers on one database, over real sockets.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import { startBenchCluster, seedTenant, type BenchCluster, type SeededTenant } from '../../../bench/support/bench-server.ts';
import { oidcClientRepository } from '../../../src/store/index.ts';
import { forEachDialect } from '../../support/harness.ts';

const FIRST = 'https://rp.example/first';
const SECOND = 'https://rp.example/second';

/** The status of an authorization request: 303 to the pages for a registered redirect URI, 400 otherwise. */
async function authorize(url: string, clientId: string, redirectUri: string): Promise<number> {
  const params = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid',
    code_challenge: randomBytes(32).toString('base64url'),
    code_challenge_method: 'S256',
  });
  const response = await fetch(`${url}/oidc/auth?${params.toString()}`, { redirect: 'manual' });
  await response.arrayBuffer();
  return response.status;
}

forEachDialect((dialect) => {
  let cluster: BenchCluster;
  let seeded: SeededTenant;
  before(async () => {
    cluster = await startBenchCluster(dialect, 2);
    const a = cluster.nodes[0];
    if (a === undefined) throw new Error('two nodes');
    seeded = await seedTenant(a.runtime, 'oidc-cache', { enrollment: 'optional', gracePeriodDays: 0, challenge: 'never' });
    await oidcClientRepository(a.runtime.database).put(seeded.application.id, { redirectUris: [FIRST], postLogoutRedirectUris: [] }, Date.now());
  });
  after(() => cluster.close());

  it('redirect URIs changed or removed on node A apply at node B\'s next authorization request', async () => {
    const [a, b] = cluster.nodes as [BenchCluster['nodes'][0], BenchCluster['nodes'][0]];
    const clientId = seeded.application.clientId;
    // Node B's cache is warm.
    for (let i = 0; i < 2; i++) assert.equal(await authorize(b.url, clientId, FIRST), 303);
    assert.equal(await authorize(b.url, clientId, SECOND), 400);

    await oidcClientRepository(a.runtime.database).put(seeded.application.id, { redirectUris: [SECOND], postLogoutRedirectUris: [] }, Date.now());
    assert.equal(await authorize(b.url, clientId, FIRST), 400);
    assert.equal(await authorize(b.url, clientId, SECOND), 303);

    assert.equal(await oidcClientRepository(a.runtime.database).delete(seeded.application.id), true);
    assert.equal(await authorize(b.url, clientId, SECOND), 400);
  });
});
