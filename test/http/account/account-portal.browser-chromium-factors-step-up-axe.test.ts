/**
 * The account portal in a real browser: Debian's chromium driven by playwright-core against a real listening
 * server at `http://localhost:PORT`. Under `enrollment: required` a user signs in to the portal with password +
 * TOTP, adds a second authenticator app, renames it, removes the first (which downgrades the portal session: its
 * MFA was that factor), is stepped up and then refused removing the last one (MFA_DISABLE_BLOCKED, with its text),
 * regenerates recovery codes (shown once), sees sessions and activity, and signs out. axe-core on every page: no
 * serious or critical violation. Screenshots of each portal page go to docs/screenshots/account-*.png.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, screenshotAndAudit, SKIP_WITHOUT_CHROMIUM } from '../oidc/browser-support.ts';
import { totpAt } from '../auth-support.ts';
import { createTenantWithUser, PASSWORD, startLiveServer, type LiveServer } from '../oidc/oidc-support.ts';
import { enrollThroughPortal } from './account-support.ts';

describe('account portal in chromium', { skip: SKIP_WITHOUT_CHROMIUM }, () => {
  let live: LiveServer;
  let browser: Browser;
  let tenant: { tenantId: string; userId: string };

  before(async () => {
    live = await startLiveServer('sqlite');
    tenant = await createTenantWithUser(live, 'acme', 'ada@example.com', { enrollment: 'required', gracePeriodDays: 0 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  after(async () => {
    await browser?.close();
    await live?.close();
  });

  const audit = screenshotAndAudit;

  const totps = async (): Promise<{ id: string; label: string }[]> =>
    (await live.runtime.store.forTenant(tenant.tenantId).factors.listForUser(tenant.userId, 'active')).filter((f) => f.type === 'totp').map((f) => ({ id: f.id, label: f.label }));

  it('password + TOTP, add a second app, rename it, remove one, refused removing the last under required, regenerate codes; axe finds no serious violation', async () => {
    // The first authenticator app, enrolled at the portal's enrollment wall (first-party floors: required).
    const { secret } = await enrollThroughPortal(live, 'acme', 'ada@example.com');
    live.advance(30_000);

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${live.base}/account/acme`);
    await page.getByLabel('Email').fill('ada@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Verify it’s you' }).waitFor();
    const cookies = await context.cookies();
    assert.ok(cookies.some((c) => c.name === '__Host-pc_account' && c.secure && c.httpOnly && c.sameSite === 'Lax' && c.path === '/'), JSON.stringify(cookies.map((c) => c.name)));
    await page.getByLabel('Authenticator app').fill(totpAt(secret, live.now()));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    await audit(page, 'account-01-overview');

    // A second authenticator app (the session's MFA is fresh: no step-up).
    await page.getByLabel('Name for the new app').fill('Backup phone');
    await page.getByRole('button', { name: 'Add authenticator app' }).click();
    await page.getByRole('heading', { name: 'Set up your authenticator app' }).waitFor();
    await audit(page, 'account-02-add-totp');
    const second = (await page.locator('code.secret').textContent()) ?? '';
    await page.getByRole('textbox', { name: 'Code', exact: true }).fill(totpAt(second, live.now()));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('The authenticator app was added.').waitFor();
    assert.deepEqual((await totps()).map((f) => f.label), ['Authenticator app', 'Backup phone']);

    // Rename it.
    await page.getByRole('link', { name: 'Rename Backup phone' }).click();
    await page.getByRole('heading', { name: 'Rename a factor' }).waitFor();
    await audit(page, 'account-03-rename');
    await page.getByLabel('Name').fill('Spare phone');
    await page.getByRole('button', { name: 'Save name' }).click();
    await page.getByText('The name was saved.').waitFor();
    assert.deepEqual((await totps()).map((f) => f.label), ['Authenticator app', 'Spare phone']);

    // Remove the first: the portal session's MFA was that factor, so the session is downgraded with it.
    await page.getByRole('link', { name: 'Remove Authenticator app' }).click();
    await page.getByRole('heading', { name: 'Remove Authenticator app?' }).waitFor();
    await audit(page, 'account-04-remove-confirm');
    await page.getByRole('button', { name: 'Remove' }).click();
    await page.getByText('The factor was removed.').waitFor();
    assert.deepEqual((await totps()).map((f) => f.label), ['Spare phone']);

    // Removing the last: the downgraded session is stepped up first, then the policy refuses.
    await page.getByRole('link', { name: 'Remove Spare phone' }).click();
    await page.getByRole('button', { name: 'Remove' }).click();
    await page.getByRole('heading', { name: 'Confirm with your second factor' }).waitFor();
    await audit(page, 'account-05-step-up');
    live.advance(30_000);
    await page.getByLabel('Authenticator app').fill(totpAt(second, live.now()));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('alert').getByText(/it is your last accepted factor/).waitFor();
    await page.getByRole('alert').getByText('Error code: MFA_DISABLE_BLOCKED').waitFor();
    await audit(page, 'account-06-remove-refused');
    assert.deepEqual((await totps()).map((f) => f.label), ['Spare phone']);

    // Regenerate recovery codes (fresh after the step-up): shown once.
    await page.goto(`${live.base}/account/acme`);
    await page.getByRole('button', { name: 'Generate new recovery codes' }).click();
    await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
    assert.equal(await page.locator('ul.codes li').count(), 10);
    await audit(page, 'account-07-recovery-codes');
    await page.getByRole('button', { name: 'I have saved them' }).click();
    await page.getByText('10 unused recovery code(s) left.').waitFor();

    await page.getByRole('link', { name: 'Sessions' }).click();
    await page.getByRole('heading', { name: 'Where you are signed in' }).waitFor();
    await audit(page, 'account-08-sessions');
    await page.getByRole('link', { name: 'Recent activity' }).click();
    await page.getByRole('heading', { name: 'Recent sign-in activity' }).waitFor();
    assert.ok((await page.locator('table.activity tbody tr').count()) >= 2);
    await audit(page, 'account-09-activity');

    await page.getByRole('button', { name: 'Sign out' }).first().click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.equal((await live.runtime.store.forTenant(tenant.tenantId).loginSessions.listLive(tenant.userId, live.now())).length, 1, 'the first browser’s session only');
    await context.close();
  });
});
