/**
 * SECURITY issue #7 (rule 8): a tenant-scoped admin must not learn which slugs other tenants hold. Before, a slug
 * change answered `409 CONFLICT` for a taken slug and `200` for a free one — a probe for every tenant's name. Now a
 * tenant token may not change the slug at all: `403 FORBIDDEN` for a taken and a free slug alike, nothing changes
 * and nothing is audited; renaming (and re-sending its own slug) still works; a platform admin changes slugs and
 * still meets `409` on a taken one. On both databases.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHarness, forEachDialect, type Harness } from '../support/harness.ts';

forEachDialect((dialect) => {
  describe(`a tenant admin changing its slug (${dialect})`, () => {
    let h: Harness;
    let own = '';
    let token = '';

    before(async () => {
      h = await createHarness({ dialect });
      own = (await h.call(h.platformToken, 'POST', '/tenants', { slug: 'own', name: 'Own' })).body.id;
      await h.call(h.platformToken, 'POST', '/tenants', { slug: 'taken-by-other', name: 'Other' });
      token = (await h.tenantToken(own)).token;
    });
    after(() => h.close());

    it('gets the same 403 for a slug another tenant holds and for a free one', async () => {
      const taken = await h.call(token, 'PATCH', `/tenants/${own}`, { slug: 'taken-by-other' });
      const free = await h.call(token, 'PATCH', `/tenants/${own}`, { slug: 'nobody-has-this' });
      assert.equal(taken.status, 403);
      assert.deepEqual(taken.body, free.body);
      assert.equal(free.status, 403);
      assert.deepEqual(free.body, { error: 'FORBIDDEN', message: "Only a platform admin may change a tenant's slug." });
      // With a new name alongside, the whole change is refused.
      const both = await h.call(token, 'PATCH', `/tenants/${own}`, { slug: 'taken-by-other', name: 'Renamed' });
      assert.deepEqual([both.status, both.body], [403, free.body]);
    });

    it('changes nothing and audits nothing', async () => {
      const tenant = await h.call(token, 'GET', `/tenants/${own}`);
      assert.deepEqual([tenant.body.slug, tenant.body.name], ['own', 'Own']);
      const audit = await h.call(h.platformToken, 'GET', `/tenants/${own}/audit?event=tenant.updated`);
      assert.deepEqual(audit.body.items, []);
    });

    it('may still rename the tenant, and send its own slug unchanged', async () => {
      const renamed = await h.call(token, 'PATCH', `/tenants/${own}`, { name: 'Own Corp', slug: 'own' });
      assert.equal(renamed.status, 200);
      assert.deepEqual([renamed.body.slug, renamed.body.name], ['own', 'Own Corp']);
    });

    it('a platform admin changes the slug, and meets 409 on a taken one', async () => {
      assert.equal((await h.call(h.platformToken, 'PATCH', `/tenants/${own}`, { slug: 'taken-by-other' })).status, 409);
      const moved = await h.call(h.platformToken, 'PATCH', `/tenants/${own}`, { slug: 'own-new' });
      assert.deepEqual([moved.status, moved.body.slug], [200, 'own-new']);
    });
  });
});
