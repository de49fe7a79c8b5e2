/**
 * Issue 11, password spraying: failed password sign-ins from one IP across a tenant's accounts are counted in the
 * database, so the limit (50 per fixed 15-minute window) holds across nodes. On PostgreSQL two harness apps on one
 * schema are two nodes; SQLite is the embedded one-process deployment, so there both "nodes" are the one app.
 * - 80 wrong passwords for 80 identifiers (known and unknown) sent at once from one IP, half to each node: exactly
 *   50 are checked, 30 answer 429 RATE_LIMITED with `retryAfter` (the end of the window) before any password is
 *   checked, and one `auth.signin_blocked` records it;
 * - the user's known device still signs in from that IP; another IP, another tenant, a new window are not limited;
 * - right passwords give their count back (an office behind one address is not limited by its own sign-ins);
 * - an IPv6 /64 is one bucket; ended windows are swept.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { sweep } from '../../src/runtime.ts';
import { deviceKeyOf } from '../../src/services/risk.ts';
import { IP_FAILURE_LIMIT, IP_FAILURE_WINDOW_MS, ipBucketOf, throttleKey } from '../../src/services/signin-throttle.ts';
import { openDatabase } from '../../src/store/index.ts';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { postgresTestUrl } from '../support/postgres.ts';
import { api, auditOf, createAuthHarness, createClient, createTenant, createUser, expectError, expectStatus, PASSWORD, type ApiResult, type TestClient } from './auth-support.ts';

const SPRAYER = '203.0.113.66';

function tally(results: readonly ApiResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) {
    const key = `${r.status} ${String(r.body?.error ?? r.body?.status)}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

forEachDialect((dialect) => {
  let nodes: readonly Harness[];
  let client: TestClient;

  before(async () => {
    const first = await createAuthHarness(dialect);
    if (dialect === 'sqlite') {
      nodes = [first];
    } else {
      // A second node on the first one's schema: its own app, pool and clock, the same database.
      const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(first.database.db);
      const schema = rows[0]?.schema;
      const url = postgresTestUrl();
      assert.ok(schema !== undefined && url !== undefined);
      const second = await createAuthHarness(dialect, {
        openDatabase: async () => {
          const database = await openDatabase({ url, schema, poolSize: 5 });
          return { database, dispose: () => database.close() };
        },
      });
      second.clock.set(first.clock.now());
      // Real nodes share the secret key, so each opens the result-signing key the other sealed. Each harness seals
      // with its own random key: the second node signs with the first one's signer (same database).
      (second.deps as { results?: unknown }).results = first.deps.results;
      nodes = [first, second];
    }
    client = await createClient(nodes[0] as Harness, 'spray-app');
  });
  after(async () => {
    for (const node of [...nodes].reverse()) await node.close();
  });

  const h = (): Harness => nodes[0] as Harness;
  const node = (i: number): Harness => nodes[i % nodes.length] as Harness;
  const advance = (ms: number): void => {
    for (const n of nodes) n.clock.advance(ms);
  };
  const signIn = (i: number, tenant: string, identifier: string, password: string, context: Record<string, string>): Promise<ApiResult> =>
    api(node(i), client, 'POST', '/auth/signin', { tenant, identifier, password, context });

  describe('per-IP limit of failed sign-ins across accounts', () => {
    it('80 sprayed guesses at once over two nodes: exactly 50 are checked, the rest get 429 RATE_LIMITED until the window ends', async () => {
      const tenant = await createTenant(h(), 'spray', { enrollment: 'optional', challenge: 'never' });
      const other = await createTenant(h(), 'spray-other', { enrollment: 'optional', challenge: 'never' });
      const identifiers: string[] = [];
      for (let i = 0; i < 40; i++) {
        await createUser(h(), tenant.id, `user-${i}@spray.example`);
        identifiers.push(`user-${i}@spray.example`, `nobody-${i}@spray.example`);
      }
      const known = await createUser(h(), tenant.id, 'known@spray.example');
      await h().store.forTenant(tenant.id).trustedDevices.upsert(known.id, deviceKeyOf(tenant.id, 'known-phone') ?? '', h().clock.now());
      await createUser(h(), other.id, 'user-0@spray.example');
      const windowEnd = h().clock.now() + IP_FAILURE_WINDOW_MS;
      // Two apps, two pools, one database: what one node wrote, the other reads.
      assert.equal(nodes.length, dialect === 'postgres' ? 2 : 1);
      if (dialect === 'postgres') assert.notEqual(node(1).database, node(0).database);
      assert.equal((await node(1).store.forTenant(tenant.id).users.get(known.id))?.email, 'known@spray.example');

      const results = await Promise.all(identifiers.map((identifier, i) => signIn(i, 'spray', identifier, 'Winter2026!', { ip: SPRAYER, deviceId: `sprayer-${i}` })));
      assert.deepEqual(tally(results), { '401 INVALID_CREDENTIALS': IP_FAILURE_LIMIT, '429 RATE_LIMITED': 80 - IP_FAILURE_LIMIT });
      for (const r of results.filter((x) => x.status === 429)) {
        assert.equal(r.body.retryAfter, new Date(windowEnd).toISOString());
        assert.equal(r.body.message, 'Too many failed sign-ins from this address; retry later.');
      }
      const events = await auditOf(h(), tenant.id);
      assert.equal(events.filter((e) => e.event === 'user.signin_failed').length, IP_FAILURE_LIMIT, 'only the checked guesses are failures; the refused were never checked');
      const blocked = events.filter((e) => e.event === 'auth.signin_blocked');
      assert.equal(blocked.length, 1, 'one record per window, not one per refusal');
      assert.deepEqual(blocked[0]?.data, { reason: 'ip_failure_limit', ip: SPRAYER, failures: IP_FAILURE_LIMIT + 1, until: new Date(windowEnd).toISOString() });
      const row = await h().store.forTenant(tenant.id).signinThrottle.get('ip', throttleKey('ip', ipBucketOf(SPRAYER)), h().clock.now());
      assert.equal(row?.failures, 80, 'every attempt was counted, on both nodes, none lost');

      // From the sprayer's address: a right password on an unknown device is refused before it is checked, on either node.
      for (let i = 0; i < nodes.length; i++) expectError(await signIn(i, 'spray', 'user-1@spray.example', PASSWORD, { ip: SPRAYER }), 429, 'RATE_LIMITED', `node ${i}`);
      // …but the user's own known device is not the sprayer's, and passes.
      const own = await signIn(1, 'spray', 'known@spray.example', PASSWORD, { ip: SPRAYER, deviceId: 'known-phone' });
      expectStatus(own, 200, 'known device behind the sprayed address');
      assert.equal(own.body.status, 'authenticated');
      // Another address, and the same address in another tenant (SECURITY rule 8), are not limited.
      expectError(await signIn(0, 'spray', 'user-2@spray.example', 'Winter2026!', { ip: '203.0.113.67' }), 401, 'INVALID_CREDENTIALS');
      expectError(await signIn(1, 'spray-other', 'user-0@spray.example', 'Winter2026!', { ip: SPRAYER }), 401, 'INVALID_CREDENTIALS');

      // The window is fixed: one second before its end still refused, at its end a new window starts.
      advance(windowEnd - h().clock.now() - 1_000);
      expectError(await signIn(0, 'spray', 'user-3@spray.example', 'Winter2026!', { ip: SPRAYER }), 429, 'RATE_LIMITED');
      advance(1_000);
      expectError(await signIn(1, 'spray', 'user-3@spray.example', 'Winter2026!', { ip: SPRAYER }), 401, 'INVALID_CREDENTIALS');
      const restarted = await h().store.forTenant(tenant.id).signinThrottle.get('ip', throttleKey('ip', ipBucketOf(SPRAYER)), h().clock.now());
      assert.deepEqual(restarted, { failures: 1, windowEndsAt: h().clock.now() + IP_FAILURE_WINDOW_MS });

      // Ended windows are swept (the other address's, the other tenant's, the unknown identifiers' stand-ins).
      advance(IP_FAILURE_WINDOW_MS);
      const swept = await sweep(h().store, h().clock.now());
      assert.ok(swept.throttlesDeleted >= 3, JSON.stringify(swept));
      const left = await h().database.db.selectFrom('signin_throttle').select((eb) => eb.fn.countAll<number>().as('n')).where('tenant_id', '=', tenant.id).executeTakeFirstOrThrow();
      assert.equal(Number(left.n), 0);
    });

    it('right passwords give their count back: 60 sign-ins from one office address are never limited', async () => {
      const tenant = await createTenant(h(), 'office', { enrollment: 'optional', challenge: 'never' });
      for (let i = 0; i < 6; i++) await createUser(h(), tenant.id, `staff-${i}@office.example`);
      for (let i = 0; i < 60; i++) {
        expectStatus(await signIn(i, 'office', `staff-${i % 6}@office.example`, PASSWORD, { ip: '198.51.100.1' }), 200, `sign-in ${i}`);
      }
      const row = await h().store.forTenant(tenant.id).signinThrottle.get('ip', throttleKey('ip', '198.51.100.1'), h().clock.now());
      assert.equal(row?.failures, 0);
    });

    it('an IPv6 /64 is one address: its 51st failure is limited, the next /64 is not', async () => {
      const tenant = await createTenant(h(), 'six', { enrollment: 'optional', challenge: 'never' });
      await createUser(h(), tenant.id, 'v6@six.example');
      const results = await Promise.all(
        Array.from({ length: IP_FAILURE_LIMIT }, (_, i) => signIn(i, 'six', `guess-${i}@six.example`, 'Winter2026!', { ip: `2001:db8:0:1::${(i + 1).toString(16)}` })),
      );
      assert.deepEqual(tally(results), { '401 INVALID_CREDENTIALS': IP_FAILURE_LIMIT });
      expectError(await signIn(0, 'six', 'v6@six.example', 'Winter2026!', { ip: '2001:db8:0:1:ffff:ffff:ffff:ffff' }), 429, 'RATE_LIMITED');
      expectError(await signIn(1, 'six', 'v6@six.example', 'Winter2026!', { ip: '2001:db8:0:2::1' }), 401, 'INVALID_CREDENTIALS');
    });
  });
});
