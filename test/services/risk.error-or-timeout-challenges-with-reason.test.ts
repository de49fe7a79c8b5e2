/**
 * SECURITY "Risk engine throws or times out → `challenge`, with the reason in the trace", through the real
 * decision path (`checkStatus` → `evaluate` → core `decide`) on a real SQLite store, under `challenge: adaptive`
 * for a user signing in from the device and IP of an earlier sign-in that completed MFA (so both are known:
 * trusted-device rows, the IP under its `net:` key) — allowed without a code while the signals can be read,
 * challenged with `risk_unavailable` when reading them throws or is slower than the timeout.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DELIVERABLE_FACTOR_TYPES } from '../../src/factors/index.ts';
import { createSecretBox } from '../../src/factors/secret-box.ts';
import type { ServiceDeps } from '../../src/services/deps.ts';
import { checkStatus } from '../../src/services/flow-service.ts';
import { createRiskEngine } from '../../src/risk/engine.ts';
import { deviceKeyOf, networkKeyOf } from '../../src/services/risk.ts';
import { createStore, migrateToLatest, type ApplicationRecord, type Store, type TenantStore } from '../../src/store/index.ts';
import { openTestDatabase } from '../support/harness.ts';

const silent = { info: () => {}, warn: () => {}, error: () => {} };
const CONTEXT = { ip: '192.0.2.7', deviceId: 'laptop-7', userAgent: 'test' };

/** The store, with the risk history read (known device / network, history, velocity) replaced by `read`. */
function withHistory(store: Store, read: TenantStore['riskHistory']['read']): Store {
  return {
    ...store,
    forTenant: (tenantId) => {
      const tenant = store.forTenant(tenantId);
      return { ...tenant, riskHistory: { read } };
    },
  };
}

describe('risk signals that fail or hang', () => {
  let dispose: () => Promise<void>;
  let store: Store;
  let deps: ServiceDeps;
  let app: ApplicationRecord;
  let tenantId: string;
  let userId: string;
  const now = Date.now();

  before(async () => {
    const opened = await openTestDatabase('sqlite');
    dispose = opened.dispose;
    await migrateToLatest(opened.database);
    store = createStore(opened.database);
    deps = { store, secrets: createSecretBox(randomBytes(32)), now: () => now, logger: silent, deliverableFactors: DELIVERABLE_FACTOR_TYPES };
    tenantId = (await store.tenants.create({ slug: 'risky', name: 'Risky', now })).id;
    app = await store.applications.create({ name: 'bank', firstParty: false, clientId: 'risk-client', clientSecretHash: 'x', allTenants: true, now });
    const t = store.forTenant(tenantId);
    await t.policies.saveVersion({ level: 'tenant' }, { layer: { enrollment: 'required', gracePeriodDays: 0, challenge: 'adaptive' }, effectiveAt: now, createdBy: 'test', now });
    userId = (await t.users.create({ email: 'ada@example.com', passwordHash: null, now })).id;
    await t.factors.create({ id: randomUUID(), userId, type: 'totp', status: 'active', label: 'phone', secretEnc: 'sealed-elsewhere', now });
    await t.signins.append({ userId, applicationId: app.id, ip: CONTEXT.ip, deviceId: deviceKeyOf(tenantId, CONTEXT.deviceId), userAgent: 'test', outcome: 'succeeded', at: now - 60_000 });
    // That earlier sign-in completed MFA: its device and network are known.
    await t.trustedDevices.upsert(userId, deviceKeyOf(tenantId, CONTEXT.deviceId)!, now - 60_000);
    await t.trustedDevices.upsert(userId, networkKeyOf(tenantId, CONTEXT.ip)!, now - 60_000);
  });
  after(() => dispose());

  const check = (d: ServiceDeps) => checkStatus(d, { application: app }, { tenant: 'risky', user: { userId }, context: CONTEXT });

  it('known device and IP, signals readable: allowed without a code (the baseline)', async () => {
    const flow = await check(deps);
    assert.equal(flow.status, 'authenticated', JSON.stringify(flow));
  });

  it('reading the signals throws: challenged, the reason names the failure', async () => {
    const broken = withHistory(store, async () => {
      throw new TypeError('sign-in history unreadable');
    });
    const flow = await check({ ...deps, store: broken });
    assert.equal(flow.status, 'mfa_required', JSON.stringify(flow));
    const reasons = JSON.stringify(flow.decision);
    assert.match(reasons, /risk_unavailable/);
    assert.match(reasons, /risk assessment unavailable \(TypeError\); failing closed/);
  });

  it('reading the signals hangs: given up after the timeout, challenged with reason "timeout"', async () => {
    const hanging = withHistory(store, () => new Promise(() => undefined));
    const started = performance.now();
    const engine = createRiskEngine({ geoip: { kind: 'off' }, timeoutMs: 50 });
    const collected = await engine.collect(hanging.forTenant(tenantId), userId, CONTEXT, now);
    assert.ok(performance.now() - started < 2_000);
    assert.deepEqual(collected, { status: 'unavailable', reason: 'timeout' });

    const flow = await check({ ...deps, store: hanging });
    assert.equal(flow.status, 'mfa_required', JSON.stringify(flow));
    assert.match(JSON.stringify(flow.decision), /risk assessment unavailable \(timeout\); failing closed/);
  });
});
