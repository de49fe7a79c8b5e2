/**
 * Helpers for the account portal tests: a fetch cookie-jar browser (test/http/oidc/oidc-support.ts) walking the
 * portal's own sign-in pages against a real listening server.
 */
import assert from 'node:assert/strict';
import { totpAt } from '../auth-support.ts';
import { Browser, codesOnPage, PASSWORD, secretOnPage, type LiveServer, type Visit } from '../oidc/oidc-support.ts';

/** The CSRF token of the first form on a page. */
export function csrfOn(page: Visit): string {
  const m = /<input type="hidden" name="csrf" value="([^"]+)">/.exec(page.html);
  assert.ok(m?.[1] !== undefined, `a CSRF field on ${page.url}:\n${page.html.slice(0, 2000)}`);
  return m[1];
}

/**
 * First sign-in to a tenant's portal under the first-party floors: password, the enrollment wall, TOTP from the
 * page's key, recovery codes once, then the overview. Returns the TOTP secret and the codes.
 */
export async function enrollThroughPortal(live: LiveServer, slug: string, email: string): Promise<{ browser: Browser; secret: string; codes: string[]; home: Visit }> {
  const browser = new Browser(live.base);
  const start = await browser.visit(`/account/${slug}`);
  assert.equal(start.status, 200);
  const wall = await browser.submit(start, `/account/${slug}/signin`, { identifier: email, password: PASSWORD });
  assert.match(wall.html, /You need to set up multi-factor authentication/);
  const enroll = await browser.submit(wall, `/account/${slug}/enroll`, { type: 'totp' });
  const secret = secretOnPage(enroll.html);
  live.advance(30_000);
  const codesPage = await browser.submit(enroll, `/account/${slug}/enroll/confirm`, { code: totpAt(secret, live.now()) });
  const codes = codesOnPage(codesPage.html);
  assert.equal(codes.length, 10, codesPage.html.slice(0, 2000));
  const home = await browser.submit(codesPage, `/account/${slug}/continue`, {});
  assert.match(home.html, /Sign-in factors/);
  return { browser, secret, codes, home };
}

/** A later sign-in in a new browser: password, then the TOTP challenge. */
export async function signInThroughPortal(live: LiveServer, slug: string, email: string, secret: string): Promise<{ browser: Browser; home: Visit }> {
  const browser = new Browser(live.base);
  const start = await browser.visit(`/account/${slug}`);
  const challenge = await browser.submit(start, `/account/${slug}/signin`, { identifier: email, password: PASSWORD });
  assert.match(challenge.html, /Verify it’s you/);
  live.advance(30_000);
  const home = await browser.submit(challenge, `/account/${slug}/verify`, { code: totpAt(secret, live.now()) });
  assert.match(home.html, /Sign-in factors/, home.html.slice(0, 2000));
  return { browser, home };
}
