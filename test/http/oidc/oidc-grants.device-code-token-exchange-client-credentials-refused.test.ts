/**
 * SECURITY rule 1 ("every OIDC grant reaches a session only through decide"): the provider offers only the grants
 * that go through the hosted pages — authorization code (+ PKCE) and refresh of what it issued. The device
 * authorization grant (RFC 8628), token exchange (RFC 8693), client credentials, the resource-owner password grant,
 * CIBA and the JWT-bearer grant are not advertised, and a correctly authenticated client asking the token endpoint
 * for any of them is refused with `unsupported_grant_type` (or `unauthorized_client`), with no token; the device
 * authorization and CIBA endpoints do not exist. Real listening server, SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { forEachDialect } from '../../support/harness.ts';
import { createTenantWithUser, registerRelyingParty, startLiveServer, type LiveServer, type RelyingParty } from './oidc-support.ts';

const REFUSED_GRANTS: readonly [string, Record<string, string>][] = [
  ['urn:ietf:params:oauth:grant-type:device_code', { device_code: 'GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS' }],
  [
    'urn:ietf:params:oauth:grant-type:token-exchange',
    { subject_token: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', subject_token_type: 'urn:ietf:params:oauth:token-type:id_token', requested_token_type: 'urn:ietf:params:oauth:token-type:access_token' },
  ],
  ['client_credentials', { scope: 'openid' }],
  ['password', { username: 'ada@example.com', password: 'correct horse battery staple', scope: 'openid' }],
  ['urn:openid:params:grant-type:ciba', { auth_req_id: 'x' }],
  ['urn:ietf:params:oauth:grant-type:jwt-bearer', { assertion: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' }],
];

forEachDialect((dialect) => {
  describe(`OIDC grants other than code and refresh are refused (${dialect})`, () => {
    let live: LiveServer;
    let rp: RelyingParty;
    before(async () => {
      live = await startLiveServer(dialect);
      const tenant = await createTenantWithUser(live, 'acme', 'ada@example.com', { enrollment: 'required', gracePeriodDays: 0 });
      rp = await registerRelyingParty(live, 'Acme', [tenant.tenantId]);
    });
    after(async () => {
      await live?.close();
    });

    it('discovery advertises only authorization_code and refresh_token, and no device or CIBA endpoint', async () => {
      const res = await fetch(`${live.issuer}/.well-known/openid-configuration`);
      const meta = (await res.json()) as Record<string, unknown>;
      assert.deepEqual([...(meta.grant_types_supported as string[])].sort(), ['authorization_code', 'refresh_token']);
      assert.equal(meta.device_authorization_endpoint, undefined);
      assert.equal(meta.backchannel_authentication_endpoint, undefined);
    });

    for (const [grant, fields] of REFUSED_GRANTS) {
      it(`grant_type=${grant} from an authenticated client: 400, no token`, async () => {
        const res = await fetch(`${live.issuer}/token`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`${rp.clientId}:${rp.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: grant, ...fields }).toString(),
        });
        const body = (await res.json()) as Record<string, unknown>;
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.ok(body.error === 'unsupported_grant_type' || body.error === 'unauthorized_client', JSON.stringify(body));
        assert.equal(body.access_token, undefined);
        assert.equal(body.id_token, undefined);
      });
    }

    it('the device authorization and CIBA endpoints do not exist', async () => {
      for (const path of ['/device/auth', '/device', '/backchannel']) {
        const res = await fetch(`${live.issuer}${path}`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`${rp.clientId}:${rp.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ client_id: rp.clientId, scope: 'openid' }).toString(),
        });
        await res.arrayBuffer();
        assert.equal(res.status, 404, path);
      }
    });
  });
});
