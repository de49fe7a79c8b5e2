/**
 * RFC 9470 end to end: a user whose tenant lets a password alone through signs in with openid-client (ID token acr
 * loa:1); the example resource server answers 401 with `WWW-Authenticate: Bearer
 * error="insufficient_user_authentication", …, acr_values="urn:portcullis:loa:2", max_age=300`; the relying party
 * reads the challenge and runs a new authorization request with those `acr_values` and `max_age`; Portcullis asks
 * for the password and then the TOTP code (the step-up of the hosted pages); the new ID token (loa:2, otp in amr,
 * a fresh auth_time) then passes. A forged or foreign token is `invalid_token`, not a step-up.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { parseStepUpChallenge } from '../../clients/typescript/src/step-up-challenge.ts';
import { totpAt } from '../../test/http/auth-support.ts';
import { Browser, createTenantWithUser, PASSWORD, registerRelyingParty, startLiveServer, type LiveServer, type RelyingParty, type Visit } from '../../test/http/oidc/oidc-support.ts';
import { createStepUpApi } from './server.ts';

describe('the step-up API example with openid-client (RFC 9470)', () => {
  let live: LiveServer;
  let rp: RelyingParty;
  let config: client.Configuration;
  let api: Server;
  let apiUrl = '';
  let secret = '';

  before(async () => {
    live = await startLiveServer('sqlite');
    const tenant = await createTenantWithUser(live, 'acme', 'ada@example.com', { enrollment: 'required', gracePeriodDays: 0 });
    rp = await registerRelyingParty(live, 'Acme Bank', [tenant.tenantId]);
    // Ada enrolls TOTP through the headless API, then the tenant stops challenging: a password alone is loa:1.
    const call = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
      const res = await fetch(`${live.base}/api/v1${path}`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${rp.clientId}:${rp.secret}`).toString('base64')}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const json = (await res.json()) as Record<string, unknown>;
      assert.equal(res.status, 200, JSON.stringify(json));
      return json;
    };
    const signin = await call('/auth/signin', { tenant: 'acme', identifier: 'ada@example.com', password: PASSWORD, context: { deviceId: 'd-1' } });
    const begun = await call('/auth/mfa/enroll/totp', { mfaSessionId: signin.mfaSessionId });
    secret = String(begun.secret);
    await call('/auth/mfa/enroll/totp/confirm', { mfaSessionId: signin.mfaSessionId, factorId: begun.factorId, code: totpAt(secret, live.now()) });
    await live.runtime.store.forTenant(tenant.tenantId).policies.saveVersion({ level: 'tenant' }, { layer: { enrollment: 'optional', challenge: 'never' }, effectiveAt: live.now(), createdBy: 'test', now: live.now() });
    live.advance(30_000);
    config = await client.discovery(new URL(live.issuer), rp.clientId, undefined, client.ClientSecretBasic(rp.secret), { execute: [client.allowInsecureRequests] });
    api = createStepUpApi({ issuer: live.issuer, clientId: rp.clientId });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}/api/transfers`;
  });
  after(async () => {
    await new Promise((resolve) => api?.close(resolve));
    await live?.close();
  });

  async function signIn(browser: Browser, extra: Record<string, string>, answer: (page: Visit) => Promise<Visit>): Promise<string> {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: rp.redirectUri,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...extra,
    });
    const done = await answer(await browser.visit(url.href));
    assert.ok(done.left !== null, `the flow ended at the relying party, not at ${done.url}:\n${done.html.slice(0, 1500)}`);
    const tokens = await client.authorizationCodeGrant(config, new URL(done.left), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true, ...(extra.max_age === undefined ? {} : { maxAge: Number(extra.max_age) }) });
    assert.ok(tokens.id_token !== undefined);
    return tokens.id_token;
  }

  const callApi = (token: string): Promise<Response> => fetch(apiUrl, { headers: { authorization: `Bearer ${token}` } });

  it('a loa:1 token gets the challenge; the new authorization it names challenges TOTP; the loa:2 token passes', async () => {
    const browser = new Browser(live.base);
    const weak = await signIn(browser, {}, (page) => browser.submit(page, '/signin', { identifier: 'ada@example.com', password: PASSWORD }));
    assert.equal(decodeJwt(weak).acr, 'urn:portcullis:loa:1');

    const refused = await callApi(weak);
    assert.equal(refused.status, 401);
    const challenge = parseStepUpChallenge(refused.headers.get('www-authenticate'));
    assert.ok(challenge !== null, String(refused.headers.get('www-authenticate')));
    assert.equal(challenge.acrValues, 'urn:portcullis:loa:2');
    assert.equal(challenge.maxAge, 300);

    let sawChallengePage = false;
    const strong = await signIn(browser, { acr_values: challenge.acrValues ?? '', max_age: String(challenge.maxAge) }, async (page) => {
      assert.match(page.html, /name="password"/, 'the step-up starts with the password again');
      const factor = await browser.submit(page, '/signin', { identifier: 'ada@example.com', password: PASSWORD });
      assert.equal(factor.left, null, 'no code on the password alone');
      assert.match(factor.html, /Confirm with your second factor/);
      sawChallengePage = true;
      return browser.submit(factor, '/verify', { method: 'totp', code: totpAt(secret, live.now()) });
    });
    assert.ok(sawChallengePage);
    const passed = await callApi(strong);
    assert.equal(passed.status, 200, await passed.clone().text());
    const body = (await passed.json()) as { acr: string };
    assert.equal(body.acr, 'urn:portcullis:loa:2');
  });

  it('a token that does not verify is invalid_token, not a step-up', async () => {
    const res = await callApi('eyJhbGciOiJFUzI1NiJ9.eyJhY3IiOiJ1cm46cG9ydGN1bGxpczpsb2E6MyJ9.c2ln');
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
    assert.equal(parseStepUpChallenge(res.headers.get('www-authenticate')), null);
  });
});
