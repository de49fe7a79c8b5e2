/**
 * Policy administration over HTTP on both databases: every PUT is a new version; GET shows the version in force
 * and the history; `effectiveAt` announces a change ahead; the resolved view names each field's source; ZewstID's
 * `mfaPolicy` saves an application version; a bad policy is a 400 INVALID_POLICY naming the field; per-user
 * overrides expire and replace each other; preview counts real users and saves nothing; a policy naming factors
 * this deployment cannot deliver is saved with warnings, and the preview counts users walled with nothing to enroll.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { DAY_MS } from '../../src/core/index.ts';
import { createHarness, forEachDialect, type Harness } from '../support/harness.ts';
import { snapshot } from '../support/snapshot.ts';

forEachDialect((dialect) => {
  describe(`admin policies (${dialect})`, () => {
    let h: Harness;
    let tenantId: string;
    let appId: string;
    let n = 0;

    before(async () => {
      h = await createHarness({ dialect });
    });
    after(async () => h?.close());
    beforeEach(async () => {
      n++;
      tenantId = (await h.call(h.platformToken, 'POST', '/tenants', { slug: `acme-${n}`, name: 'Acme' })).body.id;
      appId = (await h.call(h.platformToken, 'POST', '/applications', { name: `bank-${n}` })).body.id;
    });

    async function latestEvents(limit = 5): Promise<{ event: string; data: Record<string, unknown> }[]> {
      return (await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/audit?limit=${limit}`)).body.items;
    }

    it('each PUT is a new version; GET shows the one in force and the history; the audit names the changed fields', async () => {
      const first = await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/policy`, { enrollment: 'required', gracePeriodDays: 7 });
      assert.equal(first.status, 200);
      assert.equal(first.body.version, 1);
      assert.deepEqual(first.body.changed, ['enrollment', 'gracePeriodDays']);
      h.clock.advance(1000);
      const second = await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/policy`, { enrollment: 'required', gracePeriodDays: 3, acceptableFactors: 'phishing_resistant' });
      assert.equal(second.body.version, 2);
      assert.deepEqual(second.body.changed, ['acceptableFactors', 'gracePeriodDays']);
      const same = await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/policy`, { enrollment: 'required', gracePeriodDays: 3, acceptableFactors: 'phishing_resistant' });
      assert.equal(same.body.version, 3, 'a save without changes is still a new version');
      assert.deepEqual(same.body.changed, []);

      const got = await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/policy`);
      assert.equal(got.status, 200);
      assert.equal(got.body.inForce.version, 3);
      assert.deepEqual(got.body.inForce.layer, { enrollment: 'required', gracePeriodDays: 3, acceptableFactors: 'phishing_resistant' });
      assert.deepEqual(got.body.versions.map((v: { version: number }) => v.version), [1, 2, 3]);
      assert.deepEqual(got.body.versions[0].layer, { enrollment: 'required', gracePeriodDays: 7 });
      assert.match(got.body.versions[0].createdBy, /^admin:/);

      const events = await latestEvents(10);
      const updates = events.filter((e) => e.event === 'mfa.policy_updated');
      assert.equal(updates.length, 3);
      assert.deepEqual(updates.map((e) => e.data.version), [3, 2, 1]);
      assert.deepEqual(updates[1]?.data.changed, ['acceptableFactors', 'gracePeriodDays']);
      const accepted = events.filter((e) => e.event === 'mfa.accepted_factors_updated');
      assert.equal(accepted.length, 1, 'only the save that changed acceptableFactors');
      assert.equal(accepted[0]?.data.acceptableFactors, 'phishing_resistant');
      assert.equal(accepted[0]?.data.version, 2);
    });

    it('resolved: every field with its value and source across application, tenant and tenant×application layers, plus floors', async () => {
      assert.equal((await h.call(h.platformToken, 'PUT', `/applications/${appId}/policy`, { challenge: 'always', trustedDeviceDays: 7 })).status, 200);
      await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/policy`, { enrollment: 'required', trustedDeviceDays: 14 });
      await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/policy`, { enrollment: 'required', trustedDeviceDays: 10 });
      await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/applications/${appId}/policy`, { strength: 'enhanced' });

      const res = await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/applications/${appId}/policy/resolved`);
      assert.equal(res.status, 200);
      const { values, sources, versions, floors } = res.body;
      assert.equal(values.challenge, 'always');
      assert.deepEqual(sources.challenge, { level: 'application', name: `bank-${n}`, version: 1, from: `application "bank-${n}" v1` });
      assert.equal(values.enrollment, 'required');
      assert.deepEqual(sources.enrollment, { level: 'tenant', name: 'Acme', version: 2, from: 'tenant "Acme" v2' });
      assert.equal(values.trustedDeviceDays, 10);
      assert.equal(sources.trustedDeviceDays.level, 'tenant');
      assert.equal(values.strength, 'enhanced');
      assert.equal(sources.strength.level, 'tenant_application');
      assert.equal(values.gracePeriodDays, 14);
      assert.deepEqual(sources.gracePeriodDays, { level: 'default', name: '', version: null, from: 'default' });
      assert.deepEqual(versions.map((v: { level: string; version: number }) => [v.level, v.version]), [['application', 1], ['tenant', 2], ['tenant_application', 1]]);
      assert.deepEqual(floors, []);
      assert.equal(Object.keys(sources).length, 15);

      // A first-party application: floors raise what the layers say.
      await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/policy`, { enrollment: 'optional' });
      await h.call(h.platformToken, 'PATCH', `/applications/${appId}`, { firstParty: true, mfaPolicy: 'never' });
      const floored = (await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/applications/${appId}/policy/resolved`)).body;
      assert.equal(floored.values.enrollment, 'required');
      assert.equal(floored.values.challenge, 'always');
      assert.deepEqual(floored.sources.challenge, { level: 'floor', name: 'first-party', version: null, from: 'floor "first-party"' });
      assert.deepEqual(floored.floors, ['first-party']);
    });

    it('ZewstID PATCH {"mfaPolicy"} saves a new application policy version setting challenge (smart → adaptive) and keeps the rest', async () => {
      await h.call(h.platformToken, 'PUT', `/applications/${appId}/policy`, { trustedDeviceDays: 5, challenge: 'never' });
      const patched = await h.call(h.platformToken, 'PATCH', `/applications/${appId}`, { mfaPolicy: 'smart' });
      assert.equal(patched.status, 200);
      assert.equal(patched.body.policy.version, 2);
      assert.deepEqual(patched.body.policy.layer, { trustedDeviceDays: 5, challenge: 'adaptive' });
      assert.deepEqual(patched.body.policy.changed, ['challenge']);
      const always = await h.call(h.platformToken, 'PATCH', `/applications/${appId}`, { mfaPolicy: 'always' });
      assert.equal(always.body.policy.version, 3);

      const history = (await h.call(h.platformToken, 'GET', `/applications/${appId}/policy`)).body;
      assert.equal(history.inForce.version, 3);
      assert.equal(history.inForce.layer.challenge, 'always');
      const resolved = (await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/applications/${appId}/policy/resolved`)).body;
      assert.equal(resolved.values.challenge, 'always');
      assert.equal(resolved.sources.challenge.version, 3);

      const platform = (await h.call(h.platformToken, 'GET', `/audit?event=mfa.policy_updated&applicationId=${appId}`)).body.items;
      assert.equal(platform[0].data.mfaPolicy, 'always');
      assert.equal(platform[0].data.via, 'mfaPolicy');
    });

    it('effectiveAt announces a change ahead: the current version stays in force until then', async () => {
      await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/policy`, { enrollment: 'optional' });
      const at = new Date(h.clock.now() + DAY_MS).toISOString();
      const ahead = await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/policy`, { enrollment: 'required', effectiveAt: at });
      assert.equal(ahead.status, 200);
      assert.equal(ahead.body.effectiveAt, at);
      let got = (await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/policy`)).body;
      assert.equal(got.inForce.version, 1);
      assert.equal(got.latest.version, 2);
      let resolved = (await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/applications/${appId}/policy/resolved`)).body;
      assert.equal(resolved.values.enrollment, 'optional');

      h.clock.advance(DAY_MS);
      got = (await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/policy`)).body;
      assert.equal(got.inForce.version, 2);
      resolved = (await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/applications/${appId}/policy/resolved`)).body;
      assert.equal(resolved.values.enrollment, 'required');

      const past = await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/policy`, { enrollment: 'optional', effectiveAt: '2001-01-01T00:00:00Z' });
      assert.equal(past.status, 400);
      assert.equal(past.body.error, 'INVALID_REQUEST');
    });

    it('a bad policy → 400 INVALID_POLICY with errors naming each field, and nothing saved', async () => {
      const before = await snapshot(h.database);
      const cases: [unknown, string[]][] = [
        [{ gracePeriodDays: 31 }, ['gracePeriodDays']],
        [{ risk: { challengeAt: 90, blockAt: 80 } }, ['risk.challengeAt']],
        [{ acceptableFactors: ['totp', 'bogus'] }, ['acceptableFactors[1]']],
        [{ enrollment: 'sometimes', minFactors: 4 }, ['enrollment', 'minFactors']],
        [{ stepUp: { defaultMaxAgeSeconds: 60 } }, ['stepUp.actions']],
        [{ recoveryCodes: { enabled: true, count: 0 } }, ['recoveryCodes.count']],
        [{ colour: 'blue' }, ['colour']],
        [{ totpIssuer: 'a:b' }, ['totpIssuer']],
      ];
      for (const path of [`/tenants/${tenantId}/policy`, `/tenants/${tenantId}/applications/${appId}/policy`, `/applications/${appId}/policy`]) {
        for (const [layer, fields] of cases) {
          const res = await h.call(h.platformToken, 'PUT', path, layer);
          assert.equal(res.status, 400, `${path} ${JSON.stringify(layer)}`);
          assert.equal(res.body.error, 'INVALID_POLICY');
          assert.deepEqual(res.body.errors.map((e: { field: string }) => e.field), fields, JSON.stringify(layer));
          assert.ok(res.body.errors.every((e: { field: string; message: string }) => e.message.startsWith(e.field.split('[')[0] ?? '')));
        }
      }
      assert.deepEqual(await snapshot(h.database), before);
    });

    it('per-user override: enrollment with a mandatory expiry, exemption as exemptUntil, removal, and a shorter override replaces a longer one', async () => {
      const user = (await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/users`, { email: 'eve@example.com' })).body;
      const path = `/tenants/${tenantId}/users/${user.id}/policy`;
      assert.equal((await h.call(h.platformToken, 'PUT', path, { enrollment: 'required' })).status, 400, 'expiresAt is mandatory');
      assert.equal((await h.call(h.platformToken, 'PUT', path, { expiresAt: new Date(h.clock.now() + DAY_MS).toISOString() })).status, 400, 'an override sets something');
      assert.equal((await h.call(h.platformToken, 'PUT', path, { enrollment: 'required', expiresAt: new Date(h.clock.now() - DAY_MS).toISOString() })).status, 400);

      const long = new Date(h.clock.now() + 60 * DAY_MS).toISOString();
      const set = await h.call(h.platformToken, 'PUT', path, { enrollment: 'required', expiresAt: long });
      assert.equal(set.status, 200);
      assert.deepEqual(set.body.layer, { enrollment: 'required' });
      assert.equal(set.body.expiresAt, long);
      let resolved = (await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/applications/${appId}/policy/resolved?userId=${user.id}`)).body;
      assert.equal(resolved.values.enrollment, 'required');
      assert.equal(resolved.sources.enrollment.level, 'user');

      // A shorter override replaces the longer one outright: when it ends, the old one does not come back.
      const short = new Date(h.clock.now() + 10 * DAY_MS).toISOString();
      const exempt = await h.call(h.platformToken, 'PUT', path, { exempt: true, expiresAt: short });
      assert.equal(exempt.status, 200);
      assert.equal(exempt.body.exemptUntil, short);
      assert.equal((await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/users/${user.id}`)).body.exemptUntil, short);
      h.clock.advance(11 * DAY_MS);
      resolved = (await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/applications/${appId}/policy/resolved?userId=${user.id}`)).body;
      assert.equal(resolved.values.enrollment, 'optional');
      assert.equal(resolved.sources.enrollment.level, 'default');
      const view = (await h.call(h.platformToken, 'GET', path)).body;
      assert.equal(view.layer, null);
      assert.equal(view.exemptUntil, null);

      await h.call(h.platformToken, 'PUT', path, { enrollment: 'required', exempt: true, expiresAt: new Date(h.clock.now() + DAY_MS).toISOString() });
      const removed = await h.call(h.platformToken, 'DELETE', path);
      assert.deepEqual(removed.body, { removed: true });
      resolved = (await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/applications/${appId}/policy/resolved?userId=${user.id}`)).body;
      assert.equal(resolved.values.enrollment, 'optional');
      assert.equal((await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/users/${user.id}`)).body.exemptUntil, null);
      assert.deepEqual((await h.call(h.platformToken, 'DELETE', path)).body, { removed: false });

      const audit = (await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/audit?event=mfa.policy_updated&userId=${user.id}`)).body.items;
      assert.equal(audit.length, 4);
      assert.equal(audit[0].data.removed, true);
      assert.equal(audit[1].data.exempt, true);
    });

    it('preview: a draft over the tenant’s real users → counts, ids and moves per outcome and error code; nothing saved', async () => {
      const t = h.store.forTenant(tenantId);
      const now = h.clock.now();
      const mk = async (email: string, roles: string[] = []): Promise<string> => (await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/users`, { email, roles })).body.id;
      const withTotp = await mk('totp@example.com');
      const none = await mk('none@example.com');
      const passkey = await mk('passkey@example.com');
      const breakGlass = await mk('glass@example.com', ['break-glass']);
      const overridden = await mk('override@example.com');
      for (const id of [withTotp, none, passkey, breakGlass, overridden]) await t.users.setFirstSignIn(id, now - 100 * DAY_MS);
      const activate = async (userId: string, type: 'totp' | 'webauthn'): Promise<void> => {
        const f = await t.factors.create({ userId, type, label: type, expiresAt: now + 60_000, now });
        assert.ok(await t.factors.activate(f.id, now));
      };
      await activate(withTotp, 'totp');
      await activate(passkey, 'webauthn');
      await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/users/${overridden}/policy`, { enrollment: 'optional', expiresAt: new Date(now + DAY_MS).toISOString() });
      await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/policy`, { enrollment: 'optional', challenge: 'adaptive' });

      const before = await snapshot(h.database);
      const draft = { enrollment: 'required', gracePeriodDays: 0, challenge: 'always', exemptRoles: ['break-glass'] };
      const res = await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/policy/preview`, { applicationId: appId, draft });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const { current, draft: after, moves, unchanged } = res.body;
      assert.equal(current.total, 5);
      assert.equal(current.outcomes.allow.count, 5);
      assert.deepEqual(new Set(after.outcomes.challenge.userIds), new Set([withTotp, passkey]));
      assert.deepEqual(after.outcomes.enroll.userIds, [none]);
      assert.deepEqual(new Set(after.outcomes.allow.userIds), new Set([breakGlass, overridden]));
      assert.deepEqual(after.errorCodes.MFA_REQUIRED_NO_FACTOR?.userIds, [none]);
      const byMove = Object.fromEntries(moves.map((m: { from: string; to: string; count: number; userIds: string[] }) => [`${m.from}>${m.to}`, m]));
      assert.equal(byMove['allow>challenge']?.count, 2);
      assert.deepEqual(byMove['allow>enroll']?.userIds, [none]);
      assert.equal(unchanged, 2);
      assert.deepEqual(await snapshot(h.database), before, 'a preview saves nothing');

      // The tenant×application scope, and a bad draft named field by field.
      const scoped = await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/policy/preview`, { applicationId: appId, scope: 'tenant_application', draft: { challenge: 'always' } });
      assert.equal(scoped.status, 200);
      assert.equal(scoped.body.scope, 'tenant_application');
      assert.equal(scoped.body.draft.outcomes.challenge.count, 2);
      const bad = await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/policy/preview`, { applicationId: appId, draft: { gracePeriodDays: 99 } });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error, 'INVALID_POLICY');
      assert.deepEqual(bad.body.errors.map((e: { field: string }) => e.field), ['draft.gracePeriodDays']);
      const missingApp = await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/policy/preview`, { applicationId: '00000000-0000-4000-8000-000000000000', draft: {} });
      assert.equal(missingApp.status, 404);
    });

    it('a save naming factors this deployment cannot deliver succeeds with warnings naming the fields; a clean save has none', async () => {
      const clean = await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/policy`, { enrollment: 'required', allowedFactors: ['totp', 'recovery_codes'] });
      assert.equal(clean.status, 200);
      assert.deepEqual(clean.body.warnings, []);

      const layer = { enrollment: 'required', acceptableFactors: ['email_otp', 'sms_otp'], allowedFactors: ['email_otp', 'totp', 'sms_otp'] };
      const saved = await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/policy`, layer);
      assert.equal(saved.status, 200, 'saved anyway');
      assert.equal(saved.body.version, 2);
      assert.deepEqual(
        saved.body.warnings.map((w: { code: string; field: string }) => `${w.code} ${w.field}`),
        ['FACTOR_NOT_DELIVERABLE allowedFactors[0]', 'FACTOR_NOT_DELIVERABLE allowedFactors[2]', 'FACTOR_NOT_DELIVERABLE acceptableFactors[0]', 'FACTOR_NOT_DELIVERABLE acceptableFactors[1]', 'NO_DELIVERABLE_FACTOR acceptableFactors'],
      );
      assert.match(saved.body.warnings[4].message, /enrollment wall with nothing to enroll/);
      assert.deepEqual((await h.call(h.platformToken, 'GET', `/tenants/${tenantId}/policy`)).body.inForce.layer, layer);

      // A tenant×application layer is judged over the layers it inherits: narrowing to email codes under an
      // application layer that requires enhanced strength leaves nothing deliverable.
      assert.equal((await h.call(h.platformToken, 'PUT', `/applications/${appId}/policy`, { strength: 'enhanced' })).body.warnings.length, 0);
      const narrowed = await h.call(h.platformToken, 'PUT', `/tenants/${tenantId}/applications/${appId}/policy`, { acceptableFactors: ['email_otp', 'totp'], allowedFactors: ['email_otp'] });
      assert.equal(narrowed.status, 200);
      assert.deepEqual(
        narrowed.body.warnings.map((w: { code: string; field: string }) => `${w.code} ${w.field}`),
        ['FACTOR_NOT_DELIVERABLE allowedFactors[0]', 'FACTOR_NOT_DELIVERABLE acceptableFactors[0]', 'NO_DELIVERABLE_FACTOR acceptableFactors'],
      );
    });

    it('preview: nothingToEnroll counts the users a draft walls with no deliverable option; the draft’s warnings come with it', async () => {
      const t = h.store.forTenant(tenantId);
      const now = h.clock.now();
      const mk = async (email: string): Promise<string> => (await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/users`, { email })).body.id;
      const withTotp = await mk('totp@example.com');
      const none = await mk('none@example.com');
      const passkey = await mk('passkey@example.com');
      for (const id of [withTotp, none, passkey]) await t.users.setFirstSignIn(id, now - 100 * DAY_MS);
      for (const [userId, type] of [[withTotp, 'totp'], [passkey, 'webauthn']] as const) {
        const f = await t.factors.create({ userId, type, label: type, expiresAt: now + 60_000, now });
        assert.ok(await t.factors.activate(f.id, now));
      }

      const reachable = await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/policy/preview`, { applicationId: appId, draft: { enrollment: 'required', gracePeriodDays: 0 } });
      assert.equal(reachable.status, 200);
      assert.deepEqual(reachable.body.draft.outcomes.enroll.userIds, [none]);
      assert.deepEqual(reachable.body.draft.nothingToEnroll, { count: 0, userIds: [] }, 'TOTP is offered at this wall');
      assert.deepEqual(reachable.body.warnings, []);

      // Passkeys are deliverable: a phishing-resistant draft walls the others with a passkey to enroll.
      const passkeysOnly = await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/policy/preview`, {
        applicationId: appId,
        draft: { enrollment: 'required', gracePeriodDays: 0, acceptableFactors: 'phishing_resistant' },
      });
      assert.equal(passkeysOnly.status, 200);
      assert.deepEqual(passkeysOnly.body.draft.nothingToEnroll, { count: 0, userIds: [] }, 'a passkey is offered at this wall');
      assert.deepEqual(passkeysOnly.body.warnings, []);

      const channelsOnly = await h.call(h.platformToken, 'POST', `/tenants/${tenantId}/policy/preview`, {
        applicationId: appId,
        draft: { enrollment: 'required', gracePeriodDays: 0, acceptableFactors: ['email_otp'] },
      });
      assert.equal(channelsOnly.status, 200);
      const { draft, current, warnings } = channelsOnly.body;
      assert.ok(draft.outcomes.enroll.userIds.includes(none), JSON.stringify(draft.outcomes));
      assert.ok(draft.nothingToEnroll.userIds.includes(none), 'email codes are not delivered here: nothing to enroll');
      assert.equal(draft.nothingToEnroll.count, draft.nothingToEnroll.userIds.length);
      assert.deepEqual(current.nothingToEnroll, { count: 0, userIds: [] });
      assert.deepEqual(
        warnings.map((w: { code: string; field: string }) => `${w.code} ${w.field}`),
        ['FACTOR_NOT_DELIVERABLE draft.acceptableFactors[0]', 'NO_DELIVERABLE_FACTOR draft.acceptableFactors'],
      );
      assert.match(warnings[0].message, /^draft\.acceptableFactors\[0\]: /);
    });
  });
});
