/**
 * Issue 11, lockout as a weapon (smart lockout, as Entra's): on SQLite and PostgreSQL, a stranger's 100 wrong
 * passwords from devices the user never completed MFA on lock only that path:
 * - the stranger, even with the right password, then gets the answer of a wrong password;
 * - the user on their own laptop (a device that completed MFA) still signs in — password, then MFA as the policy
 *   says — and that completed sign-in resets both counts;
 * - the administrator sees the lock (`unknownDeviceLocked`) and its reason in audit, and an unlock lifts both locks;
 * - wrong passwords from the known device count on the account's counter, the one every MFA code counts on
 *   (SECURITY rule 3), not on the stranger's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ACCOUNT_FAILURE_LIMIT, LOCKED_UNTIL_RESET } from '../../src/store/index.ts';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { api, auditOf, createAuthHarness, createClient, createTenant, createUser, enrollTotpViaSignin, expectError, expectStatus, PASSWORD, totpAt, type ApiResult, type TestClient } from './auth-support.ts';

const POLICY = { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' } as const;
const LAPTOP = { ip: '192.0.2.10', deviceId: 'device-1', userAgent: 'test' };

forEachDialect((dialect) => {
  let h: Harness;
  let client: TestClient;

  before(async () => {
    h = await createAuthHarness(dialect);
    client = await createClient(h, 'smart-lockout');
  });
  after(() => h.close());

  const signIn = (tenant: string, password: string, context?: Record<string, string>): Promise<ApiResult> =>
    api(h, client, 'POST', '/auth/signin', { tenant, identifier: 'victim@example.com', password, ...(context === undefined ? {} : { context }) });

  /** 100 wrong passwords from strangers: each from its own address and device (a botnet), ten at a time. */
  const strangerGuesses = async (tenant: string, n: number): Promise<ApiResult[]> => {
    const results: ApiResult[] = [];
    for (let i = 0; i < n; i += 10) {
      results.push(
        ...(await Promise.all(Array.from({ length: Math.min(10, n - i) }, (_, j) => signIn(tenant, `guess ${i + j}`, { ip: `198.51.100.${i + j}`, deviceId: `attacker-${i + j}` })))),
      );
    }
    return results;
  };

  const userView = async (tenantId: string, userId: string): Promise<{ locked: boolean; unknownDeviceLocked: boolean }> => {
    const res = await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/users/${userId}`);
    assert.equal(res.status, 200);
    return { locked: res.body.locked, unknownDeviceLocked: res.body.unknownDeviceLocked };
  };

  describe('a stranger locks only the stranger’s path', () => {
    it("after 100 wrong passwords from unknown devices, the user's own laptop still signs in, and that sign-in resets both counts", async () => {
      const tenant = await createTenant(h, 'victim', POLICY);
      await createUser(h, tenant.id, 'victim@example.com');
      const enrolled = await enrollTotpViaSignin(h, client, 'victim', 'victim@example.com', LAPTOP);
      h.clock.advance(30_000);

      const guesses = await strangerGuesses('victim', ACCOUNT_FAILURE_LIMIT);
      for (const r of guesses) expectError(r, 401, 'INVALID_CREDENTIALS');

      // The stranger holding the right password now: refused unevaluated, with the answer of a wrong one.
      const stolen = await signIn('victim', PASSWORD, { ip: '198.51.100.200', deviceId: 'attacker-new' });
      assert.equal(stolen.text, guesses[0]?.text);
      expectError(await signIn('victim', PASSWORD), 401, 'INVALID_CREDENTIALS', 'no device at all is an unknown device');
      assert.deepEqual(await userView(tenant.id, enrolled.userId), { locked: false, unknownDeviceLocked: true });
      const failed = (await auditOf(h, tenant.id)).filter((e) => e.event === 'user.signin_failed');
      assert.equal(failed.filter((e) => e.data['reason'] === 'bad_password' && e.data['path'] === 'unknown_device').length, ACCOUNT_FAILURE_LIMIT);
      assert.equal(failed.filter((e) => e.data['reason'] === 'unknown_device_locked').length, 2);

      // The user, on the laptop that completed MFA: the password passes and MFA follows, as the policy says.
      const own = await signIn('victim', PASSWORD, LAPTOP);
      expectStatus(own, 200, 'known device');
      assert.equal(own.body.status, 'mfa_required');
      const t = h.store.forTenant(tenant.id);
      const user = await t.users.get(enrolled.userId);
      // 100 guesses and the 2 refused attempts after them, all counted; the account itself is not locked.
      assert.equal(user?.unknownDeviceFailures, ACCOUNT_FAILURE_LIMIT + 2);
      assert.equal(user?.unknownDeviceLockedUntil, LOCKED_UNTIL_RESET);
      assert.deepEqual([user?.failedSignins, user?.lockedUntil], [0, null]);
      const verified = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: own.body.mfaSessionId, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) });
      expectStatus(verified, 200, 'verify');
      assert.equal(verified.body.verified, true);

      // A completed sign-in is a reset from an authenticated session: both counts and locks are cleared.
      const reset = await t.users.get(enrolled.userId);
      assert.deepEqual([reset?.failedSignins, reset?.lockedUntil, reset?.unknownDeviceFailures, reset?.unknownDeviceLockedUntil], [0, null, 0, null]);
      const fromNewPhone = await signIn('victim', PASSWORD, { ip: '203.0.113.7', deviceId: 'new-phone' });
      expectStatus(fromNewPhone, 200, 'a new device after the reset');
      assert.equal(fromNewPhone.body.status, 'mfa_required');
    });

    it("wrong passwords from the known device count on the account's counter (with MFA codes), not the stranger's", async () => {
      const tenant = await createTenant(h, 'own-typos', POLICY);
      await createUser(h, tenant.id, 'victim@example.com');
      const enrolled = await enrollTotpViaSignin(h, client, 'own-typos', 'victim@example.com', LAPTOP);
      for (let i = 0; i < 3; i++) expectError(await signIn('own-typos', `typo ${i}`, LAPTOP), 401, 'INVALID_CREDENTIALS');
      expectError(await signIn('own-typos', 'stranger', { ip: '198.51.100.9', deviceId: 'attacker' }), 401, 'INVALID_CREDENTIALS');
      const user = await h.store.forTenant(tenant.id).users.get(enrolled.userId);
      assert.deepEqual([user?.failedSignins, user?.unknownDeviceFailures], [3, 1]);
      const paths = (await auditOf(h, tenant.id)).filter((e) => e.event === 'user.signin_failed').map((e) => e.data['path']);
      assert.deepEqual(paths, ['known_device', 'known_device', 'known_device', 'unknown_device']);
    });

    it('an admin unlock lifts both locks, audited, and the user signs in from a new device', async () => {
      const tenant = await createTenant(h, 'unlock-both', POLICY);
      await createUser(h, tenant.id, 'victim@example.com');
      const enrolled = await enrollTotpViaSignin(h, client, 'unlock-both', 'victim@example.com', LAPTOP);
      await strangerGuesses('unlock-both', ACCOUNT_FAILURE_LIMIT);
      assert.deepEqual(await userView(tenant.id, enrolled.userId), { locked: false, unknownDeviceLocked: true });
      expectError(await signIn('unlock-both', PASSWORD, { ip: '203.0.113.8', deviceId: 'new-laptop' }), 401, 'INVALID_CREDENTIALS', 'locked for new devices');

      const unlock = await h.call(h.platformToken, 'POST', `/tenants/${tenant.id}/users/${enrolled.userId}/unlock`);
      assert.equal(unlock.status, 200);
      assert.deepEqual(unlock.body, { wasLocked: true });
      assert.deepEqual(await userView(tenant.id, enrolled.userId), { locked: false, unknownDeviceLocked: false });
      const audited = (await h.store.forTenant(tenant.id).audit.list({ events: ['user.unlocked'] })).items[0];
      assert.deepEqual(
        { accountLocked: audited?.data['accountLocked'], unknownDeviceLocked: audited?.data['unknownDeviceLocked'], unknownDeviceFailures: audited?.data['unknownDeviceFailures'] },
        // The refused attempt from the new laptop was counted too (reserve first): 101.
        { accountLocked: false, unknownDeviceLocked: true, unknownDeviceFailures: ACCOUNT_FAILURE_LIMIT + 1 },
      );
      const after = await signIn('unlock-both', PASSWORD, { ip: '203.0.113.8', deviceId: 'new-laptop' });
      expectStatus(after, 200, 'after the unlock');
      assert.equal(after.body.status, 'mfa_required');
    });

    it("a remembered device's token is a known device: after a stranger locks the unknown-device path, the token still signs in, another user's or a malformed token does not", async () => {
      const tenant = await createTenant(h, 'remembered', POLICY);
      await createUser(h, tenant.id, 'victim@example.com');
      const enrolled = await enrollTotpViaSignin(h, client, 'remembered', 'victim@example.com', LAPTOP);
      await createUser(h, tenant.id, 'other@example.com');
      const other = await enrollTotpViaSignin(h, client, 'remembered', 'other@example.com', { ip: '192.0.2.20', deviceId: 'other-laptop', userAgent: 'test' });
      h.clock.advance(30_000);
      // Each asks to remember a phone after an MFA on it.
      const remember = async (email: string, secret: string, deviceId: string): Promise<string> => {
        const first = await api(h, client, 'POST', '/auth/signin', { tenant: 'remembered', identifier: email, password: PASSWORD, context: { ip: '192.0.2.30', deviceId, userAgent: 'test' } });
        expectStatus(first, 200, 'signin');
        const verified = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: first.body.mfaSessionId, method: 'totp', code: totpAt(secret, h.clock.now()), rememberDevice: true });
        expectStatus(verified, 200, 'verify');
        const token = verified.body.trustedDevice?.token;
        assert.equal(typeof token, 'string', verified.text);
        return token as string;
      };
      const victimToken = await remember('victim@example.com', enrolled.secret, 'victim-phone');
      const otherToken = await remember('other@example.com', other.secret, 'other-phone');

      await strangerGuesses('remembered', ACCOUNT_FAILURE_LIMIT);
      assert.deepEqual(await userView(tenant.id, enrolled.userId), { locked: false, unknownDeviceLocked: true });
      // A device id the user never completed MFA on, but carrying the remembered token: the known path.
      const withToken = await signIn('remembered', PASSWORD, { ip: '203.0.113.50', deviceId: 'never-seen', deviceToken: victimToken });
      expectStatus(withToken, 200, 'remembered device');
      assert.equal(withToken.body.status, 'mfa_required');
      // Another user's token, or a malformed one, makes no device known to the victim.
      expectError(await signIn('remembered', PASSWORD, { ip: '203.0.113.51', deviceId: 'never-seen', deviceToken: otherToken }), 401, 'INVALID_CREDENTIALS', "another user's token");
      expectError(await signIn('remembered', PASSWORD, { ip: '203.0.113.52', deviceId: 'never-seen', deviceToken: 'pcd_not-a-token' }), 401, 'INVALID_CREDENTIALS', 'a malformed token');
    });
  });
});
