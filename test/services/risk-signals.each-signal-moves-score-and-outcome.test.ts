/**
 * The risk engine through the real decision path (`checkStatus` → `evaluate` → core `decide`) on both databases,
 * with GeoIP answered from a small MMDB file this test writes (documentation networks → known cities), never from
 * the network. Each user starts from a quiet baseline — the device and the address known (MFA completed from them),
 * a successful sign-in in London a day ago — under `challenge: adaptive`; each case changes one fact and checks
 * the signal, its points in the reasons, the score and the outcome. Also: London then Sydney 30 minutes later,
 * with and without accuracy radii; a deny list re-read after it changed; a missing GeoIP file → challenge.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PortcullisError, type PolicyLayer } from '../../src/core/index.ts';
import { createSecretBox } from '../../src/factors/secret-box.ts';
import { DELIVERABLE_FACTOR_TYPES } from '../../src/factors/index.ts';
import { createRiskEngine, type RiskEngine } from '../../src/risk/engine.ts';
import { openGeoIp } from '../../src/risk/geoip.ts';
import { loadDenyLists, parseIpRanges } from '../../src/risk/ip-lists.ts';
import { createConfiguredRiskEngine } from '../../src/risk/setup.ts';
import type { ServiceDeps } from '../../src/services/deps.ts';
import type { FlowResult } from '../../src/services/flow-result.ts';
import { checkStatus } from '../../src/services/flow-service.ts';
import { deviceKeyOf, networkKeyOf, type RequestContext } from '../../src/services/risk.ts';
import { createStore, migrateToLatest, type ApplicationRecord, type Store } from '../../src/store/index.ts';
import { forEachDialect, openTestDatabase } from '../support/harness.ts';
import { cityRecord, writeMmdb } from '../support/mmdb-writer.ts';

const silent = { info: () => {}, warn: () => {}, error: () => {} };
const DAY = 86_400_000;

// Test networks (RFC 5737 and 198.18.0.0/15) → known cities.
const NETS = {
  london: '192.0.2.0/24',
  londonWide: '192.0.2.128/25',
  manchester: '198.51.100.0/24',
  paris: '203.0.113.0/24',
  sydney: '198.18.0.0/24',
  sydneyWide: '198.18.1.0/24',
  vpn: '198.18.2.0/24',
};

interface Place {
  readonly country: string;
  readonly city: string;
  readonly latitude: number;
  readonly longitude: number;
}
const LONDON: Place = { country: 'GB', city: 'London', latitude: 51.5074, longitude: -0.1278 };
const SYDNEY: Place = { country: 'AU', city: 'Sydney', latitude: -33.8688, longitude: 151.2093 };

forEachDialect((dialect) => {
  describe(`risk signals through checkStatus (${dialect})`, () => {
    let dispose: () => Promise<void>;
    let store: Store;
    let app: ApplicationRecord;
    let tenantId: string;
    let engine: RiskEngine;
    let dir: string;
    let denyPath: string;
    let denyLists: ReturnType<typeof loadDenyLists>;
    const now = Date.parse('2026-03-01T12:00:00Z');
    let n = 0;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'portcullis-risk-'));
      const mmdb = join(dir, 'test-city.mmdb');
      writeMmdb(mmdb, [
        // The London /24 is split so that one half carries a wide accuracy radius.
        { network: '192.0.2.0/25', data: cityRecord('London', 'GB', LONDON.latitude, LONDON.longitude) },
        { network: NETS.londonWide, data: cityRecord('London', 'GB', LONDON.latitude, LONDON.longitude, 1000) },
        { network: NETS.manchester, data: cityRecord('Manchester', 'GB', 53.4808, -2.2426) },
        { network: NETS.paris, data: cityRecord('Paris', 'FR', 48.8566, 2.3522) },
        { network: NETS.sydney, data: cityRecord('Sydney', 'AU', SYDNEY.latitude, SYDNEY.longitude) },
        { network: NETS.sydneyWide, data: cityRecord('Sydney', 'AU', SYDNEY.latitude, SYDNEY.longitude, 1000) },
        { network: NETS.vpn, data: cityRecord('Sydney', 'AU', SYDNEY.latitude, SYDNEY.longitude) },
      ]);
      denyPath = join(dir, 'deny.txt');
      writeFileSync(denyPath, '# known bad\n192.0.2.66\n');
      denyLists = loadDenyLists([denyPath], { pollMs: 0 });
      engine = createRiskEngine({
        geoip: { kind: 'open', lookup: await openGeoIp([mmdb]) },
        denyLists,
        networkClasses: [parseIpRanges('vpn', NETS.vpn).ranges],
        timeoutMs: 5_000,
      });
      const opened = await openTestDatabase(dialect);
      dispose = opened.dispose;
      await migrateToLatest(opened.database);
      store = createStore(opened.database);
      tenantId = (await store.tenants.create({ slug: 'risky', name: 'Risky', now })).id;
      app = await store.applications.create({ name: 'bank', firstParty: false, clientId: `risk-${dialect}`, clientSecretHash: 'x', allTenants: true, now });
      await savePolicy({ enrollment: 'required', gracePeriodDays: 0, challenge: 'adaptive', trustedDeviceDays: 365 });
    });
    after(async () => {
      denyLists.close();
      await dispose();
      rmSync(dir, { recursive: true, force: true });
    });

    async function savePolicy(layer: PolicyLayer): Promise<void> {
      await store.forTenant(tenantId).policies.saveVersion({ level: 'tenant' }, { layer, effectiveAt: now - 2 * 365 * DAY, createdBy: 'test', now });
    }

    /**
     * A user holding TOTP whose device and address are known (MFA completed from them), with successful sign-ins
     * at the given places and times (the last one is the travel baseline).
     */
    async function userWith(context: RequestContext, history: readonly { place: Place; at: number; ip?: string }[] = [{ place: LONDON, at: now - DAY }]): Promise<string> {
      const t = store.forTenant(tenantId);
      const userId = (await t.users.create({ email: `u${++n}-${randomUUID()}@example.com`, passwordHash: null, now: now - 400 * DAY })).id;
      await t.factors.create({ id: randomUUID(), userId, type: 'totp', status: 'active', label: 'phone', secretEnc: 'sealed-elsewhere', now: now - 400 * DAY });
      for (const h of history) {
        await t.signins.append({ userId, applicationId: app.id, ip: h.ip ?? '192.0.2.1', deviceId: deviceKeyOf(tenantId, context.deviceId), userAgent: 't', country: h.place.country, city: h.place.city, latitude: h.place.latitude, longitude: h.place.longitude, outcome: 'succeeded', at: h.at });
      }
      if (typeof context.deviceId === 'string') await t.trustedDevices.upsert(userId, deviceKeyOf(tenantId, context.deviceId)!, now - DAY);
      const net = networkKeyOf(tenantId, context.ip);
      if (net !== null) await t.trustedDevices.upsert(userId, net, now - DAY);
      return userId;
    }

    const depsAt = (at: number, risk: RiskEngine = engine): ServiceDeps => ({ store, secrets: createSecretBox(randomBytes(32)), now: () => at, logger: silent, deliverableFactors: DELIVERABLE_FACTOR_TYPES, risk });

    async function check(userId: string, context: RequestContext, at = now, risk: RiskEngine = engine): Promise<FlowResult> {
      return checkStatus(depsAt(at, risk), { application: app }, { tenant: 'risky', user: { userId }, context });
    }

    function signals(flow: FlowResult): string[] {
      return flow.decision.reasons.filter((r) => r.code === 'risk_signal').map((r) => r.detail);
    }

    it('the quiet baseline (known device and address, London yesterday, London now): allowed, score 0', async () => {
      const ctx = { ip: '192.0.2.10', deviceId: `d${n}` };
      const flow = await check(await userWith(ctx), ctx);
      assert.equal(flow.status, 'authenticated', JSON.stringify(flow.decision));
      assert.equal(flow.decision.riskScore, 0);
      assert.deepEqual(signals(flow), []);
    });

    it('new device alone: +20, challenged', async () => {
      const userId = await userWith({ ip: '192.0.2.11', deviceId: 'laptop' });
      const flow = await check(userId, { ip: '192.0.2.11', deviceId: 'stranger' });
      assert.equal(flow.status, 'mfa_required');
      assert.equal(flow.decision.riskScore, 20);
      assert.deepEqual(signals(flow), ['risk new_device +20: no MFA was completed on this device']);
    });

    it('new IP alone (same London network): +10, challenged', async () => {
      const userId = await userWith({ ip: '192.0.2.12', deviceId: 'laptop' });
      const flow = await check(userId, { ip: '192.0.2.13', deviceId: 'laptop' });
      assert.equal(flow.status, 'mfa_required');
      assert.equal(flow.decision.riskScore, 10);
      assert.deepEqual(signals(flow), ['risk new_ip +10: no MFA was completed from this address']);
    });

    it('new city alone: +10 moves the score but not the outcome; with the tenant weight 40 it challenges', async () => {
      const ctx = { ip: '198.51.100.7', deviceId: 'laptop' };
      const userId = await userWith(ctx);
      const flow = await check(userId, ctx);
      assert.equal(flow.status, 'authenticated');
      assert.equal(flow.decision.riskScore, 10);
      assert.deepEqual(signals(flow), ['risk new_city +10: first successful sign-in from Manchester, GB']);
      await savePolicy({ enrollment: 'required', gracePeriodDays: 0, challenge: 'adaptive', trustedDeviceDays: 365, risk: { challengeAt: 30, blockAt: 80, weights: { new_city: 40 } } });
      try {
        // The allowed sign-in above made Manchester a known city: a second user meets it new.
        const weighted = await check(await userWith(ctx), ctx);
        assert.equal(weighted.status, 'mfa_required');
        assert.equal(weighted.decision.riskScore, 40);
      } finally {
        await savePolicy({ enrollment: 'required', gracePeriodDays: 0, challenge: 'adaptive', trustedDeviceDays: 365 });
      }
    });

    it('new country alone (Paris, London three days ago): +25, challenged', async () => {
      const ctx = { ip: '203.0.113.5', deviceId: 'laptop' };
      const flow = await check(await userWith(ctx, [{ place: LONDON, at: now - 3 * DAY }]), ctx);
      assert.equal(flow.status, 'mfa_required');
      assert.equal(flow.decision.riskScore, 25);
      assert.deepEqual(signals(flow), ['risk new_country +25: first successful sign-in from FR']);
    });

    it('impossible travel alone (Sydney known from last month, London 30 minutes ago, now Sydney): +60, challenged, speed in the reasons', async () => {
      const ctx = { ip: '198.18.0.9', deviceId: 'laptop' };
      const userId = await userWith(ctx, [{ place: SYDNEY, at: now - 30 * DAY }, { place: LONDON, at: now - 30 * 60_000 }]);
      const flow = await check(userId, ctx);
      assert.equal(flow.status, 'mfa_required');
      assert.equal(flow.decision.riskScore, 60);
      const [travel, ...rest] = signals(flow);
      assert.deepEqual(rest, []);
      assert.match(travel ?? '', /^risk impossible_travel \+60: from London, GB \(51\.51, -0\.13\) 30 min earlier to Sydney, AU \(-33\.87, 151\.21\): 169\d\d km \(169\d\d km beyond accuracy radii\), 3[34]\d{3} km\/h > 1000 km\/h$/);
    });

    it('London then Sydney 30 minutes later from a new address and country: blocked (score 95 ≥ 80), the breakdown audited', async () => {
      const userId = await userWith({ ip: '192.0.2.14', deviceId: 'laptop' }, [{ place: LONDON, at: now - 30 * 60_000 }]);
      await assert.rejects(check(userId, { ip: '198.18.0.10', deviceId: 'laptop' }), (e: unknown) => e instanceof PortcullisError && e.code === 'ACCESS_DENIED_RISK');
      const audit = await store.forTenant(tenantId).audit.list({ events: ['auth.signin_blocked'], userId, limit: 5 });
      assert.equal(audit.items.length, 1);
      const data = JSON.stringify(audit.items[0]?.data);
      assert.match(data, /"riskScore":95/);
      for (const part of ['new_ip \\+10', 'new_country \\+25', 'impossible_travel \\+60', 'km/h > 1000 km/h']) assert.match(data, new RegExp(part));
    });

    it('London then Sydney with 1000 km accuracy radii at both ends: still impossible, the distance beyond the radii in the reasons', async () => {
      const ctx = { ip: '198.18.1.9', deviceId: 'laptop' };
      const userId = await userWith(ctx, [{ place: SYDNEY, at: now - 30 * DAY }, { place: LONDON, at: now - 30 * 60_000 }]);
      // Baseline rows carry no radius; give the London one its radius through a real sign-in from the wide network.
      const t = store.forTenant(tenantId);
      await t.signins.append({ userId, applicationId: app.id, ip: '192.0.2.200', deviceId: null, userAgent: 't', country: 'GB', city: 'London', latitude: LONDON.latitude, longitude: LONDON.longitude, accuracyKm: 1000, outcome: 'succeeded', at: now - 30 * 60_000 + 1 });
      const flow = await check(userId, ctx);
      assert.equal(flow.status, 'mfa_required');
      assert.match(signals(flow).join('\n'), /London, GB \(51\.51, -0\.13 ±1000 km\) 30 min earlier to Sydney, AU \(-33\.87, 151\.21 ±1000 km\): 169\d\d km \(149\d\d km beyond accuracy radii\), 29\d{3} km\/h/);
    });

    it('a VPN exit (configured network class) in Sydney right after London: no travel, no new country, allowed', async () => {
      const ctx = { ip: '198.18.2.9', deviceId: 'laptop' };
      const flow = await check(await userWith(ctx, [{ place: LONDON, at: now - 30 * 60_000 }]), ctx);
      assert.equal(flow.status, 'authenticated', JSON.stringify(flow.decision));
      assert.deepEqual(signals(flow), ['risk network_class +0: the address is in the vpn network class; excluded from location and travel']);
    });

    it('a deny-listed address: +80, blocked; after the list is rewritten and re-read, allowed', async () => {
      const ctx = { ip: '192.0.2.66', deviceId: 'laptop' };
      const userId = await userWith(ctx);
      await assert.rejects(check(userId, ctx), (e: unknown) => e instanceof PortcullisError && e.code === 'ACCESS_DENIED_RISK');
      writeFileSync(denyPath, '# cleared\n203.0.113.250\n');
      assert.deepEqual(denyLists.reload(), []);
      const flow = await check(userId, ctx);
      assert.equal(flow.status, 'authenticated');
      assert.equal(flow.decision.riskScore, 0);
    });

    it('5 failed sign-ins from the device (any user of the tenant) in 15 minutes: +30, challenged', async () => {
      const ctx = { ip: '192.0.2.20', deviceId: 'shared-kiosk' };
      const userId = await userWith(ctx);
      const t = store.forTenant(tenantId);
      for (let i = 0; i < 5; i++) await t.signins.append({ userId: null, applicationId: app.id, ip: `192.0.2.${30 + i}`, deviceId: deviceKeyOf(tenantId, 'shared-kiosk'), userAgent: 't', outcome: 'failed', at: now - 60_000 * (i + 1) });
      const flow = await check(userId, ctx);
      assert.equal(flow.status, 'mfa_required');
      assert.equal(flow.decision.riskScore, 30);
      assert.deepEqual(signals(flow), ['risk failed_attempts_device +30: 5 failed sign-ins from this device in 15 min (threshold 5)']);
    });

    it('5 failed sign-ins from the address in 15 minutes: +30, challenged; failures older than the window do not count', async () => {
      const ctx = { ip: '192.0.2.21', deviceId: 'laptop' };
      const userId = await userWith(ctx);
      const t = store.forTenant(tenantId);
      for (let i = 0; i < 5; i++) await t.signins.append({ userId: null, applicationId: app.id, ip: '192.0.2.21', deviceId: null, userAgent: 't', outcome: 'failed', at: now - 16 * 60_000 });
      assert.equal((await check(userId, ctx)).decision.riskScore, 0);
      for (let i = 0; i < 5; i++) await t.signins.append({ userId: null, applicationId: app.id, ip: '192.0.2.21', deviceId: null, userAgent: 't', outcome: 'failed', at: now - 60_000 });
      const flow = await check(userId, ctx);
      assert.equal(flow.status, 'mfa_required');
      assert.deepEqual(signals(flow), ['risk failed_attempts_ip +30: 5 failed sign-ins from this address in 15 min (threshold 5)']);
    });

    it('no successful sign-in for 100 days: +30, challenged', async () => {
      const ctx = { ip: '192.0.2.22', deviceId: 'laptop' };
      const flow = await check(await userWith(ctx, [{ place: LONDON, at: now - 100 * DAY }]), ctx);
      assert.equal(flow.status, 'mfa_required');
      assert.deepEqual(signals(flow), ['risk long_inactivity +30: last successful sign-in 100 days ago (limit 90 days)']);
    });

    it('an unparsable client address: ip_unparsable +30 (with new_ip: no address to know), challenged — never an exception', async () => {
      const userId = await userWith({ ip: '192.0.2.23', deviceId: 'laptop' });
      const flow = await check(userId, { ip: 'not-an-address', deviceId: 'laptop' });
      assert.equal(flow.status, 'mfa_required');
      assert.deepEqual(signals(flow), ['risk new_ip +10: no MFA was completed from this address', 'risk ip_unparsable +30: the client address is not an IP address']);
    });

    it('cold start (no history at all): new device, new IP and cold_start, no geographic signal; challenged', async () => {
      const t = store.forTenant(tenantId);
      const userId = (await t.users.create({ email: `cold-${randomUUID()}@example.com`, passwordHash: null, now })).id;
      await t.factors.create({ id: randomUUID(), userId, type: 'totp', status: 'active', label: 'phone', secretEnc: 'x', now });
      const flow = await check(userId, { ip: '198.18.0.77', deviceId: 'new-laptop' });
      assert.equal(flow.status, 'mfa_required');
      assert.equal(flow.decision.riskScore, 40);
      assert.deepEqual(signals(flow).map((s) => s.split(':')[0]), ['risk new_device +20', 'risk new_ip +10', 'risk cold_start +10']);
    });

    it('a successful sign-in records its city, coordinates and radius: the next one from there is no new city', async () => {
      const ctx = { ip: '192.0.2.150', deviceId: 'laptop' };
      const userId = await userWith(ctx, [{ place: LONDON, at: now - 2 * DAY }]);
      const flow = await check(userId, ctx);
      assert.equal(flow.status, 'authenticated');
      const [last] = await store.forTenant(tenantId).signins.listRecent(userId, 1);
      assert.equal(last?.country, 'GB');
      assert.equal(last?.latitude, LONDON.latitude);
    });

    it('the GeoIP database file is missing: every assessment unavailable → challenged with risk_unavailable', async () => {
      const ctx = { ip: '192.0.2.24', deviceId: 'laptop' };
      const userId = await userWith(ctx);
      const logged: string[] = [];
      const log = { info: () => {}, warn: () => {}, error: (_: object, msg?: string) => void logged.push(msg ?? '') };
      const broken = await createConfiguredRiskEngine({ geoip: [join(dir, 'missing.mmdb')], denyLists: [], networks: {}, timeoutMs: 50, impossibleTravelKmh: 1000, inactivityDays: 90, failureThreshold: 5, failureWindowMinutes: 15 }, log);
      const flow = await check(userId, ctx, now, broken.engine);
      assert.equal(flow.status, 'mfa_required');
      assert.match(JSON.stringify(flow.decision.reasons), /risk assessment unavailable \(geoip: the database file could not be opened\); failing closed/);
      assert.ok(logged.some((m) => m.includes('GeoIP')), logged.join('|'));
      broken.close();
    });
  });
});
