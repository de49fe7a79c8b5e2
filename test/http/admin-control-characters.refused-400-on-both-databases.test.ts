/**
 * SECURITY issue #7: control characters in names were accepted on SQLite and refused on PostgreSQL (a NUL there is
 * an error the driver raises). One rule for both: every admin API body whose name, label, email, external id, id
 * or slug holds a C0 control character or DEL answers `400 INVALID_REQUEST` naming the field (a policy's TOTP
 * issuer: `400 INVALID_POLICY`, like every policy field), and nothing changes. The same bodies without the character are accepted (proof that the character was the only
 * fault). The services refuse the same inputs when called without the HTTP layer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PortcullisError } from '../../src/core/index.ts';
import { createApplication } from '../../src/services/admin/applications.ts';
import { createTenant } from '../../src/services/admin/tenants.ts';
import { createUser } from '../../src/services/admin/users.ts';
import { createHarness, forEachDialect, type Harness } from '../support/harness.ts';
import { snapshot } from '../support/snapshot.ts';

/** NUL (PostgreSQL's refusal), other C0 characters (SQLite and PostgreSQL both stored them), DEL. */
const CONTROLS = ['\u0000', '\u0001', '\u0008', '\t', '\n', '\r', '\u001b', '\u001f', '\u007f'];

interface Case {
  readonly method: 'POST' | 'PATCH' | 'PUT';
  readonly path: string;
  readonly field: string;
  /** The body with `value` in the field under test. */
  readonly body: (value: string) => Record<string, unknown>;
  /** A valid value; the character is inserted in its middle. */
  readonly valid: string;
  /** Policy layers are checked by the policy validator: `INVALID_POLICY` with one entry per field. */
  readonly policy?: true;
}

const spliced = (valid: string, control: string): string => `${valid.slice(0, 2)}${control}${valid.slice(2)}`;

forEachDialect((dialect) => {
  describe(`control characters in admin bodies (${dialect})`, () => {
    let h: Harness;
    let cases: Case[];
    let t = '';
    let u = '';
    let a = '';

    before(async () => {
      h = await createHarness({ dialect });
      t = (await h.call(h.platformToken, 'POST', '/tenants', { slug: 'ctl', name: 'Ctl' })).body.id;
      a = (await h.call(h.platformToken, 'POST', '/applications', { name: 'ctl app' })).body.id;
      u = (await h.call(h.platformToken, 'POST', `/tenants/${t}/users`, { email: 'ctl@example.com' })).body.id;
      cases = [
        { method: 'POST', path: '/tenants', field: 'name', valid: 'New tenant', body: (name) => ({ slug: 'new-tenant', name }) },
        { method: 'POST', path: '/tenants', field: 'slug', valid: 'new-slug', body: (slug) => ({ slug, name: 'New slug' }) },
        { method: 'PATCH', path: `/tenants/${t}`, field: 'name', valid: 'Renamed', body: (name) => ({ name }) },
        { method: 'POST', path: '/applications', field: 'name', valid: 'Another app', body: (name) => ({ name }) },
        { method: 'PATCH', path: `/applications/${a}`, field: 'name', valid: 'Renamed app', body: (name) => ({ name }) },
        { method: 'POST', path: `/tenants/${t}/users`, field: 'email', valid: 'new@example.com', body: (email) => ({ email }) },
        { method: 'POST', path: `/tenants/${t}/users`, field: 'externalId', valid: 'crm-1', body: (externalId) => ({ email: 'ext@example.com', externalId }) },
        { method: 'PATCH', path: `/tenants/${t}/users/${u}`, field: 'email', valid: 'changed@example.com', body: (email) => ({ email }) },
        { method: 'PATCH', path: `/tenants/${t}/users/${u}`, field: 'externalId', valid: 'crm-2', body: (externalId) => ({ externalId }) },
        { method: 'POST', path: '/admin-tokens', field: 'label', valid: 'ci token', body: (label) => ({ label, tenantId: t }) },
        { method: 'POST', path: '/admin-tokens', field: 'tenantId', valid: t, body: (tenantId) => ({ label: 'by id', tenantId }) },
        { method: 'PUT', path: `/tenants/${t}/policy`, field: 'totpIssuer', valid: 'Acme Payroll', body: (totpIssuer) => ({ totpIssuer }), policy: true },
      ];
    });
    after(async () => h?.close());

    it('each field with each control character → 400 INVALID_REQUEST naming the field, and no state change', async () => {
      const start = await snapshot(h.database);
      for (const c of cases) {
        for (const control of CONTROLS) {
          const res = await h.call(h.platformToken, c.method, c.path, c.body(spliced(c.valid, control)));
          const where = `${c.method} ${c.path} ${c.field} with U+${control.charCodeAt(0).toString(16).padStart(4, '0')} → ${res.status} ${JSON.stringify(res.body)}`;
          assert.equal(res.status, 400, where);
          if (c.policy === true) {
            assert.equal(res.body.error, 'INVALID_POLICY', where);
            assert.deepEqual(res.body.errors.map((e: { field: string }) => e.field), [c.field], where);
          } else {
            assert.equal(res.body.error, 'INVALID_REQUEST', where);
            assert.equal(res.body.field, `body.${c.field}`, where);
          }
        }
      }
      assert.deepEqual(await snapshot(h.database), start);
    });

    it('the message says what is wrong and does not echo the value', async () => {
      const res = await h.call(h.platformToken, 'POST', '/tenants', { slug: 'x', name: 'Secret\u0000Name' });
      assert.deepEqual(res.body, { error: 'INVALID_REQUEST', message: 'body.name must not contain control characters.', field: 'body.name' });
    });

    it('the same bodies without the character are accepted', async () => {
      for (const c of cases) {
        const res = await h.call(h.platformToken, c.method, c.path, c.body(c.valid));
        assert.ok(res.status === 200 || res.status === 201, `${c.method} ${c.path} ${c.field} → ${res.status} ${JSON.stringify(res.body)}`);
      }
    });

    it('the services refuse them too, without the HTTP layer', async () => {
      const actor = { tenantId: null, tokenId: 'test' } as const;
      const refused = (e: unknown): boolean => e instanceof PortcullisError && e.code === 'INVALID_REQUEST' && /control characters/.test(e.message);
      await assert.rejects(createTenant(h.deps, actor, { slug: 'svc', name: 'Svc\u0001' }), refused);
      await assert.rejects(createApplication(h.deps, actor, { name: 'App\u007f' }), refused);
      await assert.rejects(createUser(h.deps, actor, t, { email: 'a\u0000b@example.com' }), refused);
      await assert.rejects(createUser(h.deps, actor, t, { email: 'svc@example.com', externalId: 'x\u0000' }), refused);
    });
  });
});
