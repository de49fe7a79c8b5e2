/**
 * The provider issues a code, a refreshed token or userinfo only behind a live login session of the calling
 * application (src/http/oidc/grant-sessions.ts), judged by openid-client against a real server on both databases:
 * a provider session earned at application A does not carry a user into application B without B's own sign-in
 * (and its decision), nor into an application that does not serve the user's tenant; an administrator revoking
 * A's login session ends A's refresh token and userinfo, and A's next authorization meets the sign-in page.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import * as client from 'openid-client';
import { forEachDialect } from '../../support/harness.ts';
import { Browser, createTenantWithUser, PASSWORD, registerRelyingParty, startLiveServer, type LiveServer, type RelyingParty, type Visit } from './oidc-support.ts';

forEachDialect((dialect) => {
  let live: LiveServer;
  let tenant: { tenantId: string; userId: string };
  const rps: Record<'a' | 'b' | 'stranger', { rp: RelyingParty; config: client.Configuration }> = {} as never;

  before(async () => {
    live = await startLiveServer(dialect);
    tenant = await createTenantWithUser(live, 'relaxed', 'bob@example.com', { enrollment: 'optional', challenge: 'never' });
    const elsewhere = await createTenantWithUser(live, 'elsewhere', 'eve@example.com', { enrollment: 'optional', challenge: 'never' });
    const register = async (name: string, tenantId: string): Promise<{ rp: RelyingParty; config: client.Configuration }> => {
      const rp = await registerRelyingParty(live, name, [tenantId]);
      const config = await client.discovery(new URL(live.issuer), rp.clientId, undefined, client.ClientSecretBasic(rp.secret), { execute: [client.allowInsecureRequests] });
      return { rp, config };
    };
    rps.a = await register('App A', tenant.tenantId);
    rps.b = await register('App B', tenant.tenantId);
    rps.stranger = await register('Other tenant app', elsewhere.tenantId);
  });
  after(() => live.close());

  async function authorize(which: keyof typeof rps, browser: Browser): Promise<{ first: Visit; verifier: string; state: string; nonce: string }> {
    const { rp, config } = rps[which];
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: rp.redirectUri, scope: 'openid email offline_access', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce, prompt: 'consent' });
    return { first: await browser.visit(url.href), verifier, state, nonce };
  }

  const isSignInPage = (visit: Visit): boolean => visit.left === null && /<label for="identifier">/.test(visit.html);

  it('a provider session earned at one application gives no code to another application or to one outside the tenant; revoking the login session ends refresh, userinfo and silent sign-in', async () => {
    const browser = new Browser(live.base);
    const flow = await authorize('a', browser);
    assert.ok(isSignInPage(flow.first));
    const done = await browser.submit(flow.first, '/signin', { identifier: 'bob@example.com', password: PASSWORD });
    assert.ok(done.left !== null, `app A's sign-in ends at its redirect URI: ${done.html.slice(0, 500)}`);
    const tokens = await client.authorizationCodeGrant(rps.a.config, new URL(done.left), { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce, idTokenExpected: true });
    const sub = tokens.claims()?.sub ?? '';

    // Within application A the provider session still signs the user in without a page.
    const again = await authorize('a', browser);
    assert.ok(again.first.left?.startsWith(rps.a.rp.redirectUri), 'A: silent sign-in behind its live login session');

    // Application B, same browser: B's own sign-in page, not a code.
    const atB = await authorize('b', browser);
    assert.ok(isSignInPage(atB.first), `B meets the sign-in page, got ${atB.first.url} → ${atB.first.left ?? ''}`);
    // An application that does not serve the tenant: the sign-in page, and the user's password gets no code there.
    const atStranger = await authorize('stranger', browser);
    assert.ok(isSignInPage(atStranger.first));
    const refused = await browser.submit(atStranger.first, '/signin', { tenant: 'relaxed', identifier: 'bob@example.com', password: PASSWORD });
    assert.equal(refused.left, null, 'no redirect (and no code) for an application outside the tenant');

    // An administrator revokes A's login session.
    const listed = await fetch(`${live.base}/api/v1/tenants/${tenant.tenantId}/users/${tenant.userId}/sessions`, { headers: { authorization: `Bearer ${live.adminToken}` } });
    const { sessions } = (await listed.json()) as { sessions: { id: string }[] };
    assert.ok(sessions.length >= 1);
    for (const s of sessions) {
      const res = await fetch(`${live.base}/api/v1/tenants/${tenant.tenantId}/users/${tenant.userId}/sessions/${s.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${live.adminToken}` } });
      assert.equal(res.status, 200, await res.text());
    }
    await assert.rejects(client.refreshTokenGrant(rps.a.config, tokens.refresh_token as string), (e: Error & { error?: string }) => e.error === 'invalid_grant');
    await assert.rejects(client.fetchUserInfo(rps.a.config, tokens.access_token, sub));
    const afterRevoke = await authorize('a', browser);
    assert.ok(isSignInPage(afterRevoke.first), 'A: the sign-in page again once its login session is revoked');
  });
});
