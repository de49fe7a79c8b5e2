/**
 * The hosted pages' "Remember this device" (SECURITY rule 6), on a live server: ticking it on the challenge page
 * sets the device token in a `__Host-` cookie (HttpOnly, Secure, SameSite=Lax, Path=/); another browser that holds
 * only that cookie signs in under `adaptive` without the challenge — the code is issued at once — and the cookie is
 * rotated; the old value, replayed, meets the challenge again.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import * as client from 'openid-client';
import { secretAad } from '../../../src/factors/secret-box.ts';
import { generateTotpSecret, totpCode, totpStep } from '../../../src/factors/totp.ts';
import { forEachDialect } from '../../support/harness.ts';
import { Browser, createTenantWithUser, PASSWORD, registerRelyingParty, startLiveServer, type LiveServer, type RelyingParty, type Visit } from './oidc-support.ts';

const TRUST = '__Host-pc_trust';

forEachDialect((dialect) => {
  let live: LiveServer;
  let rp: RelyingParty;
  let config: client.Configuration;
  let secret: Buffer;

  before(async () => {
    live = await startLiveServer(dialect);
    const { tenantId, userId } = await createTenantWithUser(live, 'acme', 'ada@example.com', { enrollment: 'required', gracePeriodDays: 0, challenge: 'adaptive', trustedDeviceDays: 30 });
    secret = generateTotpSecret();
    const factorId = randomUUID();
    await live.runtime.store.forTenant(tenantId).factors.create({ id: factorId, userId, type: 'totp', status: 'active', label: 'phone', secretEnc: live.runtime.deps.secrets.seal(secret, secretAad(tenantId, factorId)), now: live.now() });
    rp = await registerRelyingParty(live, 'Acme Portal', [tenantId]);
    config = await client.discovery(new URL(live.issuer), rp.clientId, undefined, client.ClientSecretBasic(rp.secret), { execute: [client.allowInsecureRequests] });
  });
  after(() => live.close());

  const start = async (browser: Browser): Promise<Visit> => {
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: rp.redirectUri,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: client.randomState(),
      prompt: 'login consent',
    });
    return browser.visit(url.href);
  };
  const signIn = async (browser: Browser): Promise<Visit> => browser.submit(await start(browser), '/signin', { identifier: 'ada@example.com', password: PASSWORD });

  it('a ticked "Remember this device" sets the token cookie; a browser with only that cookie skips the challenge and gets it rotated; the old value is refused', async () => {
    const first = new Browser(live.base);
    const challenge = await signIn(first);
    assert.match(challenge.html, /name="remember" type="checkbox"/, 'the challenge page offers to remember the device');
    const offer = await first.submit(challenge, '/verify', { code: totpCode(secret, totpStep(live.now())), remember: '1' });
    // A TOTP user without a passkey is offered one first (src/http/pages/webauthn.ts); "Not now" finishes.
    assert.match(offer.html, /Sign in faster next time: add a passkey/);
    const done = await first.submit(offer, '/passkey/later', {});
    assert.ok(done.left?.startsWith(rp.redirectUri), `the flow reached the relying party: ${done.url} ${done.html.slice(0, 500)}`);
    const token = first.jar.get(TRUST);
    assert.match(token ?? '', /^pcd_[A-Za-z0-9_-]{43}$/, 'the token cookie is set');

    const second = new Browser(live.base);
    second.jar.set(TRUST, token as string);
    const skipped = await signIn(second);
    assert.ok(skipped.left?.startsWith(rp.redirectUri), `no challenge on the remembered device: ${skipped.url}\n${skipped.html.slice(0, 800)}`);
    const rotated = second.jar.get(TRUST);
    assert.ok(rotated !== undefined && rotated !== token, 'the cookie was rotated');

    const replay = new Browser(live.base);
    replay.jar.set(TRUST, token as string);
    const again = await signIn(replay);
    assert.equal(again.left, null, 'the old token does not skip the challenge');
    assert.match(again.html, /name="code"/);
  });

  it('the cookie carries HttpOnly, Secure, SameSite=Lax and Path=/ and no Domain', async () => {
    const browser = new Browser(live.base);
    const challenge = await signIn(browser);
    const csrf = /name="csrf" value="([^"]+)"/.exec(challenge.html)?.[1] ?? '';
    const action = /action="([^"]+\/verify)"/.exec(challenge.html)?.[1] ?? assert.fail('a verify form');
    const res = await fetch(new URL(action.replace(/&amp;/g, '&'), live.base), {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: [...browser.jar].map(([k, v]) => `${k}=${v}`).join('; '), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, method: 'totp', code: totpCode(secret, totpStep(live.now()) + 1), remember: '1' }).toString(),
    });
    const line = res.headers.getSetCookie().find((c) => c.startsWith(`${TRUST}=`));
    assert.ok(line !== undefined, `a trust cookie was set (${res.status})`);
    for (const attribute of ['HttpOnly', 'Secure', 'SameSite=Lax', 'Path=/']) assert.ok(line.split('; ').includes(attribute), `${attribute} in ${line}`);
    assert.ok(!/domain=/i.test(line));
  });
});
