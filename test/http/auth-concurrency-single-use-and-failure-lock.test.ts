/**
 * SECURITY rules 2 and 3 over the HTTP API, on SQLite and PostgreSQL, with many requests in flight at once:
 * - the same valid TOTP code sent 100 times in parallel (100 MFA sessions of one user, so the per-session
 *   attempt cap is not what limits) → exactly one `verified: true`;
 * - the same recovery code 100 times in parallel → exactly one success;
 * - 1,000 concurrent wrong codes across 100 sessions → the factor's failure count in the store is exact, at most
 *   the limit (10) of wrong codes is ever evaluated, the lock engages, and a correct code during the lock fails;
 * - and, one request at a time, the exact boundary: 9 answers with attempts remaining, the 10th locks.
 *
 * What each half proves. PostgreSQL: the requests run on a pool of 10 connections, so the conditional writes race
 * in the database. SQLite: the product runs one process with one connection per file, so SQL statements
 * serialise; the 100 requests in flight interleave only between statements (at every `await` of the services).
 * The SQLite half therefore proves that no service reads then writes across an `await` (a read-then-write there
 * would let several requests through), not that the conditional write is atomic between connections — that is
 * shown for SQLite at the store level with one connection per worker thread
 * (test/store/sqlite.multi-connection-races-exactly-one.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ACCOUNT_FAILURE_LIMIT, FACTOR_COOL_DOWN_MS, FACTOR_FAILURE_LIMIT, LOCKED_UNTIL_RESET } from '../../src/store/index.ts';
import { forEachDialect, type Harness } from '../support/harness.ts';
import {
  api,
  auditOf,
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
  wrongTotpAt,
  type ApiResult,
  type TestClient,
} from './auth-support.ts';

const POLICY = { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' } as const;

function tally(results: readonly ApiResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) {
    const key = r.status === 200 ? `200 verified=${String(r.body?.verified)}` : `${r.status} ${String(r.body?.error)}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

forEachDialect((dialect) => {
  let h: Harness;
  let client: TestClient;

  before(async () => {
    h = await createAuthHarness(dialect);
    client = await createClient(h, 'bank');
  });
  after(() => h.close());

  describe('single use under concurrency', () => {
    it('the same TOTP code sent 100 times in parallel is accepted exactly once', async () => {
      const tenant = await createTenant(h, 'totp-race', POLICY);
      await createUser(h, tenant.id, 'racer@example.com');
      const enrolled = await enrollTotpViaSignin(h, client, 'totp-race', 'racer@example.com');
      h.clock.advance(30_000);
      const sessions = await openSessions(h, client, 'totp-race', enrolled.userId, 100);
      const code = totpAt(enrolled.secret, h.clock.now());

      const results = await Promise.all(sessions.map((mfaSessionId) => api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId, method: 'totp', code })));
      const counts = tally(results);
      assert.equal(counts['200 verified=true'], 1, JSON.stringify(counts));
      for (const r of results) {
        if (r.status !== 200) assert.ok((r.status === 400 && r.body.error === 'MFA_CODE_INVALID') || (r.status === 429 && r.body.error === 'MFA_LOCKED'), r.text);
      }
      const audit = await auditOf(h, tenant.id);
      // One success at enrollment (the confirm is no `user.mfa_succeeded`) and exactly one here.
      assert.equal(audit.filter((e) => e.event === 'user.mfa_succeeded').length, 1);
      const completed = await h.database.db.selectFrom('mfa_sessions').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', enrolled.userId).where('status', '=', 'completed').executeTakeFirstOrThrow();
      assert.equal(Number(completed.n), 2, 'the enrollment session and exactly one verify session completed');
    });

    it('the same recovery code sent 100 times in parallel is accepted exactly once', async () => {
      const tenant = await createTenant(h, 'code-race', POLICY);
      await createUser(h, tenant.id, 'codes@example.com');
      const enrolled = await enrollTotpViaSignin(h, client, 'code-race', 'codes@example.com');
      const sessions = await openSessions(h, client, 'code-race', enrolled.userId, 100);
      const code = enrolled.recoveryCodes[3];

      const results = await Promise.all(sessions.map((mfaSessionId) => api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId, method: 'recovery_codes', code })));
      const counts = tally(results);
      assert.equal(counts['200 verified=true'], 1, JSON.stringify(counts));
      for (const r of results) {
        if (r.status !== 200) assert.ok((r.status === 400 && r.body.error === 'MFA_CODE_INVALID') || (r.status === 429 && r.body.error === 'MFA_LOCKED'), r.text);
      }
      assert.equal(await h.store.forTenant(tenant.id).recoveryCodes.countRemaining(enrolled.userId), 9);
      const used = (await auditOf(h, tenant.id)).filter((e) => e.event === 'mfa.recovery_code_used');
      assert.equal(used.length, 1);
      assert.equal(used[0]?.data.remaining, 9);
    });
  });

  describe('enrollment under concurrency', () => {
    it('the same first code confirmed 50 times in parallel activates the factor once and issues one batch of recovery codes', async () => {
      const tenant = await createTenant(h, 'confirm-race', POLICY);
      const user = await createUser(h, tenant.id, 'confirm@example.com');
      const signin = await api(h, client, 'POST', '/auth/signin', { tenant: 'confirm-race', identifier: 'confirm@example.com', password: PASSWORD });
      const begun = await api(h, client, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: signin.body.mfaSessionId });
      expectStatus(begun, 200);
      const code = totpAt(begun.body.secret, h.clock.now());
      const results = await Promise.all(Array.from({ length: 50 }, () => api(h, client, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: signin.body.mfaSessionId, factorId: begun.body.factorId, code })));
      const ok = results.filter((r) => r.status === 200);
      assert.equal(ok.length, 1, JSON.stringify(tally(results)));
      assert.equal(ok[0]?.body.recoveryCodes.length, 10);
      // The losers found the MFA session already completed, or their code already spent by the winner.
      for (const r of results) if (r.status !== 200) assert.ok((r.status === 409 && r.body.error === 'MFA_SESSION_USED') || (r.status === 400 && r.body.error === 'MFA_CODE_INVALID'), `${r.text} ${JSON.stringify(tally(results))}`);
      const t = h.store.forTenant(tenant.id);
      assert.deepEqual((await t.factors.listForUser(user.id)).map((f) => `${f.type}:${f.status}`).sort(), ['recovery_codes:active', 'totp:active']);
      assert.equal(await t.recoveryCodes.countRemaining(user.id), 10);
      const events = await auditOf(h, tenant.id);
      assert.equal(events.filter((e) => e.event === 'mfa.factor_enrolled').length, 1);
      assert.equal(events.filter((e) => e.event === 'mfa.backup_codes_regenerated').length, 1);
    });
  });

  describe('failure limits under concurrency', () => {
    it('1,000 concurrent wrong codes: exact count, lock at the limit, and a correct code during the lock fails', async () => {
      const tenant = await createTenant(h, 'brute', POLICY);
      await createUser(h, tenant.id, 'target@example.com');
      const enrolled = await enrollTotpViaSignin(h, client, 'brute', 'target@example.com');
      h.clock.advance(30_000);
      // 100 sessions for the race, and one opened now for the correct code afterwards: the race may lock the account
      // (its counter is shared), and a locked account opens no new MFA session.
      const [fresh, ...sessions] = await openSessions(h, client, 'brute', enrolled.userId, 101);
      const wrong = wrongTotpAt(enrolled.secret, h.clock.now());
      const before = await auditOf(h, tenant.id);

      // 10 attempts per session (the session cap), 1,000 in all, every one in flight at once.
      const results = await Promise.all(sessions.flatMap((mfaSessionId) => Array.from({ length: 10 }, () => api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId, method: 'totp', code: wrong }))));
      const counts = tally(results);
      assert.equal(results.length, 1000);
      assert.equal((counts['400 MFA_CODE_INVALID'] ?? 0) + (counts['429 MFA_LOCKED'] ?? 0), 1000, JSON.stringify(counts));
      // Only failures before the limit answer "invalid, try again"; from the 10th on the answer is the lock.
      assert.ok((counts['400 MFA_CODE_INVALID'] ?? 0) <= FACTOR_FAILURE_LIMIT - 1, JSON.stringify(counts));
      for (const r of results) if (r.status === 400) assert.ok(r.body.attemptsRemaining >= 1 && r.body.attemptsRemaining <= 9, r.text);

      // Exact: every request left exactly one failure record, and each counted failure is in both counters.
      const failures = (await auditOf(h, tenant.id)).slice(before.length).filter((e) => e.event === 'user.mfa_failed');
      assert.equal(failures.length, 1000, 'one failure record per request, none lost');
      const factor = await h.store.forTenant(tenant.id).factors.get(enrolled.factorId);
      const user = await h.store.forTenant(tenant.id).users.get(enrolled.userId);
      assert.ok(factor !== null && user !== null);
      const refusedBeforeCounting = failures.filter((e) => e.data.reason === 'locked').length;
      assert.equal(factor.failedCount, 1000 - refusedBeforeCounting, 'the factor counter lost no increment');
      assert.equal(user.failedSignins, factor.failedCount, 'the account counter lost no increment');
      // The lock engaged at the limit: no more than 10 wrong codes were ever evaluated against the secret.
      const evaluated = failures.filter((e) => e.data.reason === 'invalid_code').length;
      assert.ok(evaluated >= 1 && evaluated <= FACTOR_FAILURE_LIMIT, `wrong codes evaluated: ${evaluated}`);
      assert.ok(factor.failedCount >= FACTOR_FAILURE_LIMIT);
      assert.ok(factor.lockedUntil !== null && factor.lockedUntil > h.clock.now(), 'the factor is locked');

      // A correct code during the lock still fails, and is not consumed. When the counted failures also reached the
      // account limit, the account lock answers (423, refused on every path); otherwise the factor lock (429).
      const lastStep = factor.lastStep;
      const right = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: fresh, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) });
      if (user.failedSignins >= ACCOUNT_FAILURE_LIMIT) {
        assert.equal(user.lockedUntil, LOCKED_UNTIL_RESET, 'the account limit locks until a reset');
        expectError(right, 423, 'ACCOUNT_LOCKED');
      } else {
        assert.equal(user.lockedUntil, null);
        expectError(right, 429, 'MFA_LOCKED');
      }
      assert.equal((await h.store.forTenant(tenant.id).factors.get(enrolled.factorId))?.lastStep, lastStep);
    });

    it('one at a time: 9 failures answer with attempts remaining, the 10th locks, the lock holds until the cool-down', async () => {
      const tenant = await createTenant(h, 'boundary', POLICY);
      await createUser(h, tenant.id, 'edge@example.com');
      const enrolled = await enrollTotpViaSignin(h, client, 'boundary', 'edge@example.com');
      h.clock.advance(30_000);
      const sessions = await openSessions(h, client, 'boundary', enrolled.userId, 13);
      const wrong = wrongTotpAt(enrolled.secret, h.clock.now());
      const verify = (i: number, code: string): Promise<ApiResult> => api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: sessions[i], method: 'totp', code });

      for (let n = 1; n < FACTOR_FAILURE_LIMIT; n++) {
        const res = await verify(n - 1, wrong);
        expectError(res, 400, 'MFA_CODE_INVALID', `failure ${n}`);
        assert.equal(res.body.attemptsRemaining, Math.min(9, FACTOR_FAILURE_LIMIT - n), `failure ${n}`);
      }
      expectError(await verify(9, wrong), 429, 'MFA_LOCKED', 'failure 10');
      expectError(await verify(10, totpAt(enrolled.secret, h.clock.now())), 429, 'MFA_LOCKED', 'correct code during the lock');
      const locked = await h.store.forTenant(tenant.id).factors.get(enrolled.factorId);
      assert.equal(locked?.failedCount, FACTOR_FAILURE_LIMIT);
      assert.equal(locked?.lockedUntil, h.clock.now() + FACTOR_COOL_DOWN_MS);

      // After the cool-down one more failure locks again at once; a correct code then passes and resets.
      h.clock.advance(FACTOR_COOL_DOWN_MS + 1_000);
      const [s1] = await openSessions(h, client, 'boundary', enrolled.userId, 1);
      expectError(await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: s1, method: 'totp', code: wrongTotpAt(enrolled.secret, h.clock.now()) }), 429, 'MFA_LOCKED', 'first failure after the cool-down');
      h.clock.advance(FACTOR_COOL_DOWN_MS + 1_000);
      const [s2] = await openSessions(h, client, 'boundary', enrolled.userId, 1);
      const ok = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: s2, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) });
      expectStatus(ok, 200);
      assert.equal(ok.body.verified, true);
      const reset = await h.store.forTenant(tenant.id).factors.get(enrolled.factorId);
      assert.equal(reset?.failedCount, 0);
      assert.equal(reset?.lockedUntil, null);
      assert.equal((await h.store.forTenant(tenant.id).users.get(enrolled.userId))?.failedSignins, 0);
    });

    it('the account limit (100) counts every factor and the password, and locks until a reset', async () => {
      const tenant = await createTenant(h, 'account-cap', POLICY);
      await createUser(h, tenant.id, 'many@example.com');
      const enrolled = await enrollTotpViaSignin(h, client, 'account-cap', 'many@example.com');
      h.clock.advance(30_000);
      // 99 earlier failures on other paths (the counter is shared): the next wrong code is the 100th.
      await h.database.db.updateTable('users').set({ failed_signins: ACCOUNT_FAILURE_LIMIT - 1 }).where('id', '=', enrolled.userId).execute();
      const [s1, s2] = await openSessions(h, client, 'account-cap', enrolled.userId, 2);
      expectError(await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: s1, method: 'totp', code: wrongTotpAt(enrolled.secret, h.clock.now()) }), 429, 'MFA_LOCKED', '100th failure');
      const user = await h.store.forTenant(tenant.id).users.get(enrolled.userId);
      assert.equal(user?.failedSignins, ACCOUNT_FAILURE_LIMIT);
      assert.equal(user?.lockedUntil, LOCKED_UNTIL_RESET);

      // A correct code in a session opened before the lock fails (the locked account is refused on every path) and
      // is not consumed.
      const lastStep = (await h.store.forTenant(tenant.id).factors.get(enrolled.factorId))?.lastStep;
      const during = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: s2, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) });
      expectError(during, 423, 'ACCOUNT_LOCKED', 'correct code on a locked account');
      assert.equal(during.body.retryAfter, undefined, 'a lock until reset has no retry time');
      assert.equal((await h.store.forTenant(tenant.id).factors.get(enrolled.factorId))?.lastStep, lastStep);

      // No cool-down ends it: a day later no MFA session opens, and the password sign-in is refused.
      h.clock.advance(86_400_000);
      const check = await api(h, client, 'POST', '/auth/mfa/status/check', { tenant: 'account-cap', userId: enrolled.userId, context: { ip: '192.0.2.10', deviceId: 'device-1' } });
      expectError(check, 423, 'ACCOUNT_LOCKED', 'status/check a day later');
      assert.equal(check.body.retryAfter, undefined, 'a lock until reset has no retry time');
      assert.equal((await h.store.forTenant(tenant.id).users.get(enrolled.userId))?.lockedUntil, LOCKED_UNTIL_RESET);
      // The right password on the locked account, from the very device that enrolled: refused unevaluated, with the
      // answer of a wrong password (issue 11: password sign-in does not reveal a lock), and audited as the lock.
      for (const context of [undefined, { ip: '192.0.2.10', deviceId: 'device-1' }]) {
        const signin = await api(h, client, 'POST', '/auth/signin', { tenant: 'account-cap', identifier: 'many@example.com', password: PASSWORD, ...(context === undefined ? {} : { context }) });
        expectError(signin, 401, 'INVALID_CREDENTIALS');
      }
      const refused = (await auditOf(h, tenant.id)).filter((e) => e.event === 'user.signin_failed');
      assert.deepEqual(refused.map((e) => [e.data['reason'], e.data['path']]), [['account_locked', 'unknown_device'], ['account_locked', 'known_device']]);

      // The reset comes from an authenticated session: an admin lifts the lock, audited, and the user signs in.
      const unlock = await h.call(h.platformToken, 'POST', `/tenants/${tenant.id}/users/${enrolled.userId}/unlock`);
      assert.equal(unlock.status, 200);
      assert.deepEqual(unlock.body, { wasLocked: true });
      const after = await api(h, client, 'POST', '/auth/signin', { tenant: 'account-cap', identifier: 'many@example.com', password: PASSWORD });
      assert.equal(after.status, 200);
      assert.equal(after.body.status, 'mfa_required');
      const unlocked = await h.store.forTenant(tenant.id).audit.list({ events: ['user.unlocked'] });
      assert.equal(unlocked.items.length, 1);
    });

    it('a right password alone does not reset the account count that wrong codes built; a completed MFA does', async () => {
      const tenant = await createTenant(h, 'no-reset', POLICY);
      await createUser(h, tenant.id, 'reset@example.com');
      const enrolled = await enrollTotpViaSignin(h, client, 'no-reset', 'reset@example.com');
      h.clock.advance(30_000);
      const [s1] = await openSessions(h, client, 'no-reset', enrolled.userId, 1);
      for (let i = 0; i < 3; i++) {
        expectError(await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: s1, method: 'totp', code: wrongTotpAt(enrolled.secret, h.clock.now()) }), 400, 'MFA_CODE_INVALID');
      }
      const signin = await api(h, client, 'POST', '/auth/signin', { tenant: 'no-reset', identifier: 'reset@example.com', password: PASSWORD, context: { ip: '192.0.2.10', deviceId: 'device-1' } });
      assert.equal(signin.body.status, 'mfa_required');
      assert.equal((await h.store.forTenant(tenant.id).users.get(enrolled.userId))?.failedSignins, 3, 'the password did not wipe the count');
      const ok = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: signin.body.mfaSessionId, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) });
      expectStatus(ok, 200);
      assert.equal((await h.store.forTenant(tenant.id).users.get(enrolled.userId))?.failedSignins, 0);
      assert.equal((await h.store.forTenant(tenant.id).factors.get(enrolled.factorId))?.failedCount, 0);
    });

    it('password guesses sent together past the limit are refused unevaluated, with the answer of a wrong password; a right password gives its count back', async () => {
      const tenant = await createTenant(h, 'password-race', { enrollment: 'optional', challenge: 'never' });
      const user = await createUser(h, tenant.id, 'guessed@example.com');
      const signIn = (password: string) => api(h, client, 'POST', '/auth/signin', { tenant: 'password-race', identifier: 'guessed@example.com', password });

      // Ten right passwords at once: all sign in, and the count they reserved is given back.
      const right = await Promise.all(Array.from({ length: 10 }, () => signIn(PASSWORD)));
      assert.deepEqual(right.map((r) => r.status), Array(10).fill(200));
      const fresh = await h.store.forTenant(tenant.id).users.get(user.id);
      assert.deepEqual([fresh?.failedSignins, fresh?.unknownDeviceFailures], [0, 0]);

      // No device: the unknown-device count. Five failures from its limit, forty wrong passwords at once: exactly
      // five are checked, and every answer is the same.
      await h.database.db.updateTable('users').set({ unknown_device_failures: ACCOUNT_FAILURE_LIMIT - 5 }).where('id', '=', user.id).execute();
      const wrong = await Promise.all(Array.from({ length: 40 }, (_, i) => signIn(`wrong password ${i}`)));
      assert.deepEqual(tally(wrong), { '401 INVALID_CREDENTIALS': 40 });
      assert.equal(new Set(wrong.map((r) => r.text)).size, 1, 'one body for all');
      const locked = await h.store.forTenant(tenant.id).users.get(user.id);
      // Refused either at the lock already read or at the counter (then counted too): at least the limit.
      assert.ok((locked?.unknownDeviceFailures ?? 0) >= ACCOUNT_FAILURE_LIMIT, `unknownDeviceFailures ${locked?.unknownDeviceFailures}`);
      assert.equal(locked?.unknownDeviceLockedUntil, LOCKED_UNTIL_RESET);
      assert.deepEqual([locked?.failedSignins, locked?.lockedUntil], [0, null], "the account's own count is not the stranger's");
      const failed = (await auditOf(h, tenant.id)).filter((e) => e.event === 'user.signin_failed');
      assert.equal(failed.length, 40);
      assert.equal(failed.filter((e) => e.data['reason'] === 'bad_password').length, 5, 'exactly five passwords were checked');
      assert.ok(failed.every((e) => ['bad_password', 'limit_reached', 'unknown_device_locked'].includes(String(e.data['reason']))));
      expectError(await signIn(PASSWORD), 401, 'INVALID_CREDENTIALS', 'the right password on a locked path');
    });

    it('a session allows 10 attempts, whatever the factor', async () => {
      const tenant = await createTenant(h, 'session-cap', { ...POLICY, acceptableFactors: 'any' });
      await createUser(h, tenant.id, 'cap@example.com');
      const enrolled = await enrollTotpViaSignin(h, client, 'session-cap', 'cap@example.com');
      h.clock.advance(30_000);
      const [session] = await openSessions(h, client, 'session-cap', enrolled.userId, 1);
      // Alternate factors so that no factor reaches its own limit: the session cap is what stops the 11th.
      for (let i = 0; i < 10; i++) {
        const method = i % 2 === 0 ? 'totp' : 'recovery_codes';
        const code = method === 'totp' ? wrongTotpAt(enrolled.secret, h.clock.now()) : '0000-0000-0000-0000';
        const res = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: session, method, code });
        assert.ok((res.status === 400 && res.body.error === 'MFA_CODE_INVALID') || (res.status === 429 && res.body.error === 'MFA_LOCKED'), res.text);
      }
      expectError(await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: session, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) }), 429, 'MFA_LOCKED', '11th attempt in one session');
      const factor = await h.store.forTenant(tenant.id).factors.get(enrolled.factorId);
      assert.equal(factor?.failedCount, 5);
    });
  });
});
