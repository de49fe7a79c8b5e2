/**
 * Passkeys through the hosted pages in a real browser: Debian's chromium driven by playwright-core, with a CDP
 * virtual authenticator (CTAP2, internal transport, resident keys, user verification) standing in for the platform
 * authenticator, against a listening server reached as `http://localhost:PORT` (RP id `localhost`; Chromium refuses
 * WebAuthn on 127.0.0.1). The pages' CSP allows scripts from 'self' only: the ceremonies run from
 * /assets/simplewebauthn-browser.js and /assets/webauthn.js, nothing inline.
 *
 * - **the wall registers a passkey**: under `enrollment: required`, "Passkey or security key" at the wall runs the
 *   registration; the recovery codes are shown once; the relying party gets a code.
 * - **passkey-first, no password**: "Sign in with a passkey" alone reaches the callback; the ID token says
 *   `acr` loa:3 and `amr` hwk/swk + user + mfa.
 * - **conditional UI**: the identifier field asks for `username webauthn` autofill and the script starts a
 *   conditional request; with the virtual authenticator Chromium answers it without a click.
 * - **the offer after password + TOTP**: "Sign in faster next time: add a passkey" is shown to a TOTP user with no
 *   passkey; "Add a passkey" registers one; the next password + TOTP sign-in is not offered it again.
 * - **phishing-resistant acr**: `acr_values=urn:portcullis:loa:3` (our `urn:portcullis:acr:phr`) is not satisfied
 *   by a TOTP answer (the step-up ends at "Stronger sign-in required") and is satisfied by the passkey.
 * - **portal revoke**: two passkeys listed with their kind; one revoked in the account portal; the revoked one is
 *   refused at passkey sign-in and the other still signs in.
 * - **an offer left open** past its five-minute enrollment session still finishes the sign-in.
 * - **portal wall**: a user with no factor registers a passkey at the portal's own enrollment wall.
 * - **portal refusal**: a passkey-only user signs in to the portal with the passkey, renames it, and removing it
 *   (the last acceptable factor under `required`) is refused with `MFA_DISABLE_BLOCKED` shown.
 * - **errors and fallbacks**: a ceremony the authenticator refuses shows the translated message and a retry works;
 *   without JavaScript the passkey controls stay hidden and TOTP still signs in; a policy that does not allow
 *   passkeys makes no offer; "Not now" is remembered by this browser.
 * axe-core finds no serious or critical violation on each passkey page.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, screenshotAndAudit, SKIP_WITHOUT_CHROMIUM } from './browser-support.ts';
import { hashPassword } from '../../../src/factors/password.ts';
import { secretAad } from '../../../src/factors/secret-box.ts';
import { generateTotpSecret, totpCode, totpStep } from '../../../src/factors/totp.ts';
import { totpAt } from '../auth-support.ts';
import { createTenantWithUser, PASSWORD, registerRelyingParty, startLiveServer, type LiveServer, type RelyingParty } from './oidc-support.ts';

/** PKCE (RFC 7636): the verifier of the S256 challenge the authorize URLs carry. */
const CODE_VERIFIER = randomBytes(32).toString('base64url');
const CODE_CHALLENGE = createHash('sha256').update(CODE_VERIFIER).digest('base64url');

const AUTHENTICATOR = { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true } as const;

interface Tab {
  readonly context: BrowserContext;
  readonly page: Page;
  readonly cdp: CDPSession;
  authenticatorId: string;
}

