/**
 * The account portal over HTTP against a real listening server, on SQLite and PostgreSQL: its privileged acts are
 * judged on the portal's own login session (a stale one is sent through a step-up first, and nothing changes
 * before it is answered); its cookie is bound to its tenant; a POST without the CSRF token, from another origin, or
 * naming another user's factor or session changes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { totpAt } from '../auth-support.ts';
import { codesOnPage, createTenantWithUser, startLiveServer, type LiveServer } from '../oidc/oidc-support.ts';
import { forEachDialect } from '../../support/harness.ts';
import { openLoginSession } from '../../../src/services/login-sessions.ts';
import { openAccountPortal } from '../../../src/services/account-portal.ts';
import { csrfOn, enrollThroughPortal, signInThroughPortal } from './account-support.ts';
import { newDeviceToken } from '../../../src/services/device-trust.ts';

forEachDialect((dialect) => {
  describe(`account portal (${dialect})`, () => {
    let live: LiveServer;
    let acme: { tenantId: string; userId: string };
    /** Ada's TOTP secret, from her enrollment in the first test (the tests run in order). */
    let adaSecret = '';

    before(async () => {
      live = await startLiveServer(dialect);
      acme = await createTenantWithUser(live, 'acme', 'ada@example.com', { enrollment: 'required', gracePeriodDays: 0 });
      await createTenantWithUser(live, 'bolt', 'bob@example.com', { enrollment: 'optional' });
    });
    after(async () => {
      await live?.close();
    });

    const factorsOf = async (tenantId: string, userId: string): Promise<{ id: string; type: string; label: string }[]> =>
      (await live.runtime.store.forTenant(tenantId).factors.listForUser(userId, 'active')).map((f) => ({ id: f.id, type: f.type, label: f.label }));

    it('a stale portal session is sent to step-up before a privileged act; nothing changes until it is answered; a removal refused under required says MFA_DISABLE_BLOCKED', async () => {
      const { browser, secret, codes } = await enrollThroughPortal(live, 'acme', 'ada@example.com');
      adaSecret = secret;
      // Past the manage-mfa max age (300 s by default) since the sign-in's MFA.
      live.advance(10 * 60_000);
      const home = await browser.visit('/account/acme');
      const stepUp = await browser.submit(home, '/account/acme/recovery-codes', {});
      assert.equal(stepUp.status, 200);
      assert.match(stepUp.html, /Confirm with your second factor/);
      // The old batch still works (nothing regenerated before the step-up).
      assert.equal(await live.runtime.store.forTenant(acme.tenantId).recoveryCodes.countRemaining(acme.userId), 10);
      const wrong = await browser.submit(stepUp, '/account/acme/verify', { code: '000000' });
      assert.equal(wrong.status, 400);
      live.advance(30_000);
      const fresh = await browser.submit(wrong, '/account/acme/verify', { code: totpAt(secret, live.now()) });
      const newCodes = codesOnPage(fresh.html);
      assert.equal(newCodes.length, 10);
      assert.notDeepEqual(newCodes, codes);
      const audit = await live.runtime.store.forTenant(acme.tenantId).audit.list({ limit: 100 });
      const events = audit.items.map((e) => e.event);
      assert.ok(events.includes('mfa.step_up_requested') && events.includes('user.step_up_succeeded') && events.includes('mfa.backup_codes_regenerated'), events.join(','));

      // Now fresh: removing the only authenticator app under enrollment: required is refused, with its text.
      const [totp] = (await factorsOf(acme.tenantId, acme.userId)).filter((f) => f.type === 'totp');
      assert.ok(totp !== undefined);
      const confirm = await browser.visit(`/account/acme/factors/${totp.id}/remove`);
      const refused = await browser.submit(confirm, `/account/acme/factors/${totp.id}/remove`, {});
      assert.equal(refused.status, 409);
      assert.match(refused.html, /role="alert"[\s\S]*it is your last accepted factor[\s\S]*MFA_DISABLE_BLOCKED/);
      assert.equal((await factorsOf(acme.tenantId, acme.userId)).filter((f) => f.type === 'totp').length, 1);
      const after = await live.runtime.store.forTenant(acme.tenantId).audit.list({ limit: 200 });
      assert.ok(after.items.some((e) => e.event === 'mfa.disable_blocked' && e.subject === totp.id));
    });

    it("a portal cookie from tenant A does nothing on tenant B: B's pages ask to sign in and B's forms refuse A's token", async () => {
      const ada = await signInThroughPortal(live, 'acme', 'ada@example.com', adaSecret);
      const onB = await ada.browser.visit('/account/bolt');
      assert.equal(onB.status, 200);
      assert.match(onB.html, /Sign in/);
      assert.doesNotMatch(onB.html, /Sign-in factors/);
      // A's CSRF token (bound to tenant A) posted to B: refused.
      const csrfA = csrfOn(ada.home);
      const before = await factorsOf(acme.tenantId, acme.userId);
      const posted = await ada.browser.visit('/account/bolt/recovery-codes', { method: 'POST', form: { csrf: csrfA } });
      assert.equal(posted.status, 403);
      // B's own token for this cookie: not signed in at B, so the sign-in page; nothing changed anywhere.
      const withB = await ada.browser.visit('/account/bolt/recovery-codes', { method: 'POST', form: { csrf: csrfOn(onB) } });
      assert.match(withB.html, /Sign in/);
      assert.deepEqual(await factorsOf(acme.tenantId, acme.userId), before);
      // A's pages still work for A.
      assert.match((await ada.browser.visit('/account/acme')).html, /Sign-in factors/);
      // The login session behind A's cookie is of A's portal application: B's portal application does not know it.
      const tokens = await live.runtime.store.forTenant(acme.tenantId).loginSessions.listLive(acme.userId, live.now());
      assert.ok(tokens.length > 0);
      const portalB = await openAccountPortal(live.runtime.deps, 'bolt');
      assert.ok(portalB !== null);
      const portalA = await openAccountPortal(live.runtime.deps, 'acme');
      assert.notEqual(portalA?.caller.application.id, portalB.caller.application.id);
      assert.ok(tokens.every((s) => s.applicationId === portalA?.caller.application.id));
      await assert.rejects(openLoginSession(live.runtime.deps, portalB.caller, `ses_${acme.tenantId}.x`), { code: 'SESSION_NOT_FOUND' });
    });

    it("POSTs without the CSRF token, from another origin, or naming another user's factor or session change nothing", async () => {
      const ada = await signInThroughPortal(live, 'acme', 'ada@example.com', adaSecret);
      const eve = await live.runtime.store.forTenant(acme.tenantId).users.create({ email: 'eve@example.com', passwordHash: (await live.runtime.store.forTenant(acme.tenantId).users.get(acme.userId))!.passwordHash, now: live.now() });
      const eveSession = await enrollThroughPortal(live, 'acme', 'eve@example.com');
      const [adaTotp] = (await factorsOf(acme.tenantId, acme.userId)).filter((f) => f.type === 'totp');
      assert.ok(adaTotp !== undefined);
      const adaBefore = await factorsOf(acme.tenantId, acme.userId);
      const csrf = csrfOn(ada.home);

      // No token; a wrong token; the right token from another origin.
      for (const form of [{}, { csrf: 'x'.repeat(43) }] as Record<string, string>[]) {
        const res = await ada.browser.visit(`/account/acme/factors/${adaTotp.id}/rename`, { method: 'POST', form: { ...form, label: 'pwned' } });
        assert.equal(res.status, 403);
      }
      const cross = await fetch(`${live.base}/account/acme/factors/${adaTotp.id}/rename`, {
        method: 'POST',
        redirect: 'manual',
        headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded', cookie: [...ada.browser.jar].map(([k, v]) => `${k}=${v}`).join('; ') },
        body: new URLSearchParams({ csrf, label: 'pwned' }).toString(),
      });
      assert.equal(cross.status, 403);
      assert.deepEqual(await factorsOf(acme.tenantId, acme.userId), adaBefore);

      // Eve, signed in with her own fresh session, names Ada's factor and Ada's session.
      const eveCsrf = csrfOn(eveSession.home);
      const rename = await eveSession.browser.visit(`/account/acme/factors/${adaTotp.id}/rename`, { method: 'POST', form: { csrf: eveCsrf, label: 'pwned' } });
      assert.equal(rename.status, 404);
      const remove = await eveSession.browser.visit(`/account/acme/factors/${adaTotp.id}/remove`, { method: 'POST', form: { csrf: eveCsrf } });
      assert.equal(remove.status, 404);
      assert.deepEqual(await factorsOf(acme.tenantId, acme.userId), adaBefore);
      const adaSessions = await live.runtime.store.forTenant(acme.tenantId).loginSessions.listLive(acme.userId, live.now());
      const target = adaSessions[0];
      assert.ok(target !== undefined);
      const revoke = await eveSession.browser.visit(`/account/acme/sessions/${target.id}/revoke`, { method: 'POST', form: { csrf: eveCsrf } });
      assert.match(revoke.html, /That session has already ended/);
      assert.equal((await live.runtime.store.forTenant(acme.tenantId).loginSessions.listLive(acme.userId, live.now())).length, adaSessions.length);
      // Malformed ids and labels: a 4xx page, never a 5xx, nothing changed.
      for (const id of ['%00', 'x'.repeat(500), '1%27%20or%201%3D1', adaTotp.id.toUpperCase().replace(/-/g, '')]) {
        for (const path of [`/factors/${id}/rename`, `/factors/${id}/remove`, `/sessions/${id}/revoke`]) {
          const res = await ada.browser.visit(`/account/acme${path}`, { method: 'POST', form: { csrf, label: 'x' } });
          assert.ok(res.status < 500, `${path}: ${res.status}`);
        }
      }
      for (const label of ['', ' ', 'a\u0000b', 'x'.repeat(65), 'line\nbreak']) {
        const res = await ada.browser.visit(`/account/acme/factors/${adaTotp.id}/rename`, { method: 'POST', form: { csrf, label } });
        assert.equal(res.status, 400, JSON.stringify(label));
      }
      assert.deepEqual(await factorsOf(acme.tenantId, acme.userId), adaBefore);
      // Ada's own rename works (a label, no step-up), and is audited.
      const renamed = await ada.browser.visit(`/account/acme/factors/${adaTotp.id}/rename`, { method: 'POST', form: { csrf, label: 'Work phone' } });
      assert.match(renamed.html, /The name was saved/);
      assert.equal((await factorsOf(acme.tenantId, acme.userId)).find((f) => f.id === adaTotp.id)?.label, 'Work phone');
      assert.ok(eve.id !== acme.userId);
    });


    it("remembered devices are listed on the portal's home and forgotten there by their user only; another user cannot forget Ada's", async () => {
      const t = live.runtime.store.forTenant(acme.tenantId);
      const { hash } = newDeviceToken();
      const id = 'A'.repeat(22);
      await t.trustedDevices.remember({ id, userId: acme.userId, applicationId: 'app', tokenHash: hash, mfaAt: live.now(), userAgent: 'Firefox on Linux (test)', ip: '192.0.2.7', now: live.now() });
      const ada = await signInThroughPortal(live, 'acme', 'ada@example.com', adaSecret);
      assert.match(ada.home.html, /Firefox on Linux \(test\) · 192\.0\.2\.7/);
      await t.users.create({ email: 'mallory@example.com', passwordHash: (await t.users.get(acme.userId))!.passwordHash, now: live.now() });
      const mallory = await enrollThroughPortal(live, 'acme', 'mallory@example.com');
      const tried = await mallory.browser.visit(`/account/acme/devices/${id}/revoke`, { method: 'POST', form: { csrf: csrfOn(mallory.home) } });
      assert.match(tried.html, /no longer remembered/);
      assert.equal((await t.trustedDevices.listRemembered(acme.userId)).length, 1, 'still remembered after a stranger tried');
      const forgotten = await ada.browser.visit(`/account/acme/devices/${id}/revoke`, { method: 'POST', form: { csrf: csrfOn(ada.home) } });
      assert.match(forgotten.html, /The device was forgotten/);
      assert.doesNotMatch(forgotten.html, /Firefox on Linux \(test\)/);
      assert.equal((await t.trustedDevices.listRemembered(acme.userId)).length, 0);
      const again = await ada.browser.visit(`/account/acme/devices/${id}/revoke`, { method: 'POST', form: { csrf: csrfOn(ada.home) } });
      assert.match(again.html, /no longer remembered/);
    });
  });
});
