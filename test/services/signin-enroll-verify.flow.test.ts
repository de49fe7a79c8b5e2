/**
 * The whole headless flow at the service layer, on a real SQLite store: password → enrollment wall → TOTP
 * enrollment with recovery codes → next sign-in challenged → verify → authenticated; a replayed code refused;
 * a recovery code under `totp_webauthn` meets the enrollment wall instead of a session.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isPortcullisError } from '../../src/core/index.ts';
import { DELIVERABLE_FACTOR_TYPES } from '../../src/factors/index.ts';
import { hashPassword } from '../../src/factors/password.ts';
import { createSecretBox } from '../../src/factors/secret-box.ts';
import { base32Decode, totpCode, totpStep } from '../../src/factors/totp.ts';
import type { ServiceDeps } from '../../src/services/deps.ts';
import { beginTotpEnrollment, confirmTotpEnrollment } from '../../src/services/enrollment-service.ts';
import { checkStatus, signIn, verify } from '../../src/services/flow-service.ts';
import { createStore, migrateToLatest, openDatabase, type ApplicationRecord, type Database, type Store } from '../../src/store/index.ts';

const silent = { info: () => {}, warn: () => {}, error: () => {} };

describe('headless sign-in flow (services, SQLite)', () => {
  let dir: string;
  let database: Database;
  let store: Store;
  let deps: ServiceDeps;
  let clock = Date.UTC(2026, 10, 23, 9, 0, 0);
  let app: ApplicationRecord;
  let tenantId: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-flow-'));
    database = await openDatabase({ sqlitePath: join(dir, 'p.db') });
    await migrateToLatest(database);
    store = createStore(database);
    deps = { store, secrets: createSecretBox(randomBytes(32)), now: () => clock, logger: silent, deliverableFactors: DELIVERABLE_FACTOR_TYPES };
    const tenant = await store.tenants.create({ slug: 'acme', name: 'Acme', now: clock });
    tenantId = tenant.id;
    app = await store.applications.create({ name: 'bank', firstParty: false, allTenants: true, clientId: 'c1', clientSecretHash: 'x', now: clock });
    await store.forTenant(tenantId).policies.saveVersion({ level: 'tenant' }, { layer: { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' }, effectiveAt: clock, createdBy: 'test', now: clock });
    await store.forTenant(tenantId).users.create({ email: 'ada@example.com', passwordHash: await hashPassword('correct horse battery'), now: clock });
  });
  after(async () => {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('walls, enrolls, challenges, verifies once', async () => {
    const caller = { application: app };
    const context = { ip: '192.0.2.1', deviceId: 'dev-1', userAgent: 'test' };
    await assert.rejects(signIn(deps, caller, { tenant: 'acme', identifier: 'ada@example.com', password: 'wrong password', context }), (e: unknown) => isPortcullisError(e) && e.code === 'INVALID_CREDENTIALS');

    const first = await signIn(deps, caller, { tenant: 'acme', identifier: 'ada@example.com', password: 'correct horse battery', context });
    assert.equal(first.status, 'enrollment_required');
    if (first.status !== 'enrollment_required') return;
    assert.deepEqual(first.methods, []);
    assert.equal(first.errorCode, 'MFA_REQUIRED_NO_FACTOR');

    const begun = await beginTotpEnrollment(deps, caller, { mfaSessionId: first.mfaSessionId });
    assert.match(begun.otpauthUri, /^otpauth:\/\/totp\/bank:ada%40example\.com\?/);
    assert.match(begun.qrSvg, /^<svg/);
    const secret = base32Decode(begun.secret);
    assert.ok(secret !== null);
    const confirmed = await confirmTotpEnrollment(deps, caller, { mfaSessionId: first.mfaSessionId, factorId: begun.factorId, code: totpCode(secret, totpStep(clock)) });
    assert.equal(confirmed.status, 'authenticated');
    assert.equal(confirmed.recoveryCodes?.length, 10);

    clock += 60_000;
    const second = await signIn(deps, caller, { tenant: 'acme', identifier: 'ada@example.com', password: 'correct horse battery', context });
    assert.equal(second.status, 'mfa_required');
    if (second.status !== 'mfa_required') return;
    assert.deepEqual(second.methods, ['totp', 'recovery_codes']); // 'any' accepts recovery codes routinely
    const code = totpCode(secret, totpStep(clock));
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => verify(deps, caller, { mfaSessionId: second.mfaSessionId, method: 'totp', code })));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    // The losers found the MFA session already completed, or their code already spent.
    for (const r of results) if (r.status === 'rejected') assert.ok(isPortcullisError(r.reason) && (r.reason.code === 'MFA_SESSION_USED' || r.reason.code === 'MFA_CODE_INVALID'), String(r.reason));

    // The same code again in a fresh session is a replay.
    const third = await signIn(deps, caller, { tenant: 'acme', identifier: 'ada@example.com', password: 'correct horse battery', context });
    assert.equal(third.status, 'mfa_required');
    if (third.status !== 'mfa_required') return;
    await assert.rejects(verify(deps, caller, { mfaSessionId: third.mfaSessionId, method: 'totp', code }), (e: unknown) => isPortcullisError(e) && e.code === 'MFA_CODE_INVALID');

    // Under totp_webauthn, a recovery code is break-glass: it completes the challenge but walls.
    await store.forTenant(tenantId).policies.saveVersion({ level: 'tenant' }, { layer: { enrollment: 'required', gracePeriodDays: 0, challenge: 'always', acceptableFactors: 'totp_webauthn' }, effectiveAt: clock, createdBy: 'test', now: clock });
    const fourth = await signIn(deps, caller, { tenant: 'acme', identifier: 'ada@example.com', password: 'correct horse battery', context });
    assert.equal(fourth.status, 'mfa_required');
    if (fourth.status !== 'mfa_required') return;
    assert.equal(fourth.recovery, true);
    assert.ok(!fourth.methods.includes('recovery_codes'));
    const walled = await verify(deps, caller, { mfaSessionId: fourth.mfaSessionId, method: 'recovery_codes', code: confirmed.recoveryCodes?.[0] });
    assert.equal('status' in walled ? walled.status : 'authenticated', 'enrollment_required');

    // At the wall after break-glass the lost authenticator app is replaced: the new one confirms, the old one goes.
    clock += 30_000;
    const replacement = await beginTotpEnrollment(deps, caller, { mfaSessionId: fourth.mfaSessionId });
    const newSecret = base32Decode(replacement.secret);
    assert.ok(newSecret !== null);
    const replaced = await confirmTotpEnrollment(deps, caller, { mfaSessionId: fourth.mfaSessionId, factorId: replacement.factorId, code: totpCode(newSecret, totpStep(clock)) });
    assert.equal(replaced.status, 'authenticated');
    assert.equal(replaced.recoveryCodes, null, 'the remaining recovery codes stay valid; none are re-shown');
    const totps = (await store.forTenant(tenantId).factors.listForUser(second.userId, 'active')).filter((f) => f.type === 'totp');
    assert.deepEqual(totps.map((f) => f.id), [replacement.factorId]);

    const status = await checkStatus(deps, caller, { tenant: 'acme', user: { userId: second.userId }, context });
    assert.equal(status.status, 'mfa_required');
    const audit = await store.forTenant(tenantId).audit.list({ events: ['mfa.recovery_code_used'] });
    assert.equal(audit.items.length, 1);
  });
});
