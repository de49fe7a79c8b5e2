/**
 * The hosted pages in a real browser: Debian's chromium driven by playwright-core against a real listening server
 * reached as `http://localhost:PORT` (Secure `__Host-`/`__Secure-` cookies work there). A user under
 * `enrollment: required` meets the enrollment wall, enrolls TOTP from the QR page's key, sees the recovery codes
 * once and reaches the relying party's callback with a code; a second sign-in is password + TOTP. axe-core is
 * injected on every page: no serious or critical violation. Screenshots of each page go to docs/screenshots/.
 * Skipped (saying why) only when no chromium is installed; .ci/run installs it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, screenshotAndAudit, SKIP_WITHOUT_CHROMIUM } from './browser-support.ts';
import { totpAt } from '../auth-support.ts';
import { createTenantWithUser, PASSWORD, registerRelyingParty, startLiveServer, type LiveServer, type RelyingParty } from './oidc-support.ts';

describe('hosted pages in chromium', { skip: SKIP_WITHOUT_CHROMIUM }, () => {
  let live: LiveServer;
  let rp: RelyingParty;
  let browser: Browser;

  before(async () => {
    live = await startLiveServer('sqlite');
    const tenant = await createTenantWithUser(live, 'acme', 'ada@example.com', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
    rp = await registerRelyingParty(live, 'Acme Portal', [tenant.tenantId]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  after(async () => {
    await browser?.close();
    await live?.close();
  });

  const audit = screenshotAndAudit;

  function authorizeUrl(): string {
    const params = new URLSearchParams({
      client_id: rp.clientId,
      response_type: 'code',
      redirect_uri: rp.redirectUri,
      scope: 'openid email',
      state: 'st-1',
      nonce: 'n-1',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    });
    return `${live.issuer}/auth?${params.toString()}`;
  }

  /** Opens the authorization and waits for the request to the relying party's callback (never served). */
  async function callbackOf(page: Page, action: () => Promise<void>): Promise<URL> {
    const reached = page.waitForRequest((r) => r.url().startsWith(rp.redirectUri));
    await action();
    return new URL((await reached).url());
  }

  it('the wall, TOTP enrollment with QR, recovery codes once, then password + TOTP; axe finds no serious violation', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    // The callback host does not exist; abort it instead of waiting for a connection.
    await page.route(`${rp.redirectUri}**`, (route) => route.abort());

    await page.goto(authorizeUrl());
    await page.getByLabel('Email').waitFor();
    await audit(page, '01-sign-in');
    const cookies = await context.cookies();
    assert.ok(cookies.some((c) => c.name.startsWith('__Secure-pc_interaction') && c.secure && c.httpOnly && c.sameSite === 'Lax'), JSON.stringify(cookies.map((c) => c.name)));

    await page.getByLabel('Email').fill('ada@example.com');
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('alert').waitFor();
    await audit(page, '02-sign-in-error');

    await page.getByLabel('Email').fill('ada@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'You need to set up multi-factor authentication' }).waitFor();
    await audit(page, '03-enrollment-wall');

    await page.getByRole('button', { name: /Set up.*Authenticator app/ }).click();
    await page.getByRole('heading', { name: 'Set up your authenticator app' }).waitFor();
    assert.equal(await page.locator('figure.qr svg').count(), 1, 'the QR code is shown');
    await audit(page, '04-totp-enrollment');
    const secret = (await page.locator('code.secret').textContent()) ?? '';
    await page.getByRole('textbox', { name: 'Code', exact: true }).fill(totpAt(secret, live.now()));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
    assert.equal(await page.locator('ul.codes li').count(), 10);
    await audit(page, '05-recovery-codes');
    await page.reload();
    assert.equal(await page.locator('ul.codes li').count(), 0, 'the codes are shown once');
    const first = await callbackOf(page, () => page.getByRole('button', { name: 'I have saved them' }).click());
    assert.equal(first.searchParams.get('state'), 'st-1');
    assert.ok((first.searchParams.get('code') ?? '').length > 10);

    // A new browser: password, then the TOTP challenge with the factor picker.
    live.advance(30_000);
    const second = await browser.newContext();
    const page2 = await second.newPage();
    await page2.route(`${rp.redirectUri}**`, (route) => route.abort());
    await page2.goto(authorizeUrl());
    await page2.getByLabel('Email').fill('ada@example.com');
    await page2.getByLabel('Password').fill(PASSWORD);
    await page2.getByRole('button', { name: 'Continue' }).click();
    await page2.getByRole('heading', { name: 'Verify it’s you' }).waitFor();
    await audit(page2, '06-mfa-challenge');
    await page2.getByRole('link', { name: 'Recovery code' }).click();
    await page2.getByLabel('Recovery code').waitFor();
    await audit(page2, '07-mfa-challenge-recovery-code');
    await page2.getByRole('link', { name: 'Authenticator app' }).click();
    await page2.getByLabel('Authenticator app').fill('000000');
    await page2.getByRole('button', { name: 'Verify' }).click();
    await page2.getByRole('alert').waitFor();
    await audit(page2, '08-mfa-challenge-error');
    const done = await callbackOf(page2, async () => {
      await page2.getByLabel('Authenticator app').fill(totpAt(secret, live.now()));
      await page2.getByRole('button', { name: 'Verify' }).click();
      // A TOTP user without a passkey is offered one (src/http/pages/webauthn.ts); "Not now" finishes the sign-in.
      await page2.getByRole('heading', { name: 'Sign in faster next time: add a passkey' }).waitFor();
      await page2.getByRole('button', { name: 'Not now' }).click();
    });
    assert.ok((done.searchParams.get('code') ?? '').length > 10);
    await context.close();
    await second.close();
  });
});
