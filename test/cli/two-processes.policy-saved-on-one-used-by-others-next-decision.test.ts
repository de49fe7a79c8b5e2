/**
 * DESIGN §2, "a policy change takes effect on the next decision on every node": two real server processes
 * (`node src/cli/main.ts start`, each with its own pool and catalog cache) on one PostgreSQL database. A policy
 * saved through process A is the one process B's very next decision uses — asserted on the decision's
 * `policyVersions` and its outcome — round after round, with B's cache warm before each save.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { postgresTestUrl } from '../support/postgres.ts';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { seedPostgresForProcesses, type SeededDatabase } from '../support/two-process-seed.ts';

const url = postgresTestUrl();

interface Decided {
  readonly status: string;
  readonly tenantVersion: number | null;
}

describe('two server processes on one PostgreSQL', { skip: url === undefined ? 'PORTCULLIS_TEST_DATABASE_URL is not set' : false }, () => {
  let seeded: SeededDatabase;
  let a: ServerProcess;
  let b: ServerProcess;

  before(async () => {
    seeded = await seedPostgresForProcesses(url as string, { enrollment: 'optional', challenge: 'never' });
    [a, b] = await Promise.all([startServerProcess(seeded), startServerProcess(seeded)]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await seeded?.drop();
  });

  const decide = async (node: ServerProcess): Promise<Decided> => {
    const res = await fetch(`${node.url}/api/v1/auth/mfa/status/check`, {
      method: 'POST',
      headers: { authorization: seeded.authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: seeded.slug, userId: seeded.userIds[0], context: { ip: '198.51.100.7' } }),
    });
    const body = (await res.json()) as { status: string; decision: { policyVersions: { level: string; version: number | null }[] } };
    assert.equal(res.status, 200, JSON.stringify(body));
    return { status: body.status, tenantVersion: body.decision.policyVersions.find((v) => v.level === 'tenant')?.version ?? null };
  };

  const save = async (node: ServerProcess, layer: object): Promise<number> => {
    const res = await fetch(`${node.url}/api/v1/tenants/${seeded.tenantId}/policy`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${seeded.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(layer),
    });
    const body = (await res.json()) as { version: number };
    assert.equal(res.status, 200, JSON.stringify(body));
    return body.version;
  };

  it('each version saved through A is in force at B’s very next decision (versions and outcome), and back', async () => {
    assert.deepEqual(await decide(b), { status: 'authenticated', tenantVersion: 1 });
    assert.deepEqual(await decide(b), { status: 'authenticated', tenantVersion: 1 }, 'B’s cache is warm');
    for (let round = 0; round < 5; round++) {
      const required = round % 2 === 0;
      const version = await save(a, required ? { enrollment: 'required', gracePeriodDays: 0, challenge: 'never' } : { enrollment: 'optional', challenge: 'never' });
      assert.equal(version, round + 2);
      assert.deepEqual(await decide(b), { status: required ? 'enrollment_required' : 'authenticated', tenantVersion: version }, `round ${round}: B's next decision`);
      assert.deepEqual(await decide(a), { status: required ? 'enrollment_required' : 'authenticated', tenantVersion: version }, `round ${round}: A's next decision`);
    }
  });

  it('the same the other way: saved through B, in force at A’s next decision', async () => {
    await decide(a);
    const version = await save(b, { enrollment: 'required', gracePeriodDays: 0, challenge: 'never' });
    assert.deepEqual(await decide(a), { status: 'enrollment_required', tenantVersion: version });
  });
});
