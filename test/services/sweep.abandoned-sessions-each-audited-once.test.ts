/**
 * Housekeeping (src/runtime.ts `sweep`), on SQLite and PostgreSQL: every MFA session left open past its expiry is
 * marked expired and audited `mfa.abandoned` exactly once — the expiry and its records written together, the
 * records in multi-row statements — and a second sweep finds nothing more.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sweep } from '../../src/runtime.ts';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { api, auditOf, createAuthHarness, createClient, createTenant, createUser, expectStatus, type TestClient } from '../http/auth-support.ts';

forEachDialect((dialect) => {
  let h: Harness;
  let client: TestClient;

  before(async () => {
    h = await createAuthHarness(dialect);
    client = await createClient(h, 'sweep');
  });
  after(() => h.close());

  describe('sweep', () => {
    it('audits each abandoned session once, in two tenants, and finds nothing the second time', async () => {
      const layer = { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' } as const;
      const a = await createTenant(h, 'sweep-a', layer);
      const b = await createTenant(h, 'sweep-b', layer);
      const userA = await createUser(h, a.id, 'a@example.com');
      const userB = await createUser(h, b.id, 'b@example.com');
      // Users without a factor under a required policy: each check opens an MFA session (the enrollment wall).
      let opened = 0;
      for (const [tenant, userId, n] of [['sweep-a', userA.id, 3], ['sweep-b', userB.id, 2]] as const) {
        for (let i = 0; i < n; i++) {
          const res = await api(h, client, 'POST', '/auth/mfa/status/check', { tenant, userId, context: { ip: '192.0.2.10' } });
          expectStatus(res, 200, 'status/check');
          assert.match(res.body.mfaSessionId, /^mfa_/);
          opened++;
        }
      }
      h.clock.advance(60 * 60_000);
      const first = await sweep(h.store, h.clock.now());
      const abandoned = async (tenantId: string): Promise<number> => (await auditOf(h, tenantId)).filter((e) => e.event === 'mfa.abandoned').length;
      assert.equal(first.abandoned, (await abandoned(a.id)) + (await abandoned(b.id)), 'one record per expired session');
      assert.equal(first.abandoned, opened, 'every session opened was abandoned');
      const second = await sweep(h.store, h.clock.now());
      assert.equal(second.abandoned, 0);
      assert.equal((await abandoned(a.id)) + (await abandoned(b.id)), first.abandoned, 'no record twice');
    });
  });
});
