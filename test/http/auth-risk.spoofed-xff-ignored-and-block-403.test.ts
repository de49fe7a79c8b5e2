/**
 * The client address the risk engine sees, over HTTP on both databases: `X-Forwarded-For` is read only from a proxy
 * `trustProxy` names — a spoofed header from anyone else is ignored (the socket's address counts); an unparsable
 * forwarded address from a trusted proxy is the `ip_unparsable` signal, never a 5xx; and a block answers 403 with
 * ZewstID's `access_denied` body and an `auth.signin_blocked` audit record carrying the breakdown.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRiskEngine } from '../../src/risk/engine.ts';
import { loadDenyLists } from '../../src/risk/ip-lists.ts';
import type { Harness } from '../support/harness.ts';
import { forEachDialect } from '../support/harness.ts';
import { createAuthHarness, createClient, createTenant, createUser, type TestClient } from './auth-support.ts';

const PROXY = '10.0.0.1';
const BAD = '203.0.113.66';

forEachDialect((dialect) => {
  describe(`client address and blocking (${dialect})`, () => {
    let h: Harness;
    let client: TestClient;
    let userId: string;
    let tenantId: string;
    let dir: string;
    let lists: ReturnType<typeof loadDenyLists>;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'portcullis-xff-'));
      writeFileSync(join(dir, 'deny.txt'), `${BAD}\n`);
      lists = loadDenyLists([join(dir, 'deny.txt')], { pollMs: 0 });
      h = await createAuthHarness(dialect, { trustProxy: [PROXY], risk: createRiskEngine({ geoip: { kind: 'off' }, denyLists: lists, timeoutMs: 5_000 }) });
      client = await createClient(h, 'bank');
      const tenant = await createTenant(h, 'xff', { enrollment: 'required', gracePeriodDays: 0, challenge: 'adaptive' });
      tenantId = tenant.id;
      const user = await createUser(h, tenant.id, 'ada@example.com');
      userId = user.id;
      await h.store.forTenant(tenant.id).factors.create({ id: randomUUID(), userId, type: 'totp', status: 'active', label: 'phone', secretEnc: 'sealed-elsewhere', now: h.clock.now() });
    });
    after(async () => {
      lists.close();
      await h.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const statusCheck = (remoteAddress: string, forwarded: string | null) =>
      h.app.inject({
        method: 'POST',
        url: '/api/v1/auth/mfa/status/check',
        remoteAddress,
        headers: { authorization: client.authorization, 'content-type': 'application/json', ...(forwarded === null ? {} : { 'x-forwarded-for': forwarded }) },
        payload: JSON.stringify({ tenant: 'xff', userId, context: { deviceId: 'laptop' } }),
      });

    it('a deny-listed address in X-Forwarded-For from an untrusted peer is ignored: the peer address counts, no block', async () => {
      const res = await statusCheck('198.51.100.9', BAD);
      assert.equal(res.statusCode, 200, res.body);
      const body = JSON.parse(res.body) as { status: string; decision: { reasons: { detail: string }[] } };
      assert.equal(body.status, 'mfa_required');
      assert.doesNotMatch(JSON.stringify(body.decision.reasons), /ip_reputation/);
      const [row] = await h.store.forTenant(tenantId).signins.listRecent(userId, 1);
      assert.equal(row?.ip, '198.51.100.9');
    });

    it('the same header from the trusted proxy is believed: blocked, 403 access_denied, the breakdown in auth.signin_blocked', async () => {
      const res = await statusCheck(PROXY, BAD);
      assert.equal(res.statusCode, 403, res.body);
      const body = JSON.parse(res.body) as Record<string, unknown>;
      assert.equal(body.error, 'access_denied');
      assert.equal(body.error_description, 'Login blocked due to suspicious activity. Please try again later.');
      assert.equal(body.status, 'blocked');
      const audit = await h.store.forTenant(tenantId).audit.list({ events: ['auth.signin_blocked'], userId, limit: 5 });
      assert.equal(audit.items.length, 1);
      assert.match(JSON.stringify(audit.items[0]?.data), /ip_reputation \+80: the address is on the deny list .*deny\.txt/);
    });

    it('an unparsable X-Forwarded-For from the trusted proxy is a signal (ip_unparsable), answered 200, never 5xx', async () => {
      for (const forwarded of ['not an address', '999.1.1.1', '198.51.100.7, <script>']) {
        const res = await statusCheck(PROXY, forwarded);
        assert.equal(res.statusCode, 200, `${forwarded}: ${res.body}`);
        const body = JSON.parse(res.body) as { status: string; decision: { reasons: { detail: string }[] } };
        assert.equal(body.status, 'mfa_required');
        assert.match(JSON.stringify(body.decision.reasons), /ip_unparsable \+30/, forwarded);
      }
    });
  });
});