describe('passkeys on the hosted pages in chromium', { skip: SKIP_WITHOUT_CHROMIUM }, () => {
  let live: LiveServer;
  let rp: RelyingParty;
  let plainRp: RelyingParty;
  let browser: Browser;
  const plainSecret = generateTotpSecret();
  const niaSecret = generateTotpSecret();

  before(async () => {
    live = await startLiveServer('sqlite');
    const tenant = await createTenantWithUser(live, 'acme', 'ada@example.com', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always', acceptableFactors: 'any' });
    const store = live.runtime.store.forTenant(tenant.tenantId);
    await store.users.create({ email: 'tom@example.com', passwordHash: await hashPassword(PASSWORD), now: live.now() });
    await store.users.create({ email: 'una@example.com', passwordHash: await hashPassword(PASSWORD), now: live.now() });
    // A TOTP user of the same tenant (passkeys allowed), to decline the offer.
    const nia = await store.users.create({ email: 'nia@example.com', passwordHash: await hashPassword(PASSWORD), now: live.now() });
    const niaFactor = randomUUID();
    await store.factors.create({ id: niaFactor, userId: nia.id, type: 'totp', status: 'active', label: 'phone', secretEnc: live.runtime.deps.secrets.seal(niaSecret, secretAad(tenant.tenantId, niaFactor)), now: live.now() });
    const ole = await store.users.create({ email: 'ole@example.com', passwordHash: await hashPassword(PASSWORD), now: live.now() });
    const oleFactor = randomUUID();
    await store.factors.create({ id: oleFactor, userId: ole.id, type: 'totp', status: 'active', label: 'phone', secretEnc: live.runtime.deps.secrets.seal(niaSecret, secretAad(tenant.tenantId, oleFactor)), now: live.now() });
    rp = await registerRelyingParty(live, 'Acme Portal', [tenant.tenantId]);
    // A tenant whose policy does not allow passkeys, with a TOTP user.
    const plain = await createTenantWithUser(live, 'plain', 'pat@example.com', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always', allowedFactors: ['totp', 'recovery_codes'] });
    const factorId = randomUUID();
    await live.runtime.store.forTenant(plain.tenantId).factors.create({ id: factorId, userId: plain.userId, type: 'totp', status: 'active', label: 'phone', secretEnc: live.runtime.deps.secrets.seal(plainSecret, secretAad(plain.tenantId, factorId)), now: live.now() });
    plainRp = await registerRelyingParty(live, 'Plain App', [plain.tenantId]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  after(async () => {
    await browser?.close();
    await live?.close();
  });

  function authorizeUrl(extra: Record<string, string> = {}): string {
    const params = new URLSearchParams({
      client_id: rp.clientId,
      response_type: 'code',
      redirect_uri: rp.redirectUri,
      scope: 'openid email',
      state: 'st-1',
      nonce: 'n-1',
      code_challenge: CODE_CHALLENGE,
      code_challenge_method: 'S256',
      ...extra,
    });
    return `${live.issuer}/auth?${params.toString()}`;
  }

  /**
   * A browser tab with a virtual authenticator of its own. Chromium's virtual authenticator answers a conditional
   * (autofill) request by itself, with no dropdown to click, so every tab but the autofill test's tells the page
   * that conditional mediation is unavailable: the buttons are what those tests press.
   */
  async function openTab(options: { autofill?: boolean } = {}): Promise<Tab> {
    const context = await browser.newContext();
    if (options.autofill !== true) {
      await context.addInitScript(() => {
        const pkc = (globalThis as unknown as { PublicKeyCredential?: { isConditionalMediationAvailable?: () => Promise<boolean> } }).PublicKeyCredential;
        if (pkc !== undefined) pkc.isConditionalMediationAvailable = () => Promise.resolve(false);
      });
    }
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    page.on('pageerror', (error) => console.error('pageerror', error));
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', { options: AUTHENTICATOR });
    return { context, page, cdp, authenticatorId };
  }

  /**
   * Runs `action` and waits for the redirect to the relying party's callback (never served: chromium refuses port 9
   * and shows its error page), then for that error page, so that the next navigation is not interrupted by it.
   */
  async function callbackOf(page: Page, action: () => Promise<void>): Promise<URL> {
    const reached = page.waitForRequest((r) => r.url().startsWith(rp.redirectUri), { timeout: 15_000 });
    const errorPage = page.waitForEvent('framenavigated', { predicate: (frame) => frame === page.mainFrame() && frame.url().startsWith('chrome-error:'), timeout: 15_000 });
    await action();
    const url = new URL((await reached).url());
    await errorPage;
    return url;
  }

  /** The ID token's claims for a callback's code (the code is exchanged as the relying party would). */
  async function idTokenOf(callback: URL): Promise<Record<string, unknown>> {
    const meta = (await (await fetch(`${live.issuer}/.well-known/openid-configuration`)).json()) as { token_endpoint: string };
    const res = await fetch(meta.token_endpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(rp.clientId)}:${encodeURIComponent(rp.secret)}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code') ?? '', redirect_uri: rp.redirectUri, code_verifier: CODE_VERIFIER }),
    });
    const body = (await res.json()) as { id_token?: string };
    assert.equal(res.status, 200, JSON.stringify(body));
    return JSON.parse(Buffer.from((body.id_token ?? '').split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  }

  async function signInWithPassword(page: Page, email: string, url = authorizeUrl()): Promise<void> {
    await page.goto(url);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Continue' }).click();
  }

  let ada: Tab;
  let tom: Tab;
  let tomSecret = '';

  it('the wall offers a passkey; "Create a passkey" registers one; recovery codes once; the client gets a code', async () => {
    ada = await openTab();
    const { page } = ada;
    await signInWithPassword(page, 'ada@example.com');
    await page.getByRole('heading', { name: 'You need to set up multi-factor authentication' }).waitFor();
    await page.getByRole('button', { name: /Set up.*Passkey/ }).waitFor();
    await screenshotAndAudit(page, 'passkey-01-wall');
    await page.getByRole('button', { name: /Set up.*Passkey/ }).click();
    await page.getByRole('heading', { name: 'Create a passkey' }).waitFor();
    await page.getByRole('button', { name: 'Create a passkey' }).waitFor();
    await screenshotAndAudit(page, 'passkey-02-create');
    await page.getByRole('button', { name: 'Create a passkey' }).click();
    await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
    assert.equal(await page.locator('ul.codes li').count(), 10);
    const { credentials } = await ada.cdp.send('WebAuthn.getCredentials', { authenticatorId: ada.authenticatorId });
    assert.equal(credentials.length, 1, 'one resident credential on the authenticator');
    assert.equal(credentials[0]?.isResidentCredential, true);
    const callback = await callbackOf(page, () => page.getByRole('button', { name: 'I have saved them' }).click());
    assert.deepEqual((await idTokenOf(callback)).acr, 'urn:portcullis:loa:3', 'a verified passkey is phishing-resistant MFA');
  });

  it('passkey-first: "Sign in with a passkey" with no password reaches the client; acr loa:3, amr with user and mfa', async () => {
    const { page, context } = ada;
    await context.clearCookies();
    await page.goto(authorizeUrl());
    const button = page.getByRole('button', { name: 'Sign in with a passkey' });
    await button.waitFor();
    assert.equal(await page.getByLabel('Email').getAttribute('autocomplete'), 'username webauthn', 'the identifier field offers passkeys in autofill');
    await screenshotAndAudit(page, 'passkey-03-sign-in');
    const callback = await callbackOf(page, () => button.click());
    const claims = await idTokenOf(callback);
    assert.equal(claims.acr, 'urn:portcullis:loa:3');
    assert.ok(Array.isArray(claims.amr) && claims.amr.includes('mfa') && claims.amr.includes('user') && !claims.amr.includes('pwd'), JSON.stringify(claims.amr));
  });

  it('conditional UI: the identifier asks for passkey autofill and the conditional request signs in', async () => {
    // Ada's passkey, copied onto the authenticator of a tab that leaves conditional mediation as chromium has it.
    const auto = await openTab({ autofill: true });
    const { credentials } = await ada.cdp.send('WebAuthn.getCredentials', { authenticatorId: ada.authenticatorId });
    for (const credential of credentials) await auto.cdp.send('WebAuthn.addCredential', { authenticatorId: auto.authenticatorId, credential });
    const { page } = auto;
    await page.goto(`${live.base}/assets/pages.css`);
    assert.equal(await page.evaluate(() => (globalThis as unknown as { PublicKeyCredential: { isConditionalMediationAvailable(): Promise<boolean> } }).PublicKeyCredential.isConditionalMediationAvailable()), true, 'chromium offers conditional mediation');
    // Headless chromium shows no autofill dropdown to click; with a virtual authenticator (automatic presence) it
    // answers a conditional request by itself, so the page's autofill request alone completes the sign-in. What we
    // prove: the input's autocomplete token, the script starting `useBrowserAutofill`, and the answer posted.
    const posted = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/passkey'));
    const callback = await callbackOf(page, async () => {
      await page.goto(authorizeUrl(), { waitUntil: 'commit' });
    });
    assert.ok((await posted).postData()?.includes('response='), 'the conditional request posted the assertion, with no click');
    assert.equal((await idTokenOf(callback)).acr, 'urn:portcullis:loa:3');
    // The copy's sign counter moved on: Ada's own authenticator takes it back, or its next assertion would be
    // refused as a counter regression (as a cloned authenticator should be).
    const moved = (await auto.cdp.send('WebAuthn.getCredentials', { authenticatorId: auto.authenticatorId })).credentials;
    await ada.cdp.send('WebAuthn.clearCredentials', { authenticatorId: ada.authenticatorId });
    for (const credential of moved) await ada.cdp.send('WebAuthn.addCredential', { authenticatorId: ada.authenticatorId, credential });
    await auto.context.close();
  });

  it('after password + TOTP the pages offer to add a passkey; "Add a passkey" registers it; not offered again', async () => {
    tom = await openTab();
    const { page } = tom;
    await signInWithPassword(page, 'tom@example.com');
    await page.getByRole('button', { name: /Set up.*Authenticator app/ }).click();
    await page.getByRole('heading', { name: 'Set up your authenticator app' }).waitFor();
    tomSecret = (await page.locator('code.secret').textContent()) ?? '';
    await page.getByRole('textbox', { name: 'Code', exact: true }).fill(totpAt(tomSecret, live.now()));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
    await callbackOf(page, () => page.getByRole('button', { name: 'I have saved them' }).click());

    await tom.context.clearCookies();
    live.advance(30_000);
    await signInWithPassword(page, 'tom@example.com');
    await page.getByLabel('Authenticator app').fill(totpAt(tomSecret, live.now()));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Sign in faster next time: add a passkey' }).waitFor();
    await page.getByRole('button', { name: 'Add a passkey' }).waitFor();
    await screenshotAndAudit(page, 'passkey-04-offer');
    await callbackOf(page, () => page.getByRole('button', { name: 'Add a passkey' }).click());
    const { credentials } = await tom.cdp.send('WebAuthn.getCredentials', { authenticatorId: tom.authenticatorId });
    assert.equal(credentials.length, 1);

    // A TOTP user who now holds a passkey is not offered another.
    await tom.context.clearCookies();
    live.advance(30_000);
    await signInWithPassword(page, 'tom@example.com');
    await page.getByRole('link', { name: 'Authenticator app' }).click();
    await page.getByLabel('Authenticator app').fill(totpAt(tomSecret, live.now()));
    const callback = await callbackOf(page, () => page.getByRole('button', { name: 'Verify' }).click());
    assert.ok((callback.searchParams.get('code') ?? '').length > 10);
  });

  it('acr_values for phishing-resistant assurance: a TOTP answer is not enough, the passkey is', async () => {
    const { page, context } = tom;
    const phr = authorizeUrl({ acr_values: 'urn:portcullis:loa:3' });
    await context.clearCookies();
    live.advance(30_000);
    await signInWithPassword(page, 'tom@example.com', phr);
    await page.getByRole('link', { name: 'Authenticator app' }).click();
    await page.getByLabel('Authenticator app').fill(totpAt(tomSecret, live.now()));
    await page.getByRole('button', { name: 'Verify' }).click();
    // The session is MFA (loa:2) below the requested loa:3: the step-up asks again, and TOTP still does not reach it.
    await page.getByRole('heading', { name: 'Confirm with your second factor' }).waitFor();
    live.advance(30_000);
    await page.getByRole('link', { name: 'Authenticator app' }).click();
    await page.getByLabel('Authenticator app').fill(totpAt(tomSecret, live.now()));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Stronger sign-in required' }).waitFor();

    await context.clearCookies();
    live.advance(30_000);
    await signInWithPassword(page, 'tom@example.com', phr);
    await page.getByRole('heading', { name: 'Verify it’s you' }).waitFor();
    await page.getByRole('link', { name: 'Passkey or security key' }).click();
    const use = page.getByRole('button', { name: 'Use your passkey' });
    await use.waitFor();
    await screenshotAndAudit(page, 'passkey-05-challenge');
    const callback = await callbackOf(page, () => use.click());
    const claims = await idTokenOf(callback);
    assert.equal(claims.acr, 'urn:portcullis:loa:3');
  });

  it('the account portal lists passkeys with their kind, adds a second one, revokes the first; the other still signs in, the revoked one is refused', async () => {
    const { page, context, cdp } = tom;
    await context.clearCookies();
    live.advance(30_000);
    await page.goto(`${live.base}/account/acme`);
    await page.getByLabel('Email').fill('tom@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('link', { name: 'Authenticator app' }).click();
    await page.getByLabel('Authenticator app').fill(totpAt(tomSecret, live.now()));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    const rows = page.locator('table.factors tbody tr');
    assert.equal(await rows.count(), 2, 'the TOTP app and the passkey');
    const firstLabel = ((await rows.nth(1).locator('th').textContent()) ?? '').trim();
    assert.match((await rows.nth(1).textContent()) ?? '', /Security key \(this device only\)/, 'a key that does not sync is shown as device-bound');

    // A second passkey, on another authenticator: the first one's credential is kept aside to try after revoking.
    const first = (await cdp.send('WebAuthn.getCredentials', { authenticatorId: tom.authenticatorId })).credentials;
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: tom.authenticatorId });
    // This one syncs (backup eligible and backed up, as a password manager's passkey): listed as a synced passkey.
    tom.authenticatorId = (await cdp.send('WebAuthn.addVirtualAuthenticator', { options: { ...AUTHENTICATOR, defaultBackupEligibility: true, defaultBackupState: true } })).authenticatorId;
    await page.getByRole('button', { name: 'Add a passkey' }).waitFor();
    await screenshotAndAudit(page, 'passkey-06-portal');
    await page.getByLabel('Name for the new passkey (optional)').fill('Laptop');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.getByRole('heading', { name: 'Create a passkey' }).waitFor();
    await page.getByRole('button', { name: 'Create a passkey' }).click();
    await page.getByText('The passkey was added.').waitFor();
    assert.equal(await rows.count(), 3);
    assert.equal(((await rows.nth(2).locator('th').textContent()) ?? '').trim(), 'Laptop');
    assert.match((await rows.nth(2).textContent()) ?? '', /Passkey \(synced\)/);
    assert.match((await rows.nth(1).textContent()) ?? '', /Security key \(this device only\)/, 'the first, device-bound');

    // Revoke the first passkey alone.
    await page.getByRole('link', { name: `Remove ${firstLabel}` }).click();
    await page.getByRole('button', { name: 'Remove' }).click();
    await page.getByText('The factor was removed.').waitFor();
    assert.equal(await rows.count(), 2);
    assert.deepEqual((await rows.locator('th').allTextContents()).map((l) => l.trim()).sort(), ['Authenticator app', 'Laptop'].sort());

    // The other passkey still signs in, passkey-first.
    await context.clearCookies();
    await page.goto(authorizeUrl());
    const callback = await callbackOf(page, () => page.getByRole('button', { name: 'Sign in with a passkey' }).click());
    assert.equal((await idTokenOf(callback)).acr, 'urn:portcullis:loa:3');

    // The revoked one, back on an authenticator, is refused.
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: tom.authenticatorId });
    tom.authenticatorId = (await cdp.send('WebAuthn.addVirtualAuthenticator', { options: AUTHENTICATOR })).authenticatorId;
    for (const credential of first) await cdp.send('WebAuthn.addCredential', { authenticatorId: tom.authenticatorId, credential });
    await context.clearCookies();
    await page.goto(authorizeUrl());
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByRole('alert').getByText('This passkey is not recognised here.').waitFor();
  });

  it('the portal challenge takes the passkey; removing the last acceptable factor is refused as MFA_DISABLE_BLOCKED; renaming works', async () => {
    const { page, context } = ada;
    await context.clearCookies();
    await page.goto(`${live.base}/account/acme`);
    await page.getByLabel('Email').fill('ada@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Use your passkey' }).click();
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    const row = page.locator('table.factors tbody tr');
    assert.equal(await row.count(), 1);
    const label = ((await row.locator('th').textContent()) ?? '').trim();

    await page.getByRole('link', { name: `Rename ${label}` }).click();
    await page.getByLabel('Name').fill('My phone');
    await page.getByRole('button', { name: 'Save name' }).click();
    await page.getByText('The name was saved.').waitFor();

    await page.getByRole('link', { name: 'Remove My phone' }).click();
    await page.getByRole('button', { name: 'Remove' }).click();
    const refusal = page.getByRole('alert');
    await refusal.getByText(/You cannot remove this factor/).waitFor();
    assert.match((await refusal.textContent()) ?? '', /MFA_DISABLE_BLOCKED/);
    assert.equal(await row.count(), 1, 'the passkey stays');
    await screenshotAndAudit(page, 'passkey-07-portal-remove-refused');
  });

  it('a refused or cancelled ceremony shows a translated message and the page stays usable', async () => {
    const { page, context, cdp } = ada;
    await context.clearCookies();
    // The authenticator cannot verify the user: chromium refuses the ceremony (NotAllowedError), as on a cancel.
    await cdp.send('WebAuthn.setUserVerified', { authenticatorId: ada.authenticatorId, isUserVerified: false });
    await page.goto(authorizeUrl());
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByRole('alert').getByText('The passkey request was cancelled or timed out. Try again, or choose another way.').waitFor();
    await screenshotAndAudit(page, 'passkey-08-cancelled');
    await cdp.send('WebAuthn.setUserVerified', { authenticatorId: ada.authenticatorId, isUserVerified: true });
    const callback = await callbackOf(page, () => page.getByRole('button', { name: 'Sign in with a passkey' }).click());
    assert.ok((callback.searchParams.get('code') ?? '').length > 10, 'the retry signs in');
  });

  it('without JavaScript the passkey controls stay hidden and the other factors work', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    live.advance(30_000);
    await page.goto(authorizeUrl());
    await page.getByLabel('Email').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Sign in with a passkey' }).count(), 0, 'no passkey button without the script');
    await page.getByLabel('Email').fill('tom@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Continue' }).click();
    // The challenge defaults to the passkey (the strongest factor held); without the script its button stays hidden
    // (a `<noscript>` note says why where the browser parses with scripting off) and the picker offers the rest.
    await page.getByRole('heading', { name: 'Verify it’s you' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Use your passkey' }).isVisible(), false);
    await page.getByRole('link', { name: 'Authenticator app' }).click();
    await page.getByLabel('Authenticator app').fill(totpAt(tomSecret, live.now()));
    const callback = await callbackOf(page, () => page.getByRole('button', { name: 'Verify' }).click());
    assert.ok((callback.searchParams.get('code') ?? '').length > 10);
    await context.close();
  });

  it('a policy that does not allow passkeys: no passkey offer after password + TOTP', async () => {
    const context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    await page.goto(authorizeUrl({ client_id: plainRp.clientId }));
    await page.getByLabel('Email').fill('pat@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByLabel('Authenticator app').fill(totpCode(plainSecret, totpStep(live.now())));
    const callback = await callbackOf(page, () => page.getByRole('button', { name: 'Verify' }).click());
    assert.ok((callback.searchParams.get('code') ?? '').length > 10, 'straight to the client, no offer');
    await context.close();
  });

  it('"Not now" finishes the sign-in and this browser is not asked again', async () => {
    const context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    live.advance(30_000);
    await signInWithPassword(page, 'nia@example.com');
    await page.getByLabel('Authenticator app').fill(totpCode(niaSecret, totpStep(live.now())));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Sign in faster next time: add a passkey' }).waitFor();
    await callbackOf(page, () => page.getByRole('button', { name: 'Not now' }).click());
    const declined = (await context.cookies()).find((c) => c.name === '__Host-pc_passkey_later');
    assert.ok(declined !== undefined && declined.httpOnly && declined.secure && declined.sameSite === 'Lax', 'the answer is remembered in an HttpOnly cookie');

    // Signing in again (prompt=login: the password and TOTP again) goes straight to the client.
    live.advance(30_000);
    await signInWithPassword(page, 'nia@example.com', authorizeUrl({ prompt: 'login' }));
    await page.getByLabel('Authenticator app').fill(totpCode(niaSecret, totpStep(live.now())));
    const callback = await callbackOf(page, () => page.getByRole('button', { name: 'Verify' }).click());
    assert.ok((callback.searchParams.get('code') ?? '').length > 10);
    await context.close();
  });

  it("the account portal's own enrollment wall registers a passkey for a user with no factor", async () => {
    const una = await openTab();
    const { page } = una;
    await page.goto(`${live.base}/account/acme`);
    await page.getByLabel('Email').fill('una@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: /Set up.*Passkey/ }).click();
    await page.getByRole('button', { name: 'Create a passkey' }).click();
    await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
    await page.getByRole('button', { name: 'I have saved them' }).click();
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    assert.match((await page.locator('table.factors tbody tr').first().textContent()) ?? '', /Passkey \(synced\)|Security key \(this device only\)/);
    await una.context.close();
  });

  it('an offer left open past its enrollment session still finishes the sign-in', async () => {
    const ole = await openTab();
    const { page } = ole;
    live.advance(30_000);
    await signInWithPassword(page, 'ole@example.com');
    await page.getByLabel('Authenticator app').fill(totpCode(niaSecret, totpStep(live.now())));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('button', { name: 'Add a passkey' }).waitFor();
    live.advance(6 * 60_000);
    const callback = await callbackOf(page, () => page.getByRole('button', { name: 'Add a passkey' }).click());
    assert.ok((callback.searchParams.get('code') ?? '').length > 10);
    await ole.context.close();
  });
});
