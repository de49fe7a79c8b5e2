/**
 * An MFA session token is bound to the application that opened it, to its tenant and user, and to its lifetime
 * (SECURITY: "a code issued for one user, tenant or MFA session, submitted for another → refused"; FusionAuth
 * #2010; helivanta #913). The same holds for the login session (`X-Portcullis-Session`) the session-bound routes
 * act for: it names its own tenant and user, and cannot be pointed at another's. On SQLite and PostgreSQL, over
 * `inject`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TenantRecord } from '../../src/store/index.ts';
import { forEachDialect, type Harness } from '../support/harness.ts';
import {
  api,
  createAuthHarness,
  createClient,
  createTenant,
  createUser,
  enrollTotpViaSignin,
  expectError,
  expectStatus,
  openSessions,
  PASSWORD,
  totpAt,
  type Enrolled,
  type TestClient,
} from './auth-support.ts';

const POLICY = { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' } as const;

forEachDialect((dialect) => {
  let h: Harness;
  let bank: TestClient;
  let shop: TestClient;
  let tenantA: TenantRecord;
  let tenantB: TenantRecord;
  let alice: Enrolled;
  let bob: Enrolled;
  let carol: Enrolled;

  before(async () => {
    h = await createAuthHarness(dialect);
    bank = await createClient(h, 'bank');
    shop = await createClient(h, 'shop');
    tenantA = await createTenant(h, 'tenant-a', POLICY);
    tenantB = await createTenant(h, 'tenant-b', POLICY);
    await createUser(h, tenantA.id, 'alice@example.com', { externalId: 'shared-ext' });
    await createUser(h, tenantA.id, 'bob@example.com');
    await createUser(h, tenantB.id, 'carol@example.com', { externalId: 'shared-ext' });
    alice = await enrollTotpViaSignin(h, bank, 'tenant-a', 'alice@example.com');
    bob = await enrollTotpViaSignin(h, bank, 'tenant-a', 'bob@example.com');
    carol = await enrollTotpViaSignin(h, bank, 'tenant-b', 'carol@example.com');
    h.clock.advance(30_000);
  });
  after(() => h.close());

  const verify = (who: TestClient, mfaSessionId: string, code: string, method = 'totp'): ReturnType<typeof api> => api(h, who, 'POST', '/auth/mfa/verify', { mfaSessionId, method, code });

  describe('application binding', () => {
    it('a session opened by one application is unknown to another (verify, enrollment, confirm)', async () => {
      const [session] = await openSessions(h, bank, 'tenant-a', alice.userId, 1);
      assert.ok(session !== undefined);
      const code = totpAt(alice.secret, h.clock.now());
      expectError(await verify(shop, session, code), 404, 'MFA_SESSION_NOT_FOUND');
      expectError(await api(h, shop, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: session }), 404, 'MFA_SESSION_NOT_FOUND');
      expectError(await api(h, shop, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: session, factorId: alice.factorId, code }), 404, 'MFA_SESSION_NOT_FOUND');
      // The other client's attempts neither spent the code nor the session's attempts.
      const ok = await verify(bank, session, code);
      expectStatus(ok, 200);
      assert.equal(ok.body.verified, true);
      const stored = await h.database.db.selectFrom('mfa_sessions').select(['attempts', 'status']).where('user_id', '=', alice.userId).where('status', '=', 'completed').orderBy('created_at', 'desc').executeTakeFirstOrThrow();
      assert.equal(Number(stored.attempts), 1);
    });

    it('an enrollment-wall session of one application cannot be used by another to enroll', async () => {
      const user = await createUser(h, tenantA.id, 'walled@example.com');
      const signin = await api(h, bank, 'POST', '/auth/signin', { tenant: 'tenant-a', identifier: 'walled@example.com', password: PASSWORD });
      assert.equal(signin.body.status, 'enrollment_required');
      expectError(await api(h, shop, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: signin.body.mfaSessionId }), 404, 'MFA_SESSION_NOT_FOUND');
      assert.equal((await h.store.forTenant(tenantA.id).factors.listForUser(user.id)).length, 0, 'no factor was created');
    });
  });

  describe('tenant and user binding', () => {
    it('a tenant B token cannot be made to name a tenant A user, and an A token relabelled with B is unknown', async () => {
      const [sessionA] = await openSessions(h, bank, 'tenant-a', alice.userId, 1);
      assert.ok(sessionA !== undefined);
      // The tenant id in the token only selects where to look; swapping it changes the hash: not found.
      const relabelled = sessionA.replace(`mfa_${tenantA.id}.`, `mfa_${tenantB.id}.`);
      assert.notEqual(relabelled, sessionA);
      expectError(await verify(bank, relabelled, totpAt(carol.secret, h.clock.now())), 404, 'MFA_SESSION_NOT_FOUND');
      expectError(await verify(bank, relabelled, totpAt(alice.secret, h.clock.now())), 404, 'MFA_SESSION_NOT_FOUND');

      // A tenant B user named with tenant A (by id, or by an externalId both tenants use) is not found.
      expectError(await api(h, bank, 'POST', '/auth/mfa/status/check', { tenant: 'tenant-a', userId: carol.userId }), 404, 'NOT_FOUND');
      expectError(await api(h, bank, 'GET', `/auth/factors?tenant=tenant-a&userId=${carol.userId}`), 404, 'NOT_FOUND');
      expectError(await api(h, bank, 'GET', `/auth/mfa/status?tenant=tenant-a&userId=${carol.userId}`), 404, 'NOT_FOUND');
      const byExternal = await api(h, bank, 'POST', '/auth/mfa/status/check', { tenant: 'tenant-b', externalId: 'shared-ext' });
      expectStatus(byExternal, 200);
      assert.match(byExternal.body.mfaSessionId, new RegExp(`^mfa_${tenantB.id}\\.`));

      // The session-bound routes act for the user of the login session (a fresh MFA, so privileged acts pass):
      // Alice's tenant A session cannot be made to name Carol, nor relabelled into tenant B.
      h.clock.advance(30_000);
      const [mfa] = await openSessions(h, bank, 'tenant-a', alice.userId, 1);
      const signedIn = await verify(bank, mfa ?? '', totpAt(alice.secret, h.clock.now()));
      expectStatus(signedIn, 200);
      const aliceSession: string = signedIn.body.session.token;
      assert.match(aliceSession, new RegExp(`^ses_${tenantA.id}\\.`));
      const asAlice = { 'x-portcullis-session': aliceSession };
      expectError(await api(h, bank, 'POST', '/auth/mfa/step-up', { tenant: 'tenant-a', userId: carol.userId, action: 'payment' }, asAlice), 404, 'SESSION_NOT_FOUND', 'step-up naming carol in tenant a');
      expectError(await api(h, bank, 'POST', '/auth/mfa/step-up', { tenant: 'tenant-b', externalId: 'shared-ext', action: 'payment' }, asAlice), 404, 'SESSION_NOT_FOUND', 'step-up naming tenant b');
      expectError(await api(h, bank, 'DELETE', `/auth/mfa/factors/${carol.factorId}`, undefined, asAlice), 404, 'FACTOR_NOT_FOUND', "carol's factor through alice's session");
      assert.equal((await h.store.forTenant(tenantB.id).factors.get(carol.factorId))?.status, 'active', "carol's factor is untouched");
      const relabelledSession = { 'x-portcullis-session': aliceSession.replace(`ses_${tenantA.id}.`, `ses_${tenantB.id}.`) };
      assert.notEqual(relabelledSession['x-portcullis-session'], aliceSession);
      expectError(await api(h, bank, 'POST', '/auth/mfa/step-up', { action: 'payment' }, relabelledSession), 404, 'SESSION_NOT_FOUND', 'relabelled step-up');
      expectError(await api(h, bank, 'DELETE', `/auth/mfa/factors/${alice.factorId}`, undefined, relabelledSession), 404, 'SESSION_NOT_FOUND', 'relabelled factor removal');
      expectError(await api(h, bank, 'POST', '/auth/mfa/recovery-codes', undefined, relabelledSession), 404, 'SESSION_NOT_FOUND', 'relabelled recovery codes');
      expectError(await api(h, bank, 'POST', '/auth/mfa/enrollment', {}, relabelledSession), 404, 'SESSION_NOT_FOUND', 'relabelled enrollment');
      assert.equal((await h.store.forTenant(tenantA.id).factors.get(alice.factorId))?.status, 'active', "alice's factor is untouched");
      // An unknown tenant answers like an unknown user.
      expectError(await api(h, bank, 'POST', '/auth/mfa/status/check', { tenant: 'no-such-tenant', userId: alice.userId }), 404, 'NOT_FOUND');
      const signin = await api(h, bank, 'POST', '/auth/signin', { tenant: 'tenant-b', identifier: 'alice@example.com', password: PASSWORD });
      expectError(signin, 401, 'INVALID_CREDENTIALS');
    });

    it("a code for one user submitted in another user's session is refused and not spent", async () => {
      h.clock.advance(30_000);
      const [bobSession] = await openSessions(h, bank, 'tenant-a', bob.userId, 1);
      const [carolSession] = await openSessions(h, bank, 'tenant-b', carol.userId, 1);
      const [aliceSession] = await openSessions(h, bank, 'tenant-a', alice.userId, 1);
      assert.ok(bobSession !== undefined && carolSession !== undefined && aliceSession !== undefined);
      const aliceCode = totpAt(alice.secret, h.clock.now());
      expectError(await verify(bank, bobSession, aliceCode), 400, 'MFA_CODE_INVALID', "alice's code in bob's session");
      expectError(await verify(bank, carolSession, aliceCode), 400, 'MFA_CODE_INVALID', "alice's code in another tenant's session");
      expectError(await verify(bank, bobSession, alice.recoveryCodes[0] ?? '', 'recovery_codes'), 400, 'MFA_CODE_INVALID', "alice's recovery code for bob");
      // Alice's code and recovery code still work for Alice.
      expectStatus(await verify(bank, aliceSession, aliceCode), 200);
      const [aliceAgain] = await openSessions(h, bank, 'tenant-a', alice.userId, 1);
      const withCode = await verify(bank, aliceAgain ?? '', alice.recoveryCodes[0] ?? '', 'recovery_codes');
      expectStatus(withCode, 200);
      assert.equal(withCode.body.verified, true);
      // Spent once, by Alice: the attempt in Bob's session did not consume it.
      const factors = await api(h, bank, 'GET', `/auth/factors?tenant=tenant-a&userId=${alice.userId}`);
      expectStatus(factors, 200);
      assert.equal(factors.body.recoveryCodesRemaining, 9);
    });

    it("a pending factor of one user cannot be confirmed in another user's session", async () => {
      const first = await createUser(h, tenantA.id, 'pending1@example.com');
      await createUser(h, tenantA.id, 'pending2@example.com');
      const s1 = await api(h, bank, 'POST', '/auth/signin', { tenant: 'tenant-a', identifier: 'pending1@example.com', password: PASSWORD });
      const s2 = await api(h, bank, 'POST', '/auth/signin', { tenant: 'tenant-a', identifier: 'pending2@example.com', password: PASSWORD });
      const begun = await api(h, bank, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: s1.body.mfaSessionId });
      expectStatus(begun, 200);
      const code = totpAt(begun.body.secret, h.clock.now());
      expectError(await api(h, bank, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: s2.body.mfaSessionId, factorId: begun.body.factorId, code }), 404, 'FACTOR_NOT_FOUND');
      expectError(await api(h, bank, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: s1.body.mfaSessionId, factorId: alice.factorId, code: totpAt(alice.secret, h.clock.now()) }), 404, 'FACTOR_NOT_FOUND');
      assert.equal((await h.store.forTenant(tenantA.id).factors.get(begun.body.factorId))?.status, 'pending');
      const confirmed = await api(h, bank, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: s1.body.mfaSessionId, factorId: begun.body.factorId, code });
      expectStatus(confirmed, 200);
      assert.equal(confirmed.body.userId, first.id);
    });
  });

  describe('token integrity and lifetime', () => {
    it('a tampered, truncated or invented token is 404', async () => {
      const [session] = await openSessions(h, bank, 'tenant-a', alice.userId, 1);
      assert.ok(session !== undefined);
      const last = session.at(-1) === 'A' ? 'B' : 'A';
      const variants = [
        session.slice(0, -1) + last,
        session.slice(0, -1),
        `${session}A`,
        session.toUpperCase(),
        session.replace('mfa_', 'mfx_'),
        `mfa_${tenantA.id}.${'A'.repeat(43)}`,
        'mfa_',
        ` ${session}`,
        `mfa_not-a-uuid.${'A'.repeat(43)}`,
        `mfa_${'9'.repeat(64)}.${'A'.repeat(43)}`,
      ];
      for (const token of variants) {
        expectError(await verify(bank, token, totpAt(alice.secret, h.clock.now())), 404, 'MFA_SESSION_NOT_FOUND', token);
      }
      // The real one was untouched by all that.
      const stored = await h.database.db.selectFrom('mfa_sessions').select(['attempts', 'status']).where('user_id', '=', alice.userId).where('status', '=', 'open').executeTakeFirstOrThrow();
      assert.equal(Number(stored.attempts), 0);
    });

    it('a session past its 5 minutes is 410, for verification and enrollment alike', async () => {
      h.clock.advance(30_000);
      const [early, late] = await openSessions(h, bank, 'tenant-a', alice.userId, 2);
      assert.ok(early !== undefined && late !== undefined);
      const walledUser = await createUser(h, tenantA.id, 'late@example.com');
      const wall = await api(h, bank, 'POST', '/auth/signin', { tenant: 'tenant-a', identifier: 'late@example.com', password: PASSWORD });
      const begun = await api(h, bank, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: wall.body.mfaSessionId });
      expectStatus(begun, 200);

      // One second before the end a session still verifies.
      h.clock.advance(5 * 60_000 - 1_000);
      expectStatus(await verify(bank, early, totpAt(alice.secret, h.clock.now())), 200, 'at 4:59');
      // At the end and after it: gone, whatever is sent.
      h.clock.advance(1_000);
      expectError(await verify(bank, late, totpAt(alice.secret, h.clock.now() + 30_000)), 410, 'MFA_SESSION_EXPIRED', 'at exactly 5:00');
      h.clock.advance(1_000);
      expectError(await verify(bank, late, totpAt(alice.secret, h.clock.now() + 30_000)), 410, 'MFA_SESSION_EXPIRED', 'at 5:01');
      expectError(await api(h, bank, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: wall.body.mfaSessionId }), 410, 'MFA_SESSION_EXPIRED');
      expectError(await api(h, bank, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: wall.body.mfaSessionId, factorId: begun.body.factorId, code: totpAt(begun.body.secret, h.clock.now()) }), 410, 'MFA_SESSION_EXPIRED');
      assert.equal((await h.store.forTenant(tenantA.id).factors.get(begun.body.factorId))?.status, 'pending', 'nothing was activated');
      assert.equal((await h.store.forTenant(tenantA.id).users.get(walledUser.id))?.lastMfaAt, null);
      const stored = await h.database.db.selectFrom('mfa_sessions').select(['attempts']).where('user_id', '=', alice.userId).where('status', '=', 'open').executeTakeFirstOrThrow();
      assert.equal(Number(stored.attempts), 0, 'an expired session counts no attempt');
    });
  });
});
