/**
 * More of the hosted pages in chromium (playwright-core, Debian's chromium, a real listening server at
 * `http://localhost:PORT` with the development clock header on), axe on every page, screenshots to
 * docs/screenshots/:
 *
 * - **grace, then the wall**: under `enrollment: required` with 14 days of grace, the first sign-in shows the grace
 *   banner with the days left and "Remind me later" reaches the callback without a factor; the same user with the
 *   development clock (`X-Portcullis-Now`) 15 days later meets the enrollment wall instead, and enrolls.
 * - **recovery-code sign-in**: a recovery code from that enrollment completes the challenge once; the same code in
 *   another browser is refused on the page.
 * - **step-up through `acr_values`**: a user with TOTP under `challenge: never` signs in on a password alone (ID token
 *   `acr` loa:1); the application then asks for `urn:portcullis:loa:2`, and the page asks for the password again and
 *   then the TOTP code; the new ID token says loa:2 with `otp` in `amr`.
 * - **blocked**: a tenant whose risk weights make a new device block shows "Sign-in blocked" (403) and issues no code.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { totpAt } from '../auth-support.ts';
import { CHROMIUM, CHROMIUM_ARGS, screenshotAndAudit, SKIP_WITHOUT_CHROMIUM } from './browser-support.ts';
import { createTenantWithUser, PASSWORD, registerRelyingParty, startLiveServer, type LiveServer, type RelyingParty } from './oidc-support.ts';

const DAY = 86_400_000;

describe('hosted pages in chromium: grace, wall, recovery code, step-up, blocked', { skip: SKIP_WITHOUT_CHROMIUM }, () => {
  let live: LiveServer;
  let browser: Browser;
  const rps = new Map<string, RelyingParty>();
  const contexts: BrowserContext[] = [];

  before(async () => {
    live = await startLiveServer('sqlite', { PORTCULLIS_DEV_CLOCK_HEADER: 'true' });
    for (const [slug, email, layer] of [
      ['grace-co', 'gail@example.com', { enrollment: 'required', gracePeriodDays: 14, challenge: 'always' }],
      ['beta', 'bob@example.com', { enrollment: 'required', gracePeriodDays: 0 }],
      ['risky', 'rita@example.com', { risk: { challengeAt: 30, blockAt: 80, weights: { new_device: 100 } } }],
    ] as const) {
      const tenant = await createTenantWithUser(live, slug, email, layer);
      rps.set(slug, await registerRelyingParty(live, `${slug} portal`, [tenant.tenantId]));
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  after(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await live?.close();
  });

  function rp(slug: string): RelyingParty {
    const found = rps.get(slug);
    assert.ok(found !== undefined);
    return found;
  }

  /** A PKCE pair (RFC 7636 §4.1-4.2, S256). */
  function pkce(): { verifier: string; challenge: string } {
    const verifier = randomBytes(32).toString('base64url');
    return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
  }

  function authorizeUrl(client: RelyingParty, challenge: string, extra: Record<string, string> = {}): string {
    const params = new URLSearchParams({
      client_id: client.clientId,
      response_type: 'code',
      redirect_uri: client.redirectUri,
      scope: 'openid',
      state: randomBytes(8).toString('hex'),
      nonce: randomBytes(8).toString('hex'),
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...extra,
    });
    return `${live.issuer}/auth?${params.toString()}`;
  }

  /** A fresh browser context whose requests to the (non-existent) callback host are aborted. */
  async function newPage(client: RelyingParty, headers: Record<string, string> = {}): Promise<Page> {
    const context = await browser.newContext({ extraHTTPHeaders: headers });
    contexts.push(context);
    const page = await context.newPage();
    await page.route(`${client.redirectUri}**`, (route) => route.abort());
    return page;
  }

  async function callbackOf(page: Page, client: RelyingParty, action: () => Promise<void>): Promise<URL> {
    const reached = page.waitForRequest((r) => r.url().startsWith(client.redirectUri));
    await action();
    return new URL((await reached).url());
  }

  async function signIn(page: Page, email: string): Promise<void> {
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Continue' }).click();
  }

  /** The relying party's side: redeems the code and returns the ID token's claims. */
  async function idTokenOf(client: RelyingParty, callback: URL, verifier: string): Promise<Record<string, unknown>> {
    const res = await fetch(`${live.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code') ?? '', redirect_uri: client.redirectUri, code_verifier: verifier }).toString(),
    });
    const body = (await res.json()) as { id_token?: string };
    assert.equal(res.status, 200, JSON.stringify(body));
    return decodeJwt(body.id_token ?? '');
  }

  let gailSecret = '';
  let gailCodes: string[] = [];
  const later = { 'x-portcullis-now': new Date(Date.now() + 15 * DAY).toISOString() };

  it('grace: the banner counts 14 days and "Remind me later" signs in; 15 days on (development clock) the wall, then enrollment', async () => {
    const client = rp('grace-co');
    const page = await newPage(client);
    await page.goto(authorizeUrl(client, pkce().challenge));
    await signIn(page, 'gail@example.com');
    await page.getByRole('heading', { name: 'Set up multi-factor authentication soon' }).waitFor();
    assert.match((await page.getByRole('status').textContent()) ?? '', /in 14 day\(s\), on \d{4}-\d{2}-\d{2}/);
    await screenshotAndAudit(page, '09-grace-banner');
    const first = await callbackOf(page, client, () => page.getByRole('button', { name: 'Remind me later' }).click());
    assert.ok((first.searchParams.get('code') ?? '').length > 10, 'inside grace: a code without a factor');

    const late = await newPage(client, later);
    await late.goto(authorizeUrl(client, pkce().challenge));
    await signIn(late, 'gail@example.com');
    await late.getByRole('heading', { name: 'You need to set up multi-factor authentication' }).waitFor();
    await screenshotAndAudit(late, '10-wall-after-grace');
    await late.getByRole('button', { name: /Set up.*Authenticator app/ }).click();
    gailSecret = (await late.locator('code.secret').textContent()) ?? '';
    await late.getByRole('textbox', { name: 'Code', exact: true }).fill(totpAt(gailSecret, Date.parse(later['x-portcullis-now'])));
    await late.getByRole('button', { name: 'Confirm' }).click();
    await late.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
    gailCodes = await late.locator('ul.codes code').allTextContents();
    assert.equal(gailCodes.length, 10);
    const done = await callbackOf(late, client, () => late.getByRole('button', { name: 'I have saved them' }).click());
    assert.ok((done.searchParams.get('code') ?? '').length > 10);
  });

  it('recovery code: completes the challenge once; the same code again is refused on the page', async () => {
    const client = rp('grace-co');
    const code = gailCodes[0] ?? '';
    const page = await newPage(client, later);
    await page.goto(authorizeUrl(client, pkce().challenge));
    await signIn(page, 'gail@example.com');
    await page.getByRole('heading', { name: 'Verify it’s you' }).waitFor();
    await page.getByRole('link', { name: 'Recovery code' }).click();
    await page.getByLabel('Recovery code').fill(code);
    const done = await callbackOf(page, client, () => page.getByRole('button', { name: 'Verify' }).click());
    assert.ok((done.searchParams.get('code') ?? '').length > 10);

    const again = await newPage(client, later);
    await again.goto(authorizeUrl(client, pkce().challenge));
    await signIn(again, 'gail@example.com');
    await again.getByRole('link', { name: 'Recovery code' }).click();
    await again.getByLabel('Recovery code').fill(code);
    await again.getByRole('button', { name: 'Verify' }).click();
    await again.getByRole('alert').waitFor();
    await screenshotAndAudit(again, '11-recovery-code-used-twice');
    assert.ok(!again.url().startsWith(client.redirectUri));
  });

  it('step-up: acr_values=loa:2 on a loa:1 session asks for the password again, then TOTP; the ID token says loa:2', async () => {
    const client = rp('beta');
    // Bob enrolls TOTP through the API (as the headless quick start does), then his tenant stops challenging.
    const api = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
      const res = await fetch(`${live.base}/api/v1${path}`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const json = (await res.json()) as Record<string, unknown>;
      assert.equal(res.status, 200, JSON.stringify(json));
      return json;
    };
    const signin = await api('/auth/signin', { tenant: 'beta', identifier: 'bob@example.com', password: PASSWORD, context: { deviceId: 'api-1' } });
    const begun = await api('/auth/mfa/enroll/totp', { mfaSessionId: signin.mfaSessionId });
    const secret = String(begun.secret);
    await api('/auth/mfa/enroll/totp/confirm', { mfaSessionId: signin.mfaSessionId, factorId: begun.factorId, code: totpAt(secret, live.now()) });
    const tenant = await live.runtime.store.tenants.findBySlug('beta');
    assert.ok(tenant !== null);
    await live.runtime.store.forTenant(tenant.id).policies.saveVersion({ level: 'tenant' }, { layer: { enrollment: 'optional', challenge: 'never' }, effectiveAt: live.now(), createdBy: 'test', now: live.now() });
    live.advance(30_000);

    const page = await newPage(client);
    const one = pkce();
    await page.goto(authorizeUrl(client, one.challenge));
    await signIn(page, 'bob@example.com');
    const low = await page.waitForRequest((r) => r.url().startsWith(client.redirectUri));
    const lowClaims = await idTokenOf(client, new URL(low.url()), one.verifier);
    assert.equal(lowClaims.acr, 'urn:portcullis:loa:1');

    // A new tab of the same browser (same cookies): the first tab may still be landing on its aborted callback.
    const tab = await page.context().newPage();
    await tab.route(`${client.redirectUri}**`, (route) => route.abort());
    const two = pkce();
    await tab.goto(authorizeUrl(client, two.challenge, { acr_values: 'urn:portcullis:loa:2' }));
    await tab.getByText('This application needs a stronger sign-in').waitFor();
    await screenshotAndAudit(tab, '12-step-up-sign-in-again');
    await signIn(tab, 'bob@example.com');
    await tab.getByRole('heading', { name: 'Confirm with your second factor' }).waitFor();
    await screenshotAndAudit(tab, '13-step-up-challenge');
    const high = await callbackOf(tab, client, async () => {
      await tab.getByLabel('Authenticator app').fill(totpAt(secret, live.now()));
      await tab.getByRole('button', { name: 'Verify' }).click();
    });
    const highClaims = await idTokenOf(client, high, two.verifier);
    assert.equal(highClaims.acr, 'urn:portcullis:loa:2');
    assert.ok(Array.isArray(highClaims.amr) && highClaims.amr.includes('otp'), JSON.stringify(highClaims.amr));
  });

  it('blocked: a sign-in the risk engine blocks ends on "Sign-in blocked" (403) and no code is issued', async () => {
    const client = rp('risky');
    const page = await newPage(client);
    let reached = false;
    page.on('request', (r) => {
      if (r.url().startsWith(client.redirectUri)) reached = true;
    });
    await page.goto(authorizeUrl(client, pkce().challenge));
    const answer = page.waitForResponse((r) => r.url().endsWith('/signin') && r.request().method() === 'POST');
    await signIn(page, 'rita@example.com');
    assert.equal((await answer).status(), 403);
    await page.getByRole('heading', { name: 'Sign-in blocked' }).waitFor();
    await screenshotAndAudit(page, '14-blocked-by-risk');
    assert.equal(reached, false);
  });
});
