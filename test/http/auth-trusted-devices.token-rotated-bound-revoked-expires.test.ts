/**
 * Remembered devices (SECURITY rule 6) over the application API, on SQLite and PostgreSQL: a random device token
 * after an MFA with `rememberDevice`, only its hash stored; presented on sign-in it skips the challenge under
 * `adaptive` — recorded without `mfa` in `amr`, in the session and in the signed result — and is rotated on every
 * use; it is refused once rotated, revoked (by the user, an administrator, a factor or password change), for
 * another user, in another tenant, and after `trustedDeviceDays`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { DAY_MS } from '../../src/core/index.ts';
import { hashDeviceToken } from '../../src/services/device-trust.ts';
import { forEachDialect, type Dialect, type Harness } from '../support/harness.ts';
import { api, auditOf, createAuthHarness, createClient, createTenant, createUser, expectError, expectStatus, PASSWORD, totpAt, type ApiResult, type TestClient } from './auth-support.ts';

const POLICY = { enrollment: 'required', challenge: 'adaptive', gracePeriodDays: 0, trustedDeviceDays: 30 } as const;
// No caller-chosen deviceId: the device is known only through its token (else the landed deviceId trust applies).
const CONTEXT = { ip: '192.0.2.10', userAgent: 'test' };

interface Member {
  readonly email: string;
  readonly userId: string;
  readonly secret: string;
}

function codes(res: ApiResult): string[] {
  return (res.body?.decision?.reasons ?? []).map((r: { code: string }) => r.code);
}

forEachDialect((dialect: Dialect) => {
  describe('trusted devices', () => {
    let h: Harness;
    let client: TestClient;
    let tenantId: string;
    let otherTenantId: string;
    const slug = 'acme';
    const otherSlug = 'globex';

    /** Signs in with a password and an optional device token (and dev-clock instant). */
    const signin = (email: string, deviceToken?: string, at?: number, tenant = slug): Promise<ApiResult> =>
      api(h, client, 'POST', '/auth/signin', { tenant, identifier: email, password: PASSWORD, context: { ...CONTEXT, ...(deviceToken === undefined ? {} : { deviceToken }) } }, at === undefined ? {} : { 'x-portcullis-now': String(at) });

    /** Answers a sign-in's TOTP challenge (a fresh step each time), optionally remembering the device. */
    const answer = async (res: ApiResult, m: Member, rememberDevice: boolean): Promise<ApiResult> => {
      expectStatus(res, 200, 'signin');
      assert.equal(res.body.status, 'mfa_required', res.text);
      h.clock.advance(30_000);
      const verified = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: res.body.mfaSessionId, method: 'totp', code: totpAt(m.secret, h.clock.now()), rememberDevice });
      expectStatus(verified, 200, 'verify');
      assert.equal(verified.body.status, 'authenticated', verified.text);
      return verified;
    };

    /** Enrolls TOTP at the wall; `rememberDevice` on the confirmation. */
    const enroll = async (email: string, tenant: string, rememberDevice: boolean): Promise<{ member: Member; confirmed: ApiResult }> => {
      const res = await api(h, client, 'POST', '/auth/signin', { tenant, identifier: email, password: PASSWORD, context: CONTEXT });
      expectStatus(res, 200);
      assert.equal(res.body.status, 'enrollment_required', res.text);
      const begun = await api(h, client, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: res.body.mfaSessionId });
      expectStatus(begun, 200);
      const confirmed = await api(h, client, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: res.body.mfaSessionId, factorId: begun.body.factorId, code: totpAt(begun.body.secret, h.clock.now()), rememberDevice });
      expectStatus(confirmed, 200, 'confirm');
      assert.equal(confirmed.body.status, 'authenticated', confirmed.text);
      return { member: { email, userId: res.body.userId, secret: begun.body.secret }, confirmed };
    };

    /** A sign-in the device token let skip MFA: authenticated at once, with a new token. */
    const skipped = (res: ApiResult): string => {
      expectStatus(res, 200, 'signin with device token');
      assert.equal(res.body.status, 'authenticated', res.text);
      assert.ok(codes(res).includes('trusted_device_skip'), res.text);
      const token = res.body.trustedDevice?.token as string;
      assert.match(token, /^pcd_[A-Za-z0-9_-]{43}$/);
      return token;
    };

    /** Not let in by the token: a challenge, and the token named no trusted device. */
    const refused = (res: ApiResult, what: string): void => {
      expectStatus(res, 200, what);
      assert.notEqual(res.body.status, 'authenticated', `${what}: ${res.text}`);
      assert.ok(!codes(res).includes('trusted_device_skip'), what);
      assert.equal(res.body.trustedDevice, undefined, what);
    };

    let alice: Member;
    let bob: Member;
    let token: string;
    let expiredAt: number;

    before(async () => {
      h = await createAuthHarness(dialect, { devClockHeader: true });
      client = await createClient(h, 'Shop');
      tenantId = (await createTenant(h, slug, POLICY)).id;
      otherTenantId = (await createTenant(h, otherSlug, POLICY)).id;
      await createUser(h, tenantId, 'alice@example.com');
      await createUser(h, tenantId, 'bob@example.com');
      await createUser(h, otherTenantId, 'alice@example.com');
      const a = await enroll('alice@example.com', slug, true);
      alice = a.member;
      token = a.confirmed.body.trustedDevice?.token as string;
      assert.match(token, /^pcd_[A-Za-z0-9_-]{43}$/, 'the confirmation remembered the device');
      bob = (await enroll('bob@example.com', slug, false)).member;
      await enroll('alice@example.com', otherSlug, false);
    });
    after(async () => {
      await h?.close();
    });

    it('stores only the hash of the token, bound to tenant, user and application', async () => {
      const rows = await h.store.forTenant(tenantId).trustedDevices.listRemembered(alice.userId);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.tokenHash, hashDeviceToken(token));
      assert.notEqual(rows[0]?.tokenHash, token);
      assert.equal(rows[0]?.applicationId, client.application.id);
      assert.equal((await h.store.forTenant(tenantId).trustedDevices.listRemembered(bob.userId)).length, 0);
    });

    it('skips MFA with a valid token: amr without mfa or otp, single-factor acr, in the answer and the signed result', async () => {
      const res = await signin(alice.email, token);
      const next = skipped(res);
      assert.deepEqual(res.body.amr, ['pwd']);
      assert.equal(res.body.acr, 'urn:portcullis:acr:pwd');
      const claims = decodeJwt(res.body.result as string);
      assert.deepEqual(claims.amr, ['pwd']);
      assert.equal(claims.acr, 'urn:portcullis:acr:pwd');
      const events = (await auditOf(h, tenantId)).filter((e) => e.userId === alice.userId);
      const used = events.filter((e) => e.event === 'mfa.trusted_device_used');
      assert.equal(used.length, 1);
      assert.ok(!JSON.stringify(events).includes(token) && !JSON.stringify(events).includes(next), 'no device token in audit');
      const succeeded = events.filter((e) => e.event === 'user.signin_succeeded').at(-1);
      assert.equal(succeeded?.data.mfa, false);
      assert.equal(succeeded?.data.trustedDevice, true);
      // The old token was spent: rotated, it no longer works; the new one does.
      refused(await signin(alice.email, token), 'the rotated (old) token');
      token = skipped(await signin(alice.email, next));
    });

    it("refuses another user's token (theft) and the same user's token in another tenant", async () => {
      refused(await signin(bob.email, token), "alice's token presented for bob");
      refused(await signin(alice.email, token, undefined, otherSlug), "alice's token at her account in another tenant");
      // Neither refusal spent it: it still works for alice here.
      token = skipped(await signin(alice.email, token));
    });

    it('one token used 10 times in parallel skips MFA exactly once; the others are refused (409 or a challenge), nothing half-done', async () => {
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => api(h, client, 'POST', '/auth/mfa/status/check', { tenant: slug, userId: alice.userId, context: { ...CONTEXT, deviceToken: token } })),
      );
      const won = answers.filter((r) => r.status === 200 && r.body.status === 'authenticated');
      assert.equal(won.length, 1, answers.map((r) => `${r.status} ${r.body?.status ?? r.body?.error}`).join(', '));
      for (const r of answers) if (r !== won[0]) assert.ok(r.status === 409 ? r.body.error === 'CONFLICT' : r.body.status === 'mfa_required', r.text);
      token = won[0]?.body.trustedDevice.token as string;
      const sessions = await h.store.forTenant(tenantId).loginSessions.listLive(alice.userId, h.clock.now());
      assert.equal(sessions.filter((x) => x.id === won[0]?.body.session.id).length, 1);
      token = skipped(await signin(alice.email, token));
    });

    it('a step-up is never skipped by a trusted device', async () => {
      const res = await signin(alice.email, token);
      token = skipped(res);
      const step = await api(h, client, 'POST', '/auth/mfa/step-up', { action: 'payment', context: { ...CONTEXT, deviceToken: token } }, { 'x-portcullis-session': res.body.session.token });
      expectStatus(step, 200);
      assert.equal(step.body.status, 'step_up_required', step.text);
    });

    it('expires trustedDeviceDays after the last MFA on the device (development clock), rotation does not extend it', async () => {
      const [row] = await h.store.forTenant(tenantId).trustedDevices.listRemembered(alice.userId);
      assert.ok(row !== undefined);
      token = skipped(await signin(alice.email, token, row.mfaAt + 30 * DAY_MS - 60_000));
      expiredAt = row.mfaAt + 30 * DAY_MS;
      const late = await signin(alice.email, token, expiredAt);
      refused(late, 'a token 30 days after the MFA on it');
      assert.ok(codes(late).includes('trusted_device_expired'), late.text);
    });

    it('an MFA with rememberDevice renews trust on a new record and token; the old token is gone', async () => {
      // The expired token's challenge, answered (at the real time) with rememberDevice: a fresh record replaces it.
      const verified = await answer(await signin(alice.email, token, expiredAt), alice, true);
      assert.ok(verified.body.amr.includes('mfa'));
      const renewed = verified.body.trustedDevice?.token as string;
      assert.notEqual(renewed, token);
      assert.equal((await h.store.forTenant(tenantId).trustedDevices.listRemembered(alice.userId)).length, 1);
      refused(await signin(alice.email, token), 'the replaced token');
      token = skipped(await signin(alice.email, renewed));
    });

    it('the user lists and revokes their devices with their login session; reuse after revocation is refused', async () => {
      const res = await signin(alice.email, token);
      token = skipped(res);
      const session = { 'x-portcullis-session': res.body.session.token as string };
      const listed = await api(h, client, 'GET', '/auth/devices', undefined, session);
      expectStatus(listed, 200);
      assert.equal(listed.body.devices.length, 1);
      assert.ok(!listed.text.includes(token) && !listed.text.includes(hashDeviceToken(token)), 'no token or hash in the listing');
      expectError(await api(h, client, 'GET', '/auth/devices'), 400, 'SESSION_REQUIRED');
      expectError(await api(h, client, 'DELETE', '/auth/devices/nope', undefined, session), 404, 'NOT_FOUND');
      const revoked = await api(h, client, 'DELETE', `/auth/devices/${listed.body.devices[0].id as string}`, undefined, session);
      expectStatus(revoked, 200);
      refused(await signin(alice.email, token), 'a token the user revoked');
      assert.ok((await auditOf(h, tenantId)).some((e) => e.event === 'mfa.trusted_device_revoked' && e.data.by === 'user'));
    });

    it('a tenant administrator lists and revokes them; another tenant’s administrator gets 404', async () => {
      token = (await answer(await signin(alice.email), alice, true)).body.trustedDevice.token as string;
      const admin = await h.tenantToken(tenantId);
      const stranger = await h.tenantToken(otherTenantId);
      const path = `/tenants/${tenantId}/users/${alice.userId}/trusted-devices`;
      const listed = await h.call(admin.token, 'GET', path);
      assert.equal(listed.status, 200, JSON.stringify(listed.body));
      assert.equal(listed.body.items.length, 1);
      assert.equal((await h.call(stranger.token, 'GET', path)).status, 404);
      assert.equal((await h.call(stranger.token, 'DELETE', `${path}/${listed.body.items[0].id as string}`)).status, 404);
      refused(await signin(alice.email, 'pcd_' + 'A'.repeat(43)), 'an unknown token');
      token = skipped(await signin(alice.email, token)); // still valid after the stranger's attempts
      const current = (await h.store.forTenant(tenantId).trustedDevices.listRemembered(alice.userId))[0];
      assert.ok(current !== undefined);
      const removed = await h.call(admin.token, 'DELETE', `${path}/${current.id}`);
      assert.equal(removed.status, 204);
      assert.equal((await h.store.forTenant(tenantId).trustedDevices.listRemembered(alice.userId)).length, 0);
      assert.ok((await auditOf(h, tenantId)).some((e) => e.event === 'mfa.trusted_device_revoked' && e.data.by === 'admin'));
    });

    it('a factor change (new recovery codes) and a password change revoke every remembered device', async () => {
      const verified = await answer(await signin(alice.email), alice, true);
      token = verified.body.trustedDevice.token as string;
      const regenerated = await api(h, client, 'POST', '/auth/mfa/recovery-codes', undefined, { 'x-portcullis-session': verified.body.session.token as string });
      expectStatus(regenerated, 200, 'regenerate recovery codes');
      refused(await signin(alice.email, token), 'a token issued before a factor change');

      token = (await answer(await signin(alice.email), alice, true)).body.trustedDevice.token as string;
      const admin = await h.tenantToken(tenantId);
      const patched = await h.call(admin.token, 'PATCH', `/tenants/${tenantId}/users/${alice.userId}`, { password: PASSWORD });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      refused(await signin(alice.email, token), 'a token issued before a password change');
    });

    it('refuses a malformed device token with 400 and changes nothing', async () => {
      const before = await auditOf(h, tenantId);
      const res = await api(h, client, 'POST', '/auth/signin', { tenant: slug, identifier: alice.email, password: PASSWORD, context: { deviceToken: 'x'.repeat(300) } });
      expectError(res, 400, 'INVALID_REQUEST');
      const verify = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: 'x', method: 'totp', code: '123456', rememberDevice: 'yes' });
      expectError(verify, 400, 'INVALID_REQUEST');
      assert.equal((await auditOf(h, tenantId)).length, before.length);
    });
  });
});
