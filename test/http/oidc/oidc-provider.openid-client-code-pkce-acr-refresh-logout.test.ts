/**
 * The OpenID Connect provider judged by an independent relying party, panva's openid-client, against a real
 * listening server on both databases: discovery; authorization code + PKCE through the hosted pages (driven over
 * HTTP: password, the enrollment wall, TOTP enrollment, recovery codes shown once); the ID token validated by the
 * client, with truthful acr/amr/auth_time; refresh keeping the original acr/amr/auth_time; `acr_values` forcing
 * a step-up of a session that allowed a password alone; RP-initiated logout. Under `enrollment: required` no code
 * is issued before MFA.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import * as client from 'openid-client';
import { forEachDialect } from '../../support/harness.ts';
import { totpAt } from '../auth-support.ts';
import { Browser, codesOnPage, createTenantWithUser, PASSWORD, registerRelyingParty, secretOnPage, startLiveServer, type LiveServer, type RelyingParty, type Visit } from './oidc-support.ts';

forEachDialect((dialect) => {
  let live: LiveServer;
  let rp: RelyingParty;
  let rpOptional: RelyingParty;
  let config: client.Configuration;
  let configOptional: client.Configuration;

  before(async () => {
    live = await startLiveServer(dialect);
    const required = await createTenantWithUser(live, 'acme', 'ada@example.com', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
    const optional = await createTenantWithUser(live, 'relaxed', 'bob@example.com', { enrollment: 'optional', challenge: 'never' });
    rp = await registerRelyingParty(live, 'Acme Portal', [required.tenantId]);
    rpOptional = await registerRelyingParty(live, 'Relaxed App', [optional.tenantId]);
    const discover = (r: RelyingParty): Promise<client.Configuration> =>
      client.discovery(new URL(live.issuer), r.clientId, undefined, client.ClientSecretBasic(r.secret), { execute: [client.allowInsecureRequests] });
    config = await discover(rp);
    configOptional = await discover(rpOptional);
  });
  after(() => live.close());

  async function authorize(c: client.Configuration, r: RelyingParty, browser: Browser, extra: Record<string, string> = {}): Promise<{ first: Visit; verifier: string; state: string; nonce: string }> {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(c, {
      redirect_uri: r.redirectUri,
      scope: 'openid email offline_access',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      prompt: 'consent',
      ...extra,
    });
    return { first: await browser.visit(url.href), verifier, state, nonce };
  }

  async function exchange(c: client.Configuration, done: Visit, flow: { verifier: string; state: string; nonce: string }): Promise<client.TokenEndpointResponse & client.TokenEndpointResponseHelpers> {
    assert.ok(done.left !== null, `the flow ended at the relying party, not at ${done.url} (${done.status}):\n${done.html.slice(0, 1500)}`);
    return client.authorizationCodeGrant(c, new URL(done.left), { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce, idTokenExpected: true });
  }

  it('discovery advertises code + PKCE (S256), ES256 ID tokens, our acr values, the end-session endpoint and the JWKS of /.well-known/jwks.json', async () => {
    const meta = config.serverMetadata();
    assert.equal(meta.issuer, live.issuer);
    assert.deepEqual(meta.response_types_supported, ['code']);
    assert.ok(meta.code_challenge_methods_supported?.includes('S256'));
    assert.deepEqual(meta.id_token_signing_alg_values_supported, ['ES256']);
    assert.deepEqual(meta.acr_values_supported, ['urn:portcullis:loa:1', 'urn:portcullis:loa:2', 'urn:portcullis:loa:3']);
    assert.equal(typeof meta.end_session_endpoint, 'string');
    const provider = (await (await fetch(meta.jwks_uri as string)).json()) as { keys: { kid: string }[] };
    const wellKnown = (await (await fetch(`${live.base}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    assert.deepEqual(provider.keys.map((k) => k.kid).sort(), wellKnown.keys.map((k) => k.kid).sort());
  });

  it('under enrollment: required, no code before MFA; the wall, TOTP enrollment and recovery codes shown once lead to an ID token with acr loa:2 and amr pwd/otp/mfa; refresh keeps them; logout ends the session', async () => {
    const browser = new Browser(live.base);
    const flow = await authorize(config, rp, browser);
    assert.equal(flow.first.status, 200);
    assert.match(flow.first.html, /<label for="identifier">/);
    assert.doesNotMatch(flow.first.html, /name="tenant"/, 'the application serves one tenant: no organisation field');

    const wrong = await browser.submit(flow.first, '/signin', { identifier: 'ada@example.com', password: 'not it' });
    assert.equal(wrong.status, 401);
    assert.match(wrong.html, /role="alert"/);
    assert.match(wrong.html, /aria-describedby="form-error"/);

    const wall = await browser.submit(wrong, '/signin', { identifier: 'ada@example.com', password: PASSWORD });
    assert.equal(wall.left, null, 'a password alone reaches no code');
    assert.match(wall.html, /You need to set up multi-factor authentication/);
    // A direct post to the end of the flow meets the same state machine: nothing to continue from, no code.
    const sneak = await browser.submit(wall, '/enroll', { type: 'totp' }).then(async (qr) => {
      const forged = await browser.visit(qr.url.replace(/\/enroll$/, '/continue'), { method: 'POST', form: { csrf: /name="csrf" value="([^"]+)"/.exec(qr.html)?.[1] ?? '' } });
      assert.equal(forged.left, null, 'no code while the enrollment is pending');
      return qr;
    });
    const qr = await browser.visit(flow.first.url);
    assert.match(qr.html, /<svg/, 'the QR code is drawn');
    const secret = secretOnPage(sneak.html);
    const codesPage = await browser.submit(qr, '/enroll/confirm', { code: totpAt(secret, live.now()) });
    assert.equal(codesPage.left, null);
    const codes = codesOnPage(codesPage.html);
    assert.equal(codes.length, 10, 'the recovery codes are shown');
    const again = await browser.visit(flow.first.url);
    assert.equal(codesOnPage(again.html).length, 0, 'and shown only once');

    const done = await browser.submit(again, '/continue', {});
    const tokens = await exchange(config, done, flow);
    const claims = tokens.claims();
    assert.ok(claims !== undefined);
    assert.equal(claims.acr, 'urn:portcullis:loa:2');
    assert.deepEqual([...(claims.amr as string[])].sort(), ['mfa', 'otp', 'pwd']);
    assert.equal(typeof claims.auth_time, 'number');
    assert.ok(Math.abs((claims.auth_time as number) - Date.now() / 1000) < 120);
    assert.match(claims.sub, /^[^:]+:[^:]+$/);
    assert.equal(typeof tokens.refresh_token, 'string');

    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.email, 'ada@example.com');

    await new Promise((r) => setTimeout(r, 1100));
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token as string);
    const again2 = refreshed.claims();
    assert.ok(again2 !== undefined);
    assert.equal(again2.acr, claims.acr);
    assert.deepEqual(again2.amr, claims.amr);
    assert.equal(again2.auth_time, claims.auth_time, 'a refresh keeps the original auth_time');
    assert.ok((again2.iat as number) > (claims.iat as number), 'a new ID token was issued');

    // The code is single-use: a second exchange is refused (the adapter's conditional consume), and, per RFC 6749
    // §4.1.2, the tokens issued from it are revoked.
    const replay = await fetch(config.serverMetadata().token_endpoint as string, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${rp.clientId}:${rp.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: new URL(done.left ?? '').searchParams.get('code') ?? '', redirect_uri: rp.redirectUri, code_verifier: flow.verifier }).toString(),
    });
    assert.equal(replay.status, 400);
    assert.equal(((await replay.json()) as { error: string }).error, 'invalid_grant');

    await assert.rejects(client.refreshTokenGrant(config, refreshed.refresh_token ?? (tokens.refresh_token as string)), (e: Error & { error?: string }) => e.error === 'invalid_grant');

    const logoutUrl = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token as string, post_logout_redirect_uri: rp.postLogoutRedirectUri, state: 'bye' });
    const confirm = await browser.visit(logoutUrl.href);
    assert.equal(confirm.status, 200);
    assert.match(confirm.html, /Yes, sign me out/);
    const formAction = /<form[^>]*id="op.logoutForm"[^>]*action="([^"]+)"|<form[^>]*action="([^"]+)"[^>]*id="op.logoutForm"/.exec(confirm.html);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.html)?.[1] ?? '';
    const action = formAction?.[1] ?? formAction?.[2] ?? '';
    const out = await browser.visit(action, { method: 'POST', form: { xsrf, logout: 'yes' } });
    assert.ok(out.left?.startsWith(rp.postLogoutRedirectUri), `logout returns to the relying party: ${out.url} ${out.html.slice(0, 500)}`);
    assert.equal(new URL(out.left ?? '').searchParams.get('state'), 'bye');

    // Signed out: a new authorization meets the sign-in page again.
    const next = await authorize(config, rp, browser);
    assert.match(next.first.html, /<label for="identifier">/);
  });

  it('a form post without the interaction cookie or with a wrong CSRF token changes nothing; a wrong client secret is invalid_client', async () => {
    const browser = new Browser(live.base);
    const flow = await authorize(config, rp, browser);
    const badCsrf = await browser.visit(flow.first.url + '/signin', { method: 'POST', form: { csrf: 'x'.repeat(43), identifier: 'ada@example.com', password: PASSWORD } });
    assert.equal(badCsrf.status, 403);
    const stranger = await new Browser(live.base).submit(flow.first, '/signin', { identifier: 'ada@example.com', password: PASSWORD });
    assert.equal(stranger.status, 400, 'another browser (no interaction cookie) meets the expired page');
    assert.match(stranger.html, /This sign-in has expired/);
    const res = await fetch(config.serverMetadata().token_endpoint as string, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${rp.clientId}:pcs_wrong`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=authorization_code&code=x&redirect_uri=' + encodeURIComponent(rp.redirectUri) + '&code_verifier=' + 'a'.repeat(43),
    });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_client');
  });

  it('the admin API refuses redirect URIs that are not https (or loopback http), or carry a fragment, with 400 naming the field', async () => {
    const app = await live.runtime.store.applications.findByClientId(rp.clientId);
    assert.ok(app !== null);
    for (const bad of ['http://rp.example/cb', 'https://rp.example/cb#x', 'javascript:alert(1)', 'https://user:pw@rp.example/cb', 'not a uri']) {
      const res = await fetch(`${live.base}/api/v1/applications/${app.id}/oidc`, { method: 'PUT', headers: { authorization: `Bearer ${live.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ redirectUris: [bad] }) });
      assert.equal(res.status, 400, bad);
      const body = (await res.json()) as { error: string; message: string };
      assert.equal(body.error, 'INVALID_REQUEST');
      assert.match(body.message, /redirectUris\[0\]/);
    }
    const kept = (await (await fetch(`${live.base}/api/v1/applications/${app.id}/oidc`, { headers: { authorization: `Bearer ${live.adminToken}` } })).json()) as { redirectUris: string[] };
    assert.deepEqual(kept.redirectUris, [rp.redirectUri], 'nothing changed');
  });

  it('acr_values=loa:2 steps up a session that the policy let in on a password alone; loa:3 is refused as unmet', async () => {
    // Bob enrolls TOTP first (optional enrollment, challenge never: a password alone is allowed).
    const browser = new Browser(live.base);
    const plain = await authorize(configOptional, rpOptional, browser);
    const done = await browser.submit(plain.first, '/signin', { identifier: 'bob@example.com', password: PASSWORD });
    const plainTokens = await exchange(configOptional, done, plain);
    assert.equal(plainTokens.claims()?.acr, 'urn:portcullis:loa:1');
    assert.deepEqual(plainTokens.claims()?.amr, ['pwd']);

    // Enroll a TOTP for bob through the API's own service path (the pages' grace/voluntary path is tested in the browser suite).
    const { beginTotpEnrollment, confirmTotpEnrollment, startEnrollment } = await import('../../../src/services/enrollment-service.ts');
    const { signIn } = await import('../../../src/services/flow-service.ts');
    const app = await live.runtime.store.applications.findByClientId(rpOptional.clientId);
    assert.ok(app !== null);
    const caller = { application: app };
    const signed = await signIn(live.runtime.deps, caller, { tenant: 'relaxed', identifier: 'bob@example.com', password: PASSWORD, context: {} });
    assert.equal(signed.status, 'authenticated');
    const opened = await startEnrollment(live.runtime.deps, caller, { sessionToken: signed.session.token, context: {} });
    const started = await beginTotpEnrollment(live.runtime.deps, caller, { mfaSessionId: opened.mfaSessionId });
    await confirmTotpEnrollment(live.runtime.deps, caller, { mfaSessionId: opened.mfaSessionId, factorId: started.factorId, code: totpAt(started.secret, live.now()) });
    live.advance(30_000);

    const stepped = await authorize(configOptional, rpOptional, browser, { acr_values: 'urn:portcullis:loa:1 urn:portcullis:loa:2' });
    assert.match(stepped.first.html, /stronger sign-in/, 'the existing loa:1 session does not satisfy loa:2');
    const challenge = await browser.submit(stepped.first, '/signin', { identifier: 'bob@example.com', password: PASSWORD });
    assert.equal(challenge.left, null, 'a password alone does not satisfy the requested floor');
    assert.match(challenge.html, /Confirm with your second factor/);
    const finished = await browser.submit(challenge, '/verify', { code: totpAt(started.secret, live.now()) });
    const tokens = await exchange(configOptional, finished, stepped);
    assert.equal(tokens.claims()?.acr, 'urn:portcullis:loa:2');
    assert.deepEqual([...(tokens.claims()?.amr as string[])].sort(), ['mfa', 'otp', 'pwd']);

    // Phishing-resistant (loa:3) cannot be reached with a TOTP: the step-up runs, then the request is refused.
    live.advance(30_000);
    const other = new Browser(live.base);
    const phr = await authorize(configOptional, rpOptional, other, { acr_values: 'urn:portcullis:loa:3' });
    const phrChallenge = await other.submit(phr.first, '/signin', { identifier: 'bob@example.com', password: PASSWORD });
    assert.match(phrChallenge.html, /Confirm with your second factor/);
    const unmet = await other.submit(phrChallenge, '/verify', { code: totpAt(started.secret, live.now()) });
    assert.equal(unmet.left, null, 'no code below the requested level');
    assert.equal(unmet.status, 403);
    assert.match(unmet.html, /Stronger sign-in required/);
  });
});
