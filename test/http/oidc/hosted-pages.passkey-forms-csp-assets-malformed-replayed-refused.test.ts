/**
 * The server half of the pages' passkey ceremonies, without a browser (a cookie-jar client posts the forms as the
 * script would, with a deterministic software authenticator), on SQLite and PostgreSQL:
 * - the pages' CSP allows scripts from 'self' only (no inline, no eval) and the two scripts are served as JavaScript
 *   with `nosniff`; the sign-in page carries passkey-first options (RP id `localhost`, no allowCredentials, user
 *   verification required) in a data attribute and asks for `username webauthn` autofill;
 * - the wall's "Create a passkey" form registers the credential posted in `response`; recovery codes are shown
 *   once; the relying party gets a code;
 * - passkey-first through `/passkey` signs in with no password; the same assertion posted again is refused (its
 *   challenge is spent) and a malformed or unknown credential is refused with the page's message — no code;
 * - a form post without the CSRF token changes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { forEachDialect } from '../../support/harness.ts';
import { SoftCredential } from '../../support/soft-authenticator.ts';
import { Browser, createTenantWithUser, PASSWORD, registerRelyingParty, startLiveServer, type LiveServer, type RelyingParty, type Visit } from './oidc-support.ts';

const decode = (html: string): string => html.replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** The options JSON of the page's ceremony form (`data-options`). */
function optionsOn(page: Visit): { challenge: string; rpId?: string; allowCredentials?: unknown[]; userVerification?: string } {
  const match = /data-options="([^"]*)"/.exec(page.html);
  assert.ok(match !== null, `a ceremony form on ${page.url}:\n${page.html.slice(0, 2000)}`);
  return JSON.parse(decode(match[1] ?? '')) as { challenge: string };
}

forEachDialect((dialect) => {
  let live: LiveServer;
  let rp: RelyingParty;
  let userId: string;
  let credential: SoftCredential;

  before(async () => {
    live = await startLiveServer(dialect);
    const created = await createTenantWithUser(live, 'acme', 'ada@example.com', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always', acceptableFactors: 'any' });
    userId = created.userId;
    rp = await registerRelyingParty(live, 'Acme Portal', [created.tenantId]);
    credential = new SoftCredential({ seed: `${dialect}-pages-${userId}`, rpId: 'localhost', origin: live.base, userHandle: userId });
  });
  after(() => live.close());

  const authorize = (browser: Browser): Promise<Visit> =>
    browser.visit(
      `${live.issuer}/auth?${new URLSearchParams({ client_id: rp.clientId, response_type: 'code', redirect_uri: rp.redirectUri, scope: 'openid', state: 's', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', prompt: 'login' }).toString()}`,
    );

  it("CSP allows scripts from 'self' only; the scripts are served as JavaScript; the sign-in page carries passkey-first options", async () => {
    const browser = new Browser(live.base);
    const signin = await authorize(browser);
    const res = await fetch(signin.url, { headers: { cookie: [...browser.jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
    const csp = res.headers.get('content-security-policy') ?? '';
    await res.arrayBuffer();
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|data:/);
    for (const [name, marker] of [['webauthn.js', 'data-webauthn'], ['simplewebauthn-browser.js', 'SimpleWebAuthnBrowser']] as const) {
      const asset = await fetch(`${live.base}/assets/${name}`);
      assert.equal(asset.status, 200);
      assert.match(asset.headers.get('content-type') ?? '', /^text\/javascript/);
      assert.equal(asset.headers.get('x-content-type-options'), 'nosniff');
      assert.ok((await asset.text()).includes(marker), name);
    }
    assert.doesNotMatch(signin.html, /<script(?![^>]*\bsrc=)[^>]*>(?!<\/script>)/, 'no inline script');
    assert.match(signin.html, /autocomplete="username webauthn"/);
    const options = optionsOn(signin);
    assert.equal(options.rpId, 'localhost');
    assert.deepEqual(options.allowCredentials ?? [], []);
    assert.equal(options.userVerification, 'required');
  });

  it('the wall registers the posted credential; recovery codes once; then a code for the client', async () => {
    const browser = new Browser(live.base);
    const wall = await browser.submit(await authorize(browser), '/signin', { identifier: 'ada@example.com', password: PASSWORD });
    assert.match(wall.html, /You need to set up multi-factor authentication/);
    const create = await browser.submit(wall, '/enroll', { type: 'webauthn' });
    assert.match(create.html, /Create a passkey/);
    const codes = await browser.submit(create, '/enroll/webauthn', { response: JSON.stringify(credential.register(optionsOn(create).challenge)) });
    assert.match(codes.html, /Save your recovery codes/);
    const done = await browser.submit(codes, '/continue', {});
    assert.ok(done.left?.startsWith(rp.redirectUri), `${done.url}\n${done.html.slice(0, 500)}`);
  });

  it('passkey-first signs in with no password; the same assertion again, a malformed one and an unknown one are refused; no CSRF token, no change', async () => {
    const first = new Browser(live.base);
    const page = await authorize(first);
    const assertion = JSON.stringify(credential.assert(optionsOn(page).challenge));
    const noCsrf = await first.visit(page.url.replace(/\/?$/, '/passkey'), { method: 'POST', form: { response: assertion } });
    assert.equal(noCsrf.status, 403);
    // The refused post spent nothing: the same assertion, with the token, still signs in.
    const done = await first.submit(page, '/passkey', { response: assertion });
    assert.ok(done.left?.startsWith(rp.redirectUri), `${done.url}\n${done.html.slice(0, 500)}`);

    const second = new Browser(live.base);
    const again = await second.submit(await authorize(second), '/passkey', { response: assertion });
    assert.equal(again.status, 401, 'a spent challenge');
    assert.match(again.html, /The passkey could not be verified/);
    assert.equal(again.left, null);

    const malformed = await second.submit(again, '/passkey', { response: '{"id":' });
    assert.equal(malformed.status, 400);
    assert.match(malformed.html, /This browser could not use a passkey here/);

    const stranger = new SoftCredential({ seed: `${dialect}-stranger`, rpId: 'localhost', origin: live.base, userHandle: userId });
    const unknown = await second.submit(malformed, '/passkey', { response: JSON.stringify(stranger.assert(optionsOn(malformed).challenge)) });
    assert.equal(unknown.status, 401);
    assert.match(unknown.html, /This passkey is not recognised here/);
    assert.equal(unknown.left, null);
  });
});
